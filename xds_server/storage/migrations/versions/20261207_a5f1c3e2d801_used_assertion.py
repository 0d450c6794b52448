"""used_assertion: the SAML replay cache, shared by every server process and kept across restarts.

Revision ID: a5f1c3e2d801
Revises: a11d7e3c5b20
Create Date: 2026-12-07 03:00:00+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "a5f1c3e2d801"
down_revision: str | None = "a11d7e3c5b20"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "used_assertion",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_used_assertion")),
    )
    op.create_index(op.f("ix_used_assertion_expires_at"), "used_assertion", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_used_assertion_expires_at"), table_name="used_assertion")
    op.drop_table("used_assertion")
