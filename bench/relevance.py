"""What a rules configuration keeps and drops on hand-labelled 2023 news.

    python bench/relevance.py [--rules FILE] [--source ID] [--split all|dev|heldout] [--show]
    python bench/relevance.py --sample [--seed 2023]    # how labels.csv's rows were drawn

Reads ``../shared/news2023/feeds.tar.xz`` (153 RSS captures, 23,644 entries) through the
project's real parse → normalize → match code, under the rules a general news source gets
(default: the first enabled source of the configuration whose ``require`` is
``[cameras, policing]``; ``--source ID`` picks another), and scores what it keeps against
``bench/relevance/labels.csv``, judged by hand (bench/relevance/README.md says how).

Two sets of figures, because the labelled sample is stratified (kept by the old rules / near
misses and dropped entries holding a strong term / the rest, sampled at different rates):

- *sample*: precision and recall among the labelled entries as they are, with Wilson 95 %
  intervals; over-weights the near-miss stratum, where the hard cases are.
- *stream*: each stratum weighted by its size in the whole stream (``strata.json``), so the
  figures estimate what an editor would see from all 23,635 distinct entries; 95 % intervals
  from a stratified bootstrap (2,000 resamples, fixed seed).

``--show`` lists the false positives and false negatives with the terms that decided them.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import sys
import tarfile
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from curator import config, match, normalize
from curator.exceptions import CuratorError
from curator.parse import parse
from curator.types import Entry, Fetched

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent / "relevance"
STREAM = ROOT.parent / "shared" / "news2023" / "feeds.tar.xz"
LABELS = HERE / "labels.csv"
STRATA = HERE / "strata.json"
BEFORE = HERE / "feeds-before.yaml"
FEED_URL = "http://127.0.0.1/news2023.xml"
NOW = datetime(2024, 1, 1, tzinfo=UTC)
GENERAL = ["cameras", "policing"]

#: Terms that make a dropped entry a hard case worth labelling (stratum ``near``): each is
#: about camera surveillance on its own, whatever else the entry says.
STRONG = (
    "cctv",
    "surveillance camera*",
    "video surveillance",
    "facial recognition",
    "face recognition",
    "anpr",
    "alpr",
    "number plate recognition",
    "licence plate reader*",
    "license plate reader*",
    "body-worn",
    "bodycam*",
    "body camera*",
    "police drone*",
    "mass surveillance",
    "biometric surveillance",
    "surveillance state",
)

# Sample sizes per stratum, as drawn with --sample (the strata are fixed by the BEFORE rules).
SAMPLE_SIZES = {"kept": 150, "near": 150, "rest": 100}
# A second draw, from what the first left of a stratum (with its own seed): the near misses
# hold the hard cases, so they got 100 more labels once the first 400 were judged, and the
# rest 100 more because one relevant entry there weighs ~200 of the stream.  Together the
# two draws of a stratum are one simple random sample of it.
EXTRA = {"near": (2024, 100), "rest": (2025, 100)}
HELDOUT_SHARE = 0.25


@dataclass(frozen=True)
class Stream:
    """Every distinct entry of the stream (first by URL), with the file it came from."""

    entries: tuple[tuple[str, Entry], ...]


def load_stream(path: Path = STREAM, only: Collection[str] | None = None) -> Stream:
    """Parse and normalise every file of the archive as a feed source would.

    With *only* (URLs as normalised), entries whose link cannot be one of them are not
    normalised at all: the tests read just the labelled entries, in a tenth of the time.
    """
    source = config.Source(id="news2023", name="news2023", url=FEED_URL)
    out: list[tuple[str, Entry]] = []
    seen: set[str] = set()
    with tarfile.open(path) as archive:
        for member in sorted(archive.getmembers(), key=lambda m: m.name):
            handle = archive.extractfile(member) if member.isfile() else None
            if handle is None:
                continue
            fetched = Fetched(
                "news2023", FEED_URL, 200, {"content-type": "application/rss+xml"}, handle.read()
            )
            name = Path(member.name).name
            for raw in parse(fetched, source, max_entries=100_000).entries:
                if only is not None:
                    link = normalize.absolute_http_url(raw.link, FEED_URL)
                    if link is None or normalize.clean_url(link) not in only:
                        continue
                entry = normalize.normalize(raw, source_id="news2023", feed_url=FEED_URL, now=NOW)
                if entry is not None and entry.url not in seen:
                    seen.add(entry.url)
                    out.append((name, entry))
    return Stream(tuple(out))


def general_rules(cfg: config.Config, source_id: str | None) -> tuple[str, match.CompiledRules]:
    """The compiled rules of *source_id*, or of the first enabled general news source."""
    for source in cfg.sources:
        if source_id is not None and source.id != source_id:
            continue
        if source_id is None and not (source.enabled and source.rules.require == GENERAL):
            continue
        return source.id, match.compile_rules(cfg.rules, source.rules)
    if source_id is not None:
        raise SystemExit(f"{cfg.path}: no source with id {source_id!r}")
    generic = config.SourceRules(require=GENERAL)
    return "(require: [cameras, policing])", match.compile_rules(cfg.rules, generic)


def stratum(entry: Entry, rules: match.CompiledRules) -> str:
    """``kept`` by *rules*, ``near`` (a near miss or a strong term dropped), or ``rest``."""
    if match.match(entry, rules) is not None:
        return "kept"
    if match.near_miss(entry, rules) is not None:
        return "near"
    if match.terms_found(STRONG, (entry.title, entry.summary_text)):
        return "near"
    return "rest"


def draw_sample(seed: int) -> None:
    """Print the sample as CSV (relevant left empty) and write strata.json's sizes."""
    cfg = config.load(BEFORE)
    _, rules = general_rules(cfg, None)
    stream = load_stream()
    by_stratum: dict[str, list[tuple[str, Entry]]] = {s: [] for s in SAMPLE_SIZES}
    for name, entry in stream.entries:
        by_stratum[stratum(entry, rules)].append((name, entry))
    rng = random.Random(seed)
    sizes = {s: len(v) for s, v in by_stratum.items()}
    drawn = {s: n + EXTRA.get(s, (0, 0))[1] for s, n in SAMPLE_SIZES.items()}
    STRATA.write_text(
        json.dumps({"seed": seed, "population": sizes, "sample": drawn}, indent=2) + "\n"
    )
    writer = csv.writer(sys.stdout)
    writer.writerow(["file", "url", "title", "relevant", "stratum", "split", "note"])
    first: dict[str, list[tuple[str, Entry]]] = {}
    for name, members in by_stratum.items():
        first[name] = rng.sample(members, SAMPLE_SIZES[name])
        for file, entry in first[name]:
            split = "heldout" if rng.random() < HELDOUT_SHARE else "dev"
            writer.writerow([file, entry.url, entry.title, "", name, split, ""])
    for name, (extra_seed, n) in EXTRA.items():
        again = random.Random(extra_seed)
        taken = {entry.url for _, entry in first[name]}
        left = [(f, e) for f, e in by_stratum[name] if e.url not in taken]
        for file, entry in again.sample(left, n):
            split = "heldout" if again.random() < HELDOUT_SHARE else "dev"
            writer.writerow([file, entry.url, entry.title, "", name, split, ""])


