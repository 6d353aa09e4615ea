"""Formats read through LibreOffice: .doc .wps .rtf .odt become .docx, .xls .et .ods become .xlsx,
which the .docx and spreadsheet loaders then read (named after the file the user gave).

Why a batch ``soffice --convert-to`` and not a listener: LibreOffice's listener is driven over UNO,
whose Python binding belongs to the system's Python, not to ours; a batch over a folder's files
starts LibreOffice once (~1 s) and converts each file in a fraction of that, which is all a
listener would save. The batch prints a line as it takes each file, so a file that hangs is known:
when no line comes for ``convert_timeout_s`` the process group is killed, that file is reported,
and a fresh LibreOffice converts the rest. Outputs land in a staging folder and are moved into the
cache (``<convert_cache_dir>/<sha256 of the file>.docx``) only when complete, so re-indexing a
folder, or a file copied under another name, converts nothing.

Isolation: the batch runs in its own process (:class:`Converter`, a :class:`rag.isolation.Worker`
with the converter's memory limit, which LibreOffice inherits), and LibreOffice's own process
(``soffice.bin``, started directly so that no launcher stands between) is killed by the kernel
when that process ends (``PR_SET_PDEATHSIG``), as that process ends with its caller. Each batch
has its own LibreOffice profile (``-env:UserInstallation``), kept per slot under the cache so a
second batch starts warm, and never the user's own.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import io
import logging
import os
import select
import shutil
import signal
import subprocess
import time
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from rag.ingest.base import IngestError, sha256
from rag.ingest.limits import IngestLimits, refuse_encrypted
from rag.isolation import Worker, WorkerCrashed, WorkerTimeout

log = logging.getLogger(__name__)

#: What each converted format becomes (a Kingsoft .wps is a Word 97 file, an .et an Excel 97 one).
TARGETS = {".doc": "docx", ".wps": "docx", ".rtf": "docx", ".odt": "docx",
           ".xls": "xlsx", ".et": "xlsx", ".ods": "xlsx"}
INSTALL = "apt install libreoffice-writer-nogui libreoffice-calc-nogui"
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # a compound file: .doc .xls .wps .et, or an encrypted .docx
_RESTART = 81  # soffice's exit code after creating a fresh profile: run it again
_PROFILE_SLOTS = 16
_LOAD_FAILED = "Error: source file could not be loaded"


def target_of(path: Path) -> str | None:
    """"docx" or "xlsx" for a file LibreOffice converts, else None."""
    return TARGETS.get(path.suffix.lower())


def cached(limits: IngestLimits, content_hash: str, target: str) -> Path:
    return Path(limits.convert_cache_dir) / f"{content_hash}.{target}"


def soffice(limits: IngestLimits) -> str | None:
    """The LibreOffice binary to run: ``soffice.bin`` beside the ``soffice`` launcher found (the
    launcher forks it, and a forked child would outlive a kill), else what was configured."""
    found = shutil.which(limits.converter)
    if found is None:
        return None
    binary = Path(os.path.realpath(found)).with_name("soffice.bin")
    return str(binary) if binary.exists() else found


def not_installed(path: Path) -> IngestError:
    return IngestError(path, f"reading {path.suffix.lower()} files needs LibreOffice, which is not installed "
                       "(no 'soffice' found)", f"Install it ({INSTALL}), set POLICYQA_CONVERTER to its soffice, or "
                       "save the file as .docx/.xlsx / 读取此格式需要安装 LibreOffice，或将文件另存为 .docx/.xlsx")


def _refuse(path: Path, data: bytes) -> None:
    """What is wrong with a file before LibreOffice sees it: a password, or a zip that is no
    office document (a real .docx renamed .wps is converted: LibreOffice reads it by content)."""
    if data.startswith(_OLE2):
        refuse_encrypted(path, path)
    elif data.startswith(b"PK"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
        except zipfile.BadZipFile:
            names = set()
        if not names & {"[Content_Types].xml", "mimetype"}:
            raise IngestError(path, f"it is a zip archive, not a {path.suffix.lower()} document",
                               "Unpack it and add the documents inside, or give it its real extension / "
                               "这是一个压缩包而不是文档，请解压后添加其中的文件")


def convert_files(paths: Iterable[Path], limits: IngestLimits) -> Iterator[tuple[str, IngestError | None]]:
    """Convert the files into the cache (one LibreOffice run per target format), yielding
    ``(path, None)`` for each converted or already cached and ``(path, error)`` for each that is
    not, in the order they are finished."""
    binary = soffice(limits)
    groups: dict[str, list[tuple[Path, str]]] = {}
    copies: dict[str, list[Path]] = {}  # by content hash: a file copied under other names is converted once
    for path in paths:
        target = target_of(path)
        if target is None:
            continue
        data = path.read_bytes()
        content_hash = sha256(data)
        if cached(limits, content_hash, target).exists():
            yield str(path), None
            continue
        try:
            _refuse(path, data)  # a file's own fault is named whether or not LibreOffice is there
        except IngestError as error:
            yield str(path), error
            continue
        if binary is None:
            yield str(path), not_installed(path)
            continue
        if content_hash in copies:
            copies[content_hash].append(path)
            continue
        copies[content_hash] = [path]
        groups.setdefault(target, []).append((path, content_hash))
    if not groups:
        return
    hashes = {str(path): content_hash for files in groups.values() for path, content_hash in files}
    with _profile(limits) as profile:
        for target, files in groups.items():
            while files:  # a file that hung is reported, and a fresh LibreOffice takes the rest
                files = yield from _with_copies(_batch(binary, profile, target, files, limits), hashes, copies)


def _with_copies(results: Iterator[tuple[str, IngestError | None]], hashes: dict[str, str],
                 copies: dict[str, list[Path]]):
    """Each outcome, given to the file's copies too (their error then names each copy)."""
    while True:
        try:
            name, error = next(results)
        except StopIteration as stop:  # what the batch returns: the files it did not get to
            return stop.value
        for path in copies[hashes[name]]:
            yield str(path), error if error is None or str(path) == name else \
                IngestError(path, error.problem, error.remedy, error.notes)


