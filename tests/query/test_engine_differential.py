"""Every stored query on random registries, run by the engine twice: on ``SqlQueryPort`` (fixture database)
and on the in-memory ``FakeQueryPort`` (the rules object by object). Same answer, same order, same errors,
with random $MetadataLevel, return types, result caps and VisibilityScopes."""

from __future__ import annotations

import functools
import random
from collections.abc import Callable

import pytest

from xds_server.core.errors import XdsError
from xds_server.core.metadata import (
    AnyObject,
    Association,
    Author,
    Code,
    DocumentEntry,
    Folder,
    SubmissionSet,
)
from xds_server.core.query import (
    EVERYTHING,
    QueryPort,
    QueryResult,
    QuerySettings,
    StoredQueryRequest,
    Transaction,
    run_stored_query,
)
from xds_server.core.query.queries import (
    FindDocuments,
    FindDocumentsByReferenceId,
    FindDocumentsForMultiplePatients,
    FindFolders,
    FindFoldersForMultiplePatients,
    FindSubmissionSets,
    GetAll,
    GetAssociations,
    GetDocuments,
    GetDocumentsAndAssociations,
    GetFolderAndContents,
    GetFolders,
    GetFoldersForDocument,
    GetRelatedDocuments,
    GetSubmissionSetAndContents,
    GetSubmissionSets,
)
from xds_server.core.vocabulary import ObjectType

from .builders import (
    APND,
    APPROVED,
    DEPRECATED,
    HAS_MEMBER,
    OTHER_PATIENT,
    PATIENT,
    RPLC,
    Registry,
    document,
    folder,
    new_uid,
    new_uuid,
    q,
    s,
    slots_of,
    submission_set,
)
from .fake_port import FakeQueryPort
from .test_differential import PERSONS, random_query, random_scope

SCHEME = "1.2.3"
CODES = ("A", "B", "C")
STABLE, ON_DEMAND = ObjectType.STABLE_DOCUMENT.value, ObjectType.ON_DEMAND_DOCUMENT.value
STATUSES = (q(APPROVED), q(DEPRECATED), q(APPROVED, DEPRECATED))


def c(rng: random.Random) -> Code:
    return Code(rng.choice(CODES), SCHEME, "d")


def random_registry(rng: random.Random) -> list[AnyObject]:
    objects: list[AnyObject] = []
    documents: dict[str, list[DocumentEntry]] = {PATIENT: [], OTHER_PATIENT: []}
    folders: dict[str, list[Folder]] = {PATIENT: [], OTHER_PATIENT: []}

    def assoc(source: str, target: str, kind: str = HAS_MEMBER) -> Association:
        status = DEPRECATED if rng.random() < 0.1 else APPROVED
        return Association(new_uuid(), status=status, association_type=kind, source=source, target=target)

    for _ in range(14):
        patient = rng.choice((PATIENT, PATIENT, OTHER_PATIENT))
        ss = submission_set(
            patient_id=patient,
            status=APPROVED,
            submission_time=rng.choice(("2004", "20050101", "2006")),
            authors=(Author(person=rng.choice(PERSONS)),),
            content_type_code=c(rng),
            source_id=rng.choice(("1.1", "1.2")),
        )
        objects.append(ss)
        members: list[AnyObject] = []
        for _ in range(rng.randint(0, 4)):
            uuid = new_uuid()
            previous = documents[patient][-1] if documents[patient] and rng.random() < 0.15 else None
            d = document(
                entry_uuid=uuid,
                patient_id=patient,
                status=rng.choice((APPROVED, APPROVED, DEPRECATED)),
                object_type=rng.choice((STABLE, STABLE, ON_DEMAND)),
                # an occasional new version of the previous entry (Metadata Update)
                logical_id=previous.logical_id if previous else uuid,
                version=str(int(previous.version or 1) + 1) if previous else "1",
                class_code=c(rng),
                type_code=c(rng),
                format_code=c(rng),
                event_codes=tuple({c(rng) for _ in range(rng.randint(0, 2))}),
                confidentiality_codes=tuple({c(rng) for _ in range(rng.randint(1, 2))}),
                authors=(Author(person=rng.choice(PERSONS)),),
                reference_ids=tuple(rng.sample(("R1", "R2", "R3"), rng.randint(0, 2))),
                creation_time=rng.choice(("2004", "20040615", "2005", None)),
            )
            documents[patient].append(d)
            members.append(d)
        for _ in range(rng.randint(0, 1)):
            f = folder(
                patient_id=patient,
                status=APPROVED,
                codes=tuple({c(rng) for _ in range(rng.randint(1, 2))}),
                last_update_time=rng.choice(("2004", "2005")),
            )
            folders[patient].append(f)
            members.append(f)
        objects.extend(members)
        for m in members:
            objects.append(assoc(ss.entry_uuid, m.entry_uuid))
        for f in folders[patient]:
            for d in rng.sample(documents[patient], min(len(documents[patient]), rng.randint(0, 2))):
                link = assoc(f.entry_uuid, d.entry_uuid)
                objects.extend((link, assoc(ss.entry_uuid, link.entry_uuid)))
        docs = documents[patient]
        if len(docs) >= 2 and rng.random() < 0.6:
            new, old = rng.sample(docs, 2)
            objects.append(assoc(new.entry_uuid, old.entry_uuid, rng.choice((RPLC, APND))))
    return objects


