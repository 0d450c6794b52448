"""Property tests: the rules stated once, as an oracle, against the engine and its SQL-friendly scope.

The oracle is written from issue 7 directly (not from rules.py): for any actor, record settings and
document, the engine shows a document iff the oracle does, and ``VisibilityScope.admits`` agrees with
``decide_document_visibility``. Pools are small so that collisions (author = actor, blocked = authorised,
patient = other patient ...) happen often.
"""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from xds_server.core.policy import (
    INVISIBLE_PATIENT,
    INVISIBLE_REPRESENTANTS_LEGAUX,
    MASQUE_PS,
    AccessContext,
    AccessMode,
    ActorKind,
    DocumentFacts,
    Policy,
    PolicyMode,
    RecordSettings,
    WriteOperation,
)
from xds_server.core.ports import PatientState
from xds_server.core.vocabulary import Status

from .builders import (
    CLASS_CR,
    CLASS_PATIENT,
    DMP,
    IHE,
    MEDECIN_ONLY_TYPE,
    OPEN_TYPE,
    OTHER_PATIENT,
    PATIENT,
    UNKNOWN_TYPE,
)

PEOPLE = ("810000000001", "810000000002", "810000000003", "REP-001")
STRUCTURES = ("S1", "S2")
subsets = st.frozensets

contexts = st.builds(
    AccessContext,
    # weighted towards professionals bound to the record's patient, where most rules live
    actor_kind=st.sampled_from(
        [ActorKind.PROFESSIONAL] * 5 + [k for k in ActorKind if k is not ActorKind.PROFESSIONAL]
    ),
    national_id=st.sampled_from(PEOPLE),
    profession=st.sampled_from([None, "10", "21", "70", "60", "99", "31"]),
    role=st.sampled_from([None, "316"]),
    genre_activite=st.sampled_from([None, "GENR08", "GENR10"]),
    structure_id=st.sampled_from((None, *STRUCTURES)),
    access_mode=st.sampled_from(AccessMode),
    reason=st.sampled_from([None, "", "  ", "unconscious"]),
    patient_ins=st.sampled_from([PATIENT] * 4 + [None, OTHER_PATIENT]),
    represented=subsets(st.sampled_from([PATIENT, OTHER_PATIENT])),
    secret_connection=st.booleans(),
)
_settings = st.builds(
    RecordSettings,
    patient_id=st.just(PATIENT),
    state=st.sampled_from([PatientState.ACTIVATED, PatientState.CREATED] * 2 + list(PatientState)),
    authorised=subsets(st.sampled_from(PEOPLE)),
    blocked=subsets(st.sampled_from(PEOPLE), max_size=1),
    medecin_traitant=st.sampled_from((None, *PEOPLE)),
    administrators=subsets(st.sampled_from(PEOPLE)),
    samu_allowed=st.booleans(),
    break_glass_allowed=st.booleans(),
    minor=st.booleans(),
    legal_representatives=subsets(st.sampled_from(PEOPLE)),
)
#: No record one time in six.
records = st.tuples(st.integers(0, 5), _settings).map(lambda pair: None if pair[0] == 0 else pair[1])
documents = st.builds(
    DocumentFacts,
    type_code=st.sampled_from([None, OPEN_TYPE, MEDECIN_ONLY_TYPE, UNKNOWN_TYPE]),
    class_code=st.sampled_from([None, CLASS_CR, CLASS_PATIENT]),
    confidentiality_codes=subsets(
        st.sampled_from(
            [MASQUE_PS, INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX, "N^^2.16.840.1.113883.5.25"]
        )
    ),
    author_ids=subsets(st.sampled_from(PEOPLE)),
    author_structures=subsets(st.sampled_from(STRUCTURES)),
    status=st.sampled_from([Status.APPROVED.value, Status.DEPRECATED.value]),
)
policies = st.sampled_from([DMP, IHE])


def oracle_gate(ctx: AccessContext, rec: RecordSettings | None) -> bool:
    """Issue 7 rules 6-7 and the patient binding, shared by reads and writes (dmp profile)."""
    if rec is None or rec.state in (PatientState.OPPOSED, PatientState.CLOSED):
        return False
    if ctx.actor_kind is ActorKind.PATIENT:
        return ctx.patient_ins == rec.patient_id
    if ctx.actor_kind is ActorKind.LEGAL_REPRESENTATIVE:
        return rec.patient_id in ctx.represented and ctx.national_id in rec.legal_representatives
    if ctx.actor_kind is not ActorKind.PROFESSIONAL:
        return False
    return ctx.patient_ins == rec.patient_id and ctx.national_id not in rec.blocked


