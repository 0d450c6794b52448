"""Stored-query parameters: declarations, typed conversion, and the counting rules.

Theory of operation (rule book xds-rules.md §a, ITI TF-2a 3.18.4.1.2.3):

* A query declares its parameters (``Param``): kind, required, multi-valued, AND/OR-capable. Slots whose
  name the query does not declare are ignored (ebRS 3.0 6.3.2.1: "a registry MUST ignore any parameters ...
  that do not match").
* One Slot is one OR-group: all its ``rim:Value`` texts are concatenated into one list (grammar.py).
  Repeating the Slot is an AND of OR-groups and is legal only for AND/OR-capable parameters; repeating any
  other Slot, or giving a single-valued parameter several values, is XDSStoredQueryParamNumber.
* ``exactly_one_of`` groups (``$XDSDocumentEntryEntryUUID | $XDSDocumentEntryUniqueId`` ...): none given is
  XDSStoredQueryMissingParam, two given is XDSStoredQueryParamNumber.
* Values are converted by kind: codes ``code^^scheme`` (a code without its scheme is invalid), times are
  DTM normalised to 14 digits (core.dtm), statuses are full URNs. A value that cannot be converted is
  reported with ``INVALID_VALUE`` (the IHE list has no code of its own for it; see ``INVALID_VALUE``).
* Patient ids (``Kind.PATIENT_ID``: the ``PATIENT_PARAMETERS``) are read exactly as a submission's patientId
  is: ``identifiers.canonical_patient_id`` under the domain profile, so every spelling the domain accepts
  (DMP: CX with or without ``^NH``, the bare INS) finds what was stored under another. An id the profile
  refuses is reported as the submission validator reports it (validation/patients.py): an authority the
  domain does not accept is XDSUnknownPatientId, a malformed id or a wrong INS key ``INVALID_VALUE``.
  ``named_patients`` gives the access rules (wiring/access.py) the same canonical ids the query runs on.

Every problem of a request is collected before failing, like the submission validator does.

Bounds (issue 14, item 7), checked before any value is parsed, so a request cannot make the grammar or the
database work for it (1500 authorPerson patterns used to end in SQLite's "Expression tree is too large"):
at most ``MAX_SLOT_TEXT`` characters in one Slot, ``MAX_GROUPS`` repeated Slots of one parameter,
``MAX_VALUES`` values of one parameter (id lists: the port sends them in chunks), ``MAX_PATTERNS`` LIKE
patterns of ``MAX_PATTERN_LENGTH`` characters. Too many Slots or values is XDSStoredQueryParamNumber, a value
too long is ``INVALID_VALUE``; both raise ``LimitExceeded`` (counted as ``query_limits`` in /metrics).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from xds_server.core.dtm import normalise_dtm
from xds_server.core.errors import ErrorCode, Issue, LimitExceeded, XdsError
from xds_server.core.identifiers import IdentifierError, canonical_patient_id
from xds_server.core.metadata import Slot
from xds_server.core.profile import IHE_DEFAULT, DomainProfile
from xds_server.core.query.grammar import ValueSyntaxError, parse_values
from xds_server.core.vocabulary import ObjectType

__all__ = [
    "INVALID_VALUE",
    "PATIENT_PARAMETERS",
    "STATUS_PREFIX",
    "Kind",
    "Param",
    "ParsedParams",
    "code_key",
    "named_patients",
    "parse_parameters",
]

#: IHE defines no error code for "this parameter value is malformed" (a code without scheme, a bad time).
#: XDSRegistryError is reserved for internal failures here, so we report it as a metadata error of the
#: request, the choice IPF-based registries make for a bad ``$MetadataLevel``. One constant, one place.
INVALID_VALUE = ErrorCode.REGISTRY_METADATA_ERROR

STATUS_PREFIX = "urn:oasis:names:tc:ebxml-regrep:StatusType:"

MAX_SLOT_TEXT = 1024 * 1024
MAX_GROUPS = 64
MAX_VALUES = 10_000
MAX_VALUE_LENGTH = 4096
MAX_PATTERNS = 100
MAX_PATTERN_LENGTH = 256
#: The stored-query parameters naming the patient a query is about (ITI-18; ITI-51 with several values).
PATIENT_PARAMETERS = frozenset(
    {"$XDSDocumentEntryPatientId", "$XDSSubmissionSetPatientId", "$XDSFolderPatientId", "$patientId"}
)
_OBJECT_TYPES = frozenset({ObjectType.STABLE_DOCUMENT.value, ObjectType.ON_DEMAND_DOCUMENT.value})


class Kind(Enum):
    STRING = "string"  # ids, uniqueIds, association types, reference ids (CXi)
    PATIENT_ID = "patient id"  # CX, canonicalised by the domain profile (identifiers.canonical_patient_id)
    PATTERN = "pattern"  # LIKE pattern (authorPerson): '%' any run, '_' one character
    CODE = "code"  # code^^scheme
    TIME = "time"  # DTM, normalised to 14 digits
    STATUS = "status"  # full StatusType URN
    OBJECT_TYPE = "object_type"  # stable / on-demand DocumentEntry objectType
    LEVEL = "level"  # $MetadataLevel: 1 or 2


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: Kind = Kind.STRING
    required: bool = False
    multi: bool = False
    and_or: bool = False


@dataclass(frozen=True, slots=True)
class ParsedParams:
    """Typed values of the parameters present: name -> AND-list of OR-groups (one group unless AND/OR)."""

    groups_by_name: Mapping[str, tuple[tuple[str, ...], ...]]

    def has(self, name: str) -> bool:
        return name in self.groups_by_name

    def one(self, name: str) -> str | None:
        """The value of a single-valued parameter."""
        groups = self.groups_by_name.get(name)
        return groups[0][0] if groups else None

    def values(self, name: str) -> frozenset[str] | None:
        """The OR-list of a multi-valued parameter; None when absent (no filter)."""
        groups = self.groups_by_name.get(name)
        return frozenset(groups[0]) if groups else None

    def groups(self, name: str) -> tuple[frozenset[str], ...]:
        """AND of OR-groups of an AND/OR-capable parameter; () when absent."""
        return tuple(frozenset(group) for group in self.groups_by_name.get(name, ()))


def code_key(value: str) -> str | None:
    """``code^^scheme`` (or ``code^display^scheme``) -> the stored key ``code^^scheme``; None if malformed."""
    code, sep, rest = value.partition("^")
    _display, sep2, scheme = rest.partition("^")
    if not sep or not sep2 or not code.strip() or not scheme.strip():
        return None
    return f"{code}^^{scheme}"


#: Characters no XML 1.0 document can carry (a NUL or a lone surrogate would otherwise reach the database
#: driver and fail there, as an internal error).
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _is_xml_text(value: str) -> bool:
    return _NOT_XML_CHAR.search(value) is None


def _convert(kind: Kind, value: str) -> str | None:
    if not _is_xml_text(value):
        return None
    if kind is Kind.CODE:
        return code_key(value)
    if kind is Kind.TIME:
        digits = value.strip()
        return normalise_dtm(digits) if digits.isascii() and digits.isdigit() else None
    if kind is Kind.STATUS:
        return value if value.startswith(STATUS_PREFIX) and len(value) > len(STATUS_PREFIX) else None
    if kind is Kind.OBJECT_TYPE:
        return value if value in _OBJECT_TYPES else None
    if kind is Kind.LEVEL:
        return value if value in ("1", "2") else None
    return value if value else None


def _patient_id(name: str, value: str, profile: DomainProfile) -> str | Issue:
    """The one reading of a query's patient id: the submission path's canonical form, or why not."""
    try:
        return canonical_patient_id(value, profile)
    except IdentifierError as error:
        code = ErrorCode.UNKNOWN_PATIENT_ID if error.kind == "authority" else INVALID_VALUE
        return Issue(code, f"{name}: {error}", name)


def _typed(param: Param, value: str, profile: DomainProfile) -> str | Issue:
    if param.kind is Kind.PATIENT_ID and _is_xml_text(value):
        return _patient_id(param.name, value, profile)
    typed = _convert(param.kind, value)  # a patient id here is not XML text: refused below
    if typed is None:
        return Issue(INVALID_VALUE, f"{param.name}: invalid {param.kind.value} {value!r}", param.name)
    return typed


def parse_parameters(
    slots: Sequence[Slot],
    params: Iterable[Param],
    exactly_one_of: Iterable[tuple[str, ...]] = (),
    *,
    profile: DomainProfile = IHE_DEFAULT,
) -> ParsedParams:
    """Check counts and convert values (patient ids under ``profile``); raise one XdsError carrying every
    problem found."""
    declared = {param.name: param for param in params}
    slots_by_name: dict[str, list[Slot]] = defaultdict(list)
    for slot in slots:
        if slot.name in declared:
            slots_by_name[slot.name].append(slot)

    bounds = [issue for name, given in slots_by_name.items() for issue in _bounds(declared[name], given)]
    if bounds:
        raise LimitExceeded(bounds, "query_limits")
    issues: list[Issue] = []
    parsed: dict[str, tuple[tuple[str, ...], ...]] = {}
    for name, param in declared.items():
        given = slots_by_name.get(name)
        if not given:
            if param.required:
                issues.append(Issue(ErrorCode.STORED_QUERY_MISSING_PARAM, f"{name} is required", name))
            continue
        if len(given) > 1 and not param.and_or:
            issues.append(
                Issue(
                    ErrorCode.STORED_QUERY_PARAM_NUMBER,
                    f"{name} is given in {len(given)} Slots; only AND/OR-capable parameters may repeat",
                    name,
                )
            )
            continue
        groups = _parse_groups(param, given, issues, profile)
        if groups is not None:
            parsed[name] = groups

    for group in exactly_one_of:
        present = [name for name in group if name in slots_by_name]
        if not present:
            issues.append(
                Issue(ErrorCode.STORED_QUERY_MISSING_PARAM, f"one of {' | '.join(group)} is required")
            )
        elif len(present) > 1:
            issues.append(
                Issue(
                    ErrorCode.STORED_QUERY_PARAM_NUMBER,
                    f"{' and '.join(present)} are mutually exclusive",
                    present[1],
                )
            )
    if issues:
        raise XdsError(issues)
    return ParsedParams(parsed)


def _bounds(param: Param, given: list[Slot]) -> list[Issue]:
    """The size bounds one parameter's Slots exceed (lengths and counts only: no conversion, no query)."""
    name = param.name
    if len(given) > MAX_GROUPS:
        return [
            Issue(
                ErrorCode.STORED_QUERY_PARAM_NUMBER, f"{name} is given in more than {MAX_GROUPS} Slots", name
            )
        ]
    if any(sum(len(value) for value in slot.values) > MAX_SLOT_TEXT for slot in given):
        return [Issue(INVALID_VALUE, f"{name}: a Slot longer than {MAX_SLOT_TEXT} characters", name)]
    pattern = param.kind is Kind.PATTERN
    count_limit, length_limit = (
        (MAX_PATTERNS, MAX_PATTERN_LENGTH) if pattern else (MAX_VALUES, MAX_VALUE_LENGTH)
    )
    values = _all_values(given)
    if len(values) > count_limit:
        return [
            Issue(ErrorCode.STORED_QUERY_PARAM_NUMBER, f"{name} has more than {count_limit} values", name)
        ]
    if any(len(value) > length_limit for value in values):
        kind = "pattern" if pattern else "value"
        return [Issue(INVALID_VALUE, f"{name}: a {kind} longer than {length_limit} characters", name)]
    return []


