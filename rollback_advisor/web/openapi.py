"""The OpenAPI 3.1 document served at ``/openapi.json``; a schemathesis run in the test suite
checks the service against it, so it has to say what the service really does."""

from __future__ import annotations

from typing import Any

from ..config import Settings
from ..models import ChangeKind

_ERR = {"$ref": "#/components/schemas/Error"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERR}}}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _q(name: str, schema: dict[str, Any], description: str,
       required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema,
            "description": description}


_STR = {"type": "string"}
_VERDICTS = ["culprit", "not_culprit", "no_change"]
_OBJ = {"type": "object"}
_COMMON = {"400": _error("Invalid input; the message names the field."),
           "413": _error("Request body above server.max_request_bytes.")}
# Refused by gunicorn before the app, in the same error shape (web/worker.py): any operation.
_SERVER_LIMITS = {"414": _error("Request line (method, path, query) above the server's limit."),
                  "431": _error("Header fields above the server's limits.")}
_AUTH = {"401": _error("Missing, unknown or revoked token."),
         "403": _error("The token's scope does not allow this.")}

_INCIDENT_PARAMS = [
    _q("target", {"type": "string"}, "Failing endpoint or service (graph node).", True),
    _q("at", _STR, "Onset: RFC 3339, 'now', '-15m' or '2h ago' (default now)."),
    _q("environment", _STR, "Default: the config's environment."),
    _q("window", _STR, "How far back to look, e.g. 24h."),
    _q("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "Suspects shown."),
    {**_q("symptom", {"type": "array", "items": _STR, "maxItems": 100},
          "Another failing node, NODE or NODE@TIME (TIME as for at; default the onset). "
          "Repeat the parameter for each; split on the last @ only when a time follows."),
     "style": "form", "explode": True},
    {**_q("scope", {"type": "array", "items": _STR},
          "Where it fails, LABEL=VALUE (region=us-east-1); repeat for more values."),
     "style": "form", "explode": True},
]

_INCIDENT_ID = {"name": "incident_id", "in": "path", "required": True,
                "schema": {"type": "integer", "minimum": 0}}

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message", "details"],
        "properties": {"code": _STR, "message": _STR, "details": _OBJ}}}},
    "Change": {"type": "object", "required": ["id", "kind", "environment", "at", "status"],
               "properties": {"id": _STR, "kind": {"enum": [k.value for k in ChangeKind]},
                              "service": _STR, "services": {"type": "array", "items": _STR},
                              "environment": _STR, "at": _STR, "status": _STR}},
    "Ranking": {"type": "object", "required": ["incident", "window_hours",
                                               "no_change_probability", "suspects", "warnings"],
                "properties": {
                    "incident": {"type": "object", "required": ["target", "started_at",
                                                                "environment"],
                                 "properties": {
                                     "symptoms": {"type": "array", "items": {
                                         "type": "object", "required": ["node", "started_at"],
                                         "properties": {"node": _STR, "started_at": _STR}}},
                                     "scope": {"$ref": "#/components/schemas/Scope"}}},
                    "window_hours": {"type": "number"},
                    "no_change_probability": {"type": "number", "minimum": 0, "maximum": 1},
                    "suspects": {"type": "array", "items": {
                        "type": "object", "required": ["rank", "change", "probability",
                                                       "reasons", "after_onset"],
                        "properties": {"change": {"$ref": "#/components/schemas/Change"},
                                       "probability": {"type": "number"}}}},
                    "warnings": {"type": "array", "items": _STR},
                    "sources": {"type": "array", "description": "How fresh each connector "
                                "source was (present when connectors are configured).",
                                "items": {"$ref": "#/components/schemas/Freshness"}}}},
    "Freshness": {"type": "object", "required": ["source", "status", "pulled", "text"],
                  "properties": {"source": _STR,
                                 "status": {"enum": ["ok", "failed", "paused", "syncing",
                                                     "never"]},
                                 "last_success": {"type": ["string", "null"]},
                                 "last_error": {"type": ["string", "null"]},
                                 "last_error_at": {"type": ["string", "null"]},
                                 "pulled": {"type": "boolean"}, "text": _STR}},
    "SourceStatus": {"type": "object", "required": [
        "source", "connector", "status", "interval_seconds", "last_success", "last_error",
        "lag_seconds", "stale", "next_run", "running", "paused"],
        "properties": {"source": _STR, "connector": _STR, "status": _STR,
                       "interval_seconds": {"type": "number"},
                       "jitter_seconds": {"type": "number"},
                       "pull_before_advice": {"type": "boolean"},
                       "last_success": {"type": ["string", "null"]},
                       "last_error": {"type": ["string", "null"]},
                       "last_error_at": {"type": ["string", "null"]},
                       "lag_seconds": {"type": ["number", "null"]},
                       "stale": {"type": "boolean"},
                       "next_run": {"type": ["string", "null"]},
                       "running": {"type": "boolean"},
                       "holder": {"type": ["string", "null"]},
                       "failures": {"type": "integer"},
                       "paused": {"type": ["string", "null"]},
                       "last_changes": {"type": ["integer", "null"]},
                       "last_seconds": {"type": ["number", "null"]}, "text": _STR}},
    "Recommendation": {"type": "object",
                       "required": ["decision", "confidence", "change_id", "rollback_target",
                                    "reasons"],
                       "properties": {
                           "decision": {"enum": ["rollback", "forward_fix", "investigate"]},
                           "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                           "change_id": {"type": ["string", "null"]},
                           "rollback_target": {"type": ["string", "null"]},
                           "reasons": {"type": "array", "items": _STR}}},
    "Advice": {"allOf": [{"$ref": "#/components/schemas/Ranking"},
                         {"type": "object", "required": ["recommendation"], "properties": {
                             "recommendation": {"$ref": "#/components/schemas/Recommendation"},
                             "notified_slack": {"type": "boolean"}}}]},
    "RecommendationRequest": {
        "type": "object", "required": ["target"], "additionalProperties": False,
        "properties": {"target": {"type": "string", "minLength": 1}, "at": _STR,
                       "environment": _STR, "window": _STR,
                       "limit": {"type": "integer", "minimum": 1, "maximum": 1000},
                       "notify_slack": {"type": "boolean", "description":
                                        "Also post to server.slack_webhook_url (400 if unset)."},
                       "symptoms": {"type": "array", "maxItems": 100, "description":
                                    "Other failing nodes, each with its onset (default the "
                                    "incident's).", "items": {"$ref":
                                                             "#/components/schemas/Symptom"}},
                       "scope": {"$ref": "#/components/schemas/Scope"}}},
    "Symptom": {"type": "object", "required": ["node"], "additionalProperties": False,
                "properties": {"node": {"type": "string", "minLength": 1},
                               "started_at": {"type": "string", "description":
                                              "RFC 3339, 'now', '-15m' or '2h ago'."}}},
    "Scope": {"type": "object", "description": "label -> values, e.g. "
                                               '{"region": ["us-east-1"]}',
              "additionalProperties": {"type": "array", "minItems": 1, "items": _STR}},
    "HookRequest": {
        "type": "object", "required": ["name", "source"], "additionalProperties": False,
        "properties": {"name": {"type": "string", "minLength": 1},
                       "source": {"enum": ["generic", "github", "gitlab", "cdevents",
                                           "pagerduty", "alertmanager", "grafana",
                                           "pagerduty-incidents"]},
                       "map": {"type": "object", "additionalProperties": {"type": "string"},
                               "description": "repo/project (alert hooks: the node label's "
                                              "value) -> graph node"},
                       "labels": {"type": "object", "additionalProperties": _STR,
                                  "description": "Alert hooks only: FIELD -> LABEL[,LABEL...], "
                                                 "FIELD service, endpoint, environment or "
                                                 "scope.<label> (docs/incidents.md)."},
                       "environment": _STR}},
    "HookCreated": {"type": "object", "required": ["id", "url", "secret"],
                    "properties": {"id": _STR, "url": _STR, "secret": {
                        "type": "string", "description": "Shown once; never retrievable."}}},
    "Delivery": {"type": "object", "required": ["status", "event", "changes"], "properties": {
        "status": {"enum": ["stored", "duplicate", "ignored"]}, "event": _STR,
        "reason": _STR, "delivery_key": _STR, "changes": {"type": "array", "items": _STR},
        "incident": {"type": "object", "description": "Alert hooks: the incident opened or "
                                                      "updated."}}},
    "Incident": {"type": "object", "required": ["id", "target", "symptoms", "environment",
                                                "started_at", "status", "source", "alerts"],
                 "properties": {
                     "id": {"type": "integer"}, "title": {"type": ["string", "null"]},
                     "target": _STR, "symptoms": {"type": "array", "items": _OBJ},
                     "scope": {"type": ["object", "null"]}, "environment": _STR,
                     "started_at": _STR, "status": {"enum": ["open", "resolved"]},
                     "resolved_at": {"type": ["string", "null"]}, "source": _STR,
                     "external_id": {"type": ["string", "null"]},
                     "url": {"type": ["string", "null"]},
                     "alerts": {"type": "array", "items": _OBJ},
                     "advice": {"type": "array", "items": {
                         "type": "object", "required": ["at", "trigger", "decision",
                                                        "confidence", "change_id", "error"],
                         "properties": {"at": _STR, "trigger": _STR,
                                        "decision": {"type": ["string", "null"]},
                                        "error": {"type": ["string", "null"]}}}}}},
    "IncidentRequest": {
        "type": "object", "required": ["target"], "additionalProperties": False,
        "properties": {"target": {"type": "string", "minLength": 1}, "at": _STR,
                       "environment": _STR, "title": _STR,
                       "symptoms": {"type": "array", "maxItems": 100,
                                    "items": {"$ref": "#/components/schemas/Symptom"}},
                       "scope": {"$ref": "#/components/schemas/Scope"}}},
    "Verdict": {"type": "object", "required": ["incident", "change", "verdict", "by", "at"],
                "properties": {"incident": _STR, "change": {"type": ["string", "null"]},
                               "verdict": {"enum": _VERDICTS}, "by": _STR, "at": _STR,
                               "note": {"type": ["string", "null"]},
                               "kind": {"type": ["string", "null"]},
                               "source": {"type": ["string", "null"]}}},
    "Verdicts": {"type": "object", "required": ["verdicts"], "properties": {"verdicts": {
        "type": "array", "items": {"$ref": "#/components/schemas/Verdict"}}}},
    "VerdictRequest": {
        "type": "object", "required": ["verdict"], "additionalProperties": False,
        "properties": {"verdict": {"enum": _VERDICTS},
                       "change": {"type": "string", "minLength": 1,
                                  "description": "A change among the incident's suspects; "
                                                 "omitted with no_change."},
                       "note": {"type": "string", "maxLength": 4000}}},
}