def _batch(binary: str, profile: Path, target: str, files: list[tuple[Path, str]],
           limits: IngestLimits) -> Iterator[tuple[str, IngestError | None]]:
    """One LibreOffice run over ``files``; returns the files it did not get to (after a hang)."""
    cache = Path(limits.convert_cache_dir)
    stage = cache / "staging" / f"{os.getpid()}-{target}"
    shutil.rmtree(stage, ignore_errors=True)
    (stage / "in").mkdir(parents=True)
    staged: list[tuple[Path, str, str]] = []  # (path, hash, staged name)
    for path, content_hash in files:
        name = f"{content_hash}{path.suffix.lower()}"
        if not (stage / "in" / name).exists():
            (stage / "in" / name).symlink_to(path.resolve())
        staged.append((path, content_hash, name))
    command = [binary, "--headless", "--invisible", "--norestore", "--nologo", "--nodefault", "--nolockcheck",
               f"-env:UserInstallation={profile.as_uri()}", "--convert-to", target, "--outdir", str(stage / "out"),
               *(str(stage / "in" / name) for _, _, name in staged)]
    try:
        finished, hung = yield from _run(command, staged, stage, target, limits, restart=True)
        if finished == _RESTART:  # a fresh profile makes the first run exit at once with 81
            finished, hung = yield from _run(command, staged, stage, target, limits, restart=False)
        if hung is not None:
            path = staged[hung][0]
            log.warning("%s: LibreOffice made no progress converting it for %g s; stopped", path, limits.convert_timeout_s)
            yield str(path), IngestError(path, f"converting it made no progress for {limits.convert_timeout_s:g} s and "
                                         "was stopped", "Open it in WPS/Word and save it again as .docx/.xlsx, or raise "
                                         "POLICYQA_CONVERT_TIMEOUT_S / 转换超时，请用 WPS/Word 打开后另存为 .docx/.xlsx")
            return [(p, h) for p, h, _ in staged[hung + 1:]]
        return []
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _run(command: list[str], staged: list[tuple[Path, str, str]], stage: Path, target: str,
         limits: IngestLimits, restart: bool):
    """Run one LibreOffice process, yielding each file's outcome once the next file is under way
    (its output is then complete). Returns (exit code, or None after a hang; index of the file
    that hung, or None)."""
    index = {name: i for i, (_, _, name) in enumerate(staged)}
    reported = taken = 0  # files reported; files LibreOffice has taken up (announced, or failed to load)
    failed: set[int] = set()
    memory = limits.convert_max_memory_mb * 1024 * 1024
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True,  # in the converter (or reader) process, whose other
                               preexec_fn=lambda: _limit_child(memory))  # noqa: PLW1509 - thread only waits in read()
    buffer, hung = b"", None
    try:
        while True:
            ready, _, _ = select.select([process.stdout], [], [], limits.convert_timeout_s)
            if not ready:  # the file announced last is still being written, or the next one being opened
                last = taken - 1
                hung = last if last >= 0 and last not in failed and not _output(stage, staged[last], target).exists() \
                    else taken
                break
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:
                break
            *lines, buffer = (buffer + chunk).split(b"\n")
            for line in (raw.decode("utf-8", "replace").strip() for raw in lines):
                if line.startswith("convert ") and " -> " in line:
                    taken = index.get(Path(line[len("convert "):line.index(" -> ")]).name, taken - 1) + 1
                elif line.startswith(_LOAD_FAILED) and taken < len(staged):
                    failed.add(taken)
                    taken += 1
                elif line:
                    log.debug("LibreOffice: %s", line)
            while reported < taken - 1:
                yield _finish(staged[reported], stage, target, limits)
                reported += 1
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        code = process.wait()
        process.stdout.close()
    if hung is not None and hung < len(staged):
        for i in range(reported, hung):
            yield _finish(staged[i], stage, target, limits)
        return None, hung
    if code == _RESTART and taken == 0 and restart:
        return code, None
    for i in range(reported, len(staged)):
        yield _finish(staged[i], stage, target, limits, crashed=code if code < 0 else None)
    return code, None


