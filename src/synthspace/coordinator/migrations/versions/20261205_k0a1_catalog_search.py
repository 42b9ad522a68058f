"""Catalog search served by indexes (issue 17 item 5).

- `artifact_tags.log_index` (the artifact's log index, copied when its row is written) with an
  index on (tag, log_index): a tag filter walks that index newest-first and stops after a page,
  instead of walking every artifact and probing its tags.
- SQLite only: `artifacts_fts`, an FTS5 table with the trigram tokenizer over title and
  description, kept in step with `artifacts` by triggers. The catalog's `q` (case-insensitive
  substring) takes its candidates from it when they are few (a rare word); the substring test
  still decides. Skipped with a warning where SQLite lacks FTS5 or the trigram tokenizer
  (SQLite < 3.34): the query still works, unindexed. PostgreSQL has `pg_trgm` (i0a1).

Revision ID: k0a1_catalog_search
Revises: j0a1_policy_versions
Create Date: 2026-12-05 07:30:00
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "k0a1_catalog_search"
down_revision: str | Sequence[str] | None = "j0a1_policy_versions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
FTS_TABLE = "artifacts_fts"
FTS_TRIGGERS = {
    "artifacts_fts_insert": (
        "AFTER INSERT ON artifacts BEGIN "
        f"INSERT INTO {FTS_TABLE} (artifact_id, title, description) "
        "VALUES (new.artifact_id, new.title, new.description); END"
    ),
    "artifacts_fts_update": (
        "AFTER UPDATE OF title, description ON artifacts BEGIN "
        f"DELETE FROM {FTS_TABLE} WHERE artifact_id = old.artifact_id; "
        f"INSERT INTO {FTS_TABLE} (artifact_id, title, description) "
        "VALUES (new.artifact_id, new.title, new.description); END"
    ),
    "artifacts_fts_delete": (
        f"AFTER DELETE ON artifacts BEGIN DELETE FROM {FTS_TABLE} WHERE artifact_id = old.artifact_id; END"
    ),
}


def upgrade() -> None:
    op.add_column("artifact_tags", sa.Column("log_index", BigInt, nullable=True))
    op.execute(
        "UPDATE artifact_tags SET log_index = "
        "(SELECT a.log_index FROM artifacts a WHERE a.artifact_id = artifact_tags.artifact_id)"
    )
    # nothing references artifact_tags, so SQLite's batch copy of it is safe
    with op.batch_alter_table("artifact_tags") as batch:
        batch.alter_column("log_index", existing_type=BigInt, nullable=False)
    op.create_index("ix_artifact_tags_tag_log", "artifact_tags", ["tag", "log_index"])
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    try:
        with bind.begin_nested():
            op.execute(
                f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5("
                "artifact_id UNINDEXED, title, description, tokenize = 'trigram')"
            )
    except sa.exc.DBAPIError as exc:
        logging.getLogger("alembic").warning("SQLite FTS5 trigram unavailable, search stays unindexed: %s", exc)
        return
    op.execute(
        f"INSERT INTO {FTS_TABLE} (artifact_id, title, description) "
        "SELECT artifact_id, title, description FROM artifacts"
    )
    for name, body in FTS_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in FTS_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")
    op.drop_index("ix_artifact_tags_tag_log", table_name="artifact_tags")
    with op.batch_alter_table("artifact_tags") as batch:
        batch.drop_column("log_index")
