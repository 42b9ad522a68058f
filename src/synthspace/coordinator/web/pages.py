"""The web catalog: server-rendered pages (Jinja2, one stylesheet, no JavaScript, no build step).

Routes, all under /catalog (and / redirects there):
    GET /catalog                               artifact list: free-text search + filters
    GET /catalog/artifacts/{id}                metadata, verification, gates, data preview (schema only where agreements are required), lineage
    GET /catalog/artifacts/{id}/lineage.svg    the lineage picture on its own
    GET /catalog/log                           the log's tree heads, each proven consistent
    GET /catalog/federated                     federated runs with per-round metric charts
    GET /catalog/orgs, /catalog/orgs/{org}     organisations and their keys with validity periods
Pages only read. They use the coordinator's DB session dependency and its catalog service.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy import select

from synthspace import __version__, log_entries
from synthspace import transparency_log as tlog
from synthspace.api_models import is_org_name
from synthspace.coordinator.api.deps import CoordinatorDep, SessionDep
from synthspace.coordinator.errors import InvalidRequestError, NotFoundError
from synthspace.coordinator.models import Artifact
from synthspace.coordinator.services import catalog, orgs
from synthspace.coordinator.web import federated_runs, queries
from synthspace.coordinator.web.charts import line_chart_svg
from synthspace.coordinator.web.lineage_graph import render_lineage_svg
from synthspace.coordinator.web.preview import DataPreview, preview_parquet
from synthspace.coordinator.web.verification import current_checkpoint, verify_artifact
from synthspace.errors import SynthspaceError
from synthspace.lineage import MAX_FACET_CHARS, MAX_TAG_CHARS, MAX_TAGS

HERE = Path(__file__).resolve().parent
PREFIX = "/catalog"
PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
LOG_PAGE_SIZE = 50
PREVIEW_ROWS = 10
HEX64 = re.compile(r"\A[0-9a-f]{64}\Z")
FILTERS = ("q", "org", "task", "locale", "license", "tag", "kind")
KINDS = ("dataset", "derived-dataset", "model-adapter", "evaluation")
STATUSES = ("all", "active", "retracted")
SORTS = ("newest", "oldest", "title")

router = APIRouter(prefix=PREFIX, include_in_schema=False, tags=["web catalog"])
root_router = APIRouter(include_in_schema=False)


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(HERE / "templates")),
        autoescape=select_autoescape(["html", "svg"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["short"] = lambda s, n=12: (s or "")[:n]
    env.filters["when"] = lambda d: d.strftime("%Y-%m-%d %H:%M UTC") if isinstance(d, datetime) else (d or "")
    env.filters["bytes"] = _human_bytes
    env.filters["pretty_json"] = lambda v: json.dumps(v, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    env.globals["artifact_url"] = artifact_url
    env.globals["list_url"] = list_url
    env.globals["org_url"] = lambda org: f"{PREFIX}/orgs/{org}"
    env.globals["version"] = __version__
    return env



def artifact_url(artifact_id: str) -> str:
    return f"{PREFIX}/artifacts/{artifact_id}"


def list_url(**params: str | None) -> str:
    clean = {k: v for k, v in params.items() if v}
    return f"{PREFIX}?{urlencode(clean)}" if clean else PREFIX


def _human_bytes(n: int | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


templates = Jinja2Templates(env=_environment())
# Display bounds = the publishing bounds (rows stored before them are clipped, not re-validated).
templates.env.globals.update(MAX_TAGS=MAX_TAGS, MAX_TAG_CHARS=MAX_TAG_CHARS, MAX_FACET_CHARS=MAX_FACET_CHARS)


# The pages run no script at all; forbidding it makes any markup that slipped through inert.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; "
        "script-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _page(request: Request, template: str, http_status: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(
        request, template, context, status_code=http_status, headers=SECURITY_HEADERS
    )


def _whole_number(text: str, max_digits: int) -> int | None:
    """ASCII digits only: str.isdigit() also accepts '²' or '١٢', which int() refuses or reads."""
    return int(text) if re.fullmatch(rf"[0-9]{{1,{max_digits}}}", text) else None


def _error(request: Request, status: int, title: str, detail: str) -> HTMLResponse:
    return _page(request, "error.html", http_status=status, title=title, detail=detail)


@root_router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse(PREFIX, status_code=307)


@router.get("", response_class=HTMLResponse)
def artifact_list(request: Request, coord: CoordinatorDep, session: SessionDep) -> HTMLResponse:
    """Search (free text over title and description) and filter the catalog."""
    params = request.query_params
    chosen = {k: (params.get(k) or "").strip() for k in FILTERS}
    status = params.get("status") or "all"
    sort = params.get("sort") or "newest"
    cursor = params.get("cursor") or None
    per_page_raw = params.get("per_page") or str(PAGE_SIZE)
    problems = []
    per_page = _whole_number(per_page_raw, 3)
    per_page = per_page if per_page is not None else 0
    if not 1 <= per_page <= min(MAX_PAGE_SIZE, coord.settings.max_page_size):
        problems.append(f"per_page must be a number from 1 to {min(MAX_PAGE_SIZE, coord.settings.max_page_size)}")
    if status not in STATUSES:
        problems.append(f"status must be one of {', '.join(STATUSES)}")
    if sort not in SORTS:
        problems.append(f"sort must be one of {', '.join(SORTS)}")
    if chosen["kind"] and chosen["kind"] not in KINDS:
        problems.append(f"kind must be one of {', '.join(KINDS)}")
    for k, v in chosen.items():
        if len(v) > 200 or "\x00" in v:
            problems.append(f"{k} is too long or contains a NUL character")
    if problems:
        return _error(request, 400, "Bad search", "; ".join(problems))
    try:
        page = catalog.list_artifacts(
            session,
            viewer=None,
            limit=per_page,
            status=status,  # type: ignore[arg-type]
            sort=sort,  # type: ignore[arg-type]
            cursor=cursor,
            q=chosen["q"] or None,
            org=chosen["org"] or None,
            task=chosen["task"] or None,
            locale=chosen["locale"] or None,
            license=chosen["license"] or None,
            tag=chosen["tag"] or None,
            kind=chosen["kind"] or None,
        )
    except InvalidRequestError as exc:
        return _error(request, 400, "Bad search", str(exc))
    next_url = None
    if page.next_cursor:
        next_url = list_url(**chosen, status=None if status == "all" else status,
                            sort=None if sort == "newest" else sort, cursor=page.next_cursor,
                            per_page=None if per_page == PAGE_SIZE else str(per_page))
    total, retracted, orgs = queries.catalog_counts(session)
    return _page(
        request,
        "list.html",
        title="Catalog",
        items=page.items,
        chosen=chosen,
        status=status,
        sort=sort,
        facets=queries.facets(session),
        next_url=next_url,
        first_page_url=list_url(**chosen, status=None if status == "all" else status,
                                sort=None if sort == "newest" else sort,
                                per_page=None if per_page == PAGE_SIZE else str(per_page)) if cursor else None,
        filtered=any(chosen.values()) or status != "all",
        counts={"total": total, "retracted": retracted, "orgs": orgs},
        kinds=KINDS,
        per_page=per_page,
        default_per_page=PAGE_SIZE,
        statuses=STATUSES,
        sorts=SORTS,
    )


def _load(session: SessionDep, artifact_id: str) -> Artifact | None:
    if not HEX64.match(artifact_id):
        return None
    # The web catalog is anonymous: only artifacts every member may see (docs/governance.md).
    return session.scalars(
        select(Artifact).where(Artifact.artifact_id == artifact_id, catalog.visible_to(None))
    ).one_or_none()


@router.get("/artifacts/{artifact_id}", response_class=HTMLResponse)
def artifact_page(artifact_id: str, request: Request, coord: CoordinatorDep, session: SessionDep) -> HTMLResponse:
    row = _load(session, artifact_id)
    if row is None:
        return _error(request, 404, "No such artifact", f"artifact {artifact_id[:80]} is not in this catalog")
    detail = catalog.artifact_detail(session, artifact_id, viewer=None)
    checkpoint = current_checkpoint(session, coord.log)
    checks = verify_artifact(session, coord.log, coord.blobs, row, checkpoint)
    preview: DataPreview | None = None
    # No data is served without an agreement: where they are required (the default) the
    # anonymous page shows the schema and row count, not the rows (docs/web-catalog.md).
    rows_withheld = coord.settings.require_agreements
    if row.subject_name.endswith(".parquet") or row.kind in ("dataset", "derived-dataset"):
        try:
            with coord.blobs.open(row.subject_sha256) as fh:
                preview = preview_parquet(fh, 0 if rows_withheld else PREVIEW_ROWS)
        except SynthspaceError as exc:  # a missing blob also fails the digest check above
            preview = DataPreview(error=f"data unavailable: {exc}")
    graph = queries.lineage_graph(session, row)
    lineage_svg = Markup(render_lineage_svg(graph, artifact_url))
    predicate = detail.statement.get("predicate", {})
    envelope = json.loads(row.envelope)
    signatures = [s.get("keyid", "") for s in envelope.get("signatures", [])]
    return _page(
        request,
        "artifact.html",
        title=row.title,
        a=detail,
        predicate=predicate,
        checks=checks,
        all_passed=all(c.passed for c in checks),
        checkpoint=checkpoint,
        preview=preview,
        rows_withheld=rows_withheld,
        lineage_svg=lineage_svg,
        graph=graph,
        trained=queries.trained_on(session, row),
        evaluations=queries.evaluations_for(session, row),
        signatures=signatures,
        run_id=federated_runs.run_for_adapter(session, row.artifact_id) if row.kind == "model-adapter" else None,
        payload_size=len(base64.b64decode(envelope.get("payload", ""))),
    )


@router.get("/artifacts/{artifact_id}/lineage.svg")
def lineage_svg(artifact_id: str, request: Request, session: SessionDep) -> Response:
    row = _load(session, artifact_id)
    if row is None:
        return _error(request, 404, "No such artifact", f"artifact {artifact_id[:80]} is not in this catalog")
    svg = render_lineage_svg(queries.lineage_graph(session, row), artifact_url)
    return Response(svg, media_type="image/svg+xml", headers=SECURITY_HEADERS)


@router.get("/log", response_class=HTMLResponse)
def log_page(request: Request, coord: CoordinatorDep, session: SessionDep) -> HTMLResponse:
    """Tree heads newest first; each one's consistency with the current checkpoint is proven."""
    before_raw = request.query_params.get("before")
    before = None
    if before_raw:
        before = _whole_number(before_raw, 18)
        if before is None:
            return _error(request, 400, "Bad page", "before must be a log index (a whole number)")
    checkpoint = current_checkpoint(session, coord.log)
    heads: list[queries.TreeHead] = []
    current_root = bytes.fromhex(checkpoint.root_hex) if checkpoint.verified else None
    leaves = queries.log_leaves_page(session, before, LOG_PAGE_SIZE)
    # One memoised subtree hasher for the page: the rows' roots and proofs share most subtrees.
    subtree = coord.log.subtree_hasher(session)
    for leaf in leaves:
        size = leaf.idx + 1
        try:
            entry = log_entries.parse_entry(bytes(leaf.leaf)).model_dump(mode="json")
        except (SynthspaceError, ValueError):
            entry = {"type": leaf.entry_type, "error": "entry bytes do not parse"}
        if size > checkpoint.size:  # appended after the checkpoint was read
            heads.append(queries.TreeHead(leaf.idx, size, leaf.created_at, leaf.entry_type, entry, "", None, "newer than the checkpoint"))
            continue
        root = subtree(0, size)
        consistent: bool | None = None
        detail = ""
        if current_root is not None:
            try:
                proof = [] if size == checkpoint.size else tlog.consistency_proof(size, checkpoint.size, subtree)
                tlog.verify_consistency(size, checkpoint.size, root, current_root, proof)
                consistent = True
                detail = "the current checkpoint" if size == checkpoint.size else f"{len(proof)}-hash proof"
            except (SynthspaceError, ValueError) as exc:
                consistent, detail = False, str(exc)
        heads.append(queries.TreeHead(leaf.idx, size, leaf.created_at, leaf.entry_type, entry, root.hex(), consistent, detail))
    older_url = f"{PREFIX}/log?before={leaves[-1].idx}" if leaves and leaves[-1].idx > 0 else None
    return _page(
        request,
        "log.html",
        title="Transparency log",
        checkpoint=checkpoint,
        heads=heads,
        older_url=older_url,
        newest_url=f"{PREFIX}/log" if before is not None else None,
        verifier_key=coord.log.verifier_key(),
    )


