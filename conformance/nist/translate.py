"""ebRIM 2.1 -> 3.0, as the NIST engine does before sending the older testkit metadata files.

Rules (xds-rules.md §f): the root becomes `lcm:SubmitObjectsRequest`, `LeafRegistryObjectList` becomes
`rim:RegistryObjectList`, every `ObjectRef` is dropped (in 2.1 they only declare the classification schemes
used), elements move to the rim 3.0 namespace, short `associationType` / `status` values get their URN
prefix, children are reordered Slot, Name, Description, VersionInfo, Classification, ExternalIdentifier
(then anything else), `objectType` is set on RegistryPackage / Association / Classification /
ExternalIdentifier, ExternalIdentifiers get `registryObject` = the owner's id, and Associations,
Classifications and ExternalIdentifiers without an id get a symbolic one (`id_N`) that the registry, or
`AssignUuids`, turns into a UUID. `majorVersion`/`minorVersion` have no 3.0 counterpart and are dropped;
`lang` becomes `xml:lang`.
"""

from __future__ import annotations

from lxml import etree

from .xmlutil import LCM3, RIM3, RIM21, RS21, local, ns

_OBJECT_TYPE = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:"
_TYPED = ("RegistryPackage", "Association", "Classification", "ExternalIdentifier")
_ORDER = ("Slot", "Name", "Description", "VersionInfo", "Classification", "ExternalIdentifier")
_STATUS = "urn:oasis:names:tc:ebxml-regrep:StatusType:"
_EBXML_ASSOC = "urn:oasis:names:tc:ebxml-regrep:AssociationType:"
_IHE_ASSOC = "urn:ihe:iti:2007:AssociationType:"
_XML_NS = "http://www.w3.org/XML/1998/namespace"


def is_rim21(root: etree._Element) -> bool:
    return ns(root) in (RS21, RIM21)


def association_type_v3(value: str) -> str:
    if ":" in value:
        return value
    return (_EBXML_ASSOC if value == "HasMember" else _IHE_ASSOC) + value


def status_v3(value: str) -> str:
    return value if ":" in value else _STATUS + value


class _Translator:
    def __init__(self) -> None:
        self.count = 0

    def new_id(self) -> str:
        self.count += 1
        return f"id_{self.count}"

    def copy(self, src: etree._Element) -> etree._Element | None:
        name = local(src)
        if name == "ObjectRef":
            return None
        dst = etree.Element(f"{{{RIM3}}}{name}", nsmap={"rim": RIM3})
        for key, raw in src.attrib.items():
            value = str(raw)
            qn = etree.QName(key)
            attr = qn.localname
            if attr in ("majorVersion", "minorVersion"):
                continue
            if attr == "status":
                value = status_v3(value)
            elif attr == "associationType":
                value = association_type_v3(value)
            dst.set(f"{{{_XML_NS}}}lang" if attr == "lang" else attr, value)
        if name in _TYPED:
            dst.set("objectType", _OBJECT_TYPE + name)
        if name in ("Association", "Classification") and not dst.get("id"):
            dst.set("id", self.new_id())
        kids = [c for c in src if isinstance(c.tag, str)]
        for wanted in _ORDER:
            for child in kids:
                if local(child) != wanted:
                    continue
                new = self.copy(child)
                if new is None:
                    continue
                if wanted == "ExternalIdentifier":
                    if not new.get("id"):
                        new.set("id", self.new_id())
                    new.set("registryObject", src.get("id", ""))
                dst.append(new)
        for child in kids:
            if local(child) in _ORDER:
                continue
            new = self.copy(child)
            if new is not None:
                dst.append(new)
        if src.text and src.text.strip():
            dst.text = src.text
        return dst


def translate_to_v3(root: etree._Element) -> etree._Element:
    """A new 3.0 SubmitObjectsRequest for a 2.1 one; a 3.0 document is returned unchanged."""
    if not is_rim21(root):
        return root
    tr = _Translator()
    out = etree.Element(f"{{{LCM3}}}SubmitObjectsRequest", nsmap={"lcm": LCM3, "rim": RIM3})
    rol = etree.SubElement(out, f"{{{RIM3}}}RegistryObjectList")
    for lst in root:
        if not isinstance(lst.tag, str) or local(lst) != "LeafRegistryObjectList":
            continue
        for obj in lst:
            if not isinstance(obj.tag, str):
                continue
            new = tr.copy(obj)
            if new is not None:
                rol.append(new)
    return out