class Picker:
    def __init__(self, rng: random.Random, objects: list[AnyObject]) -> None:
        self.rng = rng
        self.objects = objects

    def of(self, kind: type) -> list[AnyObject]:
        return [o for o in self.objects if isinstance(o, kind)] or [document()]

    def uuids(self, kind: type, n: int = 3) -> str:
        pool = self.of(kind)
        chosen = [o.entry_uuid for o in self.rng.sample(pool, min(len(pool), self.rng.randint(1, n)))]
        return q(*chosen, "urn:uuid:not-there") if self.rng.random() < 0.2 else q(*chosen)

    def one(self, kind: type, attribute: str = "entry_uuid") -> str:
        return s(getattr(self.rng.choice(self.of(kind)), attribute) or "x")

    def many(self, kind: type, attribute: str) -> str:
        pool = self.of(kind)
        return q(*{getattr(o, attribute) or "x" for o in self.rng.sample(pool, min(len(pool), 2))})


def random_params(rng: random.Random, objects: list[AnyObject]) -> tuple[str, dict[str, object]]:
    pick = Picker(rng, objects)
    patient = s(rng.choice((PATIENT, OTHER_PATIENT)))
    codes = [q(*{f"{rng.choice(CODES)}^^{SCHEME}" for _ in range(2)}) for _ in range(3)]
    content = {
        "$XDSDocumentEntryFormatCode": codes[0],
        "$XDSDocumentEntryConfidentialityCode": [codes[1], codes[2]][: rng.randint(1, 2)],
        "$XDSDocumentEntryType": q(rng.choice((STABLE, ON_DEMAND))),
    }
    optional = {k: v for k, v in content.items() if rng.random() < 0.25}
    choices: dict[str, Callable[[], dict[str, object]]] = {
        FindDocuments.query_id: lambda: random_query(rng)[0],
        FindDocumentsByReferenceId.query_id: lambda: {
            **random_query(rng)[0],
            "$XDSDocumentEntryReferenceIdList": [q(*rng.sample(("R1", "R2", "R3"), 2)), q("R1")][
                : rng.randint(1, 2)
            ],
        },
        FindSubmissionSets.query_id: lambda: {
            "$XDSSubmissionSetPatientId": patient,
            "$XDSSubmissionSetStatus": q(APPROVED),
            **(
                {"$XDSSubmissionSetAuthorPerson": s(rng.choice(("%Ford%", "%o%", "^Smith^Jo")))}
                if rng.random() < 0.4
                else {}
            ),
            **({"$XDSSubmissionSetContentType": codes[0]} if rng.random() < 0.4 else {}),
            **({"$XDSSubmissionSetSourceId": q("1.1")} if rng.random() < 0.3 else {}),
            **({"$XDSSubmissionSetSubmissionTimeFrom": "2005"} if rng.random() < 0.4 else {}),
        },
        FindFolders.query_id: lambda: {
            "$XDSFolderPatientId": patient,
            "$XDSFolderStatus": q(APPROVED),
            **(
                {"$XDSFolderCodeList": [codes[0], codes[1]][: rng.randint(1, 2)]}
                if rng.random() < 0.5
                else {}
            ),
            **({"$XDSFolderLastUpdateTimeTo": "2005"} if rng.random() < 0.4 else {}),
        },
        GetAll.query_id: lambda: {
            "$patientId": patient,
            "$XDSDocumentEntryStatus": rng.choice(STATUSES),
            "$XDSSubmissionSetStatus": q(APPROVED),
            "$XDSFolderStatus": q(APPROVED),
            **optional,
        },
        GetDocuments.query_id: lambda: rng.choice(
            (
                {"$XDSDocumentEntryEntryUUID": pick.uuids(DocumentEntry)},
                {"$XDSDocumentEntryUniqueId": pick.many(DocumentEntry, "unique_id")},
                {"$XDSDocumentEntryLogicalID": pick.many(DocumentEntry, "logical_id")},
            )
        ),
        GetFolders.query_id: lambda: rng.choice(
            (
                {"$XDSFolderEntryUUID": pick.uuids(Folder)},
                {"$XDSFolderUniqueId": pick.many(Folder, "unique_id")},
            )
        ),
        GetAssociations.query_id: lambda: {
            "$uuid": pick.uuids(rng.choice((DocumentEntry, Folder, SubmissionSet)))
        },
        GetDocumentsAndAssociations.query_id: lambda: rng.choice(
            (
                {"$XDSDocumentEntryEntryUUID": pick.uuids(DocumentEntry)},
                {"$XDSDocumentEntryUniqueId": pick.many(DocumentEntry, "unique_id")},
            )
        ),
        GetSubmissionSets.query_id: lambda: {"$uuid": pick.uuids(rng.choice((DocumentEntry, Folder)))},
        GetSubmissionSetAndContents.query_id: lambda: {
            **rng.choice(
                (
                    {"$XDSSubmissionSetEntryUUID": pick.one(SubmissionSet)},
                    {"$XDSSubmissionSetUniqueId": pick.one(SubmissionSet, "unique_id")},
                )
            ),
            **optional,
        },
        GetFolderAndContents.query_id: lambda: {
            **rng.choice(
                (
                    {"$XDSFolderEntryUUID": pick.one(Folder)},
                    {"$XDSFolderUniqueId": pick.one(Folder, "unique_id")},
                )
            ),
            **optional,
        },
        GetFoldersForDocument.query_id: lambda: rng.choice(
            (
                {"$XDSDocumentEntryEntryUUID": pick.one(DocumentEntry)},
                {"$XDSDocumentEntryUniqueId": pick.one(DocumentEntry, "unique_id")},
            )
        ),
        GetRelatedDocuments.query_id: lambda: {
            "$XDSDocumentEntryEntryUUID": pick.one(DocumentEntry),
            "$AssociationTypes": rng.choice((q(RPLC), q(APND), q(RPLC, APND, HAS_MEMBER))),
            **({"$XDSDocumentEntryType": content["$XDSDocumentEntryType"]} if rng.random() < 0.3 else {}),
        },
        FindDocumentsForMultiplePatients.query_id: lambda: {
            **{k: v for k, v in random_query(rng)[0].items() if k != "$XDSDocumentEntryPatientId"},
            "$XDSDocumentEntryClassCode": codes[0],
            **({"$XDSDocumentEntryPatientId": q(PATIENT)} if rng.random() < 0.3 else {}),
        },
        FindFoldersForMultiplePatients.query_id: lambda: {"$XDSFolderStatus": q(APPROVED)},
    }
    query_id = rng.choice(sorted(choices))
    params = choices[query_id]()
    if rng.random() < 0.4:
        params["$MetadataLevel"] = rng.choice(("1", "2"))
    return query_id, params


