"""One server carrying both the HTTP API and the staff UI (one loaded model and index)."""

from __future__ import annotations

from fastapi import FastAPI

from rag.api import create_app
from rag.config import Settings
from rag.service import PolicyQA


def create_server(settings: Settings, ui: bool = True, ui_path: str = "/ui") -> FastAPI:
    qa = PolicyQA(settings)
    app = create_app(qa)
    if ui:
        import gradio as gr

        from rag.ui import CSS, build_ui

        app = gr.mount_gradio_app(app, build_ui(qa), path=ui_path, css=CSS)
    return app
