"""Local model weights a node runs: the embedded default model and its cache."""