def outcome(query: Callable[[QueryPort], QueryResult], port: QueryPort) -> tuple[str, ...]:
    try:
        result = query(port)
    except XdsError as error:
        return ("error", *sorted({issue.code.value for issue in error.issues}))
    return ("ok", result.return_type.value, *result.object_refs)


@pytest.mark.parametrize("seed", [11, 12])
def test_every_query_same_answer_in_sql_and_in_memory(registry: Registry, seed: int) -> None:
    rng = random.Random(seed)
    objects = random_registry(rng)
    registry.add(objects)
    fake = FakeQueryPort(objects)
    answered = 0
    with registry.port() as sql:
        for _ in range(150):
            query_id, params = random_params(rng, objects)
            mpq = query_id in (
                FindDocumentsForMultiplePatients.query_id,
                FindFoldersForMultiplePatients.query_id,
            )
            request = StoredQueryRequest(
                query_id, return_type=rng.choice(("ObjectRef", "LeafClass")), slots=tuple(slots_of(params))
            )
            settings = QuerySettings(max_results=rng.choice((3, 10_000)), multi_patient_enabled=True)
            scope = random_scope(rng)
            transaction = Transaction.MULTI_PATIENT_QUERY if mpq else Transaction.STORED_QUERY

            query = functools.partial(
                run_stored_query, request, settings=settings, scope=scope, transaction=transaction
            )
            expected = outcome(query, fake)
            assert outcome(query, sql) == expected, (query_id, params, scope, settings)
            answered += expected[0] == "ok" and len(expected) > 2
    assert answered > 40


