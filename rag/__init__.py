"""PolicyQA: offline, citation-verified question answering over Chinese government policy documents."""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["Answer", "Citation", "Filters", "PolicyQA", "Settings"]

if TYPE_CHECKING:
    from rag.config import Settings
    from rag.models import Answer, Citation
    from rag.retrieve import Filters
    from rag.service import PolicyQA


def __getattr__(name: str):
    # Lazy, so `import rag` does not load FAISS, jieba or the models.
    if name == "PolicyQA":
        from rag.service import PolicyQA

        return PolicyQA
    if name == "Settings":
        from rag.config import Settings

        return Settings
    if name == "Filters":
        from rag.retrieve import Filters

        return Filters
    if name in ("Answer", "Citation"):
        import rag.models

        return getattr(rag.models, name)
    raise AttributeError(name)