# --------------------------------------------------------------------------------------------
# Scoring


@dataclass(frozen=True)
class Label:
    url: str
    title: str
    relevant: bool
    stratum: str
    split: str
    note: str


def read_labels(path: Path = LABELS) -> list[Label]:
    with path.open(newline="", encoding="utf-8") as f:
        return [
            Label(r["url"], r["title"], r["relevant"] == "1", r["stratum"], r["split"], r["note"])
            for r in csv.DictReader(f)
        ]


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval for k successes in n trials."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Figures:
    tp: int
    fp: int
    fn: int
    tn: int
    precision: float
    recall: float
    precision_ci: tuple[float, float]
    recall_ci: tuple[float, float]
    stream_precision: float
    stream_recall: float
    stream_precision_ci: tuple[float, float]
    stream_recall_ci: tuple[float, float]


def _weighted(
    rows: Sequence[tuple[str, bool, bool]], weight: dict[str, float]
) -> tuple[float, float]:
    tp = fp = fn = 0.0
    for s, relevant, kept in rows:
        w = weight[s]
        tp += w * (relevant and kept)
        fp += w * (kept and not relevant)
        fn += w * (relevant and not kept)
    return (tp / (tp + fp) if tp + fp else 0.0, tp / (tp + fn) if tp + fn else 0.0)


def figures(rows: Sequence[tuple[str, bool, bool]], population: dict[str, int]) -> Figures:
    """*rows* are (stratum, relevant, kept) per labelled entry."""
    tp = sum(r and k for _, r, k in rows)
    fp = sum(k and not r for _, r, k in rows)
    fn = sum(r and not k for _, r, k in rows)
    tn = len(rows) - tp - fp - fn
    drawn = {s: sum(1 for x, _, _ in rows if x == s) for s in population}
    weight = {s: population[s] / drawn[s] if drawn[s] else 0.0 for s in population}
    sp, sr = _weighted(rows, weight)
    rng = random.Random(11)
    by = {s: [row for row in rows if row[0] == s] for s in population}
    boots_p: list[float] = []
    boots_r: list[float] = []
    for _ in range(2000):
        again = [row for s, members in by.items() for row in rng.choices(members, k=len(members))]
        bp, br = _weighted(again, weight)
        boots_p.append(bp)
        boots_r.append(br)
    boots_p.sort()
    boots_r.sort()

    def ci(values: list[float]) -> tuple[float, float]:
        return (values[int(0.025 * len(values))], values[int(0.975 * len(values)) - 1])

    return Figures(
        tp,
        fp,
        fn,
        tn,
        tp / (tp + fp) if tp + fp else 0.0,
        tp / (tp + fn) if tp + fn else 0.0,
        wilson(tp, tp + fp),
        wilson(tp, tp + fn),
        sp,
        sr,
        ci(boots_p),
        ci(boots_r),
    )


