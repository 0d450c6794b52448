"""patient record settings: emergency settings and médecin traitant, related professionals, representatives.

Revision ID: f56eeaf6145f
Revises: 7c1e5d2a9b40
Create Date: 2026-11-27 22:57:14+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "f56eeaf6145f"
down_revision: str | None = "7c1e5d2a9b40"
branch_labels: str | None = None
depends_on: str | None = None


def _patient_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["patient_id"],
        ["patient.patient_id"],
        name=op.f(f"fk_{table}_patient_id_patient"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "patient_setting",
        sa.Column("patient_id", sa.String(length=256), nullable=False),
        sa.Column("samu_allowed", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("break_glass_allowed", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("medecin_traitant", sa.String(length=64), nullable=True),
        _patient_fk("patient_setting"),
        sa.PrimaryKeyConstraint("patient_id", name=op.f("pk_patient_setting")),
    )
    op.create_table(
        "patient_professional",
        sa.Column("patient_id", sa.String(length=256), nullable=False),
        sa.Column("professional_id", sa.String(length=64), nullable=False),
        sa.Column("relation", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "relation IN ('authorised', 'blocked', 'administrator')",
            name=op.f("ck_patient_professional_relation"),
        ),
        _patient_fk("patient_professional"),
        sa.PrimaryKeyConstraint(
            "patient_id", "professional_id", "relation", name=op.f("pk_patient_professional")
        ),
    )
    op.create_table(
        "patient_representative",
        sa.Column("patient_id", sa.String(length=256), nullable=False),
        sa.Column("representative_id", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _patient_fk("patient_representative"),
        sa.PrimaryKeyConstraint("patient_id", "representative_id", name=op.f("pk_patient_representative")),
    )
    op.create_index(
        op.f("ix_patient_representative_representative_id"), "patient_representative", ["representative_id"]
    )


def downgrade() -> None:
    op.drop_table("patient_representative")
    op.drop_table("patient_professional")
    op.drop_table("patient_setting")
