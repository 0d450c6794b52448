"""The DMP rules as tables: each rule of issue 7, both sides (allowed and refused)."""

from __future__ import annotations

import pytest

from xds_server.core.errors import ErrorCode, XdsError
from xds_server.core.policy import (
    INVISIBLE_PATIENT,
    INVISIBLE_REPRESENTANTS_LEGAUX,
    MASQUE_PS,
    RECORD_NOT_FOUND,
    AccessBasis,
    AccessContext,
    AccessMode,
    ActorKind,
    Policy,
    PolicyMode,
    RecordSettings,
    WriteOperation,
    explain,
)
from xds_server.core.policy.decision import (
    BLOCKED,
    BREAK_GLASS_NO_REASON,
    DOCUMENT_HIDDEN,
    EMERGENCY_REFUSED,
    MASKING_CONFLICT,
    NO_BASIS,
    NOT_OWN_RECORD,
    NOT_REPRESENTATIVE,
    SECRET_CONNECTION,
    SYSTEM_ACTOR,
    WRONG_PATIENT,
)
from xds_server.core.ports import PatientState
from xds_server.core.vocabulary import Status

from .builders import (
    ADMIN,
    AUTHOR,
    CLASS_PATIENT,
    DMP,
    DOCTOR,
    IHE,
    MEDECIN_ONLY_TYPE,
    OPEN_TYPE,
    OTHER_PATIENT,
    PATIENT,
    STRANGER,
    STRUCTURE,
    TRAITANT,
    UNKNOWN_TYPE,
    doc,
    kine,
    patient,
    ps,
    record,
    representative,
)

BREAK_GLASS = AccessMode.BREAK_GLASS
REGULATION = AccessMode.REGULATION


class TestRecordState:
    @pytest.mark.parametrize("state", [PatientState.CREATED, PatientState.ACTIVATED])
    def test_open_records_can_be_consulted_and_fed(self, state: PatientState) -> None:
        assert DMP.decide_record_access(ps(), record(state=state)).allowed
        assert DMP.decide_write(ps(), record(state=state), doc(), WriteOperation.DEPOSIT).allowed

    def test_absent_opposed_and_closed_give_one_identical_answer(self) -> None:
        answers = {
            DMP.decide_record_access(ps(), r)
            for r in (None, record(state=PatientState.OPPOSED), record(state=PatientState.CLOSED))
        }
        assert len(answers) == 1
        (answer,) = answers
        assert not answer.allowed
        assert answer.code is ErrorCode.UNKNOWN_PATIENT_ID
        assert answer.reason == RECORD_NOT_FOUND == "DMP closed or does not exist"

    def test_writes_to_absent_opposed_and_closed_give_one_identical_answer(self) -> None:
        answers = {
            DMP.decide_write(ps(), r, doc(), WriteOperation.DEPOSIT)
            for r in (None, record(state=PatientState.OPPOSED), record(state=PatientState.CLOSED))
        }
        assert len(answers) == 1
        assert next(iter(answers)).code is ErrorCode.UNKNOWN_PATIENT_ID

    @pytest.mark.parametrize("state", [PatientState.OPPOSED, PatientState.CLOSED])
    def test_closed_states_hold_even_for_the_medecin_traitant_and_the_patient(
        self, state: PatientState
    ) -> None:
        assert (
            DMP.decide_record_access(ps(TRAITANT), record(state=state)).code is ErrorCode.UNKNOWN_PATIENT_ID
        )
        assert DMP.decide_record_access(patient(), record(state=state)).code is ErrorCode.UNKNOWN_PATIENT_ID


class TestBinding:
    def test_assertion_for_another_patient_is_refused(self) -> None:
        decision = DMP.decide_record_access(ps(patient=OTHER_PATIENT), record())
        assert decision.code is ErrorCode.DMP_ACCESS_DENIED
        assert "resource-id" in decision.reason

    def test_assertion_without_patient_is_refused(self) -> None:
        assert not DMP.decide_record_access(ps(patient=None), record()).allowed

    def test_patient_reads_his_own_record_only(self) -> None:
        assert DMP.decide_record_access(patient(), record()).basis is AccessBasis.PATIENT
        assert DMP.decide_record_access(patient(OTHER_PATIENT), record()).code is ErrorCode.DMP_ACCESS_DENIED

    def test_representative_must_be_registered_and_named_by_the_token(self) -> None:
        assert DMP.decide_record_access(representative(), record()).basis is AccessBasis.LEGAL_REPRESENTATIVE
        assert not DMP.decide_record_access(representative(frozenset()), record()).allowed
        assert not DMP.decide_record_access(
            representative(), record(legal_representatives=frozenset())
        ).allowed

    def test_system_actor_has_no_dmp_access_but_full_ihe_access(self) -> None:
        system = AccessContext(ActorKind.SYSTEM, "nist-runner")
        assert DMP.decide_record_access(system, record()).code is ErrorCode.DMP_ACCESS_DENIED
        assert IHE.decide_record_access(system, None).allowed


