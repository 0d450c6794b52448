"""core.usecases.register: validate -> plan -> write, all or nothing (NIST 12084)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fakes import FixedClock, InMemoryRegistryStore, SequentialIds
from xds_server.core.errors import ErrorCode, XdsError
from xds_server.core.metadata import Association, DocumentEntry, Folder, Slot, Submission
from xds_server.core.ports import PatientState
from xds_server.core.profile import IHE_DEFAULT
from xds_server.core.usecases.register import dtm_now, register, register_plan

from ..builders import (
    APND,
    APPROVED,
    DEPRECATED,
    OTHER_PATIENT,
    PATIENT,
    RPLC,
    association,
    document,
    filed,
    folder,
    stored,
    submission,
    submission_set,
)

D0 = "urn:uuid:d0000000-0000-4000-8000-000000000000"
D1 = "urn:uuid:d1000000-0000-4000-8000-000000000000"
F0 = "urn:uuid:f0000000-0000-4000-8000-000000000000"
SS0 = "urn:uuid:50000000-0000-4000-8000-000000000000"


def seeded_store(patient_known: bool = True) -> InMemoryRegistryStore:
    store = InMemoryRegistryStore([(PATIENT, PatientState.ACTIVATED)] if patient_known else [])
    store.put(
        stored(document(unique_id="1.9.1"), D0),
        stored(document(unique_id="1.9.2"), D1, status=DEPRECATED),
        stored(folder(unique_id="1.9.3"), F0),
        stored(submission_set(unique_id="1.9.4"), SS0),
        stored(association(F0, D0), "urn:uuid:a0000000-0000-4000-8000-000000000000"),
    )
    return store


def run(sub: Submission, store: InMemoryRegistryStore, transaction: str = "ITI-42") -> tuple[object, ...]:
    return register(
        sub,
        store=store,
        profile=IHE_DEFAULT,
        clock=FixedClock(),
        ids=SequentialIds(),
        transaction=transaction,
    )


class TestSuccess:
    def test_objects_written_with_final_ids(self) -> None:
        store = seeded_store()
        before = set(store.objects)
        warnings = run(submission(folders=(folder(),), associations=filed("Folder01", "Document01")), store)
        assert warnings == ()
        new = {u: o for u, o in store.objects.items() if u not in before}
        assert len(new) == 7 and all(o.status == APPROVED for o in new.values())
        assert sum(isinstance(o, DocumentEntry) for o in new.values()) == 1
        (fol,) = [o for o in new.values() if isinstance(o, Folder)]
        assert fol.last_update_time == "20260102030405"

    def test_replacement_deprecates_and_joins_folder(self) -> None:
        store = seeded_store()
        run(submission(associations=(association("Document01", D0, RPLC, "r"),)), store)
        assert store.status_of(D0) == DEPRECATED
        folder_links = [
            o for o in store.of_kind(Association) if isinstance(o, Association) and o.source == F0
        ]
        assert len(folder_links) == 2
        touched = store.objects[F0]
        assert isinstance(touched, Folder) and touched.last_update_time == "20260102030405"

    def test_plan_variant_reports_final_ids(self) -> None:
        store = seeded_store()
        p = register_plan(
            submission(), store=store, profile=IHE_DEFAULT, clock=FixedClock(), ids=SequentialIds()
        )
        assert p.final_id("Document01") in store.objects

    def test_iti41_metadata_without_repository_items(self) -> None:
        store = seeded_store()
        doc = document(hash=None, size=None, repository_unique_id=None)
        run(submission(doc), store, transaction="ITI-41")
        assert any(isinstance(o, DocumentEntry) and o.hash is None for o in store.objects.values())


class TestFailureWritesNothing:
    def test_validation_failure(self) -> None:
        # NIST 12084: one of two documents lacks repositoryUniqueId; nothing is stored.
        store = seeded_store()
        before = dict(store.objects)
        with pytest.raises(XdsError) as exc:
            run(submission(document("D1"), document("D2", repository_unique_id=None)), store)
        assert [i.location for i in exc.value.issues] == ["D2/repositoryUniqueId"]
        assert store.writes == [] and store.objects == before

    def test_registry_failure(self) -> None:
        store = seeded_store()
        before = dict(store.objects)
        with pytest.raises(XdsError) as exc:
            run(submission(associations=(association("Document01", D1, RPLC, "r"),)), store)
        assert [i.code for i in exc.value.issues] == [ErrorCode.REGISTRY_DEPRECATED_DOCUMENT_ERROR]
        assert store.writes == [] and store.objects == before


class TestDtmNow:
    def test_utc(self) -> None:
        assert dtm_now(FixedClock(datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC))) == "20260506070809"

    def test_other_zone_converted(self) -> None:
        paris = timezone(timedelta(hours=2))
        assert dtm_now(FixedClock(datetime(2026, 5, 6, 7, 8, 9, tzinfo=paris))) == "20260506050809"

    def test_naive_taken_as_utc(self) -> None:
        assert dtm_now(FixedClock(datetime(2026, 5, 6, 7, 8, 9))) == "20260506070809"


# -- property: a submission that fails never writes -------------------------------------------------------
Mutation = Callable[[Submission], Submission]


def _doc(sub: Submission, **changes: object) -> Submission:
    return dataclasses.replace(sub, documents=(dataclasses.replace(sub.documents[0], **changes),))


def _add(sub: Submission, *associations: Association) -> Submission:
    return dataclasses.replace(sub, associations=(*sub.associations, *associations))


#: Each of these alone makes the submission fail.
HARMFUL: dict[str, Mutation] = {
    "no class code": lambda s: _doc(s, class_code=None),
    "bad hash": lambda s: _doc(s, hash="xyz"),
    "other patient": lambda s: _doc(s, patient_id=OTHER_PATIENT),
    "stored uid, other hash": lambda s: _doc(s, unique_id="1.9.1", hash="0" * 40),
    "ss uid reused": lambda s: dataclasses.replace(
        s, submission_sets=(dataclasses.replace(s.submission_sets[0], unique_id="1.9.4"),)
    ),
    "no membership": lambda s: dataclasses.replace(s, associations=()),
    "rplc unknown": lambda s: _add(
        s, association("Document01", "urn:uuid:00000000-0000-4000-8000-00000000dead", RPLC, "x1")
    ),
    "rplc deprecated": lambda s: _add(s, association("Document01", D1, RPLC, "x2")),
    "reuse stored id": lambda s: dataclasses.replace(
        s,
        documents=(dataclasses.replace(s.documents[0], entry_uuid=D0),),
        associations=tuple(dataclasses.replace(a, target=D0) for a in s.associations),
    ),
}

#: None of these makes the submission fail (resubmission, relationships, folders, extra slots).
HARMLESS: dict[str, Mutation] = {
    "stored uid, same content": lambda s: _doc(s, unique_id="1.9.1"),
    "rplc approved": lambda s: _add(s, association("Document01", D0, RPLC, "x3")),
    "apnd approved": lambda s: _add(s, association("Document01", D0, APND, "x4")),
    "into stored folder": lambda s: _add(s, *filed(F0, "Document01", "x5")),
    "extra slot": lambda s: _doc(s, extra_slots=(Slot("urn:example:x", ("1",)),)),
}


class TestFailingSubmissionNeverWrites:
    @settings(max_examples=50, deadline=None)
    @given(
        harmful=st.lists(st.sampled_from(sorted(HARMFUL)), max_size=2, unique=True),
        harmless=st.lists(st.sampled_from(sorted(HARMLESS)), max_size=3, unique=True),
        patient_known=st.booleans(),
    )
    def test_all_or_nothing(self, harmful: list[str], harmless: list[str], patient_known: bool) -> None:
        sub = submission()
        for name in harmless:
            sub = HARMLESS[name](sub)
        for name in harmful:
            sub = HARMFUL[name](sub)
        store = seeded_store(patient_known)
        before = dict(store.objects)
        should_fail = bool(harmful) or not patient_known
        try:
            warnings = run(sub, store)
        except XdsError as exc:
            assert should_fail, (harmless, exc.issues)
            assert store.writes == [] and store.objects == before
        else:
            assert not should_fail, (harmful, harmless, patient_known)
            assert all(not w.is_error for w in warnings)
            assert store.writes and len(store.objects) > len(before)
