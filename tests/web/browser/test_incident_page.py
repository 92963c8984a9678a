"""The incident page in headless Chromium (issue #9): sign in, the demo's incident with its
culprit first on the timeline and in the table, a verdict given and stored, an ad-hoc question,
copy for Slack, sign out, a forged CSRF token refused, and the keyboard reaching every control.
Each page is saved as a screenshot (test-artifacts/screenshots/)."""

from __future__ import annotations

from typing import Any

import requests

from ..demo_incident import demo
from .conftest import Site, shot, sign_in

CONTROLS = ("a[href], button:not([hidden]), input:not([type=hidden]), textarea, select, "
            "summary")


def test_sign_in_look_judge_copy_ask_and_sign_out(page: Any, site: Site):
    culprit = demo().culprit
    page.goto("/incidents/1")
    shot(page, "01-signin")
    sign_in(page, site.admin)
    # the decision first, then the culprit ranked first on the timeline and in the table
    assert page.locator("section.decision h2").inner_text().startswith("Roll back")
    assert page.locator("svg.timeline g.suspect.top").get_attribute("data-change") == culprit
    assert page.locator("svg.timeline g.suspect[data-rank='1']").count() == 1
    assert page.locator("table.suspects tbody tr").first.get_attribute("data-change") == culprit
    assert page.locator("svg.paths g.node.top").count() == 1
    shot(page, "02-incident")
    page.set_viewport_size({"width": 1280, "height": 1500})
    shot(page, "02-incident-top", full_page=False)  # docs/incident-page.png
    page.set_viewport_size({"width": 1280, "height": 900})

    # a verdict: the button on the culprit's row, stored (the API shows it)
    page.locator("#suspect-1 button.culprit").click()
    page.wait_for_selector("p.flash")
    assert "recorded" in page.locator("p.flash").inner_text()
    verdicts = requests.get(f"{site.base}/api/v1/incidents/1/verdicts",
                            headers={"Authorization": f"Bearer {site.read}"}, timeout=10)
    assert [(v["change"], v["verdict"], v["by"]) for v in verdicts.json()["verdicts"]] == \
        [(culprit, "culprit", "ana")]
    assert page.locator("#suspect-1 .given.culprit").count() == 1
    shot(page, "03-verdict-given")

    # copy for Slack: the clipboard holds the text area's text, the pasteable Slack text
    text = page.locator("#slack-text").input_value()
    assert text.startswith(":rewind: *ROLL BACK") and culprit in text
    page.click("#copy-slack")
    page.wait_for_selector("#copied:not(:empty)")
    assert page.evaluate("navigator.clipboard.readText()") == text

    # an ad-hoc question from the list page
    page.goto("/")
    assert page.locator("table.incidents").inner_text().count("#1") == 1
    shot(page, "04-index")
    page.fill("#target", demo().incident.target)
    page.fill("#at", "2026-11-20T14:05:00Z")
    page.fill("#symptoms", "ts-preserve-service@2026-11-20T14:04:00Z")
    page.click("form.ask button[type=submit]")
    page.wait_for_selector("h1:has-text('Ad-hoc question')")
    assert page.locator("table.suspects tbody tr").first.get_attribute("data-change") == culprit
    assert page.locator("svg.timeline line.symptom").count() == 1
    shot(page, "05-ad-hoc-answer")
    page.set_viewport_size({"width": 1280, "height": 1300})
    shot(page, "05-ad-hoc-answer-top", full_page=False)

    # sign out: the session is gone
    page.click("header.top button:has-text('Sign out')")
    page.wait_for_url("**/signin")
    shot(page, "06-signed-out")
    page.goto("/incidents/1")
    assert "/signin" in page.url


def test_a_forged_csrf_token_is_refused(page: Any, site: Site):
    sign_in(page, site.admin)
    page.evaluate("document.querySelectorAll('input[name=csrf]').forEach("
                  "e => e.value = 'forged')")
    with page.expect_response(lambda r: "/verdicts" in r.url) as answer:
        page.locator("#suspect-2 button.not-culprit").click()
    assert answer.value.status == 403
    assert "CSRF" in page.locator("section.error").inner_text()
    shot(page, "07-csrf-refused")
    verdicts = requests.get(f"{site.base}/api/v1/incidents/1/verdicts",
                            headers={"Authorization": f"Bearer {site.read}"}, timeout=10)
    assert "not_culprit" not in {v["verdict"] for v in verdicts.json()["verdicts"]}


def _tab_reaches_every_control(page: Any) -> None:
    """Tab from the top of the page reaches each visible control, in document order."""
    total = page.evaluate(f"""() => {{
        const all = [...document.querySelectorAll({CONTROLS!r})]
            .filter(e => e.offsetParent !== null || e.getClientRects().length);
        all.forEach((e, i) => e.setAttribute('data-tab', String(i)));
        return all.length;
    }}""")
    assert total > 0
    page.evaluate("document.activeElement && document.activeElement.blur()")
    reached = []
    for _ in range(total + 5):
        page.keyboard.press("Tab")
        index = page.evaluate("document.activeElement.getAttribute('data-tab')")
        if index is not None and int(index) not in reached:
            reached.append(int(index))
    assert sorted(reached) == list(range(total)), f"{total} controls, reached {reached}"
    start = reached.index(0)  # Tab may begin after an autofocused field, and wraps round
    assert reached[start:] + reached[:start] == sorted(reached)  # in reading order


def test_the_keyboard_reaches_every_control(page: Any, site: Site):
    page.goto("/signin")
    _tab_reaches_every_control(page)
    sign_in(page, site.admin)
    page.locator("#copy-slack").wait_for()  # the script has shown the copy button
    _tab_reaches_every_control(page)
    focused = page.evaluate("document.activeElement.outerHTML")
    assert focused
    page.goto("/")
    _tab_reaches_every_control(page)
    # a control reached by the keyboard works from it: Enter on the focused sign-out
    page.focus("header.top button:has-text('Sign out')")
    page.keyboard.press("Enter")
    page.wait_for_url("**/signin")


def test_a_read_token_sees_the_page_without_verdict_buttons(page: Any, site: Site):
    sign_in(page, site.read)
    assert page.locator("button.culprit").count() == 0
    assert "admin token" in page.locator("#suspects").inner_text()
    assert page.locator("svg.timeline g.suspect.top").get_attribute("data-change") == \
        demo().culprit


def test_two_thousand_changes_in_the_window_stay_legible(page: Any, site: Site):
    sign_in(page, site.read, "/incidents/2")
    timeline = page.locator("svg.timeline")
    first = page.locator("table.suspects tbody tr").first.get_attribute("data-change")
    assert timeline.locator("g.suspect.top").get_attribute("data-change") == first
    elements = page.evaluate("document.querySelectorAll('svg.timeline *').length")
    bins = timeline.locator("rect.bin").count()
    assert bins > 0 and elements < 2500  # binned: not one mark per change
    shown = int((timeline.locator("desc").text_content() or "").split()[0])
    assert shown >= 2000
    page.set_viewport_size({"width": 1280, "height": 1500})
    shot(page, "08-incident-2000-changes", full_page=False)
