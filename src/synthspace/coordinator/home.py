"""`synthspace coordinator init`: create (or complete) a coordinator home.

HOME/keys/log.pem                    log and checkpoint signing key
HOME/keys/<operator>-artifact.pem    artifact key of the operator org (signs federated adapters)
HOME/keys/<operator>-request.pem     request key of the operator org (signed API calls)
HOME/blobs/                          content-addressed artifact bytes
HOME/config.json                     CoordinatorSettings
HOME/coordinator.db                  SQLite catalog (unless SYNTHSPACE_DATABASE_URL is set)

Running init again keeps every existing key and applies pending migrations.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from synthspace import keys
from synthspace.coordinator.runtime import Coordinator
from synthspace.coordinator.services.orgs import register_operator_org
from synthspace.coordinator.settings import CONFIG_FILE, CoordinatorSettings


def _ensure_key(path: Path) -> bool:
    if path.exists():
        keys.load_private_key(path)  # fail early on a damaged key file
        return False
    keys.save_private_key(keys.generate_private_key(), path)
    return True


def init_home(home: Path, **overrides: Any) -> CoordinatorSettings:
    """Create or complete HOME; returns its settings. `overrides` are CoordinatorSettings fields
    applied on first creation (e.g. log_origin, database_url, operator_org)."""
    home = Path(home).expanduser()
    home.mkdir(parents=True, exist_ok=True)
    if (home / CONFIG_FILE).exists():
        settings = CoordinatorSettings.load(home)
    else:
        settings = CoordinatorSettings(
            home=home, **{k: v for k, v in overrides.items() if v is not None}
        )
    settings.keys_dir.mkdir(mode=0o700, exist_ok=True)
    os.chmod(settings.keys_dir, 0o700)
    settings.blobs_dir.mkdir(exist_ok=True)
    _ensure_key(settings.log_key_path)
    _ensure_key(settings.operator_key_path("artifact"))
    _ensure_key(settings.operator_key_path("request"))
    settings.save()
    coord = Coordinator.open(settings, migrate=True, verify=True)
    try:
        art = keys.load_private_key(settings.operator_key_path("artifact"))
        req = keys.load_private_key(settings.operator_key_path("request"))
        with coord.session() as session:
            register_operator_org(
                session,
                coord.log,
                settings.operator_org,
                keys.public_key_pem(art),
                keys.public_key_pem(req),
            )
    finally:
        coord.close()
    return settings
