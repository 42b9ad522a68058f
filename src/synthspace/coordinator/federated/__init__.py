"""The coordinator side of federated fine-tuning: PKI, SuperLink, ServerApp, run records.

Layout under COORD_HOME/federation/:

    ca/ca.crt, ca/ca.key        the federation CA (ECDSA P-384; the key never leaves this folder)
    ca/superlink.crt, .key      the SuperLink's TLS certificate (SANs: localhost, 127.0.0.1, ...)
    flwr/                       FLWR_HOME of the SuperLink and of the `flwr` CLI (config.toml)
    superlink.db                SuperLink state (registered SuperNodes, runs)
    registered.json             coordinator SuperNode key id -> Flower node id
    app/                        the generated Flower App (pyproject.toml) submitted by `flwr run`
    runs/<run_id>/              the final adapter (safetensors), its config and lineage
"""
