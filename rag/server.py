"""One server carrying both the HTTP API and the staff UI (one loaded model and index)."""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from types import FrameType

import uvicorn
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


log = logging.getLogger(__name__)


class StoppableServer(uvicorn.Server):
    """uvicorn's server that ends within ``grace_s`` (+1 s) of SIGTERM or SIGINT whatever it is doing.

    uvicorn waits for requests in flight before it exits, and a request's work runs in a worker
    thread that nothing can interrupt (a model reply, a long computation), so a busy server ignored
    SIGTERM. Here uvicorn gets ``grace_s`` to finish them; then the helper processes (model, file
    reader) are killed and the process exits.
    """

    def __init__(self, config: uvicorn.Config, grace_s: float) -> None:
        super().__init__(config)
        self._grace_s = grace_s
        self._watchdog: threading.Thread | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self._watchdog is None:
            self._watchdog = threading.Thread(target=self._exit_after_grace, args=(sig,), daemon=True,
                                              name="policyqa-exit-watchdog")
            self._watchdog.start()

    def _exit_after_grace(self, sig: int) -> None:
        threading.Event().wait(self._grace_s + 1)  # a normal exit ends this daemon thread first
        log.error("still busy %g s after signal %d: stopping the requests in flight", self._grace_s, sig)
        for child in multiprocessing.active_children():
            child.kill()
        os._exit(128 + sig)


def serve(app: FastAPI, settings: Settings, host: str, port: int) -> None:
    """Run ``app`` until SIGTERM/SIGINT; requests still running ``shutdown_grace_s`` later are cut off."""
    config = uvicorn.Config(app, host=host, port=port, log_level="warning",
                            timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_s)))
    StoppableServer(config, settings.shutdown_grace_s).run()
