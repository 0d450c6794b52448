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

from .builders import DMP, IHE, MEDECIN_ONLY_TYPE, OPEN_TYPE, OTHER_PATIENT, PATIENT, UNKNOWN_TYPE

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


def oracle_may_read_record(policy: Policy, ctx: AccessContext, rec: RecordSettings | None) -> bool:
    """Issue 7 rules 6-8, stated once."""
    if policy.mode is PolicyMode.IHE:
        return True
    if rec is None or rec.state in (PatientState.OPPOSED, PatientState.CLOSED):
        return False
    me = ctx.national_id
    if ctx.actor_kind is ActorKind.PATIENT:
        return ctx.patient_ins == rec.patient_id
    if ctx.actor_kind is ActorKind.LEGAL_REPRESENTATIVE:
        return rec.patient_id in ctx.represented and me in rec.legal_representatives
    if ctx.actor_kind is not ActorKind.PROFESSIONAL:
        return False
    if ctx.patient_ins != rec.patient_id or me in rec.blocked:
        return False
    reason_given = ctx.reason is not None and ctx.reason.strip() != ""
    return (
        me in rec.authorised
        or me == rec.medecin_traitant
        or me in rec.administrators
        or (ctx.access_mode is AccessMode.REGULATION and rec.samu_allowed)
        or (ctx.access_mode is AccessMode.BREAK_GLASS and reason_given and rec.break_glass_allowed)
    )


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
    codes = doc.confidentiality_codes
    if ctx.actor_kind is ActorKind.PATIENT:
        return INVISIBLE_PATIENT not in codes
    if ctx.actor_kind is ActorKind.LEGAL_REPRESENTATIVE:
        return INVISIBLE_PATIENT not in codes and INVISIBLE_REPRESENTANTS_LEGAUX not in codes
    if ctx.national_id in doc.author_ids:
        return True
    administrator = ctx.national_id in rec.administrators or ctx.national_id == rec.medecin_traitant
    if MASQUE_PS in codes and not (administrator and ctx.access_mode is AccessMode.NORMAL):
        return False
    groups = policy.groups.groups_for(ctx.profession, ctx.role, ctx.genre_activite)
    return doc.type_code is not None and any(policy.matrix.cell(g, doc.type_code).allows for g in groups)


class TestVisibilityProperty:
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
    @given(policies, contexts, records, documents, st.booleans())
    def test_scope_agrees_with_the_decision(
        self, policy: Policy, ctx: AccessContext, rec: RecordSettings | None, doc: DocumentFacts, dep: bool
    ) -> None:
        scope = policy.visibility_scope(ctx, rec, include_deprecated=dep)
        decision = policy.decide_document_visibility(ctx, rec, doc, include_deprecated=dep)
        assert scope.admits(doc) == decision.allowed, (scope, decision.trace)

    @settings(max_examples=50, deadline=None)
    @given(contexts, records, documents, st.sampled_from(WriteOperation))
    def test_no_write_reaches_a_closed_record_or_comes_from_a_blocked_professional(
        self, ctx: AccessContext, rec: RecordSettings | None, doc: DocumentFacts, operation: WriteOperation
    ) -> None:
        decision = DMP.decide_write(ctx, rec, doc, operation, original=doc)
        if rec is None or not rec.is_open:
            assert not decision.allowed
        if rec is not None and ctx.actor_kind is ActorKind.PROFESSIONAL and ctx.national_id in rec.blocked:
            assert not decision.allowed
        if decision.allowed and operation.produces_document:
            assert not (doc.has(MASQUE_PS) and doc.has(INVISIBLE_PATIENT))
            assert doc.has(INVISIBLE_REPRESENTANTS_LEGAUX) or not ctx.secret_connection


def _grid() -> list[tuple[AccessContext, RecordSettings | None, list[DocumentFacts]]]:
    """Every combination of the dimensions the professional rules branch on (about 50 000 cases, ~2 s):
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
