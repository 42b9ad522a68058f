"""The demo's own recipes and seeds, written for the bundled SmolLM2-135M model (package data).

`legal_en.yaml` + `legal_en_seeds.jsonl`: English Q&A about fictional statutes (kanagawa-legal);
`support_en.yaml`: one-exchange support conversations over the shipped `en_support_seeds.jsonl`
(osaka-support). Why English for the Japanese org: see the README's demo section.
"""

from pathlib import Path

DEMO_RECIPES_DIR = Path(__file__).resolve().parent
