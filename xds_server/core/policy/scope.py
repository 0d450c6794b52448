"""The document filter in a form a SQL query can compile: ``VisibilityScope``.

``Policy.visibility_scope(ctx, record)`` gives, for one actor and one record, the set-valued facts that
``Policy.decide_document_visibility`` would apply document by document; ``VisibilityScope.admits`` is the
same predicate in Python (tests prove the two agree for every combination). The query engine compiles it
(``storage/query_sql.py``, ``_visible``) so that a hidden document never leaves the database and never counts
toward XDSTooManyResults, associations, folder or submission-set contents. A document of the record is
visible iff:

    record_allowed
    AND (include_deprecated OR status is Approved)
    AND (unrestricted
         OR one of its authorPerson national ids (XCN.1 under PS_NATIONAL_ID_OID) is in author_ids
         OR (typeCode in allowed_type_codes (None: any type)
             AND none of its confidentiality codes is in hidden_confidentiality_codes))

A document without a typeCode is never in a set, which is the policy's answer too (unknown type denies).
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
