"""The staff web UI (Gradio)."""

from rag.ui.app import CSS, HEAD, build_ui

__all__ = ["CSS", "HEAD", "build_ui"]
