"""HTTP API (FastAPI): answers, search, documents, and an OpenAI-compatible chat endpoint.

Every refusal of a request is a 4xx JSON body ``{"error": {"code", "message"}}``; a question the
documents cannot answer is not an error but an Answer with ``refused: true``.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.answer.chain import turns
from rag.api.guard import Guard, LoginThrottle, access_for
from rag.api.redact import hide_paths
from rag.api.limits import RouteLimits, RouteRule
from rag.index import IndexBusyError, StoreUnavailableError
from rag.index.acl import CLASSIFICATIONS, ROLES, AccessError, NotReadable
from rag.llm import LLMUnavailableError
from rag.llm.queue import LLMBusyError
from rag.models import NOBODY, Answer, Principal, Progress
from rag.retrieve import Filters
from rag.feedback import FeedbackFull
from rag.service import Forbidden, PolicyQA, UploadUnreadable, WriteQueueFull
from rag.uploads import UploadRefused

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class FiltersIn(BaseModel):
    docids: list[str] = Field(default_factory=list, max_length=100)
    city: str | None = Field(None, max_length=50)
    year: str | None = Field(None, max_length=10)

    def to_filters(self) -> Filters:
        return Filters(tuple(self.docids), self.city, self.year)


#: What a request may carry (422 beyond): a conversation's turns and their length. Only the last
#: POLICYQA_HISTORY_TURNS turns within POLICYQA_HISTORY_CHARS characters are read (Settings).
MAX_TURNS = 50
MAX_MESSAGES = 100
MAX_TURN_CHARS = 20_000  # the ceiling of POLICYQA_MAX_QUESTION_CHARS: a question may be as long, not longer
READ_NOTE = ("; only the last POLICYQA_HISTORY_TURNS (6) turns within POLICYQA_HISTORY_CHARS (1200) characters in "
             "all are read")
Turn = Annotated[str, Field(max_length=MAX_TURN_CHARS)]
KBS = Field(default_factory=list, max_length=20, description="knowledge bases to search (default: every one "
            "the asker may read); one the asker may not read is a 403 kb_forbidden")
LLM_ONLY = Field(False, description="with mode 'llm': when the local model's queue is full (or a place in it waits "
                 "past POLICYQA_LLM_QUEUE_WAIT_S), answer 503 with Retry-After instead of the verified extractive "
                 "answer with a note")


class AnswerRequest(BaseModel):
    question: str = Field(min_length=1, max_length=MAX_TURN_CHARS,
                          description="413 beyond POLICYQA_MAX_QUESTION_CHARS (2000) characters")
    mode: Literal["llm", "extractive"] | None = None
    filters: FiltersIn | None = None
    history: list[Turn] = Field(default_factory=list, max_length=MAX_TURNS,
                                description="the user's earlier questions in this conversation, oldest first: a "
                                "follow-up (那太仓呢？) is answered as the standalone question in 'understood_as'"
                                + READ_NOTE)
    history_answers: list[Turn] = Field(default_factory=list, max_length=MAX_TURNS,
                                        description="the answers those questions got, where known (after 哪个城市…？ "
                                        "the answer names the city a following 该市 means)")
    kb: list[Annotated[str, Field(max_length=64)]] = KBS
    stream: StrictBool = False
    draft: StrictBool = Field(False, description="with stream: also send the LLM's unverified draft as "
                              "'token' events (for display while waiting; never to be shown as an answer)")
    llm_only: StrictBool = LLM_ONLY


class SearchRequest(BaseModel):
    question: str = Field(min_length=1)
    k: int = Field(5, ge=1, le=50)
    filters: FiltersIn | None = None
    kb: list[Annotated[str, Field(max_length=64)]] = KBS


class AccessRequest(BaseModel):
    """Who may read a document: its audience (groups; [] for everyone who may read its knowledge
    base) and classification; a field left out stays as it is."""

    model_config = ConfigDict(extra="forbid")
    audience: list[Annotated[str, Field(max_length=64)]] | None = Field(None, max_length=64, examples=[["法制科"]])
    classification: Literal[CLASSIFICATIONS] | None = Field(None, examples=["内部"])  # type: ignore[valid-type]


class KbRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64, examples=["法制科"])


class GrantRequest(BaseModel):
    """A role on a knowledge base for one user or one group ('*': everyone); role null revokes it."""

    model_config = ConfigDict(extra="forbid")
    user: str | None = Field(None, max_length=200)
    group: str | None = Field(None, max_length=64)
    role: Literal[ROLES] | None = Field(..., examples=["viewer"])  # type: ignore[valid-type]


class SubjectRequest(BaseModel):
    """What a document is about; each field optional ("" clears it back to the derived value)."""

    model_config = ConfigDict(extra="forbid")
    city: str | None = Field(None, max_length=50, examples=["天长市"])
    organisation: str | None = Field(None, max_length=80, examples=["天长市司法局"])
    year: str | None = Field(None, max_length=20, pattern=r"^(?:\d{4}(?:[-–]\d{4})?)?$", examples=["2021"])


#: The most an Answer sent back with a rating may hold (what /v1/answer gives is well inside them).
FEEDBACK_ANSWER_LIMITS = {"question": 2000, "understood_as": 2000, "answer": 8000, "citations": 20, "related": 20,
                          "notes": 20, "unanswered": 20}


class FeedbackRequest(BaseModel):
    """A person's 👍/👎 on an answer (the Answer object as /v1/answer returned it)."""

    rating: Literal["up", "down"]
    note: str = Field("", max_length=2000)
    answer: Answer

    @field_validator("answer")
    @classmethod
    def _bounded(cls, answer: Answer) -> Answer:
        for name, limit in FEEDBACK_ANSWER_LIMITS.items():
            value = getattr(answer, name) or ""
            if len(value) > limit:
                raise ValueError(f"answer.{name} holds {len(value)} {'items' if isinstance(value, tuple) else 'characters'}; "
                                 f"the limit is {limit}")
        for citation in answer.citations + answer.related:
            if sum(len(str(v)) for v in citation.model_dump().values() if v is not None) > 8000:
                raise ValueError("a citation is over 8000 characters")
        return answer


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str = Field(max_length=40)
    content: str | list[dict] | None = Field(None, description=f"at most {MAX_TURN_CHARS} characters of text "
                                             "(a list of parts: their texts together)")

    @field_validator("content")
    @classmethod
    def _bounded(cls, content: str | list[dict] | None) -> str | list[dict] | None:
        if len(_text_of_content(content)) > MAX_TURN_CHARS:
            raise ValueError(f"a message may hold at most {MAX_TURN_CHARS} characters of text")
        return content


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # top_p, n… are accepted and ignored
    model: str = "policyqa"
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES,
                                        description="the conversation; the last user message is the question" + READ_NOTE)
    llm_only: StrictBool = LLM_ONLY
    kb: list[Annotated[str, Field(max_length=64)]] = KBS
    stream: StrictBool = False
    max_tokens: int | None = Field(None, ge=16, le=4096, description="caps what the LLM writes (LLM mode); the "
                                   "verified answer with its sources may be longer")
    temperature: float | None = Field(None, ge=0, le=2, description="accepted and not applied: answers are "
                                      "generated greedily, then verified against the sources")