class TestBlockedProfessional:
    @pytest.mark.parametrize(
        ("mode", "reason"), [(AccessMode.NORMAL, None), (BREAK_GLASS, "coma"), (REGULATION, None)]
    )
    def test_blocked_is_refused_in_every_mode_even_when_authorised(
        self, mode: AccessMode, reason: str | None
    ) -> None:
        blocked = record(blocked=frozenset({DOCTOR}))
        decision = DMP.decide_record_access(ps(mode=mode, reason=reason), blocked)
        assert decision.code is ErrorCode.DMP_ACCESS_DENIED
        assert "block" not in decision.reason.lower()  # the message does not name the patient's setting

    def test_blocked_medecin_traitant_is_refused(self) -> None:
        assert not DMP.decide_record_access(ps(TRAITANT), record(blocked=frozenset({TRAITANT}))).allowed

    def test_blocked_cannot_write(self) -> None:
        blocked = record(blocked=frozenset({AUTHOR}))
        assert not DMP.decide_write(ps(AUTHOR), blocked, doc(), WriteOperation.DEPOSIT).allowed

    def test_not_blocked_reads(self) -> None:
        assert DMP.decide_record_access(ps(), record(blocked=frozenset({STRANGER}))).allowed


class TestAccessBasis:
    def test_authorised_professional(self) -> None:
        assert DMP.decide_record_access(ps(DOCTOR), record()).basis is AccessBasis.AUTHORISED

    def test_medecin_traitant(self) -> None:
        assert DMP.decide_record_access(ps(TRAITANT), record()).basis is AccessBasis.MEDECIN_TRAITANT

    def test_administrator_doctor(self) -> None:
        assert DMP.decide_record_access(ps(ADMIN), record()).basis is AccessBasis.ADMINISTRATOR

    def test_no_basis_is_refused_with_a_helpful_message(self) -> None:
        decision = DMP.decide_record_access(ps(STRANGER), record())
        assert decision.code is ErrorCode.DMP_ACCESS_DENIED
        assert decision.reason == NO_BASIS
        assert "consent" in decision.reason

    def test_regulation_allowed_unless_refused(self) -> None:
        allowed = DMP.decide_record_access(ps(STRANGER, mode=REGULATION), record())
        assert allowed.basis is AccessBasis.REGULATION and allowed.basis.is_emergency
        refused = DMP.decide_record_access(ps(STRANGER, mode=REGULATION), record(samu_allowed=False))
        assert refused.reason == EMERGENCY_REFUSED

    def test_break_glass_with_reason(self) -> None:
        decision = DMP.decide_record_access(ps(STRANGER, mode=BREAK_GLASS, reason="unconscious"), record())
        assert decision.basis is AccessBasis.BREAK_GLASS

    @pytest.mark.parametrize("reason", [None, "", "   "])
    def test_break_glass_without_reason_is_refused(self, reason: str | None) -> None:
        decision = DMP.decide_record_access(ps(STRANGER, mode=BREAK_GLASS, reason=reason), record())
        assert decision.reason == BREAK_GLASS_NO_REASON

    def test_break_glass_refused_by_the_patient(self) -> None:
        ctx = ps(STRANGER, mode=BREAK_GLASS, reason="unconscious")
        assert DMP.decide_record_access(ctx, record(break_glass_allowed=False)).reason == EMERGENCY_REFUSED

    def test_regulation_refusal_does_not_stop_break_glass(self) -> None:
        ctx = ps(STRANGER, mode=BREAK_GLASS, reason="unconscious")
        assert DMP.decide_record_access(ctx, record(samu_allowed=False)).allowed

    def test_consent_is_not_needed_to_deposit(self) -> None:
        assert DMP.decide_write(ps(STRANGER), record(), doc(), WriteOperation.DEPOSIT).allowed


