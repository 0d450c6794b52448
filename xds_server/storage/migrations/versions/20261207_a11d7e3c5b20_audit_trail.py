"""audit trail (append-only, enforced by triggers), its entities, patient notification outbox, contact e-mail.

Revision ID: a11d7e3c5b20
Revises: c3a91e6f0b28
Create Date: 2026-12-07 03:00:00+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "a11d7e3c5b20"
down_revision: str | None = "c3a91e6f0b28"
branch_labels: str | None = None
depends_on: str | None = None

_APPEND_ONLY = ("audit_event", "audit_entity")


def upgrade() -> None:
    op.add_column("patient_setting", sa.Column("email", sa.String(length=320), nullable=True))
    op.create_table(
        "audit_event",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("recorded", sa.DateTime(timezone=True), nullable=False),
        sa.Column("transaction", sa.String(length=16), nullable=False),
        sa.Column("type_code", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=1), nullable=False),
        sa.Column("outcome", sa.SmallInteger(), nullable=False),
        sa.Column("patient_id", sa.String(length=256), nullable=True),
        sa.Column("agent_id", sa.String(length=256), nullable=True),
        sa.Column("agent_kind", sa.String(length=32), nullable=True),
        sa.Column("access_mode", sa.String(length=16), nullable=True),
        sa.Column("resource", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_audit_event")),
    )
    op.create_index(op.f("ix_audit_event_recorded"), "audit_event", ["recorded"])
    op.create_index(op.f("ix_audit_event_patient_id_recorded"), "audit_event", ["patient_id", "recorded"])
    op.create_index(
        op.f("ix_audit_event_patient_id_agent_id_outcome"),
        "audit_event",
        ["patient_id", "agent_id", "outcome"],
    )
    op.create_index(op.f("ix_audit_event_agent_id_recorded"), "audit_event", ["agent_id", "recorded"])
    op.create_index(op.f("ix_audit_event_transaction_recorded"), "audit_event", ["transaction", "recorded"])
    op.create_table(
        "audit_entity",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("identifier", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["audit_event.event_id"], name=op.f("fk_audit_entity_event_id_audit_event")
        ),
        sa.PrimaryKeyConstraint("event_id", "position", name=op.f("pk_audit_entity")),
    )
    op.create_index(op.f("ix_audit_entity_identifier_role"), "audit_entity", ["identifier", "role"])
    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("patient_id", sa.String(length=256), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("facts", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recipient", sa.String(length=320), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'sending', 'sent', 'failed', 'no_address', 'uncertain')",
            name=op.f("ck_notification_state"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
    )
    op.create_index(
        op.f("ix_notification_state_next_attempt_at"), "notification", ["state", "next_attempt_at"]
    )
    op.create_index(op.f("ix_notification_patient_id"), "notification", ["patient_id"])
    _append_only_triggers()


def _append_only_triggers() -> None:
    """The database itself refuses to change or delete a trace (no application path does either)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'audit events are append-only'; END $$"
        )
        for table in _APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
            )
        return
    for table in _APPEND_ONLY:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS audit_append_only()")
    op.drop_table("notification")
    op.drop_table("audit_entity")
    op.drop_table("audit_event")
    with op.batch_alter_table("patient_setting") as batch:
        batch.drop_column("email")
