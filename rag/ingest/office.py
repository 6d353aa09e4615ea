"""Office formats read through LibreOffice (.doc .wps .rtf .odt, .xls .et .ods): the file's
conversion from the cache (rag.ingest.convert) read by the .docx or spreadsheet loader, every
document and error named after the file the user gave."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from rag.ingest.base import Loader, RawDocument, sha256
from rag.ingest.convert import TARGETS, cached, convert_files, target_of
from rag.ingest.docx import read_docx
from rag.ingest.limits import IngestLimits
from rag.ingest.spreadsheet import load_workbook


class OfficeLoader(Loader):
    extensions = tuple(TARGETS)

    def load(self, path: Path, docid: str, limits: IngestLimits) -> Iterator[RawDocument]:
        target = target_of(path)
        converted = cached(limits, sha256(path.read_bytes()), target)
        if not converted.exists():  # no converter batch ran first (read in this process: tests, tools)
            for _, error in convert_files([path], limits):
                if error is not None:
                    raise error
        fmt = path.suffix.lower().lstrip(".")
        if target == "docx":
            yield read_docx(converted, path, docid, limits, fmt)
        else:
            yield from load_workbook(converted, path, docid, limits, fmt)
