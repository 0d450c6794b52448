"""content_sha256: the blob key of a document is its SHA-256 (the SHA-1 stays the XDS hash).

Adds the column (nullable: rows written before it have none, and are read by their SHA-1 until
``xds-server blobs rekey`` re-hashes their blobs) on document_entry and deleted_document, and an index on
document_entry.hash, which the rekey command uses to find the rows of each SHA-1-keyed blob. The re-hashing
is not done here: a migration knows nothing of the blob store (files or S3, its credentials) and must not hold
``db upgrade`` for hours over a large store; ``blobs rekey`` is resumable, a migration is not.

Revision ID: b91f4c6d2e70
Revises: e4b8d1f2a603
Create Date: 2026-12-07 14:30:00+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "b91f4c6d2e70"
down_revision: str | None = "e4b8d1f2a603"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("document_entry", sa.Column("content_sha256", sa.String(length=64), nullable=True))
    op.add_column("deleted_document", sa.Column("content_sha256", sa.String(length=64), nullable=True))
    op.create_index(op.f("ix_document_entry_hash"), "document_entry", ["hash"])


def downgrade() -> None:
    op.drop_index(op.f("ix_document_entry_hash"), table_name="document_entry")
    with op.batch_alter_table("deleted_document") as batch:
        batch.drop_column("content_sha256")
    with op.batch_alter_table("document_entry") as batch:
        batch.drop_column("content_sha256")
