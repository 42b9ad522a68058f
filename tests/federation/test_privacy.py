"""Fast checks of the privacy arithmetic: the RDP accountant against an independent computation
and against the exact Gaussian-DP curve, and the update norm used for clipping reports."""

from __future__ import annotations

import math

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
