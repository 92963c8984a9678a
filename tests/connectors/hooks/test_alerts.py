"""The alert parsers on real payloads: Alertmanager v4, Grafana Alerting, PagerDuty v3."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from connectors.hooks import HookContext, parser_for
from connectors.hooks.grafana import grafana_signature
from rollback_advisor.alerts import LabelMapping, alert_node, parse_overrides
from rollback_advisor.errors import InvalidInput
from rollback_advisor.graph import DependencyGraph

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "alerts"
PD_SECRET = "lDQHScfUeXUKaQRNF+8XIiDKZ7XX3itBAYzwU0TARw8lJqRnkKl2iB1anSb0Z+IK"
PD_SIGNATURE = "v1=0c0b9495b893a39e70d1fea2fe11fbe0a825f88b9f67846f6cc07dd2bc5476cd"
PD_WRONG = "v1=7020c8a7ec668a9b7012bc3dd82e483394b038f4230acc6785efbf2a7d8bcaf5"


def body(path: str) -> bytes:
    return (FIXTURES / path).read_bytes()


def parse(source: str, path: str, **context):
    ctx = HookContext(hook_id="h_1", source=source, **context)
    return parser_for(source).parse({}, body(path), ctx)


def test_alertmanager_v4_group_and_alerts():
    parsed = parse("alertmanager",
                   "alertmanager-webhook-prometheus-msteams/card-grafana-inspired-payload.json")
    batch = parsed.alerts
    assert parsed.changes == [] and parsed.ignored is None
    assert batch.group == '{}/{namespace="whatever/promstack"}:{alertname="JustATestAlert_1"}'
    assert [a.key for a in batch.alerts] == ["ff6a7a0f5f1c1309", "554664fa753a2b45",
                                             "911c76f0240f015b"]
    first = batch.alerts[0]
    assert first.firing and first.ends_at is None
    assert first.starts_at.isoformat() == "2020-10-11T14:34:11.279383+00:00"
    assert first.scope == {"namespace": ("whatever/promstack",)}
    assert first.service is None  # no service or job label: named by nothing, flagged later
    assert batch.url == "https://domain.com/promstack/alertmanager"


def test_alertmanager_job_label_is_the_node_and_missing_status_means_firing():
    (alert,) = parse("alertmanager",
                     "alertmanager-webhook-prometheus-msteams/prom_post_request.json").alerts.alerts
    assert alert.service == "docker_nodes" and alert.firing
    assert len(alert.key) == 16  # no fingerprint: a digest of the labels stands for it
    again = parse("alertmanager", "alertmanager-webhook-prometheus-msteams/prom_post_request.json")
    assert again.alerts.alerts[0].key == alert.key


def test_alertmanager_resolved_follows_status_not_ends_at():
    (alert,) = parse("alertmanager", "alertmanager-webhook-zulip/single_alert.json").alerts.alerts
    assert not alert.firing  # status resolved although endsAt is the zero time
    assert alert.scope == {"host": ("andromeda",)}
    (done,) = parse("alertmanager", "alertmanager-webhook-prom2teams/all_ok.json").alerts.alerts
    assert not done.firing and done.ends_at is not None


def test_alertmanager_without_group_key_derives_a_stable_one():
    first = parse("alertmanager", "alertmanager-webhook-prom2teams/all_ok.json").alerts
    assert first.group.startswith("derived:")
    assert parse("alertmanager", "alertmanager-webhook-prom2teams/all_ok.json").alerts.group \
        == first.group


@pytest.mark.parametrize("path,field", [
    ("alertmanager-webhook-prometheus-bot/simpe.json", "version"),
    ("alertmanager-webhook-prometheus-bot/production_example.json", "version"),
])
def test_alertmanager_old_versions_are_refused_with_the_field(path, field):
    with pytest.raises(InvalidInput) as err:
        parse("alertmanager", path)
    assert err.value.field == field and "4" in err.value.message


def test_alertmanager_numeric_group_key_is_refused():
    import json

    data = json.loads(body("alertmanager-webhook-prometheus-bot/simpe.json"))
    data["version"] = "4"
    with pytest.raises(InvalidInput) as err:
        parser_for("alertmanager").parse({}, json.dumps(data).encode(),
                                         HookContext(hook_id="h", source="alertmanager"))
    assert err.value.field == "groupKey"


def test_label_overrides_and_map():
    ctx = {"labels": parse_overrides(["service=host", "scope.region=alertname"]),
           "mapping": {"andromeda": "checkout"}}
    (alert, _) = parse("alertmanager", "alertmanager-webhook-zulip/alert.json", **ctx).alerts.alerts
    assert alert.service == "checkout"
    assert alert.scope == {"host": ("andromeda",), "region": ("High CPU Temperature",)}
    off = LabelMapping.from_overrides(parse_overrides({"scope.host": ""}))
    assert off.read({"host": "a"})["scope"] is None


def test_bad_overrides_name_the_field():
    with pytest.raises(InvalidInput):
        parse_overrides(["colour=red"])
    with pytest.raises(InvalidInput):
        parse_overrides(["service"])


def test_environment_from_labels_else_the_hook():
    (alert,) = parse("alertmanager", "alertmanager-webhook-prom2teams/all_ok.json",
                     environment="production").alerts.alerts
    assert alert.environment == "production"
    m = LabelMapping().read({"env": "staging", "service": "x", "route": "/pay"})
    assert (m["environment"], m["service"], m["endpoint"]) == ("staging", "x", "/pay")


def test_grafana_mixed_notification_keeps_each_alert_status():
    batch = parse("grafana", "grafana-alerting-webhook-zulip/alert-9-mixed.json").alerts
    assert batch.group == '{}/{test="true"}:{}'
    assert [(a.key, a.firing) for a in batch.alerts] == [
        ("aaafafe0953f0962", False), ("fb31814ac93dbe7d", False), ("6f9cd313db421ef1", True)]
    assert batch.alerts[0].service == "rabbitmq"  # the job label
    assert batch.title == "[FIRING:1, RESOLVED:2]  (true)"
    resolved = parse("grafana", "grafana-alerting-webhook-zulip/alert-9-resolved.json").alerts
    fired = parse("grafana", "grafana-alerting-webhook-zulip/alert-9.json").alerts
    assert resolved.group == fired.group and resolved.alerts[0].key == fired.alerts[0].key
    assert not resolved.alerts[0].firing and fired.alerts[0].firing
    v11 = parse("grafana", "grafana-alerting-webhook-zulip/alert_values_v11.json").alerts
    assert v11.alerts[0].starts_at.isoformat() == "2024-03-01T02:09:00+00:00"


def test_pagerduty_incident_lifecycle_events():
    fired = parse("pagerduty-incidents", "pagerduty-webhooks-v3-zulip/triggered_v3.json",
                  mapping={"pig208": "checkout"})
    (alert,) = fired.alerts.alerts
    assert fired.alerts.group == "PFQZPSY" and alert.key == "PFQZPSY" and alert.firing
    assert alert.service == "checkout" and alert.labels["service_id"] == "PA2P440"
    assert fired.delivery_key == "01BZYIL05THJDFF2Y08X9SVMTU"
    assert alert.url == "https://pig208.pagerduty.com/incidents/PFQZPSY"
    ack = parse("pagerduty-incidents", "pagerduty-webhooks-v3-zulip/acknowledged_v3.json")
    assert ack.alerts.alerts[0].firing
    done = parse("pagerduty-incidents", "pagerduty-webhooks-v3-zulip/resolved_v3.json")
    assert not done.alerts.alerts[0].firing
    other = parser_for("pagerduty-incidents").parse(
        {}, b'{"event": {"id": "x", "event_type": "service.updated", "resource_type": '
            b'"service", "data": {}}}', HookContext(hook_id="h", source="pagerduty-incidents"))
    assert other.alerts is None and "not about an incident" in other.ignored


def test_pagerduty_published_vector():
    signed = body("pagerduty-webhooks-v3-go-pagerduty/incident.priority_updated.signed-body.json")
    pd = parser_for("pagerduty-incidents")
    assert pd.verify({"X-PagerDuty-Signature": PD_SIGNATURE}, signed, PD_SECRET)
    assert pd.verify({"X-PagerDuty-Signature": f"{PD_WRONG}, {PD_SIGNATURE}"}, signed, PD_SECRET)
    assert not pd.verify({"X-PagerDuty-Signature": PD_WRONG}, signed, PD_SECRET)
    assert not pd.verify({"X-PagerDuty-Signature": PD_SIGNATURE}, signed + b" ", PD_SECRET)
    assert not pd.verify({}, signed, PD_SECRET)
    parsed = pd.parse({}, signed, HookContext(hook_id="h", source="pagerduty-incidents"))
    assert parsed.alerts.alerts[0].labels["priority"] == "P1"


def test_alertmanager_bearer_only():
    am = parser_for("alertmanager")
    assert am.verify({"Authorization": "Bearer s3cret"}, b"{}", "s3cret")
    assert not am.verify({"Authorization": "Bearer wrong"}, b"{}", "s3cret")
    assert not am.verify({"Authorization": "Basic s3cret"}, b"{}", "s3cret")
    assert not am.verify({}, b"{}", "s3cret")


def test_grafana_hmac_with_and_without_timestamp():
    gf = parser_for("grafana")
    raw = body("grafana-alerting-webhook-zulip/alert-9.json")
    plain = hmac.new(b"k", raw, hashlib.sha256).hexdigest()
    stamped = hmac.new(b"k", b"1700000000:" + raw, hashlib.sha256).hexdigest()
    assert grafana_signature(raw, "k") == plain
    assert gf.verify({"X-Grafana-Alerting-Signature": plain}, raw, "k")
    assert gf.verify({"X-Grafana-Alerting-Signature": stamped,
                      "X-Grafana-Alerting-Signature-Timestamp": "1700000000"}, raw, "k")
    assert not gf.verify({"X-Grafana-Alerting-Signature": plain,
                          "X-Grafana-Alerting-Signature-Timestamp": "1700000000"}, raw, "k")
    assert not gf.verify({"X-Grafana-Alerting-Signature": stamped}, raw, "k")
    assert gf.verify({"Authorization": "Bearer k"}, raw, "k")
    assert not gf.verify({}, raw, "k")


def test_alert_node_prefers_the_endpoint_the_graph_has():
    graph = DependencyGraph.from_document({"services": {
        "frontend": {"endpoints": {"POST /cart/checkout": {"depends_on": ["checkout"]}}},
        "checkout": {}}})
    from rollback_advisor.alerts import Alert
    from rollback_advisor.timeutil import utc_now

    def node(**kw):
        return alert_node(graph, Alert(key="k", firing=True, starts_at=utc_now(), name="a", **kw))

    assert node(service="frontend", endpoint="POST /cart/checkout") == (
        "frontend:POST /cart/checkout", True)
    assert node(service="frontend", endpoint="GET /nope") == ("frontend", True)
    assert node(service="ghost") == ("ghost", False)
    assert node() == (None, False)
