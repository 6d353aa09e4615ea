"""Installs as users install: a built wheel, non-editable, in its own venv, run outside the repo.

Prompts and the UI are package data/modules, so a wheel answers exactly like a checkout; the main
job (index + extractive answers) needs neither torch nor the LLM extra.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.conftest import DOCS, ROOT, TIANCHANG_Q

pytestmark = pytest.mark.full


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    run = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert run.returncode == 0, f"{cmd}\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return run


def test_wheel_installs_and_answers_outside_the_repo(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(ROOT)],
         timeout=600)
    (wheel,) = wheels.glob("policyqa-*.whl")
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert "rag/prompts/answer_system.md" in names and "rag/ui/app.py" in names
    assert not any(n.startswith("ui/") for n in names), "a generic top-level 'ui' package must not be installed"

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = str(env_dir / "bin" / "python")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("POLICYQA_", "VIRTUAL_ENV", "PYTHONPATH"))}
    _run([py, "-m", "pip", "install", "-q", str(wheel)], timeout=1200, env=clean)
    work = tmp_path / "elsewhere"
    work.mkdir()
    policyqa = str(env_dir / "bin" / "policyqa")
    offline = {**clean, "HF_HUB_OFFLINE": "1", "POLICYQA_INDEX_DIR": str(work / "index")}
    _run([policyqa, "index", str(DOCS)], cwd=work, env=offline, timeout=900)
    answer = json.loads(_run([policyqa, "ask", TIANCHANG_Q, "--json"], cwd=work, env=offline, timeout=300).stdout)
    assert not answer["refused"] and "2020年8月" in answer["answer"]
    assert answer["citations"][0]["docid"] == "tianchang-2021.txt"
    # the install carries no torch: the main job never needed it
    probe = _run([py, "-c", "import importlib.util as u; print(u.find_spec('torch') is None)"], env=clean)
    assert probe.stdout.strip() == "True"
