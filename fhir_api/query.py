"""FHIR search values -> the query engine's criteria, shared by ITI-67 (DocumentReference) and ITI-66 (List).

The searches compile to the very criteria classes ITI-18 compiles to (``core.query.DocumentCriteria`` ...),
read through the same ``Fetcher`` (the registry's result cap: XDSTooManyResults), in the same visibility scope
(``wiring.access.query_scope``, from the same patient Slot ITI-18 would send). This module holds the value
syntaxes both searches share: tokens (``system|code``, ``code``, ``|code``) as XDS code keys, patient
references and identifiers as canonical CX ids, XCN author names as the engine's LIKE patterns.

Token forms: ``system|code`` is the code in that scheme (``coding_scheme(system)``: LOINC, SNOMED, the ANS
URLs ... back to their OIDs); ``code`` the code in any scheme (``criteria.ANY_SCHEME``); ``|code`` a code
without a system, which no XDS code is (every codingScheme is mandatory): it matches nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from fhir_api.dates import date_range
from fhir_api.mapping.codes import coding_scheme, from_oid_uri
from fhir_api.mapping.document_reference import entry_uuid_of
from fhir_api.mapping.patient import cx_of_identifier, cx_of_logical_id
from fhir_api.outcome import FhirError
from fhir_api.search import SearchRequest, Token, or_values
from xds_server.core.identifiers import IdentifierError, canonical_patient_id
from xds_server.core.profile import DomainProfile
from xds_server.core.query import TimeRange, Visibility
from xds_server.core.query.criteria import ANY_SCHEME
from xds_server.core.query.fetch import Fetcher
from xds_server.wiring import Services, UnitOfWork

#: Modifiers the searches understand; any other modifier is refused (FHIR: a server must not ignore one).
TOKEN_MODIFIERS = frozenset({None})
REFERENCE_MODIFIERS = frozenset({None, "identifier"})
STRING_MODIFIERS = frozenset({None, "exact"})


def check_modifiers(search: SearchRequest, name: str, allowed: frozenset[str | None]) -> None:
    for modifier, _ in search.values(name):
        if modifier not in allowed:
            raise FhirError.single(
                400, "not-supported", f"search parameter {name}: the modifier :{modifier} is not supported"
            )


def code_keys(value: str) -> frozenset[str]:
    """The XDS code keys one token parameter value (comma = OR) names."""
    keys: set[str] = set()
    for alternative in or_values(value):
        token = Token.parse(alternative)
        if not token.code:
            raise FhirError.invalid(f"token {alternative!r} has no code")
        if token.system is None:
            keys.add(f"{token.code}{ANY_SCHEME}")
        elif token.system:
            keys.add(f"{token.code}^^{coding_scheme(token.system)}")
        # "|code": no XDS code is without a scheme
    return frozenset(keys)


def _meet(a: str, b: str) -> str | None:
    """The keys both ``a`` and ``b`` match (a single-valued attribute: AND of two tokens)."""
    if a == b:
        return a
    for wild, other in ((a, b), (b, a)):
        if wild.endswith(ANY_SCHEME) and other.startswith(wild.removesuffix("*")):
            return other
    return None


def intersect_codes(groups: Iterable[frozenset[str]]) -> frozenset[str] | None:
    """AND of OR-lists on a single-valued coded attribute (None: no parameter at all)."""
    result: frozenset[str] | None = None
    for group in groups:
        if result is None:
            result = group
            continue
        result = frozenset(m for a in result for b in group if (m := _meet(a, b)) is not None)
    return result


def single_codes(search: SearchRequest, name: str) -> frozenset[str] | None:
    check_modifiers(search, name, TOKEN_MODIFIERS)
    return intersect_codes(code_keys(value) for _, value in search.values(name))


def grouped_codes(search: SearchRequest, name: str) -> tuple[frozenset[str], ...]:
    """A multi-valued coded attribute: one OR-group per occurrence (AND across them)."""
    check_modifiers(search, name, TOKEN_MODIFIERS)
    return tuple(code_keys(value) for _, value in search.values(name))


def _canonical(cx: str, profile: DomainProfile, given: str) -> str:
    try:
        return canonical_patient_id(cx, profile)
    except IdentifierError as error:
        raise FhirError.invalid(f"patient {given!r}: {error}") from None


def _reference_id(value: str, resource_type: str) -> str:
    """``Patient/ID``, ``[base]/Patient/ID`` or ``ID`` -> ID."""
    text = value.strip().rstrip("/")
    marker = f"{resource_type}/"
    if marker in text:
        text = text.rsplit(marker, 1)[1]
    return text.split("/_history", 1)[0]


def patients(
    search: SearchRequest, profile: DomainProfile, reference: str, identifier: str
) -> frozenset[str] | None:
    """The canonical patient ids named by ``reference`` (``patient``) and ``identifier``
    (``patient.identifier``): AND across occurrences, OR within one. None when neither is given."""
    check_modifiers(search, reference, REFERENCE_MODIFIERS)
    check_modifiers(search, identifier, TOKEN_MODIFIERS)
    selected: frozenset[str] | None = None
    occurrences: list[frozenset[str]] = []
    for modifier, value in search.values(reference):
        names: set[str] = set()
        for alternative in or_values(value):
            try:
                if modifier == "identifier":
                    token = Token.parse(alternative)
                    cx = cx_of_identifier(token.system or "", token.code)
                else:
                    cx = cx_of_logical_id(_reference_id(alternative, "Patient"))
            except IdentifierError as error:
                raise FhirError.invalid(f"{reference} {alternative!r}: {error}") from None
            names.add(_canonical(cx, profile, alternative))
        occurrences.append(frozenset(names))
    for _, value in search.values(identifier):
        names = set()
        for alternative in or_values(value):
            token = Token.parse(alternative)
            try:
                cx = cx_of_identifier(token.system or "", token.code)
            except IdentifierError as error:
                raise FhirError.invalid(f"{identifier} {alternative!r}: {error}") from None
            names.add(_canonical(cx, profile, alternative))
        occurrences.append(frozenset(names))
    for group in occurrences:
        selected = group if selected is None else selected & group
    return selected


def one_patient(names: frozenset[str] | None, what: str) -> str | None:
    """The single patient a search is about (the stored queries are single-patient: ITI-51 is not exposed
    on FHIR); None when the parameters name contradictory patients (nothing matches)."""
    if names is None:
        raise FhirError.invalid(f"{what} needs the patient: patient or patient.identifier (IHE MHD)")
    if len(names) > 1:
        raise FhirError.invalid(f"{what} is about one patient: several were given")
    return next(iter(names), None)


def statuses(search: SearchRequest, table: dict[str, str], what: str) -> frozenset[str]:
    """The XDS availability statuses ``status`` names (required by MHD); AND across occurrences."""
    check_modifiers(search, "status", TOKEN_MODIFIERS)
    found = search.values("status")
    if not found:
        raise FhirError.invalid(f"{what} needs status (IHE MHD), e.g. status=current")
    selected: frozenset[str] | None = None
    for _, value in found:
        names: set[str] = set()
        for alternative in or_values(value):
            code = Token.parse(alternative).code
            if code in table:
                names.add(table[code])
            elif code not in ("entered-in-error",):  # a status XDS never has: matches nothing
                raise FhirError.invalid(f"status {code!r} is not one of {', '.join(sorted(table))}")
        selected = frozenset(names) if selected is None else selected & names
    return selected or frozenset()


def author_patterns(search: SearchRequest, given_name: str, family_name: str) -> frozenset[str] | None:
    """XCN patterns for ``author.given`` / ``author.family`` (``source.*`` for Lists): the family name is
    XCN.2, the given name XCN.3, compared exactly (case-sensitive, as ITI-18 compares authorPerson).
    Each name may be followed by ``^`` or end the XCN. One occurrence of each at most. ``%`` and ``_`` in a
    name are the engine's LIKE wildcards, as in an ITI-18 authorPerson."""
    check_modifiers(search, given_name, STRING_MODIFIERS)
    check_modifiers(search, family_name, STRING_MODIFIERS)
    givens = search.values(given_name)
    families = search.values(family_name)
    if not givens and not families:
        return None
    if len(givens) > 1 or len(families) > 1:
        raise FhirError.single(
            400, "not-supported", f"{given_name} and {family_name} may each be given once (comma for OR)"
        )
    given_values: list[str | None] = list(or_values(givens[0][1])) if givens else [None]
    family_values: list[str | None] = list(or_values(families[0][1])) if families else [None]
    patterns: set[str] = set()
    for family in family_values:
        for given in given_values:
            if family is not None and given is not None:
                stems = [f"%^{family}^{given}"]
            elif family is not None:
                stems = [f"%^{family}"]
            else:
                stems = [f"%^%^{given}"]
            for stem in stems:
                patterns.update({stem, f"{stem}^%"})
    return frozenset(patterns)


