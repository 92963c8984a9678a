"""The incident page's drawings (web/svg_timeline.py, web/svg_paths.py): well-formed SVG,
bounded however many changes the window holds, suspects always drawn one by one, text escaped,
and a layered layout whose edges go left to right."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET

import pytest

from rollback_advisor.web.svg_paths import layout, paths_svg
from rollback_advisor.web.svg_timeline import (
    BINS,
    MAX_LANES,
    MAX_SINGLE,
    PLOT_X0,
    PLOT_X1,
    Mark,
    Scale,
    Timeline,
    timeline_svg,
)

NS = "{http://www.w3.org/2000/svg}"
ONSET = 1_795_000_000.0
DAY = 86_400.0


def _window(n: int, services: int = 40, seed: int = 7) -> Timeline:
    rnd = random.Random(seed)
    marks = [Mark(f"c{i}", f"svc-{rnd.randrange(services)}", ONSET - rnd.random() * DAY,
                  "deploy") for i in range(n)]
    marks += [Mark("late", "svc-1", ONSET + 600, "config", after_onset=True)]
    suspects = [Mark(f"s{r}", f"svc-{r * 3}", ONSET - r * 300, "deploy", rank=r)
                for r in range(1, 26)]
    return Timeline([*marks, *suspects], onset=ONSET, start=ONSET - DAY, end=ONSET + 7200,
                    symptoms=[("svc-9", ONSET - 120), ("svc-<&>", ONSET + 60)],
                    failing_lanes=["svc-0"])


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # well-formed XML, or this raises


def test_two_thousand_changes_stay_within_a_bounded_drawing():
    root = _parse(timeline_svg(_window(2000)))
    elements = sum(1 for _ in root.iter())
    lanes = root.findall(f"{NS}rect[@class='lane lane-0']") + \
        root.findall(f"{NS}rect[@class='lane lane-1']")
    assert len(lanes) == MAX_LANES
    bins = [e for e in root.iter(f"{NS}rect") if "bin" in e.get("class", "").split()]
    assert 0 < len(bins) <= MAX_LANES * BINS
    # the lanes that hold more than MAX_SINGLE changes are binned: no rect per change
    singles = [e for e in root.iter(f"{NS}rect") if "change" in e.get("class", "").split()]
    assert len(singles) < 2000 / 4
    assert elements < 2500
    # the same bound with ten times the changes: the drawing does not grow with them
    bigger = sum(1 for _ in _parse(timeline_svg(_window(20_000))).iter())
    assert bigger < 2500


def test_bins_count_every_change_they_hold():
    root = _parse(timeline_svg(_window(2000)))
    counted = 0
    for e in root.iter(f"{NS}rect"):
        if "bin" in e.get("class", "").split():
            title = e.find(f"{NS}title")
            assert title is not None and title.text
            counted += int(title.text.split()[0])
    singles = sum(1 for e in root.iter(f"{NS}rect")
                  if "change" in e.get("class", "").split())
    minor = sum(1 for g in root.iter(f"{NS}g") if "minor" in g.get("class", "").split())
    assert counted + singles + minor == 2000 + 1 + 25 - 9  # plain + late + unnumbered suspects


def test_every_suspect_is_drawn_alone_with_its_rank():
    root = _parse(timeline_svg(_window(2000)))
    ranks = {int(g.get("data-rank")): g.get("data-change") for g in root.iter(f"{NS}g")
             if "suspect" in g.get("class", "").split()}
    assert ranks == {r: f"s{r}" for r in range(1, 26)}
    top = [g for g in root.iter(f"{NS}g") if "top" in g.get("class", "").split()]
    assert [g.get("data-change") for g in top] == ["s1"]
    numbered = {g.findtext(f"{NS}text") for g in root.iter(f"{NS}g")
                if "suspect" in g.get("class", "").split() and g.find(f"{NS}text") is not None}
    assert numbered == {str(r) for r in range(1, 10)}


def test_a_small_window_draws_each_change_and_the_onsets():
    tl = Timeline([Mark("a", "api", ONSET - 600), Mark("b", "api", ONSET + 300,
                                                       after_onset=True),
                   Mark("s", "db", ONSET - 60, rank=1)],
                  onset=ONSET, start=ONSET - DAY, end=ONSET + 7200,
                  symptoms=[("payment", ONSET - 120)])
    root = _parse(timeline_svg(tl))
    changes = [e for e in root.iter(f"{NS}rect") if "change" in e.get("class", "").split()]
    assert len(changes) == 2 and len(changes) <= MAX_SINGLE
    assert ["after-change" in e.get("class", "") for e in changes] == [False, True]
    onset = root.find(f"{NS}line[@class='onset']")
    symptom = root.find(f"{NS}line[@class='symptom']")
    assert onset is not None and symptom is not None
    assert float(symptom.get("x1")) < float(onset.get("x1"))
    after = root.find(f"{NS}rect[@class='after']")
    assert after is not None and float(after.get("x")) == pytest.approx(float(onset.get("x1")))


def test_text_is_escaped():
    svg = timeline_svg(Timeline([Mark("<script>", "a&b", ONSET - 60, rank=1,
                                      title="</title><script>x</script>")],
                                onset=ONSET, start=ONSET - DAY, end=ONSET + 60,
                                symptoms=[("<img onerror=x>", ONSET)]))
    root = _parse(svg)
    assert "<script>" not in svg and "<img" not in svg
    assert root.find(f".//{NS}g").get("data-change") == "<script>"


def test_the_scale_widens_the_last_hours_and_keeps_time_order():
    scale = Scale.around(_window(10), ONSET - DAY, ONSET + 7200)
    xs = [scale.x(ONSET - DAY + i * 600) for i in range(0, 157)]
    assert xs == sorted(xs) and xs[0] == PLOT_X0 and scale.x(ONSET + 7200) == PLOT_X1
    last_two_hours = scale.x(ONSET) - scale.x(ONSET - 7200)
    assert last_two_hours > (PLOT_X1 - PLOT_X0) / 3  # a twelfth of the time, a half of the width


def test_paths_layout_puts_each_dependency_right_of_its_dependant():
    paths = [("frontend:POST /cart", "checkout", "payment"), ("frontend:POST /cart", "checkout",
                                                             "db"),
             ("cart", "db"), ("frontend:POST /cart", "catalog")]
    lay = layout(paths)
    for a, b in lay.edges:
        assert lay.position[a][0] < lay.position[b][0]
    assert lay.position["db"][0] == 2  # the longest way in: frontend -> checkout -> db
    cells = list(lay.position.values())
    assert len(cells) == len(set(cells))  # no two nodes in one place


def test_paths_svg_marks_failing_and_suspect_nodes_and_escapes():
    svg = paths_svg([("api", "pay<ment>")], failing=["api"], suspects={"pay<ment>": [1, 4]})
    root = _parse(svg)
    groups = {g.get("data-node"): g.get("class") for g in root.iter(f"{NS}g")}
    assert groups == {"api": "node failing", "pay<ment>": "node suspect top"}
    assert "<ment>" not in svg
    assert len(root.findall(f"{NS}path[@class='edge']")) == 1


def test_a_cycle_in_the_paths_still_lays_out():
    lay = layout([("a", "b", "c"), ("c", "a")])
    assert set(lay.position) == {"a", "b", "c"}
    ET.fromstring(paths_svg([("a", "b", "c"), ("c", "a")], failing=["a"], suspects={}))
