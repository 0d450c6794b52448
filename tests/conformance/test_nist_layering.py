"""The server package never imports the conformance runner at import time (the runner may import the server).

An import inside a function is allowed: that is how the CLI mounts `xds-server conformance` lazily.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    """Modules imported when the file is imported (function bodies are not entered)."""
    names: set[str] = set()
    todo: list[ast.AST] = [ast.parse(path.read_text(encoding="utf-8"), str(path))]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        todo.extend(ast.iter_child_nodes(node))
    return names


def test_no_server_module_imports_conformance() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for pkg in ("xds_server", "fhir_api")
        if (ROOT / pkg).is_dir()
        for p in sorted((ROOT / pkg).rglob("*.py"))
        if any(n == "conformance" or n.startswith("conformance.") for n in _imports(p))
    ]
    assert offenders == []


def test_the_check_sees_an_import(tmp_path: Path) -> None:
    probe = tmp_path / "m.py"
    probe.write_text("from conformance.nist import run\nimport os\ndef lazy():\n    import conformance.cli\n")
    assert _imports(probe) == {"conformance.nist", "os"}
