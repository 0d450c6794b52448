"""The professional directory: who a patient can find by name and place to block or unblock him.

Theory of operation (issue 11, item 4: "block or unblock a professional found by name and commune or postal
code"). The server keeps a copy of the public directory of health professionals, loaded by an administrator
from the ANS "Annuaire Santé" extraction (the RPPS ``PS_LibreAcces_Personne_activite`` file: UTF-8 text, one
header line, ``|``-separated fields, one line per professional *activity*, so a professional working at two
sites appears on two lines). This module is pure: it reads the lines (``parse_extract``), groups them by
professional, and says what a search is (``ProfessionalSearch``); storage keeps and searches them.

Matching: names and communes are compared as ``search_key`` (no accents, upper case, any run of
non-alphanumerics as one space: ``Saint-Étienne`` and ``SAINT ETIENNE`` are one commune); every word of the
searched name must begin a word of the professional's name (family then given name). A search always names
a place (a commune or a postal code): a patient looks for *his* doctor, not through the national directory,
and the answer is bounded anyway.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final

#: The columns read from the extract (its header names, as ANS publishes them). The others are ignored.
COL_ID_TYPE: Final = "Type d'identifiant PP"
COL_PP: Final = "Identifiant PP"
COL_NATIONAL_ID: Final = "Identification nationale PP"
COL_FAMILY: Final = "Nom d'exercice"
COL_GIVEN: Final = "Prénom d'exercice"
COL_PROFESSION_CODE: Final = "Code profession"
COL_PROFESSION: Final = "Libellé profession"
COL_STRUCTURE: Final = "Raison sociale site"
COL_SIGN: Final = "Enseigne commerciale site"
COL_POSTAL_CODE: Final = "Code postal (coord. structure)"
COL_COMMUNE: Final = "Libellé commune (coord. structure)"
REQUIRED_COLUMNS: Final = (
    COL_NATIONAL_ID,
    COL_FAMILY,
    COL_GIVEN,
    COL_PROFESSION_CODE,
    COL_PROFESSION,
    COL_POSTAL_CODE,
    COL_COMMUNE,
    COL_STRUCTURE,
)
SEPARATOR: Final = "|"

_NATIONAL_ID = re.compile(r"[0-9A-Za-z]{2,64}")
_POSTAL_CODE = re.compile(r"[0-9]{5}")
_NOT_ALNUM = re.compile(r"[^0-9A-Z]+")
_ARRONDISSEMENT = re.compile(r" [0-9]{1,2}(?:E|ER|EME) ARRONDISSEMENT$")


class ExtractError(ValueError):
    """The extract cannot be loaded: ``line`` (1-based, 0 for the file as a whole) and what is wrong."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line


class SearchError(ValueError):
    """A search that cannot be run as given (no place, a malformed postal code, a name too short)."""


def search_key(text: str) -> str:
    """``text`` as names and communes are compared: no accents, upper case, words separated by one space."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).upper()
    return _NOT_ALNUM.sub(" ", plain).strip()


def commune_key(label: str) -> str:
    """The commune of a label as searched: its ``search_key`` without an arrondissement (the extract names
    ``PARIS 15E ARRONDISSEMENT``, a patient says Paris)."""
    return _ARRONDISSEMENT.sub("", search_key(label))


@dataclass(frozen=True, slots=True)
class Site:
    """Where a professional works (one activity line): the structure's name, postal code and commune."""

    structure: str
    postal_code: str
    commune: str


@dataclass(frozen=True, slots=True)
class Professional:
    """One professional of the directory. ``national_id`` is the IDNPS (``Identification nationale PP``:
    the identifier type digit and the RPPS or ADELI number), the id assertions, tokens and the block list
    use. ``profession_code`` is TRE_G15 (10 médecin, 40 chirurgien-dentiste, 21 pharmacien ...)."""

    national_id: str
    family_name: str
    given_name: str
    profession_code: str
    profession: str
    sites: tuple[Site, ...] = ()

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.given_name, self.family_name) if p)

    @property
    def name_key(self) -> str:
        return search_key(f"{self.family_name} {self.given_name}")

    @property
    def communes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.commune for s in self.sites if s.commune))


def _field(fields: list[str], columns: dict[str, int], name: str) -> str:
    index = columns.get(name)
    return fields[index].strip() if index is not None and index < len(fields) else ""


def _columns(header: str) -> dict[str, int]:
    names = [n.strip().lstrip("\ufeff") for n in header.rstrip("\r\n").split(SEPARATOR)]
    columns: dict[str, int] = {}
    for index, name in enumerate(names):
        if name and name not in columns:
            columns[name] = index
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise ExtractError(1, "not an Annuaire Santé PS_LibreAcces extract: no column " + ", ".join(missing))
    return columns


