"""deleted_document: documents whose DocumentEntry ITI-62 removed (blob retention before gc).

Revision ID: 7c1e5d2a9b40
Revises: f308b9154973
Create Date: 2026-11-27 23:30:00+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "7c1e5d2a9b40"
down_revision: str | None = "f308b9154973"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "deleted_document",
        sa.Column("entry_uuid", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=40), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("entry_uuid", name=op.f("pk_deleted_document")),
    )
    op.create_index(op.f("ix_deleted_document_deleted_at"), "deleted_document", ["deleted_at"])


def downgrade() -> None:
    op.drop_table("deleted_document")
