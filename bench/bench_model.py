"""The learned ranking's costs, and its quality against the keyword score, on real news.

    python bench/bench_model.py [--news PATH] [--decisions 5000] [--pending 1000]
                                [--labels bench/relevance/labels.csv]

Texts are the news2023 stream (``../shared/news2023/feeds.tar.xz``: 153 RSS files read with
tarfile and Curator's own parser, normalised and matched with the repository's feeds.yaml).

* Training: a model on ``--decisions`` entries (labelled "kept by the rules" for timing only:
  the cost does not depend on what the labels mean), without and with the cross-validation
  that ``curator model train`` adds.  Target: at most 10 s on 2 cores.
* Scoring: ``--pending`` other entries scored by a fresh :class:`curator.learn.Scorer` (the
  JSON rebuilt without scikit-learn, nothing cached).  Target: at most 200 ms.
* Memory: a fresh Python process that loads the stored model JSON, builds the Scorer and
  scores the pending entries; its RSS growth, which is what the model costs ``serve``.
  Target: at most 50 MB.  It checks, too, that scoring never imported scikit-learn.
* Quality (``--labels FILE``, a CSV with at least ``url,title,relevant``, relevant 1 or 0):
  cross-validated ROC AUC and average precision of the learned model against the keyword
  score on the labelled entries (joined by URL, else by title), and on those the rules keep.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from curator import config, learn, match, normalize  # noqa: E402
from curator.parse import parse  # noqa: E402
from curator.types import Fetched, Item  # noqa: E402

NEWS = ROOT.parent / "shared" / "news2023" / "feeds.tar.xz"


def read_news(path: Path) -> list[Item]:
    """Every entry of the stream as a pending Item (score 0 and no terms when the rules
    leave it out), in file order."""
    cfg = config.load(ROOT / "feeds.yaml")
    now = datetime(2024, 1, 1, tzinfo=UTC)
    items: list[Item] = []
    seen: set[str] = set()
    with tarfile.open(path) as tar:
        for member in tar.getmembers():
            if not member.isfile() or not member.name.endswith(".xml"):
                continue
            f = tar.extractfile(member)
            assert f is not None
            name = Path(member.name).stem[:60]
            sid = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")[:60] or "x"
            source = config.Source(id=sid, name=name, url="https://example.org/feed.xml")
            rules = match.compile_rules(cfg.rules, source.rules)
            fetched = Fetched(
                sid, source.url, 200, {"content-type": "application/rss+xml"}, f.read()
            )
            try:
                parsed = parse(fetched, source, max_entries=100_000)
            except Exception as e:  # a file the parser refuses is reported, not fatal
                print(f"skipped {member.name}: {e}", file=sys.stderr)
                continue
            for raw in parsed.entries:
                entry = normalize.normalize(raw, source_id=sid, feed_url=source.url, now=now)
                if entry is None or entry.item_id in seen:
                    continue
                seen.add(entry.item_id)
                found = match.match(entry, rules)
                items.append(
                    Item(
                        id=entry.item_id,
                        url=entry.url,
                        canonical_url=entry.canonical_url,
                        title=entry.title,
                        summary=entry.summary_html,
                        summary_text=entry.summary_text,
                        category="news",
                        published=entry.published,
                        first_seen=now,
                        score=found.score if found else 0.0,
                        matched=found.matches if found else (),
                        why=found.why if found else "",
                        sources=(sid,),
                    )
                )
    return items


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


_MEMORY_PROBE = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from curator import learn
from curator.types import Item
from bench.bench_model import _rss_mb, read_news_cached
items = read_news_cached(Path(sys.argv[3]))
before = _rss_mb()
doc = json.loads(Path(sys.argv[2]).read_text())
scorer = learn.Scorer(doc)
del doc
t = time.perf_counter()
scorer.probabilities(items)
elapsed = time.perf_counter() - t
after = _rss_mb()
print(json.dumps({"model_mb": after - before, "score_s": elapsed,
                  "sklearn": "sklearn" in sys.modules, "n": len(items)}))
"""


