"""``xds-server policy explain``: the decision path of one case, as lines for support staff."""

from __future__ import annotations

from xds_server.core.policy.context import AccessContext
from xds_server.core.policy.decision import Decision
from xds_server.core.policy.record import DocumentFacts, RecordSettings, WriteOperation
from xds_server.core.policy.rules import Policy


def format_decision(title: str, decision: Decision) -> list[str]:
    verdict = "ALLOWED" if decision.allowed else f"REFUSED {decision.code.value if decision.code else ''}"
    lines = [f"{title}: {verdict.strip()} (decided by the {decision.profile.value} profile)"]
    lines += [f"  - {line}" for line in decision.trace]
    if not decision.allowed:
        shown = "answered as if absent" if decision.conceal else f"message: {decision.reason}"
        lines.append(f"  caller sees: {shown}")
    return lines


def explain(
    policy: Policy,
    ctx: AccessContext,
    record: RecordSettings | None,
    doc: DocumentFacts | None = None,
    *,
    include_deprecated: bool = False,
    operation: WriteOperation | None = None,
    original: DocumentFacts | None = None,
) -> tuple[str, ...]:
    """Record access, then (with a document) its visibility, then (with an operation) the write decision."""
    lines = format_decision("record access", policy.decide_record_access(ctx, record))
    if doc is not None:
        visibility = policy.decide_document_visibility(
            ctx, record, doc, include_deprecated=include_deprecated
        )
        lines += format_decision("document visibility", visibility)
        if operation is not None:
            write = policy.decide_write(ctx, record, doc, operation, original=original)
            lines += format_decision(f"write ({operation.value})", write)
    return tuple(lines)


__all__ = ["explain", "format_decision"]