def uri_values(value: str) -> list[str]:
    """``urn:ietf:rfc:3986|urn:oid:X``, ``urn:oid:X``, ``X``, ``urn:uuid:U`` -> the XDS ids (X, urn:uuid:U);
    another identifier system names no registry id."""
    found = []
    for alternative in or_values(value):
        token = Token.parse(alternative)
        if token.system not in (None, "urn:ietf:rfc:3986"):
            continue
        found.append(from_oid_uri(token.code))
    return found


def dates(search: SearchRequest, name: str) -> TimeRange:
    """The time range a date parameter names (every occurrence ANDed), no modifier allowed."""
    check_modifiers(search, name, frozenset({None}))
    return date_range(name, [value for _, value in search.values(name)])


def logical_ids(search: SearchRequest) -> frozenset[str] | None:
    """The entryUUIDs ``_id`` names (OR within a value, AND across occurrences); None: no ``_id``."""
    check_modifiers(search, "_id", frozenset({None}))
    entry_uuids: frozenset[str] | None = None
    for _, value in search.values("_id"):
        names = frozenset(entry_uuid_of(v) for v in or_values(value))
        entry_uuids = names if entry_uuids is None else entry_uuids & names
    return entry_uuids


def identifiers(search: SearchRequest) -> tuple[frozenset[str], ...]:
    """The XDS ids (uniqueId, entryUUID) each ``identifier`` occurrence names, one OR-group per occurrence."""
    check_modifiers(search, "identifier", frozenset({None}))
    return tuple(frozenset(uri_values(value)) for _, value in search.values("identifier"))


def fetcher(services: Services, work: UnitOfWork, scope: Visibility, *, with_xml: bool) -> Fetcher:
    """The engine's capped reader in the caller's scope (the same cap as ITI-18: XDSTooManyResults)."""
    if work.queries is None:
        raise RuntimeError("UnitOfWork.queries is not wired: the composition root must provide it")
    return Fetcher(work.queries, scope=scope, cap=services.settings.query_result_limit, with_xml=with_xml)


__all__ = [
    "author_patterns",
    "check_modifiers",
    "code_keys",
    "dates",
    "fetcher",
    "grouped_codes",
    "identifiers",
    "intersect_codes",
    "logical_ids",
    "one_patient",
    "patients",
    "single_codes",
    "statuses",
    "uri_values",
]
