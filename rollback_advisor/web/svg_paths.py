"""The dependency paths from the failing nodes to the top suspects, as a small layered graph
drawn on the server (DESIGN §8).

The layout is the classic layered one (Sugiyama's, reduced to what a handful of paths needs):
each node's column is its longest distance from a failing node along the paths' edges, and
within a column nodes are ordered by the mean row of their neighbours in the column before,
which keeps edges from crossing in the common cases. A few dozen nodes at most (the caller
passes the top suspects' paths), so no library is needed. Pure: data in, text out; every
text is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

from .svg_timeline import cut

COL_W = 210
NODE_W, NODE_H = 176, 30
ROW_H = 46
PAD = 14


@dataclass(frozen=True)
class Layout:
    """Each node's (column, row), and the edges between them (dependant -> dependency)."""

    position: dict[str, tuple[int, int]]
    edges: list[tuple[str, str]]

    @property
    def columns(self) -> int:
        return 1 + max((c for c, _ in self.position.values()), default=-1)

    @property
    def rows(self) -> int:
        return 1 + max((r for _, r in self.position.values()), default=-1)


def layout(paths: Sequence[Sequence[str]]) -> Layout:
    """Columns by longest distance from a path's start, rows by neighbours' mean row."""
    edges: dict[tuple[str, str], None] = {}
    nodes: dict[str, None] = {}
    for path in paths:
        for node in path:
            nodes.setdefault(node)
        for a, b in zip(path, path[1:], strict=False):
            if a != b:
                edges.setdefault((a, b))
    column = {n: 0 for n in nodes}
    for _ in range(len(nodes)):  # longest path; a cycle stops after |nodes| rounds
        moved = False
        for a, b in edges:
            if column[b] < column[a] + 1:
                column[b] = column[a] + 1
                moved = True
        if not moved:
            break
    by_column: dict[int, list[str]] = {}
    for n in nodes:  # first-seen order: the top suspect's path first
        by_column.setdefault(column[n], []).append(n)
    row: dict[str, float] = {}
    for c in sorted(by_column):
        members = by_column[c]
        for i, n in enumerate(members):
            parents = [row[a] for a, b in edges if b == n and a in row]
            row[n] = sum(parents) / len(parents) if parents else float(i)
        seen = {n: i for i, n in enumerate(members)}
        members.sort(key=lambda n: (row[n], seen[n]))
        for i, n in enumerate(members):
            row[n] = float(i)
    return Layout({n: (column[n], int(row[n])) for n in nodes}, list(edges))





def paths_svg(paths: Sequence[Sequence[str]], *, failing: Sequence[str],
              suspects: Mapping[str, Sequence[int]]) -> str:
    """The SVG of ``paths`` (each from a failing node to a suspect's node); ``suspects`` maps
    a node to the ranks of the suspects that changed it."""
    lay = layout(paths)
    width = PAD * 2 + max(lay.columns, 1) * COL_W - (COL_W - NODE_W)
    height = PAD * 2 + max(lay.rows, 1) * ROW_H - (ROW_H - NODE_H)

    def box(node: str) -> tuple[float, float]:
        c, r = lay.position[node]
        return PAD + c * COL_W, PAD + r * ROW_H

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="paths" viewBox="0 0 {width} '
           f'{height}" width="{width}" role="img" aria-labelledby="paths-title">',
           '<title id="paths-title">Dependency paths from the failing nodes to the top '
           'suspects</title>',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"/>'
           '</marker></defs>']
    for a, b in lay.edges:
        (ax, ay), (bx, by) = box(a), box(b)
        x1, y1 = ax + NODE_W, ay + NODE_H / 2
        x2, y2 = bx, by + NODE_H / 2
        if bx <= ax:  # a back edge (a cycle): go round below
            out.append(f'<path class="edge back" d="M {x1 - NODE_W / 2:.1f} {ay + NODE_H:.1f} '
                       f'C {x1:.1f} {y1 + ROW_H:.1f} {x2:.1f} {y2 + ROW_H:.1f} '
                       f'{x2 + NODE_W / 2:.1f} {by + NODE_H:.1f}" marker-end="url(#arrow)"/>')
            continue
        mx = (x1 + x2) / 2
        out.append(f'<path class="edge" d="M {x1:.1f} {y1:.1f} C {mx:.1f} {y1:.1f} {mx:.1f} '
                   f'{y2:.1f} {x2:.1f} {y2:.1f}" marker-end="url(#arrow)"/>')
    failing_set = set(failing)
    for node in lay.position:
        x, y = box(node)
        ranks = sorted(suspects.get(node, ()))
        cls = "node" + (" failing" if node in failing_set else "") + \
            (" suspect" if ranks else "") + (" top" if ranks and ranks[0] == 1 else "")
        badge = ""
        if ranks:
            badge = (f'<circle cx="{x + NODE_W:.1f}" cy="{y:.1f}" r="10"/>'
                     f'<text class="rank" x="{x + NODE_W:.1f}" y="{y + 4:.1f}" '
                     f'text-anchor="middle">{ranks[0]}</text>')
        what = ("failing" if node in failing_set else "") + \
            (("; " if node in failing_set else "") + "changed by suspect "
             + ", ".join(f"#{r}" for r in ranks) if ranks else "")
        out.append(f'<g class="{cls}" data-node="{escape(node)}"><title>{escape(node)}'
                   f'{escape(": " + what) if what else ""}</title>'
                   f'<rect x="{x:.1f}" y="{y:.1f}" width="{NODE_W}" height="{NODE_H}" rx="5"/>'
                   f'<text x="{x + 8:.1f}" y="{y + NODE_H / 2 + 4:.1f}">'
                   f'{escape(cut(node, 23))}</text>{badge}</g>')
    out.append("</svg>")
    return "\n".join(out)
