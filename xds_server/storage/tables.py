"""Registry schema (SQLAlchemy Core). Alembic migrations under storage/migrations create exactly this.

Theory: ``registry_object`` keeps the canonical ebRIM 3.0 XML of every object (for exact LeafClass answers)
with the columns every object shares; the per-kind tables and side tables hold one indexed column per
attribute a stored query filters on (ITI TF-2a 3.18.4.1.2.3.7). Codes are stored as ``code^^scheme`` keys,
the form stored-query parameters use, so a filter is an equality on an indexed column. DTM times are stored
right-padded to 14 digits (``core.dtm.normalise_dtm``) so that string order is time order whatever the
precision.

``status`` on ``registry_object`` is authoritative; the ``status`` attribute inside ``xml`` is the one at
registration and the encoder overrides it (likewise Folder lastUpdateTime).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Sequence,
    SmallInteger,
    String,
    Table,
    Text,
    true,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

ID = String(64)  # urn:uuid: ids (45 chars) and lids
PATIENT = String(256)  # CX, canonical form
CODE_KEY = String(256)  # code^^scheme
DTM = String(14)  # normalised DTM

patient = Table(
    "patient",
    metadata,
    Column("patient_id", PATIENT, primary_key=True),
    Column("state", String(16), nullable=False),
    Column("birth_date", Date, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # Patient identity feed (storage/feed.py): demographics as fed (given names joined by '^') ...
    Column("family_name", String(256), nullable=True),
    Column("given_names", String(512), nullable=True),
    Column("sex", String(1), nullable=True),  # HL7 table 0001
    # ... and, once merged (ITI-8 A40), the surviving id: the row stays so the dead id is refused.
    Column("merged_into", PATIENT, nullable=True),
    Index(None, "merged_into"),
)

# Cross-references: the other identifiers a feed gave for the patient (PID-3 repetitions of other authorities,
# FHIR identifiers), as sent.
patient_identifier = Table(
    "patient_identifier",
    metadata,
    Column("patient_id", PATIENT, ForeignKey("patient.patient_id", ondelete="CASCADE"), primary_key=True),
    Column("identifier", String(512), primary_key=True),
    Index(None, "identifier"),
)

registry_object = Table(
    "registry_object",
    metadata,
    Column("entry_uuid", ID, primary_key=True),
    Column("kind", String(16), nullable=False),  # DocumentEntry | SubmissionSet | Folder | Association
    Column("logical_id", ID, nullable=False),
    Column("version", Integer, nullable=False),
    Column("status", String(64), nullable=False),
    Column("patient_id", PATIENT, nullable=True),  # null for associations
    Column("unique_id", String(128), nullable=True),
    Column("xml", Text, nullable=False),
    Column("seq", BigInteger, nullable=False),  # insertion order, for stable result order
    Index(None, "logical_id", "version"),
    Index(None, "seq"),  # max(seq) on SQLite, where writers are serialised (storage/registry.py)
    # Covering index for "these entries, in insertion order": stored queries sort their matches by seq, and on
    # SQLite seq sits after the large xml column, so without it each matched row walks the XML's pages
    # (bench/query_bench.py --try-index: SQLite 1M entries, FindDocuments p99 ~7 ms -> ~4 ms).
    Index(None, "entry_uuid", "seq"),
    Index(None, "unique_id"),
    Index(None, "patient_id", "kind", "status"),
)

# Two logical Folders never share a uniqueId (XDSDuplicateUniqueIdInRegistry), but the versions of one Folder
# (Metadata Update) do: the uniqueness holds over first versions. The planner checks it before writing
# (core/submission.py, under RegistryReader.lock); this index is the database's own guarantee.
# SubmissionSets are never versioned: submission_set.unique_id is plainly unique.
_FIRST_FOLDER_VERSION = (registry_object.c.kind == "Folder") & (registry_object.c.version == 1)
Index(
    "uq_registry_object_folder_unique_id",
    registry_object.c.unique_id,
    unique=True,
    postgresql_where=_FIRST_FOLDER_VERSION,
    sqlite_where=_FIRST_FOLDER_VERSION,
)

# One row per later version of a logical object (Metadata Update): two concurrent ITI-57 updates of one lid,
# both naming the same PreviousVersion, cannot both write version n + 1. First versions have lid = entryUUID
# (core/submission.py), so the primary key already makes them unique (and reports a reused entryUUID).
_LATER_VERSION = registry_object.c.version > 1
Index(
    "uq_registry_object_later_version",
    registry_object.c.logical_id,
    registry_object.c.version,
    unique=True,
    postgresql_where=_LATER_VERSION,
    sqlite_where=_LATER_VERSION,
)

# PostgreSQL allocates seq values from this sequence (concurrent writers never share a value); SQLite has no
# sequences and takes max(seq) + 1 under its single-writer lock. create_all skips it where unsupported.
registry_object_seq = Sequence("registry_object_seq", metadata=metadata)

document_entry = Table(
    "document_entry",
    metadata,
    Column("entry_uuid", ID, ForeignKey("registry_object.entry_uuid", ondelete="CASCADE"), primary_key=True),
    Column("patient_id", PATIENT, nullable=False),
    Column("status", String(64), nullable=False),
    Column("object_type", String(64), nullable=False),
    Column("unique_id", String(128), nullable=False),
    Column("logical_id", ID, nullable=False),
    Column("class_code", CODE_KEY, nullable=True),
    Column("type_code", CODE_KEY, nullable=True),
    Column("format_code", CODE_KEY, nullable=True),
    Column("practice_setting_code", CODE_KEY, nullable=True),
    Column("healthcare_facility_type_code", CODE_KEY, nullable=True),
    Column("creation_time", DTM, nullable=True),
    Column("service_start_time", DTM, nullable=True),
    Column("service_stop_time", DTM, nullable=True),
    Column("hash", String(40), nullable=True),  # the XDS hash (SHA-1), as the metadata carries it
    Column("size", BigInteger, nullable=True),
    Column("repository_unique_id", String(128), nullable=True),
    Column("mime_type", String(128), nullable=False),
    # The blob key: the SHA-256 of the bytes this repository stored (NULL: a row written before it, read by
    # its SHA-1 until `xds-server blobs rekey`; or a document held by another repository).
    Column("content_sha256", String(64), nullable=True),
    # Patient first: a patient's record is small, so (patient, status) narrows to a few rows and the
    # remaining filters run on them; the code columns get their own composite indexes for selective codes.
    Index(None, "patient_id", "status", "object_type"),
    Index(None, "patient_id", "class_code"),
    Index(None, "patient_id", "type_code"),
    Index(None, "patient_id", "creation_time"),
    Index(None, "unique_id"),
    Index(None, "logical_id"),
    Index(None, "hash"),  # blobs rekey: the rows of one SHA-1-keyed blob
)

# eventCodeList and confidentialityCode: multi-valued, AND/OR-capable (one row per code).
document_code = Table(
    "document_code",
    metadata,
    Column("entry_uuid", ID, ForeignKey("document_entry.entry_uuid", ondelete="CASCADE"), primary_key=True),
    Column("attribute", String(16), primary_key=True),  # "event" | "confidentiality"
    Column("code_key", CODE_KEY, primary_key=True),
    Index(None, "code_key", "attribute"),
)

# authorPerson of DocumentEntries and SubmissionSets (LIKE-matched).
author_person = Table(
    "author_person",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("entry_uuid", ID, ForeignKey("registry_object.entry_uuid", ondelete="CASCADE"), nullable=False),
    Column("person", String(512), nullable=False),
    Index(None, "entry_uuid"),
)

reference_id = Table(
    "reference_id",
    metadata,
    Column("entry_uuid", ID, ForeignKey("document_entry.entry_uuid", ondelete="CASCADE"), primary_key=True),
    Column("value", String(512), primary_key=True),
    Index(None, "value"),
)

submission_set = Table(
    "submission_set",
    metadata,
    Column("entry_uuid", ID, ForeignKey("registry_object.entry_uuid", ondelete="CASCADE"), primary_key=True),
    Column("patient_id", PATIENT, nullable=False),
    Column("status", String(64), nullable=False),
    Column("unique_id", String(128), nullable=False, unique=True),
    Column("source_id", String(128), nullable=True),
    Column("submission_time", DTM, nullable=True),
    Column("content_type_code", CODE_KEY, nullable=True),
    Index(None, "patient_id", "status"),
)

folder = Table(
    "folder",
    metadata,
    Column("entry_uuid", ID, ForeignKey("registry_object.entry_uuid", ondelete="CASCADE"), primary_key=True),
    Column("patient_id", PATIENT, nullable=False),
    Column("status", String(64), nullable=False),
    Column("unique_id", String(128), nullable=False),
    Column("logical_id", ID, nullable=False),
    Column("last_update_time", DTM, nullable=True),
    Index(None, "patient_id", "status"),
    Index(None, "unique_id"),
)

folder_code = Table(
    "folder_code",
    metadata,
    Column("entry_uuid", ID, ForeignKey("folder.entry_uuid", ondelete="CASCADE"), primary_key=True),
    Column("code_key", CODE_KEY, primary_key=True),
    Index(None, "code_key"),
)

association = Table(
    "association",
    metadata,
    Column("entry_uuid", ID, ForeignKey("registry_object.entry_uuid", ondelete="CASCADE"), primary_key=True),
    Column("association_type", String(128), nullable=False),
    Column("source_uuid", ID, nullable=False),
    Column("target_uuid", ID, nullable=False),
    Column("status", String(64), nullable=False),
    Index(None, "source_uuid", "association_type"),
    Index(None, "target_uuid", "association_type"),
)

# ITI-62: the documents whose DocumentEntry was removed. Their blobs are kept for the retention period
# (``Settings.deleted_blob_retention_days``) after ``deleted_at``, then ``xds-server gc`` may collect them.
deleted_document = Table(
    "deleted_document",
    metadata,
    Column("entry_uuid", ID, primary_key=True),
    Column("hash", String(40), nullable=False),  # lower case, the XDS hash (SHA-1)
    Column("deleted_at", DateTime(timezone=True), nullable=False),
    Column("content_sha256", String(64), nullable=True),  # the blob key (NULL: keyed by ``hash``)
    Index(None, "deleted_at"),
)

# The patient's choices about his record (issue 7, rules 8-11): read on every request by
# ``storage.records.SqlRecordStore.load``. A patient without a row has the defaults (emergency modes allowed,
# no médecin traitant).
patient_setting = Table(
    "patient_setting",
    metadata,
    Column("patient_id", PATIENT, ForeignKey("patient.patient_id", ondelete="CASCADE"), primary_key=True),
    Column("samu_allowed", Boolean, nullable=False, server_default=true()),
    Column("break_glass_allowed", Boolean, nullable=False, server_default=true()),
    Column("medecin_traitant", String(64), nullable=True),  # IDNPS
    Column("email", String(320), nullable=True),  # where the patient's notices go (issue 11)
)

# Professionals the patient relates to: consent declared ('authorised'), 'blocked', or chosen as
# 'administrator' doctor. A professional may hold several relations (authorised and administrator).
patient_professional = Table(
    "patient_professional",
    metadata,
    Column("patient_id", PATIENT, ForeignKey("patient.patient_id", ondelete="CASCADE"), primary_key=True),
    Column("professional_id", String(64), primary_key=True),  # IDNPS
    Column("relation", String(16), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("relation IN ('authorised', 'blocked', 'administrator')", name="relation"),
)

# A minor's (or protected adult's) legal representatives; the index answers "whom does he represent".
patient_representative = Table(
    "patient_representative",
    metadata,
    Column("patient_id", PATIENT, ForeignKey("patient.patient_id", ondelete="CASCADE"), primary_key=True),
    Column("representative_id", PATIENT, primary_key=True),  # canonical patient id of the representative
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index(None, "representative_id"),
)

# Assertions already accepted once (SAML OneTimeUse, or all with XDS_SAML_STRICT_REPLAY): shared by
# every server process and kept across restarts, each row until its assertion expires (storage/replay.py).
used_assertion = Table(
    "used_assertion",
    metadata,
    Column("key_hash", String(64), primary_key=True),  # SHA-256 hex of "issuer|assertion ID"
    Column("expires_at", BigInteger, nullable=False),  # Unix seconds
    Index(None, "expires_at"),
)

# The access trail (issue 11): one row per transaction, allowed or refused, written in the transaction of
# the change it traces (or, for a read or a refusal, committed before the answer). Append-only: the
# migration adds triggers refusing UPDATE and DELETE, and no code path issues either. ``resource`` is the
# FHIR R4 AuditEvent as recorded (JSON); the other columns index the ITI-81 search parameters.
audit_event = Table(
    "audit_event",
    metadata,
    Column("event_id", ID, primary_key=True),  # urn:uuid: (AuditEvent.id without the prefix)
    Column("recorded", DateTime(timezone=True), nullable=False),
    Column("transaction", String(16), nullable=False),  # ITI-41 ... (subtype)
    Column("type_code", String(64), nullable=False),  # DCM 110107 ... or rest
    Column("action", String(1), nullable=False),
    Column("outcome", SmallInteger, nullable=False),
    Column("patient_id", PATIENT, nullable=True),
    Column("agent_id", String(256), nullable=True),  # the user's national id
    Column("agent_kind", String(32), nullable=True),  # professional | patient | legal_representative | system
    Column("access_mode", String(16), nullable=True),
    Column("resource", Text, nullable=False),
    Index(None, "recorded"),
    Index(None, "patient_id", "recorded"),
    Index(None, "patient_id", "agent_id", "outcome"),  # "first access of this professional"
    Index(None, "agent_id", "recorded"),
    Index(None, "transaction", "recorded"),
)

# The entities of each trace (patient, documents, submission set, query, token id), for ``entity=`` searches
# and to hide the traces of a document from the patient while it is INVISIBLE_PATIENT.
audit_entity = Table(
    "audit_entity",
    metadata,
    Column("event_id", ID, ForeignKey("audit_event.event_id"), primary_key=True),
    Column("position", SmallInteger, primary_key=True),
    Column("role", String(16), nullable=False),
    Column("identifier", String(256), nullable=False),
    Index(None, "identifier", "role"),
)

# The patient notification outbox: written in the transaction of its cause, delivered by the dispatcher
# (xds_server/audit/dispatch.py). States: pending -> sending (claimed, committed before the message is sent)
# -> sent | pending again (a refusal we know was not delivered, with backoff) | failed (attempts exhausted)
# | no_address (no e-mail registered: the yearly statement tells him) | uncertain (claimed by a dispatcher
# that died before recording the outcome: never sent again, at-most-once).
notification = Table(
    "notification",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("patient_id", PATIENT, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("event_id", ID, nullable=False),
    Column("facts", Text, nullable=False),  # JSON object
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("claimed_at", DateTime(timezone=True), nullable=True),
    Column("claimed_by", String(64), nullable=True),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Column("recipient", String(320), nullable=True),
    Column("last_error", Text, nullable=True),
    CheckConstraint(
        "state IN ('pending', 'sending', 'sent', 'failed', 'no_address', 'uncertain')", name="state"
    ),
    Index(None, "state", "next_attempt_at"),
    Index(None, "patient_id"),
)

# The professional directory (issue 11: a patient blocks a professional found by name and place), loaded by
# an administrator from the Annuaire Santé extraction (storage/professionals.py): one row per professional
# (IDNPS) and one per site he works at. ``name_key`` / ``commune_key`` are the search forms
# (core.professionals.search_key / commune_key), compared in SQL.
professional = Table(
    "professional",
    metadata,
    Column("national_id", String(64), primary_key=True),  # IDNPS (Identification nationale PP)
    Column("family_name", String(256), nullable=False),
    Column("given_name", String(256), nullable=False),
    Column("name_key", String(512), nullable=False),  # "FAMILY GIVEN", for word-prefix matching
    Column("profession_code", String(16), nullable=False),  # TRE_G15
    Column("profession", String(256), nullable=False),
)

professional_site = Table(
    "professional_site",
    metadata,
    Column(
        "national_id",
        String(64),
        ForeignKey("professional.national_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("position", SmallInteger, primary_key=True),
    Column("structure", String(512), nullable=False),
    Column("postal_code", String(16), nullable=False),
    Column("commune", String(256), nullable=False),
    Column("commune_key", String(256), nullable=False),
    Index(None, "commune_key"),
    Index(None, "postal_code"),
)

# -- the patient's secure mailbox (issue 16, xds_server/mailbox, storage/mailbox.py) ------------------------
ADDRESS = String(320)  # RFC 5321: 64 + 1 + 255

# The MSSanté directory: the mailboxes that may write to patients (an administrator manages it). A password
# hash (scrypt) lets the mailbox log in with SMTP AUTH; a client certificate naming the address does too.
mssante_mailbox = Table(
    "mssante_mailbox",
    metadata,
    Column("address", ADDRESS, primary_key=True),  # lower case
    Column("idnps", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("name", String(256), nullable=False),
    Column("pharmacy", Boolean, nullable=False),
    Column("finess", String(16), nullable=True),
    Column("password_hash", String(256), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("kind IN ('personal', 'organisational')", name="kind"),
    Index(None, "pharmacy", "name"),
)

# The pharmacies of a patient's reimbursement history (loaded by an administrator or a feed).
mail_pharmacy_history = Table(
    "mail_pharmacy_history",
    metadata,
    Column("patient_id", PATIENT, primary_key=True),
    Column("address", ADDRESS, primary_key=True),
    Column("last_seen", Date, nullable=True),
    Column("loaded_at", DateTime(timezone=True), nullable=False),
)

mail_conversation = Table(
    "mail_conversation",
    metadata,
    Column("id", ID, primary_key=True),
    Column("patient_id", PATIENT, nullable=False),
    Column("counterpart", ADDRESS, nullable=False),
    Column("subject", Text, nullable=False),
    Column("started_by", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("state IN ('open', 'closed')", name="state"),
    Index(None, "patient_id", "updated_at"),
)

# One message of a conversation, either way. ``rfc_message_id`` threads replies (In-Reply-To, References);
# ``raw_key`` is the whole message as it crossed SMTP, in the blob store. ``read_at``: first opened by the
# patient (inbound only); ``mdn_to``: where the sender asked the read receipt to go.
mail_message = Table(
    "mail_message",
    metadata,
    Column("id", ID, primary_key=True),
    Column("conversation_id", ID, ForeignKey("mail_conversation.id"), nullable=False),
    Column("patient_id", PATIENT, nullable=False),
    Column("direction", String(8), nullable=False),
    Column("rfc_message_id", String(998), nullable=False),
    Column("sender", ADDRESS, nullable=False),
    Column("recipient", ADDRESS, nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("raw_key", String(64), nullable=False),
    Column("mdn_to", ADDRESS, nullable=True),
    Column("read_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("direction IN ('in', 'out')", name="direction"),
    Index(None, "conversation_id", "at"),
    Index(None, "patient_id", "rfc_message_id"),
)

mail_attachment = Table(
    "mail_attachment",
    metadata,
    Column("message_id", ID, ForeignKey("mail_message.id"), primary_key=True),
    Column("position", SmallInteger, primary_key=True),
    Column("filename", String(256), nullable=False),
    Column("media_type", String(128), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("blob_key", String(64), nullable=False),
    Index(None, "blob_key"),
)

# Mail leaving the server (the patient's messages, read receipts, delivery reports), written in the
# transaction of its cause and handed to the relay by the mail sender (xds_server/mailbox/outbound.py), with
# the notification outbox's states and at-most-once contract.
mail_outbox = Table(
    "mail_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # message | mdn | dsn
    Column("sender", ADDRESS, nullable=False),
    Column("recipient", ADDRESS, nullable=False),
    Column("raw_key", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("claimed_at", DateTime(timezone=True), nullable=True),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    CheckConstraint("state IN ('pending', 'sending', 'sent', 'failed', 'uncertain')", name="state"),
    Index(None, "state", "next_attempt_at"),
)
