"""One server carrying both the HTTP API and the staff UI (one loaded model and index)."""

from __future__ import annotations

from fastapi import FastAPI

from rag.api import create_app
from rag.config import Settings
from rag.service import PolicyQA


def create_server(settings: Settings, ui: bool = True, ui_path: str = "/ui") -> FastAPI:
    """The API with the UI mounted under ``ui_path``; the key guard covers both."""
    qa = PolicyQA(settings)
    app = create_app(qa, ui_path=ui_path if ui else None)
    if ui:
        import gradio as gr

        from rag.ui import CSS, HEAD, build_ui
        from rag.ui.errors import GradioErrors
        from rag.ui.locale import ChineseLocale

        blocks = build_ui(qa, app.state.access)
        app = gr.mount_gradio_app(app, blocks, path=ui_path, css=CSS, head=HEAD)
        app.add_middleware(ChineseLocale, path=ui_path)
        app.add_middleware(GradioErrors, path=ui_path)
        # Gradio checks that a file named in an event was uploaded through it only once the Blocks
        # "has launched", which a mounted app never does: without this, a crafted FileData payload
        # could make it copy any server file into its cache and hand it to the upload handler.
        blocks.has_launched = True
    return app
