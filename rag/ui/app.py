"""Gradio chat UI for staff: streaming answers, clickable citations, uploads and the document list.

Everything taken from documents is HTML-escaped before it is shown: a document that contains
``<script>`` is displayed as text, never run.
"""

from __future__ import annotations

import html
import logging
import re
import urllib.parse
from pathlib import Path

import gradio as gr

from rag.llm import LLMUnavailableError
from rag.models import LOCAL, NOBODY, SOURCE_KINDS, Answer, Citation, Principal, Progress
from rag.api.guard import Access
from rag.api.redact import hide_paths
from rag.index import IndexBusyError
from rag.index.acl import CLASSIFICATIONS, AccessError
from rag.feedback import FeedbackFull
from rag.service import Forbidden, PolicyQA, UploadUnreadable, WriteQueueFull
from rag.uploads import UploadRefused

log = logging.getLogger(__name__)

EXAMPLES = [
    "天长市何时被评为全国法治政府建设示范市？",
    "苏州市2023年全市人民调解组织共化解纠纷多少件？",
    "如皋市2024年的目标是什么？",
    "太倉市有多少名行政執法人員通過資格審查？",
]
SOURCE_HINT = "<p>点击引用编号，在此查看原文段落。</p>"
MODES = {"原文摘录（快速）": "extractive", "智能生成（本地模型）": "llm"}

CSS = """
.pq-source mark { background: #ffe08a; padding: 0 2px; }
.pq-source .pq-meta { color: #555; font-size: 0.9em; margin-bottom: 6px; }
.pq-source .pq-page img { max-width: 100%; border: 1px solid #ccc; }
.pq-source .pq-page figcaption { color: #555; font-size: 0.85em; }
.pq-source .pq-original blockquote { margin: 4px 0 8px; padding: 4px 8px; border-left: 3px solid #ccc; background: #f7f7f7; }
.pq-refused { color: #9a6700; }
.pq-note { color: #555; font-size: 0.9em; margin-bottom: 4px; }
.pq-understood { color: #555; font-size: 0.9em; margin-bottom: 4px; }
a.pq-ref { cursor: pointer; text-decoration: none; color: #1f5fbf; }
footer { display: none !important; }
"""

#: A click on an answer's [n] opens citation n beside it (as clicking it in the list does).
HEAD = """<script>
document.addEventListener("click", (event) => {
  const ref = event.target.closest && event.target.closest("a.pq-ref");
  if (!ref) return;
  event.preventDefault();
  const marker = "[" + ref.textContent.replace(/[^0-9]/g, "") + "]";
  for (const label of document.querySelectorAll("#pq-citations label")) {
    if (label.innerText.trim().startsWith(marker)) { label.click(); break; }
  }
});
</script>"""

#: A citation marker in an answer's (escaped) text, e.g. "…示范市。[1]".
_MARKER = re.compile(r"\[(\d{1,3})\]")


def citation_label(c: Citation) -> str:
    where = f" · {c.location}" if c.location else ""
    return f"[{c.n}] {c.title} · {c.section or '—'}{where}"


def _label(c: Citation, related: bool) -> str:
    return f"相关（不是依据）{citation_label(c)}" if related else citation_label(c)


def render_answer(answer: Answer) -> str:
    """Chat text for an answer (escaped); citations are listed by number for clicking beside it."""
    understood = (f'<div class="pq-understood">理解为：{html.escape(answer.understood_as)}</div>'
                  if answer.understood_as else "")
    notes = "".join(f'<div class="pq-note">ℹ {html.escape(n)}</div>' for n in answer.notes)
    return understood + notes + _render_body(answer)


def _render_body(answer: Answer) -> str:
    if answer.refused:
        related = "".join(f"<li>{html.escape(citation_label(c))}</li>" for c in answer.related)
        more = f"<br>相关段落（仅供参考，不是依据）：<ul>{related}</ul>" if related else ""
        reason = f"<br>原因：{html.escape(answer.reason)}" if answer.reason else ""
        return f'<span class="pq-refused">⚠ 未找到依据：{html.escape(answer.answer)}</span>{reason}{more}'
    cites = "<br>".join(f"{html.escape(citation_label(c))}：「{html.escape(c.quote)}」" for c in answer.citations)
    text = _MARKER.sub(r'<a class="pq-ref" href="#">[\1]</a>', html.escape(answer.answer))
    return f"{text}<br><br><small>来源（点击 [编号] 或右侧引用查看原文）：<br>{cites}</small>"


