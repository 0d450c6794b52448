"""HL7 v2 ADT messages for the feed tests (segments joined by CR, no MLLP framing)."""

from __future__ import annotations

from tests.core.builders import INS, NIR_OID

IHE_AUTHORITY = "1.3.6.1.4.1.21367.13.20.1000"
NIA_OID = "1.2.250.1.213.1.4.9"
#: an INS-NIA of the right shape (NIR rules, key checked): the NIR of ``INS`` with another order number
NIA = "255081416803330"
DMP_NIR = f"{INS}^^^&{NIR_OID}&ISO^NH"
DMP_NIA = f"{NIA}^^^&{NIA_OID}&ISO^NH"


def ihe_pid(value: str) -> str:
    return f"{value}^^^&{IHE_AUTHORITY}&ISO"


def adt(
    event: str,
    pid3: str,
    *,
    version: str = "2.5",
    control_id: str = "MSG0001",
    name: str = "APPLESEED^JOHN^A",
    birth: str = "19710101",
    sex: str = "M",
    mrg: str | None = None,
    message_type: str = "ADT",
    extra: str = "",
) -> bytes:
    structure = {"A40": "ADT_A39", "A08": "ADT_A01", "A04": "ADT_A01", "A05": "ADT_A05"}.get(event, "ADT_A01")
    msh9 = f"{message_type}^{event}^{structure}" if version.startswith("2.5") else f"{message_type}^{event}"
    segments = [
        f"MSH|^~\\&|HIS|HOSP|XDS|DMP|20261207031500||{msh9}|{control_id}|P|{version}",
        f"EVN|{event}|20261207031500",
        f"PID|||{pid3}||{name}||{birth}|{sex}",
    ]
    if mrg is not None:
        segments.append(f"MRG|{mrg}")
    elif event != "A40":
        segments.append("PV1||I")
    if extra:
        segments.append(extra)
    return ("\r".join(segments) + "\r").encode("utf-8")


def msa(answer: bytes) -> list[str]:
    """The MSA fields of an ACK (index 1 = the code)."""
    for segment in answer.decode("utf-8").split("\r"):
        if segment.startswith("MSA|"):
            return segment.split("|")
    raise AssertionError(f"no MSA in {answer!r}")


def err(answer: bytes) -> str:
    for segment in answer.decode("utf-8").split("\r"):
        if segment.startswith("ERR|"):
            return segment
    return ""
