"""The rules workbench: every polled entry kept (store.keep_seen), ``curator rules test`` and
``curator rules apply``, on a real store filled by real polls of a local feed server."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from curator import backup, config, workbench
from curator.cli import main
from curator.core import Curator, make_curator
from curator.exceptions import ConfigError
from curator.store import TinyDBStore
from curator.types import SeenEntry
from tests.feedserver import FeedServer
from tests.test_pipeline import CCTV, LFR, OFF_TOPIC, POLICING, SHOP, Clock, rss, run

# Two hours ago: the CLI reads the system clock, and `--since 1h` must leave these out.
NOW = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)

HEAD = "fetch:\n  jitter: 0s\n  timeout: 5s\n  read_timeout: 2s\n"


def feeds_yaml(url: str, *, rules: str = POLICING, store: str = "", source_rules: str = "") -> str:
    """A whole feeds.yaml with one source, comments included (kept by the web editor)."""
    text = "# Curator's configuration: a comment that must survive edits\n" + HEAD + rules
    text += store
    text += "sources:\n  # the one test feed\n  - id: news\n    name: News\n"
    text += f"    url: {url}\n"
    text += source_rules or "    rules: {require: [policing]}\n"
    return text


def curator_for(tmp_path: Path, text: str, clock: Clock) -> Curator:
    cfg = config.loads(text, str(tmp_path / "feeds.yaml"))
    (tmp_path / "feeds.yaml").write_text(text)
    return make_curator(cfg, store=TinyDBStore(tmp_path / "store"), clock=clock)


@pytest.fixture
def polled(feed_server: FeedServer, tmp_path: Path) -> Callable[..., Curator]:
    """A store that polled CCTV (kept), SHOP (near miss: no policing term), OFF_TOPIC."""

    def make(text: str | None = None, clock: Clock | None = None) -> Curator:
        url = feed_server.route("/f", rss(CCTV, SHOP, OFF_TOPIC), etag=None)
        cur = curator_for(tmp_path, text or feeds_yaml(url), clock or Clock(NOW))
        run(cur)
        return cur

    return make


def by_title(entries: list[SeenEntry]) -> dict[str, SeenEntry]:
    return {e.title: e for e in entries}


# --------------------------------------------------------------------------- kept entries


def test_a_poll_keeps_every_entry_with_the_rules_verdict(polled: Callable[..., Curator]) -> None:
    cur = polled()
    seen = by_title(cur.store.seen())
    assert set(seen) == {CCTV[0], SHOP[0], OFF_TOPIC[0]}
    cctv, shop, off = seen[CCTV[0]], seen[SHOP[0]], seen[OFF_TOPIC[0]]
    assert (cctv.outcome, shop.outcome, off.outcome) == ("kept", "near_miss", "dropped")
    assert "cctv" in cctv.matched and cctv.score >= 3
    assert shop.matched and "no term from 'policing'" in shop.why
    assert off.matched == () and off.score == 0 and "dropped" in off.why
    assert cctv.summary == CCTV[2] and cctv.url.startswith("https://news.example.org/cctv")
    assert cctv.source_id == "news" and cctv.seen_at == NOW
    # Compact and on disk in the day's file, in TinyDB's format.
    files = list((cur.store.path / "seen").glob("*.json"))
    assert len(files) == 1
    table = json.loads(files[0].read_text())["seen"]
    assert set(table) == {cctv.id, shop.id, off.id}
    assert "summary_html" not in table[cctv.id]


def test_kept_entries_count_from_their_first_sighting_and_are_pruned_by_age(
    feed_server: FeedServer, polled: Callable[..., Curator]
) -> None:
    clock = Clock(NOW)
    cur = polled(clock=clock)
    clock.advance(days=10)
    feed_server.route("/f", rss(CCTV, LFR), etag=None)  # read again: CCTV repeated
    run(cur)
    seen = by_title(cur.store.seen())
    assert seen[CCTV[0]].seen_at == NOW  # not written again
    assert seen[LFR[0]].seen_at == clock.now
    assert len(cur.store.seen(since=clock.now)) == 1 == cur.store.seen_count(clock.now)
    assert cur.store.seen_count(NOW) == 4

    clock.advance(days=21)  # 31 days after the first poll
    feed_server.route("/f", rss(LFR), etag=None)
    run(cur)
    assert [e.title for e in cur.store.seen()] == [LFR[0]]


def test_keep_seen_is_read_as_a_duration_and_zero_keeps_nothing(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    url = feed_server.route("/f", rss(CCTV, OFF_TOPIC), etag=None)
    assert config.loads("store:\n  keep_seen: 2w\n").store.keep_seen == 14 * 86400
    with pytest.raises(ConfigError, match=r"store\.keep_seen"):
        config.loads("store:\n  keep_seen: soon\n")
    cur = curator_for(tmp_path, feeds_yaml(url, store="store:\n  keep_seen: 0\n"), Clock(NOW))
    (report,) = run(cur).sources
    assert report.new == 1
    assert cur.store.seen() == []


def test_a_store_from_before_kept_entries_loads_and_starts_keeping(
    polled: Callable[..., Curator], tmp_path: Path, feed_server: FeedServer
) -> None:
    cur = polled()
    shutil.rmtree(tmp_path / "store" / "seen")  # the layout of an older store
    old = TinyDBStore(tmp_path / "store")
    assert old.seen() == [] and old.damage(deep=True) == []
    assert [i.title for i in old.items()] == [CCTV[0]]
    cur = make_curator(cur.config, store=old, clock=Clock(NOW))
    feed_server.route("/f", rss(CCTV, LFR), etag=None)
    run(cur)
    assert set(by_title(old.seen())) == {CCTV[0], LFR[0]}


def test_a_damaged_kept_entries_file_is_named_repaired_and_never_stops_a_poll(
    polled: Callable[..., Curator],
    tmp_path: Path,
    feed_server: FeedServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cur = polled()
    archive = backup.backup(cur.store, tmp_path / "b.tar.gz", now=NOW).path
    (path,) = (tmp_path / "store" / "seen").glob("*.json")
    path.write_text('{"seen": {"0123')
    store = TinyDBStore(tmp_path / "store")
    (damage,) = store.damage(deep=True)
    assert damage.name == f"seen/{path.name}" and "trying rules" in damage.held
    assert store.seen() == []  # left out, not an error
    assert cli(tmp_path, "rules", "test") == 0
    out, err = capsys.readouterr()
    assert f"error: store: {path}: does not load" in err and "curator store repair" in err
    assert "no entries are kept yet" not in out  # they are: in a file that does not load
    cur = make_curator(cur.config, store=store, clock=Clock(NOW))
    feed_server.route("/f", rss(LFR), etag=None)
    run(cur)
    assert LFR[0] in {i.title for i in store.items()}  # items still stored

    repaired = store.repair(backup.archives_for_repair(store, archive))
    assert [r.name for r in repaired] == [damage.name] and repaired[0].from_backup == 3
    assert set(by_title(store.seen())) == {CCTV[0], SHOP[0], OFF_TOPIC[0]}

    restored = TinyDBStore(tmp_path / "restored")
    backup.restore(restored, archive)
    assert len(restored.seen()) == 3


# --------------------------------------------------------------------------- rules test


TRIED = """\
rules:
  min_score: 3
  include: {cctv: 3, surveillance camera*: 3, live facial recognition: 4, facial recognition: 3}
  exclude: [council]
  groups:
    policing: [police, policing, met]