def document(settings: Settings, base_url: str) -> dict[str, Any]:
    """The document; read endpoints show bearer security only when server.read_auth is on."""
    read: list[dict[str, list[str]]] = [{"bearer": []}] if settings.server.read_auth else []
    admin: list[dict[str, list[str]]] = [{"bearer": []}]
    read_errors = {**_COMMON, **(_AUTH if read else {})}
    advice = {"$ref": "#/components/schemas/Advice"}
    paths: dict[str, Any] = {
        "/api/v1/recommendations": {"post": {
            "summary": "Rank suspects and recommend rollback, forward_fix or investigate.",
            "security": read,
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/RecommendationRequest"}}}},
            "responses": {"200": _json("The recommendation and ranked suspects.", advice),
                          **read_errors, "404": _error("Unknown target or no graph stored.")}}},
        "/api/v1/suspects": {"get": {
            "summary": "The suspect list; format=slack is the paste-ready mrkdwn.",
            "security": read,
            "parameters": [*_INCIDENT_PARAMS, _q("format", {"enum": ["json", "slack", "text"]},
                                                 "Default json.")],
            "responses": {"200": {"description": "Suspects.", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Ranking"}},
                "text/plain": {"schema": _STR}}},
                **read_errors, "404": _error("Unknown target or no graph stored.")}}},
        "/api/v1/suspects/blocks": {"get": {
            "summary": "The suspect list as Slack Block Kit blocks with the mrkdwn fallback.",
            "security": read, "parameters": _INCIDENT_PARAMS,
            "responses": {"200": _json("Blocks.", {"type": "object", "required": [
                "text", "blocks"]}), **read_errors,
                "404": _error("Unknown target or no graph stored.")}}},
        "/api/v1/changes": {"get": {
            "summary": "Stored changes, newest first (global changes match every service).",
            "security": read,
            "parameters": [_q("service", _STR, "Graph node."), _q("kind", _STR, "Change kind."),
                           _q("environment", _STR, "Default: every environment."),
                           _q("since", _STR, "RFC 3339 or relative."),
                           _q("until", _STR, "RFC 3339 or relative."),
                           _q("limit", {"type": "integer", "minimum": 1, "maximum": 1000},
                              "Page size (default 50)."),
                           _q("offset", {"type": "integer", "minimum": 0, "maximum": 10000000},
                              "Rows to skip.")],
            "responses": {"200": _json("A page of changes.", {
                "type": "object", "required": ["changes", "limit", "offset", "next_offset"],
                "properties": {"changes": {"type": "array", "items": {
                    "$ref": "#/components/schemas/Change"}},
                    "limit": {"type": "integer"}, "offset": {"type": "integer"},
                    "next_offset": {"type": ["integer", "null"]}}}), **read_errors}}},
        "/api/v1/graph": {"get": {
            "summary": "The stored dependency graph, or one node's neighbours with ?node=.",
            "security": read, "parameters": [_q("node", _STR, "A node or endpoint.")],
            "responses": {"200": _json("Graph.", _OBJ), **read_errors,
                          "404": _error("No graph stored, or unknown node.")}}},
        "/api/v1/sources": {"get": {
            "summary": "Each connector source: last success, last error, lag, next run.",
            "security": read,
            "responses": {"200": _json("Sources (empty without connectors).", {
                "type": "object", "required": ["sources"], "properties": {"sources": {
                    "type": "array", "items": {"$ref": "#/components/schemas/SourceStatus"}}}}),
                **read_errors}}},
        "/api/v1/hooks": {
            "post": {"summary": "Register a CI deploy hook; the secret is shown once.",
                     "security": admin,
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": {"$ref": "#/components/schemas/HookRequest"}}}},
                     "operationId": "registerHook",
                     "responses": {"201": {**_json("Registered.", {
                         "$ref": "#/components/schemas/HookCreated"}), "links": {
                         # what the new hook's id opens: stateful runs follow these
                         "RevokeHook": {"operationId": "revokeHook",
                                        "parameters": {"hook_id": "$response.body#/id"}},
                         "DeliverToHook": {"operationId": "deliver",
                                           "parameters": {"hook_id": "$response.body#/id"}}}},
                         **_COMMON, **_AUTH,
                         "404": _error("Hooks are off: no server key (PostgreSQL without "
                                       "server.secret_key).")}},
            "get": {"summary": "Active hooks (never their secrets).", "security": admin,
                    "responses": {"200": _json("Hooks.", _OBJ), **_AUTH}}},
        "/api/v1/hooks/{hook_id}": {"delete": {
            "summary": "Revoke a hook: its deliveries are refused from now on.",
            "operationId": "revokeHook",
            "security": admin,
            "parameters": [{"name": "hook_id", "in": "path", "required": True, "schema": _STR}],
            "responses": {"200": _json("Revoked.", _OBJ), **_AUTH,
                          "404": _error("No such active hook.")}}},
        "/api/v1/incidents": {
            "get": {"summary": "Incidents, the latest onset first (without advice).",
                    "security": read,
                    "parameters": [
                        _q("status", {"enum": ["open", "resolved"]}, "Only this status."),
                        _q("limit", {"type": "integer", "minimum": 1, "maximum": 500},
                           "Page size (default 50)."),
                        _q("offset", {"type": "integer", "minimum": 0, "maximum": 10000000},
                           "Rows to skip.")],
                    "responses": {"200": _json("A page of incidents.", {
                        "type": "object", "required": ["incidents", "limit", "offset",
                                                       "next_offset"],
                        "properties": {"incidents": {"type": "array", "items": {
                            "$ref": "#/components/schemas/Incident"}},
                            "next_offset": {"type": ["integer", "null"]}}}), **read_errors}},
            "post": {"summary": "Open an incident by hand; its advice is computed and kept.",
                     "security": admin,
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": {"$ref": "#/components/schemas/IncidentRequest"}}}},
                     "operationId": "openIncident",
                     "responses": {"201": {**_json("Opened, with its first advice (an error "
                                                   "entry when none could be computed).",
                                                   {"$ref": "#/components/schemas/Incident"}),
                                           "links": {
                         "RecordVerdict": {"operationId": "recordVerdict",
                                           "parameters": {"incident_id": "$response.body#/id"}},
                         "ListVerdicts": {"operationId": "listVerdicts",
                                          "parameters": {"incident_id": "$response.body#/id"}}}},
                                   **_COMMON, **_AUTH}}},
        "/api/v1/incidents/{incident_id}/verdicts": {
            "post": {"summary": "Record a responder's verdict (culprit, not_culprit or "
                                "no_change); by is the token's name. A later verdict on the "
                                "same (incident, change) replaces the earlier; no_change also "
                                "marks the latest advice's top suspect not_culprit.",
                     "operationId": "recordVerdict", "security": admin,
                     "parameters": [_INCIDENT_ID],
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": {"$ref": "#/components/schemas/VerdictRequest"}}}},
                     "responses": {"201": _json("The verdicts stored (the given one first).",
                                                {"$ref": "#/components/schemas/Verdicts"}),
                                   **_COMMON, **_AUTH,
                                   "404": _error("No such incident, or the change is not "
                                                 "stored."),
                                   "409": _error("The change is not among the incident's "
                                                 "suspects.")}},
            "get": {"summary": "The incident's verdicts.", "operationId": "listVerdicts",
                    "security": read, "parameters": [_INCIDENT_ID],
                    "responses": {"200": _json("Verdicts, by change.",
                                               {"$ref": "#/components/schemas/Verdicts"}),
                                  **read_errors, "404": _error("No such incident.")}}},
        "/api/v1/incidents/{incident_id}": {"get": {
            "summary": "One incident with its alerts and advice history (oldest first).",
            "security": read,
            "parameters": [{"name": "incident_id", "in": "path", "required": True,
                            "schema": {"type": "integer", "minimum": 0}}],
            "responses": {"200": _json("The incident.",
                                       {"$ref": "#/components/schemas/Incident"}),
                          **read_errors, "404": _error("No such incident.")}}},
        "/hooks/{hook_id}": {"post": {
            "operationId": "deliver",
            "summary": "A delivery: canonical events (X-Rollback-Advisor-Signature), GitHub "
                       "(X-Hub-Signature-256), GitLab (X-Gitlab-Token), CDEvents, PagerDuty; "
                       "alerts from Alertmanager (Bearer), Grafana (HMAC or Bearer) and "
                       "PagerDuty v3 (X-PagerDuty-Signature) open incidents.",
            "security": [],
            "parameters": [{"name": "hook_id", "in": "path", "required": True, "schema": _STR}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {}}}},
            "responses": {
                "200": _json("Duplicate (already stored) or ignored (with the reason).",
                             {"$ref": "#/components/schemas/Delivery"}),
                "201": _json("Stored with its changes (or its incident update).",
                             {"$ref": "#/components/schemas/Delivery"}),
                **_COMMON, "401": _error("Bad or missing signature: nothing stored."),
                "404": _error("No such active hook (or hooks are off: no server key)."),
                "409": _error("An update to a change another hook or source created: "
                              "nothing stored.")}}},
        "/slack/commands": {"post": {
            "summary": "Slack slash command /rollback-advisor <target> [time] "
                       "[symptom=NODE[@TIME]] [scope=LABEL=VALUE] [window=] [env=] (signed).",
            "security": [],
            "requestBody": {"required": True, "content": {
                "application/x-www-form-urlencoded": {"schema": {
                    "type": "object", "properties": {"text": _STR, "command": _STR}}}}},
            "responses": {"200": _json("Block Kit answer (or an ephemeral usage message).",
                                       {"type": "object", "required": ["text"]}),
                          "401": _error("Bad signature or outside the 5-minute window."),
                          "413": _COMMON["413"],
                          "404": _error("The command is off: no "
                                        "server.slack_signing_secret.")}}},
        "/slack/interactions": {"post": {
            "summary": "Slack interactivity (signed like the command): a verdict button's "
                       "block_actions click records the verdict by the clicking user; other "
                       "interactions are acknowledged and ignored.",
            "security": [],
            "requestBody": {"required": True, "content": {
                "application/x-www-form-urlencoded": {"schema": {
                    "type": "object", "properties": {"payload": _STR}}}}},
            "responses": {"200": _json("Acknowledged; recorded lists the verdicts stored, "
                                       "error says why none was.", {
                                           "type": "object", "required": ["ok", "recorded"],
                                           "properties": {"ok": {"type": "boolean"},
                                                          "error": _STR,
                                                          "recorded": {"type": "array"}}}),
                          "400": _error("A signed request without a JSON payload field."),
                          "401": _error("Bad signature or outside the 5-minute window."),
                          "413": _COMMON["413"],
                          "404": _error("Interactivity is off: no "
                                        "server.slack_signing_secret.")}}},
        "/healthz": {"get": {
            "summary": "Liveness; ?store=1 also checks the database; 'degraded' (still 200, "
                       "with reasons) when a connector source is stale.", "security": [],
            "parameters": [_q("store", {"enum": ["0", "1", "true", "false"]}, "Ping store.")],
            "responses": {"200": _json("Up.", {"type": "object", "required": ["status"],
                                               "properties": {
                                                   "status": {"enum": ["ok", "degraded"]},
                                                   "reasons": {"type": "array",
                                                               "items": _STR}}}),
                          "503": _error("The store does not answer.")}}},
        "/metrics": {"get": {
            "summary": "Prometheus text format.", "security": [],
            "responses": {"200": {"description": "Metrics.", "content": {
                "text/plain": {"schema": _STR}}}}}},
        "/openapi.json": {"get": {
            "summary": "This document.", "security": [],
            "responses": {"200": _json("OpenAPI 3.1.", _OBJ)}}},
    }
    for operations in paths.values():
        for operation in operations.values():
            operation["responses"].update(_SERVER_LIMITS)
    return {
        "openapi": "3.1.0",
        "info": {"title": "rollback-advisor", "version": _version(),
                 "description": "Which recent change most likely broke this endpoint, and "
                                "should we roll it back or fix forward? See docs/service.md."},
        "servers": [{"url": base_url}],
        "paths": paths,
        "components": {"schemas": SCHEMAS, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "rollback-advisor tokens create --scope read|admin"}}},
    }


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rollback-advisor")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"
