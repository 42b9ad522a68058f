"""The node side of federated fine-tuning: Flower ClientApp, training data, SuperNode process.

Only LoRA adapter weights, example counts, metrics and the sha256 digests of the training
artifacts leave the node; records, seeds and keys never do (see docs/federation.md).
"""