def render_source(qa: PolicyQA, c: Citation, principal: Principal = LOCAL) -> str:
    """The paragraph holding the quote, the quoted span highlighted, with title and section."""
    doc = qa.document(c.docid, principal)
    if doc is None:
        return "<p>该文件已被删除。</p>"
    text = doc.text
    start = text.rfind("\n", 0, c.start) + 1
    end = text.find("\n", c.end)
    end = len(text) if end < 0 else end
    body = (html.escape(text[start:c.start]) + "<mark>" + html.escape(text[c.start:c.end]) + "</mark>"
            + html.escape(text[c.end:end]))
    page = ""
    if c.page:  # the original page beside the text, the quote highlighted where it stands
        src = f"/v1/documents/{urllib.parse.quote(c.docid)}/pages/{c.page}?start={c.start}&end={c.end}"
        page = (f'<figure class="pq-page"><img src="{html.escape(src)}" alt="原文第{c.page}页" loading="lazy">'
                f'<figcaption>原文第{c.page}页（高亮处为引文）</figcaption></figure>')
    original = ""
    if c.original is not None and c.original != c.quote:  # what to search for in the file itself
        original = ('<div class="pq-original"><div class="pq-meta">引文在原文件中的写法（可在原文件中检索）：</div>'
                    f'<blockquote>{html.escape(c.original)}</blockquote>'
                    f'<div class="pq-meta">整理后：{html.escape(c.quote)}</div></div>')
    return (f'<div class="pq-source"><div class="pq-meta"><b>{html.escape(doc.title)}</b>（{html.escape(c.docid)}）<br>'
            f'{html.escape(c.section or "—")}{f" · {html.escape(c.location)}" if c.location else ""}</div><p>{body}</p>{original}{page}</div>')


