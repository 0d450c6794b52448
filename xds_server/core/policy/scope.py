"""The document filter in a form a SQL query can compile: ``VisibilityScope``.

``Policy.visibility_scope(ctx, record)`` gives, for one actor and one record, the set-valued facts that
``Policy.decide_document_visibility`` would apply document by document; ``VisibilityScope.admits`` is the
same predicate in Python (tests prove the two agree for every combination). The query engine compiles it
to WHERE clauses so that a hidden document never leaves the database (and never counts toward
XDSTooManyResults, associations, folder or submission-set contents):

    -- nothing at all when not scope.record_allowed (the query was refused before; defensive: WHERE 1 = 0)
    de.patient_id = :patient_id
    AND (:include_deprecated OR de.status = 'urn:oasis:names:tc:ebxml-regrep:StatusType:Approved')
    AND (:unrestricted
         OR EXISTS (SELECT 1 FROM author_person ap            -- author exception (empty set: skip)
                    WHERE ap.entry_uuid = de.entry_uuid AND <ap.person's XCN.1 IN :author_ids
                          with XCN.9 authority PS_NATIONAL_ID_OID>)
         OR (  de.type_code IN :allowed_type_codes            -- None: no type restriction (omit)
           AND NOT EXISTS (SELECT 1 FROM document_code dc     -- empty set: omit
                           WHERE dc.entry_uuid = de.entry_uuid AND dc.attribute = 'confidentiality'
                                 AND dc.code_key IN :hidden_confidentiality_codes)))

``author_ids`` are national ids, not whole XCN strings: either index the XCN.1 of authorPerson values whose
XCN.9 universal id is ``PS_NATIONAL_ID_OID`` (``record.author_national_id`` is the parser to reuse), or
match ``ap.person LIKE :id || '^%'`` and ``ap.person LIKE '%&1.2.250.1.71.4.2.1&%'`` with LIKE escaping.
A NULL type_code is never IN a set, which is the policy's answer too (unknown type denies).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xds_server.core.policy.record import DocumentFacts


@dataclass(frozen=True, slots=True)
class VisibilityScope:
    """Which documents of one record one actor may see.

    A document is visible iff ``record_allowed``, its status passes (Approved, or any when
    ``include_deprecated``), and either ``unrestricted``, or one of its author national ids is in
    ``author_ids``, or its typeCode key is in ``allowed_type_codes`` (``None``: any) and none of its
    confidentialityCode keys is in ``hidden_confidentiality_codes``.
    """

    patient_id: str | None
    record_allowed: bool
    unrestricted: bool = False
    include_deprecated: bool = False
    allowed_type_codes: frozenset[str] | None = field(default_factory=frozenset)
    hidden_confidentiality_codes: frozenset[str] = field(default_factory=frozenset)
    author_ids: frozenset[str] = field(default_factory=frozenset)

    def admits(self, doc: DocumentFacts) -> bool:
        if not self.record_allowed:
            return False
        if doc.is_deprecated and not self.include_deprecated:
            return False
        if self.unrestricted or doc.author_ids & self.author_ids:
            return True
        if self.allowed_type_codes is not None and doc.type_code not in self.allowed_type_codes:
            return False
        return not doc.confidentiality_codes & self.hidden_confidentiality_codes


__all__ = ["VisibilityScope"]
