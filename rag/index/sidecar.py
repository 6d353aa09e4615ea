"""A folder's access sidecar: ``.policyqa.toml`` says who may read the documents in it.

    # docs/法制科/.policyqa.toml — applies to this folder and the folders below it (a nearer one wins)
    kb = "法制科"                   # knowledge base (``policyqa index --kb`` overrides it)
    classification = "内部"          # 公开 (default) or 内部
    audience = ["法制科", "司法局"]   # groups; empty or absent: everyone who may read the knowledge base

The file is hidden (a leading dot), so indexing a folder never reads it as a document. A key it
does not know, or a value that is not valid, stops the run naming the file: a typo must not leave
internal documents public.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from rag.index.acl import (AUDIENCE_KEY, CLASSIFICATION_KEY, DEFAULT_KB, KB_KEY, AccessError, audience_value,
                           check_name, classification_value)

SIDECAR = ".policyqa.toml"
_KEYS = {KB_KEY, AUDIENCE_KEY, CLASSIFICATION_KEY}


def read_sidecar(path: Path) -> dict[str, str]:
    """The access a sidecar file gives, as stored metadata values (AccessError naming the file)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise AccessError(f"{path}: not a readable TOML file ({exc}); fix or remove it") from None
    unknown = set(data) - _KEYS
    if unknown:
        raise AccessError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}; use {', '.join(sorted(_KEYS))}")
    audience = data.get(AUDIENCE_KEY, [])
    if not isinstance(audience, list) or not all(isinstance(g, str) for g in audience):
        raise AccessError(f'{path}: audience must be a list of group names, e.g. audience = ["法制科"]')
    try:
        out = {AUDIENCE_KEY: audience_value(audience),
               CLASSIFICATION_KEY: classification_value(data.get(CLASSIFICATION_KEY))}
        if KB_KEY in data:
            out[KB_KEY] = check_name(str(data[KB_KEY]), "knowledge base")
    except AccessError as exc:
        raise AccessError(f"{path}: {exc}") from None
    return out


class Sidecars:
    """The access of each file under the folders of one index run, each sidecar read once."""

    def __init__(self, kb: str | None) -> None:
        self.kb = check_name(kb, "knowledge base") if kb else None
        self._folders: dict[Path, dict[str, str]] = {}

    def access(self, file: Path, root: Path) -> dict[str, str]:
        """``kb``, ``audience`` and ``classification`` for ``file``: the nearest sidecar at or above
        its folder up to ``root`` (the folder given to the run), ``--kb`` over the sidecar's kb."""
        found = self._nearest(file.resolve().parent, root.resolve())
        return {KB_KEY: self.kb or found.get(KB_KEY) or DEFAULT_KB, AUDIENCE_KEY: found.get(AUDIENCE_KEY, ""),
                CLASSIFICATION_KEY: found.get(CLASSIFICATION_KEY, classification_value(None))}

    def _nearest(self, folder: Path, root: Path) -> dict[str, str]:
        if folder not in self._folders:
            here = folder / SIDECAR
            if here.is_file():
                self._folders[folder] = read_sidecar(here)
            elif folder == root or root not in folder.parents:
                self._folders[folder] = {}
            else:
                self._folders[folder] = self._nearest(folder.parent, root)
        return self._folders[folder]