#: A Chinese message for every error code, shown beside the English one (staff read Chinese).
MESSAGES_ZH = {
    "unauthorized": "缺少 API 密钥或密钥错误，请在请求头中提供 Authorization: Bearer <密钥>",
    "too_large": "请求或文件超过大小上限",
    "empty_question": "问题为空",
    "question_too_long": "问题过长",
    "no_question": "消息中没有用户问题",
    "invalid_request": "请求格式不正确",
    "unsupported_type": "不支持的文件类型",
    "empty_file": "文件为空",
    "bad_filename": "文件名无效",
    "ingest_failed": "文件无法读取，未加入索引",
    "not_found": "未找到",
    "no_page": "该文件没有这一页，或原文件已不在服务器上",
    "page_render_failed": "该页无法绘制（文件过大或已损坏），请直接打开原文件查看",
    "method_not_allowed": "不支持该请求方法",
    "llm_unavailable": "本地模型暂不可用",
    "llm_busy": "本地模型正忙，排队已满，请稍后重试（或不限定只用模型，以获得原文摘录答案）",
    "index_busy": "索引正在被其他进程更新，请稍后重试",
    "store_unavailable": "检索服务（Milvus）暂不可用，请稍后重试或联系管理员",
    "forbidden": "该密钥无权执行此操作",
    "cross_site": "已拒绝：来自其他网站或端口的页面不能以已登录身份修改文库",
    "too_many_attempts": "密钥错误次数过多，请稍后再试",
    "internal_error": "服务器内部错误，已记录日志",
    "http_error": "请求错误",
    "feedback_full": "反馈记录已达上限，请管理员导出（policyqa feedback export）并移走后再提交",
    "write_queue_full": "待处理的文件操作过多，请稍后重试",
    "kb_forbidden": "没有您可以查阅的该知识库",
    "not_permitted": "您没有该操作的权限（需要知识库的编辑或管理角色，或系统管理员）",
    "invalid_access": "知识库、用户组或密级设置不正确",
}


