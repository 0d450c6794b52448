"""folder uniqueId: unique over the first versions of Folders (two logical Folders never share one).

Revision ID: dfd7a4394693
Revises: f56eeaf6145f
Create Date: 2026-11-28 00:00:00+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "dfd7a4394693"
down_revision: str | None = "f56eeaf6145f"
branch_labels: str | None = None
depends_on: str | None = None

_FIRST_FOLDER_VERSION = sa.text("kind = 'Folder' AND version = 1")


def upgrade() -> None:
    op.create_index(
        "uq_registry_object_folder_unique_id",
        "registry_object",
        ["unique_id"],
        unique=True,
        postgresql_where=_FIRST_FOLDER_VERSION,
        sqlite_where=_FIRST_FOLDER_VERSION,
    )


def downgrade() -> None:
    op.drop_index("uq_registry_object_folder_unique_id", table_name="registry_object")