@dataclass(frozen=True)
class Judged:
    label: Label
    kept: bool
    why: str


def judge(labels: Sequence[Label], stream: Stream, rules: match.CompiledRules) -> Iterator[Judged]:
    """Each labelled entry with what *rules* made of it (labels whose URL the stream lacks
    are an error: the labels belong to this stream)."""
    by_url = {e.url: e for _, e in stream.entries}
    for label in labels:
        entry = by_url.get(label.url)
        if entry is None:
            raise SystemExit(f"{LABELS}: {label.url} is not in the stream")
        result = match.assess(entry, rules)
        yield Judged(label, result.kept, result.why)


def evaluate(
    rules_file: Path, source_id: str | None = None, split: str = "all", stream: Stream | None = None
) -> tuple[str, Figures, list[Judged]]:
    """The figures of *rules_file* on the labels of *split* (all, dev or heldout)."""
    cfg = config.load(rules_file)
    name, rules = general_rules(cfg, source_id)
    labels = [x for x in read_labels() if split == "all" or x.split == split]
    population = json.loads(STRATA.read_text())["population"]
    judged = list(judge(labels, stream or load_stream(), rules))
    rows = [(j.label.stratum, j.label.relevant, j.kept) for j in judged]
    return name, figures(rows, population), judged


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def _ci(c: tuple[float, float]) -> str:
    return f"[{100 * c[0]:.0f}–{100 * c[1]:.0f}]"


def report(rules_file: Path, source_id: str | None, split: str, show: bool) -> None:
    _, rules = general_rules(config.load(rules_file), source_id)  # a bad file fails first
    stream = load_stream()
    kept = sum(match.match(entry, rules) is not None for _, entry in stream.entries)
    print(f"kept in the whole stream: {kept} of {len(stream.entries)} distinct entries")
    splits = ["all", "dev", "heldout"] if split == "all" else [split]
    for s in splits:
        name, f, judged = evaluate(rules_file, source_id, s, stream)
        if s == splits[0]:
            shown = rules_file.resolve()
            shown = shown.relative_to(ROOT) if shown.is_relative_to(ROOT) else shown
            print(f"rules: {shown} as source {name}; labels: {LABELS.relative_to(ROOT)}")
            print(
                f"{'labels':8} {'n':>4} {'kept':>5} {'TP':>4} {'FP':>4} {'FN':>4} {'TN':>4}  "
                "precision [95 %]   recall [95 %]    | stream-weighted precision, recall"
            )
        print(
            f"{s:8} {len(judged):>4} {f.tp + f.fp:>5} {f.tp:>4} {f.fp:>4} {f.fn:>4} {f.tn:>4}  "
            f"{_pct(f.precision):>5} {_ci(f.precision_ci):9}  {_pct(f.recall):>5} "
            f"{_ci(f.recall_ci):9}  | {_pct(f.stream_precision)} {_ci(f.stream_precision_ci)}, "
            f"{_pct(f.stream_recall)} {_ci(f.stream_recall_ci)}"
        )
        if show and s == splits[0]:
            for kind, kept in (
                ("false positives (kept, not relevant)", True),
                ("false negatives (dropped, relevant)", False),
            ):
                wrong = [j for j in judged if j.kept == kept and j.label.relevant != kept]
                print(f"\n{kind}: {len(wrong)}")
                for j in wrong:
                    print(f"- [{j.label.stratum}] {j.label.title[:110]}\n    {j.why}")
            print()


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rules", type=Path, default=ROOT / "feeds.yaml", help="a feeds.yaml")
    ap.add_argument("--source", help="use this source's rules (default: a general news source)")
    ap.add_argument("--split", choices=["all", "dev", "heldout"], default="all")
    ap.add_argument("--show", action="store_true", help="list false positives and negatives")
    ap.add_argument("--sample", action="store_true", help="draw the sample (CSV on stdout)")
    ap.add_argument("--seed", type=int, default=2023)
    args = ap.parse_args(argv)
    if not STREAM.exists():
        print(f"the news2023 stream is not at {STREAM}", file=sys.stderr)
        return 2
    if not args.sample and not args.rules.is_file():
        print(f"{args.rules}: no such file; pass --rules FILE (a feeds.yaml)", file=sys.stderr)
        return 2
    try:
        if args.sample:
            draw_sample(args.seed)
        else:
            report(args.rules, args.source, args.split, args.show)
    except CuratorError as e:
        print(e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
