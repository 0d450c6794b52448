"""Hypothesis strategies for core model objects that the ebRIM codec must carry exactly.

The strategies stay inside what the model can express unambiguously in ebRIM: typed codes have a code,
extra slot names never collide with typed slot names, an Association keeps all its Slots in ``slots``.
"""

from __future__ import annotations

from hypothesis import strategies as st

from xds_server.core.metadata import (
    Association,
    Author,
    Code,
    DocumentEntry,
    Folder,
    LocalizedText,
    Slot,
    SubmissionSet,
)
from xds_server.core.vocabulary import AssociationType, ClassificationNode, ObjectType
from xds_server.ebxml.tables import AUTHOR_SLOTS, DOCUMENT_ENTRY, FOLDER, SUBMISSION_SET, KindSpec

# XML 1.0 characters without control characters (lxml refuses those) and without surrogates.
text = st.text(st.characters(exclude_categories=("Cs", "Cc", "Cn")), max_size=12)
non_empty = st.text(st.characters(exclude_categories=("Cs", "Cc", "Cn")), min_size=1, max_size=12)
values = st.lists(text, max_size=3).map(tuple)
optional = st.none() | text

RESERVED = frozenset({*AUTHOR_SLOTS, "codingScheme"})


def slot_lists(reserved: frozenset[str]) -> st.SearchStrategy[tuple[Slot, ...]]:
    names = non_empty.filter(lambda n: n not in reserved)
    return st.lists(st.tuples(names, values), max_size=3, unique_by=lambda item: item[0]).map(
        lambda items: tuple(Slot(name, vals) for name, vals in items)
    )


localized = st.none() | st.builds(
    LocalizedText, value=text, lang=st.none() | non_empty, charset=st.none() | non_empty
)
codes = st.builds(Code, code=non_empty, scheme=text, display=text)
authors = st.builds(
    Author,
    person=optional,
    institutions=values,
    roles=values,
    specialties=values,
    telecoms=values,
    extra_slots=slot_lists(RESERVED),
)


def _other_classifications(spec: KindSpec) -> st.SearchStrategy[tuple[tuple[str, Code], ...]]:
    taken = {*spec.single_codes, *spec.multi_codes, spec.author_scheme, *ClassificationNode}
    keys = non_empty.filter(lambda k: k not in taken)
    node_code = st.builds(Code, code=st.just(""), scheme=st.just(""), display=text)
    return st.lists(st.tuples(keys, codes | node_code), max_size=2).map(tuple)


def _common(spec: KindSpec) -> dict[str, st.SearchStrategy[object]]:
    return {
        "entry_uuid": non_empty,
        "logical_id": optional,
        "version": optional,
        "status": optional,
        "home": optional,
        "title": localized,
        "comments": localized,
        "extra_slots": slot_lists(spec.typed_slot_names),
        "other_classifications": _other_classifications(spec),
    }


document_entries = st.builds(
    DocumentEntry,
    **_common(DOCUMENT_ENTRY),
    object_type=st.sampled_from([ObjectType.STABLE_DOCUMENT.value, ObjectType.ON_DEMAND_DOCUMENT.value, ""]),
    mime_type=text,
    patient_id=optional,
    unique_id=optional,
    creation_time=optional,
    language_code=optional,
    source_patient_id=optional,
    source_patient_info=values,
    service_start_time=optional,
    service_stop_time=optional,
    repository_unique_id=optional,
    hash=optional,
    size=optional,
    uri=optional,
    legal_authenticator=optional,
    reference_ids=values,
    document_availability=optional,
    authors=st.lists(authors, max_size=2).map(tuple),
    class_code=st.none() | codes,
    confidentiality_codes=st.lists(codes, max_size=2).map(tuple),
    event_codes=st.lists(codes, max_size=2).map(tuple),
    format_code=st.none() | codes,
    healthcare_facility_type_code=st.none() | codes,
    practice_setting_code=st.none() | codes,
    type_code=st.none() | codes,
)

submission_sets = st.builds(
    SubmissionSet,
    **_common(SUBMISSION_SET),
    patient_id=optional,
    unique_id=optional,
    source_id=optional,
    submission_time=optional,
    intended_recipients=values,
    authors=st.lists(authors, max_size=2).map(tuple),
    content_type_code=st.none() | codes,
)

folders = st.builds(
    Folder,
    **_common(FOLDER),
    patient_id=optional,
    unique_id=optional,
    last_update_time=optional,
    codes=st.lists(codes, max_size=3).map(tuple),
)

associations = st.builds(
    Association,
    entry_uuid=non_empty,
    logical_id=optional,
    version=optional,
    status=optional,
    home=optional,
    title=localized,
    comments=localized,
    association_type=st.sampled_from([t.value for t in AssociationType]) | text,
    source=text,
    target=text,
    slots=slot_lists(frozenset()),
    documentation=st.none() | codes,
)

any_object = document_entries | submission_sets | folders | associations

__all__ = ["any_object", "associations", "document_entries", "folders", "submission_sets"]