class WhoAmI(BaseModel):
    """``GET /v1/me``: the asker the guard established for this request."""

    name: str = Field(description="'key:<8 hex>' for an API key, 'oidc:<sub>' for someone signed in through the "
                      "identity provider, 'local' on a server without keys.")
    role: Literal["read", "write"]
    groups: list[str] = Field(description="Departments, from the identity provider's groups claim (sorted).")
    admin: bool = Field(description="A site administrator: reads every document, manages every knowledge base.")


class ErrorDetail(BaseModel):
    code: str
    message: str
    message_zh: str


class ErrorBody(BaseModel):
    error: ErrorDetail


ERROR_RESPONSE = {"model": ErrorBody, "description": "a refused request"}
#: Documented on every operation: what the guard and the validators can answer.
COMMON_RESPONSES = {400: ERROR_RESPONSE, 401: ERROR_RESPONSE, 403: ERROR_RESPONSE, 413: ERROR_RESPONSE,
                    422: ERROR_RESPONSE, 503: ERROR_RESPONSE}
UPLOAD_RESPONSES = {415: ERROR_RESPONSE}
STREAMABLE = {200: {"content": {"application/json": {}, "text/event-stream": {}},
                    "description": "the Answer, or with stream=true server-sent events"}}


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"code": code, "message": hide_paths(message), "message_zh": MESSAGES_ZH.get(code, MESSAGES_ZH["http_error"])}
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def create_app(qa: PolicyQA, ui_path: str | None = None) -> FastAPI:
    """The HTTP API; :class:`~rag.api.guard.Guard` wraps it and anything mounted on it later (the UI)."""
    settings = qa.settings
    app = FastAPI(title="PolicyQA", version="0.1.0", docs_url=None, redoc_url=None, responses=COMMON_RESPONSES,
                  description="Citation-verified answers over Chinese government policy documents. With keys "
                  "configured, send `Authorization: Bearer <key>` (read keys: ask/search/list; full keys: also "
                  "add and remove documents).")
    app.state.qa = qa
    mount_docs(app)
    app.add_middleware(RouteLimits, keyed=bool(settings.api_key_list or settings.read_key_list or settings.oidc_issuer),
                       rules=[
        RouteRule("POST", "/v1/feedback", settings.feedback_max_kb * 1024, settings.feedback_per_minute)])
    app.state.access = access_for(settings)  # the UI mounted later checks roles against the same sessions
    app.add_middleware(Guard, access=app.state.access,
                       throttle=LoginThrottle(settings.login_max_failures, settings.login_window_s),
                       max_body_bytes=int(settings.max_upload_mb * 1024 * 1024) + 64 * 1024, ui_path=ui_path)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError):
        return _error(exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError):
        details = "; ".join(f"{'.'.join(map(str, e.get('loc', [])))}: {e.get('msg')}" for e in exc.errors()[:5])
        return _error(422, "invalid_request", details or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # Starlette names only the first route whose path matched
            headers["Allow"] = ", ".join(allowed_methods(app, request.scope))
        return _error(exc.status_code, code, str(exc.detail), headers=headers or None)

    @app.exception_handler(LLMUnavailableError)
    async def llm_error(_: Request, exc: LLMUnavailableError):
        if isinstance(exc, LLMBusyError):
            return _error(503, "llm_busy", str(exc), headers={"Retry-After": str(exc.retry_after_s)})
        return _error(503, "llm_unavailable", str(exc))

    @app.exception_handler(IndexBusyError)
    async def index_busy(_: Request, exc: IndexBusyError):
        return _error(503, "index_busy", "the index is being updated by another process; try again shortly",
                      headers={"Retry-After": "5"})

    @app.exception_handler(WriteQueueFull)
    async def write_queue_full(_: Request, exc: WriteQueueFull):
        return _error(503, "write_queue_full", str(exc), headers={"Retry-After": "5"})

    @app.exception_handler(NotReadable)
    async def kb_forbidden(_: Request, exc: NotReadable):
        return _error(403, "kb_forbidden", str(exc))

    @app.exception_handler(AccessError)
    async def invalid_access(_: Request, exc: AccessError):
        return _error(422, "invalid_access", str(exc))

    @app.exception_handler(Forbidden)
    async def not_permitted(_: Request, exc: Forbidden):
        return _error(403, "not_permitted", str(exc))

    @app.exception_handler(StoreUnavailableError)
    async def store_unavailable(_: Request, exc: StoreUnavailableError):
        log.error("%s", exc)
        return _error(503, "store_unavailable", str(exc), headers={"Retry-After": "10"})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):  # still JSON, and logged with its traceback
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error(500, "internal_error", "unexpected server error; it has been logged")

    def check_question(question: str) -> str:
        if not question.strip():
            raise ApiError(400, "empty_question", "the question is empty")
        if len(question) > settings.max_question_chars:
            raise ApiError(413, "question_too_long",
                           f"the question has {len(question)} characters; the limit is {settings.max_question_chars}")
        return question

    def busy_now(mode: str | None, llm_only: bool) -> None:
        """A stream that may only be the LLM's is refused before it starts when the queue is full
        (one that loses the race to a full queue later gets an 'error' event)."""
        if llm_only and (mode or settings.answer_mode) == "llm" and qa.chain.queue.full():
            raise qa.chain.queue.busy_error()  # the 503 with Retry-After

    def who(request: Request) -> Principal:
        return getattr(request.state, "principal", NOBODY)

    @app.get("/healthz")
    def healthz(request: Request) -> dict:
        """Open without a key; how many documents and chunks the library holds only to an
        administrator (a count of documents others may not read says something about them)."""
        asker = app.state.access.principal({k.lower(): v for k, v in request.headers.items()}, dict(request.cookies))
        counts = qa.retriever.store.counts()
        shown = {"documents": counts["documents"], "chunks": counts["chunks"],
                 "embedded_chunks": counts["embedded_chunks"]} if asker is not None and asker.admin else {}
        return {"status": "ok", **shown, "embedding_model": qa.retriever.embedder.name,
                "answer_mode": settings.answer_mode, "llm": qa.chain.llm_health()}

    @app.get("/v1/me", response_model=WhoAmI)
    def me(request: Request) -> WhoAmI:
        """Who the server takes this request to be: the key's service account, the person signed in
        (``oidc:<sub>`` with the provider's groups), or ``local`` on a server without keys."""
        principal = request.state.principal
        return WhoAmI(name=principal.name, role=principal.role, groups=sorted(principal.groups), admin=principal.admin)

    @app.post("/v1/answer", responses=STREAMABLE)
    async def answer(body: AnswerRequest, request: Request):
        question = check_question(body.question)
        filters = body.filters.to_filters() if body.filters else None
        asker = who(request)
        if body.stream:
            busy_now(body.mode, body.llm_only)
            return StreamingResponse(_sse(qa.stream(question, body.mode, filters, body.history, body.history_answers,
                                                    llm_only=body.llm_only, principal=asker, kbs=body.kb), body.draft),
                                     media_type="text/event-stream")
        result = await run_in_threadpool(lambda: qa.ask(question, body.mode, filters, body.history,
                                                        history_answers=body.history_answers, llm_only=body.llm_only,
                                                        principal=asker, kbs=body.kb))
        return json.loads(result.model_dump_json())

    @app.post("/v1/search")
    async def search(body: SearchRequest, request: Request):
        question = check_question(body.question)
        hits = await run_in_threadpool(lambda: qa.search(question, body.k, body.filters.to_filters() if body.filters
                                                         else None, principal=who(request), kbs=body.kb))
        return {"question": question, "hits": [
            {"docid": h.chunk.docid, "chunk_id": h.chunk.chunk_id, "title": h.title, "section": list(h.chunk.section),
             "start": h.chunk.start, "end": h.chunk.end, "score": h.score, "text": h.chunk.text} for h in hits]}

    @app.get("/v1/documents")
    def list_documents(request: Request) -> dict:
        """Every document the asker may read by docid (a folder document's docid is its path under
        the indexed folder, an upload's ``uploads/<name>``), with its knowledge base, audience and
        classification; where the server keeps the files is not shown."""
        return {"documents": [public_document(d) for d in qa.documents(who(request))]}

    @app.post("/v1/documents", status_code=201, responses=UPLOAD_RESPONSES)
    async def upload(request: Request, file: UploadFile = File(...), kb: str | None = Form(None, max_length=64)):
        """Add a file: it is indexed as ``uploads/<name>`` (``uploads/<kb>/<name>`` in another
        knowledge base than the default one; an editor's right there); the same name again
        replaces that upload."""
        limit = int(settings.max_upload_mb * 1024 * 1024)
        data = await file.read(limit + 1)
        if len(data) > limit:
            raise ApiError(413, "too_large", f"the file is over {settings.max_upload_mb:g} MB")
        try:
            result = await run_in_threadpool(qa.add_upload, file.filename or "", data, who(request), kb)
        except UploadRefused as exc:
            raise ApiError(415 if exc.code == "unsupported_type" else 400, exc.code, str(exc)) from None
        except UploadUnreadable as exc:
            raise ApiError(422, "ingest_failed", "; ".join(exc.reasons)) from None
        return {"docid": result.docid, "documents": [public_document(d) for d in result.documents],
                "chunks_embedded": result.chunks_embedded, "warnings": [hide_paths(w) for w in result.warnings]}

    @app.delete("/v1/documents/{docid:path}", responses={404: ERROR_RESPONSE})
    async def delete(docid: str, request: Request):
        """Remove a document from the index (an editor's right in its knowledge base); an uploaded
        file is deleted with its last document."""
        if not await run_in_threadpool(qa.remove, docid, who(request)):
            raise ApiError(404, "not_found", f"no document '{docid}'")
        return {"deleted": docid}

    @app.get("/v1/documents/{docid:path}/pages/{page}", responses={404: ERROR_RESPONSE},
             response_class=Response)
    async def page_image(docid: str, page: int, request: Request, start: int = 0, end: int = 0):
        """Page ``page`` of a PDF or image document as a PNG of the original, the stored-text span
        ``start:end`` (a citation's ``start``/``end``) highlighted where it stands on the page."""
        from rag.ingest.view import PageNotAvailable, PageRenderFailed

        try:
            png = await run_in_threadpool(qa.page_image, docid, page, start, end, who(request))
        except LookupError:
            raise ApiError(404, "not_found", f"no document '{docid}'") from None
        except PageNotAvailable as exc:
            raise ApiError(404, "no_page", str(exc)) from None
        except PageRenderFailed as exc:
            raise ApiError(422, "page_render_failed", str(exc)) from None
        return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})

    @app.put("/v1/documents/{docid:path}/subject", responses={404: ERROR_RESPONSE})
    async def put_subject(docid: str, body: SubjectRequest, request: Request):
        """Say what a document is about (city, organisation, year) where ingest got it wrong; a field
        sent as "" goes back to the derived value, a field left out stays as it is."""
        values = body.model_dump(exclude_unset=True)
        subject = await run_in_threadpool(lambda: qa.set_subject(docid, who(request), **values))
        if subject is None:
            raise ApiError(404, "not_found", f"no document '{docid}'")
        return {"docid": docid, "subject": subject}

    @app.put("/v1/documents/{docid:path}/access", responses={404: ERROR_RESPONSE})
    async def put_access(docid: str, body: AccessRequest, request: Request):
        """Who may read a document (an editor's right in its knowledge base): the next question
        searches with it."""
        try:
            access = await run_in_threadpool(lambda: qa.set_access(who(request), docid, body.audience, body.classification))
        except LookupError:
            access = None
        if access is None:
            raise ApiError(404, "not_found", f"no document '{docid}'")
        return {"docid": docid, **access}

    @app.get("/v1/kb")
    def list_kbs(request: Request) -> dict:
        """The knowledge bases the asker may read, its role on each, and (to managers) the grants."""
        asker, catalogue = who(request), qa.catalogue()
        out = []
        for kb in catalogue.readable(asker):
            role = "manager" if asker.admin else catalogue.role_of(asker, kb) or catalogue.everyone_role(kb)
            item = {"name": kb, "role": role}
            if catalogue.may(asker, kb, "manager"):
                item["grants"] = [{"kind": g.kind, "who": g.who, "role": g.role} for g in catalogue.grants if g.kb == kb]
            out.append(item)
        return {"knowledge_bases": out}

    @app.post("/v1/kb", status_code=201)
    async def create_kb(body: KbRequest, request: Request):
        """Create a knowledge base (site administrators)."""
        await run_in_threadpool(qa.create_kb, who(request), body.name)
        return {"created": body.name}

    @app.post("/v1/kb/{name}/grants")
    async def grant(name: str, body: GrantRequest, request: Request):
        """Grant (or with role null revoke) a role on a knowledge base to a user or a group (its managers)."""
        if (body.user is None) == (body.group is None):
            raise ApiError(422, "invalid_access", "name exactly one of 'user' or 'group'")
        kind, whom = ("user", body.user) if body.user is not None else ("group", body.group)
        await run_in_threadpool(qa.grant, who(request), name, kind, whom, body.role)
        return {"kb": name, kind: whom, "role": body.role}

    @app.get("/v1/audit", response_class=Response)
    def audit(request: Request, format: Literal["jsonl", "csv"] = "jsonl", since: str | None = None):
        """The audit trail (site administrators): one line per question and per change, as JSON lines or CSV."""
        if not who(request).admin:
            raise ApiError(403, "not_permitted", "only a site administrator may read the audit trail")
        media = "application/x-ndjson" if format == "jsonl" else "text/csv"
        return StreamingResponse(qa.audit.export(format, since), media_type=f"{media}; charset=utf-8")

    @app.post("/v1/feedback", status_code=201, responses={429: ERROR_RESPONSE, 507: ERROR_RESPONSE})
    async def feedback(body: FeedbackRequest, request: Request):
        """Keep a 👍/👎 with the question, the answer and its citations; `policyqa feedback export`
        turns the 👎 ones into eval-set lines for a person to complete."""
        try:
            item = await run_in_threadpool(qa.feedback.record, body.rating, body.answer, body.note, who(request).name)
        except FeedbackFull as exc:
            log.error("%s", exc)
            raise ApiError(507, "feedback_full", str(exc)) from None
        return {"stored": True, "rating": item["rating"]}

    @app.get("/v1/models")
    def models() -> dict:
        """OpenAI-compatible model list (clients list models before they chat)."""
        return {"object": "list", "data": [{"id": "policyqa", "object": "model", "created": 0, "owned_by": "policyqa"}]}

    @app.post("/v1/chat/completions", responses=STREAMABLE)
    async def chat(body: ChatRequest, request: Request):
        *history, question = _user_texts(body.messages)
        question = check_question(question)
        answers = turns([{"role": m.role, "content": _text_of(m)} for m in body.messages])["history_answers"][:len(history)]
        created = int(time.time())
        cid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        if body.stream:
            busy_now(None, body.llm_only)
            scope = {"principal": who(request), "kbs": body.kb}
            qa.read_filter(who(request), body.kb)  # a knowledge base it may not read: 403 before streaming
            return StreamingResponse(_openai_stream(qa, question, history, answers, body.max_tokens, cid, created,
                                                    body.llm_only, scope), media_type="text/event-stream")
        result = await run_in_threadpool(lambda: qa.ask(question, history=history, max_tokens=body.max_tokens,
                                                        history_answers=answers, llm_only=body.llm_only,
                                                        principal=who(request), kbs=body.kb))
        return {
            "id": cid, "object": "chat.completion", "created": created, "model": "policyqa",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer_with_sources(result)},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            "citations": [c.model_dump() for c in result.citations], "refused": result.refused,
        }

    return app


