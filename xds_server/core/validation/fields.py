"""Value checks shared by the object rules: required values, DTM, codes, authors, identifiers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

from xds_server.core.errors import Issue
from xds_server.core.identifiers import is_oid, unique_id_problem
from xds_server.core.metadata import Author, Code
from xds_server.core.validation.context import metadata_error

_DTM_RE: Final = re.compile(r"^\d{4}(\d{2}){0,5}$")
_SHA1_RE: Final = re.compile(r"^[0-9a-fA-F]{40}$")
# (start, end, low, high) of each DTM component after the year (HL7 v2 DTM as ITI TF-3 4.2.3.1 uses it).
_DTM_PARTS: Final = ((4, 6, 1, 12), (6, 8, 1, 31), (8, 10, 0, 23), (10, 12, 0, 59), (12, 14, 0, 59))


def dtm_problem(value: str) -> str | None:
    """Why ``value`` is not an XDS DTM (UTC ``YYYY[MM[DD[hh[mm[ss]]]]]``), or None."""
    if not _DTM_RE.match(value):
        return f"{value!r} is not a DTM (YYYY[MM[DD[hh[mm[ss]]]]], UTC, no time zone)"
    for start, end, low, high in _DTM_PARTS:
        if len(value) >= end and not low <= int(value[start:end]) <= high:
            return f"{value!r} is not a valid date/time"
    return None


def required(obj_id: str, attribute: str, value: object) -> Iterator[Issue]:
    if value is None or value == "" or value == ():
        yield metadata_error(obj_id, attribute, f"{attribute} is required")


def dtm(obj_id: str, attribute: str, value: str | None, *, is_required: bool) -> Iterator[Issue]:
    if value is None or value == "":
        if is_required:
            yield metadata_error(obj_id, attribute, f"{attribute} is required")
        return
    problem = dtm_problem(value)
    if problem:
        yield metadata_error(obj_id, attribute, f"{attribute}: {problem}")


def oid(obj_id: str, attribute: str, value: str | None, *, is_required: bool) -> Iterator[Issue]:
    if not value:
        if is_required:
            yield metadata_error(obj_id, attribute, f"{attribute} is required")
    elif not is_oid(value):
        yield metadata_error(obj_id, attribute, f"{attribute} {value!r} is not an OID")


def unique_id(obj_id: str, value: str | None, *, allow_extension: bool) -> Iterator[Issue]:
    if not value:
        yield metadata_error(obj_id, "uniqueId", "uniqueId is required")
        return
    problem = unique_id_problem(value, allow_extension=allow_extension)
    if problem:
        yield metadata_error(obj_id, "uniqueId", f"uniqueId {value!r}: {problem}")


def sha1(obj_id: str, value: str) -> Iterator[Issue]:
    if not _SHA1_RE.match(value):
        yield metadata_error(obj_id, "hash", f"hash {value!r} is not a SHA-1 in hexadecimal (40 characters)")


def size(obj_id: str, value: str) -> Iterator[Issue]:
    if not value.isdigit() or not value.isascii():
        yield metadata_error(obj_id, "size", f"size {value!r} is not a number of bytes")


def codes(obj_id: str, attribute: str, values: tuple[Code, ...]) -> Iterator[Issue]:
    """A coded classification needs its code (nodeRepresentation) and codingScheme."""
    for code in values:
        if not code.code:
            yield metadata_error(obj_id, attribute, f"{attribute} has an empty code (nodeRepresentation)")
        if not code.scheme:
            yield metadata_error(obj_id, attribute, f"{attribute} {code.code!r} has no codingScheme")


def one_code(obj_id: str, attribute: str, value: Code | None) -> Iterator[Issue]:
    if value is None:
        yield metadata_error(obj_id, attribute, f"{attribute} is required (exactly one)")
    else:
        yield from codes(obj_id, attribute, (value,))


def authors(obj_id: str, values: tuple[Author, ...]) -> Iterator[Issue]:
    # ITI TF-3 4.2.3.1 (author): an author carries at least an authorPerson or an authorInstitution.
    for index, author in enumerate(values, start=1):
        if not (author.person or any(author.institutions)):
            yield metadata_error(
                obj_id, f"author[{index}]", "an author needs an authorPerson or an authorInstitution"
            )
