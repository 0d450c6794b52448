"""Step lines, the per-transaction table, the closing count line, and the JSON report."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from .engine import StepResult

OUTCOMES = ("PASS", "FAIL", "SKIP")


def step_line(r: StepResult) -> str:
    reason = f"  [{r.reason}]" if r.reason else ""
    return f"{r.outcome:4} {r.transaction:7} {r.label}{reason}"


def table(results: Sequence[StepResult]) -> list[str]:
    per: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(OUTCOMES, 0))
    for r in results:
        per[r.transaction][r.outcome] += 1
    lines = [f"{'transaction':12} {'pass':>5} {'fail':>5} {'skip':>5} {'total':>6}"]
    for tx in sorted(per):
        c = per[tx]
        lines.append(f"{tx:12} {c['PASS']:5} {c['FAIL']:5} {c['SKIP']:5} {sum(c.values()):6}")
    tot = {o: sum(1 for r in results if r.outcome == o) for o in OUTCOMES}
    lines.append(f"{'all':12} {tot['PASS']:5} {tot['FAIL']:5} {tot['SKIP']:5} {len(results):6}")
    return lines


def summary_line(results: Sequence[StepResult]) -> str:
    n = {o: sum(1 for r in results if r.outcome == o) for o in OUTCOMES}
    return f"{n['PASS']} passed, {n['FAIL']} failed, {n['SKIP']} skipped"


def to_json(results: Sequence[StepResult], meta: dict[str, object]) -> dict[str, object]:
    per: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(OUTCOMES, 0))
    for r in results:
        per[r.transaction][r.outcome] += 1
    return {
        **meta,
        "steps": [
            {
                "step": r.label,
                "test": r.test_id,
                "section": r.section,
                "step_id": r.step_id,
                "transaction": r.transaction,
                "outcome": r.outcome,
                "reason": r.reason,
                "details": r.details,
                "seconds": round(r.seconds, 3),
            }
            for r in results
        ],
        "by_transaction": {k: dict(v) for k, v in sorted(per.items())},
        "summary": summary_line(results),
    }


def write_json(path: Path, results: Sequence[StepResult], meta: dict[str, object]) -> None:
    path.write_text(json.dumps(to_json(results, meta), indent=1) + "\n", encoding="utf-8")