@router.get("/federated", response_class=HTMLResponse)
def federated_page(request: Request, session: SessionDep) -> HTMLResponse:
    runs = federated_runs.load_runs(session)
    charts: dict[str, list[Markup]] = {}
    for run in runs:
        charts[run.run_id] = [
            Markup(line_chart_svg(series, title=title)) for title, series in run.charts.items()
        ]
    return _page(request, "federated.html", title="Federated runs", runs=runs, charts=charts)


@router.get("/orgs", response_class=HTMLResponse)
def orgs_page(request: Request, session: SessionDep) -> HTMLResponse:
    return _page(request, "orgs.html", title="Organisations", active="orgs", orgs=orgs.list_orgs(session))


@router.get("/orgs/{org}", response_class=HTMLResponse)
def org_page(org: str, request: Request, session: SessionDep) -> HTMLResponse:
    if not is_org_name(org):
        return _error(request, 404, "No such organisation", f"{org[:80]!r} is not an organisation name")
    try:
        record = orgs.org_record(session, org)
    except NotFoundError:
        return _error(request, 404, "No such organisation", f"{org!r} is not enrolled in this catalog")
    recent = catalog.list_artifacts(session, viewer=None, limit=10, org=org)
    return _page(request, "org.html", title=record.display_name or org, active="orgs", org=record, recent=recent.items)
