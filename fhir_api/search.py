"""FHIR search requests: parameters from ``GET ?...`` or ``POST _search`` (form body), the FHIR value
syntaxes (token ``system|code`` / ``code`` / ``|code``, comma = OR, repeated parameter = AND, date prefixes),
unknown parameters (ignored with a warning, or 400 under ``Prefer: handling=strict``) and ``_count``.

Resource-specific searches (DocumentReference, List ...) turn a ``SearchRequest`` into core query objects,
so ITI-67 and ITI-18 run the same query engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from fastapi import Request

from fhir_api.outcome import FhirError, OutcomeIssue

#: Parameters every search accepts that select no resource (result shaping, format).
RESULT_PARAMETERS = frozenset({"_format", "_count", "_sort", "_summary", "_elements", "_total", "_page"})
MAX_COUNT = 1000
DEFAULT_COUNT = 100
#: Bound on the number of parameters and the length of one value: a search costs bounded work.
MAX_PARAMETERS = 100
MAX_VALUE_LENGTH = 4096


@dataclass(frozen=True, slots=True)
class Token:
    """``system|code``: ``system`` None when the value named no system (``code``), "" for ``|code``."""

    system: str | None
    code: str

    @classmethod
    def parse(cls, value: str) -> Token:
        if "|" in value:
            system, code = value.split("|", 1)
            return cls(system, code)
        return cls(None, value)


@dataclass(slots=True)
class SearchRequest:
    """The parameters of one search, in order: ``(name, modifier, value)`` (``name:modifier=value``)."""

    parameters: list[tuple[str, str | None, str]]
    strict: bool = False
    warnings: list[OutcomeIssue] = field(default_factory=list)

    @classmethod
    def of_pairs(cls, pairs: Iterable[tuple[str, str]], *, strict: bool = False) -> SearchRequest:
        parsed: list[tuple[str, str | None, str]] = []
        for raw_name, value in pairs:
            if len(parsed) >= MAX_PARAMETERS:
                raise FhirError.invalid(f"too many search parameters (at most {MAX_PARAMETERS})")
            if len(value) > MAX_VALUE_LENGTH:
                raise FhirError.invalid(f"search parameter {raw_name}: value longer than {MAX_VALUE_LENGTH}")
            name, _, modifier = raw_name.partition(":")
            parsed.append((name.strip(), modifier.strip() or None, value))
        return cls(parsed, strict=strict)

    def values(self, name: str) -> list[tuple[str | None, str]]:
        """``(modifier, value)`` of each occurrence of ``name`` (AND across occurrences)."""
        return [(m, v) for n, m, v in self.parameters if n == name]

    def first(self, name: str) -> str | None:
        found = self.values(name)
        return found[0][1] if found else None

    def pairs(self) -> list[tuple[str, str]]:
        """The parameters as ``(name[:modifier], value)`` pairs, for self and paging links."""
        return [(n if m is None else f"{n}:{m}", v) for n, m, v in self.parameters]

    def names(self) -> set[str]:
        return {n for n, _, _ in self.parameters}

    def only_known(self, known: Iterable[str]) -> None:
        """Unknown parameters: 400 under ``Prefer: handling=strict``, else a warning in the Bundle."""
        allowed = set(known) | RESULT_PARAMETERS
        unknown = sorted(self.names() - allowed)
        if not unknown:
            return
        message = f"unknown or unsupported search parameter(s) {', '.join(unknown)}"
        if self.strict:
            raise FhirError.single(400, "not-supported", message)
        self.warnings.append(OutcomeIssue("not-supported", message + ": ignored", severity="warning"))

    def count(self) -> int:
        raw = self.first("_count")
        if raw is None:
            return DEFAULT_COUNT
        try:
            count = int(raw)
        except ValueError:
            raise FhirError.invalid(f"_count {raw!r} is not a number") from None
        if count < 0:
            raise FhirError.invalid("_count must not be negative")
        return min(count, MAX_COUNT)


def or_values(value: str) -> list[str]:
    """The comma-separated alternatives of one parameter value (``\\,`` is a literal comma)."""
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for char in value:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p for p in (part.strip() for part in parts) if p]


def _strict(request: Request) -> bool:
    prefer = request.headers.get("prefer", "")
    return any(p.strip().replace(" ", "") == "handling=strict" for p in prefer.split(";") + prefer.split(","))


async def search_request(request: Request) -> SearchRequest:
    """The search of a ``GET`` (query string) or ``POST .../_search`` (form body + query string)."""
    pairs: Sequence[tuple[str, str]] = list(request.query_params.multi_items())
    if request.method == "POST":
        content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise FhirError.single(
                415, "not-supported", "a _search POST takes application/x-www-form-urlencoded parameters"
            )
        body = await request.body()
        if len(body) > MAX_PARAMETERS * MAX_VALUE_LENGTH:
            raise FhirError.single(413, "too-costly", "the search parameters are too long")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise FhirError.invalid("the search parameters are not UTF-8") from None
        pairs = [*pairs, *parse_qsl(text, keep_blank_values=True)]
    return SearchRequest.of_pairs(pairs, strict=_strict(request))


__all__ = [
    "DEFAULT_COUNT",
    "MAX_COUNT",
    "RESULT_PARAMETERS",
    "SearchRequest",
    "Token",
    "or_values",
    "search_request",
]