def oracle_may_read_record(policy: Policy, ctx: AccessContext, rec: RecordSettings | None) -> bool:
    """Issue 7 rules 6-8, stated once."""
    if policy.mode is PolicyMode.IHE:
        return True
    if not oracle_gate(ctx, rec):
        return False
    assert rec is not None
    if ctx.actor_kind is not ActorKind.PROFESSIONAL:
        return True
    me = ctx.national_id
    reason_given = ctx.reason is not None and ctx.reason.strip() != ""
    return (
        me in rec.authorised
        or me == rec.medecin_traitant
        or me in rec.administrators
        or (ctx.access_mode is AccessMode.REGULATION and rec.samu_allowed)
        or (ctx.access_mode is AccessMode.BREAK_GLASS and reason_given and rec.break_glass_allowed)
    )


def oracle_document_rules(
    policy: Policy, ctx: AccessContext, rec: RecordSettings, doc: DocumentFacts
) -> bool:
    """Issue 7 rule 9 for one document of an open record (dmp profile, status aside)."""
    codes = doc.confidentiality_codes
    if ctx.actor_kind is ActorKind.PATIENT:
        return INVISIBLE_PATIENT not in codes
    if ctx.actor_kind is ActorKind.LEGAL_REPRESENTATIVE:
        return INVISIBLE_PATIENT not in codes and INVISIBLE_REPRESENTANTS_LEGAUX not in codes
    if ctx.actor_kind is not ActorKind.PROFESSIONAL:
        return False
    if ctx.national_id in doc.author_ids:
        return True
    administrator = ctx.national_id in rec.administrators or ctx.national_id == rec.medecin_traitant
    if MASQUE_PS in codes and not (administrator and ctx.access_mode is AccessMode.NORMAL):
        return False
    return oracle_matrix(policy, ctx, doc)


def oracle_matrix(policy: Policy, ctx: AccessContext, doc: DocumentFacts) -> bool:
    groups = policy.groups.groups_for(ctx.profession, ctx.role, ctx.genre_activite)
    return doc.type_code is not None and any(policy.matrix.cell(g, doc.type_code).allows for g in groups)


def oracle_may_see(
    policy: Policy, ctx: AccessContext, rec: RecordSettings | None, doc: DocumentFacts, deprecated: bool
) -> bool:
    """Issue 7 rule 9, stated once."""
    if not oracle_may_read_record(policy, ctx, rec):
        return False
    if doc.status == Status.DEPRECATED.value and not deprecated:
        return False
    if policy.mode is PolicyMode.IHE:
        return True
    assert rec is not None
    return oracle_document_rules(policy, ctx, rec, doc)


def oracle_may_write(
    ctx: AccessContext,
    rec: RecordSettings | None,
    doc: DocumentFacts,
    operation: WriteOperation,
    original: DocumentFacts | None,
) -> bool:
    """Issue 7 rule 10 (dmp profile), stated once."""
    if not oracle_gate(ctx, rec):
        return False
    assert rec is not None
    patient_side = ctx.actor_kind in (ActorKind.PATIENT, ActorKind.LEGAL_REPRESENTATIVE)
    existing = doc if operation is WriteOperation.DEPRECATE else original
    if operation is not WriteOperation.DEPOSIT:
        assert existing is not None
        if not oracle_document_rules(DMP, ctx, rec, existing):
            return False
        if patient_side:
            # the patient side may only toggle MASQUE_PS on a document it sees (issue 11)
            return (
                operation is WriteOperation.UPDATE_MASKING
                and original is not None
                and original.confidentiality_codes ^ doc.confidentiality_codes == {MASQUE_PS}
            )
        me = ctx.national_id
        author_side = me in existing.author_ids or (
            ctx.structure_id is not None and ctx.structure_id in existing.author_structures
        )
        administrator = me in rec.administrators or me == rec.medecin_traitant
        if not (author_side or (operation is WriteOperation.UPDATE_MASKING and administrator)):
            return False
    if operation is WriteOperation.DEPRECATE:
        return True
    if patient_side and doc.class_code != CLASS_PATIENT:
        return False
    if (
        not patient_side
        and operation is not WriteOperation.UPDATE_MASKING
        and not oracle_matrix(DMP, ctx, doc)
    ):
        return False
    if doc.has(MASQUE_PS) and doc.has(INVISIBLE_PATIENT):
        return False
    return doc.has(INVISIBLE_REPRESENTANTS_LEGAUX) or not ctx.secret_connection


