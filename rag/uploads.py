"""Where uploaded files live, and what they are called in the index.

An upload's docid is namespaced, ``uploads/<name>``, so it can never replace a document indexed from
a folder (``tianchang-2021.txt`` and ``uploads/tianchang-2021.txt`` are two documents). Uploading the
same name again is a new version of that document: it replaces the previous upload of that name.
Records of an uploaded JSONL corpus are ``uploads/<file>/<record docid>``.

The bytes are stored under a name the server chooses (a digest of the docid), never under the name
the client sent, so no client-supplied name ever reaches the file system.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from pathlib import Path

from rag.ingest import SUPPORTED
from rag.models import UPLOAD_PREFIX
MAX_NAME_CHARS = 120

#: Characters replaced in an upload's display name: anything but word characters, CJK, dot and
#: hyphen, e.g. "通知 (1)&.docx" -> "通知_1_.docx".
_UNSAFE_NAME = re.compile(r"[^\w\u4e00-\u9fff.\-]+")


class UploadRefused(ValueError):
    """An upload that is refused before reading: ``code`` says why (bad_filename, unsupported_type, empty_file)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def upload_name(filename: str) -> str:
    """The base name only, with no path, control characters or leading dots; long names keep their
    extension (a 300-character name must still be recognised as a .docx)."""
    base = Path(filename.replace("\\", "/")).name
    cleaned = _UNSAFE_NAME.sub("_", base).lstrip(".")
    if not cleaned.strip("_") or cleaned in (".", ".."):
        raise UploadRefused("bad_filename", "the upload needs a file name such as 通知.docx")
    ext = _extension(cleaned)
    if not ext:
        raise UploadRefused("unsupported_type", f"'{base[:80]}' is not one of: {', '.join(SUPPORTED)}")
    if len(cleaned) > MAX_NAME_CHARS:
        cleaned = cleaned[: MAX_NAME_CHARS - len(ext)] + cleaned[-len(ext):]
    return cleaned


def _extension(name: str) -> str:
    """The supported extension ``name`` ends with, longest first (".jsonl.gz" before ".gz"), or ""."""
    return next((e for e in sorted(SUPPORTED, key=len, reverse=True) if name.lower().endswith(e)), "")


def upload_docid(filename: str) -> str:
    return UPLOAD_PREFIX + upload_name(filename)


class UploadFolder:
    """The one folder holding uploaded bytes, under server-chosen names."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path_for(self, docid: str) -> Path:
        ext = _extension(docid[len(UPLOAD_PREFIX):])
        return self.folder.resolve() / (hashlib.sha256(docid.encode("utf-8")).hexdigest()[:24] + ext)

    def staging(self, docid: str) -> Path:
        """A fresh file in the folder for bytes not yet accepted (same extension, unique name)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.path_for(docid)
        return final.with_name(f".{uuid.uuid4().hex}{''.join(final.suffixes)}")

    def holds(self, path: Path | str) -> bool:
        return Path(path).resolve().parent == self.folder.resolve()

    @staticmethod
    def write(path: Path, data: bytes) -> None:
        with open(path, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
