"""The two demo organisations and the recipes they run (the demo's own recipes, written for the
bundled model; they live in `synthspace.demo.recipes`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from synthspace.demo.recipes import DEMO_RECIPES_DIR
from synthspace.node.examples import example_path
from synthspace.node.recipes.loading import load_recipe
from synthspace.node.recipes.models import Recipe


@dataclass(frozen=True)
class OrgPlan:
    """One demo organisation: its name, the recipe and the private seeds it uses."""

    org: str
    recipe: Path
    seeds: Path
    title: str
    persona_seed: int


def _plans() -> tuple[OrgPlan, ...]:
    return (
        # The bundled 135M model cannot write Japanese (measured: katakana gibberish, copied
        # prompts), so the Japanese legal org asks it for short English Q&A about its fictional
        # statutes; `synthspace generate --backend openai` with a real model runs ja_legal_qa.yaml.
        OrgPlan(
            org="kanagawa-legal",
            recipe=DEMO_RECIPES_DIR / "legal_en.yaml",
            seeds=DEMO_RECIPES_DIR / "legal_en_seeds.jsonl",
            title="Fictional statute Q&A in English (kanagawa-legal demo)",
            persona_seed=14,
        ),
        OrgPlan(
            org="osaka-support",
            recipe=DEMO_RECIPES_DIR / "support_en.yaml",
            seeds=example_path("en_support_seeds.jsonl"),
            title="Kettle support exchanges (osaka-support demo)",
            persona_seed=27,
        ),
    )


ORGS: tuple[OrgPlan, ...] = _plans()


def demo_recipe(plan: OrgPlan, out: Path, sampling_seed_offset: int = 0) -> Path:
    """The org's recipe with this attempt's sampling seed, written to `out` (YAML).

    The run's lineage records the digest of exactly this recipe.
    """
    data = load_recipe(plan.recipe).model_dump(mode="json", exclude_none=True)
    data["sampling"]["seed"] = int(data["sampling"].get("seed", 0)) + 1000 * sampling_seed_offset
    Recipe.model_validate(data)  # the same checks a recipe file gets
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return out
