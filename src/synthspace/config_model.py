"""The one strict pydantic base for every config, wire and file model in synthspace.

Unknown keys are an error everywhere (a typo in a recipe or a field smuggled into a signed
Statement must not be silently dropped); `FrozenModel` also makes validated values immutable.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["FrozenModel", "StrictModel"]


class StrictModel(BaseModel):
    """Base of every synthspace model: unknown fields are rejected."""

    model_config = ConfigDict(extra="forbid")


class FrozenModel(StrictModel):
    """A StrictModel whose values cannot change once validated (recipes, specs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