def read_news_cached(path: Path) -> list[Item]:
    """Pending items written by the parent as JSON (the probe must not parse the news)."""
    from curator.store import from_json

    return [from_json(Item, d) for d in json.loads(path.read_text())]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--news", type=Path, default=NEWS)
    ap.add_argument("--decisions", type=int, default=5000)
    ap.add_argument("--pending", type=int, default=1000)
    ap.add_argument("--labels", type=Path, help="CSV with url,title,relevant (1 or 0)")
    ap.add_argument(
        "--serve", action="store_true", help="also measure a real `curator serve`'s memory"
    )
    args = ap.parse_args()

    t = time.perf_counter()
    items = read_news(args.news)
    kept = sum(1 for i in items if i.score > 0)
    print(
        f"news2023: {len(items)} entries ({kept} kept by the rules), read and matched in "
        f"{time.perf_counter() - t:.1f} s"
    )
    need = args.decisions + args.pending
    if len(items) < need:
        sys.exit(f"the stream has {len(items)} entries; --decisions + --pending need {need}")
    decided = [
        replace(i, status="approved" if i.score > 0 else "rejected")
        for i in items[: args.decisions]
    ]
    pending = items[args.decisions : need]
    exs = learn.examples(decided)
    now = datetime.now(UTC)

    import sklearn.linear_model  # noqa: F401  (its import, about 1 s, is not training)

    t, c = time.perf_counter(), time.process_time()
    trained = learn.train(exs, now=now, validate=False)
    fit_s, fit_cpu = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    learn.train(exs, now=now, validate=True)
    cv_s, cv_cpu = time.perf_counter() - t, time.process_time() - c
    raw = json.dumps(trained.model, separators=(",", ":"))
    features = sum(len(b["terms"]) for b in trained.model["blocks"].values())
    print(
        f"training on {len(exs)} decisions: {fit_s:.2f} s ({fit_cpu:.2f} s CPU; target 10 s); "
        f"with {learn.FOLDS}-fold cross-validation, as `curator model train` does: "
        f"{cv_s:.2f} s ({cv_cpu:.2f} s CPU)"
    )
    print(f"stored model: {features} features, {len(raw) / 1e6:.1f} MB of JSON")

    t, c = time.perf_counter(), time.process_time()
    scorer = learn.Scorer(json.loads(raw))
    load_s, load_cpu = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    scorer.probabilities(pending)
    score_s, score_cpu = time.perf_counter() - t, time.process_time() - c
    print(
        f"loading the stored model: {load_s * 1000:.0f} ms ({load_cpu * 1000:.0f} ms CPU); "
        f"scoring {len(pending)} pending: {score_s * 1000:.0f} ms ({score_cpu * 1000:.0f} ms "
        "CPU; target 200 ms)"
    )

    from curator.store import to_json

    with tempfile.TemporaryDirectory() as tmp:
        model_path = Path(tmp) / "model.json"
        model_path.write_text(raw)
        items_path = Path(tmp) / "pending.json"
        items_path.write_text(json.dumps([to_json(i) for i in pending]))
        probe = subprocess.run(
            [sys.executable, "-c", _MEMORY_PROBE, str(ROOT), str(model_path), str(items_path)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    found = json.loads(probe.stdout)
    print(
        f"model in memory (fresh process, after scoring {found['n']}): "
        f"{found['model_mb']:.1f} MB (target 50 MB); scikit-learn imported to score: "
        f"{'yes' if found['sklearn'] else 'no'}"
    )
    if args.serve:
        serve_memory(pending, trained.model)
    if args.labels:
        quality(items, args.labels)


def serve_memory(pending: list[Item], model: dict[str, object]) -> None:
    """RSS of a real ``curator serve`` after an editor opened the queue of *pending*
    items, with and without the model in its store; and whether it loaded scikit-learn."""
    import re
    import socket

    import httpx

    from curator import auth
    from curator.store import TinyDBStore

    for with_model in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            store = TinyDBStore(Path(tmp) / "store")
            with store.transaction():
                for item in pending:
                    store.put_item(item)
                if with_model:
                    store.put_model(model)
            auth.add_user(store, "bench", "bench password 1234", admin=True)
            cfg = Path(tmp) / "feeds.yaml"
            cfg.write_text("rules:\n  include: {cctv: 3}\nstore:\n  backups: 0\n")
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "curator",
                    "--config",
                    str(cfg),
                    "--store",
                    str(store.path),
                    "serve",
                    "--port",
                    str(port),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                base = f"http://127.0.0.1:{port}"
                with httpx.Client(base_url=base, timeout=60) as client:
                    for _ in range(600):
                        try:
                            client.get("/healthz")
                            break
                        except httpx.TransportError:
                            time.sleep(0.1)
                    page = client.get("/login").text
                    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page)
                    assert csrf is not None
                    client.post(
                        "/login",
                        data={
                            "csrf": csrf.group(1),
                            "name": "bench",
                            "password": "bench password 1234",
                            "next": "/",
                        },
                    )
                    t = time.perf_counter()
                    queue = client.get("/")
                    first = time.perf_counter() - t
                    t = time.perf_counter()
                    client.get("/")
                    again = time.perf_counter() - t
                    assert queue.status_code == 200 and ("Learned:" in queue.text) == with_model
                status = Path(f"/proc/{proc.pid}/status").read_text()
                rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]
                maps = Path(f"/proc/{proc.pid}/maps").read_text()
            finally:
                proc.terminate()
                proc.wait(timeout=30)
            print(
                f"serve with {len(pending)} pending, {'with' if with_model else 'without'} a "
                f"model: RSS {rss:.0f} MB after the queue; first queue page {first * 1000:.0f} "
                f"ms, next {again * 1000:.0f} ms; scikit-learn loaded: "
                f"{'yes' if '/sklearn/' in maps else 'no'}"
            )


