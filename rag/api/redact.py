"""Server file paths out of what clients see.

An error from a parser, a store or the file system names the file as the server holds it
(``/srv/policyqa/index/uploads/2df3….jsonl``): the folder layout is nobody's business outside the
server, and a staging name means nothing to the person who uploaded ``通知.docx``. Every message a
client or the UI shows goes through :func:`hide_paths`, which keeps only each absolute path's last
part (the log keeps the whole path).
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

#: An absolute POSIX path of two or more parts, not part of a URL (``http://host/a/b``) or of a
#: relative name (``uploads/通知.docx``, a docid, stays as it is).
_ABSOLUTE = re.compile(r"(?<![\w:/.~-])(?:/[^\s/'\"()<>\[\]{},;:]+){2,}")
#: This server's own URL paths, which messages may name (``POST /v1/documents``): not files.
ROUTE_PREFIXES = ("/v1/", "/ui/", "/gradio_api/", "/docs-assets/")


def hide_paths(text: str) -> str:
    """``text`` with every absolute server path replaced by its file name."""
    def name(match: re.Match) -> str:
        path = match.group(0)
        return path if path.startswith(ROUTE_PREFIXES) else PurePosixPath(path).name

    return _ABSOLUTE.sub(name, text)