class TestMatrix:
    def test_medecin_reads_a_type_the_kine_may_not(self) -> None:
        restricted = doc(MEDECIN_ONLY_TYPE)
        assert DMP.decide_document_visibility(ps(), record(), restricted).allowed
        hidden = DMP.decide_document_visibility(kine(), record(), restricted)
        assert not hidden.allowed and hidden.conceal and hidden.reason == DOCUMENT_HIDDEN

    def test_kine_reads_an_open_type(self) -> None:
        assert DMP.decide_document_visibility(kine(), record(), doc(OPEN_TYPE)).allowed

    @pytest.mark.parametrize("type_code", [UNKNOWN_TYPE, None])
    def test_unknown_or_missing_type_is_hidden(self, type_code: str | None) -> None:
        assert not DMP.decide_document_visibility(ps(), record(), doc(type_code)).allowed

    def test_profession_without_group_sees_nothing_but_its_own(self) -> None:
        odd = ps(profession="31")  # assistant dentaire: in no group of the data
        assert not DMP.decide_document_visibility(odd, record(), doc(OPEN_TYPE)).allowed
        assert DMP.decide_document_visibility(
            odd, record(), doc(OPEN_TYPE, authors=frozenset({DOCTOR}))
        ).allowed

    def test_group_selected_by_genre_activite(self) -> None:
        coordination = ps(profession="99", genre_activite="GENR08")
        no_genre = ps(profession="99")
        assert DMP.decide_document_visibility(coordination, record(), doc(OPEN_TYPE)).allowed
        assert not DMP.decide_document_visibility(no_genre, record(), doc(OPEN_TYPE)).allowed

    def test_group_selected_by_role(self) -> None:
        preparateur = ps(profession="39", role="316")
        assert DMP.decide_document_visibility(preparateur, record(), doc(OPEN_TYPE)).allowed


class TestAuthorException:
    def test_author_sees_a_type_his_profession_may_not_read(self) -> None:
        mine = doc(MEDECIN_ONLY_TYPE, authors=frozenset({AUTHOR}))
        assert DMP.decide_document_visibility(kine(), record(), mine).allowed is False
        author_kine = ps(AUTHOR, "70")
        assert DMP.decide_document_visibility(
            author_kine, record(authorised=frozenset({AUTHOR})), mine
        ).allowed

    @pytest.mark.parametrize(("mode", "reason"), [(AccessMode.NORMAL, None), (BREAK_GLASS, "coma")])
    def test_author_sees_his_masked_document_in_any_mode(self, mode: AccessMode, reason: str | None) -> None:
        masked = doc(OPEN_TYPE, MASQUE_PS, authors=frozenset({AUTHOR}))
        ctx = ps(AUTHOR, mode=mode, reason=reason)
        assert DMP.decide_document_visibility(ctx, record(authorised=frozenset({AUTHOR})), masked).allowed

    def test_author_still_needs_an_access_basis(self) -> None:
        assert not DMP.decide_document_visibility(ps(AUTHOR), record(), doc()).allowed


class TestMasquePS:
    def test_hidden_from_an_authorised_professional(self) -> None:
        assert not DMP.decide_document_visibility(ps(DOCTOR), record(), doc(OPEN_TYPE, MASQUE_PS)).allowed

    @pytest.mark.parametrize("who", [TRAITANT, ADMIN])
    def test_visible_to_administrator_doctors_in_normal_mode(self, who: str) -> None:
        assert DMP.decide_document_visibility(ps(who), record(), doc(OPEN_TYPE, MASQUE_PS)).allowed

    @pytest.mark.parametrize(("mode", "reason"), [(BREAK_GLASS, "coma"), (REGULATION, None)])
    @pytest.mark.parametrize("who", [TRAITANT, ADMIN, STRANGER])
    def test_stays_hidden_in_emergency_modes(self, who: str, mode: AccessMode, reason: str | None) -> None:
        ctx = ps(who, mode=mode, reason=reason)
        assert DMP.decide_record_access(ctx, record()).allowed
        assert not DMP.decide_document_visibility(ctx, record(), doc(OPEN_TYPE, MASQUE_PS)).allowed
        assert DMP.decide_document_visibility(ctx, record(), doc(OPEN_TYPE)).allowed

    def test_masking_and_matrix_refusals_look_the_same(self) -> None:
        by_mask = DMP.decide_document_visibility(ps(), record(), doc(OPEN_TYPE, MASQUE_PS))
        by_matrix = DMP.decide_document_visibility(kine(), record(), doc(MEDECIN_ONLY_TYPE))
        assert (by_mask.code, by_mask.reason, by_mask.conceal) == (by_matrix.code, by_matrix.reason, True)


