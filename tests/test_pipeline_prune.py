"""When kept entries and near misses are pruned: by a poll that read a document.

An unchanged poll (every source answering 304 or the same body) adds none, and pruning would
read all of them (tens of MB for 30 days of a large configuration) in every `curator fetch`:
it leaves them to the next poll that reads something (README, ``keep_seen``)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.feedserver import FeedServer
from tests.test_pipeline import CCTV, LFR, OFF_TOPIC, SHOP, Clock, rss, run
from tests.test_workbench import NOW, curator_for, feeds_yaml


def test_an_unchanged_poll_leaves_pruning_to_the_next_poll_that_reads_a_document(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    clock = Clock(NOW)
    url = feed_server.route("/f", rss(CCTV, SHOP, OFF_TOPIC), etag='"1"')
    cur = curator_for(tmp_path, feeds_yaml(url), clock)
    run(cur)
    assert len(cur.store.seen()) == 3
    assert [n.candidate.entry.title for n in cur.store.near_misses()] == [SHOP[0]]

    clock.now = NOW + timedelta(days=31)  # every one of them past its 30 days
    (report,) = run(cur).sources
    assert report.outcome == "not_modified"
    assert len(cur.store.seen()) == 3  # nothing read: nothing pruned
    assert len(cur.store.near_misses()) == 1

    feed_server.route("/f", rss(LFR), etag='"2"')  # a new document
    (report,) = run(cur).sources
    assert report.outcome == "ok"
    assert [e.title for e in cur.store.seen()] == [LFR[0]]
    assert cur.store.near_misses() == []
