"""The lineage graph around one artifact, and its drawing as a server-side SVG picture.

The graph walks parent links both ways from the focus artifact: up through its parents (and
theirs), down through the artifacts derived from it and the model adapters trained on it.
Layout is layered: ancestors in columns to the left, descendants to the right, so a reader
follows the data from its sources to the models it fed. No JavaScript: every box is an SVG
link to its artifact page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html import escape

Role = str  # "source" | "training-data" | "base-model" (lineage.Parent.role)


@dataclass(frozen=True)
class LineageNode:
    """One box of the picture."""

    artifact_id: str
    title: str
    kind: str
    org: str
    retracted: bool = False
    in_catalog: bool = True
    policy_withdrawn: bool = False  # its publisher withdrew its usage policy (policy_versions)


@dataclass(frozen=True)
class LineageEdge:
    """parent -> child: the child was built from (or trained on) the parent."""

    parent_id: str
    child_id: str
    role: Role


@dataclass
class LineageGraph:
    focus_id: str
    nodes: dict[str, LineageNode] = field(default_factory=dict)
    edges: list[LineageEdge] = field(default_factory=list)
    levels: dict[str, int] = field(default_factory=dict)
    truncated: bool = False
    # Nodes built on withdrawn data: below a retracted node in this graph, or known to have a
    # retracted ancestor beyond it (see mark_withdrawn).
    built_on_withdrawn: set[str] = field(default_factory=set)

    def parents_of(self, artifact_id: str) -> list[str]:
        return [e.parent_id for e in self.edges if e.child_id == artifact_id]

    def children_of(self, artifact_id: str) -> list[str]:
        return [e.child_id for e in self.edges if e.parent_id == artifact_id]


def build_lineage_graph(
    focus: LineageNode,
    lookup: Callable[[str], LineageNode | None],
    parents: Callable[[str], Iterable[tuple[str, Role]]],
    children: Callable[[str], Iterable[tuple[str, Role]]],
    *,
    max_depth: int = 4,
    max_nodes: int = 60,
) -> LineageGraph:
    """Walk up (parents) and down (children) from `focus`, breadth first, to `max_depth` links.

    `lookup` returns None for an id the catalog does not hold (a parent named in a lineage but
    never published here); it is drawn as a dashed box. The walk stops at `max_nodes` and sets
    `truncated`, so a heavily reused dataset still renders a readable picture.
    """
    graph = LineageGraph(focus_id=focus.artifact_id)
    graph.nodes[focus.artifact_id] = focus
    graph.levels[focus.artifact_id] = 0
    seen_edges: set[tuple[str, str]] = set()

    def node_for(aid: str) -> LineageNode:
        found = lookup(aid)
        return found or LineageNode(aid, "(not in this catalog)", "unknown", "?", in_catalog=False)

    for direction in (-1, 1):
        frontier = [focus.artifact_id]
        for depth in range(1, max_depth + 1):
            nxt: list[str] = []
            for aid in frontier:
                if not graph.nodes[aid].in_catalog:
                    continue
                links = parents(aid) if direction < 0 else children(aid)
                for other, role in links:
                    edge = (other, aid) if direction < 0 else (aid, other)
                    if edge in seen_edges:
                        continue
                    if other not in graph.nodes:
                        if len(graph.nodes) >= max_nodes:
                            graph.truncated = True
                            continue
                        graph.nodes[other] = node_for(other)
                        graph.levels[other] = direction * depth
                        nxt.append(other)
                    seen_edges.add(edge)
                    graph.edges.append(LineageEdge(parent_id=edge[0], child_id=edge[1], role=role))
            frontier = nxt
            if not frontier:
                break
        else:
            if frontier and any(
                list(parents(a) if direction < 0 else children(a))
                for a in frontier
                if graph.nodes[a].in_catalog
            ):
                graph.truncated = True
    return graph


def mark_withdrawn(graph: LineageGraph, also: Iterable[str] = ()) -> None:
    """Fill `graph.built_on_withdrawn`: every node downstream of a retracted node, and of the
    ids in `also` (nodes whose withdrawn ancestor lies outside the picture), themselves included."""
    roots = [aid for aid, n in graph.nodes.items() if n.retracted or n.policy_withdrawn]
    stack = [c for r in roots for c in graph.children_of(r)] + [a for a in also if a in graph.nodes]
    while stack:
        aid = stack.pop()
        if aid in graph.built_on_withdrawn:
            continue
        graph.built_on_withdrawn.add(aid)
        stack.extend(graph.children_of(aid))


# ---- drawing ----------------------------------------------------------------------------

BOX_W, BOX_H = 210, 58
COL_GAP, ROW_GAP = 70, 18
PAD = 16

KIND_FILL = {
    "dataset": "#e8f1fb",
    "derived-dataset": "#eaf6ec",
    "model-adapter": "#fbf0e3",
    "evaluation": "#f1ebf8",
}
ROLE_COLOUR = {
    "source": "#4a6fa5",
    "training-data": "#c0722b",
    "base-model": "#6b6b6b",
    "evaluated-model": "#7a4fa3",
}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def render_lineage_svg(graph: LineageGraph, href: Callable[[str], str]) -> str:
    """The graph as a standalone SVG document (also valid inline in HTML)."""
    columns: dict[int, list[str]] = {}
    for aid, level in sorted(
        graph.levels.items(), key=lambda kv: (kv[1], graph.nodes[kv[0]].title, kv[0])
    ):
        columns.setdefault(level, []).append(aid)
    levels = sorted(columns)
    tallest = max(len(c) for c in columns.values())
    width = PAD * 2 + len(levels) * BOX_W + (len(levels) - 1) * COL_GAP
    height = PAD * 2 + tallest * BOX_H + (tallest - 1) * ROW_GAP + (18 if graph.truncated else 0)

    pos: dict[str, tuple[int, int]] = {}
    for ci, level in enumerate(levels):
        col = columns[level]
        col_h = len(col) * BOX_H + (len(col) - 1) * ROW_GAP
        top = PAD + (tallest * BOX_H + (tallest - 1) * ROW_GAP - col_h) // 2
        for ri, aid in enumerate(col):
            pos[aid] = (PAD + ci * (BOX_W + COL_GAP), top + ri * (BOX_H + ROW_GAP))

    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-label="Lineage of artifact {escape(graph.focus_id[:12])}">',
        "<title>Lineage graph: sources on the left, derived data and models on the right</title>",
        "<defs>",
    ]
    for role, colour in ROLE_COLOUR.items():
        out.append(
            f'<marker id="arrow-{role}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
            f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
        )
    out.append("</defs>")

    for edge in graph.edges:
        if edge.parent_id not in pos or edge.child_id not in pos:
            continue
        px, py = pos[edge.parent_id]
        cx, cy = pos[edge.child_id]
        x1, y1 = px + BOX_W, py + BOX_H // 2
        x2, y2 = cx, cy + BOX_H // 2
        mid = (x1 + x2) // 2
        role = edge.role if edge.role in ROLE_COLOUR else "source"
        colour = ROLE_COLOUR[role]
        out.append(
            f'<path class="edge edge-{escape(role)}" data-parent="{escape(edge.parent_id)}" '
            f'data-child="{escape(edge.child_id)}" d="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}" '
            f'fill="none" stroke="{colour}" stroke-width="1.6" marker-end="url(#arrow-{role})">'
            f"<title>{escape(role)}</title></path>"
        )

    for aid, (x, y) in pos.items():
        node = graph.nodes[aid]
        is_focus = aid == graph.focus_id
        fill = KIND_FILL.get(node.kind, "#f2f2f2")
        withdrawn = aid in graph.built_on_withdrawn
        stroke = (
            "#b3261e"
            if node.retracted
            else ("#c77700" if withdrawn else ("#1d3557" if is_focus else "#8a99ad"))
        )
        dash = ' stroke-dasharray="5 3"' if (node.retracted or not node.in_catalog) else ""
        classes = ["node", f"kind-{node.kind}"]
        if is_focus:
            classes.append("focus")
        if node.retracted:
            classes.append("retracted")
        if node.policy_withdrawn:
            classes.append("policy-withdrawn")
        if withdrawn:
            classes.append("built-on-withdrawn")
        if not node.in_catalog:
            classes.append("missing")
        rect = (
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="7" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="{2.6 if is_focus else 1.3}"{dash}/>'
        )
        title_text = _clip(node.title, 25 if is_focus else 27)
        line2 = f"{node.kind} \u00b7 {node.org}"
        status = (
            " \u00b7 RETRACTED"
            if node.retracted
            else (" \u00b7 WITHDRAWN" if node.policy_withdrawn else (" \u00b7 ON WITHDRAWN" if withdrawn else ""))
        )
        texts = (
            f'<text x="{x + 10}" y="{y + 22}" font-size="13" font-weight="{700 if is_focus else 600}" '
            f'fill="#1b1b1b">{escape(title_text)}</text>'
            f'<text x="{x + 10}" y="{y + 39}" font-size="11" fill="#44505e">{escape(_clip(line2, 34))}</text>'
            f'<text x="{x + 10}" y="{y + 52}" font-size="10" font-family="monospace" '
            f'fill="{"#b3261e" if node.retracted else ("#c77700" if withdrawn else "#6a7683")}">{escape(aid[:12])}{escape(status)}</text>'
        )
        tooltip = f"<title>{escape(node.title)} ({escape(aid)}){escape(status)}</title>"
        group = f'<g class="{" ".join(classes)}" data-artifact-id="{escape(aid)}">{tooltip}{rect}{texts}</g>'
        if node.in_catalog and not is_focus:
            out.append(f'<a href="{escape(href(aid))}">{group}</a>')
        else:
            out.append(group)

    if graph.truncated:
        out.append(
            f'<text x="{PAD}" y="{height - 6}" font-size="11" fill="#6a7683">'
            "Graph cut at its size limit: open a neighbour to see further.</text>"
        )
    out.append("</svg>")
    return "".join(out)