def build_ui(qa: PolicyQA, access: Access) -> gr.Blocks:
    """The staff UI; ``access`` is the server guard's (the same keys and login sessions)."""
    upload_root = Path(gr.utils.get_upload_folder()).resolve()
    with gr.Blocks(title="PolicyQA 政策文件问答", analytics_enabled=False) as demo:
        signed_in = "　[退出登录](/logout)" if access.enabled else ""
        gr.Markdown("## PolicyQA 政策文件问答\n回答只依据已收录的文件，每句话都附有核验过的原文引用；文件中没有的内容会明确说明。"
                    + signed_in)
        citations_state = gr.State([])
        asked_state = gr.State([])  # the user's questions so far, as typed: what a follow-up inherits from
        answers_state = gr.State([])  # the answers they got (after 哪个城市…？ the answer names what 该市 means)
        last_answer = gr.State(None)  # the latest Answer (as a dict), what 👍/👎 rate
        with gr.Tab("问答"):
            with gr.Row():
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(label="对话", height=460, elem_id="pq-chat")
                    question = gr.Textbox(label="问题", placeholder="例如：天长市何时被评为全国法治政府建设示范市？",
                                          elem_id="pq-question")
                    with gr.Row():
                        mode = gr.Radio(list(MODES), value=_default_mode_label(qa), label="回答方式")
                        kb_pick = gr.CheckboxGroup([], label="检索的知识库（不选：全部可查阅的）", elem_id="pq-kbs")
                        ask = gr.Button("提问", variant="primary", elem_id="pq-ask")
                        new_chat = gr.Button("新对话", elem_id="pq-new")
                    with gr.Row():
                        fb_note = gr.Textbox(label="对上一条回答的意见（可选）", scale=3, elem_id="pq-fb-note")
                        up = gr.Button("👍 有用", scale=1, elem_id="pq-up")
                        down = gr.Button("👎 有问题", scale=1, elem_id="pq-down")
                    fb_status = gr.Markdown(elem_id="pq-fb-status")
                    gr.Examples(EXAMPLES, inputs=question, label="示例问题")
                with gr.Column(scale=2):
                    cite_pick = gr.Radio([], label="引用（点击查看原文）", elem_id="pq-citations")
                    source = gr.HTML(SOURCE_HINT, elem_id="pq-source")
        # The documents tab is read from the index again on every page load and every visit of the
        # tab: what it is built with (the index at server start) is only what shows until then, so
        # uploads since, from any browser, the API or the CLI, are listed and deletable.
        table, picks = _doc_list(qa, LOCAL if not access.enabled else NOBODY)
        with gr.Tab("文档", elem_id="pq-docs-tab") as docs_tab:
            upload = gr.File(label="上传文件（txt / md / html / docx / pdf / ofd / jsonl）", file_count="multiple")
            upload_status = gr.Markdown()
            docs_table = gr.Dataframe(headers=DOC_HEADERS, value=table["value"], interactive=False,
                                      label="已收录文件", elem_id="pq-docs-table")
            with gr.Row():
                delete_pick = gr.Dropdown(picks["choices"], value=None, label="删除文件", elem_id="pq-delete-pick")
                delete_btn = gr.Button("删除", variant="stop", elem_id="pq-delete")
            delete_status = gr.Markdown(elem_id="pq-delete-status")
            with gr.Row():  # an editor of the document's knowledge base sets who may read it
                audience_box = gr.Textbox(label="可见范围（用户组，逗号分隔；留空：知识库内全部可见）", elem_id="pq-audience")
                classification_pick = gr.Radio(list(CLASSIFICATIONS), value=CLASSIFICATIONS[0], label="密级",
                                               elem_id="pq-classification")
                access_btn = gr.Button("保存所选文件的权限", elem_id="pq-access")
            access_status = gr.Markdown(elem_id="pq-access-status")
        with gr.Tab("审计", elem_id="pq-audit-tab") as audit_tab:
            audit_note = gr.Markdown("仅系统管理员可查看：每次提问和每次变更各一条记录（最新在前）。", elem_id="pq-audit-note")
            audit_table = gr.Dataframe(headers=AUDIT_HEADERS, interactive=False, elem_id="pq-audit-table")

        def respond(q: str, mode_label: str, history: list, asked: list, answered: list, kbs: list | None,
                    request: gr.Request):
            history, asked, answered = list(history or []), list(asked or []), list(answered or [])
            q = (q or "").strip()
            if not q:
                yield history, [], gr.update(choices=[], value=None), gr.update(), asked, gr.update(), answered
                return
            history = history + [{"role": "user", "content": html.escape(q)},
                                 {"role": "assistant", "content": "检索中……"}]
            # a new answer clears the previous answer's source paragraph
            yield history, [], gr.update(choices=[], value=None), SOURCE_HINT, asked, gr.update(), answered
            try:
                for item in qa.stream(q, mode=MODES.get(mode_label), history=asked, history_answers=answered,
                                      principal=_principal(access, request), kbs=kbs or ()):
                    if isinstance(item, Answer):
                        history[-1] = {"role": "assistant", "content": render_answer(item)}
                        # a refusal's related passages open too, labelled as what they are
                        shown = item.related if item.refused else item.citations
                        cites = [c.model_dump() for c in shown]
                        labels = [_label(c, item.refused) for c in shown]
                        yield (history, cites, gr.update(choices=labels, value=None), SOURCE_HINT, asked + [q],
                               item.model_dump(), answered + [item.answer])
                    elif isinstance(item, Progress):  # never the unverified draft: staff see only verified text
                        history[-1] = {"role": "assistant", "content": f"<i>{html.escape(item.text)}</i>"}
                        yield history, [], gr.update(), gr.update(), asked, gr.update(), answered
            except (ValueError, LLMUnavailableError) as exc:
                history[-1] = {"role": "assistant", "content": f"⚠ {html.escape(hide_paths(str(exc)))}"}
                yield history, [], gr.update(choices=[], value=None), SOURCE_HINT, asked, gr.update(), answered

        def start_over():
            return [], [], gr.update(choices=[], value=None), SOURCE_HINT, [], None, []

        def rate(rating: str, note: str, last: dict | None, request: gr.Request):
            if not last:
                return "请先提问，再评价回答。", gr.update()
            try:
                qa.feedback.record(rating, Answer(**last), note or "", _principal(access, request).name)
            except FeedbackFull as exc:
                log.error("%s", exc)
                return "❌ 反馈记录已达上限，请联系管理员导出（policyqa feedback export）后再评价。", gr.update()
            return "已记录，谢谢！" + ("（👎 会进入评测集，供人工核对）" if rating == "down" else ""), ""

        def show_source(label: str | None, cites: list[dict], request: gr.Request):
            for c in cites or []:
                cit = Citation(**c)
                if label in (citation_label(cit), _label(cit, True)):
                    return render_source(qa, cit, _principal(access, request))
            return gr.update()

        def add_files(files, request: gr.Request, progress=gr.Progress()):
            if not files:
                return gr.update(), gr.update(), gr.update()
            if not _may_write(access, request):
                return "❌ 当前密钥只能提问，不能上传文件。", gr.update(), gr.update()
            lines = []
            for i, f in enumerate(files):
                path = Path(f)
                name = path.name
                progress(i / len(files), desc=f"正在收录 {name}")
                lines.append(_add_one(qa, path, upload_root, _principal(access, request)))
            progress(1.0)
            return "\n\n".join(lines), *_doc_list(qa, _principal(access, request))

        def delete_doc(docid: str | None, request: gr.Request):
            if not docid:
                status = "未删除：没有选择文件，或取消了确认。"
            elif not _may_write(access, request):
                status = "❌ 当前密钥只能提问，不能删除文件。"
            else:
                try:
                    status = f"已删除 {docid}。" if qa.remove(docid, _principal(access, request)) else f"没有找到 {docid}。"
                except (IndexBusyError, WriteQueueFull):
                    status = f"未删除 {docid}：索引正忙（其他写入正在进行），请稍后重试。"
                except Forbidden:
                    status = f"未删除 {docid}：只有该知识库的编辑可以删除其中的文件。"
            return *_doc_list(qa, _principal(access, request)), status

        def set_access(docid: str | None, audience: str, classification: str, request: gr.Request):
            if not docid:
                return "未保存：请先在上方选择文件。"
            groups = [g.strip() for g in (audience or "").replace("，", ",").split(",") if g.strip()]
            try:
                done = qa.set_access(_principal(access, request), docid, groups, classification)
            except Forbidden:
                return f"未保存：只有该知识库的编辑可以修改 {html.escape(docid)} 的权限。"
            except LookupError:
                done = None
            except (AccessError, IndexBusyError, WriteQueueFull) as exc:
                return f"未保存：{html.escape(str(exc))}"
            if done is None:
                return f"没有找到 {html.escape(docid)}。"
            return (f"已保存 {html.escape(docid)}：{done['classification']}，可见范围 "
                    f"{html.escape('、'.join(done['audience']) or '知识库内全部')}。")

        def rate_up(note: str, last: dict | None, request: gr.Request):
            return rate("up", note, last, request)

        def rate_down(note: str, last: dict | None, request: gr.Request):
            return rate("down", note, last, request)

        def doc_list(request: gr.Request):
            return _doc_list(qa, _principal(access, request))

        def readable_kbs(request: gr.Request):
            return gr.update(choices=qa.catalogue().readable(_principal(access, request)), value=[])

        def audit_view(request: gr.Request):
            return _audit_rows(qa, _principal(access, request))

        outputs = [chatbot, citations_state, cite_pick, source, asked_state, last_answer, answers_state]
        inputs = [question, mode, chatbot, asked_state, answers_state, kb_pick]
        ask.click(respond, inputs, outputs)
        question.submit(respond, inputs, outputs)
        new_chat.click(start_over, None, outputs)
        cite_pick.change(show_source, [cite_pick, citations_state], source)
        upload.upload(add_files, upload, [upload_status, docs_table, delete_pick])
        # a person confirms before a document leaves the library (cancelling sends no document)
        delete_btn.click(delete_doc, delete_pick, [docs_table, delete_pick, delete_status],
                         js="(docid) => (docid && confirm('确定从文库中删除 ' + docid + ' 吗？')) ? docid : null")
        demo.load(doc_list, None, [docs_table, delete_pick])
        demo.load(readable_kbs, None, kb_pick)
        access_btn.click(set_access, [delete_pick, audience_box, classification_pick], access_status)
        audit_tab.select(audit_view, None, [audit_note, audit_table])
        docs_tab.select(doc_list, None, [docs_table, delete_pick])
        up.click(rate_up, [fb_note, last_answer], [fb_status, fb_note])
        down.click(rate_down, [fb_note, last_answer], [fb_status, fb_note])
    return demo


