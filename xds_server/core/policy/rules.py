"""The DMP access rules as pure decisions (see the package docstring for the theory of operation).

Every public method returns a ``Decision`` whose ``trace`` names each rule evaluated in order; the first
refusal ends the evaluation. ``PolicyMode.IHE`` short-circuits to "allowed" after identity (handled by the
adapters) so IHE conformance suites run unchanged; only the Approved/Deprecated status rule, which is query
semantics rather than access, applies in both profiles.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xds_server.core.errors import ErrorCode
from xds_server.core.policy.context import AccessContext, AccessMode, ActorKind, PolicyMode
from xds_server.core.policy.decision import (
    BLOCKED,
    BREAK_GLASS_NO_REASON,
    DOCUMENT_HIDDEN,
    EMERGENCY_REFUSED,
    MASKING_CONFLICT,
    MASKING_NOT_ALLOWED,
    NO_BASIS,
    NOT_AUTHOR,
    NOT_OWN_RECORD,
    NOT_REPRESENTATIVE,
    PATIENT_CLASS_ONLY,
    PATIENT_EXISTING,
    RECORD_NOT_FOUND,
    SECRET_CONNECTION,
    SYSTEM_ACTOR,
    TYPE_NOT_ALLOWED,
    WRONG_PATIENT,
    AccessBasis,
    Decision,
)
from xds_server.core.policy.record import (
    INVISIBLE_PATIENT,
    INVISIBLE_REPRESENTANTS_LEGAUX,
    MASQUE_PS,
    PATIENT_CLASS_CODE,
    DocumentFacts,
    RecordSettings,
    WriteOperation,
)
from xds_server.core.policy.scope import VisibilityScope
from xds_server.core.policy.tables import HabilitationMatrix, ProfessionGroups


#: What each patient-side actor never sees (INVISIBLE_PATIENT hides from the patient and from those acting
#: in his name; professionals are not concerned by either code).
def _patient_masking_only(existing: DocumentFacts, new: DocumentFacts) -> bool:
    """The new version differs from the existing one by MASQUE_PS alone (added or removed)."""
    changed = existing.confidentiality_codes ^ new.confidentiality_codes
    return changed == {MASQUE_PS}


_PATIENT_SIDE_HIDDEN = {
    ActorKind.PATIENT: frozenset({INVISIBLE_PATIENT}),
    ActorKind.LEGAL_REPRESENTATIVE: frozenset({INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX}),
}


class _Trace:
    """Accumulates the rule lines of one evaluation and builds the Decision."""

    def __init__(self, profile: PolicyMode) -> None:
        self.profile = profile
        self.lines: list[str] = [f"profile {profile.value}"]

    def add(self, line: str) -> None:
        self.lines.append(line)

    def allow(self, reason: str, basis: AccessBasis | None = None) -> Decision:
        self.lines.append(f"=> allowed: {reason}")
        return Decision(True, None, reason, tuple(self.lines), basis=basis, profile=self.profile)

    def deny(self, code: ErrorCode, reason: str, *, conceal: bool = False) -> Decision:
        self.lines.append(f"=> refused ({code.value}): {reason}")
        return Decision(False, code, reason, tuple(self.lines), profile=self.profile, conceal=conceal)


@dataclass(frozen=True, slots=True)
class Policy:
    """The rule book and its data. ``deposit_follows_matrix``: a professional may deposit only the types his
    group may read (issue 7, rule 10), unless a deployment relaxes it. ``patient_class_codes``: classCode
    keys a patient or representative may deposit."""

    mode: PolicyMode = PolicyMode.DMP
    matrix: HabilitationMatrix = field(default_factory=HabilitationMatrix)
    groups: ProfessionGroups = field(default_factory=ProfessionGroups)
    deposit_follows_matrix: bool = True
    patient_class_codes: frozenset[str] = frozenset({PATIENT_CLASS_CODE})

    def groups_of(self, ctx: AccessContext) -> frozenset[str]:
        return self.groups.groups_for(ctx.profession, ctx.role, ctx.genre_activite)

    # -- record level -------------------------------------------------------------------------------------

    def decide_record_access(self, ctx: AccessContext, record: RecordSettings | None) -> Decision:
        """May this actor consult this patient's record at all (rules 1-4 of dmp-rules.md READ)?"""
        t = _Trace(self.mode)
        return self._record_access(ctx, record, t)

    def _record_access(self, ctx: AccessContext, record: RecordSettings | None, t: _Trace) -> Decision:
        t.add(f"actor {ctx.actor_kind.value} {ctx.national_id}, mode {ctx.access_mode.value}")
        if self.mode is PolicyMode.IHE:
            return t.allow("ihe profile: any authenticated actor has full access", AccessBasis.IHE_PROFILE)
        refused = self._common_gate(ctx, record, t)
        if refused is not None:
            return refused
        assert record is not None  # the gate refuses a missing record
        if ctx.actor_kind is ActorKind.PATIENT:
            return t.allow("the patient consults his own record", AccessBasis.PATIENT)
        if ctx.actor_kind is ActorKind.LEGAL_REPRESENTATIVE:
            return t.allow("legal representative of the patient", AccessBasis.LEGAL_REPRESENTATIVE)
        return self._access_basis(ctx, record, t)

    def _common_gate(self, ctx: AccessContext, record: RecordSettings | None, t: _Trace) -> Decision | None:
        """State, actor/patient binding and block list: shared by reads and writes (first refusal wins)."""
        if ctx.actor_kind is ActorKind.SYSTEM:
            t.add("actor kind: system actors have no DMP access")
            return t.deny(ErrorCode.DMP_ACCESS_DENIED, SYSTEM_ACTOR)
        # No record, opposed and closed must be indistinguishable: same code, message and trace line.
        if record is None or not record.is_open:
            t.add("record state: absent, opposed or closed")
            return t.deny(ErrorCode.UNKNOWN_PATIENT_ID, RECORD_NOT_FOUND)
        t.add(f"record state: {record.state.value} (open)")
        if ctx.actor_kind is ActorKind.PATIENT:
            if ctx.patient_ins != record.patient_id:
                t.add("binding: the patient credential names another patient")
                return t.deny(ErrorCode.DMP_ACCESS_DENIED, NOT_OWN_RECORD)
            t.add("binding: patient's own record")
            return None
        if ctx.actor_kind is ActorKind.LEGAL_REPRESENTATIVE:
            registered = ctx.national_id in record.legal_representatives
            if record.patient_id not in ctx.represented or not registered:
                t.add("binding: not a registered legal representative of this patient")
                return t.deny(ErrorCode.DMP_ACCESS_DENIED, NOT_REPRESENTATIVE)
            t.add("binding: registered legal representative of this patient")
            return None
        if ctx.patient_ins != record.patient_id:
            t.add(f"binding: assertion resource-id {ctx.patient_ins!r} is not this record's patient")
            return t.deny(ErrorCode.DMP_ACCESS_DENIED, WRONG_PATIENT)
        t.add("binding: assertion resource-id is this record's patient")
        if ctx.national_id in record.blocked:
            t.add("block list: the professional is blocked by the patient (no mode lifts a block)")
            return t.deny(ErrorCode.DMP_ACCESS_DENIED, BLOCKED)
        t.add("block list: not blocked")
        return None

    def _access_basis(self, ctx: AccessContext, record: RecordSettings, t: _Trace) -> Decision:
        """R.1111-46: consent declared (authorised list), médecin traitant, administrator doctor, or an
        emergency mode the patient did not refuse."""
        who = ctx.national_id
        if who in record.authorised:
            t.add("access basis: consent declared (authorised list)")
            return t.allow("consent declared for this professional", AccessBasis.AUTHORISED)
        if record.medecin_traitant and who == record.medecin_traitant:
            t.add("access basis: médecin traitant")
            return t.allow("médecin traitant", AccessBasis.MEDECIN_TRAITANT)
        if who in record.administrators:
            t.add("access basis: administrator doctor chosen by the patient")
            return t.allow("administrator doctor", AccessBasis.ADMINISTRATOR)
        t.add("access basis: not authorised, not médecin traitant, not administrator")
        if ctx.access_mode is AccessMode.REGULATION:
            if not record.samu_allowed:
                t.add("regulation mode: refused by the patient's emergency settings")
                return t.deny(ErrorCode.DMP_ACCESS_DENIED, EMERGENCY_REFUSED)
            t.add("regulation mode: allowed by the patient's emergency settings")
            return t.allow("emergency regulation (SAMU / centre 15)", AccessBasis.REGULATION)
        if ctx.access_mode is AccessMode.BREAK_GLASS:
            if not ctx.has_reason:
                t.add("break-glass mode: no reason given")
                return t.deny(ErrorCode.DMP_ACCESS_DENIED, BREAK_GLASS_NO_REASON)
            if not record.break_glass_allowed:
                t.add("break-glass mode: refused by the patient's emergency settings")
                return t.deny(ErrorCode.DMP_ACCESS_DENIED, EMERGENCY_REFUSED)
            t.add(f"break-glass mode: reason given ({ctx.reason!r}), allowed by the patient's settings")
            return t.allow("break-glass with a reason", AccessBasis.BREAK_GLASS)
        t.add("normal mode: no consent declared")
        return t.deny(ErrorCode.DMP_ACCESS_DENIED, NO_BASIS)

    # -- document level -----------------------------------------------------------------------------------

    def decide_document_visibility(
        self,
        ctx: AccessContext,
        record: RecordSettings | None,
        doc: DocumentFacts,
        *,
        include_deprecated: bool = False,
    ) -> Decision:
        """May this actor see this document of this record? Record access first, then the document rules.
        A refusal at document level is always ``conceal``: the document is absent, never an error."""
        t = _Trace(self.mode)
        record_decision = self._record_access(ctx, record, t)
        if not record_decision.allowed:
            return record_decision
        assert record is not None or self.mode is PolicyMode.IHE
        t.lines.pop()  # the record-level "=> allowed" line: the document rules conclude
        if self._document_rules(ctx, record, doc, include_deprecated, t):
            return t.allow("document visible", record_decision.basis)
        return t.deny(ErrorCode.DMP_ACCESS_DENIED, DOCUMENT_HIDDEN, conceal=True)

    def _document_rules(
        self,
        ctx: AccessContext,
        record: RecordSettings | None,
        doc: DocumentFacts,
        include_deprecated: bool,
        t: _Trace,
    ) -> bool:
        if doc.is_deprecated and not include_deprecated:
            t.add("status: not Approved and deprecated documents were not asked for")
            return False
        if self.mode is PolicyMode.IHE:
            t.add("ihe profile: no document filter")
            return True
        if ctx.actor_kind in _PATIENT_SIDE_HIDDEN:
            hidden = doc.confidentiality_codes & _PATIENT_SIDE_HIDDEN[ctx.actor_kind]
            t.add(f"{ctx.actor_kind.value} view: " + (f"hidden by {sorted(hidden)}" if hidden else "visible"))
            return not hidden
        if ctx.actor_kind is not ActorKind.PROFESSIONAL:
            t.add("actor kind: no document visible")
            return False
        if ctx.national_id in doc.author_ids:
            t.add("author exception: the professional wrote this document")
            return True
        if doc.has(MASQUE_PS):
            if record is None or ctx.national_id not in record.administrator_doctors:
                t.add("MASQUE_PS: hidden from professionals other than the author and administrator doctors")
                return False
            if ctx.access_mode.is_emergency:
                t.add("MASQUE_PS: stays hidden in emergency modes")
                return False
            t.add("MASQUE_PS: visible to an administrator doctor (or médecin traitant) in normal mode")
        groups = self.groups_of(ctx)
        if not self.matrix.allows(groups, doc.type_code):
            t.add(f"matrix: groups {sorted(groups)} may not read type {doc.type_code}")
            return False
        t.add(f"matrix: groups {sorted(groups)} may read type {doc.type_code}")
        return True

    def visibility_scope(
        self, ctx: AccessContext, record: RecordSettings | None, *, include_deprecated: bool = False
    ) -> VisibilityScope:
        """The document filter of ``decide_document_visibility`` as sets, for SQL (see scope.py)."""
        patient_id = record.patient_id if record is not None else ctx.patient_ins
        if not self.decide_record_access(ctx, record).allowed:
            return VisibilityScope(patient_id, record_allowed=False, include_deprecated=include_deprecated)
        if self.mode is PolicyMode.IHE:
            return VisibilityScope(
                patient_id, record_allowed=True, unrestricted=True, include_deprecated=include_deprecated
            )
        assert record is not None
        if ctx.actor_kind in _PATIENT_SIDE_HIDDEN:
            return VisibilityScope(
                patient_id,
                record_allowed=True,
                include_deprecated=include_deprecated,
                allowed_type_codes=None,
                hidden_confidentiality_codes=_PATIENT_SIDE_HIDDEN[ctx.actor_kind],
            )
        masked_visible = ctx.national_id in record.administrator_doctors and not ctx.access_mode.is_emergency
        return VisibilityScope(
            patient_id,
            record_allowed=True,
            include_deprecated=include_deprecated,
            allowed_type_codes=self.matrix.allowed_types(self.groups_of(ctx)),
            hidden_confidentiality_codes=frozenset() if masked_visible else frozenset({MASQUE_PS}),
            author_ids=frozenset({ctx.national_id}),
        )

    # -- writes -------------------------------------------------------------------------------------------

    def decide_record_write(self, ctx: AccessContext, record: RecordSettings | None) -> Decision:
        """May this actor write to this record at all? The record-level gate every write shares (actor
        kind, record state, binding, block list; feeding needs no consent), with the very codes and
        messages of ``decide_write``: a refusal here is ``decide_write``'s refusal for any document and
        operation; an allowance leaves the document rules to ``decide_write``."""
        t = _Trace(self.mode)
        t.add(f"actor {ctx.actor_kind.value} {ctx.national_id}, record-level write gate")
        decided = self._write_gate(ctx, record, t)
        if decided is not None:
            return decided
        return t.allow("the record may be written to (the document rules still apply)")

    def _write_gate(self, ctx: AccessContext, record: RecordSettings | None, t: _Trace) -> Decision | None:
        """The decision when the record level settles a write alone (the ihe profile allows, the common
        gate refuses), None when the document rules follow."""
        if self.mode is PolicyMode.IHE:
            return t.allow("ihe profile: any authenticated actor has full access", AccessBasis.IHE_PROFILE)
        return self._common_gate(ctx, record, t)

    def decide_write(
        self,
        ctx: AccessContext,
        record: RecordSettings | None,
        doc: DocumentFacts,
        operation: WriteOperation,
        *,
        original: DocumentFacts | None = None,
    ) -> Decision:
        """May this actor perform ``operation`` on this record? ``doc`` is the new metadata (the document
        deposited, the replacement, the updated version) or, for DEPRECATE, the document deprecated;
        ``original`` is the existing document that REPLACE / APPEND / UPDATE_* act on."""
        if operation.touches_existing and operation is not WriteOperation.DEPRECATE and original is None:
            raise ValueError(f"{operation.value} needs the original document")
        # DEPOSIT touches nothing existing: an ``original`` given with it is ignored.
        existing = (
            doc if operation is WriteOperation.DEPRECATE else original if operation.touches_existing else None
        )
        t = _Trace(self.mode)
        t.add(f"actor {ctx.actor_kind.value} {ctx.national_id}, operation {operation.value}")
        decided = self._write_gate(ctx, record, t)
        if decided is not None:
            return decided
        assert record is not None
        patient_side = ctx.actor_kind in _PATIENT_SIDE_HIDDEN
        if existing is not None:
            # A document the actor cannot see does not exist for him, even to be replaced.
            if not self._document_rules(ctx, record, existing, True, t):
                return t.deny(ErrorCode.UNRESOLVED_REFERENCE, DOCUMENT_HIDDEN, conceal=True)
            if patient_side:
                if operation is WriteOperation.UPDATE_MASKING and _patient_masking_only(existing, doc):
                    # dmp-rules.md (c): the patient (or his representative) hides a document from
                    # professionals or shows it again; the masks set by professionals are not his to change
                    t.add("masking: the patient side toggles MASQUE_PS only")
                    return t.allow("masking by the patient allowed")
                t.add("existing document: patient-side actors cannot change it here")
                return t.deny(ErrorCode.DMP_ACCESS_DENIED, PATIENT_EXISTING)
            refused = self._authorship(ctx, record, existing, operation, t)
            if refused is not None:
                return refused
        if operation.produces_document:
            refused = self._new_metadata(ctx, doc, operation, patient_side, t)
            if refused is not None:
                return refused
        return t.allow(f"{operation.value} allowed")

    def _authorship(
        self,
        ctx: AccessContext,
        record: RecordSettings,
        existing: DocumentFacts,
        operation: WriteOperation,
        t: _Trace,
    ) -> Decision | None:
        if ctx.national_id in existing.author_ids:
            t.add("authorship: the professional is the document's author")
            return None
        if ctx.structure_id and ctx.structure_id in existing.author_structures:
            t.add("authorship: the professional works in the author's structure")
            return None
        if operation is WriteOperation.UPDATE_MASKING:
            if ctx.national_id in record.administrator_doctors:
                t.add("masking: the professional is an administrator doctor of the record")
                return None
            t.add("masking: neither author, author's structure nor administrator doctor")
            return t.deny(ErrorCode.DMP_ACCESS_DENIED, MASKING_NOT_ALLOWED)
        t.add("authorship: neither the author nor the author's structure")
        verb = {WriteOperation.UPDATE_METADATA: "update"}.get(operation, operation.value)
        return t.deny(ErrorCode.DMP_ACCESS_DENIED, NOT_AUTHOR.format(op=verb))

    def _new_metadata(
        self, ctx: AccessContext, doc: DocumentFacts, operation: WriteOperation, patient_side: bool, t: _Trace
    ) -> Decision | None:
        if patient_side:
            if doc.class_code not in self.patient_class_codes:
                t.add(f"patient deposit: class {doc.class_code} is not a patient class")
                return t.deny(ErrorCode.DMP_DOCUMENT_TYPE_NOT_ALLOWED, PATIENT_CLASS_ONLY)
            t.add(f"patient deposit: class {doc.class_code} allowed")
        elif operation is not WriteOperation.UPDATE_MASKING:
            if self.deposit_follows_matrix:
                groups = self.groups_of(ctx)
                if not self.matrix.allows(groups, doc.type_code):
                    t.add(f"matrix: groups {sorted(groups)} may not deposit type {doc.type_code}")
                    return t.deny(
                        ErrorCode.DMP_DOCUMENT_TYPE_NOT_ALLOWED, TYPE_NOT_ALLOWED.format(type=doc.type_code)
                    )
                t.add(f"matrix: groups {sorted(groups)} may deposit type {doc.type_code}")
            else:
                t.add("matrix: deposit not restricted by the matrix (setting)")
        if doc.has(MASQUE_PS) and doc.has(INVISIBLE_PATIENT):
            t.add("masking: MASQUE_PS with INVISIBLE_PATIENT")
            return t.deny(ErrorCode.DMP_MASKING_CONFLICT, MASKING_CONFLICT)
        if ctx.secret_connection and not doc.has(INVISIBLE_REPRESENTANTS_LEGAUX):
            t.add("secret connection: document lacks INVISIBLE_REPRESENTANTS_LEGAUX")
            return t.deny(ErrorCode.DMP_MASKING_CONFLICT, SECRET_CONNECTION)
        t.add("masking: consistent")
        return None


__all__ = ["Policy"]
