"""FindDocuments in SQL against a straightforward in-memory reading of the same rules, over random metadata
(seeded), on the fixture database (SQLite; PostgreSQL with XDS_DATABASE_URL). The random access-control
scopes are checked against ``VisibilityScope.admits``, the policy's own Python predicate."""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Sequence

import pytest

from xds_server.core.dtm import normalise_dtm
from xds_server.core.metadata import Author, Code, DocumentEntry
from xds_server.core.policy import VisibilityScope
from xds_server.core.policy.record import PS_NATIONAL_ID_OID, facts_from_entry
from xds_server.core.query import EVERYTHING
from xds_server.core.query.queries import FindDocuments
from xds_server.core.vocabulary import ObjectType

from .builders import APPROVED, DEPRECATED, OTHER_PATIENT, PATIENT, Registry, document, q, s

STABLE, ON_DEMAND = ObjectType.STABLE_DOCUMENT.value, ObjectType.ON_DEMAND_DOCUMENT.value
SCHEMES = ("1.2.3", "1.2.4")
CODE_VALUES = ("A", "B", "C", "D")
PERSONS = (
    "^Ford^Harrison",
    "^Smith^Jo",
    "^O'Brien^Pat",
    "^100%^Percent",
    "^under_score^U",
    "^back\\slash^B",
    "^star*[x]?^S",
    "^ford^harrison",
    "801234567^Martin^Claire^^^^^^&" + PS_NATIONAL_ID_OID + "&ISO",
    "801234567^Martin^Claire^^^^^^&1.2.3.4&ISO",
    "809999999^Durand^Paul^^^^^^&" + PS_NATIONAL_ID_OID + "&ISO",
)
PATTERNS = (
    "%Ford%",
    "%ford%",
    "^Sm_th%",
    "%'%",
    "%100\\%%",
    "%100%",
    "%under_score%",
    "%\\%",
    "%*%",
    "%[x]%",
    "%?%",
    "^Smith^Jo",
    "_%",
    "%",
    "801234567^%",
)
TIMES = (
    None,
    "2004",
    "200406",
    "20040615",
    "2004061512",
    "200406151230",
    "20040615123045",
    "2005",
    "20051231235959",
)


def random_code(rng: random.Random) -> Code:
    return Code(rng.choice(CODE_VALUES), rng.choice(SCHEMES), "d")


def random_document(rng: random.Random) -> DocumentEntry:
    return document(
        patient_id=rng.choice((PATIENT, PATIENT, OTHER_PATIENT)),
        status=rng.choice((APPROVED, APPROVED, DEPRECATED)),
        object_type=rng.choice((STABLE, STABLE, ON_DEMAND)),
        class_code=random_code(rng),
        type_code=random_code(rng),
        format_code=random_code(rng),
        practice_setting_code=random_code(rng),
        healthcare_facility_type_code=random_code(rng),
        event_codes=tuple({random_code(rng) for _ in range(rng.randint(0, 3))}),
        confidentiality_codes=tuple({random_code(rng) for _ in range(rng.randint(1, 2))}),
        authors=tuple(Author(person=p) for p in rng.sample(PERSONS, rng.randint(0, 2))),
        creation_time=rng.choice(TIMES),
        service_start_time=rng.choice(TIMES),
        service_stop_time=rng.choice(TIMES),
    )


# ---- the reference --------------------------------------------------------------------------------------


def like(pattern: str, value: str) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL) is not None


def in_range(value: str | None, low: str | None, high: str | None) -> bool:
    if low is None and high is None:
        return True
    norm = normalise_dtm(value)
    if norm is None:
        return False
    return (low is None or norm >= low) and (high is None or norm < high)


def reference(docs: Sequence[DocumentEntry], f: dict[str, object], scope: VisibilityScope) -> set[str]:
    out = set()
    for d in docs:
        checks = [
            d.patient_id == f["patient"],
            d.status in f["statuses"],  # type: ignore[operator]
            d.object_type in f["types"],  # type: ignore[operator]
        ]
        for attr in (
            "class_code",
            "type_code",
            "format_code",
            "practice_setting_code",
            "healthcare_facility_type_code",
        ):
            wanted = f.get(attr)
            if wanted is not None:
                code = getattr(d, attr)
                checks.append(code is not None and code.key() in wanted)  # type: ignore[operator]
        for attr in ("event_codes", "confidentiality_codes"):
            keys = {c.key() for c in getattr(d, attr)}
            checks.extend(bool(keys & group) for group in f.get(attr, ()))  # type: ignore[attr-defined]
        patterns = f.get("authors")
        if patterns is not None:
            checks.append(any(a.person and like(p, a.person) for a in d.authors for p in patterns))  # type: ignore[attr-defined]
        for attr in ("creation_time", "service_start_time", "service_stop_time"):
            low, high = f.get(attr, (None, None))  # type: ignore[misc]
            checks.append(in_range(getattr(d, attr), low, high))
        checks.append(visible(d, scope))
        if all(checks):
            out.add(d.entry_uuid)
    return out