class TestPatientSideVisibility:
    def test_patient_sees_masked_documents(self) -> None:
        assert DMP.decide_document_visibility(patient(), record(), doc(MEDECIN_ONLY_TYPE, MASQUE_PS)).allowed

    def test_invisible_patient_hides_from_the_patient(self) -> None:
        assert not DMP.decide_document_visibility(
            patient(), record(), doc(OPEN_TYPE, INVISIBLE_PATIENT)
        ).allowed

    def test_invisible_patient_does_not_hide_from_professionals(self) -> None:
        assert DMP.decide_document_visibility(ps(), record(), doc(OPEN_TYPE, INVISIBLE_PATIENT)).allowed

    def test_patient_sees_documents_invisible_to_representatives(self) -> None:
        visible = doc(OPEN_TYPE, INVISIBLE_REPRESENTANTS_LEGAUX)
        assert DMP.decide_document_visibility(patient(), record(), visible).allowed

    def test_representatives_do_not_see_documents_invisible_to_them(self) -> None:
        hidden = doc(OPEN_TYPE, INVISIBLE_REPRESENTANTS_LEGAUX)
        assert not DMP.decide_document_visibility(representative(), record(), hidden).allowed
        assert DMP.decide_document_visibility(representative(), record(), doc(OPEN_TYPE)).allowed

    def test_representatives_act_as_the_patient_for_invisible_patient(self) -> None:
        hidden = doc(OPEN_TYPE, INVISIBLE_PATIENT)
        assert not DMP.decide_document_visibility(representative(), record(), hidden).allowed

    def test_professionals_see_documents_invisible_to_representatives(self) -> None:
        visible = doc(OPEN_TYPE, INVISIBLE_REPRESENTANTS_LEGAUX)
        assert DMP.decide_document_visibility(ps(), record(), visible).allowed


class TestDeprecated:
    @pytest.mark.parametrize("policy", [DMP, IHE], ids=["dmp", "ihe"])
    def test_deprecated_only_when_asked(self, policy: Policy) -> None:
        old = doc(OPEN_TYPE, status=Status.DEPRECATED)
        assert not policy.decide_document_visibility(ps(), record(), old).allowed
        assert policy.decide_document_visibility(ps(), record(), old, include_deprecated=True).allowed


class TestIheProfile:
    def test_any_authenticated_actor_has_full_access(self) -> None:
        blocked = record(blocked=frozenset({STRANGER}), state=PatientState.CLOSED)
        ctx = kine(patient=OTHER_PATIENT)
        assert IHE.decide_record_access(ctx, blocked).allowed
        assert IHE.decide_document_visibility(
            ctx, None, doc(UNKNOWN_TYPE, MASQUE_PS, INVISIBLE_PATIENT)
        ).allowed
        write = IHE.decide_write(
            ctx, None, doc(UNKNOWN_TYPE, MASQUE_PS, INVISIBLE_PATIENT), WriteOperation.DEPOSIT
        )
        assert write.allowed and write.profile is PolicyMode.IHE

    def test_explain_says_which_profile_decided(self) -> None:
        assert "decided by the ihe profile" in explain(IHE, ps(), None, doc())[0]
        assert "decided by the dmp profile" in explain(DMP, ps(), record(), doc())[0]


