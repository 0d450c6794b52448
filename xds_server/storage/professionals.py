"""SqlProfessionalDirectory: the professional directory (core.professionals) on one open transaction.

Theory of operation. The Annuaire Santé extract is a full snapshot, so ``replace`` swaps the whole directory
in the caller's transaction (DELETE, then batched inserts): readers see the old directory or the new one,
never half of each, and a file that fails half-way leaves the old one in place. ``search`` runs in SQL: the
place on an indexed column (postal code, or the commune's search key), every word of the name as a word
prefix of ``name_key`` (``' ' || name_key LIKE '% WORD%'``; the words are letters and digits only, so no
LIKE metacharacter reaches the pattern), one page of professionals by name and id, one more row telling
whether the answer was cut. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import islice
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, insert, literal, select

from xds_server.core.professionals import Professional, ProfessionalSearch, Site, commune_key
from xds_server.storage.errors import translate_db_errors
from xds_server.storage.tables import professional, professional_site

__all__ = ["SqlProfessionalDirectory"]

_p, _s = professional.c, professional_site.c
_SITES = (
    select(_s.national_id, _s.structure, _s.postal_code, _s.commune, _s.commune_key)
    .where(_s.national_id.in_(bindparam("ids", expanding=True)))
    .order_by(_s.national_id, _s.position)
)


class SqlProfessionalDirectory:
    """The professional directory over one open transaction (never commits)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def replace(self, professionals: Iterable[Professional], *, batch: int = 2000) -> tuple[int, int]:
        """Make ``professionals`` the whole directory; (professionals, sites) written. Streamed in batches
        (``core.professionals.group_runs`` output: a national id may come again, its first identity is
        kept and the later sites are added after the earlier ones); memory holds one batch and a count of
        sites per professional."""
        counted = [0, 0]
        positions: dict[str, int] = {}  # national id -> next site position
        with translate_db_errors():
            self._connection.execute(delete(professional_site))
            self._connection.execute(delete(professional))
            iterator = iter(professionals)
            while chunk := list(islice(iterator, batch)):
                fresh: dict[str, Professional] = {}
                for p in chunk:
                    if p.national_id not in positions and p.national_id not in fresh:
                        fresh[p.national_id] = p
                people = [
                    {
                        "national_id": p.national_id,
                        "family_name": p.family_name[:256],
                        "given_name": p.given_name[:256],
                        "name_key": p.name_key[:512],
                        "profession_code": p.profession_code[:16],
                        "profession": p.profession[:256],
                    }
                    for p in fresh.values()
                ]
                sites = []
                for p in chunk:
                    for site in p.sites:
                        position = positions.get(p.national_id, 0)
                        positions[p.national_id] = position + 1
                        sites.append(
                            {
                                "national_id": p.national_id,
                                "position": position,
                                "structure": site.structure[:512],
                                "postal_code": site.postal_code[:16],
                                "commune": site.commune[:256],
                                "commune_key": commune_key(site.commune)[:256],
                            }
                        )
                    positions.setdefault(p.national_id, 0)
                if people:
                    self._connection.execute(insert(professional), people)
                if sites:
                    self._connection.execute(insert(professional_site), sites)
                counted[0] += len(people)
                counted[1] += len(sites)
        return counted[0], counted[1]

    def search(self, search: ProfessionalSearch, *, limit: int) -> tuple[list[Professional], bool]:
        """The professionals matching ``search`` (each with his sites in the searched place only), ordered
        by name then id, at most ``limit``; and whether more matched."""
        place = (
            _s.postal_code == search.postal_code
            if search.postal_code is not None
            else _s.commune_key == search.commune_key
        )
        spaced = literal(" ") + _p.name_key
        names = [spaced.like(f"% {word}%") for word in search.name_words]
        statement = (
            select(_p.national_id, _p.name_key)
            .join(professional_site, _s.national_id == _p.national_id)
            .where(place, and_(*names))
            .group_by(_p.national_id, _p.name_key)
            .order_by(_p.name_key, _p.national_id)
            .limit(limit + 1)
        )
        with translate_db_errors():
            ids = [row.national_id for row in self._connection.execute(statement)]
        found = self._load(ids[:limit])
        matched = [
            Professional(p.national_id, p.family_name, p.given_name, p.profession_code, p.profession, sites)
            for p in found
            if (sites := search.matches(p))
        ]
        return matched, len(ids) > limit

    def get(self, national_id: str) -> Professional | None:
        """One professional with all his sites; None when the directory does not list him."""
        found = self._load([national_id])
        return found[0] if found else None

    def _load(self, ids: Sequence[str]) -> list[Professional]:
        if not ids:
            return []
        with translate_db_errors():
            people = self._connection.execute(select(professional).where(_p.national_id.in_(list(ids)))).all()
            site_rows = self._connection.execute(_SITES, {"ids": list(ids)}).all()
        sites: dict[str, list[Site]] = {}
        for s in site_rows:
            sites.setdefault(s.national_id, []).append(Site(s.structure, s.postal_code, s.commune))
        by_id: dict[str, Any] = {person.national_id: person for person in people}
        found = []
        for national_id in ids:
            row = by_id.get(national_id)
            if row is not None:
                found.append(
                    Professional(
                        row.national_id,
                        row.family_name,
                        row.given_name,
                        row.profession_code,
                        row.profession,
                        tuple(sites.get(national_id, ())),
                    )
                )
        return found
