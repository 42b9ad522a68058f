"""Scoring a model (optionally with a LoRA adapter) on a held-out benchmark.

benchmark.py  the benchmark JSONL format (strict pydantic items) and its loader
stats.py      Wilson interval for an accuracy, paired interval for a base-vs-adapter delta
scoring.py    batched log-likelihood scoring of choices, normalised exact match, the run
publish.py    catalog adapters (verified pull) and publishing results as a signed `evaluation`
"""