class TestDeposit:
    def test_matrix_restricts_what_a_profession_deposits(self) -> None:
        decision = DMP.decide_write(kine(), record(), doc(MEDECIN_ONLY_TYPE), WriteOperation.DEPOSIT)
        assert decision.code is ErrorCode.DMP_DOCUMENT_TYPE_NOT_ALLOWED
        assert DMP.decide_write(ps(), record(), doc(MEDECIN_ONLY_TYPE), WriteOperation.DEPOSIT).allowed

    def test_setting_relaxes_the_deposit_matrix(self) -> None:
        from dataclasses import replace

        relaxed = replace(DMP, deposit_follows_matrix=False)
        assert relaxed.decide_write(kine(), record(), doc(MEDECIN_ONLY_TYPE), WriteOperation.DEPOSIT).allowed

    def test_masque_ps_with_invisible_patient_is_a_conflict(self) -> None:
        conflict = doc(OPEN_TYPE, MASQUE_PS, INVISIBLE_PATIENT)
        decision = DMP.decide_write(ps(), record(), conflict, WriteOperation.DEPOSIT)
        assert (decision.code, decision.reason) == (ErrorCode.DMP_MASKING_CONFLICT, MASKING_CONFLICT)

    @pytest.mark.parametrize("codes", [(MASQUE_PS,), (INVISIBLE_PATIENT,), ()])
    def test_single_masking_codes_are_fine(self, codes: tuple[str, ...]) -> None:
        assert DMP.decide_write(ps(), record(), doc(OPEN_TYPE, *codes), WriteOperation.DEPOSIT).allowed

    def test_secret_connection_requires_invisible_to_representatives(self) -> None:
        secret = ps(secret_connection=True)
        refused = DMP.decide_write(secret, record(), doc(OPEN_TYPE), WriteOperation.DEPOSIT)
        assert (refused.code, refused.reason) == (ErrorCode.DMP_MASKING_CONFLICT, SECRET_CONNECTION)
        hidden = doc(OPEN_TYPE, INVISIBLE_REPRESENTANTS_LEGAUX)
        assert DMP.decide_write(secret, record(), hidden, WriteOperation.DEPOSIT).allowed

    def test_patient_deposits_class_90_only(self) -> None:
        mine = doc("DOCPAT01^^1.2.250.1.213.1.1.4.12", class_code=CLASS_PATIENT)
        assert DMP.decide_write(patient(), record(), mine, WriteOperation.DEPOSIT).allowed
        refused = DMP.decide_write(patient(), record(), doc(OPEN_TYPE), WriteOperation.DEPOSIT)
        assert refused.code is ErrorCode.DMP_DOCUMENT_TYPE_NOT_ALLOWED

    def test_deposit_ignores_an_original(self) -> None:
        hidden = doc(OPEN_TYPE, MASQUE_PS, authors=frozenset({AUTHOR}))
        assert DMP.decide_write(ps(), record(), doc(), WriteOperation.DEPOSIT, original=hidden).allowed

    def test_representative_deposits_like_the_patient(self) -> None:
        mine = doc("DOCPAT01^^1.2.250.1.213.1.1.4.12", class_code=CLASS_PATIENT)
        assert DMP.decide_write(representative(), record(), mine, WriteOperation.DEPOSIT).allowed
        assert not DMP.decide_write(representative(), record(), doc(), WriteOperation.DEPOSIT).allowed


