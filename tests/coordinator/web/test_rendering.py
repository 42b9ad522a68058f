"""The web catalog's pure parts: lineage walk and picture, charts, data preview, run series."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synthspace.coordinator.web.charts import line_chart_svg, nice_ticks
from synthspace.coordinator.web.federated_runs import series_from_rounds
from synthspace.coordinator.web.lineage_graph import (
    LineageNode,
    build_lineage_graph,
    render_lineage_svg,
)
from synthspace.coordinator.web.preview import MAX_CELL_CHARS, preview_parquet

SVG_NS = "{http://www.w3.org/2000/svg}"


def _node(aid: str, **kw: object) -> LineageNode:
    return LineageNode(artifact_id=aid, title=str(kw.pop("title", aid.upper())), kind=str(kw.pop("kind", "dataset")), org="o", **kw)  # type: ignore[arg-type]


def _graph_fns(edges: list[tuple[str, str, str]], nodes: dict[str, LineageNode]):  # type: ignore[no-untyped-def]
    def lookup(aid: str) -> LineageNode | None:
        return nodes.get(aid)

    def parents(aid: str) -> list[tuple[str, str]]:
        return [(p, r) for p, c, r in edges if c == aid]

    def children(aid: str) -> list[tuple[str, str]]:
        return [(c, r) for p, c, r in edges if p == aid]

    return lookup, parents, children


# ---- lineage graph ------------------------------------------------------------------------


def test_walk_goes_up_and_down_with_levels() -> None:
    nodes = {k: _node(k) for k in "abcdem"}
    edges = [("a", "b", "source"), ("b", "c", "source"), ("c", "d", "source"), ("e", "c", "source"), ("c", "m", "training-data")]
    graph = build_lineage_graph(nodes["c"], *_graph_fns(edges, nodes))
    assert graph.levels == {"c": 0, "b": -1, "e": -1, "a": -2, "d": 1, "m": 1}
    assert sorted(graph.parents_of("c")) == ["b", "e"]
    assert sorted(graph.children_of("c")) == ["d", "m"]
    assert not graph.truncated
    assert {(e.parent_id, e.child_id, e.role) for e in graph.edges} == set(edges)


def test_walk_stops_at_depth_and_size_and_says_so() -> None:
    chain = [f"n{i}" for i in range(10)]
    nodes = {k: _node(k) for k in chain}
    edges = [(chain[i], chain[i + 1], "source") for i in range(9)]
    graph = build_lineage_graph(nodes["n0"], *_graph_fns(edges, nodes), max_depth=3)
    assert set(graph.nodes) == {"n0", "n1", "n2", "n3"} and graph.truncated

    wide = {f"c{i}": _node(f"c{i}") for i in range(30)} | {"root": _node("root")}
    fan = [("root", f"c{i}", "source") for i in range(30)]
    graph = build_lineage_graph(wide["root"], *_graph_fns(fan, wide), max_nodes=10)
    assert len(graph.nodes) == 10 and graph.truncated


def test_walk_survives_cycles_and_missing_parents() -> None:
    nodes = {"a": _node("a"), "b": _node("b")}
    edges = [("a", "b", "source"), ("b", "a", "source"), ("ghost", "a", "source")]
    graph = build_lineage_graph(nodes["a"], *_graph_fns(edges, nodes))
    assert not graph.nodes["ghost"].in_catalog
    assert set(graph.nodes) == {"a", "b", "ghost"}


def test_svg_links_neighbours_marks_retraction_and_escapes() -> None:
    nodes = {
        "p": _node("p", title="<b>Parent</b> & co"),
        "f": _node("f", title="Focus"),
        "r": _node("r", title="Gone", retracted=True),
    }
    edges = [("p", "f", "source"), ("f", "r", "source")]
    graph = build_lineage_graph(nodes["f"], *_graph_fns(edges, nodes))
    svg = render_lineage_svg(graph, lambda aid: f"/catalog/artifacts/{aid}")
    root = ET.fromstring(svg)  # well-formed XML: titles were escaped
    assert root.tag == f"{SVG_NS}svg"
    hrefs = {a.get("href") for a in root.iter(f"{SVG_NS}a")}
    assert hrefs == {"/catalog/artifacts/p", "/catalog/artifacts/r"}, "the focus is not a link to itself"
    assert "&lt;b&gt;Parent&lt;/b&gt; &amp; co" in svg and "<b>" not in svg
    groups = {g.get("data-artifact-id"): g.get("class", "") for g in root.iter(f"{SVG_NS}g") if g.get("data-artifact-id")}
    assert "retracted" in groups["r"] and "focus" in groups["f"] and "retracted" not in groups["p"]
    paths = [p for p in root.iter(f"{SVG_NS}path") if p.get("data-parent")]
    assert {(p.get("data-parent"), p.get("data-child")) for p in paths} == {("p", "f"), ("f", "r")}

    # Parents sit left of the focus, children right of it.
    def x_of(aid: str) -> float:
        g = next(g for g in root.iter(f"{SVG_NS}g") if g.get("data-artifact-id") == aid)
        return float(next(g.iter(f"{SVG_NS}rect")).get("x", "nan"))

    assert x_of("p") < x_of("f") < x_of("r")


# ---- charts -------------------------------------------------------------------------------


@pytest.mark.parametrize(("lo", "hi"), [(0.0, 1.0), (1.87, 2.41), (-5.0, 1234.0), (3.0, 3.0), (1e-5, 3e-5)])
def test_nice_ticks_cover_the_range_evenly(lo: float, hi: float) -> None:
    ticks = nice_ticks(lo, hi)
    assert ticks[0] <= lo and ticks[-1] >= hi
    steps = {round(b - a, 9) for a, b in zip(ticks, ticks[1:], strict=False)}
    assert len(steps) == 1 and steps.pop() > 0
    assert 2 <= len(ticks) <= 12


def test_line_chart_plots_each_point_with_higher_values_higher() -> None:
    svg = line_chart_svg({"loss <train>": [(1, 2.4), (2, 1.9), (3, 1.2)], "eval": [(1, 2.5), (3, 2.0)]}, title="loss & more")
    root = ET.fromstring(svg)
    lines = {p.get("data-series"): p.get("points", "") for p in root.iter(f"{SVG_NS}polyline")}
    assert set(lines) == {"loss <train>", "eval"}
    pts = [tuple(map(float, xy.split(","))) for xy in lines["loss <train>"].split()]
    assert len(pts) == 3
    xs, ys = zip(*pts, strict=True)
    assert xs[0] < xs[1] < xs[2], "rounds go left to right"
    assert ys[0] < ys[1] < ys[2], "falling loss is drawn going down (SVG y grows downwards)"
    titles = [t.text for t in root.iter(f"{SVG_NS}title")]
    assert "loss <train> @ round 2: 1.9" in titles


def test_line_chart_without_data_says_so() -> None:
    svg = line_chart_svg({"loss": [(1, float("nan"))]}, title="empty")
    assert "no data recorded" in svg
    ET.fromstring(svg)


# ---- run series ---------------------------------------------------------------------------


def test_series_from_round_records_and_metric_lists() -> None:
    charts = series_from_rounds([
        {"round": 1, "train_loss": 2.0, "evaluate": {"loss": 2.2, "exact_match": 0.1}},
        {"round": 2, "train_loss": 1.5, "evaluate": {"loss": 1.9, "exact_match": 0.3}, "note": "x"},
    ])
    assert charts["train"]["loss"] == [(1.0, 2.0), (2.0, 1.5)]
    assert charts["evaluate"]["exact_match"] == [(1.0, 0.1), (2.0, 0.3)]
    assert "note" not in str(charts)
    charts = series_from_rounds({"train_loss": [2.4, 1.8], "eval_loss": [[1, 2.5], [2, 2.0]], "accuracy": [0.5, None]})
    assert charts["train"]["loss"] == [(1.0, 2.4), (2.0, 1.8)]
    assert charts["evaluate"]["loss"] == [(1.0, 2.5), (2.0, 2.0)]
    assert charts["metrics"]["accuracy"] == [(1.0, 0.5)]
    assert series_from_rounds("garbage") == {}


# ---- data preview -------------------------------------------------------------------------


def _parquet(rows: list[dict[str, object]], row_group_size: int | None = None) -> io.BytesIO:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buf, row_group_size=row_group_size)
    buf.seek(0)
    return buf


def test_preview_reads_only_the_first_rows_across_row_groups() -> None:
    rows = [{"id": i, "text": f"row {i}", "meta": {"k": i}} for i in range(1000)]
    preview = preview_parquet(_parquet(rows, row_group_size=3), max_rows=10)
    assert preview.error is None
    assert preview.columns == ["id", "text", "meta"] and preview.total_rows == 1000
    assert [r[0] for r in preview.rows] == [str(i) for i in range(10)]
    assert preview.rows[4][2] == '{"k": 4}'


def test_preview_clips_long_values_and_shows_nulls() -> None:
    preview = preview_parquet(_parquet([{"t": "x" * 5000}, {"t": None}]), max_rows=10)
    assert len(preview.rows[0][0]) == MAX_CELL_CHARS and preview.rows[0][0].endswith("\u2026")
    assert preview.rows[1][0] == "\u2205"


def test_preview_of_a_non_parquet_file_is_an_error_not_a_crash() -> None:
    preview = preview_parquet(io.BytesIO(b"definitely not parquet"), max_rows=10)
    assert preview.error and "Parquet" in preview.error and preview.rows == []
    assert re.search(r"cannot read", preview.error)


def test_charts_from_recorded_rounds() -> None:
    from types import SimpleNamespace

    from synthspace.coordinator.web.federated_runs import charts_from_round_rows

    def row(rnd: int, kind: str, metrics: dict[str, float], per_org: dict[str, object] | None = None, **kw: float) -> SimpleNamespace:
        base = {"wall_seconds": None, "train_seconds": None, "aggregate_seconds": None, "bytes_sent": None, "bytes_received": None}
        return SimpleNamespace(round=rnd, kind=kind, metrics=metrics, per_org=per_org or {}, **(base | kw))

    rows = [
        row(0, "init", {"adapter-bytes": 1000.0}),
        row(1, "train", {"train-loss": 2.0, "loss-before": 2.3},
            {"acme": {"metrics": {"train-loss": 2.1}}, "kobe": {"metrics": {"train-loss": 1.9}}},
            wall_seconds=10.0, train_seconds=8.0, aggregate_seconds=0.5, bytes_sent=2 * 1048576, bytes_received=1048576),
        row(2, "train", {"train-loss": 1.5, "loss-before": 1.8},
            {"acme": {"metrics": {"train-loss": 1.6}}, "kobe": {"metrics": {"train-loss": 1.4}}},
            wall_seconds=9.0, train_seconds=7.5, aggregate_seconds=0.4, bytes_sent=2 * 1048576, bytes_received=1048576),
        row(3, "evaluate", {"eval-loss": 1.7, "exact-match": 0.25, "num-examples": 40.0}),
    ]
    charts = charts_from_round_rows(rows)
    assert charts["loss per round"] == {
        "train-loss": [(1.0, 2.0), (2.0, 1.5)],
        "train loss-before": [(1.0, 2.3), (2.0, 1.8)],
        "eval-loss": [(3.0, 1.7)],
    }
    assert charts["training loss per organisation"] == {"acme": [(1.0, 2.1), (2.0, 1.6)], "kobe": [(1.0, 1.9), (2.0, 1.4)]}
    assert charts["evaluation metrics per round"] == {"exact-match": [(3.0, 0.25)]}
    assert charts["seconds per round"]["train"] == [(1.0, 8.0), (2.0, 7.5)]
    assert charts["adapter MiB moved per round"]["adapter bytes sent"] == [(1.0, 2.0), (2.0, 2.0)]
    assert charts_from_round_rows([row(0, "init", {"x": 1.0})]) == {}


def test_blob_digest_is_recomputed_when_the_file_changes(tmp_path: pytest.TempPathFactory) -> None:
    import hashlib
    import os
    from pathlib import Path

    from synthspace.coordinator.blobs import BlobStore
    from synthspace.coordinator.web.verification import blob_digest
    from synthspace.errors import SynthspaceError

    store = BlobStore(Path(str(tmp_path)))
    data = b"x" * 100_000
    digest = store.put_bytes(data)
    assert blob_digest(store, digest) == hashlib.sha256(data).hexdigest() == digest
    path = store.path_for(digest)
    path.chmod(0o644)
    path.write_bytes(b"y" * 100_000)  # same size; the new mtime invalidates the remembered digest
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert blob_digest(store, digest) == hashlib.sha256(b"y" * 100_000).hexdigest()
    path.unlink()
    with pytest.raises(SynthspaceError, match="missing"):
        blob_digest(store, digest)
