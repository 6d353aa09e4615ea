"""``policyqa`` command line: ingest, index, search, ask, eval, serve and ui over Chinese policy documents."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import statistics
import sys
import threading
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from rag.config import Settings
from rag.index.acl import CLASSIFICATIONS, ROLES
from rag.logs import setup_logging

log = logging.getLogger("policyqa")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    settings = Settings()
    if getattr(args, "index", None):
        settings = settings.model_copy(update={"index_dir": Path(args.index)})
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminated) if main_thread else None
    try:
        return args.func(args, settings)
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
    except Terminated:
        log.error("terminated (SIGTERM)")
        return 128 + signal.SIGTERM
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        log.error("%s", exc)
        return 2
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


class Terminated(BaseException):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt, so a command ends the way
    an interrupted one does: every ``with``/``finally`` runs and closes its worker processes."""


def _terminated(signum: int, frame: object) -> None:
    raise Terminated


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="policyqa", description=__doc__)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    p = sub.add_parser("ingest", help="read and chunk files, print what each became (no index written)")
    p.add_argument("paths", nargs="+", help="files or folders (txt md html docx pdf jsonl, png jpg tif scans)")
    p.add_argument("--show", type=int, default=0, metavar="N", help="print the first N chunks of each document")
    p.add_argument("--strict", action="store_true", help="exit with status 1 if any file could not be read")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per file (path, status, documents, chunks, chars, errors, warnings)")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("index", help="build or update the index incrementally (only changed files are redone)")
    p.add_argument("paths", nargs="*", help="files or folders to index")
    p.add_argument("--jsonl", action="append", default=[], metavar="FILE", help="a {docid,text} JSONL corpus")
    p.add_argument("--index", help="index folder (default: index/ or POLICYQA_INDEX_DIR)")
    p.add_argument("--rebuild", action="store_true", help="drop the existing index and build from scratch")
    p.add_argument("--strict", action="store_true", help="exit with status 1 if any file could not be read")
    p.add_argument("--keyword-only", action="store_true",
                   help="store chunks without embedding them: keyword-searchable now, `policyqa embed` adds vectors later")
    p.add_argument("--kb", help="knowledge base to put the documents in (default: a folder's .policyqa.toml, else 默认)")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("embed", help="add the vectors keyword-only indexing left out (resumable; searchable throughout)")
    p.add_argument("--index", help="index folder")
    p.add_argument("--limit", type=int, help="stop after about N chunks (a run can be resumed any time)")
    p.add_argument("--publish-every", type=float, default=300.0, metavar="SECONDS",
                   help="how often searchers pick up the new vectors during the run (default 300)")
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("status", help="what the index holds: documents, chunks, how many are embedded")
    p.add_argument("--index", help="index folder")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("search", help="retrieve the passages for a question (no answer generation)")
    p.add_argument("question", nargs="?", help="the question")
    p.add_argument("--k", type=int, default=5, help="passages to return")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.add_argument("--batch", metavar="FILE", help='JSONL of {"qid","question"}; writes one JSON line per question')
    p.add_argument("--doc", action="append", default=[], help="only this document id (repeatable)")
    p.add_argument("--city", help="only documents of this city, e.g. 天长市")
    p.add_argument("--year", help="only documents of this year")
    p.add_argument("--kb", action="append", default=[], help="only this knowledge base (repeatable)")
    p.add_argument("--index", help="index folder")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("ask", help="answer a question with verified citations")
    p.add_argument("question")
    p.add_argument("--mode", choices=["llm", "extractive"], help="default: POLICYQA_ANSWER_MODE (extractive)")
    p.add_argument("--json", action="store_true", help="print the Answer JSON")
    p.add_argument("--kb", action="append", default=[], help="only this knowledge base (repeatable)")
    p.add_argument("--index", help="index folder")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("kb", help="knowledge bases and who may read them: create, list, grant, revoke")
    p.add_argument("action", choices=["create", "list", "grant", "revoke"])
    p.add_argument("name", nargs="?", help="knowledge base, e.g. 法制科")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--user", help="a user, e.g. oidc:zhangsan or key:1a2b3c4d")
    who.add_argument("--group", help="a group (department), e.g. 法制科; '*' is everyone")
    p.add_argument("--role", choices=ROLES, default="viewer")
    p.add_argument("--json", action="store_true", help="JSON output (list)")
    p.add_argument("--index", help="index folder")
    p.set_defaults(func=cmd_kb)

    p = sub.add_parser("access", help="set who may read a document: its audience (groups) and classification")
    p.add_argument("docid", help="document id as `policyqa docs` lists it")
    p.add_argument("--audience", help="groups, comma-separated ('' : everyone who may read its knowledge base)")
    p.add_argument("--classification", choices=CLASSIFICATIONS)
    p.add_argument("--index", help="index folder")
    p.set_defaults(func=cmd_access)

    p = sub.add_parser("audit", help="the audit trail: export it (JSON lines or CSV) or check that it is whole")
    p.add_argument("action", choices=["export", "verify"])
    p.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    p.add_argument("--since", help="only records from this time on, e.g. 2026-12-01")
    p.add_argument("--out", help="file to write (default: print)")
    p.add_argument("--index", help="index folder (the trail is <index>/audit.jsonl, or POLICYQA_AUDIT_PATH)")
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("docs", help="list the indexed documents with what each is about (city, organisation, year)")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.add_argument("--index", help="index folder")
    p.set_defaults(func=cmd_docs)

    p = sub.add_parser("subject", help="set what a document is about where ingest got it wrong ('' clears a field)")
    p.add_argument("docid", help="document id as `policyqa docs` lists it")
    p.add_argument("--city", help="e.g. 天长市")
    p.add_argument("--organisation", help="e.g. 天长市司法局")
    p.add_argument("--year", help="e.g. 2021")
    p.add_argument("--index", help="index folder")
    p.set_defaults(func=cmd_subject)

    p = sub.add_parser("feedback", help="export the 👎 answers people marked as eval-set lines to complete")
    p.add_argument("action", choices=["export"])
    p.add_argument("--out", help="JSONL file to write (default: print)")
    p.add_argument("--index", help="index folder (the feedback file is <index>/feedback.jsonl)")
    p.set_defaults(func=cmd_feedback)

    p = sub.add_parser("eval", help="run an eval set; write answers.jsonl, metrics.json and report.html")
    p.add_argument("evalset", help="JSONL with facts (PolicyQA) or answers (NCP/DRCD)")
    p.add_argument("--out", default="eval/runs/latest", help="output folder")
    p.add_argument("--mode", choices=["llm", "extractive"])
    p.add_argument("--limit", type=int, help="only the first N questions")
    p.add_argument("--index", help="index folder")
    p.set_defaults(func=cmd_eval)

    for name, helptext in (("serve", "HTTP API (and the web UI at /ui) for other systems and staff"),
                           ("ui", "the staff web UI (and the HTTP API under /v1)")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to serve the intranet")
        p.add_argument("--port", type=int, default=8000 if name == "serve" else 7860)
        p.add_argument("--index", help="index folder")
        if name == "serve":
            p.add_argument("--no-ui", action="store_true", help="API only")
        p.set_defaults(func=cmd_serve, ui_at_root=name == "ui")
    return parser


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    """What each file becomes: a table on a terminal; one plain line per file (full path, status,
    what went wrong) in a log or a pipe, where a table's cells would cut names; JSON lines with
    ``--json``."""
    from rag.chunk import chunk_document
    from rag.ingest import Ingestor, find_files
    from rag.progress import Reporter

    console = Console(soft_wrap=True)
    table = Table(Column("file", overflow="fold"), "docs", "chunks", "chars", "notes", title="ingest") if console.is_terminal and not args.json \
        else None
    files = list(find_files(args.paths))
    sizes: list[int] = []
    chars = failed = 0
    started = time.perf_counter()
    with Ingestor(settings.ingest_limits()) as ingestor, Reporter() as progress:
        ingestor.prepare([path for path, _ in files])  # .doc/.xls/… converted in one LibreOffice run
        for path, docid in progress.track(files, "reading files"):
            result = ingestor.ingest_file(path, docid)
            n_chunks, shown = 0, []
            for doc in result.documents:
                chunks = chunk_document(doc, settings.chunk_max_chars, settings.chunk_min_chars)
                n_chunks += len(chunks)
                sizes.extend(len(c.text) for c in chunks)
                chars += len(doc.text)
                shown += chunks[: args.show]
            failed += not result.documents
            record = _ingest_record(path, docid, result, n_chunks)
            if args.json:
                record["chunks_shown"] = [{"chunk_id": c.chunk_id, "section": list(c.section), "text": c.text}
                                          for c in shown]
                print(json.dumps(record, ensure_ascii=False), flush=True)
                continue
            for c in shown:
                console.print(f"  [{c.chunk_id}] {' > '.join(c.section)}\n    {c.text}", markup=False)
            if table is None:
                print("\t".join([record["path"], record["status"],  # tab-separated: cut -f1,2 works
                                 f"{record['documents']} docs, {n_chunks} chunks, {record['chars']} chars",
                                 *record["errors"], *record["warnings"]]), flush=True)
                continue
            notes = [f"[red]{escape(e)}[/red]" for e in record["errors"][:3]]
            notes += [f"[yellow]{escape(w)}[/yellow]" for w in record["warnings"]]
            if len(result.errors) > 3:
                notes.append(f"[red]… {len(result.errors) - 3} more errors[/red]")
            table.add_row(escape(str(path)), str(len(result.documents)), str(n_chunks), str(record["chars"]),
                          "\n".join(notes) or "ok")
    seconds = time.perf_counter() - started
    if table is not None:
        console.print(table)
    Console(stderr=args.json, soft_wrap=True).print(_summary(len(files), failed, sizes, chars, seconds),
                                                     markup=False, highlight=False)
    return 1 if failed and args.strict else 0


def _ingest_record(path: Path, docid: str, result, n_chunks: int) -> dict:
    """One file's outcome for ``policyqa ingest`` (a log line or a JSON line): ``status`` is ``ok``,
    ``warnings``, ``partial`` (some records read, some not) or ``failed``; messages are one line each,
    without the file's path in front where it is the file's own."""
    errors = [_one_line(str(e).removeprefix(f"{path}: ")) for e in result.errors]
    status = ("failed" if not result.documents else "partial" if result.errors
              else "warnings" if result.warnings else "ok")
    return {"path": str(path), "docid": docid, "status": status, "documents": len(result.documents),
            "chunks": n_chunks, "chars": sum(len(d.text) for d in result.documents), "errors": errors,
            "warnings": [_one_line(w) for w in result.warnings]}


def _one_line(text: str) -> str:
    """A message on one line (a parser's error text may hold line breaks), for logs and greps."""
    return " ".join(text.split())


def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    from rag.embed import embedder_for
    from rag.index.build import update_index
    from rag.progress import Reporter

    paths = [*args.paths, *args.jsonl]
    if not paths:
        raise ValueError("nothing to index: give files or folders, e.g. `policyqa index docs/`")
    log.info("loading the embedding model %s", settings.embedding_model)
    embedder = embedder_for(settings)
    console = Console(stderr=True, soft_wrap=True)  # one line per message, even in a log file
    with Reporter(console) as progress:
        tasks = {"files": progress.task("files read"), "documents": progress.task("documents read"),
                 "chunks": progress.task("chunks embedded")}

        def report(kind: str, done: int, total: int) -> None:
            progress.update(tasks[kind], done, total or None)

        stats = update_index(settings, paths, embedder, rebuild=args.rebuild, progress=report,
                             keyword_only=args.keyword_only, kb=args.kb)
    if stats.documents_written or stats.documents_deleted:
        from rag.audit import AuditLog
        from rag.models import LOCAL

        AuditLog(settings.audit_file).record("index", LOCAL, target=",".join(map(str, paths)), change={
            "kb": args.kb, "documents_written": stats.documents_written, "documents_deleted": stats.documents_deleted})
    for err in stats.errors:  # one line each, the file's full path first: a log or a grep names every file
        console.print(f"[red]error[/red] {escape(_one_line(err))}", highlight=False)
    for warning in stats.warnings:
        console.print(f"[yellow]warning[/yellow] {escape(_one_line(warning))}", highlight=False)
    rate = stats.chunks_embedded / stats.embed_seconds if stats.embed_seconds else 0.0
    Console(soft_wrap=True).print(
        f"Index {settings.index_dir} now holds {stats.totals.get('documents', 0)} documents, "
        f"{stats.totals.get('chunks', 0)} chunks ({settings.embedding_model}). This run: {stats.files_seen} files "
        f"({stats.files_unchanged} unchanged, {stats.files_failed} could not be read), {stats.documents_written} "
        f"documents written, {stats.documents_deleted} deleted, {stats.chunks_written} chunks, "
        f"{stats.chunks_embedded} embedded in {stats.seconds:.1f}s "
        f"({stats.chunks_written / max(stats.seconds, 1e-9):.1f} chunks/s; embedder {rate:.1f} chunks/s)",
        markup=False, highlight=False)
    missing = stats.totals.get("chunks", 0) - stats.totals.get("embedded_chunks", 0)
    if missing:
        console.print(f"[yellow]{missing} chunk(s) are keyword-searchable but not embedded yet: run `policyqa embed"
                      f"{' --index ' + str(settings.index_dir) if args.index else ''}` to add their vectors "
                      "(resumable; searching works meanwhile).[/yellow]", highlight=False)
    if stats.files_failed:
        console.print(f"[yellow]{stats.files_failed} file(s) could not be read (listed above); everything else "
                      "was indexed. Fix them and run the same command again: only changed files are redone.[/yellow]",
                      highlight=False)
    return 1 if stats.files_failed and args.strict else 0


def cmd_embed(args: argparse.Namespace, settings: Settings) -> int:
    from rag.embed import embedder_for
    from rag.index.build import embed_missing
    from rag.progress import Reporter

    log.info("loading the embedding model %s", settings.embedding_model)
    embedder = embedder_for(settings)
    with Reporter(Console(stderr=True, soft_wrap=True)) as progress:
        task = progress.task("chunks embedded")
        stats = embed_missing(settings, embedder, publish_every_s=args.publish_every, limit=args.limit,
                              progress=lambda _, done, total: progress.update(task, done, total or None))
    totals = stats.totals
    rate = stats.embedded / stats.seconds if stats.seconds else 0.0
    left = totals.get("chunks", 0) - totals.get("embedded_chunks", 0)
    Console(soft_wrap=True).print(
        f"Embedded {stats.embedded} chunk texts in {stats.seconds:.1f}s ({rate:.1f}/s). Index {settings.index_dir}: "
        f"{totals.get('embedded_chunks', 0)} of {totals.get('chunks', 0)} chunks embedded"
        + (f"; {left} left (run `policyqa embed` again to go on)." if left else "."), markup=False, highlight=False)
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from rag.index import index_status

    status = index_status(settings)
    if args.json:
        print(json.dumps(status, ensure_ascii=False, indent=2))
        return 0
    share = status["embedded_chunks"] / status["chunks"] if status["chunks"] else 1.0
    Console(soft_wrap=True).print(
        f"{status['index']}: {status['documents']} documents, {status['chunks']} chunks, {status['embedded_chunks']} "
        f"embedded ({share:.1%}; {status['embedding_model']}), store {status['store']}"
        + ("" if status["embedded_chunks"] >= status["chunks"] else " — run `policyqa embed` to finish"),
        markup=False, highlight=False)
    return 0


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    from rag.retrieve import Filters, Retriever

    if not args.question and not args.batch:
        raise ValueError('give a question (policyqa search "问题") or --batch FILE')
    from rag.index.acl import read_filter
    from rag.models import LOCAL

    retriever = Retriever.open(settings)
    filters = Filters(tuple(args.doc), args.city, args.year, read_filter(LOCAL, retriever.store.catalogue(), args.kb))
    if args.batch:
        with open(args.batch, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    q = json.loads(line)
                    hits = retriever.search(q["question"], k=args.k, filters=filters)
                    print(json.dumps({"qid": q.get("qid"), "hits": [_hit_json(h) for h in hits]}, ensure_ascii=False), flush=True)
        return 0
    hits = retriever.search(args.question, k=args.k, filters=filters)
    if args.json:
        print(json.dumps({"question": args.question, "hits": [_hit_json(h) for h in hits]}, ensure_ascii=False, indent=2))
        return 0
    console = Console()
    for rank, h in enumerate(hits, 1):
        console.print(f"[bold]{rank}. {h.title}[/bold]  [dim]{h.chunk.chunk_id}  {' > '.join(h.chunk.section)}  "
                      f"score {h.score:.4f} {h.ranks}[/dim]", highlight=False)
        console.print(h.chunk.text, markup=False, highlight=False)
    if not hits:
        console.print("no passages found")
    return 0


def _chain(settings: Settings):
    from rag.answer.chain import AnswerChain
    from rag.retrieve import Retriever

    return AnswerChain(settings, Retriever.open(settings))


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from rag.models import Answer, Progress
    from rag.service import PolicyQA

    qa = PolicyQA(settings)
    answer: Answer | None = None
    try:
        for piece in qa.stream(args.question, mode=args.mode, kbs=args.kb):
            if isinstance(piece, Answer):
                answer = piece
            elif isinstance(piece, Progress) and not args.json:
                print(piece.text, file=sys.stderr, flush=True)  # never the model's unverified draft: a person reads this
    finally:
        qa.close()
    assert answer is not None
    if args.json:
        print(answer.model_dump_json(indent=2))
        return 0
    console = Console(soft_wrap=True)
    for note in answer.notes:
        console.print(f"[dim]ℹ {escape(note)}[/dim]", highlight=False)
    console.print(("[bold yellow]未找到依据[/bold yellow] " if answer.refused else "[bold]答：[/bold]") + answer.answer, highlight=False)
    if answer.reason:
        console.print(f"    原因：{escape(answer.reason)}", highlight=False)
    for c in answer.citations:
        page = f", {c.location}" if c.location else ""
        console.print(f"[{c.n}] {c.title} · {c.section or '—'} ({c.chunk_id}, {c.start}-{c.end}{page})\n    「{c.quote}」", markup=False, highlight=False)
        if c.original is not None and c.original != c.quote:  # what to search the file itself for
            console.print(f"    原文件中写作（第{c.orig_start}–{c.orig_end}字）：「{c.original}」", markup=False, highlight=False)
    if answer.related:
        console.print("相关段落（仅供参考，不是依据）：")
        for c in answer.related:
            console.print(f"  - {c.title} · {c.section or '—'} ({c.chunk_id}): {c.quote[:80]}…", markup=False, highlight=False)
    console.print(f"[dim]{answer.mode} · {answer.latency_ms:.0f} ms[/dim]")
    return 0


def cmd_docs(args: argparse.Namespace, settings: Settings) -> int:
    from rag.index.acl import access_of
    from rag.retrieve import Retriever

    from rag.service import listed

    documents = listed(Retriever.open(settings).store.documents())
    if args.json:
        print(json.dumps(documents, ensure_ascii=False, indent=2))
        return 0
    console = Console(soft_wrap=True)
    for d in documents:
        subject = d["subject"]
        about = " · ".join(f"{subject[k]}{'*' if k in subject['set'] else ''}"
                           for k in ("city", "organisation", "year") if subject.get(k)) or "（未识别）"
        kb, audience, classification = access_of(d["metadata"])
        console.print(f"{d['docid']}  {d['title']}  [{about}]  {d['chunks']} 段  {kb} · {classification}"
                      f"{' · 仅 ' + audience if audience else ''}", markup=False, highlight=False)
        if d["directives"]:
            console.print(f"  ⚠ 含 {d['directives']} 句疑似指令（如「{d['directive_example']}」），这些句子不会被引用为依据；"
                          "请核查该文件的来源", markup=False, highlight=False)
    console.print(f"[dim]{len(documents)} documents; * = set with `policyqa subject`; ⚠ = gives orders to the reader "
                  "or the system[/dim]")
    return 0


def cmd_subject(args: argparse.Namespace, settings: Settings) -> int:
    from rag.service import PolicyQA

    values = {k: getattr(args, k) for k in ("city", "organisation", "year") if getattr(args, k) is not None}
    if not values:
        raise ValueError("nothing to set: give --city, --organisation and/or --year ('' clears a field)")
    qa = PolicyQA(settings)
    try:
        subject = qa.set_subject(args.docid, **values)
    finally:
        qa.close()
    if subject is None:
        raise ValueError(f"no document '{args.docid}' in {settings.index_dir}; `policyqa docs` lists them")
    print(json.dumps({"docid": args.docid, "subject": subject}, ensure_ascii=False))
    return 0


def cmd_kb(args: argparse.Namespace, settings: Settings) -> int:
    from rag.audit import AuditLog
    from rag.index import open_store
    from rag.index.acl import access_of
    from rag.index.build import access_store
    from rag.models import LOCAL

    if args.action == "list":
        store = open_store(settings, readonly=True)
        try:
            catalogue = store.catalogue()
            counts: dict[str, int] = {}
            for d in store.documents():
                kb = access_of(d["metadata"])[0]
                counts[kb] = counts.get(kb, 0) + 1
        finally:
            store.close()
        items = [{"name": kb, "documents": counts.get(kb, 0),
                  "grants": [{"kind": g.kind, "who": g.who, "role": g.role} for g in catalogue.grants if g.kb == kb]}
                 for kb in catalogue.kbs]
        if args.json:
            print(json.dumps(items, ensure_ascii=False, indent=2))
            return 0
        for item in items:
            grants = "，".join(f"{'用户' if g['kind'] == 'user' else '组'} {g['who']}：{g['role']}" for g in item["grants"])
            print(f"{item['name']}  {item['documents']} 份文件  {grants or '（无人可读，仅管理员）'}")
        return 0
    if not args.name:
        raise ValueError(f"name the knowledge base: policyqa kb {args.action} 法制科")
    if args.action == "create":
        def change(c):
            return c.create(args.name)
        record = {}
    else:
        if not (args.user or args.group):
            raise ValueError(f"name who: policyqa kb {args.action} {args.name} --group 法制科 (or --user oidc:…)")
        kind, who = ("user", args.user) if args.user else ("group", args.group)

        def change(c):
            return c.grant(args.name, kind, who, args.role) if args.action == "grant" else c.revoke(args.name, kind, who)
        record = {"kind": kind, "who": who, "role": args.role if args.action == "grant" else None}
    with access_store(settings) as store:
        store.update_catalogue(change)
    AuditLog(settings.audit_file).record({"create": "kb_create"}.get(args.action, args.action), LOCAL,
                                         target=args.name, change=record)
    print(f"{args.action}: {args.name} {json.dumps(record, ensure_ascii=False) if record else ''}".rstrip())
    return 0


def cmd_access(args: argparse.Namespace, settings: Settings) -> int:
    from rag.audit import AuditLog
    from rag.index.acl import audience_value, classification_value
    from rag.index.build import access_store
    from rag.models import LOCAL

    values = {}
    if args.audience is not None:
        values["audience"] = audience_value(args.audience.split(","))
    if args.classification is not None:
        values["classification"] = classification_value(args.classification)
    if not values:
        raise ValueError("nothing to set: give --audience and/or --classification")
    with access_store(settings) as store:
        metadata = store.set_access(args.docid, values)
    if metadata is None:
        raise ValueError(f"no document '{args.docid}' in {settings.index_dir}; `policyqa docs` lists them")
    AuditLog(settings.audit_file).record("access", LOCAL, target=args.docid, change=values)
    print(json.dumps({"docid": args.docid, **{k: metadata.get(k, "") for k in ("kb", "audience", "classification")}},
                     ensure_ascii=False))
    return 0


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    from rag.audit import AuditLog

    trail = AuditLog(settings.audit_file)
    if args.action == "verify":
        broken = trail.verify()
        if broken is not None:
            log.error("%s: line %d does not follow the line before it: the trail was changed after it was written",
                      settings.audit_file, broken)
            return 1
        print(f"{settings.audit_file}: intact")
        return 0
    chunks = trail.export(args.format, args.since)
    if args.out:
        with open(args.out, "w", encoding="utf-8", newline="") as fh:
            fh.writelines(chunks)
        log.info("audit trail written to %s", args.out)
    else:
        sys.stdout.writelines(chunks)
    return 0


def cmd_feedback(args: argparse.Namespace, settings: Settings) -> int:
    from rag.feedback import FeedbackLog

    lines = FeedbackLog(settings.feedback_file, int(settings.feedback_max_mb * 1024 * 1024)).export_eval_lines()
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        log.info("%d 👎 answers written to %s: fill in 'answerable' and 'facts', then `policyqa eval %s`",
                 len(lines), args.out, args.out)
    else:
        sys.stdout.write(text)
    return 0


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from rag.evaluate import load_eval_set, metrics, percentile, score
    from rag.report import summary_lines, write_report
    from rag.progress import Reporter
    from rag.models import Answer

    items = load_eval_set(Path(args.evalset), args.limit)
    chain = _chain(settings)
    store = chain.retriever.store
    texts: dict[str, str | None] = {}

    def doc_text(docid: str) -> str | None:
        if docid not in texts:
            doc = store.document(docid)
            texts[docid] = doc.text if doc else None
        return texts[docid]

    scored, first_tokens = [], []
    replies: list[str] = []  # the answers given so far in the current conversation
    with Reporter() as progress:
        for item in progress.track(items, "evaluating"):
            started, answer, first = time.perf_counter(), None, None
            replies = replies if item.get("turn", 1) > 1 else []
            for piece in chain.stream(item["question"], mode=args.mode, history=item.get("history", ()),
                                      history_answers=replies):
                if isinstance(piece, str):
                    first = first or (time.perf_counter() - started) * 1000
                elif isinstance(piece, Answer):
                    answer = piece
            if first is not None:
                first_tokens.append(first)
            replies = [*replies, answer.answer]
            scored.append(score(item, answer, doc_text))
    m = metrics(scored)
    if first_tokens:  # LLM mode: time to the first streamed piece of text
        first_tokens.sort()
        m["first_token_ms_p50"] = percentile(first_tokens, 0.5)
        m["first_token_ms_p95"] = percentile(first_tokens, 0.95)
    m["mode"] = args.mode or settings.answer_mode
    out = Path(args.out)
    write_report(out, scored, m, f"PolicyQA 评测 · {Path(args.evalset).name} · {m['mode']}")
    print("\n".join(summary_lines(m)))
    print(f"已写入 {out}/answers.jsonl、metrics.json（指标原始键名，供脚本读取）、report.html（评测报告）")
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from rag.server import create_server, serve

    app = create_server(settings, ui=not getattr(args, "no_ui", False), ui_path="/" if args.ui_at_root else "/ui")
    where = f"http://{args.host}:{args.port}"
    if not settings.api_key_list and not settings.read_key_list and args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("no keys are set (POLICYQA_API_KEYS, POLICYQA_READ_KEYS): anyone who can reach %s can ask, "
                    "add and remove documents", where)
    log.info("PolicyQA on %s — API %s/v1 (docs %s/docs)%s", where, where, where,
                "" if getattr(args, "no_ui", False) else f", UI {where}{'/' if args.ui_at_root else '/ui'}")
    serve(app, settings, args.host, args.port)
    return 0


def _hit_json(h) -> dict:
    c = h.chunk
    return {"docid": c.docid, "chunk_id": c.chunk_id, "score": round(h.score, 6), "title": h.title,
            "section": list(c.section), "start": c.start, "end": c.end, "text": c.text}


def _summary(files: int, failed: int, sizes: list[int], chars: int, seconds: float) -> str:
    line = f"{files} file(s), {failed} failed, {len(sizes)} chunks, {chars} chars in {seconds:.1f}s ({chars / max(seconds, 1e-9):,.0f} chars/s)"
    if sizes:
        q = statistics.quantiles(sizes, n=10) if len(sizes) > 1 else [sizes[0]] * 9
        line += f"\nchunk chars: min {min(sizes)}, p10 {q[0]:.0f}, median {statistics.median(sizes):.0f}, p90 {q[8]:.0f}, max {max(sizes)}"
    return line


if __name__ == "__main__":
    sys.exit(main())
