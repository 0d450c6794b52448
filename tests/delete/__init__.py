"""The repository root goes on sys.path so that ``tests.*`` helpers import however pytest was started (as
tests/core/conftest.py does)."""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
