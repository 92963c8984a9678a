"""The incident page's timeline, drawn on the server as an SVG string (DESIGN §8).

One lane per service, time across; the onset and each symptom's onset are vertical lines, the
time after the onset is shaded apart, suspects are numbered circles by rank. The last
``focus`` seconds before the onset (where most culprits land) take half the width, the rest of
the window is drawn compressed, so a deploy six minutes before the onset does not sit on the
onset line of a 24-hour axis.

It stays legible whatever the window holds: at most ``MAX_LANES`` lanes (the rest fold into
one "other services" lane), and a lane with more than ``MAX_SINGLE`` plain changes is drawn as
``BINS`` bars whose height says how many changes each holds. Suspects are always drawn one by
one. So the element count is bounded by the lanes and bins, not by the changes (2,000 or
200,000). Pure: data in, text out; every text is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

WIDTH = 1000
LABEL_W = 200  # lane names
PLOT_X0, PLOT_X1 = LABEL_W + 8, WIDTH - 14
TOP = 48  # onset and symptom labels
LANE_H = 26
AXIS_H = 40
MAX_LANES = 14
MAX_SINGLE = 40  # plain changes a lane draws one by one; more are binned
BINS = 64
NUMBERED = 9  # suspects up to this rank are numbered circles; the rest small dots


@dataclass(frozen=True, slots=True)
class Mark:
    """One change: ``at`` when it took effect (epoch seconds); ``rank`` for a suspect."""

    id: str
    lane: str
    at: float
    kind: str = ""
    rank: int | None = None
    after_onset: bool = False
    title: str = ""  # the tooltip; made from the rest when empty


@dataclass(frozen=True)
class Timeline:
    """What the timeline shows: the window [start, end], the onsets and the changes."""

    marks: Sequence[Mark]
    onset: float
    start: float
    end: float
    symptoms: Sequence[tuple[str, float]] = ()
    failing_lanes: Sequence[str] = ()  # lanes shown right after the suspects' own
    focus: float = 2 * 3600


class Scale:
    """Piecewise-linear time to x: each segment (t0, t1) gets its share of the plot width."""

    def __init__(self, segments: Sequence[tuple[float, float, float]]) -> None:
        total = sum(share for _, _, share in segments) or 1.0
        self.parts: list[tuple[float, float, float, float]] = []
        x = float(PLOT_X0)
        for t0, t1, share in segments:
            width = (PLOT_X1 - PLOT_X0) * share / total
            self.parts.append((t0, t1, x, x + width))
            x += width

    @classmethod
    def around(cls, tl: Timeline, first: float, last: float) -> Scale:
        start, end = min(tl.start, first), max(tl.end, last, tl.onset + 60)
        focus_at = max(tl.start, tl.onset - tl.focus)
        candidates = [(start, tl.start, 0.08), (tl.start, focus_at, 0.30),
                      (focus_at, tl.onset, 0.50), (tl.onset, end, 0.12)]
        return cls([(a, b, s) for a, b, s in candidates if b > a])

    def x(self, t: float) -> float:
        for t0, t1, x0, x1 in self.parts:
            if t <= t1:
                return x0 + (x1 - x0) * max(0.0, t - t0) / (t1 - t0)
        return float(PLOT_X1)


def _hm(t: float, with_day: bool = False) -> str:
    dt = datetime.fromtimestamp(t, UTC)
    return dt.strftime("%b %d %H:%M" if with_day else "%H:%M")


_STEPS = [60 * m for m in (1, 2, 5, 10, 15, 30)] + [3600 * h for h in (1, 2, 3, 6, 12, 24, 48)] \
    + [86400 * 7]


def _ticks(scale: Scale) -> list[tuple[float, float]]:
    """(time, x) of round times, spaced at least 70 px apart, per segment."""
    out: list[tuple[float, float]] = [(scale.parts[0][0], float(PLOT_X0))]  # where it begins
    for t0, t1, x0, x1 in scale.parts:
        fits = max(1, int((x1 - x0) // 70))
        step = next((s for s in _STEPS if (t1 - t0) / s <= fits), _STEPS[-1])
        t = math.ceil(t0 / step) * step
        while t <= t1:
            x = scale.x(t)
            if x - out[-1][1] >= 60:
                out.append((t, x))
            t += step
    return out


def _lanes(tl: Timeline) -> tuple[list[str], dict[str, str]]:
    """Lane order (suspects' lanes by best rank, the failing nodes', then the busiest) and
    each mark lane's drawn lane (folded into the "other" lane beyond MAX_LANES)."""
    best: dict[str, int] = {}
    count: dict[str, int] = {}
    for m in tl.marks:
        count[m.lane] = count.get(m.lane, 0) + 1
        if m.rank is not None and m.rank <= NUMBERED:
            best[m.lane] = min(m.rank, best.get(m.lane, m.rank))
    order = sorted(best, key=lambda lane: (best[lane], lane))
    order += [lane for lane in dict.fromkeys(tl.failing_lanes) if lane not in best]
    order += sorted((lane for lane in count if lane not in best and lane not in order),
                    key=lambda lane: (-count[lane], lane))
    if len(order) <= MAX_LANES:
        return order, {lane: lane for lane in order}
    kept, folded = order[:MAX_LANES - 1], order[MAX_LANES - 1:]
    other = f"{len(folded)} other services"
    return [*kept, other], {**{lane: lane for lane in kept}, **{lane: other for lane in folded}}


