"""Where a submission's CPU goes: py-spy samples of the server, sorted into the stages of ITI-41.

``bench/pnr.py --stages`` records the server with ``py-spy record --gil --format raw`` (only samples of the
thread holding the GIL: Python CPU, not threads waiting for a lock, a fsync or the network) while the
ITI-41 load runs, then calls ``breakdown`` on the file. Each sample is given to the *deepest* frame of its
stack that names a stage below (so a SQL statement run by the planner counts as planning, one run by the
insert as inserts); a sample with none is "HTTP, event loop, other". The shares multiplied by the measured
server CPU per submission give milliseconds per stage; system time spent outside the GIL (fsync, write)
is not in the samples and shows in the gap between ``cpu ms`` and the stages' sum.

    python bench/stages.py FILE.raw [--cpu-ms 4.0]    # a saved profile
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

#: (stage, file suffix, function names or None for any) from the outermost step to the innermost: the
#: deepest frame matching one of them owns the sample.
RULES: tuple[tuple[str, str, frozenset[str] | None], ...] = (
    ("HTTP, event loop, other", "xds_server/soap/endpoints.py", frozenset({"soap_endpoint", "_answer"})),
    (
        "admission (credentials)",
        "xds_server/soap/endpoints.py",
        frozenset(
            {
                "_Admission.watch",
                "_admit",
                "_Admission._admit",
                "_Admission.__init__",
                "_Admission.check_envelope",
            }
        ),
    ),
    ("admission (credentials)", "xds_server/soap/router.py", frozenset({"Router.admit"})),
    ("MTOM reading", "xds_server/soap/mtom.py", None),
    ("envelope parsing", "xds_server/soap/envelope.py", frozenset({"read_envelope"})),
    ("envelope parsing", "xds_server/xmlparse.py", None),
    ("request reading", "xds_server/soap/iti41.py", frozenset({"_read_request", "_document_part"})),
    ("decoding (ebRIM -> model)", "xds_server/ebxml/codec.py", frozenset({"decode_submission"})),
    ("decoding (ebRIM -> model)", "xds_server/ebxml/decoding.py", None),
    ("decoding (ebRIM -> model)", "xds_server/ebxml/limits.py", None),
    ("access checks", "xds_server/wiring/access.py", None),
    ("validation", "xds_server/core/validation/", None),
    ("validation", "xds_server/core/repository.py", None),
    ("planning (with its reads)", "xds_server/core/submission.py", None),
    ("encoding (model -> ebRIM)", "xds_server/ebxml/encoding.py", None),
    (
        "inserts",
        "xds_server/storage/registry.py",
        frozenset(
            {
                "SqlRegistryStore.add_objects",
                "SqlRegistryStore.set_status",
                "SqlRegistryStore.touch_folders",
                "SqlRegistryStore._allocate_seq",
            }
        ),
    ),
    ("inserts", "xds_server/storage/bulk.py", None),
    ("audit trail", "xds_server/wiring/audit.py", None),
    ("audit trail", "xds_server/wiring/trail.py", None),
    ("audit trail", "xds_server/storage/audit.py", None),
    ("audit trail", "xds_server/audit/", None),
    ("blob store (write, fsync)", "xds_server/storage/blobs.py", None),
    ("blob store (write, fsync)", "xds_server/storage/timed_blobs.py", None),
    ("transaction (begin, savepoint, commit)", "xds_server/storage/group_commit.py", None),
    ("transaction (begin, savepoint, commit)", "xds_server/storage/database.py", None),
    ("transaction (begin, savepoint, commit)", "xds_server/app.py", frozenset({"transaction"})),
    ("response", "xds_server/soap/envelope.py", frozenset({"write_envelope"})),
    ("response", "xds_server/soap/replies.py", frozenset({"registry_response", "_response"})),
    ("response", "xds_server/soap/mtom.py", frozenset({"mtom_response"})),
    ("response", "xds_server/soap/router.py", frozenset({"outcome_of", "_outcome"})),
)
OTHER = "HTTP, event loop, other"
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?):\d+\)$")


def stage_of(frames: Iterable[str]) -> str:
    """The stage of one stack (root first)."""
    owner = OTHER
    for frame in frames:
        match = _FRAME.match(frame)
        if match is None:
            continue
        function, file = match["function"], match["file"]
        for stage, suffix, functions in RULES:
            if suffix in file and (functions is None or function in functions):
                owner = stage
                break
    return owner


def breakdown(raw: Path) -> tuple[Counter[str], int]:
    """Samples per stage in a py-spy raw (collapsed stacks) file, and the total."""
    stages: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if frames and frames[0].startswith("process "):
            frames = frames[1:]
        stages[stage_of(frames)] += int(count)
    return stages, sum(stages.values())


def rows(stages: Counter[str], total: int, cpu_ms: float | None) -> list[list[str]]:
    out = []
    for stage, samples in stages.most_common():
        share = samples / total if total else 0.0
        out.append([stage, f"{100 * share:.1f} %", f"{share * cpu_ms:.2f}" if cpu_ms else "-"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", type=Path)
    parser.add_argument("--cpu-ms", type=float, default=None, help="server CPU per submission")
    args = parser.parse_args()
    stages, total = breakdown(args.raw)
    for row in rows(stages, total, args.cpu_ms):
        print(f"{row[0]:<42} {row[1]:>8} {row[2]:>8}")
    print(f"{total} samples")


if __name__ == "__main__":
    main()
