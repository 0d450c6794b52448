"""professional directory: the Annuaire Santé extract a patient finds professionals in (issue 11).

Revision ID: e4b8a1c07d55
Revises: a5f1c3e2d801
Create Date: 2026-12-07 06:00:00+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "e4b8a1c07d55"
down_revision: str | None = "a5f1c3e2d801"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "professional",
        sa.Column("national_id", sa.String(length=64), nullable=False),
        sa.Column("family_name", sa.String(length=256), nullable=False),
        sa.Column("given_name", sa.String(length=256), nullable=False),
        sa.Column("name_key", sa.String(length=512), nullable=False),
        sa.Column("profession_code", sa.String(length=16), nullable=False),
        sa.Column("profession", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("national_id", name=op.f("pk_professional")),
    )
    op.create_table(
        "professional_site",
        sa.Column("national_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("structure", sa.String(length=512), nullable=False),
        sa.Column("postal_code", sa.String(length=16), nullable=False),
        sa.Column("commune", sa.String(length=256), nullable=False),
        sa.Column("commune_key", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["national_id"],
            ["professional.national_id"],
            name=op.f("fk_professional_site_national_id_professional"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("national_id", "position", name=op.f("pk_professional_site")),
    )
    op.create_index(op.f("ix_professional_site_commune_key"), "professional_site", ["commune_key"])
    op.create_index(op.f("ix_professional_site_postal_code"), "professional_site", ["postal_code"])


def downgrade() -> None:
    op.drop_index(op.f("ix_professional_site_postal_code"), table_name="professional_site")
    op.drop_index(op.f("ix_professional_site_commune_key"), table_name="professional_site")
    op.drop_table("professional_site")
    op.drop_table("professional")