def test_fake_port_sanity(registry: Registry) -> None:
    """The fake is not vacuous: it finds what a plain FindDocuments must find."""
    d = document(status=APPROVED, entry_uuid=new_uuid(), unique_id=new_uid())
    fake = FakeQueryPort([d])
    params = {"$XDSDocumentEntryPatientId": s(PATIENT), "$XDSDocumentEntryStatus": q(APPROVED)}
    request = StoredQueryRequest(FindDocuments.query_id, slots=tuple(slots_of(params)))
    assert run_stored_query(request, fake, scope=EVERYTHING).object_refs == (d.entry_uuid,)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [21, 22])
def test_registrations_same_answer_in_sql_and_in_memory(registry: Registry, seed: int) -> None:
    """ITI-67's one read for "the SubmissionSet that registered each entry": the SQL skips the package test
    (a SubmissionSet with a visible member is visible); the in-memory reading applies it. Random scopes hide
    entries (masks, type codes, other records, a refused record): a hidden entry never gets a row."""
    rng = random.Random(seed)
    objects = random_registry(rng)
    registry.add(objects)
    fake = FakeQueryPort(objects)
    entries = sorted(o.entry_uuid for o in objects if isinstance(o, DocumentEntry))
    found = refused = 0
    with registry.port() as sql:
        for _ in range(80):
            wanted = frozenset(rng.sample(entries, min(len(entries), rng.randint(1, 12))))
            scope = random_scope(rng)
            statuses = rng.choice((None, frozenset({APPROVED})))
            answers = [
                sorted(
                    (entry, row.entry_uuid)
                    for entry, row in port.find_registrations(
                        wanted, scope=scope, statuses=statuses, with_xml=False
                    )
                )
                for port in (fake, sql)
            ]
            assert answers[1] == answers[0], (sorted(wanted), scope, statuses)
            found += len(answers[0])
            refused += len(wanted) - len({entry for entry, _ in answers[0]})
    assert found > 30 and refused > 30  # both sides of the rule were exercised