def _all_values(given: list[Slot]) -> list[str]:
    values: list[str] = []
    for slot in given:
        try:
            values.extend(parse_values(slot.values))
        except ValueSyntaxError:
            values.extend(slot.values)  # the parse reports the syntax; here only sizes matter
    return values


def named_patients(slots: Sequence[Slot], profile: DomainProfile) -> tuple[str, ...]:
    """The patients a query's ``PATIENT_PARAMETERS`` name (any query, any count), canonical exactly as
    ``parse_parameters`` reads them, in order, without repeats; XdsError for a malformed or refused one."""
    issues: list[Issue] = []
    found: dict[str, None] = {}
    for slot in slots:
        name = slot.name.strip()
        if name not in PATIENT_PARAMETERS:
            continue
        groups = _parse_groups(Param(name, Kind.PATIENT_ID, multi=True), [slot], issues, profile)
        for group in groups or ():
            found.update(dict.fromkeys(group))
    if issues:
        raise XdsError(issues)
    return tuple(found)


def _parse_groups(
    param: Param, given: list[Slot], issues: list[Issue], profile: DomainProfile
) -> tuple[tuple[str, ...], ...] | None:
    groups: list[tuple[str, ...]] = []
    failed = False
    for slot in given:
        try:
            raw = parse_values(slot.values)
        except ValueSyntaxError as exc:
            issues.append(Issue(INVALID_VALUE, f"{param.name}: malformed value ({exc})", param.name))
            failed = True
            continue
        if not raw:
            issues.append(Issue(INVALID_VALUE, f"{param.name}: no value", param.name))
            failed = True
            continue
        if not param.multi and len(raw) > 1:
            issues.append(
                Issue(
                    ErrorCode.STORED_QUERY_PARAM_NUMBER,
                    f"{param.name} takes one value, {len(raw)} given",
                    param.name,
                )
            )
            failed = True
            continue
        converted: list[str] = []
        for value in raw:
            typed = _typed(param, value, profile)
            if isinstance(typed, Issue):
                issues.append(typed)
                failed = True
            else:
                converted.append(typed)
        groups.append(tuple(converted))
    return None if failed else tuple(groups)
