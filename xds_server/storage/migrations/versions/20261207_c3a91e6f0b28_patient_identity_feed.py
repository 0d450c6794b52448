"""patient identity feed: demographics, merged-into, cross-reference identifiers.

Revision ID: c3a91e6f0b28
Revises: b7e2c9a41f03
Create Date: 2026-12-07 03:00:00+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "c3a91e6f0b28"
down_revision: str | None = "b7e2c9a41f03"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Nullable columns: SQLite adds them in place, no table rebuild.
    op.add_column("patient", sa.Column("family_name", sa.String(length=256), nullable=True))
    op.add_column("patient", sa.Column("given_names", sa.String(length=512), nullable=True))
    op.add_column("patient", sa.Column("sex", sa.String(length=1), nullable=True))
    op.add_column("patient", sa.Column("merged_into", sa.String(length=256), nullable=True))
    op.create_index(op.f("ix_patient_merged_into"), "patient", ["merged_into"])
    op.create_table(
        "patient_identifier",
        sa.Column("patient_id", sa.String(length=256), nullable=False),
        sa.Column("identifier", sa.String(length=512), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.patient_id"],
            name=op.f("fk_patient_identifier_patient_id_patient"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("patient_id", "identifier", name=op.f("pk_patient_identifier")),
    )
    op.create_index(op.f("ix_patient_identifier_identifier"), "patient_identifier", ["identifier"])


def downgrade() -> None:
    op.drop_index(op.f("ix_patient_identifier_identifier"), table_name="patient_identifier")
    op.drop_table("patient_identifier")
    op.drop_index(op.f("ix_patient_merged_into"), table_name="patient")
    with op.batch_alter_table("patient") as batch:
        batch.drop_column("merged_into")
        batch.drop_column("sex")
        batch.drop_column("given_names")
        batch.drop_column("family_name")
