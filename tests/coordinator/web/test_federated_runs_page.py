"""Runs recorded by the federation's ServerApp, as the web catalog shows them."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from .conftest import WebCatalog

SVG_NS = "{http://www.w3.org/2000/svg}"


def test_recorded_federated_runs_are_plotted_and_linked(web: WebCatalog) -> None:
    """Runs the ServerApp records (federated_runs/federated_rounds) show with their rounds; the
    run's published adapter links to the catalog and is not listed a second time."""
    from datetime import UTC, datetime

    from sqlalchemy import delete

    from synthspace.coordinator.federated.models import FederatedRound, FederatedRun
    from synthspace.coordinator.runtime import Coordinator
    from synthspace.coordinator.settings import CoordinatorSettings

    adapter = web.artifacts["adapter"].artifact_id
    coord = Coordinator.open(CoordinatorSettings.load(web.home), migrate=False, verify=False)
    now = datetime.now(UTC)
    try:
        with coord.session() as s:
            s.add(FederatedRun(
                run_id="4242", strategy="FedAvg", rounds_requested=2, rounds_completed=2, min_nodes=2,
                status="completed", status_detail="", base_model="smollm2-135m", config={},
                participants=["acme-legal", "kobe-health"], training_artifacts={}, final_metrics={"eval-loss": 1.7},
                artifact_id=adapter, created_at=now, finished_at=now,
            ))
            s.add(FederatedRun(
                run_id="4343", strategy="FedProx", rounds_requested=3, rounds_completed=1, min_nodes=2,
                status="failed", status_detail="round 2: 1 of 2 nodes returned a valid update", config={},
                participants=["acme-legal"], training_artifacts={}, final_metrics={}, created_at=now,
            ))
            for rnd, loss in ((1, 2.0), (2, 1.6)):
                s.add(FederatedRound(
                    run_id="4242", round=rnd, kind="train", metrics={"train-loss": loss},
                    per_org={"acme-legal": {"metrics": {"train-loss": loss + 0.1}}, "kobe-health": {"metrics": {"train-loss": loss - 0.1}}},
                    errors=[], replies=2, failures=0, bytes_sent=4096, bytes_received=4096, wall_seconds=3.0, train_seconds=2.5,
                ))
            s.add(FederatedRound(run_id="4242", round=3, kind="evaluate", metrics={"eval-loss": 1.7}, per_org={},
                                 errors=[], replies=2, failures=0, bytes_sent=0, bytes_received=0))
            s.commit()
        page = web.page("/catalog/federated").text
        assert page.count('class="run"') == 2, "the adapter of run 4242 is not shown again as its own run"
        run = re.search(r'<section class="run" id="run-4242".*?</section>', page, re.S)
        assert run and f'href="/catalog/artifacts/{adapter}"' in run.group(0) and "2 of 2" in run.group(0)
        charts = {c.get("aria-label"): c for c in (ET.fromstring(x) for x in re.findall(r"<svg [^>]*class=\"chart\".*?</svg>", run.group(0), re.S))}
        assert set(charts) == {"loss per round", "training loss per organisation", "seconds per round", "adapter MiB moved per round"}
        per_org = {p.get("data-series"): len(p.get("points", "").split()) for p in charts["training loss per organisation"].iter(f"{SVG_NS}polyline")}
        assert per_org == {"acme-legal": 2, "kobe-health": 2}
        failed = re.search(r'<section class="run" id="run-4343".*?</section>', page, re.S)
        assert failed and "1 of 2 nodes returned a valid update" in failed.group(0) and "status-failed" in failed.group(0)
        assert "No per-round metrics recorded" in failed.group(0)
        # The adapter's own page links back to the run that produced it.
        art = web.page(f"/catalog/artifacts/{adapter}").text
        assert '<a href="/catalog/federated#run-4242" id="run-link">run 4242</a>' in art
    finally:
        with coord.session() as s:
            s.execute(delete(FederatedRound).where(FederatedRound.run_id.in_(["4242", "4343"])))
            s.execute(delete(FederatedRun).where(FederatedRun.run_id.in_(["4242", "4343"])))
            s.commit()
        coord.close()
