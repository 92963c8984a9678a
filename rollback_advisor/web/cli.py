"""Service commands: ``serve``, ``hooks``, ``tokens`` and ``notify`` (DESIGN §6).

Loaded lazily by the root group in ``rollback_advisor.cli``. Nothing here imports
prometheus_client or builds the Flask app at import time: ``serve`` first points Prometheus at a
multiprocess directory, then gunicorn builds one app per worker after the fork.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import click

from connectors.hooks import PARSERS

from ..alerts import parse_overrides
from ..config import Settings
from ..errors import AdvisorError, InvalidInput
from ..incident_input import scope_from_texts
from ..models import change_from_dict, dumps, scope_to_dict
from ..store.service_tables import ServiceTables, TokenRecord
from .credentials import SCOPES, create_token, register_hook
from .server_key import require_server_key, with_server_key

TEXT_JSON = click.Choice(["text", "json"])


def _app() -> Any:
    from ..cli import _App

    return click.get_current_context().find_object(_App)


def _settings() -> Settings:
    """The settings with ``--database`` applied (it overrides the config's URL)."""
    app = _app()
    settings: Settings = app.settings
    if app.database and app.database != settings.database_url:
        settings = replace(settings, database_url=app.database)
    return settings


def _tables() -> ServiceTables:
    return ServiceTables(_app().store())


def _base_url() -> str:
    server = _app().settings.server
    return server.public_url or f"http://{server.host}:{server.port}"


# -- serve ------------------------------------------------------------------------------------

@click.command("serve")
@click.option("--host", help="Bind address (default: server.host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), help="Default: server.port (8080).")
@click.option("--workers", type=click.IntRange(1, 64), help="gunicorn worker processes "
              "(default: server.workers).")
@click.option("--connections", type=click.IntRange(1, 100_000), default=1000,
              show_default=True, help="Open connections per worker (gevent workers: a slow "
              "client holds a greenlet, not a thread).")
@click.option("--dev", is_flag=True, help="Flask's development server (one process, reloader "
              "off): never in production.")
def serve(host: str | None, port: int | None, workers: int | None, connections: int,
          dev: bool) -> None:
    """Run the HTTP service (gunicorn with several workers; --dev for Flask's server)."""
    # The key before anything starts: with PostgreSQL a missing one is an error now, never a
    # failing request later; with the embedded store it is made here on first use.
    settings = with_server_key(_settings(), "serve")
    server = settings.server
    host = host or server.host
    port = server.port if port is None else port
    if dev:
        from . import create_app

        create_app(settings).run(host=host, port=port, debug=False, use_reloader=False)
        return
    from .server import run

    run(settings, host=host, port=port, workers=workers or server.workers,
        connections=connections)


# -- hooks ------------------------------------------------------------------------------------

@click.group("hooks")
def hooks() -> None:
    """Register, list and revoke CI deploy hooks."""


@hooks.command("register")
@click.argument("name")
@click.option("--source", type=click.Choice(list(PARSERS)), required=True)
@click.option("--map", "maps", multiple=True, metavar="REPO=NODE",
              help="Map a repository/project/service name to a graph node (repeatable).")
@click.option("--environment", help="Store only events of this environment; events naming "
              "none get it. Alert hooks: the environment of alerts naming none.")
@click.option("--label", "labels", multiple=True, metavar="FIELD=LABEL[,LABEL...]",
              help="Alert hooks: which alert labels give FIELD (service, endpoint, "
                   "environment, scope.<label>), e.g. service=app, scope.region=aws_region "
                   "(repeatable; see docs/incidents.md).")
@click.option("--format", "fmt", type=TEXT_JSON, default="text", show_default=True)
def hooks_register(name: str, source: str, maps: tuple[str, ...], environment: str | None,
                   labels: tuple[str, ...], fmt: str) -> None:
    """Register a hook and print its id, URL and secret (shown this once only), and for an
    alert hook what to configure in the alert source."""
    mapping: dict[str, str] = {}
    for item in maps:
        repo, sep, node = item.partition("=")
        if not sep or not repo.strip() or not node.strip():
            raise InvalidInput("--map", item, "REPO=NODE, e.g. acme/checkout=checkout")
        mapping[repo.strip()] = node.strip()
    server_key = require_server_key(_settings(), "hooks register")
    created = register_hook(tables=_tables(), server_key=server_key,
                            base_url=_base_url(), name=name, source=source, mapping=mapping,
                            environment=environment, labels=parse_overrides(labels, "--label"))
    configure = alert_source_config(source, created["url"], created["secret"])
    if fmt == "json":
        click.echo(json.dumps({"id": created["id"], "url": created["url"],
                               "secret": created["secret"],
                               **({"configure": configure} if configure else {})}))
        return
    click.echo(f"hook {created['id']} ({source}) registered")
    click.echo(f"url:    {created['url']}")
    click.echo(f"secret: {created['secret']}")
    if configure:
        click.echo("configure the alert source with:")
        click.echo(configure.rstrip())
    click.echo("the secret is shown only now: store it in your CI's secret store")


@hooks.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked hooks.")
@click.option("--format", "fmt", type=TEXT_JSON, default="text", show_default=True)
def hooks_list(include_revoked: bool, fmt: str) -> None:
    """List hooks (never their secrets)."""
    found = _tables().list_hooks(include_revoked=include_revoked)
    if fmt == "json":
        click.echo(dumps([h.public() for h in found]))
        return
    if not found:
        click.echo("no hooks")
    for h in found:
        maps = ", ".join(f"{k}={v}" for k, v in h.mapping.items())
        state = " (revoked)" if not h.active else ""
        click.echo(f"{h.id}  {h.source:<9}  {h.name}{state}  env={h.environment or '*'}"
                   + (f"  map: {maps}" if maps else ""))


@hooks.command("vendor-secret")
@click.argument("hook_id")
@click.option("--secret-env", help="Environment variable holding the signing secret the "
              "vendor showed (PagerDuty: the v3 webhook subscription's secret). Never passed "
              "as an argument: it would show in process lists.")
@click.option("--clear", is_flag=True, help="Forget the stored vendor secret.")
def hooks_vendor_secret(hook_id: str, secret_env: str | None, clear: bool) -> None:
    """Store a signing secret the vendor generated, to verify its signatures (stored
    encrypted with a key derived from the server key)."""
    from .credentials import seal_vendor_secret

    if clear == bool(secret_env):
        raise InvalidInput("--secret-env", secret_env, "either --secret-env VAR or --clear")
    sealed = None
    if secret_env:
        secret = os.environ.get(secret_env)
        if not secret:
            raise InvalidInput("--secret-env", secret_env, "the name of a set environment "
                               "variable holding the vendor's signing secret")
        sealed = seal_vendor_secret(require_server_key(_settings(), "hooks vendor-secret"),
                                    hook_id, secret)
    _tables().set_vendor_secret(hook_id, sealed)
    click.echo(f"hook {hook_id}: vendor secret {'cleared' if clear else 'stored'}")


@hooks.command("revoke")
@click.argument("hook_id")
def hooks_revoke(hook_id: str) -> None:
    """Revoke a hook: its deliveries are refused (404) from now on."""
    _tables().revoke_hook(hook_id)
    click.echo(f"hook {hook_id} revoked")


def alert_source_config(source: str, url: str, secret: str) -> str | None:
    """What to paste into the alert source for a hook of ``source`` (None for deploy hooks)."""
    if source == "alertmanager":
        return (f"# alertmanager.yml\nreceivers:\n  - name: rollback-advisor\n"
                f"    webhook_configs:\n      - url: {url}\n        send_resolved: true\n"
                f"        http_config:\n          authorization:\n            type: Bearer\n"
                f"            credentials: {secret}\n")
    if source == "grafana":
        return (f"Grafana contact point, integration Webhook: URL {url}\n"
                f"  Optional settings > HMAC Signature: Secret {secret}, Header "
                f"X-Grafana-Alerting-Signature, Timestamp Header "
                f"X-Grafana-Alerting-Signature-Timestamp\n"
                f"  (or Authentication Header Scheme Bearer, Credentials {secret})\n")
    if source == "pagerduty-incidents":
        return (f"PagerDuty > Integrations > Generic Webhooks (v3): URL {url}, event types "
                f"incident.*\n  then store the subscription's signing secret: "
                f"PD_SECRET=... rollback-advisor hooks vendor-secret {url.rsplit('/', 1)[-1]} "
                f"--secret-env PD_SECRET\n  (or add the custom header Authorization = "
                f"Bearer {secret})\n")
    return None


# -- tokens -----------------------------------------------------------------------------------

@click.group("tokens")
def tokens() -> None:
    """Create and revoke API tokens (stored hashed; shown once)."""


@tokens.command("create")
@click.option("--scope", type=click.Choice(SCOPES), required=True)
@click.option("--name", help="A note on who or what uses it.")
@click.option("--format", "fmt", type=TEXT_JSON, default="text", show_default=True)
def tokens_create(scope: str, name: str | None, fmt: str) -> None:
    """Create a token; it is printed once and only its hash is kept."""
    created = create_token(tables=_tables(), scope=scope, name=name)
    if fmt == "json":
        click.echo(json.dumps({"token": created["token"], "id": created["id"],
                               "scope": scope}))
        return
    click.echo(f"token {created['id']} ({scope}): {created['token']}")
    click.echo("shown only now; revoke with 'rollback-advisor tokens revoke "
               f"{created['id']}'")


@tokens.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also list page sessions and one-time "
              "sign-in links (one row per sign-in), with each row's kind.")
@click.option("--format", "fmt", type=TEXT_JSON, default="text", show_default=True)
def tokens_list(show_all: bool, fmt: str) -> None:
    """List API token ids and scopes (never the tokens); --all adds page sessions."""
    every = _tables().list_tokens()
    shown = every if show_all else [t for t in every if t.kind == "api"]
    rows = [{"id": t.id, "scope": t.scope, "name": t.name, "revoked": t.revoked_us is not None,
             "kind": t.kind} for t in shown]
    if fmt == "json":
        click.echo(dumps(rows))
        return
    for r in rows:
        kind = f"{r['kind']:<7}  " if show_all else ""
        click.echo(f"{r['id']}  {r['scope']:<5}  {kind}{r['name'] or ''}"
                   + ("  (revoked)" if r["revoked"] else ""))
    if not show_all and (hidden := _not_listed(every)):
        click.echo(hidden)


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _not_listed(rows: list[TokenRecord]) -> str | None:
    """The line saying which rows ``tokens list`` left out without --all, or None for none:
    every sign-in mints a session row, so they outnumber the API tokens within days."""
    sessions = [t for t in rows if t.kind == "session"]
    links = sum(t.kind == "link" for t in rows)
    parts = []
    if sessions:
        live = sum(t.revoked_us is None for t in sessions)
        parts.append(f"{_plural(len(sessions), 'page session')} ({live} not revoked)")
    if links:
        parts.append(_plural(links, "sign-in link"))
    return f"+ {' and '.join(parts)}: --all lists them" if parts else None


@tokens.command("revoke")
@click.argument("token_id")
def tokens_revoke(token_id: str) -> None:
    """Revoke a token by its id (or the token itself)."""
    from .credentials import token_id_of

    _tables().revoke_token(token_id_of(token_id) or token_id)
    click.echo("token revoked")


# -- notify -----------------------------------------------------------------------------------

@click.command("notify")
@click.option("--hook-url", envvar="ROLLBACK_ADVISOR_HOOK_URL", required=True,
              help="The hook's URL (or $ROLLBACK_ADVISOR_HOOK_URL).")
@click.option("--secret-env", default="ROLLBACK_ADVISOR_HOOK_SECRET", show_default=True,
              help="Environment variable holding the hook's secret (never pass it as an "
                   "argument: it would show in process lists and CI logs).")
@click.option("--file", "path", type=click.File("rb"),
              help="Post this DESIGN §1 event (or list) as is; '-' for stdin.")
@click.option("--id", "change_id", help="Default: ci:<service>:<environment>:<version>:<run>.")
@click.option("--kind", default="deploy", show_default=True)
@click.option("--service", help="Graph node the change applies to.")
@click.option("--environment", default="production", show_default=True)
@click.option("--at", "at", help="When it took effect (RFC 3339; default now).")
@click.option("--started-at", help="When the rollout began (RFC 3339).")
@click.option("--version", "version", help="What is live now.")
@click.option("--previous-version", help="What was live before (the rollback target).")
@click.option("--status", type=click.Choice(["succeeded", "failed", "in_progress"]),
              default="succeeded", show_default=True)
@click.option("--summary")
@click.option("--author")
@click.option("--link", help="URL of the pipeline run or release.")
@click.option("--scope", "scope", multiple=True, metavar="LABEL=VALUE",
              help="Where the change took effect, e.g. region=us-east-1 (repeatable; "
                   "repeating a label adds values). Default: unknown, read as everywhere.")
@click.option("--retries", type=click.IntRange(0, 10), default=3, show_default=True)
@click.option("--timeout", type=float, default=10.0, show_default=True)
@click.option("--format", "fmt", type=TEXT_JSON, default="text", show_default=True)
def notify(hook_url: str, secret_env: str, path: Any, change_id: str | None, kind: str,
           service: str | None, environment: str, at: str | None, started_at: str | None,
           version: str | None, previous_version: str | None, status: str,
           summary: str | None, author: str | None, link: str | None, scope: tuple[str, ...],
           retries: int, timeout: float, fmt: str) -> None:
    """Post a change event to a hook from CI, signed with the hook's secret.

    Retries on network errors and 5xx with the same delivery key, so a retry after a lost
    answer is stored once.
    """
    import requests

    from connectors.hooks import DELIVERY_HEADER, SIGNATURE_HEADER, sign

    secret = os.environ.get(secret_env)
    if not secret:
        raise InvalidInput("--secret-env", secret_env, "the name of a set environment "
                           "variable holding the hook's secret")
    if path is not None:
        if scope:
            raise InvalidInput("--scope", list(scope), "no --scope with --file: put the "
                               "scope in the file's events")
        body = path.read()
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise InvalidInput("--file", getattr(path, "name", "-"), f"JSON ({exc})") from None
        first = payload[0] if isinstance(payload, list) and payload else payload
        key = (first.get("id") if isinstance(first, dict) else None) or None
    else:
        if not service:
            raise InvalidInput("--service", None, "a graph node (or give --file)")
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        event: dict[str, Any] = {
            "id": change_id or _default_id(service, environment, version, at or now),
            "kind": kind, "service": service, "environment": environment, "at": at or now,
            "status": status, "source": "notify"}
        for name, value in (("started_at", started_at), ("version", version),
                            ("previous_version", previous_version), ("summary", summary),
                            ("author", author), ("url", link)):
            if value:
                event[name] = value
        where = scope_from_texts(scope, "--scope")
        if where:
            event["scope"] = scope_to_dict(where)
        change_from_dict(event)  # fail here, with the field named, not on the server
        body = json.dumps(event).encode("utf-8")
        key = event["id"]
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, secret),
               "User-Agent": "rollback-advisor-notify"}
    if key:
        headers[DELIVERY_HEADER] = str(key)
    answer = _post(requests, hook_url, body, headers, retries, timeout)
    if fmt == "json":
        click.echo(json.dumps(answer))
    else:
        click.echo(f"{answer.get('status')}: {', '.join(answer.get('changes', [])) or '-'}"
                   + (f" ({answer['reason']})" if answer.get("reason") else ""))