def cut(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut in the middle: both ends of a name tell."""
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return text[:head] + "…" + text[len(text) - (limit - 1 - head):]


def timeline_svg(tl: Timeline) -> str:
    """The SVG of the timeline (a string to embed in the page)."""
    times = [m.at for m in tl.marks]
    scale = Scale.around(tl, min(times, default=tl.start), max(times, default=tl.end))
    lanes, drawn_in = _lanes(tl)
    height = TOP + LANE_H * max(len(lanes), 1) + AXIS_H
    plot_bottom = TOP + LANE_H * max(len(lanes), 1)
    onset_x = scale.x(tl.onset)
    suspects = sum(1 for m in tl.marks if m.rank is not None)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" viewBox="0 0 {WIDTH} '
           f'{height}" role="img" aria-labelledby="tl-title tl-desc">',
           '<title id="tl-title">Timeline of the changes around the onset</title>',
           f'<desc id="tl-desc">{len(tl.marks)} changes in {len(lanes)} lanes, {suspects} '
           f'suspects numbered by rank; onset at {_hm(tl.onset, True)} UTC.</desc>',
           f'<text class="after-label" x="{PLOT_X1 - 4}" y="{plot_bottom + 32}" '
           'text-anchor="end">after onset</text>']
    for i in range(len(lanes)):
        y = TOP + i * LANE_H
        out.append(f'<rect class="lane lane-{i % 2}" x="0" y="{y}" width="{WIDTH}" '
                   f'height="{LANE_H}"/>')
    out.append(f'<rect class="after" x="{onset_x:.1f}" y="{TOP}" '
               f'width="{PLOT_X1 - onset_x:.1f}" height="{plot_bottom - TOP}"/>')
    # segment boundaries: where the scale changes
    for _, _, x0, _ in scale.parts[1:]:
        if abs(x0 - onset_x) > 1:
            out.append(f'<line class="scale-break" x1="{x0:.1f}" y1="{TOP - 6}" x2="{x0:.1f}" '
                       f'y2="{plot_bottom}"/>')
    by_lane: dict[str, list[Mark]] = {lane: [] for lane in lanes}
    for m in tl.marks:
        by_lane[drawn_in[m.lane]].append(m)
    for i, lane in enumerate(lanes):
        out.extend(_lane(scale, lane, i, by_lane[lane], lane in tl.failing_lanes))
    # axis
    out.append(f'<line class="axis" x1="{PLOT_X0}" y1="{plot_bottom}" x2="{PLOT_X1}" '
               f'y2="{plot_bottom}"/>')
    last_day = None
    for t, x in _ticks(scale):
        day = datetime.fromtimestamp(t, UTC).date()
        out.append(f'<line class="tick" x1="{x:.1f}" y1="{plot_bottom}" x2="{x:.1f}" '
                   f'y2="{plot_bottom + 5}"/>')
        out.append(f'<text class="tick-label" x="{x:.1f}" y="{plot_bottom + 17}" '
                   f'text-anchor="middle">{escape(_hm(t, day != last_day))}</text>')
        last_day = day
    focus = next((p for p in scale.parts if p[1] == tl.onset and p[0] > scale.parts[0][0]),
                 None)
    if focus is not None:
        hours = (focus[1] - focus[0]) / 3600
        out.append(f'<text class="scale-note" x="{(focus[2] + focus[3]) / 2:.1f}" '
                   f'y="{plot_bottom + 32}" text-anchor="middle">last {hours:g} h before onset '
                   'drawn wider</text>')
    out.extend(_onsets(scale, tl, plot_bottom))
    out.append("</svg>")
    return "\n".join(out)


def _lane(scale: Scale, lane: str, index: int, marks: list[Mark], failing: bool
          ) -> list[str]:
    y = TOP + index * LANE_H
    mid = y + LANE_H / 2
    plain = [m for m in marks if m.rank is None]
    binned = len(plain) > MAX_SINGLE
    note = f" ({len(marks)}{', binned' if binned else ''})"
    cls = "lane-label failing" if failing else "lane-label"
    note += " failing" if failing else ""
    shown = cut(lane, max(12, 29 - len(note))) + note  # about what LABEL_W holds
    out = [f'<text class="{cls}" x="{LABEL_W}" y="{mid + 4:.1f}" text-anchor="end">'
           f'<title>{escape(lane + note)}</title>{escape(shown)}</text>']
    if binned:
        out.extend(_bins(scale, plain, y))
    else:
        for m in plain:
            x = scale.x(m.at)
            cls = "change after-change" if m.after_onset else "change"
            out.append(f'<rect class="{cls}" x="{x - 1.5:.1f}" y="{y + 6}" width="3" '
                       f'height="{LANE_H - 12}"><title>{escape(_title(m))}</title></rect>')
    last_x = -100.0
    shift = 0
    for m in sorted((m for m in marks if m.rank is not None), key=lambda m: m.at):
        x = scale.x(m.at)
        shift = (shift + 1) % 2 if x - last_x < 18 else 0
        last_x = x
        rank = m.rank or 0
        cy = mid + (-6 if shift else 0)
        cls = "suspect after-suspect" if m.after_onset else "suspect"
        cls += " top" if rank == 1 else "" if rank <= NUMBERED else " minor"
        number = (f'<circle cx="{x:.1f}" cy="{cy:.1f}" r="9"/><text x="{x:.1f}" '
                  f'y="{cy + 4:.1f}" text-anchor="middle">{rank}</text>' if rank <= NUMBERED
                  else f'<circle cx="{x:.1f}" cy="{cy:.1f}" r="4.5"/>')
        out.append(f'<g class="{cls}" data-rank="{rank}" data-change="{escape(m.id)}">'
                   f'<title>{escape(m.title or m.id)}</title>{number}</g>')
    return out


def _title(m: Mark) -> str:
    """A mark's tooltip: its own, else made only for the marks drawn one by one."""
    if m.title:
        return m.title
    return (f"{m.id}: {m.kind or 'change'} of {m.lane}, {_hm(m.at, True)} UTC"
            + (" (after onset)" if m.after_onset else ""))


def _bins(scale: Scale, marks: list[Mark], y: float) -> list[str]:
    """Per-pixel-range counts, each a bar as high as its count (square root: one lone change
    stays visible beside a bin of a hundred)."""
    width = (PLOT_X1 - PLOT_X0) / BINS
    counts: dict[int, list[Mark]] = {}
    for m in marks:
        b = min(BINS - 1, int((scale.x(m.at) - PLOT_X0) / width))
        counts.setdefault(b, []).append(m)
    most = max(len(v) for v in counts.values())
    out = []
    for b, items in sorted(counts.items()):
        h = max(3.0, (LANE_H - 8) * math.sqrt(len(items) / most))
        x = PLOT_X0 + b * width
        after = all(m.after_onset for m in items)
        first, last = min(m.at for m in items), max(m.at for m in items)
        what = f"{len(items)} change{'s' if len(items) != 1 else ''}, {_hm(first)}–{_hm(last)} UTC"
        out.append(f'<rect class="bin{" after-change" if after else ""}" x="{x + 0.5:.1f}" '
                   f'y="{y + LANE_H - 4 - h:.1f}" width="{width - 1:.1f}" height="{h:.1f}">'
                   f'<title>{escape(what)}</title></rect>')
    return out


def _onsets(scale: Scale, tl: Timeline, bottom: float) -> list[str]:
    x = scale.x(tl.onset)
    out = [f'<line class="onset" x1="{x:.1f}" y1="{TOP - 14}" x2="{x:.1f}" y2="{bottom}"/>',
           f'<text class="onset-label" x="{x + 3:.1f}" y="{TOP - 16}">onset '
           f'{escape(_hm(tl.onset))}</text>']
    for i, (node, at) in enumerate(tl.symptoms):
        sx = scale.x(at)
        row = TOP - 30 - (i % 2) * 13
        out.append(f'<line class="symptom" x1="{sx:.1f}" y1="{row + 3}" x2="{sx:.1f}" '
                   f'y2="{bottom}"><title>{escape(node)} since {escape(_hm(at, True))} UTC'
                   '</title></line>')
        out.append(f'<text class="symptom-label" x="{sx - 3:.1f}" y="{row}" text-anchor="end">'
                   f'{escape(cut(node, 28))} {escape(_hm(at))}</text>')
    return out
