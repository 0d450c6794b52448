"""registry_object: (logical_id, version) unique over later versions (one row per Metadata Update version).

Revision ID: d4d10045cab6
Revises: dfd7a4394693
Create Date: 2026-11-28 00:05:00+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "d4d10045cab6"
down_revision: str | None = "dfd7a4394693"
branch_labels: str | None = None
depends_on: str | None = None

_INDEX = "uq_registry_object_later_version"
_LATER_VERSION = sa.text("version > 1")


def upgrade() -> None:
    op.create_index(
        _INDEX,
        "registry_object",
        ["logical_id", "version"],
        unique=True,
        postgresql_where=_LATER_VERSION,
        sqlite_where=_LATER_VERSION,
    )


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="registry_object")