def visible(d: DocumentEntry, scope: VisibilityScope) -> bool:
    if scope == EVERYTHING:
        return True
    if scope.patient_id is not None and d.patient_id != scope.patient_id:
        return False
    return scope.admits(dataclasses.replace(facts_from_entry(d), status=d.status or APPROVED))


# ---- random queries -------------------------------------------------------------------------------------


def random_query(rng: random.Random) -> tuple[dict[str, object], dict[str, object]]:
    """(stored-query parameters, the same filter for the reference)."""
    statuses = rng.choice(((APPROVED,), (DEPRECATED,), (APPROVED, DEPRECATED)))
    patient = rng.choice((PATIENT, OTHER_PATIENT))
    params: dict[str, object] = {
        "$XDSDocumentEntryPatientId": s(patient),
        "$XDSDocumentEntryStatus": q(*statuses),
    }
    ref: dict[str, object] = {"patient": patient, "statuses": set(statuses), "types": {STABLE}}
    if rng.random() < 0.2:
        types = rng.choice(((ON_DEMAND,), (STABLE, ON_DEMAND)))
        params["$XDSDocumentEntryType"] = q(*types)
        ref["types"] = set(types)

    def keys(n: int) -> list[str]:
        return [f"{rng.choice((*CODE_VALUES, 'Z'))}^^{rng.choice(SCHEMES)}" for _ in range(n)]

    for attr, name in (
        ("class_code", "$XDSDocumentEntryClassCode"),
        ("type_code", "$XDSDocumentEntryTypeCode"),
        ("format_code", "$XDSDocumentEntryFormatCode"),
        ("practice_setting_code", "$XDSDocumentEntryPracticeSettingCode"),
        ("healthcare_facility_type_code", "$XDSDocumentEntryHealthcareFacilityTypeCode"),
    ):
        if rng.random() < 0.2:
            values = keys(rng.randint(1, 4))
            params[name] = q(*values)
            ref[attr] = set(values)
    for attr, name in (
        ("event_codes", "$XDSDocumentEntryEventCodeList"),
        ("confidentiality_codes", "$XDSDocumentEntryConfidentialityCode"),
    ):
        if rng.random() < 0.25:
            groups = [keys(rng.randint(1, 3)) for _ in range(rng.randint(1, 2))]
            params[name] = [q(*g) for g in groups]
            ref[attr] = [set(g) for g in groups]
    if rng.random() < 0.25:
        patterns = rng.sample(PATTERNS, rng.randint(1, 2))
        params["$XDSDocumentEntryAuthorPerson"] = q(*patterns)
        ref["authors"] = patterns
    for attr, prefix in (
        ("creation_time", "$XDSDocumentEntryCreationTime"),
        ("service_start_time", "$XDSDocumentEntryServiceStartTime"),
        ("service_stop_time", "$XDSDocumentEntryServiceStopTime"),
    ):
        if rng.random() < 0.2:
            low = rng.choice((*TIMES, None))
            high = rng.choice((*TIMES, None))
            if low:
                params[prefix + "From"] = low
            if high:
                params[prefix + "To"] = high
            ref[attr] = (normalise_dtm(low), normalise_dtm(high))
    return params, ref


def random_scope(rng: random.Random) -> VisibilityScope:
    if rng.random() < 0.5:
        return EVERYTHING
    return VisibilityScope(
        patient_id=rng.choice((None, PATIENT)),
        record_allowed=rng.random() < 0.9,
        unrestricted=rng.random() < 0.2,
        include_deprecated=rng.random() < 0.5,
        allowed_type_codes=rng.choice((None, frozenset(), frozenset({"A^^1.2.3", "B^^1.2.4"}))),
        hidden_confidentiality_codes=rng.choice((frozenset(), frozenset({"C^^1.2.3", "D^^1.2.4"}))),
        author_ids=rng.choice((frozenset(), frozenset({"801234567"}))),
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_find_documents_matches_the_reference(registry: Registry, seed: int) -> None:
    rng = random.Random(seed)
    docs = [random_document(rng) for _ in range(150)]
    registry.add(docs)
    nonempty = 0
    for _ in range(120):
        params, ref = random_query(rng)
        scope = random_scope(rng)
        expected = reference(docs, ref, scope)
        got = registry.ids(FindDocuments.query_id, params, scope=scope)
        assert got == expected, (params, scope)
        nonempty += bool(expected)
    assert nonempty > 15  # the random queries do select something
