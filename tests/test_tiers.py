"""The test tiers as the README writes them: bare ``pytest -m "not full"`` from a fresh clone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.full
def test_bare_pytest_collects_the_fast_tier() -> None:
    """``pytest`` (not ``python -m pytest``, which puts the current folder on the path) with no
    PYTHONPATH: the ``tests.*`` helpers import through the pytest config's ``pythonpath``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    pytest_exe = Path(sys.executable).with_name("pytest")
    run = subprocess.run([str(pytest_exe), "--collect-only", "-q", "-m", "not full", "-p", "no:cacheprovider"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert " collected" in run.stdout and "tests/test_ocr.py::" in run.stdout