def _principal(access: Access, request: gr.Request | None) -> Principal:
    """Who a UI event comes from: the guard's answer for the browser's cookie (no one: no rights)."""
    if not access.enabled:
        return LOCAL
    if request is None:
        return NOBODY
    return access.principal(dict(request.headers), dict(request.cookies)) or NOBODY


def _may_write(access: Access, request: gr.Request | None) -> bool:
    """The same role check as the HTTP guard, for UI events (which carry the browser's cookie)."""
    if not access.enabled:
        return True
    if request is None:
        return False
    principal = access.principal(dict(request.headers), dict(request.cookies))
    return principal is not None and principal.role == "write"


def _add_one(qa: PolicyQA, path: Path, upload_root: Path, principal: Principal) -> str:
    """Index one file the browser uploaded. Only files in Gradio's upload folder are read: a client
    that names any other server path (a crafted FileData) gets nothing."""
    name = html.escape(path.name)
    resolved = path.resolve()
    if not resolved.is_relative_to(upload_root) or not resolved.is_file():
        log.warning("UI upload refused: %s is not an uploaded file", path)
        return f"❌ {name}：不是通过本页面上传的文件，已拒绝。"
    try:
        result = qa.add_upload(path.name, resolved.read_bytes(), principal)
    except (Forbidden, AccessError) as exc:
        return f"❌ {name}：{html.escape(str(exc))}（需要默认知识库的编辑角色）"
    except UploadRefused as exc:
        return f"❌ {name}：{html.escape(hide_paths(str(exc)))}"
    except UploadUnreadable as exc:
        return f"❌ {name}：{html.escape(hide_paths('；'.join(exc.reasons)))}"
    except IndexBusyError:
        return f"❌ {name}：索引正在被其他进程更新，请稍后重试。"
    except WriteQueueFull:
        return f"❌ {name}：待处理的文件操作过多，请稍后重试。"
    chunks = sum(d["chunks"] for d in result.documents)
    # what was read but not whole (an OFD page that is missing) is said beside it, not only logged
    noted = f"（注意：{html.escape(hide_paths('；'.join(result.warnings)))}）" if result.warnings else ""
    return f"✅ {name}：已收录为 {html.escape(result.docid)}，{chunks} 个段落{noted}"