"""


def cli(tmp_path: Path, *args: str) -> int:
    where = ["--config", str(tmp_path / "feeds.yaml"), "--store", str(tmp_path / "store")]
    return main([*where, *args])


def test_rules_test_lists_what_other_rules_would_newly_keep_and_drop(
    polled: Callable[..., Curator], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    polled()
    url = config.load(tmp_path / "feeds.yaml").sources[0].url
    # The same feed without the requirement, and "council" excluded: SHOP is newly kept,
    # CCTV (about a council) newly dropped.
    (tmp_path / "tried.yaml").write_text(feeds_yaml(url, rules=TRIED, source_rules="\n"))
    before = {p: p.read_bytes() for p in (tmp_path / "store").rglob("*.json")}
    capsys.readouterr()

    assert cli(tmp_path, "rules", "test", "--rules", str(tmp_path / "tried.yaml"), "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"newly_kept", "newly_dropped", "unchanged"}
    (kept,) = out["newly_kept"]
    (dropped,) = out["newly_dropped"]
    assert out["unchanged"] == 1
    for entry in (kept, dropped):
        assert {"title", "url", "source", "score", "matched"} <= set(entry)
    assert kept["title"] == SHOP[0] and kept["source"] == "news" and kept["score"] >= 3
    assert "cctv" in kept["matched"] and "cctv" in kept["deciding"]
    assert kept["before"]["outcome"] == "near_miss"
    assert dropped["title"] == CCTV[0] and dropped["deciding"] == ["excluded: Council"]
    # Nothing changed on disk.
    assert {p: p.read_bytes() for p in (tmp_path / "store").rglob("*.json")} == before

    assert cli(tmp_path, "rules", "test", "--rules", str(tmp_path / "tried.yaml")) == 0
    text = capsys.readouterr().out
    assert "Newly kept (1)" in text and f"+ {SHOP[0]}" in text
    assert "Newly dropped (1)" in text and "dropped by: excluded: Council" in text
    assert "on 3 entries seen since" in text and "(was 9, near miss)" in text
    assert "Unchanged: 1 entry" in text
    assert "none older exist" not in text
    assert cli(tmp_path, "rules", "test", "--since", "100d") == 0
    assert "(entries are kept 30 days, store.keep_seen: none older exist)" in (
        capsys.readouterr().out
    )


def test_rules_test_applies_each_sources_own_rules(
    polled: Callable[..., Curator], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    polled()
    # By default the current feeds.yaml: what the polls did, so nothing changes.
    capsys.readouterr()
    assert cli(tmp_path, "rules", "test", "--json") == 0
    assert json.loads(capsys.readouterr().out) == {
        "newly_kept": [],
        "newly_dropped": [],
        "unchanged": 3,
    }
    url = config.load(tmp_path / "feeds.yaml").sources[0].url
    keep_all = feeds_yaml(url, source_rules="    rules: {keep_all: true}\n")
    (tmp_path / "all.yaml").write_text(keep_all)
    assert cli(tmp_path, "rules", "test", "--rules", str(tmp_path / "all.yaml"), "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert {e["title"] for e in out["newly_kept"]} == {SHOP[0], OFF_TOPIC[0]}
    # --since leaves out entries seen earlier.
    assert cli(tmp_path, "rules", "test", "--rules", str(tmp_path / "all.yaml"), "--since", "1h",
               "--json") == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["unchanged"] == 0


def test_rules_test_names_the_file_and_line_of_a_bad_rules_file(
    polled: Callable[..., Curator], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    polled()
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  min_score: 3\n  include:\n    cctv: lots\n")
    capsys.readouterr()
    assert cli(tmp_path, "rules", "test", "--rules", str(bad)) == 2
    err = capsys.readouterr().err
    assert f"{bad}:4: rules.include.cctv:" in err and "Traceback" not in err
    assert cli(tmp_path, "rules", "test", "--rules", str(tmp_path / "none.yaml")) == 2
    assert "none.yaml: no such file" in capsys.readouterr().err
    bad.write_text("rules:\n  include: {'--': 3}\n")
    assert cli(tmp_path, "rules", "test", "--rules", str(bad)) == 2
    assert "has no letter or digit" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        cli(tmp_path, "rules", "test", "--since", "soon")
    assert exited.value.code == 2
    assert "--since: expected a duration such as 30m" in capsys.readouterr().err


# --------------------------------------------------------------------------- rules apply


def test_rules_apply_adds_newly_matching_entries_and_never_touches_reviewed_items(
    polled: Callable[..., Curator], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cur = polled()
    (cctv,) = cur.store.items()
    approved = cur.review.approve([cctv.id], by="ed")[0]
    # An entry the poll dropped that is, by now, an approved item (another source took it):
    # the new rules keep it, but apply must leave the reviewed item alone.
    seen = by_title(cur.store.seen())
    with cur.store.transaction():
        cur.store.update_seen([_dropped(seen[CCTV[0]])])

    url = cur.config.sources[0].url
    (tmp_path / "feeds.yaml").write_text(feeds_yaml(url, source_rules="\n"))  # no requirement
    capsys.readouterr()
    assert cli(tmp_path, "rules", "apply", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert [a["title"] for a in out["added"]] == [SHOP[0]]
    left = [(x["title"], x["why"]) for x in out["left"]]
    assert left == [(CCTV[0], "already an item (approved)")]

    store = TinyDBStore(tmp_path / "store")
    assert store.get_item(cctv.id) == approved
    shop = {i.title: i for i in store.items("pending")}[SHOP[0]]
    assert shop.sources == ("news",) and "cctv" in {m.term for m in shop.matched}
    assert store.near_misses() == []  # it was a near miss; now it is an item
    # The kept entries carry the verdict of the rules applied: nothing is left to apply.
    assert by_title(store.seen())[SHOP[0]].outcome == "kept"
    assert cli(tmp_path, "rules", "apply") == 0
    assert capsys.readouterr().out.startswith("added 0 candidates")
    assert cli(tmp_path, "rules", "test", "--json") == 0
    assert json.loads(capsys.readouterr().out)["newly_kept"] == []


def _dropped(entry: SeenEntry) -> SeenEntry:
    from dataclasses import replace

    return replace(entry, outcome="dropped", score=0.0, matched=(), why="dropped")


def test_rules_apply_leaves_a_same_story_an_editor_rejected(
    polled: Callable[..., Curator], tmp_path: Path
) -> None:
    cur = polled()
    (cctv,) = cur.store.items()
    cur.review.reject([cctv.id], by="ed")
    # The same story under another URL, dropped by the poll: dedupe would merge it by title.
    copy = SeenEntry(
        id="00000000000000aa",
        source_id="news",
        title=CCTV[0],
        url="https://mirror.example.org/cctv",
        canonical_url="https://mirror.example.org/cctv",
        summary=CCTV[2],
        published=NOW,
        seen_at=NOW,
        outcome="dropped",
        score=0.0,
        matched=(),
        why="dropped",
    )
    with cur.store.transaction():
        assert cur.store.keep_seen([copy]) == 1
    done = workbench.apply(cur.config, cur.store, now=NOW, since=NOW)
    assert done.added == () and done.merged == ()
    assert [why for _, why in done.left] == ["the same story is already rejected"]
    assert cur.store.get_item(cctv.id).status == "rejected"  # type: ignore[union-attr]
    assert cur.store.get_item(copy.id) is None


def test_keeping_entries_changes_no_candidate_and_no_near_miss_on_a_real_stream() -> None:
    """With keep_seen each entry is assessed once and its candidate or near miss read from
    that (pipeline.judge): on the real news2023 stream, under the shipped rules and a news
    source's requirement, exactly what the poll makes without it."""
    import tarfile

    from curator.pipeline import process
    from curator.types import Fetched
    from tests.test_pipeline import NEWS2023

    if not NEWS2023.exists():
        pytest.skip(f"the news2023 stream is not at {NEWS2023}")
    real = config.load(Path(__file__).resolve().parents[1] / "feeds.yaml")
    with tarfile.open(NEWS2023) as archive:
        names = [m for m in archive.getnames() if m.endswith(".xml")][:12]
        bodies = [archive.extractfile(n).read() for n in names]  # type: ignore[union-attr]
    rules = {"require": ["cameras", "policing"]}
    totals = [0, 0]
    for i, body in enumerate(bodies):
        source = config.Source.model_validate(
            {"id": f"s{i}", "name": "S", "url": "https://example.org/f.xml", "rules": rules}
        )
        fetched = Fetched(source.id, source.url, 200, {}, body)
        plain = process(fetched, source, real.rules, NOW, 10_000)
        kept = process(fetched, source, real.rules, NOW, 10_000, keep_seen=True)
        assert kept.candidates == plain.candidates and kept.near_misses == plain.near_misses
        assert plain.seen == () and len(kept.seen) == plain.entries - plain.dropped
        outcomes = [s.outcome for s in kept.seen]
        assert outcomes.count("kept") == len(plain.candidates)
        assert outcomes.count("near_miss") == len(plain.near_misses)
        totals[0] += len(plain.candidates)
        totals[1] += len(plain.near_misses)
    assert totals[0] > 10 and totals[1] > 10, totals  # both kinds were compared