class TestChangesToExistingDocuments:
    existing = doc(OPEN_TYPE, authors=frozenset({AUTHOR}), structures=frozenset({STRUCTURE}))

    @pytest.mark.parametrize(
        "operation", [WriteOperation.REPLACE, WriteOperation.APPEND, WriteOperation.UPDATE_METADATA]
    )
    def test_author_and_author_structure_may_change(self, operation: WriteOperation) -> None:
        assert DMP.decide_write(ps(AUTHOR), record(), doc(), operation, original=self.existing).allowed
        colleague = ps(STRANGER, structure=STRUCTURE)
        assert DMP.decide_write(colleague, record(), doc(), operation, original=self.existing).allowed

    @pytest.mark.parametrize(
        "operation", [WriteOperation.REPLACE, WriteOperation.APPEND, WriteOperation.UPDATE_METADATA]
    )
    def test_others_may_not(self, operation: WriteOperation) -> None:
        decision = DMP.decide_write(ps(DOCTOR), record(), doc(), operation, original=self.existing)
        assert decision.code is ErrorCode.DMP_ACCESS_DENIED and "author" in decision.reason
        assert not DMP.decide_write(ps(TRAITANT), record(), doc(), operation, original=self.existing).allowed

    def test_deprecate_by_author_only(self) -> None:
        assert DMP.decide_write(ps(AUTHOR), record(), self.existing, WriteOperation.DEPRECATE).allowed
        assert not DMP.decide_write(ps(DOCTOR), record(), self.existing, WriteOperation.DEPRECATE).allowed

    @pytest.mark.parametrize("who", [AUTHOR, ADMIN, TRAITANT])
    def test_masking_change_by_author_or_administrator_doctors(self, who: str) -> None:
        unmasked = doc(OPEN_TYPE, authors=frozenset({AUTHOR}))
        decision = DMP.decide_write(
            ps(who), record(), unmasked, WriteOperation.UPDATE_MASKING, original=self.existing
        )
        assert decision.allowed

    def test_masking_change_by_author_structure(self) -> None:
        colleague = ps(STRANGER, structure=STRUCTURE)
        op = WriteOperation.UPDATE_MASKING
        assert DMP.decide_write(colleague, record(), doc(), op, original=self.existing).allowed

    def test_masking_change_by_others_is_refused(self) -> None:
        op = WriteOperation.UPDATE_MASKING
        assert not DMP.decide_write(ps(DOCTOR), record(), doc(), op, original=self.existing).allowed

    def test_masking_change_must_not_create_a_conflict(self) -> None:
        conflict = doc(OPEN_TYPE, MASQUE_PS, INVISIBLE_PATIENT)
        op = WriteOperation.UPDATE_MASKING
        decision = DMP.decide_write(ps(AUTHOR), record(), conflict, op, original=self.existing)
        assert decision.code is ErrorCode.DMP_MASKING_CONFLICT

    def test_a_document_the_actor_cannot_see_is_answered_as_absent(self) -> None:
        masked = doc(OPEN_TYPE, MASQUE_PS, authors=frozenset({AUTHOR}), structures=frozenset({STRUCTURE}))
        colleague = ps(STRANGER, structure=STRUCTURE)
        decision = DMP.decide_write(colleague, record(), doc(), WriteOperation.REPLACE, original=masked)
        assert not decision.allowed and decision.conceal and decision.reason == DOCUMENT_HIDDEN

    def test_patient_cannot_replace(self) -> None:
        op = WriteOperation.REPLACE
        assert not DMP.decide_write(patient(), record(), doc(), op, original=self.existing).allowed

    def test_original_is_required(self) -> None:
        with pytest.raises(ValueError, match="original"):
            DMP.decide_write(ps(AUTHOR), record(), doc(), WriteOperation.REPLACE)


_SYSTEM = AccessContext(ActorKind.SYSTEM, "nist-runner", patient_ins=PATIENT)
#: (actor, record, expected code, expected message); code None = allowed. Consent, the matrix and the
#: masking rules are document matters: none of them refuses at the record-level gate.
_RECORD_WRITE_TABLE: list[tuple[str, AccessContext, RecordSettings | None, ErrorCode | None, str | None]] = [
    ("authorised professional", ps(), record(), None, None),
    ("no consent needed to feed", ps(STRANGER), record(), None, None),
    ("matrix is a document rule", kine(), record(), None, None),
    ("secret connection is a document rule", ps(secret_connection=True), record(), None, None),
    ("created record", ps(), record(state=PatientState.CREATED), None, None),
    ("no record", ps(), None, ErrorCode.UNKNOWN_PATIENT_ID, RECORD_NOT_FOUND),
    ("opposed", ps(), record(state=PatientState.OPPOSED), ErrorCode.UNKNOWN_PATIENT_ID, RECORD_NOT_FOUND),
    ("closed", ps(), record(state=PatientState.CLOSED), ErrorCode.UNKNOWN_PATIENT_ID, RECORD_NOT_FOUND),
    ("closed, médecin traitant", ps(TRAITANT), record(state=PatientState.CLOSED),
     ErrorCode.UNKNOWN_PATIENT_ID, RECORD_NOT_FOUND),
    ("other patient", ps(patient=OTHER_PATIENT), record(), ErrorCode.DMP_ACCESS_DENIED, WRONG_PATIENT),
    ("no resource-id", ps(patient=None), record(), ErrorCode.DMP_ACCESS_DENIED, WRONG_PATIENT),
    ("blocked", ps(), record(blocked=frozenset({DOCTOR})), ErrorCode.DMP_ACCESS_DENIED, BLOCKED),
    ("blocked in break-glass", ps(mode=BREAK_GLASS, reason="coma"), record(blocked=frozenset({DOCTOR})),
     ErrorCode.DMP_ACCESS_DENIED, BLOCKED),
    ("system actor", _SYSTEM, record(), ErrorCode.DMP_ACCESS_DENIED, SYSTEM_ACTOR),
    ("patient, own record", patient(), record(), None, None),
    ("patient, other record", patient(OTHER_PATIENT), record(), ErrorCode.DMP_ACCESS_DENIED, NOT_OWN_RECORD),
    ("registered representative", representative(), record(), None, None),
    ("representative not named by the token", representative(frozenset()), record(),
     ErrorCode.DMP_ACCESS_DENIED, NOT_REPRESENTATIVE),
    ("representative not registered", representative(), record(legal_representatives=frozenset()),
     ErrorCode.DMP_ACCESS_DENIED, NOT_REPRESENTATIVE),
]  # fmt: skip


