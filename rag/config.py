"""One typed configuration, read from ``POLICYQA_*`` environment variables at the entry point.

Nothing reads settings at import time: the CLI (or an embedding application) builds a
:class:`Settings` once and passes it down, so tests can run several configurations side by side.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from rag.ingest.limits import IngestLimits


def _comma_list(text: str) -> list[str]:
    """The items of a comma-separated setting, blanks dropped."""
    return [item.strip() for item in text.split(",") if item.strip()]


class Settings(BaseSettings):
    """Runtime settings; every field can be set as ``POLICYQA_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="POLICYQA_", extra="ignore")

    index_dir: Path = Field(Path("index"), description="Folder holding the built index (with store=milvus: "
                            "only uploaded files and feedback are kept there).")
    store: Literal["sqlite", "milvus"] = Field(
        "sqlite", description="'sqlite': the embedded store (SQLite + FAISS + BM25 files in index_dir, one machine); "
        "'milvus': a Milvus server or a milvus-lite file at milvus_uri (several replicas may share one server).",
    )
    milvus_uri: str | None = Field(None, description="A local milvus-lite file (path ending .db; default "
                                   "<index_dir>/milvus.db) or a server, e.g. http://10.0.0.7:19530.")
    milvus_token: str | None = Field(None, description="'user:password' or an API key, for a server with auth.")
    milvus_collection_prefix: str = Field("policyqa", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,40}$",
                                          description="Collections are <prefix>_chunks, <prefix>_documents, ...")
    embedding_model: str = Field(
        "e5-small",
        description="'e5-small' (packaged multilingual-e5-small), 'use-m3' (packaged, fast) or a path "
        "to a local sentence-transformers model folder.",
    )
    embedding_url: str | None = Field(
        None, description="An OpenAI-compatible embeddings server, e.g. http://10.0.0.5:8080/v1 (TEI, vLLM, "
        "Xinference); embedding_model is then the model name sent to it (e.g. bge-m3).",
    )
    embedding_api_key: str | None = None
    embedding_retries: int = Field(4, ge=0, le=20, description="Tries after the first, with exponential backoff.")
    embedding_timeout_s: float = Field(60.0, gt=0)
    embedding_query_prefix: str = Field("", description="Put before questions sent to the server ('query: ' for e5).")
    embedding_passage_prefix: str = Field("", description="Put before passages sent to the server ('passage: ' for e5).")
    chunk_max_chars: int = Field(
        500, ge=80, le=4000,
        description="Upper bound on a chunk's length (500: the gold span is inside one chunk for 96% of NCP "
        "answers vs 92% at 360, and answer-in-passage@5 rises 5 points; see eval/bench_retrieval.py).",
    )
    chunk_min_chars: int = Field(40, ge=0, le=400, description="Fragments shorter than this are merged.")
    embed_batch_size: int = Field(32, ge=1, le=1024)
    index_flush_chunks: int = Field(
        256, ge=1, description="Chunks embedded and committed together; a crash loses at most one batch."
    )
    ann_threshold: int = Field(
        200_000, ge=1, description="Above this many vectors the FAISS index switches to HNSW."
    )
    top_k: int = Field(5, ge=1, le=100)
    candidates: int = Field(50, ge=5, le=1000, description="Candidates per retriever before fusion.")
    fusion: Literal["score", "rrf"] = Field(
        "score", description="'score': weighted sum of min-max normalised scores (measured best); "
        "'rrf': reciprocal-rank fusion.",
    )
    dense_weight: float = Field(0.3, ge=0.0, le=1.0, description="Share of the dense score in 'score' fusion.")
    rrf_k: int = Field(60, ge=1)
    rerank: bool = Field(False, description="Let the local LLM judge the top candidates (slow on CPU; "
                         "see eval/bench_retrieval.py --rerank).")
    rerank_candidates: int = Field(8, ge=2, le=50, description="Fused candidates the LLM judges.")
    embed_threads: int | None = Field(None, ge=1, description="Threads for the packaged embedders.")
    answer_mode: str = Field("extractive", pattern="^(llm|extractive)$",
                             description="'llm' generates with citations; 'extractive' quotes source sentences.")
    reader: Literal["off", "llm", "always"] = Field(
        "llm", description="When no sentence covers enough of the question's words, the local LLM reads the "
        "candidates that pass every check, numbered, and picks the one that answers by meaning, or none "
        "(one forward pass, no generation): 'llm' in LLM mode, 'always' in extractive mode too (loads the "
        "model), 'off' never.",
    )
    reader_margin: float = Field(1.0, description="How far the chosen sentence's number must lead \"0\" (none): "
                                 "measured on the dev2 and tuning sets (eval/calibrate_reader.py).")
    reader_candidates: int = Field(5, ge=1, le=9, description="Sentences the reader sees at most.")
    reader_sentence_chars: int = Field(80, ge=20, le=1000, description="Characters of each window it sees: a longer "
                                       "sentence is shown as runs of its clauses (prompt length is what it waits for).")
    answer_passages: int = Field(4, ge=1, le=10, description="Passages retrieved for the LLM (it is shown those "
                                 "that cover the question best, within llm_prompt_chars; the verifier reads all).")
    llm_passage_chars: int = Field(
        160, ge=40, le=4000,
        description="Characters of each passage shown to the LLM: the sentences around the best match "
        "(prompt length is what the first token waits for on a CPU).",
    )
    llm_prompt_chars: int = Field(
        360, ge=40, le=20000,
        description="Characters of passage text shown to the LLM in all: the windows that cover the question "
        "best get it first (on 2 cores the first token waits for the whole prompt).",
    )
    extractive_passages: int = Field(8, ge=1, le=20, description="Passages searched for sentences in extractive mode.")
    place_passages: int = Field(3, ge=0, le=10, description="Passages added from the documents about the place a "
                                "question names, when the search found fewer of theirs (in a library of many places, "
                                "other places' passages on the same topic crowd out the asked one's); 0 turns it off.")
    llm_url: str | None = Field(None, description="OpenAI-compatible server, e.g. http://10.0.0.5:8000/v1")
    llm_model: str = Field("policyqa-llm", description="Model name sent to that server.")
    llm_api_key: str | None = None
    llm_timeout_s: float = Field(120.0, gt=0)
    llm_threads: int | None = Field(
        None, ge=1, description="llama.cpp threads generating (n_threads); default half the logical CPUs, at least "
        "1: on a shared 2-core AMD EPYC one thread gave the first token faster than two (README, eval/bench_llm.py).")
    llm_threads_batch: int | None = Field(
        None, ge=1, description="llama.cpp threads reading the prompt (n_threads_batch, what the first token waits "
        "for); default: llm_threads.")
    llm_queue_max: int = Field(
        2, ge=0, le=100, description="LLM-mode questions that may wait behind the one being answered (one model "
        "process answers one at a time); a further one gets the verified extractive answer at once with a note, "
        "or 503 + Retry-After when it asked for the LLM only.")
    llm_queue_wait_s: float = Field(
        60.0, gt=0, description="Longest a queued LLM-mode question waits for its turn before it is answered "
        "like one that found the queue full.")
    llm_context: int = Field(4096, ge=512)
    llm_max_tokens: int = Field(300, ge=16, le=4096)
    llm_weight_repack: Literal["auto", "on", "off"] = Field(
        "off", description="llama.cpp's load-time weight repacking ('extra buffer types'). It crashes "
        "llama-cpp-python 0.3.36 on Intel CPUs with AMX and gave nothing on a 2-core AMD EPYC (84 vs 78 prompt "
        "tok/s, 16.2 vs 16.3 generation tok/s, eval/bench_llm.py), so it is off; 'auto' keeps it except on AMX.",
    )
    api_keys: str = Field("", description="Comma-separated keys with full access (ask, add and remove documents); "
                          "with neither these nor read_keys set, the server needs no key.")
    read_keys: str = Field("", description="Comma-separated keys that may ask, search and list, but not change "
                           "the library.")
    key_groups: str = Field("", description="Groups each key's service account belongs to, e.g. "
                            "'key:1a2b3c4d=法制科|司法局,key:5e6f7a8b=服务大厅' (the account of a key is 'key:' + the first 8 hex "
                            "digits of its sha256). A full-access key bound to groups is no longer a site administrator.")
    session_hours: float = Field(8.0, gt=0, le=24 * 30, description="How long a /login session lasts; "
                                 "logout ends it at once (sessions live in the server process: a restart signs "
                                 "everyone out).")
    login_max_failures: int = Field(10, ge=1, le=1000, description="Wrong keys one client address may try on "
                                    "/login within login_window_s before it is answered 429 until the window passes.")
    login_window_s: float = Field(60.0, gt=0, le=86400)
    oidc_issuer: str = Field("", description="The identity provider's issuer URL (OpenID Connect discovery at "
                             "<issuer>/.well-known/openid-configuration); set, people sign in through it and API "
                             "clients may send its JWTs as bearer tokens; empty: no identity provider. https, or "
                             "http for a provider on this machine only.")
    oidc_client_id: str = Field("", description="This server's client id at the provider (the audience of its tokens).")
    oidc_client_secret: str = Field("", description="The client secret; empty for a public client (PKCE alone).")
    oidc_scopes: str = Field("openid profile", description="Scopes asked for at sign-in (openid is always added).")
    oidc_groups_claim: str = Field("groups", description="The claim naming the user's groups (departments); a dotted "
                                   "path reads a nested claim (Keycloak roles: realm_access.roles).")
    oidc_write_groups: str = Field("", description="Comma-separated groups whose members may add and remove "
                                   "documents (role 'write'); everyone else signed in through the provider reads.")
    oidc_audiences: str = Field("", description="Further comma-separated audiences accepted on API bearer tokens "
                                "besides the client id (a token is also accepted when its azp is the client id).")
    oidc_redirect_uri: str = Field("", description="The callback URL registered at the provider, e.g. "
                                   "https://policyqa.example.gov.cn/login/oidc/callback; empty: built from the "
                                   "request's host (set it behind a reverse proxy).")
    oidc_provider_logout: bool = Field(True, description="/logout also ends the person's session at the provider "
                                       "(RP-initiated logout, when it offers one), then returns to /login: register "
                                       "https://<this server>/login as a post-logout redirect URI there. Off: only "
                                       "PolicyQA's session ends (on a shared computer the next sign-in may need no password).")
    oidc_leeway_s: float = Field(60.0, ge=0, le=600, description="Clock skew tolerated on token expiry and issue times.")
    oidc_timeout_s: float = Field(10.0, gt=0, le=120, description="Longest wait for the provider (discovery, keys, "
                                  "code exchange).")
    max_question_chars: int = Field(2000, ge=10, le=20000, description="Longer questions are refused (413).")
    history_turns: int = Field(
        6, ge=0, le=50, description="Earlier turns of a conversation a follow-up is read against: the last N "
        "(the API accepts up to 50 history items / 100 chat messages; older ones are not read).")
    history_chars: int = Field(
        1200, ge=0, le=20000, description="Characters of those turns read in all, newest first; a turn that does "
        "not fit is not read, nor any before it (an answer is cut to this length).")
    max_upload_mb: float = Field(50.0, gt=0)
    shutdown_grace_s: float = Field(
        5.0, gt=0, le=600, description="On SIGTERM/SIGINT `policyqa serve` lets requests in flight finish this "
        "long, then stops them and exits (a busy model or a long request never keeps it running).")
    data_dir: Path | None = Field(None, description="Where uploaded files are kept (default: <index_dir>/uploads).")
    feedback_path: Path | None = Field(None, description="Where 👍/👎 on answers are kept, one JSON line each "
                                       "(default: <index_dir>/feedback.jsonl).")
    audit_path: Path | None = Field(None, description="The audit trail: one JSON line per question and per change "
                                    "(default: <index_dir>/audit.jsonl); append-only, each line chained to the one before.")
    # Reading one file (see rag/ingest/limits.py): bounds that stop a bomb, a hang or a giant.
    ingest_max_file_mb: float = Field(500.0, gt=0, description="Larger files are refused unread.")
    ingest_archive_max_members: int = Field(10_000, ge=1, description="Members of a .docx (zip) archive.")
    ingest_archive_max_total_mb: float = Field(300.0, gt=0, description="Uncompressed size of a whole .docx.")
    ingest_archive_max_member_mb: float = Field(200.0, gt=0, description="Uncompressed size of one member.")
    ingest_archive_max_ratio: float = Field(
        100.0, gt=1, description="Inflation ratio of one member over 1 MB (Word's XML compresses ~5-15x; bombs 1000x)."
    )
    ingest_pdf_max_pages: int = Field(5_000, ge=1)
    ingest_timeout_s: float = Field(120.0, gt=0, description="A file whose reading makes no progress this long is "
                                    "stopped and reported; the run goes on.")
    ingest_max_memory_mb: int = Field(
        4096, ge=256, description="Address-space limit of the file-reader process (OCR's model runtime reserves "
        "much more address space than it uses: 2048 was too little for a second scanned PDF in a row).")
    ocr: bool = Field(True, description="Read scanned PDF pages and images (.png .jpg .tif) with the packaged OCR "
                      "(pip install 'policyqa[ocr]'); off: such pages are reported as missing.")
    ocr_dpi: int = Field(200, ge=100, le=600, description="Resolution scanned PDF pages are rendered at for OCR.")
    ocr_cache_dir: Path | None = Field(None, description="OCR results by page hash (default: <index_dir>/ocr-cache): "
                                       "re-indexing a scan costs nothing.")
    render_max_pixels: int = Field(
        20_000_000, ge=1_000_000, le=200_000_000,
        description="Pages are rendered (scans for OCR, the page view) and images decoded at no more pixels than "
        "this, scaled down to fit: A3 at 300 dpi fits; a 100x100-inch page at 200 dpi would be 400 MP (1.6 GB).")
    ingest_image_max_pixels: int = Field(150_000_000, ge=1_000_000, description="Images (or TIFF pages) with more "
                                         "pixels are refused unread.")
    converter: str = Field("soffice", description="LibreOffice's soffice (a command on PATH or a path): converts "
                           ".doc .wps .rtf .odt to .docx and .xls .et .ods to .xlsx before they are read "
                           "(apt install libreoffice-writer-nogui libreoffice-calc-nogui).")
    convert_timeout_s: float = Field(120.0, gt=0, description="A file LibreOffice takes longer than this to convert "
                                     "is stopped and reported; the rest of the folder is converted by a fresh one.")
    convert_max_memory_mb: int = Field(3072, ge=1024, description="Address-space limit of the converter process "
                                       "(LibreOffice reserves ~1.5 GB of address space before opening anything).")
    convert_cache_dir: Path | None = Field(None, description="Converted files by content hash (default: "
                                           "<POLICYQA_CACHE_DIR>/converted): re-indexing a .doc converts nothing.")
    ingest_sheet_max_columns: int = Field(1024, ge=1, le=16_384, description="Spreadsheets with a row that has a "
                                          "value further right than this are refused (a sheet filled to column XFD).")
    page_view_max_memory_mb: int = Field(
        3072, ge=256, description="Address-space limit of the process that draws original pages for the page view "
        "(it reads the OCR cache, and OCRs a page whose cache entry is gone).")
    page_view_timeout_s: float = Field(60.0, gt=0, description="A page that takes longer to draw is an error.")
    page_view_cache_mb: float = Field(32.0, ge=0, description="Drawn pages kept in memory (least recently shown "
                                      "go first); 0 keeps none.")
    feedback_max_kb: int = Field(64, ge=1, le=4096, description="Largest /v1/feedback request body.")
    feedback_per_minute: int = Field(20, ge=1, description="👍/👎 one key (or, without keys, one client address) "
                                     "may send per minute; more is a 429 with Retry-After.")
    feedback_max_mb: float = Field(50.0, gt=0, description="Size of the feedback file past which new ratings are "
                                   "refused (507) until it is exported and moved away.")
    write_queue: int = Field(4, ge=1, le=100, description="Document writes (uploads, deletions, subject edits) "
                             "in progress or waiting at once; more are a 503 with Retry-After.")
    upload_readers: int = Field(2, ge=1, le=16, description="Processes reading uploaded files at once (a long "
                                "read does not hold the others up); each has the ingest memory limit.")

    def ingest_limits(self) -> IngestLimits:
        from rag.ingest.limits import IngestLimits
        from rag.llm.llamacpp import cache_dir

        return IngestLimits(
            max_file_mb=self.ingest_max_file_mb, archive_max_members=self.ingest_archive_max_members,
            archive_max_total_mb=self.ingest_archive_max_total_mb,
            archive_max_member_mb=self.ingest_archive_max_member_mb,
            archive_max_ratio=self.ingest_archive_max_ratio, pdf_max_pages=self.ingest_pdf_max_pages,
            timeout_s=self.ingest_timeout_s, max_memory_mb=self.ingest_max_memory_mb, ocr=self.ocr,
            ocr_dpi=self.ocr_dpi, ocr_cache_dir=str(self.ocr_cache_dir or Path(self.index_dir) / "ocr-cache"),
            render_max_pixels=self.render_max_pixels, image_max_pixels=self.ingest_image_max_pixels,
            converter=self.converter, convert_timeout_s=self.convert_timeout_s,
            convert_max_memory_mb=self.convert_max_memory_mb,
            convert_cache_dir=str(self.convert_cache_dir or cache_dir() / "converted"),
            sheet_max_columns=self.ingest_sheet_max_columns)

    @property
    def milvus_location(self) -> str:
        return self.milvus_uri or str(Path(self.index_dir) / "milvus.db")

    @property
    def api_key_list(self) -> list[str]:
        return _comma_list(self.api_keys)

    @property
    def read_key_list(self) -> list[str]:
        return _comma_list(self.read_keys)

    @property
    def oidc_write_group_list(self) -> list[str]:
        return _comma_list(self.oidc_write_groups)

    @property
    def oidc_audience_list(self) -> list[str]:
        return _comma_list(self.oidc_audiences)

    @property
    def key_group_map(self) -> dict[str, frozenset[str]]:
        """``key_groups`` parsed: service-account name -> its groups."""
        out: dict[str, frozenset[str]] = {}
        for item in filter(None, (part.strip() for part in self.key_groups.split(","))):
            name, sep, groups = item.partition("=")
            if not sep or not name.strip().startswith("key:"):
                raise ValueError(f"POLICYQA_KEY_GROUPS: {item!r} is not 'key:<8 hex>=group|group'")
            out[name.strip()] = frozenset(g.strip() for g in groups.split("|") if g.strip())
        return out

    @property
    def audit_file(self) -> Path:
        return Path(self.audit_path) if self.audit_path else Path(self.index_dir) / "audit.jsonl"

    @property
    def feedback_file(self) -> Path:
        return Path(self.feedback_path) if self.feedback_path else Path(self.index_dir) / "feedback.jsonl"

    @property
    def upload_dir(self) -> Path:
        return Path(self.data_dir) if self.data_dir else Path(self.index_dir) / "uploads"