class TestProperties:
    @settings(max_examples=50, deadline=None)
    @given(policies, contexts, records, documents, st.booleans())
    def test_engine_shows_exactly_what_the_rules_allow(
        self, policy: Policy, ctx: AccessContext, rec: RecordSettings | None, doc: DocumentFacts, dep: bool
    ) -> None:
        decision = policy.decide_document_visibility(ctx, rec, doc, include_deprecated=dep)
        assert decision.allowed == oracle_may_see(policy, ctx, rec, doc, dep), decision.trace

    @settings(max_examples=50, deadline=None)
    @given(policies, contexts, records)
    def test_record_access_follows_the_rules(
        self, policy: Policy, ctx: AccessContext, rec: RecordSettings | None
    ) -> None:
        decision = policy.decide_record_access(ctx, rec)
        assert decision.allowed == oracle_may_read_record(policy, ctx, rec), decision.trace

    @settings(max_examples=50, deadline=None)
    @given(contexts, records, documents, documents, st.sampled_from(WriteOperation))
    def test_record_write_gate_follows_the_rules_and_decide_write(
        self,
        ctx: AccessContext,
        rec: RecordSettings | None,
        doc: DocumentFacts,
        original: DocumentFacts,
        operation: WriteOperation,
    ) -> None:
        gate = DMP.decide_record_write(ctx, rec)
        assert gate.allowed == oracle_gate(ctx, rec), gate.trace
        assert IHE.decide_record_write(ctx, rec).allowed
        write = DMP.decide_write(ctx, rec, doc, operation, original=original)
        if not gate.allowed:  # the gate's refusal is decide_write's, whatever the document
            assert (write.allowed, write.code, write.reason) == (False, gate.code, gate.reason)

    @settings(max_examples=50, deadline=None)
    @given(policies, contexts, records, documents, st.booleans())
    def test_scope_agrees_with_the_decision(
        self, policy: Policy, ctx: AccessContext, rec: RecordSettings | None, doc: DocumentFacts, dep: bool
    ) -> None:
        scope = policy.visibility_scope(ctx, rec, include_deprecated=dep)
        decision = policy.decide_document_visibility(ctx, rec, doc, include_deprecated=dep)
        assert scope.admits(doc) == decision.allowed, (scope, decision.trace)

    @settings(max_examples=50, deadline=None)
    @given(contexts, records, documents, documents, st.sampled_from(WriteOperation))
    def test_engine_writes_exactly_what_the_rules_allow(
        self,
        ctx: AccessContext,
        rec: RecordSettings | None,
        doc: DocumentFacts,
        original: DocumentFacts,
        operation: WriteOperation,
    ) -> None:
        decision = DMP.decide_write(ctx, rec, doc, operation, original=original)
        assert decision.allowed == oracle_may_write(ctx, rec, doc, operation, original), decision.trace
        assert IHE.decide_write(ctx, rec, doc, operation, original=original).allowed


