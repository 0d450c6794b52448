"""SqlQueryPort: the stored-query engine's ``core.query.QueryPort`` in SQL (SQLAlchemy Core).

Theory of operation. Each port call is one SELECT over the kind table joined to ``registry_object`` (for
``seq`` order and, for LeafClass, the XML), with every criterion a WHERE clause on an indexed column:

* single-valued attributes (patient, status, objectType, class/type/format/... codes, times) are columns of
  the kind table: ``=`` / ``IN`` / range comparisons; the (patient_id, status, object_type) index drives a
  FindDocuments, the other filters run on the patient's rows only;
* multi-valued attributes (event and confidentiality codes, reference ids, folder codes, author persons) are
  side tables: one correlated ``EXISTS`` per AND-group, answered by the side table's primary key
  ``(entry_uuid, ...)``;
* ``LIMIT`` is the engine's cap + 1, so the too-many decision never reads the whole match.

Every value of a request is a bound parameter (the policy's own code lists are written into the SQL:
``_constant_in``). authorPerson is a LIKE pattern (``%`` any run, ``_`` one character, every
other character literal, case-sensitive like SQL-92 LIKE); PostgreSQL gets ``LIKE ... ESCAPE '\\'`` with
backslashes doubled, SQLite gets the equivalent GLOB pattern (SQLite's LIKE ignores ASCII case, GLOB does
not), so both backends answer identically.

Visibility (access control) is one predicate, ``_visible``, compiling ``core.policy.VisibilityScope``; every
statement that can return or reach a DocumentEntry (documents, and Associations by either end) includes it,
and SubmissionSets and Folders are limited to the scope's record and hidden when every DocumentEntry they
hold is hidden (``_package_visible``). These predicates depend on the kind of actor, not on the record:
they are built once and shared, and the record is bound when the statement runs (``_SCOPE_PATIENT``).

Id sets larger than ``_CHUNK`` (a client's ``$uuid`` list, the contents of a big SubmissionSet) are sent in
chunks and the chunk results merged in ``seq`` order, to stay below the drivers' parameter limits.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields, replace
from typing import Any, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    FromClause,
    RowMapping,
    Select,
    String,
    and_,
    bindparam,
    exists,
    false,
    literal_column,
    or_,
    select,
    true,
)

from xds_server.core.metadata import ObjectKind
from xds_server.core.policy.record import PS_NATIONAL_ID_OID
from xds_server.core.query.criteria import (
    ANY_SCHEME,
    AssociationCriteria,
    DocumentCriteria,
    FolderCriteria,
    SubmissionSetCriteria,
    TimeRange,
    Visibility,
    sees_everything,
)
from xds_server.core.query.port import ObjectRow
from xds_server.core.vocabulary import AssociationType, Status
from xds_server.storage.errors import translate_db_errors
from xds_server.storage.registry import CONFIDENTIALITY_CODE, EVENT_CODE
from xds_server.storage.tables import (
    association,
    author_person,
    document_code,
    document_entry,
    folder,
    folder_code,
    reference_id,
    registry_object,
    submission_set,
)

__all__ = ["SqlQueryPort", "explain", "like_to_glob"]

_CHUNK = 900
_ID_FIELDS = ("entry_uuids", "unique_ids", "logical_ids", "patient_ids", "touching", "sources", "targets")

_ro = registry_object.c
_de = document_entry.c
_ss = submission_set.c
_fd = folder.c
_as = association.c
_dc = document_code.c

C = TypeVar("C", DocumentCriteria, SubmissionSetCriteria, FolderCriteria, AssociationCriteria)

# The aliases of the correlated subqueries, made once: an alias copies every column of its table, and
# making ``later_version`` anew for each FindDocuments was a fifth of the time spent building its SELECT.
_HIDDEN_END = document_entry.alias("hidden_end")
_INNER_ASSOCIATION = association.alias("inner_association")
_INNER_HIDDEN_END = document_entry.alias("inner_hidden_end")
_HIDDEN_PACKAGE_END = {t.name: t.alias(f"hidden_{t.name}_end") for t in (submission_set, folder)}
_OTHER_RECORD_END = registry_object.alias("other_record_end")
_LATER_VERSION = registry_object.alias("later_version")
_MEMBER = association.alias("member")
_MEMBER_DOCUMENT = document_entry.alias("member_document")
_MEMBER_LINK = association.alias("member_link")
_LINKED_ASSOCIATION = association.alias("linked_association")
_LINKED_DOCUMENT = document_entry.alias("linked_document")
_PACKAGES: dict[str, FromClause] = {
    rows.name: rows for rows in (submission_set, folder, *_HIDDEN_PACKAGE_END.values())
}

#: The record of a visibility predicate, bound when its statement runs (``SqlQueryPort._execute``): the
#: predicates then depend on the kind of actor only, are built once (the ``_shared_*`` functions) and serve
#: every record.
#: Building the Association end predicates anew was 90 % of the CPU of an ITI-67 search under the DMP rules.
_SCOPE_PATIENT = bindparam("xds_scope_patient", type_=String())


def _shape(scope: Visibility) -> Visibility:
    """The scope without its record (which ``_SCOPE_PATIENT`` carries): the key of the shared predicates."""
    return replace(scope, patient_id="" if scope.patient_id is not None else None)


def like_to_glob(pattern: str) -> str:
    """A LIKE pattern (``%``, ``_``) as the SQLite GLOB pattern matching the same strings (case-sensitive)."""
    out: list[str] = []
    for char in pattern:
        if char == "%":
            out.append("*")
        elif char == "_":
            out.append("?")
        elif char in "*?[":
            out.append(f"[{char}]")
        else:
            out.append(char)
    return "".join(out)


def _in(column: Any, values: frozenset[str] | None) -> list[ColumnElement[bool]]:
    if values is None:
        return []
    if len(values) == 1:
        return [column == next(iter(values))]
    return [column.in_(sorted(values))]


#: The characters of a code key the SQL may carry as a literal (``_constant_in``): letters, digits and the
#: separators of codes, OIDs and ``code^^scheme`` keys; no quote, backslash or percent sign.
_LITERAL_SAFE = re.compile(r"[A-Za-z0-9 ._:^&/+-]*")


def _constant_in(column: Any, values: frozenset[str]) -> ColumnElement[bool]:
    """``column IN ('a', 'b', ...)`` with the values written into the SQL text, for the policy's own
    constants (the habilitation matrix's typeCode keys for one kind of actor, the masking codes), never for
    a client's values. A bound IN list is expanded into one parameter per value at every execution, and an
    ITI-67 statement tests the typeCode list of ~80 keys on up to nine sets of rows; written once, it is
    compiled once. A value outside ``_LITERAL_SAFE`` (none in the matrix) falls back to bound parameters."""
    if not values:
        return false()
    if not all(_LITERAL_SAFE.fullmatch(v) for v in values):
        return and_(*_in(column, values))
    listed = ", ".join(f"'{value}'" for value in sorted(values))
    condition: ColumnElement[bool] = column.op("IN")(literal_column(f"({listed})"))
    return condition


def _codes(column: Any, values: frozenset[str] | None, dialect: _Dialect) -> list[ColumnElement[bool]]:
    """Code keys ``code^^scheme``; a key ``code^^*`` (``criteria.ANY_SCHEME``) matches the code in any
    scheme (a FHIR token without a system)."""
    if values is None:
        return []
    wild = sorted(v.removesuffix(ANY_SCHEME) for v in values if v.endswith(ANY_SCHEME))
    if not wild:
        return _in(column, values)
    exact = frozenset(v for v in values if not v.endswith(ANY_SCHEME))
    alternatives = [dialect.matches(column, (prefix, _ANY)) for prefix in wild]
    return [or_(*_in(column, exact), *alternatives)] if exact else [or_(*alternatives)]


def _range(column: Any, bounds: TimeRange) -> list[ColumnElement[bool]]:
    # A NULL column fails both comparisons: entries without the attribute never match a range on it.
    conditions: list[ColumnElement[bool]] = []
    if bounds.low is not None:
        conditions.append(column >= bounds.low)
    if bounds.high is not None:
        conditions.append(column < bounds.high)
    return conditions


_ANY = None  # a wildcard run in a _Pattern


_Pattern = tuple[str | None, ...]  # literal chunks and _ANY


def _glob(pattern: _Pattern) -> str:
    return "".join(
        "*" if part is None else "".join(f"[{c}]" if c in "*?[" else c for c in part) for part in pattern
    )


def _like(pattern: _Pattern) -> str:
    escape = str.maketrans({"\\": "\\\\", "%": "\\%", "_": "\\_"})
    return "".join("%" if part is None else part.translate(escape) for part in pattern)


class _Dialect:
    """The few places where SQLite and PostgreSQL need different SQL for the same answer."""

    def __init__(self, sqlite: bool) -> None:
        self.sqlite = sqlite

    def matches(self, column: Any, pattern: _Pattern) -> ColumnElement[bool]:
        """Case-sensitive match of ``column`` against literal chunks and wildcard runs."""
        if self.sqlite:
            return cast(ColumnElement[bool], column.op("GLOB")(_glob(pattern)))
        return cast(ColumnElement[bool], column.like(_like(pattern), escape="\\"))

    def like(self, column: Any, pattern: str) -> ColumnElement[bool]:
        """A client's LIKE pattern: ``%`` any run, ``_`` one character, everything else literal."""
        if self.sqlite:
            return cast(ColumnElement[bool], column.op("GLOB")(like_to_glob(pattern)))
        return cast(ColumnElement[bool], column.like(pattern.replace("\\", "\\\\"), escape="\\"))


def _visible(d: Any, scope: Visibility, dialect: _Dialect) -> list[ColumnElement[bool]]:
    """THE access-control hook: the DocumentEntry row ``d`` (document_entry or an alias) is visible.

    Compiles ``core.policy.VisibilityScope`` (its docstring states the predicate, ``admits`` is it in
    Python). Every atom is NOT NULL, so the negation used for Association ends is exact.
    """
    if sees_everything(scope):
        return []
    if not scope.record_allowed:
        return [false()]
    conditions: list[ColumnElement[bool]] = []
    if scope.patient_id is not None:
        conditions.append(d.patient_id == _SCOPE_PATIENT)
    if not scope.include_deprecated:
        conditions.append(d.status == Status.APPROVED.value)
    if not scope.unrestricted:
        parts = (
            scope.allowed_type_codes,
            scope.hidden_confidentiality_codes,
            scope.author_ids,
            dialect.sqlite,
        )
        name = _ENTRY_ROWS.get(id(d))
        rule = _shared_restriction(name, *parts) if name is not None else _restriction(d, *parts)
        if rule is not None:
            conditions.append(rule)
    return conditions


#: The DocumentEntry rows the statements test visibility on (the table and its module-level aliases), by
#: the identity of their column collections: their restrictions are built once (``_shared_restriction``).
_ROWS_BY_NAME: dict[str, Any] = {
    rows.name: rows.c
    for rows in (document_entry, _HIDDEN_END, _INNER_HIDDEN_END, _MEMBER_DOCUMENT, _LINKED_DOCUMENT)
}
_ENTRY_ROWS: dict[int, str] = {id(columns): name for name, columns in _ROWS_BY_NAME.items()}


@functools.lru_cache(maxsize=1024)
def _shared_restriction(
    rows: str,
    allowed_type_codes: frozenset[str] | None,
    hidden_codes: frozenset[str],
    author_ids: frozenset[str],
    sqlite: bool,
) -> ColumnElement[bool] | None:
    """``_restriction`` on one of the module's DocumentEntry rows (``_ENTRY_ROWS``), built once per kind of
    actor (profession, role, own id) and reused for every record: SQLAlchemy constructs are immutable, and
    building this one, with its long typeCode list, was most of the policy's cost per query (an ITI-67
    search tests it on five sets of rows: the entries, and the ends and members of their Associations)."""
    return _restriction(_ROWS_BY_NAME[rows], allowed_type_codes, hidden_codes, author_ids, sqlite)


def _restriction(
    d: Any,
    allowed_type_codes: frozenset[str] | None,
    hidden_codes: frozenset[str],
    author_ids: frozenset[str],
    sqlite: bool,
) -> ColumnElement[bool] | None:
    """The habilitation and masking part of ``_visible``: what the actor may see of any record."""
    allowed: list[ColumnElement[bool]] = []
    if allowed_type_codes is not None:
        allowed.append(and_(d.type_code.is_not(None), _constant_in(d.type_code, allowed_type_codes)))
    if hidden_codes:
        allowed.append(
            ~exists().where(
                _dc.entry_uuid == d.entry_uuid,
                _dc.attribute == CONFIDENTIALITY_CODE,
                _constant_in(_dc.code_key, hidden_codes),
            )
        )
    if not allowed:  # nothing restricts the entry otherwise (and the author exception adds nothing)
        return None
    rule = and_(*allowed)
    if author_ids:
        rule = or_(_authored_by(d.entry_uuid, author_ids, _Dialect(sqlite)), rule)
    return rule


def _authored_by(entry_uuid: Any, national_ids: frozenset[str], dialect: _Dialect) -> ColumnElement[bool]:
    """An authorPerson whose XCN.1 is one of ``national_ids`` and whose XCN.9 authority is the national id
    OID. LIKE cannot pin the component position of the OID, so this admits the (unheard-of) XCN carrying
    the caller's id in XCN.1 and the OID in another component."""
    person = author_person.c.person
    oid = PS_NATIONAL_ID_OID
    return exists().where(
        author_person.c.entry_uuid == entry_uuid,
        or_(*(dialect.matches(person, (f"{i}^", _ANY)) for i in sorted(national_ids))),
        or_(
            dialect.matches(person, (_ANY, f"&{oid}&", _ANY)),
            dialect.matches(person, (_ANY, f"&{oid}^", _ANY)),
            dialect.matches(person, (_ANY, f"&{oid}")),
        ),
    )


def _end_visible(end: str, scope: Visibility, dialect: _Dialect) -> list[ColumnElement[bool]]:
    """For the Association end ``end`` (``source_uuid`` or ``target_uuid``): not a DocumentEntry the scope
    hides, nor an Association reaching one, nor (for a scope bound to one record) an object of another
    patient. Other ends pass."""
    if sees_everything(scope):
        return []
    if not scope.record_allowed:
        return [false()]
    return list(_shared_end_visible(end, _shape(scope), dialect.sqlite))


@functools.lru_cache(maxsize=256)
def _shared_end_visible(end: str, scope: Visibility, sqlite: bool) -> tuple[ColumnElement[bool], ...]:
    dialect = _Dialect(sqlite)
    end_uuid = _as[end]
    conditions: list[ColumnElement[bool]] = []
    d = _HIDDEN_END
    hides = _visible(d.c, scope, dialect)
    if hides:  # some entries are hidden: not this end, nor an Association reaching one
        conditions.append(~exists().where(d.c.entry_uuid == end_uuid, ~and_(*hides)))
        inner, inner_doc = _INNER_ASSOCIATION, _INNER_HIDDEN_END
        for inner_end in (inner.c.source_uuid, inner.c.target_uuid):
            conditions.append(
                ~exists().where(
                    inner.c.entry_uuid == end_uuid,
                    inner_doc.c.entry_uuid == inner_end,
                    ~and_(*_visible(inner_doc.c, scope, dialect)),
                )
            )
    if _packages_may_hide(scope, dialect):  # nor a SubmissionSet or Folder hidden with its documents
        for table in (submission_set, folder):
            package = _HIDDEN_PACKAGE_END[table.name]
            shown = _package_visible(package.name, scope, dialect)
            conditions.append(~exists().where(package.c.entry_uuid == end_uuid, ~and_(true(), *shown)))
    if scope.patient_id is not None:
        other = _OTHER_RECORD_END
        conditions.append(
            ~exists().where(
                other.c.entry_uuid == end_uuid,
                other.c.patient_id.is_not(None),
                other.c.patient_id != _SCOPE_PATIENT,
            )
        )
    return tuple(conditions)


def _latest(latest_only: bool) -> list[ColumnElement[bool]]:
    """Metadata Update ``$MetadataLevel`` 1: no later version of the same lid exists (the registry_object
    (logical_id, version) index answers it)."""
    if not latest_only:
        return []
    later = _LATER_VERSION
    return [~exists().where(later.c.logical_id == _ro.logical_id, later.c.version > _ro.version)]


def _package_visible(package: str, scope: Visibility, dialect: _Dialect) -> list[ColumnElement[bool]]:
    """SubmissionSets and Folders (``package`` names the table or alias of ``_PACKAGES``): only the scope's
    record (and nothing when the record is refused), and not a package whose DocumentEntry members are all
    hidden: its title, author and times would tell that a hidden document exists. A member is a HasMember
    target, or an end of an Association the package has as member (how a SubmissionSet records the Folder
    memberships and status changes it made). A package with no
    DocumentEntry member at all (an empty Folder) stays visible."""
    if sees_everything(scope):
        return []
    if not scope.record_allowed:
        return [false()]
    return list(_shared_package_visible(package, _shape(scope), dialect.sqlite))


@functools.lru_cache(maxsize=256)
def _shared_package_visible(package: str, scope: Visibility, sqlite: bool) -> tuple[ColumnElement[bool], ...]:
    dialect = _Dialect(sqlite)
    package_uuid = _PACKAGES[package].c.entry_uuid
    conditions: list[ColumnElement[bool]] = []
    if scope.patient_id is not None:
        conditions.append(_PACKAGES[package].c.patient_id == _SCOPE_PATIENT)
    if _packages_may_hide(scope, dialect):
        visible = _document_member(package_uuid, lambda d: and_(true(), *_visible(d, scope, dialect)))
        hidden = _document_member(package_uuid, lambda d: ~and_(true(), *_visible(d, scope, dialect)))
        conditions.append(or_(visible, ~hidden))
    return tuple(conditions)


def _packages_may_hide(scope: Visibility, dialect: _Dialect) -> bool:
    """Some DocumentEntry of the record may be hidden, so a package may be hidden with its members (an empty
    document predicate hides nothing, and would turn the member tests into constants)."""
    return scope.record_allowed and bool(_visible(document_entry.c, scope, dialect))


def _document_member(package_uuid: Any, test: Callable[[Any], ColumnElement[bool]]) -> ColumnElement[bool]:
    """Some DocumentEntry member of the package passes ``test``: directly, or through a member Association."""
    has_member = AssociationType.HAS_MEMBER.value
    direct, doc = _MEMBER, _MEMBER_DOCUMENT
    checks = [
        exists().where(
            direct.c.source_uuid == package_uuid,
            direct.c.association_type == has_member,
            doc.c.entry_uuid == direct.c.target_uuid,
            test(doc.c),
        )
    ]
    for end in ("source_uuid", "target_uuid"):
        via, inner = _MEMBER_LINK, _LINKED_ASSOCIATION
        inner_doc = _LINKED_DOCUMENT
        checks.append(
            exists().where(
                via.c.source_uuid == package_uuid,
                via.c.association_type == has_member,
                inner.c.entry_uuid == via.c.target_uuid,
                inner_doc.c.entry_uuid == inner.c[end],
                test(inner_doc.c),
            )
        )
    return or_(*checks)


class SqlQueryPort:
    """``core.query.QueryPort`` on one open connection (the request's transaction; read-only use)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._dialect = _Dialect(connection.dialect.name == "sqlite")

    # ---- QueryPort ---------------------------------------------------------------------------------------

    def find_documents(
        self, criteria: DocumentCriteria, *, scope: Visibility, limit: int, with_xml: bool
    ) -> list[ObjectRow]:
        return self._chunked(
            criteria,
            lambda c: self.documents_statement(c, scope, limit, with_xml),
            "DocumentEntry",
            limit,
            scope,
        )

    def find_submission_sets(
        self, criteria: SubmissionSetCriteria, *, scope: Visibility, limit: int, with_xml: bool
    ) -> list[ObjectRow]:
        return self._chunked(
            criteria,
            lambda c: self.submission_sets_statement(c, scope, limit, with_xml),
            "SubmissionSet",
            limit,
            scope,
        )

    def find_folders(
        self, criteria: FolderCriteria, *, scope: Visibility, limit: int, with_xml: bool
    ) -> list[ObjectRow]:
        return self._chunked(
            criteria, lambda c: self.folders_statement(c, scope, limit, with_xml), "Folder", limit, scope
        )

    def find_associations(
        self, criteria: AssociationCriteria, *, scope: Visibility, limit: int, with_xml: bool
    ) -> list[ObjectRow]:
        return self._chunked(
            criteria,
            lambda c: self.associations_statement(c, scope, limit, with_xml),
            "Association",
            limit,
            scope,
        )

    def find_registrations(
        self,
        entry_uuids: frozenset[str],
        *,
        scope: Visibility,
        statuses: frozenset[str] | None,
        with_xml: bool,
    ) -> list[tuple[str, ObjectRow]]:
        ordered = sorted(entry_uuids)
        found: list[tuple[str, ObjectRow]] = []
        for start in range(0, len(ordered), _CHUNK):
            chunk = frozenset(ordered[start : start + _CHUNK])
            rows = self._mappings(self.registrations_statement(chunk, scope, statuses, with_xml), scope)
            found += [(m["registered"], _row(m, "SubmissionSet")) for m in rows]
        return found

    # ---- statements --------------------------------------------------------------------------------------

    def documents_statement(
        self, c: DocumentCriteria, scope: Visibility, limit: int, with_xml: bool
    ) -> Select[Any]:
        """The SELECT of ``find_documents`` (public for EXPLAIN in tests and the bench)."""
        where: list[ColumnElement[bool]] = [
            *_in(_de.patient_id, c.patient_ids),
            *_in(_de.status, c.statuses),
            *_in(_de.object_type, c.object_types),
            *_in(_de.entry_uuid, c.entry_uuids),
            *_in(_de.unique_id, c.unique_ids),
            *_in(_de.logical_id, c.logical_ids),
            *_codes(_de.class_code, c.class_codes, self._dialect),
            *_codes(_de.type_code, c.type_codes, self._dialect),
            *_codes(_de.practice_setting_code, c.practice_setting_codes, self._dialect),
            *_codes(_de.healthcare_facility_type_code, c.healthcare_facility_type_codes, self._dialect),
            *_codes(_de.format_code, c.format_codes, self._dialect),
            *_range(_de.creation_time, c.creation_time),
            *_range(_de.service_start_time, c.service_start_time),
            *_range(_de.service_stop_time, c.service_stop_time),
            *_latest(c.latest_only),
        ]
        for attribute, groups in (
            (EVENT_CODE, c.event_codes),
            (CONFIDENTIALITY_CODE, c.confidentiality_codes),
        ):
            for group in groups:
                where.append(
                    exists().where(
                        _dc.entry_uuid == _de.entry_uuid,
                        _dc.attribute == attribute,
                        *_codes(_dc.code_key, group, self._dialect),
                    )
                )
        for group in c.reference_ids:
            where.append(
                exists().where(reference_id.c.entry_uuid == _de.entry_uuid, *_in(reference_id.c.value, group))
            )
        if c.author_persons is not None:
            where.append(self._author_matches(_de.entry_uuid, c.author_persons))
        where.extend(_visible(_de, scope, self._dialect))
        columns: list[Any] = [_de.entry_uuid, _de.status, _de.patient_id, _ro.seq]
        if with_xml:
            columns.append(_ro.xml)
        return (
            select(*columns)
            .select_from(document_entry.join(registry_object, _ro.entry_uuid == _de.entry_uuid))
            .where(and_(true(), *where))
            .order_by(_ro.seq)
            .limit(limit)
        )

    def submission_sets_statement(
        self, c: SubmissionSetCriteria, scope: Visibility, limit: int, with_xml: bool
    ) -> Select[Any]:
        where = [
            *_in(_ss.patient_id, c.patient_ids),
            *_in(_ss.status, c.statuses),
            *_in(_ss.entry_uuid, c.entry_uuids),
            *_in(_ss.unique_id, c.unique_ids),
            *_in(_ss.source_id, c.source_ids),
            *_codes(_ss.content_type_code, c.content_type_codes, self._dialect),
            *_range(_ss.submission_time, c.submission_time),
        ]
        if c.author_persons is not None:
            where.append(self._author_matches(_ss.entry_uuid, c.author_persons))
        where.extend(_package_visible(submission_set.name, scope, self._dialect))
        columns: list[Any] = [_ss.entry_uuid, _ss.status, _ss.patient_id, _ro.seq]
        if with_xml:
            columns.append(_ro.xml)
        return (
            select(*columns)
            .select_from(submission_set.join(registry_object, _ro.entry_uuid == _ss.entry_uuid))
            .where(and_(true(), *where))
            .order_by(_ro.seq)
            .limit(limit)
        )

    def folders_statement(
        self, c: FolderCriteria, scope: Visibility, limit: int, with_xml: bool
    ) -> Select[Any]:
        where = [
            *_in(_fd.patient_id, c.patient_ids),
            *_in(_fd.status, c.statuses),
            *_in(_fd.entry_uuid, c.entry_uuids),
            *_in(_fd.unique_id, c.unique_ids),
            *_in(_ro.logical_id, c.logical_ids),  # indexed there (logical_id, version)
            *_range(_fd.last_update_time, c.last_update_time),
            *_package_visible(folder.name, scope, self._dialect),
            *_latest(c.latest_only),
        ]
        for group in c.codes:
            where.append(
                exists().where(
                    folder_code.c.entry_uuid == _fd.entry_uuid,
                    *_codes(folder_code.c.code_key, group, self._dialect),
                )
            )
        columns: list[Any] = [_fd.entry_uuid, _fd.status, _fd.patient_id, _fd.last_update_time, _ro.seq]
        if with_xml:
            columns.append(_ro.xml)
        return (
            select(*columns)
            .select_from(folder.join(registry_object, _ro.entry_uuid == _fd.entry_uuid))
            .where(and_(true(), *where))
            .order_by(_ro.seq)
            .limit(limit)
        )

    def associations_statement(
        self, c: AssociationCriteria, scope: Visibility, limit: int, with_xml: bool
    ) -> Select[Any]:
        where = [
            *_in(_as.source_uuid, c.sources),
            *_in(_as.target_uuid, c.targets),
            *_in(_as.association_type, c.types),
            *_in(_as.status, c.statuses),
        ]
        if c.touching is not None:
            where.append(or_(*_in(_as.source_uuid, c.touching), *_in(_as.target_uuid, c.touching)))
        where.extend(_end_visible("source_uuid", scope, self._dialect))
        where.extend(_end_visible("target_uuid", scope, self._dialect))
        columns: list[Any] = [
            _as.entry_uuid,
            _as.status,
            _as.association_type,
            _as.source_uuid,
            _as.target_uuid,
            _ro.seq,
        ]
        if with_xml:
            columns.append(_ro.xml)
        return (
            select(*columns)
            .select_from(association.join(registry_object, _ro.entry_uuid == _as.entry_uuid))
            .where(and_(true(), *where))
            .order_by(_ro.seq)
            .limit(limit)
        )

    def registrations_statement(
        self, entry_uuids: frozenset[str], scope: Visibility, statuses: frozenset[str] | None, with_xml: bool
    ) -> Select[Any]:
        """The SELECT of ``find_registrations``: HasMember from a SubmissionSet to an entry the scope shows.
        The SubmissionSet needs no test of its own (it has a visible member), only its record's."""
        where = [
            _as.association_type == AssociationType.HAS_MEMBER.value,
            *_in(_as.target_uuid, entry_uuids),
            *_in(_as.status, statuses),
            *_visible(_de, scope, self._dialect),
        ]
        if scope.patient_id is not None and not sees_everything(scope):
            where.append(_ss.patient_id == _SCOPE_PATIENT)
        columns: list[Any] = [
            _as.target_uuid.label("registered"),
            _ss.entry_uuid,
            _ss.status,
            _ss.patient_id,
            _ro.seq,
        ]
        if with_xml:
            columns.append(_ro.xml)
        return (
            select(*columns)
            .select_from(
                association.join(document_entry, _de.entry_uuid == _as.target_uuid)
                .join(submission_set, _ss.entry_uuid == _as.source_uuid)
                .join(registry_object, _ro.entry_uuid == _ss.entry_uuid)
            )
            .where(and_(true(), *where))
            .order_by(_ro.seq)
        )

    def _author_matches(self, entry_uuid: Any, patterns: Iterable[str]) -> ColumnElement[bool]:
        person = author_person.c.person
        matches = [self._dialect.like(person, p) for p in sorted(patterns)]
        return exists().where(author_person.c.entry_uuid == entry_uuid, or_(*matches))

    # ---- execution ---------------------------------------------------------------------------------------

    def _chunked(
        self, criteria: C, build: Callable[[C], Select[Any]], kind: ObjectKind, limit: int, scope: Visibility
    ) -> list[ObjectRow]:
        return [row for _seq, row in self._collect(criteria, build, kind, limit, scope)]

    def _collect(
        self, criteria: C, build: Callable[[C], Select[Any]], kind: ObjectKind, limit: int, scope: Visibility
    ) -> list[tuple[int, ObjectRow]]:
        largest = max(
            (
                f.name
                for f in fields(criteria)
                if f.name in _ID_FIELDS and getattr(criteria, f.name) is not None
            ),
            key=lambda name: len(getattr(criteria, name)),
            default=None,
        )
        if largest is None or len(getattr(criteria, largest)) <= _CHUNK:
            return self._execute(build(criteria), kind, scope)
        ordered = sorted(getattr(criteria, largest))
        merged: dict[str, tuple[int, ObjectRow]] = {}
        for start in range(0, len(ordered), _CHUNK):
            chunk: dict[str, Any] = {largest: frozenset(ordered[start : start + _CHUNK])}
            part = replace(criteria, **chunk)
            # the chunked set is now small; another large one (if any) is chunked in turn
            for seq, row in self._collect(part, build, kind, limit, scope):
                merged.setdefault(row.entry_uuid, (seq, row))
        return sorted(merged.values(), key=lambda item: item[0])[:limit]

    def _execute(
        self, statement: Select[Any], kind: ObjectKind, scope: Visibility
    ) -> list[tuple[int, ObjectRow]]:
        return [(int(m["seq"]), _row(m, kind)) for m in self._mappings(statement, scope)]

    def _mappings(self, statement: Select[Any], scope: Visibility) -> Sequence[RowMapping]:
        """Run a statement of this port, its visibility predicates bound to the scope's record."""
        bound = {_SCOPE_PATIENT.key: scope.patient_id}
        with translate_db_errors():
            return self._connection.execute(statement, bound).mappings().all()


def _row(m: Any, kind: ObjectKind) -> ObjectRow:
    if kind == "Association":
        return ObjectRow(
            entry_uuid=m["entry_uuid"],
            kind=kind,
            status=m["status"],
            xml=m.get("xml"),
            association_type=m["association_type"],
            source=m["source_uuid"],
            target=m["target_uuid"],
        )
    return ObjectRow(
        entry_uuid=m["entry_uuid"],
        kind=kind,
        status=m["status"],
        patient_id=m["patient_id"],
        xml=m.get("xml"),
        last_update_time=m.get("last_update_time"),
    )


def explain(connection: Connection, statement: Select[Any]) -> list[str]:
    """The database's plan for ``statement`` (SQLite ``EXPLAIN QUERY PLAN``, PostgreSQL ``EXPLAIN``), one line
    per plan node: for tests that check index use, and the bench report."""
    compiled = statement.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    if connection.dialect.name == "sqlite":
        positional = tuple(compiled.params[name] for name in compiled.positiontup or ())
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), positional).all()
        depth: dict[int, int] = {0: -1}
        lines = []
        for node, parent, _unused, detail in rows:
            depth[node] = depth.get(parent, -1) + 1
            lines.append("  " * depth[node] + str(detail))
        return lines
    rows = connection.exec_driver_sql("EXPLAIN " + str(compiled), dict(compiled.params)).all()
    return [str(row[0]) for row in rows]
