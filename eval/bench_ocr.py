"""Scanned-document benchmark: the bundled corpus as image-only scans, against its text version.

    python eval/bench_ocr.py [--eval eval/policyqa_hard.jsonl ...]

Each document of docs/ is drawn onto A4 pages with Debian's CJK font at 200 dpi (rotated 0.5°,
blurred, noised, with a running header and page numbers; one document set in two columns), saved
as an image-only PDF, and indexed into its own index. Reported side by side in one run:
  - OCR: seconds per page (2-core figure on this machine), character accuracy of the OCR'd stored
    text against the stored text of the original (difflib ratio, whitespace removed), re-index time
    with the warm OCR cache
  - answers: the eval sets run against the text index and the scanned index (extractive mode):
    fact accuracy, wrong answers, traps handled
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.config import Settings  # noqa: E402
from rag.ingest import ingest_file  # noqa: E402
from tests.scans import image_pdf, paginate, scanned_page  # noqa: E402

RUNS = ROOT / "eval" / "runs" / "ocr"
TWO_COLUMNS = "changshu-2020.txt"


def make_scans(folder: Path) -> dict[str, int]:
    """docs/*.txt as image-only PDFs named like the originals (+ .pdf); pages per document."""
    from rag.ingest import ingest_file as read

    folder.mkdir(parents=True, exist_ok=True)
    limits = Settings().ingest_limits()
    pages_of = {}
    for doc_path in sorted((ROOT / "docs").glob("*.txt")):
        doc = read(doc_path, doc_path.name, limits).documents[0]
        columns = 2 if doc_path.name == TWO_COLUMNS else 1
        paragraphs = doc.text.split("\n")
        pages = paginate(paragraphs, columns=columns)
        images = [scanned_page(p, header=doc.title[:30], footer=f"- {i} -", columns=columns, seed=i)
                  for i, p in enumerate(pages, 1)]
        image_pdf(images, folder / f"{doc_path.name}.pdf")
        pages_of[doc_path.name] = len(images)
    return pages_of


def char_accuracy(original: str, ocr: str) -> float:
    a, b = "".join(original.split()), "".join(ocr.split())
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def index(folder: Path, paths: list[Path], env: dict[str, str]) -> float:
    started = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "rag.cli", "index", "--strict", "--index", str(folder), *map(str, paths)],
                         env=env, capture_output=True, text=True)
    if run.returncode:  # a file that could not be read would make every number below meaningless
        raise SystemExit(f"indexing {folder.name} failed:\n{run.stdout}\n{run.stderr[-3000:]}")
    return time.perf_counter() - started


def run_eval(index_dir: Path, evalset: Path, out: Path, env: dict[str, str]) -> dict:
    subprocess.run([sys.executable, "-m", "rag.cli", "eval", str(evalset), "--index", str(index_dir), "--out", str(out),
                    "--mode", "extractive"], env=env, check=True, capture_output=True, text=True)
    return json.loads((out / "metrics.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval", nargs="+", default=["eval/policyqa_eval.jsonl", "eval/policyqa_heldout.jsonl",
                                                     "eval/policyqa_hard.jsonl"])
    args = parser.parse_args()
    shutil.rmtree(RUNS, ignore_errors=True)
    scans = RUNS / "scans"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "POLICYQA_OCR_CACHE_DIR": str(RUNS / "ocr-cache")}
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"# OCR benchmark — {os.cpu_count()} CPUs, {cpu}\n")
    pages_of = make_scans(scans)
    pages = sum(pages_of.values())
    text_s = index(RUNS / "index-text", [ROOT / "docs"], env)
    cold = index(RUNS / "index-scan", [scans], env)
    shutil.rmtree(RUNS / "index-scan-again", ignore_errors=True)
    warm = index(RUNS / "index-scan-again", [scans], env)  # a fresh index, the OCR cache warm
    # OCR alone: read one scan again with the cache off, so the model's time is measured
    limits = Settings(ocr_cache_dir=RUNS / "no-cache").ingest_limits()
    limits = type(limits)(**{**limits.__dict__, "ocr_cache_dir": None})
    started = time.perf_counter()
    sample = sorted(scans.glob("*.pdf"))[0]
    ingest_file(sample, sample.name, limits)
    per_page = (time.perf_counter() - started) / pages_of[sample.name.removesuffix(".pdf")]
    print(f"{len(pages_of)} documents, {pages} scanned pages ({TWO_COLUMNS} in two columns)\n")
    print("| step | seconds |\n|---|---|")
    print(f"| index the text documents | {text_s:.1f} |")
    print(f"| index the scans (OCR, cold cache) | {cold:.1f} ({cold / pages:.1f} s/page) |")
    print(f"| index the scans again into a new index (warm OCR cache) | {warm:.1f} |")
    print(f"| OCR alone, {sample.name} ({pages_of[sample.name.removesuffix('.pdf')]} pages, no cache, in-process) | {per_page:.2f} s/page |")
    print("\n| document | pages | character accuracy |\n|---|---|---|")
    text_limits = Settings().ingest_limits()
    total_a = total_n = 0.0
    for name, n in pages_of.items():
        original = ingest_file(ROOT / "docs" / name, name, text_limits).documents[0].text
        ocr = ingest_file(scans / f"{name}.pdf", name, Settings(ocr_cache_dir=RUNS / "ocr-cache").ingest_limits()).documents[0].text
        acc = char_accuracy(original, ocr)
        total_a += acc * len(original)
        total_n += len(original)
        print(f"| {name} | {n} | {acc:.4f} |")
    print(f"| all (weighted by length) | {pages} | {total_a / total_n:.4f} |")
    print("\n| eval set | index | fact accuracy | wrong answers | traps handled | quotes verbatim |\n|---|---|---|---|---|---|")
    for evalset in args.eval:
        for label, folder in (("text", RUNS / "index-text"), ("scanned", RUNS / "index-scan")):
            m = run_eval(folder, ROOT / evalset, RUNS / f"eval-{label}-{Path(evalset).stem}", env)
            print(f"| {Path(evalset).name} | {label} | {m['fact_accuracy']:.3f} | {m['wrong_answers']} | "
                  f"{m['traps_handled']:.3f} | {m['quotes_verbatim_share']:.3f} |")


if __name__ == "__main__":
    main()