def _grid() -> list[tuple[AccessContext, RecordSettings | None, list[DocumentFacts]]]:
    """Every combination of the dimensions the professional rules branch on (about 26 000 cases, < 1 s):
    the actor's relation to the record, profession, mode, reason, emergency settings, record state,
    authorship, masking codes and type. Hypothesis samples the wider space; this grid covers the corners."""
    me, other = PEOPLE[0], PEOPLE[1]
    relations = ("authorised", "medecin_traitant", "administrators", "blocked", "none")
    emergency = ((True, True), (False, True), (True, False))
    states = (None, PatientState.ACTIVATED, PatientState.CLOSED)
    masks = (MASQUE_PS, INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX)
    code_sets = [frozenset(c) for n in range(4) for c in itertools.combinations(masks, n)]
    docs = [
        DocumentFacts(type_code, confidentiality_codes=code_set, author_ids=frozenset({author}))
        for author, code_set, type_code in itertools.product(
            (me, other), code_sets, (OPEN_TYPE, MEDECIN_ONLY_TYPE, UNKNOWN_TYPE)
        )
    ]
    cases = []
    dimensions = itertools.product(relations, ("10", "70"), AccessMode, (None, "coma"), emergency, states)
    for relation, profession, mode, reason, (samu, glass), state in dimensions:
        ctx = AccessContext(
            ActorKind.PROFESSIONAL,
            me,
            profession=profession,
            access_mode=mode,
            reason=reason,
            patient_ins=PATIENT,
        )
        rec = None
        if state is not None:
            people: dict[str, object] = {"authorised": frozenset({other})}
            if relation == "medecin_traitant":
                people["medecin_traitant"] = me
            elif relation != "none":
                people[relation] = frozenset({me})
            rec = RecordSettings(PATIENT, state, samu_allowed=samu, break_glass_allowed=glass, **people)  # type: ignore[arg-type]
        cases.append((ctx, rec, docs))
    return cases


class TestVisibilityGrid:
    def test_engine_and_scope_match_the_oracle_on_every_corner(self) -> None:
        mismatches = []
        for ctx, rec, docs in _grid():
            scope = DMP.visibility_scope(ctx, rec)
            for doc in docs:
                expected = oracle_may_see(DMP, ctx, rec, doc, False)
                decision = DMP.decide_document_visibility(ctx, rec, doc)
                if decision.allowed != expected or scope.admits(doc) != expected:
                    mismatches.append((expected, decision.allowed, scope, decision.trace))
        assert not mismatches, mismatches[:3]


class TestWriteGrid:
    def test_engine_matches_the_oracle_on_every_corner(self) -> None:
        """Professionals and patient-side actors x relation x operation x authorship x masking x type."""
        me, other = PEOPLE[0], PEOPLE[1]
        masks: tuple[frozenset[str], ...] = (
            frozenset(),
            frozenset({MASQUE_PS}),
            frozenset({MASQUE_PS, INVISIBLE_PATIENT}),
            frozenset({INVISIBLE_REPRESENTANTS_LEGAUX}),
        )
        actors = [
            AccessContext(
                ActorKind.PROFESSIONAL,
                me,
                profession=p,
                structure_id="S1",
                patient_ins=PATIENT,
                secret_connection=secret,
            )
            for p in ("10", "70")
            for secret in (False, True)
        ] + [
            AccessContext(ActorKind.PATIENT, PATIENT, patient_ins=PATIENT),
            AccessContext(ActorKind.LEGAL_REPRESENTATIVE, me, represented=frozenset({PATIENT})),
        ]
        records = [
            RecordSettings(PATIENT, state, legal_representatives=frozenset({me}), **people)
            for state in (PatientState.ACTIVATED, PatientState.CLOSED)
            for people in (
                {},
                {"authorised": frozenset({me})},
                {"administrators": frozenset({me})},
                {"medecin_traitant": me},
                {"blocked": frozenset({me})},
            )
        ]
        originals = [
            DocumentFacts(OPEN_TYPE, CLASS_CR, codes, frozenset({author}), frozenset({structure}))
            for author, structure in ((me, "S2"), (other, "S1"), (other, "S2"))
            for codes in (frozenset(), frozenset({MASQUE_PS}))
        ]
        new_docs = [
            DocumentFacts(type_code, class_code, codes, frozenset({me}))
            for type_code in (OPEN_TYPE, MEDECIN_ONLY_TYPE)
            for class_code in (CLASS_CR, CLASS_PATIENT)
            for codes in masks
        ]
        mismatches = []
        for ctx, rec, operation, original, doc in itertools.product(
            actors, records, WriteOperation, originals, new_docs
        ):
            subject = original if operation is WriteOperation.DEPRECATE else doc
            decision = DMP.decide_write(ctx, rec, subject, operation, original=original)
            if decision.allowed != oracle_may_write(ctx, rec, subject, operation, original):
                mismatches.append((ctx, rec, operation, original, subject, decision.trace))
        assert not mismatches, mismatches[:2]