class TestRecordWriteGate:
    @pytest.mark.parametrize(
        ("ctx", "rec", "code", "message"),
        [case[1:] for case in _RECORD_WRITE_TABLE],
        ids=[case[0] for case in _RECORD_WRITE_TABLE],
    )
    def test_table(
        self, ctx: AccessContext, rec: RecordSettings | None, code: ErrorCode | None, message: str | None
    ) -> None:
        decision = DMP.decide_record_write(ctx, rec)
        assert (decision.allowed, decision.code) == (code is None, code), decision.trace
        if message is not None:
            assert decision.reason == message
            assert not decision.conceal

    @pytest.mark.parametrize(
        ("ctx", "rec"), [case[1:3] for case in _RECORD_WRITE_TABLE], ids=[c[0] for c in _RECORD_WRITE_TABLE]
    )
    def test_ihe_profile_allows_every_case(self, ctx: AccessContext, rec: RecordSettings | None) -> None:
        decision = IHE.decide_record_write(ctx, rec)
        assert decision.allowed and decision.basis is AccessBasis.IHE_PROFILE

    @pytest.mark.parametrize(
        ("ctx", "rec"),
        [case[1:3] for case in _RECORD_WRITE_TABLE if case[3] is not None],
        ids=[case[0] for case in _RECORD_WRITE_TABLE if case[3] is not None],
    )
    def test_a_refusal_is_the_one_decide_write_gives_for_every_operation(
        self, ctx: AccessContext, rec: RecordSettings | None
    ) -> None:
        gate = DMP.decide_record_write(ctx, rec)
        for operation in WriteOperation:
            write = DMP.decide_write(ctx, rec, doc(), operation, original=doc())
            assert (write.allowed, write.code, write.reason) == (False, gate.code, gate.reason)

    def test_trace_names_the_gate_rules(self) -> None:
        trace = DMP.decide_record_write(ps(), record()).trace
        assert trace[1].endswith("record-level write gate")
        assert [line.split(":")[0] for line in trace[2:]] == [
            "record state",
            "binding",
            "block list",
            "=> allowed",
        ]


class TestDecisionValue:
    def test_refusal_becomes_a_registry_error(self) -> None:
        decision = DMP.decide_record_access(ps(STRANGER), record())
        issue = decision.issue("urn:uuid:x")
        assert (issue.code, issue.message, issue.location) == (
            ErrorCode.DMP_ACCESS_DENIED,
            NO_BASIS,
            "urn:uuid:x",
        )
        with pytest.raises(XdsError):
            decision.raise_if_denied()

    def test_allowed_has_no_issue(self) -> None:
        decision = DMP.decide_record_access(ps(), record())
        assert decision.code is None
        decision.raise_if_denied()
        with pytest.raises(ValueError):
            decision.issue()

    def test_trace_names_each_rule_in_order(self) -> None:
        trace = DMP.decide_document_visibility(ps(), record(), doc(OPEN_TYPE)).trace
        assert trace[0] == "profile dmp"
        assert [line.split(":")[0] for line in trace[2:]] == [
            "record state",
            "binding",
            "block list",
            "access basis",
            "matrix",
            "=> allowed",
        ]

    def test_explain_prints_record_document_and_write(self) -> None:
        lines = explain(DMP, kine(), record(), doc(MEDECIN_ONLY_TYPE), operation=WriteOperation.DEPOSIT)
        text = "\n".join(lines)
        assert "record access: ALLOWED" in text
        assert "document visibility: REFUSED" in text and "answered as if absent" in text
        assert "write (deposit): REFUSED DMPDocumentTypeNotAllowed" in text
