"""A step's expectations checked against a decoded response.

- `ExpectedStatus`: the response status suffix (Success, Failure, PartialSuccess). A SOAP fault never
  satisfies an expectation: the registry must answer with a RegistryResponse.
- `ExpectedErrorCode`: that errorCode is among the RegistryErrors; `ExpectedErrorMessage`: substring of an
  errorCode or codeContext.
- `ExpectedContents`: the NIST named checks (xds-rules.md §f) on the returned RegistryObjectList.
- `Assertions`: XPath 1.0 expressions, each must be true on the step output (or, for NullTransaction, on
  the output of the latest earlier step of the section).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

from .plan import Assertion, ContentCheck
from .soap import Response
from .xmlutil import children, descendants, local, parse_xml, text_of

SS_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
FOLDER_NODE = "urn:uuid:d9d542f3-6cc4-48b6-8870-ea235fbc94c2"
_SS_SCHEMES = {
    "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8",
    "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446",
}
_FOLDER_SCHEMES = {
    "urn:uuid:75df8f67-9973-4fbe-a900-df66cefecc5a",
    "urn:uuid:f64ffdf0-4b97-4e06-b79f-a52b38ec2f8a",
}
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
DEPRECATED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"


@dataclass
class Objects:
    """The RegistryObjectList of a query response, sorted by kind."""

    docs: list[etree._Element]
    sss: list[etree._Element]
    folders: list[etree._Element]
    assocs: list[etree._Element]
    refs: list[etree._Element]

    @property
    def total(self) -> int:
        return len(self.docs) + len(self.sss) + len(self.folders) + len(self.assocs) + len(self.refs)

    def has_member(self, source: etree._Element, target: etree._Element) -> bool:
        return any(
            a.get("associationType") == HAS_MEMBER
            and a.get("sourceObject") == source.get("id")
            and a.get("targetObject") == target.get("id")
            for a in self.assocs
        )


def registry_objects(body: etree._Element | None) -> Objects:
    out = Objects([], [], [], [], [])
    if body is None:
        return out
    lists = [c for c in body if isinstance(c.tag, str) and local(c) == "RegistryObjectList"]
    objects = [o for lst in lists for o in lst if isinstance(o.tag, str)]
    nodes: dict[str, str] = {}
    for cl in descendants(body, "Classification"):
        if cl.get("classificationNode"):
            nodes[cl.get("classifiedObject", "")] = cl.get("classificationNode", "")
    for o in objects:
        kind = local(o)
        if kind == "ExtrinsicObject":
            out.docs.append(o)
        elif kind == "RegistryPackage":
            node = nodes.get(o.get("id", ""))
            schemes = {e.get("identificationScheme") for e in children(o, "ExternalIdentifier")}
            if node == SS_NODE or (node is None and schemes & _SS_SCHEMES):
                out.sss.append(o)
            elif node == FOLDER_NODE or (node is None and schemes & _FOLDER_SCHEMES):
                out.folders.append(o)
        elif kind == "Association":
            out.assocs.append(o)
        elif kind == "ObjectRef":
            out.refs.append(o)
    return out


def _all_status(objs: Sequence[etree._Element], status: str) -> bool:
    return all(o.get("status") == status for o in objs)


def _shape(o: Objects, ss: int, docs: int, fols: int) -> list[str]:
    got = (len(o.sss), len(o.docs), len(o.folders))
    problems = []
    if got != (ss, docs, fols):
        problems.append(f"expected {ss} SS / {docs} DE / {fols} Folder, got {got[0]} / {got[1]} / {got[2]}")
        return problems
    for s in o.sss:
        for d in o.docs:
            if not o.has_member(s, d):
                problems.append(f"no SS->DE HasMember for {d.get('id')}")
        for f in o.folders:
            if not o.has_member(s, f):
                problems.append(f"no SS->Folder HasMember for {f.get('id')}")
    if not _all_status(o.sss, APPROVED):
        problems.append("SubmissionSet not Approved")
    return problems


_COUNTS = {
    "Documents": "docs",
    "DocumentEntries": "docs",
    "SubmissionSets": "sss",
    "Folders": "folders",
    "Associations": "assocs",
    "ObjectRefs": "refs",
}
_SHAPES = {
    "SSwithOneDoc": (1, 1, 0),
    "SSwithTwoDoc": (1, 2, 0),
    "SSwithOneDocOneFol": (1, 1, 1),
    "SSwithTwoDocOneFol": (1, 2, 1),
    "SSwithOneFol": (1, 0, 1),
    "SSwithTwoDocOneFolOneDocInFol": (1, 2, 1),
}
_ASSOC_CHECKS = {
    "HasRPLC": "urn:ihe:iti:2007:AssociationType:RPLC",
    "HasAPND": "urn:ihe:iti:2007:AssociationType:APND",
    "HasXFRM": "urn:ihe:iti:2007:AssociationType:XFRM",
    "HasXFRM_RPLC": "urn:ihe:iti:2007:AssociationType:XFRM_RPLC",
}


def check_contents(
    checks: Sequence[ContentCheck], body: etree._Element | None, must_include: dict[str, str] | None = None
) -> list[str]:
    """Problems found; `must_include` maps DE id -> objectType for DocumentEntries/MustOnlyInclude."""
    o = registry_objects(body)
    problems: list[str] = []
    for c in checks:
        if c.name in _COUNTS and c.attr("count") is not None:
            got = len(getattr(o, _COUNTS[c.name]))
            want = int((c.attr("count") or "0").strip())
            if got != want:
                problems.append(f"{c.name} count: expected {want}, got {got}")
        if c.name == "DocumentEntries" and must_include is not None:
            ids = {d.get("id", ""): d.get("objectType", "") for d in o.docs}
            if set(ids) != set(must_include):
                problems.append(f"DocumentEntries: expected only {sorted(must_include)}, got {sorted(ids)}")
            for did, otype in must_include.items():
                if otype and did in ids and ids[did] != otype:
                    problems.append(f"DocumentEntry {did}: objectType {ids[did]}, expected {otype}")
        elif c.name == "None":
            if o.total:
                problems.append(f"None: expected no objects, got {o.total}")
        elif c.name in _SHAPES:
            problems += [f"{c.name}: {p}" for p in _shape(o, *_SHAPES[c.name])]
            if c.name == "SSwithTwoDocOneFolOneDocInFol":
                in_fol = [d for f in o.folders for d in o.docs if o.has_member(f, d)]
                if len(in_fol) != 1:
                    problems.append(f"{c.name}: expected 1 DE in the Folder, got {len(in_fol)}")
        elif c.name == "SSApproved":
            if not _all_status(o.sss, APPROVED):  # "all returned", vacuous on none (30006 eval_remove)
                problems.append("SSApproved: a SubmissionSet is not Approved")
        elif c.name in ("DocApp", "DocDep"):
            want_status = APPROVED if c.name == "DocApp" else DEPRECATED
            if not _all_status(o.docs, want_status):
                problems.append(
                    f"{c.name}: statuses {[d.get('status', '').rsplit(':', 1)[-1] for d in o.docs]}"
                )
        elif c.name in ("OneDocApp", "OneDocDep"):
            want_status = APPROVED if c.name == "OneDocApp" else DEPRECATED
            n = sum(1 for d in o.docs if d.get("status") == want_status)
            if n != 1:
                problems.append(f"{c.name}: {n} DocumentEntries with that status")
        elif c.name == "FolApp":
            if not _all_status(o.folders, APPROVED):
                problems.append("FolApp: a Folder is not Approved")
        elif c.name in _ASSOC_CHECKS:
            if not any(a.get("associationType") == _ASSOC_CHECKS[c.name] for a in o.assocs):
                problems.append(f"{c.name}: no such Association")
        elif c.name not in _COUNTS:
            problems.append(f"unknown ExpectedContents check {c.name!r}")
    return problems


def must_only_include(check: ContentCheck, bind: dict[str, str]) -> dict[str, str]:
    """DocumentEntries/MustOnlyInclude/DocumentEntry: UseId symbols are already bound in `bind`."""
    out: dict[str, str] = {}
    root = parse_xml(check.xml)
    for de in descendants(root, "DocumentEntry"):
        ids = [bind.get(u.get("symbol", ""), u.get("symbol", "")) for u in children(de, "UseId")]
        types = children(de, "DocumentEntryType")
        for i in ids:
            out[i] = text_of(types[0]) if types else ""
    return out


def check_status(resp: Response, expected: str) -> list[str]:
    if resp.error:
        return [resp.error]
    if resp.is_fault:
        return [f"SOAP fault {'/'.join(resp.fault_codes)}: {resp.fault_reason}"]
    got = resp.status()
    if got != expected:
        errs = "; ".join(f"{e['errorCode']}: {e['codeContext'][:160]}" for e in resp.errors()[:3])
        return [f"status {got}, expected {expected}" + (f" ({errs})" if errs else "")]
    return []


def check_errors(resp: Response, codes: Sequence[str], messages: Sequence[str]) -> list[str]:
    errs = resp.errors()
    problems = []
    got_codes = [e["errorCode"] for e in errs]
    for code in codes:
        if code not in got_codes:
            problems.append(f"expected error code {code}, got {got_codes or 'none'}")
    for msg in messages:
        if not any(msg in e["errorCode"] or msg in e["codeContext"] for e in errs):
            problems.append(f"expected error message containing {msg!r}, got {got_codes or 'none'}")
    return problems


def section_log(
    steps: Sequence[tuple[str, str, etree._Element | None, etree._Element | None]],
) -> etree._Element:
    """`DataRef file="THIS"`: the section's log as the NIST engine writes it, one
    `TestStep[@id]/<Transaction>` per step holding `InputMetadata` (the request body as sent) and `Result`
    (the response). Plans count over both: 15801/author expects 2 author Classifications under
    `@lid=orig`, one in the update request and one in the updated entry returned by the query."""
    root = etree.Element("TestLog")
    for step_id, element, request, output in steps:
        if request is None and output is None:
            continue
        tx = etree.SubElement(etree.SubElement(root, "TestStep", id=step_id), element or "Transaction")
        for name, part in (("InputMetadata", request), ("Result", output)):
            if part is not None:
                etree.SubElement(tx, name).append(copy.deepcopy(part))
    return root


def xpath_true(doc: etree._Element | None, expr: str) -> bool:
    if doc is None:
        return False
    tree = etree.ElementTree(parse_xml(etree.tostring(doc)))
    value = tree.xpath(expr)
    if isinstance(value, list):
        return len(value) > 0
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return value != 0
    return bool(value)


def check_assertions(
    asserts: Sequence[Assertion], doc: etree._Element | None, bind: dict[str, str]
) -> list[str]:
    from .state import substitute

    problems = []
    for a in asserts:
        expr = substitute(a.xpath, bind, escape=False)
        try:
            ok = xpath_true(doc, expr)
        except etree.XPathError as exc:
            problems.append(f"assertion {a.id}: bad XPath ({exc})")
            continue
        if not ok:
            problems.append(f"assertion {a.id} is false")
    return problems


def xpath_value(doc: etree._Element | None, expr: str) -> str | None:
    """A Report value: the string value of the first node (or the scalar result)."""
    if doc is None:
        return None
    tree = etree.ElementTree(parse_xml(etree.tostring(doc)))
    try:
        value = tree.xpath(expr)
    except etree.XPathError:
        return None
    if isinstance(value, list):
        if not value:
            return None
        first = value[0]
        if isinstance(first, etree._Element):
            return " ".join("".join(str(t) for t in first.itertext()).split())
        return str(first).strip()
    return str(value).strip()
