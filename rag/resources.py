"""Files that ship inside the package (prompts), read the same way from a wheel or a checkout."""

from __future__ import annotations

from importlib.resources import files


def load_prompt(name: str) -> str:
    """A prompt from ``rag/prompts/`` (package data: present in every install, editable or not)."""
    return files("rag").joinpath("prompts", name).read_text(encoding="utf-8").strip()
