"""Shared fixtures. Every test runs offline: HF hub flags set and outbound connections refused."""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# A developer's own POLICYQA_* settings (index folder, LLM server, API keys) never leak into tests.
for _name in [n for n in os.environ if n.startswith("POLICYQA_") and n != "POLICYQA_CACHE_DIR"]:
    del os.environ[_name]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SHARED = ROOT.parent / "shared"

_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address):  # type: ignore[no-untyped-def]
    host = address[0] if isinstance(address, tuple) else None
    if host is not None and self.family in (socket.AF_INET, socket.AF_INET6):
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise RuntimeError(f"test tried to reach the network: {address!r}")
    return _real_connect(self, address)


#: Fixtures that load real models, build real indexes or start real servers/browsers.
HEAVY_FIXTURES = {"e5", "use", "docs_index", "live_server", "llm_chain", "milvus_server", "chromium"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests on real models, servers, browsers or installs are the ``full`` tier (CI runs every
    tier); ``pytest -m "not full"`` is the fast tier a developer runs on every change."""
    for item in items:
        if HEAVY_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.full)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)


TIANCHANG_Q = "天长市何时被评为全国法治政府建设示范市？"
TIANCHANG_Q_TRAD = "天長市何時被評為全國法治政府建設示範市？"


@pytest.fixture(scope="session")
def e5():
    from rag.embed import load_embedder

    return load_embedder("e5-small")


@pytest.fixture(scope="session")
def use():
    from rag.embed import load_embedder

    return load_embedder("use-m3")


@pytest.fixture(scope="session")
def docs_index(tmp_path_factory, e5):
    """The bundled docs/ indexed once with the default packaged model (Settings for it)."""
    from rag.config import Settings
    from rag.index.build import update_index

    settings = Settings(index_dir=tmp_path_factory.mktemp("idx") / "index")
    stats = update_index(settings, [DOCS], e5)
    assert stats.files_failed == 0 and stats.documents_written == 5
    return settings


def start_server(settings):
    """A real uvicorn server on a loopback port (API + UI at /ui, as ``policyqa serve`` builds it).
    Returns ``(base_url, stop)``."""
    import threading
    import time

    import uvicorn

    from rag.server import create_server

    app = create_server(settings)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 300  # a readiness wait: slow on a loaded machine is not a failure
    while not server.started and time.time() < deadline:
        time.sleep(0.1)
    assert server.started, "server did not start"

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)

    return f"http://127.0.0.1:{port}", stop


def copy_index(settings, folder: Path, **updates):
    """Settings for a private copy of an index (tests that change documents never share one)."""
    import shutil

    shutil.copytree(settings.index_dir, folder / "index")
    return settings.model_copy(update={"index_dir": folder / "index", **updates})


@pytest.fixture(scope="session")
def live_server(tmp_path_factory, docs_index, e5):
    """The API + UI over a copy of the docs index, full keys on (``test-key``, ``other-key``), a read
    key (``read-key``) and uploads limited to 1 MB. Yields ``.base``, ``.headers``, ``.settings``."""
    from types import SimpleNamespace

    settings = copy_index(docs_index, tmp_path_factory.mktemp("live"), api_keys="test-key,other-key",
                          read_keys="read-key", max_upload_mb=1.0)
    base, stop = start_server(settings)
    yield SimpleNamespace(base=base, headers={"Authorization": "Bearer test-key"}, settings=settings)
    stop()


def shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not present (../shared is provided beside the checkout)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MilvusLite:
    """``milvus-lite server`` on a loopback port (what a Milvus cluster is to the client), started
    and health-checked: ready means it answers a real request (``list_collections``), not just that
    its port accepts. ``ensure()`` restarts it on the same port and data folder if it died or stopped
    answering, so its URL and collections stay valid."""

    def __init__(self, data: Path, startup_s: float = 300) -> None:
        self.data, self.port, self.startup_s = data, free_port(), startup_s  # a loaded 2-core machine is slow
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        exe = Path(sys.executable).with_name("milvus-lite")
        self.proc = subprocess.Popen([str(exe), "server", "--host", "127.0.0.1", "--port", str(self.port),
                                      "--data-dir", str(self.data)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + self.startup_s
        while not self.healthy():
            if self.proc.poll() is not None:
                pytest.fail(f"milvus-lite server exited (rc {self.proc.returncode}) while starting")
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"milvus-lite server did not answer within {self.startup_s:g} s")
            time.sleep(0.5)  # polling interval of a readiness wait

    def healthy(self) -> bool:
        from pymilvus import MilvusClient

        if self.proc is None or self.proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=5).close()
            client = MilvusClient(uri=self.url, timeout=30)
            try:
                client.list_collections(timeout=30)
            finally:
                client.close()
        except Exception:  # noqa: BLE001 - any failure means "not ready yet"; start() bounds the wait
            return False
        return True

    def ensure(self) -> str:
        if not self.healthy():
            self.stop()
            self.start()
        return self.url

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_milvus_lite(data: Path) -> tuple[str, subprocess.Popen]:
    """A health-checked ``milvus-lite server`` of a test's own: its URL and its process."""
    server = MilvusLite(data)
    return server.url, server.proc


_MILVUS = pytest.StashKey["MilvusLite"]()


@pytest.fixture(scope="session")
def milvus_server(request, tmp_path_factory) -> Iterator[str]:
    """One milvus-lite server for the session's Milvus tests (checked before each test: see
    ``milvus_checked``)."""
    server = MilvusLite(tmp_path_factory.mktemp("milvus-server"))
    request.config.stash[_MILVUS] = server
    yield server.url
    del request.config.stash[_MILVUS]
    server.stop()


@pytest.fixture(autouse=True)
def milvus_checked(request) -> None:
    """Once the session's milvus-lite server exists, every test starts with it answering: one that
    died or hangs (a loaded machine, a test that stopped it) is restarted first."""
    server = request.config.stash.get(_MILVUS, None)
    if server is not None:
        server.ensure()


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium driven by Playwright (it never downloads a browser), one for the session."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (apt-get install chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield browser
        browser.close()
