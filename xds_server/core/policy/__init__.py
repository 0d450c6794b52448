"""DMP access policy: pure decisions over data.

Theory of operation
-------------------
Sources: CSP art. R.1111-46 (consent, care team, the habilitation matrix), the CSP médecin traitant rights,
the arrêté du 26/10/2023 (matrix annex), and the team's rule book /work/shared/docs/dmp-rules.md
(sections a, b) with issue 7. The ``dmp`` profile applies these rules; the ``ihe`` profile (conformance)
lets any authenticated actor do anything, and every decision says which profile decided.

Reading (``Policy.decide_record_access`` then ``decide_document_visibility`` / ``visibility_scope``):
 1. identity is checked by the adapters before the policy runs (no context, no decision);
 2. record state: no record, opposed and closed give one identical answer (XDSUnknownPatientId,
    "DMP closed or does not exist"); created (not yet activated) and activated records are open;
 3. binding: a professional's assertion names this patient; a patient reads his own record; a legal
    representative is registered for this patient and his token names him;
 4. block list: a blocked professional is refused in every mode;
 5. access basis (R.1111-46): consent declared (authorised list), médecin traitant, administrator doctor,
    regulation unless the patient refused it, break-glass with a non-empty reason unless refused;
 6. per document: Approved only unless deprecated ones are asked for; the author always sees his own;
    MASQUE_PS hides from professionals except administrator doctors (the patient's "médecins
    administrateurs" and the médecin traitant) in normal mode; the matrix (profession group x typeCode,
    unknown denies); INVISIBLE_PATIENT hides from the patient and his representatives, and
    INVISIBLE_REPRESENTANTS_LEGAUX from the representatives only. A hidden document is absent.

Writing (``Policy.decide_record_write``, the record-level gate, then ``Policy.decide_write``): state,
binding and block list as above (consent is not needed to feed); a document the actor cannot see cannot be
replaced, appended to, deprecated or updated; only its author or the author's structure may do so, and
masking changes are also open to administrator doctors; new metadata follows the matrix (unless relaxed) for
professionals and class 90 for patients; MASQUE_PS with INVISIBLE_PATIENT is refused (DMPMaskingConflict);
in a minor's secret connection documents must carry INVISIBLE_REPRESENTANTS_LEGAUX.

No profession code appears in code: professions reach the rules only through the groups and matrix data.
"""

from xds_server.core.policy.context import AccessContext, AccessMode, ActorKind, PolicyMode
from xds_server.core.policy.decision import RECORD_NOT_FOUND, AccessBasis, Decision
from xds_server.core.policy.explain import explain, format_decision
from xds_server.core.policy.record import (
    INVISIBLE_PATIENT,
    INVISIBLE_REPRESENTANTS_LEGAUX,
    MASQUE_PS,
    PATIENT_CLASS_CODE,
    PS_NATIONAL_ID_OID,
    DocumentFacts,
    RecordSettings,
    WriteOperation,
    author_national_id,
    code_key,
    facts_from_entry,
    is_minor,
    structure_national_id,
)
from xds_server.core.policy.rules import Policy
from xds_server.core.policy.scope import VisibilityScope
from xds_server.core.policy.tables import (
    Cell,
    GroupRule,
    HabilitationMatrix,
    ProfessionGroups,
    parse_habilitation_matrix,
    parse_profession_groups,
)

__all__ = [
    "INVISIBLE_PATIENT",
    "INVISIBLE_REPRESENTANTS_LEGAUX",
    "MASQUE_PS",
    "PATIENT_CLASS_CODE",
    "PS_NATIONAL_ID_OID",
    "RECORD_NOT_FOUND",
    "AccessBasis",
    "AccessContext",
    "AccessMode",
    "ActorKind",
    "Cell",
    "Decision",
    "DocumentFacts",
    "GroupRule",
    "HabilitationMatrix",
    "Policy",
    "PolicyMode",
    "ProfessionGroups",
    "RecordSettings",
    "VisibilityScope",
    "WriteOperation",
    "author_national_id",
    "code_key",
    "explain",
    "facts_from_entry",
    "format_decision",
    "is_minor",
    "parse_habilitation_matrix",
    "parse_profession_groups",
    "structure_national_id",
]
