"""Differential privacy of a federated run: clipping, noise and the (epsilon, delta) it spent.

Where it applies: on the coordinator, to the aggregate (Flower's
`DifferentialPrivacyServerSideFixedClipping`). Each org's adapter update (its reply minus the
round's global adapter) is clipped to L2 norm `clipping_norm`, the clipped updates are averaged
with equal weights, and Gaussian noise with stddev `noise_multiplier * clipping_norm / n` is
added to the average of the n updates. What it protects: every released global adapter (each
round's, sent to the nodes, and the final one published in the catalog) is (epsilon, delta)-DP
with respect to adding or removing ONE ORG's whole contribution to a round. What it does not
protect: the coordinator itself sees each org's unnoised update before clipping (use secure
aggregation to hide individual updates; central DP then still needs the clipping on the node).

Accounting: every round asks all online nodes, so no sampling amplification is claimed; each
round is one Gaussian release with noise multiplier sigma, composed with the RDP accountant of
Google's `dp-accounting` (through `flwr.supercore.privacy_accounting.RdpAccountant`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from synthspace.flower_apps import DP_WEIGHT_KEY  # every node reports 1.0 (equal weights)
from synthspace.lineage import DifferentialPrivacy

__all__ = ["DP_WEIGHT_KEY", "PrivacyLedger", "epsilon_for", "update_norm"]

MECHANISM = (
    "server-side fixed clipping of each org's update + Gaussian noise on the equal-weight average"
)
UNIT = "one org's entire adapter update in a round (add/remove one org)"
SAMPLING = "every online node is asked each round; no sampling amplification claimed"
ACCOUNTANT = "RDP (dp-accounting via flwr.supercore.privacy_accounting.RdpAccountant)"


def _accountant(delta: float, population: int) -> Any:
    from flwr.supercore.privacy_accounting import NeighboringRelation, PrivacyConfig, SamplingMethod
    from flwr.supercore.privacy_accounting.rdp_accountant import RdpAccountant

    return RdpAccountant(
        PrivacyConfig(
            target_delta=delta,
            population_size=max(population, 1),
            neighboring_relation=NeighboringRelation.ADD_OR_REMOVE_ONE,
            sampling_method=SamplingMethod.NO_AMPLIFICATION,
        )
    )


def epsilon_for(noise_multiplier: float, releases: int, delta: float) -> float:
    """Epsilon at `delta` of `releases` Gaussian releases with `noise_multiplier` (no sampling)."""
    from flwr.supercore.privacy_accounting import GaussianPrivacyEvent

    if releases == 0:
        return 0.0
    acc = _accountant(delta, 1)
    acc.compose(
        GaussianPrivacyEvent(noise_multiplier=noise_multiplier, sample_size=1, population_size=1),
        releases,
    )
    return float(acc.get_epsilon(delta))


def update_norm(reply: list[Any], current: list[Any]) -> float:
    """L2 norm of one update: all of a reply's arrays minus the global arrays, as one vector."""
    import numpy as np

    if not current:
        return float(math.sqrt(sum(float(np.sum(np.square(r, dtype=np.float64))) for r in reply)))
    return float(
        math.sqrt(
            sum(
                float(np.sum(np.square(r.astype(np.float64) - c, dtype=np.float64)))
                for r, c in zip(reply, current, strict=True)
            )
        )
    )


@dataclass
class PrivacyLedger:
    """The DP releases of one run and the update norms seen before and after clipping."""

    noise_multiplier: float
    clipping_norm: float
    delta: float
    releases: int = 0
    norms_before: list[float] = field(default_factory=list)
    norms_after: list[float] = field(default_factory=list)

    def record_round(self, before: list[float], after: list[float]) -> None:
        self.releases += 1
        self.norms_before.extend(before)
        self.norms_after.extend(after)

    @property
    def epsilon(self) -> float:
        return epsilon_for(self.noise_multiplier, self.releases, self.delta)

    def lineage(self) -> Any:
        return DifferentialPrivacy(
            mechanism=MECHANISM,
            unit=UNIT,
            clipping_norm=self.clipping_norm,
            noise_multiplier=self.noise_multiplier,
            releases=self.releases,
            sampling=SAMPLING,
            accountant=ACCOUNTANT,
            epsilon=self.epsilon,
            delta=self.delta,
            update_norms={
                "max_before_clipping": max(self.norms_before, default=0.0),
                "max_after_clipping": max(self.norms_after, default=0.0),
            },
        )