def _default_mode_label(qa: PolicyQA) -> str:
    return next(label for label, mode in MODES.items() if mode == qa.settings.answer_mode)


DOC_HEADERS = ["docid", "标题", "地区", "机构", "年份", "段落数", "来源", "疑似指令", "知识库", "密级", "可见范围"]
AUDIT_HEADERS = ["时间", "类型", "操作人", "知识库", "问题或对象", "引用的文件", "因权限未显示", "回答摘要值"]
#: The most audit records the UI shows (newest first); `policyqa audit export` gives them all.
AUDIT_ROWS = 500


def _audit_rows(qa: PolicyQA, principal: Principal) -> tuple:
    """The latest audit records as a table, for site administrators only."""
    if not principal.admin:
        return "仅系统管理员可查看审计记录。", gr.update(value={"headers": AUDIT_HEADERS, "data": []})
    records = list(qa.audit.items())[-AUDIT_ROWS:][::-1]
    rows = [[r.get("time", ""), r.get("kind", ""), r.get("who", ""), "、".join(r.get("kbs") or []),
             r.get("question") or r.get("target", ""), "、".join(r.get("cited") or []), r.get("withheld", ""),
             (r.get("answer_sha256") or "")[:12]] for r in records]
    intact = qa.audit.verify()
    note = f"最近 {len(rows)} 条记录（全部导出：policyqa audit export 或 GET /v1/audit）；" + \
        ("记录链完整。" if intact is None else f"⚠ 第 {intact} 行在写入后被改动过。")
    return note, gr.update(value={"headers": AUDIT_HEADERS, "data": rows})


def _doc_list(qa: PolicyQA, principal: Principal) -> tuple:
    """The documents table and the delete list as the index holds them now (nothing selected),
    of the documents ``principal`` may read."""
    documents = qa.documents(principal)
    rows = [[d["docid"], d["title"], d["subject"].get("city", ""), d["subject"].get("organisation", ""),
             d["subject"].get("year", ""), d["chunks"], SOURCE_KINDS[d["kind"]],
             f"⚠ {d['directives']} 句：{d['directive_example']}" if d["directives"] else "",
             d["kb"], d["classification"], "、".join(d["audience"]) or "全部"] for d in documents]
    return (gr.update(value={"headers": DOC_HEADERS, "data": rows}),
            gr.update(choices=[d["docid"] for d in documents], value=None))
