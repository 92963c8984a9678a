"""The renderers show the incident's symptoms and scope, and every reason the engine gives a
suspect, whatever its factor: a new factor (common cause, scope, learned priors) reaches the
text and both Slack forms without touching them."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from rollback_advisor.advisor import advise
from rollback_advisor.config import Settings
from rollback_advisor.models import Incident, Reason, Symptom
from rollback_advisor.render import (
    POSTED,
    advice_slack,
    advice_text,
    slack_incident_lines,
    suspects_report,
)

from .factories import ONSET, make_change

NEW_REASONS = (Reason("common_cause", "3 of 4 failing nodes depend on b", 3.0),
               Reason("scope", "deployed to eu-west-1 only; failing in us-east-1", 0.02))


def _advice(chain, incident):
    advice = advise([make_change(service="b")], chain, incident, Settings())
    top = advice.ranking.suspects[0]
    top = replace(top, reasons=top.reasons + NEW_REASONS)
    ranking = replace(advice.ranking, suspects=(top, *advice.ranking.suspects[1:]))
    return replace(advice, ranking=ranking)


def test_every_reason_but_time_reaches_each_form(chain, incident):
    advice = _advice(chain, incident)
    time_text = next(r.text for r in advice.ranking.suspects[0].reasons if r.factor == "time")
    for form in (advice_text(advice), suspects_report(advice), advice_slack(advice),
                 advice_slack(advice, dialect=POSTED)):
        assert "3 of 4 failing nodes depend on b" in form
        assert "deployed to eu-west-1 only; failing in us-east-1" in form
    why = next(line for line in advice_text(advice).splitlines() if "why:" in line)
    assert "3 of 4 failing nodes depend on b" in why
    assert time_text not in why  # the "when" line already says it


def test_headers_show_symptoms_against_the_onset_and_the_scope(chain):
    incident = Incident(target="web:GET /x", started_at=ONSET,
                        symptoms=(Symptom("b", ONSET - timedelta(minutes=3)),
                                  Symptom("c", ONSET), Symptom("d <x>", ONSET +
                                                              timedelta(minutes=1))),
                        scope={"region": ("us-east-1",), "cell": ("7",)})
    advice = _advice(chain, incident)
    text = advice_text(advice).splitlines()
    assert text[1:4] == [
        "incident: web:GET /x since 2026-11-20T14:05:00Z (production)",
        "also failing: b since 2026-11-20T14:02:00Z, 3 min before onset; c since onset; "
        "d <x> since 2026-11-20T14:06:00Z, 1 min after onset",
        "failing in: region us-east-1; cell 7"]
    assert suspects_report(advice).splitlines()[:3] == text[1:4]
    posted = slack_incident_lines(incident, POSTED)
    assert posted[1] == ("*Also failing:* `b` since 2026-11-20T14:02:00Z, 3 min before onset; "
                         "`c` since onset; `d &lt;x&gt;` since 2026-11-20T14:06:00Z, 1 min "
                         "after onset")
    assert posted[2] == "*Failing in:* region us-east-1; cell 7"
    assert "`d <x>` since" in advice_slack(advice)


def test_no_symptoms_no_scope_no_extra_lines(chain, incident):
    advice = _advice(chain, incident)
    assert "also failing" not in advice_text(advice)
    assert "Failing in" not in advice_slack(advice)


def test_the_no_change_reason_is_shown_beside_its_probability(chain, incident):
    """The engine says how the symptoms bear on "no change" (``no_change_reason``): the suspect
    list shows it next to that hypothesis's probability, in every form."""
    advice = _advice(chain, incident)
    reason = "all 3 failing nodes depend on consul <dc1>, unchanged in the window"
    advice = replace(advice, ranking=replace(advice.ranking, no_change_reason=reason))
    report = suspects_report(advice).splitlines()
    assert report[report.index(next(x for x in report if x.startswith("suspects"))) + 1] == \
        f"     no change: {reason}"
    assert f"_no change: {reason}_" in advice_slack(advice)
    assert "consul &lt;dc1&gt;, unchanged" in advice_slack(advice, dialect=POSTED)
    empty = replace(advice, ranking=replace(advice.ranking, suspects=()))
    assert reason in suspects_report(empty)
