"""The staff web UI (Gradio)."""

from rag.ui.app import CSS, build_ui

__all__ = ["CSS", "build_ui"]