def public_document(document: dict) -> dict:
    """A document as clients see it: everything but the server path of its file."""
    return {k: v for k, v in document.items() if k != "source"}


def allowed_methods(app: FastAPI, scope: dict) -> list[str]:
    """Every method some route serves at this request's path (GET/POST/DELETE on /v1/documents…)."""
    from starlette.routing import Match, Route

    methods: set[str] = set()
    for route in app.router.routes:
        if isinstance(route, Route) and route.methods and route.matches({**scope, "type": "http"})[0] != Match.NONE:
            methods |= route.methods
    order = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    return sorted(methods, key=lambda m: order.index(m) if m in order else len(order))


def mount_docs(app: FastAPI) -> None:
    """API docs whose script and style come from the install (Swagger UI 5 as packaged by
    fastapi-offline), not a CDN: an air-gapped intranet browser gets a working page."""
    from importlib.resources import files

    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    assets = files("fastapi_offline").joinpath("static")
    app.mount("/docs-assets", StaticFiles(directory=str(assets)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs():
        return get_swagger_ui_html(openapi_url=app.openapi_url, title="PolicyQA API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon.png")


def _user_texts(messages: list[ChatMessage]) -> list[str]:
    """The user turns of a chat, oldest first (the last is the question; the earlier ones are what a
    follow-up inherits from). System messages never steer retrieval; assistant turns are the
    earlier answers, which the user's own words already point to."""
    texts = [_text_of(m) for m in messages if m.role == "user"]
    if not texts or not texts[-1].strip():
        raise ApiError(400, "no_question", "no user message with a question")
    return texts


def _text_of(message: ChatMessage) -> str:
    return _text_of_content(message.content)


def _text_of_content(content: str | list[dict] | None) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def answer_with_sources(answer: Answer) -> str:
    """The answer followed by its sources, for clients that only show message text."""
    lines = ([f"（理解为：{answer.understood_as}）"] if answer.understood_as else []) + [answer.answer]
    if answer.citations:
        lines += ["", "来源："] + [f"[{c.n}] {c.title} · {c.section or '—'}：「{c.quote}」" for c in answer.citations]
    elif answer.related:
        lines += ["", "相关段落（不是依据）："] + [f"- {c.title} · {c.section or '—'}" for c in answer.related]
    return "\n".join(lines)


def _sse(events: Iterator[str | Progress | Answer], drafts: bool) -> Iterator[str]:
    """progress events (the place in the model's queue, then "checking"), token events (unverified
    text as generated, only if asked for), then the verified answer, then done."""
    try:
        for item in events:
            if isinstance(item, Answer):
                yield f"event: answer\ndata: {item.model_dump_json()}\n\n"
            elif isinstance(item, Progress):
                yield f"event: progress\ndata: {item.model_dump_json()}\n\n"
            elif drafts:
                yield f"event: token\ndata: {json.dumps({'text': item}, ensure_ascii=False)}\n\n"
    except (LLMUnavailableError, ValueError) as exc:
        yield f"event: error\ndata: {json.dumps({'message': hide_paths(str(exc))}, ensure_ascii=False)}\n\n"
    yield "event: done\ndata: {}\n\n"


def _openai_stream(qa: PolicyQA, question: str, history: list[str], answers: list[str], max_tokens: int | None,
                   cid: str, created: int, llm_only: bool, scope: dict) -> Iterator[str]:
    """OpenAI chunks carrying only verified text: the draft is not streamed to API clients."""
    def chunk(delta: dict, finish: str | None = None, **extra) -> str:
        body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": "policyqa",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant"})
    try:
        answer = qa.ask(question, history=history, max_tokens=max_tokens, history_answers=answers, llm_only=llm_only,
                        **scope)
    except (LLMUnavailableError, ValueError) as exc:
        yield chunk({"content": f"错误：{hide_paths(str(exc))}"}, "stop")
        yield "data: [DONE]\n\n"
        return
    text = answer_with_sources(answer)
    for i in range(0, len(text), 16):
        yield chunk({"content": text[i:i + 16]})
    yield chunk({}, "stop", citations=[c.model_dump() for c in answer.citations])
    yield "data: [DONE]\n\n"