def parse_extract(lines: Iterable[str]) -> Iterator[Professional]:
    """The professionals of an extract, one per activity line (``group`` merges them), in file order.
    Blank lines are skipped; a line with a missing identifier, name or profession, or with fewer fields
    than the header, is an ``ExtractError`` naming it (an extract is machine-written: a bad line means a
    truncated or foreign file, and loading half of it would silently drop professionals)."""
    iterator = iter(lines)
    header = next(iterator, None)
    if header is None or not header.strip():
        raise ExtractError(0, "the extract is empty")
    columns = _columns(header)
    width = max(columns[name] for name in REQUIRED_COLUMNS) + 1
    for number, line in enumerate(iterator, start=2):
        text = line.rstrip("\r\n")
        if not text.strip():
            continue
        fields = text.split(SEPARATOR)
        if len(fields) < width:
            raise ExtractError(number, f"{len(fields)} fields, the header has {len(columns)}")
        national_id = _field(fields, columns, COL_NATIONAL_ID)
        if not _NATIONAL_ID.fullmatch(national_id):
            raise ExtractError(number, f"{COL_NATIONAL_ID} {national_id!r} is not an identifier")
        family = _field(fields, columns, COL_FAMILY)
        profession_code = _field(fields, columns, COL_PROFESSION_CODE)
        if not family or not profession_code:
            missing = COL_FAMILY if not family else COL_PROFESSION_CODE
            raise ExtractError(number, f"{national_id}: no {missing}")
        structure = _field(fields, columns, COL_STRUCTURE) or _field(fields, columns, COL_SIGN)
        postal_code = _field(fields, columns, COL_POSTAL_CODE)
        commune = _field(fields, columns, COL_COMMUNE)
        sites = (Site(structure, postal_code, commune),) if postal_code or commune else ()
        yield Professional(
            national_id,
            family,
            _field(fields, columns, COL_GIVEN),
            profession_code,
            _field(fields, columns, COL_PROFESSION),
            sites,
        )


def _merged(known: Professional, more: Professional) -> Professional:
    """``known`` with the sites of ``more`` added (in order, without repeats); the identity is known's."""
    sites = tuple(dict.fromkeys((*known.sites, *more.sites)))
    return Professional(
        known.national_id, known.family_name, known.given_name, known.profession_code, known.profession, sites
    )


def group(professionals: Iterable[Professional]) -> dict[str, Professional]:
    """One ``Professional`` per national id with every site of his lines (in file order, without
    repeats); the identity (names, profession) is the first line's. Holds the whole directory: for a full
    national extract (two million lines), stream it with ``group_runs``."""
    grouped: dict[str, Professional] = {}
    for professional in professionals:
        known = grouped.get(professional.national_id)
        grouped[professional.national_id] = professional if known is None else _merged(known, professional)
    return grouped


def group_runs(professionals: Iterable[Professional]) -> Iterator[Professional]:
    """The lines of consecutive activities of one professional merged into one ``Professional`` (the
    extract lists a professional's activities together), streamed: memory stays that of one professional.
    A professional whose lines are not consecutive comes out once per run; the loader merges the runs."""
    current: Professional | None = None
    for professional in professionals:
        if current is not None and current.national_id == professional.national_id:
            current = _merged(current, professional)
            continue
        if current is not None:
            yield current
        current = professional
    if current is not None:
        yield current


@dataclass(frozen=True, slots=True)
class ProfessionalSearch:
    """A search by name and place, as keys: ``name_words`` must each begin a word of the name; the place is
    a commune (``commune_key``) or a postal code, exactly one of them."""

    name_words: tuple[str, ...]
    commune_key: str | None = None
    postal_code: str | None = None

    @classmethod
    def of(cls, name: str, commune: str | None = None, postal_code: str | None = None) -> ProfessionalSearch:
        """The search for what a user typed; ``SearchError`` says what is missing or malformed."""
        words = tuple(w for w in search_key(name or "").split(" ") if w)
        if sum(len(w) for w in words) < 2:
            raise SearchError("name: give at least two letters of the professional's name")
        place = commune_key(commune) if commune and commune.strip() else None
        code = postal_code.strip() if postal_code and postal_code.strip() else None
        if (place is None) == (code is None):
            raise SearchError("give the commune or the postal code where the professional works (one)")
        if code is not None and not _POSTAL_CODE.fullmatch(code):
            raise SearchError(f"postal code {code!r}: five digits expected")
        if place == "":
            raise SearchError("commune: no letters")
        return cls(words, place, code)

    def matches(self, professional: Professional) -> tuple[Site, ...]:
        """The sites of ``professional`` in the searched place when his name matches (empty: no match). The
        SQL search applies the same rule; this is its reference (tests, in-memory directories)."""
        name_words = professional.name_key.split(" ")
        if not all(any(n.startswith(w) for n in name_words) for w in self.name_words):
            return ()
        return tuple(
            s
            for s in professional.sites
            if (self.postal_code is not None and s.postal_code == self.postal_code)
            or (self.commune_key is not None and commune_key(s.commune) == self.commune_key)
        )


__all__ = [
    "REQUIRED_COLUMNS",
    "SEPARATOR",
    "ExtractError",
    "Professional",
    "ProfessionalSearch",
    "SearchError",
    "Site",
    "commune_key",
    "group",
    "group_runs",
    "parse_extract",
    "search_key",
]
