"""patient secure mailbox: MSSanté directory, reimbursement-history pharmacies, conversations, messages,
attachments, outgoing mail.

Revision ID: e4b8d1f2a603
Revises: e4b8a1c07d55
Create Date: 2026-12-07 06:00:00+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "e4b8d1f2a603"
down_revision: str | None = "e4b8a1c07d55"
branch_labels: str | None = None
depends_on: str | None = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "mssante_mailbox",
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("idnps", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("pharmacy", sa.Boolean(), nullable=False),
        sa.Column("finess", sa.String(length=16), nullable=True),
        sa.Column("password_hash", sa.String(length=256), nullable=True),
        sa.Column("created_at", _TZ, nullable=False),
        sa.CheckConstraint("kind IN ('personal', 'organisational')", name=op.f("ck_mssante_mailbox_kind")),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_mssante_mailbox")),
    )
    op.create_index(op.f("ix_mssante_mailbox_pharmacy_name"), "mssante_mailbox", ["pharmacy", "name"])
    op.create_table(
        "mail_pharmacy_history",
        sa.Column("patient_id", sa.String(length=256), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("last_seen", sa.Date(), nullable=True),
        sa.Column("loaded_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("patient_id", "address", name=op.f("pk_mail_pharmacy_history")),
    )
    op.create_table(
        "mail_conversation",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=256), nullable=False),
        sa.Column("counterpart", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("started_by", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("updated_at", _TZ, nullable=False),
        sa.Column("closed_at", _TZ, nullable=True),
        sa.CheckConstraint("state IN ('open', 'closed')", name=op.f("ck_mail_conversation_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_conversation")),
    )
    op.create_index(
        op.f("ix_mail_conversation_patient_id_updated_at"), "mail_conversation", ["patient_id", "updated_at"]
    )
    op.create_table(
        "mail_message",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("conversation_id", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=256), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("rfc_message_id", sa.String(length=998), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("at", _TZ, nullable=False),
        sa.Column("raw_key", sa.String(length=64), nullable=False),
        sa.Column("mdn_to", sa.String(length=320), nullable=True),
        sa.Column("read_at", _TZ, nullable=True),
        sa.CheckConstraint("direction IN ('in', 'out')", name=op.f("ck_mail_message_direction")),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["mail_conversation.id"],
            name=op.f("fk_mail_message_conversation_id_mail_conversation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_message")),
    )
    op.create_index(op.f("ix_mail_message_conversation_id_at"), "mail_message", ["conversation_id", "at"])
    op.create_index(
        op.f("ix_mail_message_patient_id_rfc_message_id"), "mail_message", ["patient_id", "rfc_message_id"]
    )
    op.create_table(
        "mail_attachment",
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("filename", sa.String(length=256), nullable=False),
        sa.Column("media_type", sa.String(length=128), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("blob_key", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["mail_message.id"], name=op.f("fk_mail_attachment_message_id_mail_message")
        ),
        sa.PrimaryKeyConstraint("message_id", "position", name=op.f("pk_mail_attachment")),
    )
    op.create_index(op.f("ix_mail_attachment_blob_key"), "mail_attachment", ["blob_key"])
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("raw_key", sa.String(length=64), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TZ, nullable=False),
        sa.Column("claimed_at", _TZ, nullable=True),
        sa.Column("sent_at", _TZ, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'sending', 'sent', 'failed', 'uncertain')",
            name=op.f("ck_mail_outbox_state"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_outbox")),
    )
    op.create_index(op.f("ix_mail_outbox_state_next_attempt_at"), "mail_outbox", ["state", "next_attempt_at"])


def downgrade() -> None:
    for table in ("mail_outbox", "mail_attachment", "mail_message", "mail_conversation"):
        op.drop_table(table)
    op.drop_table("mail_pharmacy_history")
    op.drop_table("mssante_mailbox")
