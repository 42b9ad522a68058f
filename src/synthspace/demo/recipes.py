"""The two demo organisations and the recipes they run (the example recipes, sized for the
bundled model)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class OrgPlan:
    """One demo organisation: its name, the example recipe and the private seeds it uses."""

    org: str
    recipe: str  # file name under synthspace/node/examples
    seeds: str
    title: str
    persona_seed: int
    # Demo sizing: shorter output fields for the embedded 135M model, whose English tokenizer
    # spends ~2.5 tokens per Japanese character (measured: 1,234 tokens per full-length record).
    max_lengths: tuple[tuple[str, int], ...] = ()
    max_tokens: int | None = None


ORGS: tuple[OrgPlan, ...] = (
    OrgPlan(
        org="kanagawa-legal",
        recipe="ja_legal_qa.yaml",
        seeds="ja_legal_qa_seeds.jsonl",
        title="架空法令Q&A (kanagawa-legal demo)",
        persona_seed=14,
        max_lengths=(("question", 60), ("answer", 120), ("cited_article", 30)),
        max_tokens=700,
    ),
    OrgPlan(
        org="osaka-support",
        recipe="en_support.yaml",
        seeds="en_support_seeds.jsonl",
        title="Kettle support dialogues (osaka-support demo)",
        persona_seed=27,
    ),
)



def examples_dir() -> Path:
    import synthspace.node.examples as examples

    return Path(examples.__file__).resolve().parent


def demo_recipe(plan: OrgPlan, out: Path, sampling_seed_offset: int = 0) -> Path:
    """The org's example recipe with the demo's sizing applied, written to `out` (YAML).

    The run's lineage records the digest of exactly this recipe.
    """
    import yaml

    from synthspace.node.recipes.loading import load_recipe
    from synthspace.node.recipes.models import Recipe

    data = load_recipe(examples_dir() / plan.recipe).model_dump(mode="json", exclude_none=True)
    limits = dict(plan.max_lengths)
    for f in data["output_fields"]:
        if f["name"] in limits:
            f["max_length"] = limits[f["name"]]
            f["min_length"] = min(f.get("min_length", 1), limits[f["name"]])
    if plan.max_tokens is not None:
        data["sampling"]["max_tokens"] = plan.max_tokens
    data["sampling"]["seed"] = int(data["sampling"].get("seed", 0)) + 1000 * sampling_seed_offset
    Recipe.model_validate(data)  # the same checks a recipe file gets
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return out
