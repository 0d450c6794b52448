"""registry_object: covering index (entry_uuid, seq) for stored-query result ordering.

Revision ID: b7e2c9a41f03
Revises: d4d10045cab6
Create Date: 2026-11-28 00:35:00+00:00
"""

from __future__ import annotations

from alembic import op

revision: str = "b7e2c9a41f03"
down_revision: str | None = "d4d10045cab6"
branch_labels: str | None = None
depends_on: str | None = None

_INDEX = "ix_registry_object_entry_uuid_seq"


def upgrade() -> None:
    op.create_index(_INDEX, "registry_object", ["entry_uuid", "seq"])


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="registry_object")
