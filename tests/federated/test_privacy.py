"""Fast checks of the privacy arithmetic: the RDP accountant against an independent computation
and against the exact Gaussian-DP curve, and the update norm used for clipping reports."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.stats import norm


def exact_gaussian_epsilon(mu: float, delta: float) -> float:
    """Exact epsilon(delta) of a mu-GDP mechanism (Dong, Roth, Su 2019, Corollary 2.13)."""

    def delta_of(eps: float) -> float:
        return float(norm.cdf(-eps / mu + mu / 2) - math.exp(eps) * norm.cdf(-eps / mu - mu / 2))

    return float(brentq(lambda e: delta_of(e) - delta, 0.0, 500.0))


def classic_rdp_epsilon(sigma: float, releases: int, delta: float) -> float:
    """Mironov 2017: eps(alpha) = T * alpha / (2 sigma^2), eps = min over alpha of eps(alpha) + log(1/delta)/(alpha-1)."""
    alphas = np.linspace(1.01, 2000, 400_000)
    return float(np.min(releases * alphas / (2 * sigma**2) + math.log(1 / delta) / (alphas - 1)))


@pytest.mark.parametrize(
    ("sigma", "releases", "delta"),
    [(1.0, 2, 1e-5), (0.8, 10, 1e-5), (4.0, 50, 1e-6), (1.1, 1, 1e-3)],
)
def test_epsilon_matches_dp_accounting_and_lies_between_the_exact_and_the_classic_bound(
    sigma: float, releases: int, delta: float
) -> None:
    from dp_accounting import dp_event
    from dp_accounting.rdp import rdp_privacy_accountant

    from synthspace.coordinator.federated.privacy import epsilon_for

    eps = epsilon_for(sigma, releases, delta)
    ref = rdp_privacy_accountant.RdpAccountant()
    ref.compose(dp_event.GaussianDpEvent(sigma), releases)
    assert eps == pytest.approx(ref.get_epsilon(delta), rel=1e-9)
    # T compositions of the Gaussian mechanism with noise multiplier sigma are exactly
    # (sqrt(T)/sigma)-GDP; RDP is an upper bound on that, and at most Mironov's conversion.
    exact = exact_gaussian_epsilon(math.sqrt(releases) / sigma, delta)
    assert exact <= eps <= classic_rdp_epsilon(sigma, releases, delta) + 1e-6
    assert eps < exact * 1.5  # and not a loose bound either


def test_known_values_more_noise_or_fewer_rounds_spend_less() -> None:
    from synthspace.coordinator.federated.privacy import epsilon_for

    assert epsilon_for(1.0, 0, 1e-5) == 0.0
    # sigma=1, one release, delta=1e-5: the exact Gaussian mechanism needs eps ~= 4.4;
    # RDP with dp-accounting's conversion reports ~= 4.7 (checked above against the exact curve).
    one = epsilon_for(1.0, 1, 1e-5)
    assert 4.3 < one < 5.0
    assert epsilon_for(1.0, 4, 1e-5) > epsilon_for(1.0, 2, 1e-5) > one
    assert epsilon_for(2.0, 2, 1e-5) < epsilon_for(1.0, 2, 1e-5)


def test_update_norm_is_the_l2_norm_of_the_difference_over_all_arrays() -> None:
    from synthspace.coordinator.federated.privacy import update_norm

    current = [np.zeros((2, 2), np.float32), np.ones(3, np.float32)]
    reply = [
        np.full((2, 2), 3.0, np.float32),
        np.ones(3, np.float32) + np.array([0, 0, 4.0], np.float32),
    ]
    assert update_norm(reply, current) == pytest.approx(math.sqrt(4 * 9 + 16))
    assert update_norm(reply, []) == pytest.approx(math.sqrt(36 + 1 + 1 + 25))


def test_exposure_is_log2_candidates_minus_log2_rank() -> None:
    from synthspace.node.federated.canaries import exposure

    others = [float(i) for i in range(1, 1024)]  # |R| = 1024
    assert exposure(0.5, others) == pytest.approx(10.0)  # ranked first: fully exposed
    assert exposure(2000.0, others) == pytest.approx(0.0)  # ranked last
    assert exposure(512.5, others) == pytest.approx(10 - math.log2(513))
    assert exposure(1.0, [1.0]) == pytest.approx(1 - math.log2(1.5))  # a tie earns half a rank


def test_canaries_are_secret_stable_private_and_their_candidates_deterministic(
    tmp_path: Path,
) -> None:
    import stat

    from synthspace.node.federated.canaries import PREFIX, candidates, load_or_create

    first = load_or_create(tmp_path, 3)
    assert len(set(first)) == 3 and all(
        c.startswith(PREFIX) and c[len(PREFIX) :].isdigit() for c in first
    )
    assert load_or_create(tmp_path, 3) == first and load_or_create(tmp_path, 2) == first[:2]
    path = tmp_path / "federation" / "canaries.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    cands = candidates(first[0], 200)
    assert cands[0] == first[0] and len(set(cands)) == 200 and cands == candidates(first[0], 200)
    assert load_or_create(tmp_path / "other", 1) != first[:1]  # random per node


@pytest.mark.parametrize(
    ("report", "why"),
    [
        ("not json", "not a canary report"),
        ('{"candidates": 100, "exposure": [9.0]}', r"\[0, log2"),
        ('{"candidates": 100, "exposure": []}', r"\[0, log2"),
        ('{"candidates": 100, "exposure": ["NaN"]}', r"\[0, log2"),
        ('{"candidates": 1, "exposure": [0.0]}', "greater than or equal to 2"),
        ('{"candidates": 100}', "not a canary report"),
    ],
)
def test_a_malformed_canary_report_from_a_node_is_refused(report: str, why: str) -> None:
    from synthspace.coordinator.federated.server_app import parse_canary_exposure

    with pytest.raises(ValueError, match=why):
        parse_canary_exposure(report)
    ok = parse_canary_exposure('{"candidates": 100, "exposure": [0.5, 6.0]}')
    assert ok["max_exposure"] == 6.0 and ok["canaries"] == 2


def test_exposure_detects_a_memorised_canary_and_not_an_unseen_one(tiny_model: Path) -> None:
    """Positive control of the metric on a real (tiny) model: after LoRA steps on a canary it
    ranks near the top of 256 candidates; a canary the model never saw does not."""
    from synthspace.node.federated.canaries import canary_text, measure
    from synthspace.node.federated.lora import (
        LoraSettings,
        attach_lora,
        load_base_model,
        train_steps,
    )
    from synthspace.node.federated.training_data import Example

    base = load_base_model(str(tiny_model))
    model = attach_lora(base.model, LoraSettings(rank=4, alpha=8, seed=0))
    planted, unseen = canary_text("274913"), canary_text("830562")
    filler = [Example(text=f"request {i} returned status {200 + i % 5}.") for i in range(16)]
    train_steps(
        model,
        base.tokenizer,
        filler + [Example(text=planted)] * 16,
        steps=40,
        batch_size=8,
        lr=2e-2,
        max_len=32,
        seed=1,
    )
    report = measure(model, base.tokenizer, [planted, unseen], 256)
    exposed, control = report["exposure"]
    assert report["candidates"] == 256
    assert exposed > 6.0, report  # of at most log2(256) = 8 bits
    assert control < exposed - 3.0, report


def test_superlink_decoder_finds_text_in_a_flower_array_pushed_over_rest() -> None:
    """Positive control of the SuperLink wire decoder on Flower's own serialisation: a record put
    into a NumPy unicode Array, deflated into its ArrayChunk object and wrapped in a PushObject
    request (what a SuperNode POSTs to /v1/fleet/push-object) is found; a raw byte search is not."""
    from flwr.app import Array
    from flwr.proto.message_pb2 import PushObjectRequest

    from tests.federated.superlink_wire import decoded_leaves

    secret = "What is the status code for request 103?"
    array = Array(np.array([secret]))
    chunks = [chunk.deflate() for chunk in array.children.values()] if array.children else []
    assert chunks, "Flower stores the array's bytes in ArrayChunk children"
    body = PushObjectRequest(run_id=7, object_id="x", object_content=chunks[0]).SerializeToString()
    request = b"POST /v1/fleet/push-object HTTP/1.1\r\nContent-Type: application/protobuf\r\n"
    request += b"Content-Length: %d\r\n\r\n" % len(body) + body
    assert secret.encode() not in request  # NumPy stores it as UTF-32
    assert any(secret.encode() in leaf for leaf in decoded_leaves([request]))
    clean = PushObjectRequest(
        run_id=7, object_id="x", object_content=Array(np.zeros(8, np.float32)).deflate()
    )
    clean_request = (
        b"POST /v1/fleet/push-object HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % clean.ByteSize()
    )
    assert not any(
        secret.encode() in leaf
        for leaf in decoded_leaves([clean_request + clean.SerializeToString()])
    )