def _default_id(service: str, environment: str, version: str | None, at: str) -> str:
    run = (os.environ.get("GITHUB_RUN_ID") and
           f"{os.environ['GITHUB_RUN_ID']}-{os.environ.get('GITHUB_RUN_ATTEMPT', '1')}"
           ) or os.environ.get("CI_JOB_ID") or at
    return f"ci:{service}:{environment}:{version or '-'}:{run}"


def _post(requests: Any, url: str, body: bytes, headers: dict[str, str], retries: int,
          timeout: float) -> dict[str, Any]:
    last = ""
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(min(8.0, 0.5 * 2 ** attempt))
        try:
            response = requests.post(url, data=body, headers=headers, timeout=timeout)
        except requests.RequestException as exc:
            last = f"{type(exc).__name__} reaching {url.split('?')[0]}"
            continue
        if response.status_code >= 500:
            last = f"the server answered {response.status_code}"
            continue
        try:
            data = response.json()
        except ValueError:
            data = {}
        if response.status_code >= 400:
            message = (data.get("error") or {}).get("message") if isinstance(data, dict) else None
            raise AdvisorError(f"the hook refused the event ({response.status_code}): "
                               f"{message or response.reason}")
        return data if isinstance(data, dict) else {}
    raise AdvisorError(f"could not deliver after {retries + 1} attempts: {last}")


__all__ = ["hooks", "notify", "serve", "sys", "tokens"]