def read_labels(path: Path) -> dict[str, int]:
    """url (and title) -> 1 or 0 from a CSV with columns url, title, relevant."""
    out: dict[str, int] = {}
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"url", "title", "relevant"} - set(reader.fieldnames or ())
        if missing:
            sys.exit(f"{path}: no column {', '.join(sorted(missing))} (needs url,title,relevant)")
        for n, row in enumerate(reader, start=2):
            value = (row.get("relevant") or "").strip()
            if value not in ("0", "1"):
                sys.exit(f"{path}, line {n}: relevant is {value!r}; expected 1 or 0")
            for key in (row.get("url") or "", row.get("title") or ""):
                if key.strip():
                    out[key.strip()] = int(value)
    return out


def quality(items: list[Item], path: Path) -> None:
    from sklearn.metrics import average_precision_score, roc_auc_score

    labels = read_labels(path)
    labelled = []
    for item in items:
        found = labels.get(item.url, labels.get(item.canonical_url, labels.get(item.title)))
        if found is not None:
            labelled.append(replace(item, status="approved" if found else "rejected"))
    print(f"\nquality on {path}: {len(labelled)} labelled entries found in the stream")
    for name, chosen in (
        ("all labelled", labelled),
        ("kept by the rules", [i for i in labelled if i.score > 0]),
    ):
        exs = learn.examples(chosen)
        y = [e.label for e in exs]
        if sum(y) < 2 or len(y) - sum(y) < 2:
            print(f"  {name}: too few of one kind ({sum(y)} relevant of {len(y)})")
            continue
        trained = learn.train(exs, now=datetime.now(UTC), min_examples=4, min_each=2)
        q = trained.quality
        assert q is not None
        by_id = {i.id: i.score for i in chosen}
        scores = [by_id[e.item_id] for e in exs]
        print(
            f"  {name} ({len(y)}, {sum(y)} relevant): learned ROC AUC {q.roc_auc:.3f}, "
            f"AP {q.average_precision:.3f} ({q.folds}-fold CV) vs keyword score ROC AUC "
            f"{roc_auc_score(y, scores):.3f}, AP {average_precision_score(y, scores):.3f}"
        )


if __name__ == "__main__":
    main()