def _output(stage: Path, item: tuple[Path, str, str], target: str) -> Path:
    return stage / "out" / f"{item[1]}.{target}"


def _finish(item: tuple[Path, str, str], stage: Path, target: str, limits: IngestLimits,
            crashed: int | None = None) -> tuple[str, IngestError | None]:
    path, content_hash, _ = item
    out = _output(stage, item, target)
    if out.exists() and out.stat().st_size:
        os.replace(out, cached(limits, content_hash, target))
        return str(path), None
    if crashed is not None:
        return str(path), IngestError(path, f"LibreOffice crashed converting it (exit code {crashed}; over its "
                                      f"{limits.convert_max_memory_mb} MB memory limit?)",
                                      "Open it in WPS/Word and save it again as .docx/.xlsx, or raise "
                                      "POLICYQA_CONVERT_MAX_MEMORY_MB / 转换失败，请另存为 .docx/.xlsx")
    return str(path), IngestError(path, "LibreOffice could not open it (damaged, or not really a "
                                  f"{path.suffix.lower()} file)", "Open it in WPS/Word and save it again as .docx/.xlsx"
                                  " / 文件已损坏或格式不符，请用 WPS/Word 打开后另存为 .docx/.xlsx")


def _limit_child(memory: int) -> None:
    """In LibreOffice's process, before it runs: its address-space limit, and death with the
    process that started it (the converter process, whose main thread waits for it)."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@contextlib.contextmanager
def _profile(limits: IngestLimits) -> Iterator[Path]:
    """A LibreOffice profile folder no other running batch uses (a lock held while in use)."""
    root = Path(limits.convert_cache_dir) / "profiles"
    root.mkdir(parents=True, exist_ok=True)
    for slot in range(_PROFILE_SLOTS):
        lock = (root / f"{slot}.lock").open("w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        try:
            yield root / str(slot)
        finally:
            lock.close()
        return
    raise RuntimeError(f"all {_PROFILE_SLOTS} LibreOffice profiles under {root} are in use")


def _converter(limits: IngestLimits):
    """Handler of the converter process (see :class:`Converter`)."""
    return lambda paths: convert_files([Path(p) for p in paths], limits)


class Converter:
    """Converts a folder's LibreOffice formats in one batch, in a child process, before they are
    read; remembers each file's conversion error for the reader to report."""

    def __init__(self, limits: IngestLimits) -> None:
        self.limits = limits
        self._worker = Worker("converter", "rag.ingest.convert:_converter", (limits,),
                              memory_mb=limits.convert_max_memory_mb)
        self._errors: dict[str, IngestError] = {}

    def prepare(self, paths: Iterable[Path]) -> None:
        """Convert those of ``paths`` that need it and are not cached yet, in one batch."""
        todo = [p for p in paths if target_of(p) and not self._is_cached(p)]
        if not todo:
            return
        left = {str(p): p for p in todo}
        started = time.perf_counter()
        try:  # LibreOffice's own limit is per file; this one catches a converter process that hangs itself
            for name, error in self._worker.stream(list(left), timeout_s=self.limits.convert_timeout_s * 2 + 30):
                left.pop(name, None)
                if error is not None:
                    self._errors[name] = error
        except (WorkerTimeout, WorkerCrashed) as exc:
            for name, path in left.items():
                self._errors[name] = IngestError(path, f"the converter process failed ({exc})",
                                                 "Try again; if it recurs, save the file as .docx/.xlsx")
        except (OSError, RuntimeError) as exc:  # the cache cannot be written, or every profile is in use
            for name, path in left.items():
                self._errors[name] = IngestError(path, f"it could not be converted ({type(exc).__name__}: {exc})",
                                                 f"Check that {self.limits.convert_cache_dir} is writable (or set "
                                                 "POLICYQA_CONVERT_CACHE_DIR) / 请检查转换缓存目录是否可写")
        failed = sum(str(p) in self._errors for p in todo)
        log.info("office files: %d converted by LibreOffice, %d not (named below), in %.1f s", len(todo) - failed,
                 failed, time.perf_counter() - started)

    def error_for(self, path: Path) -> IngestError | None:
        """The reason ``path`` cannot be read, converting it first if no batch did; None when it
        needs no conversion or its conversion is in the cache."""
        if target_of(path) is None:
            return None
        if str(path) not in self._errors and not self._is_cached(path):
            self.prepare([path])
        return self._errors.pop(str(path), None)

    def _is_cached(self, path: Path) -> bool:
        try:
            return cached(self.limits, sha256(path.read_bytes()), target_of(path)).exists()
        except OSError:
            return False  # the reader names what is wrong with the file

    def close(self) -> None:
        self._worker.close()
