"""The learned ranking: examples from decisions, training, scoring rebuilt from the stored
JSON (checked against scikit-learn's own predictions), persistence in the store (backup,
damage, an old store without a model), the no-pickle rule, the CLI, the queue's order and
the optional automatic rejections."""

from __future__ import annotations

import asyncio
import json
import pickle
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from curator import backup, config, learn, ranking
from curator.cli import main
from curator.core import Curator
from curator.exceptions import ConfigError, ModelError
from curator.store import Store, TinyDBStore
from curator.store.api import Decisions
from curator.types import Event, Item
from curator.web import create_app
from tests.webkit import (
    EDITOR,
    FAST_HASHER,
    PASSWORD,
    T0,
    Clock,
    add_editor,
    csrf_of,
    curator_on,
    make_item,
    put,
)

ROOT = Path(__file__).resolve().parent.parent

WANTED = [
    "council approves new CCTV policy for town centre",
    "police review surveillance camera regulation",
    "home office consults on facial recognition code of practice",
    "commissioner report on public space CCTV standards",
    "force evaluates body worn video policy and privacy",
    "regulator guidance on ANPR data retention",
]
UNWANTED = [
    "dashcam footage shows crash on motorway",
    "doorbell video captures fox stealing shoes",
    "viral clip shows celebrity at airport",
    "bodycam footage of chase released by sheriff",
    "drone video of festival crowds goes viral",
    "camera phone footage of storm damage",
]
FILLER = [
    "the",
    "a",
    "week",
    "local",
    "people",
    "said",
    "new",
    "year",
    "city",
    "news",
    "today",
    "report",
]


def _text(rng: random.Random, base: str) -> str:
    words = base.split()
    rng.shuffle(words)
    return " ".join(words + rng.sample(FILLER, 4))


def decided_items(n_each: int = 25, seed: int = 1) -> list[Item]:
    """*n_each* approved items about cameras in policing, *n_each* rejected ones that only
    use footage."""
    rng = random.Random(seed)
    out = []
    for k in range(n_each):
        good, bad = WANTED[k % len(WANTED)], UNWANTED[k % len(UNWANTED)]
        out.append(
            make_item(
                1000 + k, title=good.capitalize(), summary=_text(rng, good), status="approved"
            )
        )
        out.append(
            make_item(2000 + k, title=bad.capitalize(), summary=_text(rng, bad), status="rejected")
        )
    return out


GOOD_NEW = make_item(
    1, title="Council consults on CCTV policy", summary="regulation of surveillance camera use"
)
BAD_NEW = make_item(
    2, title="Footage shows fox at airport", summary="viral doorbell video clip", score=9.0
)


@pytest.fixture
def cur(tmp_path: Path) -> Iterator[Curator]:
    c = curator_on(tmp_path / "store", config_with(), Clock())
    yield c
    asyncio.run(c.aclose())


def config_with(**rank: object) -> config.Config:
    from tests.webkit import config as base

    cfg = base([("src-a", "Source A", "https://news.example.org/feed.xml")])
    return cfg.model_copy(update={"rank": config.RankSettings.model_validate(rank)})


def trained(cur: Curator) -> learn.Trained:
    put(cur.store, *decided_items(), GOOD_NEW, BAD_NEW)
    return ranking.train_now(cur)


# --------------------------------------------------------------------------- examples


def test_an_edited_item_counts_with_the_feeds_text_and_model_rejections_do_not() -> None:
    item = make_item(1, title="Edited title", summary="edited words", status="approved")
    item = replace(
        item,
        original={"title": "Feed title", "summary": "<p>feed words</p>", "category": "research"},
    )
    ex = learn.example(item)
    assert (ex.title, ex.text, ex.category, ex.label) == ("Feed title", "feed words", "research", 1)
    assert ex.terms == ("cctv",) and ex.source == "src-a"
    by_model = replace(make_item(2, status="rejected"), reviewed_by=learn.MODEL_EDITOR)
    pending = make_item(3)
    rejected = make_item(4, status="rejected")
    assert [e.item_id for e in learn.examples([item, by_model, pending, rejected])] == sorted(
        [item.id, rejected.id]
    )


def test_too_few_decisions_is_a_clear_error(cur: Curator) -> None:
    put(cur.store, *decided_items(n_each=8))
    with pytest.raises(ModelError) as e:
        ranking.train_now(cur)
    message = str(e.value)
    assert "8 approved and 8 rejected" in message
    assert "40 decisions in all" in message and "10 approved" in message
    assert "rank.min_examples" in message
    assert cur.store.get_model() is None  # nothing stored


# --------------------------------------------------------------------------- training, scoring


def test_training_learns_what_the_editors_approve(cur: Curator) -> None:
    result = trained(cur)
    assert result.quality is not None and result.quality.roc_auc >= 0.9
    assert result.quality.folds == 5 and result.quality.examples == 50
    scorer = cur.ranking.scorer()
    assert scorer is not None
    good, bad = scorer.probabilities([GOOD_NEW, BAD_NEW])
    assert good > 0.5 > bad
    why = scorer.explain(BAD_NEW)
    assert why.probability == pytest.approx(bad)
    assert why.down and all(c.weight < 0 for c in why.down)
    assert {"footage", "viral", "video"} & {c.feature for c in why.down}
    assert {"cctv", "policy", "council", "regulation"} & {
        c.feature for c in scorer.explain(GOOD_NEW).up
    }


def test_scoring_from_the_json_matches_scikit_learn(cur: Curator) -> None:
    import numpy as np

    put(cur.store, *decided_items())
    exs = learn.examples(cur.store.items())
    docs = [learn._doc(e) for e in exs]
    vocab, model = learn._fit(docs, [int(e.label or 0) for e in exs])
    others = [learn.example(i) for i in (GOOD_NEW, BAD_NEW, *decided_items(5, seed=7))]
    expected = model.predict_proba(learn._matrix([learn._doc(e) for e in others], vocab))[:, 1]
    doc = learn.train(exs, now=T0, validate=False).model
    scorer = learn.Scorer(json.loads(json.dumps(doc)))
    got = [learn._sigmoid(z) for z in scorer.log_odds(others)]
    assert np.allclose(got, expected, atol=1e-4)


def test_the_model_is_stored_as_json_and_loading_never_unpickles(
    cur: Curator, monkeypatch: pytest.MonkeyPatch
) -> None:
    trained(cur)
    raw = (cur.store.path / "model.json").read_bytes()
    stored = json.loads(raw)["model"]["current"]  # TinyDB's own format, plain JSON
    assert stored["format"] == learn.FORMAT
    assert set(stored["blocks"]) == {"word", "char", "meta"}
    word = stored["blocks"]["word"]
    assert len(word["terms"]) == len(word["idf"]) == len(word["coef"]) > 0
    assert b"pickle" not in raw and not raw.startswith(b"\x80")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model must never be unpickled")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    fresh = curator_on(cur.store.path, cur.config, Clock())
    scorer = fresh.ranking.scorer()
    assert scorer is not None and scorer.probability(GOOD_NEW) > 0.5


def test_scoring_in_a_fresh_process_imports_no_scikit_learn(cur: Curator) -> None:
    trained(cur)
    code = (
        "import sys; from curator.store import TinyDBStore; from curator.ranking import Ranking;"
        f"r = Ranking(TinyDBStore({str(cur.store.path)!r})); s = r.scorer();"
        "print(len(s.probabilities(r.store.items('pending'))), 'sklearn' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    assert out == ["2", "False"]


def test_a_damaged_or_foreign_model_is_refused_with_a_message() -> None:
    with pytest.raises(ModelError, match="format"):
        learn.Scorer({"format": "something-else/9", "blocks": {}})
    doc = {
        "format": learn.FORMAT,
        "intercept": 0.0,
        "settings": {**learn._settings(), "max_text": 99},
        "blocks": {"word": {"terms": ["a"], "idf": [1.0], "coef": [1.0]}},
    }
    with pytest.raises(ModelError, match="cuts its features otherwise"):
        learn.Scorer(doc)
    doc["settings"] = learn._settings()
    doc["blocks"] = {"word": {"terms": ["a"], "idf": [1.0], "coef": ["x"]}}
    with pytest.raises(ModelError, match="not a number"):
        learn.Scorer(doc)
    doc["blocks"] = {"word": {"terms": ["a", "b"], "idf": [1.0], "coef": [1.0]}}
    with pytest.raises(ModelError, match="unequal"):
        learn.Scorer(doc)


# --------------------------------------------------------------------------- the store


def test_an_old_store_without_a_model_loads_and_ranks_by_the_rules(tmp_path: Path) -> None:
    store = TinyDBStore(tmp_path / "store")
    put(store, make_item(1, score=2.0), make_item(2, score=8.0))
    assert not (store.path / "model.json").exists()
    reopened = TinyDBStore(store.path)
    assert reopened.get_model() is None and reopened.damage(deep=True) == []
    rows = ranking.Ranking(reopened).rank(reopened.items("pending"), blend=0.7)
    assert [r.item.score for r in rows] == [8.0, 2.0]
    assert [r.learned for r in rows] == [None, None] and rows[0].rank > rows[1].rank


def test_backup_and_restore_carry_the_model(cur: Curator, tmp_path: Path) -> None:
    trained(cur)
    info = backup.backup(cur.store, tmp_path / "b.tar.gz", now=T0)
    restored = TinyDBStore(tmp_path / "restored")
    backup.restore(restored, info.path)
    assert restored.get_model() == cur.store.get_model()


def test_a_damaged_model_file_costs_only_the_model(cur: Curator) -> None:
    trained(cur)
    (cur.store.path / "model.json").write_text('{"model": {"current": ')
    fresh = curator_on(cur.store.path, cur.config, Clock())
    damage = fresh.store.damage()
    assert [d.name for d in damage] == ["model.json"]
    assert "learned ranking" in damage[0].held
    assert fresh.ranking.scorer() is None and "model.json" in (fresh.ranking.error or "")
    rows = fresh.ranking.rank(fresh.store.items("pending"), blend=0.7)
    assert [r.item.id for r in rows] == [BAD_NEW.id, GOOD_NEW.id]  # rules only
    repaired = fresh.store.repair()
    assert [r.name for r in repaired] == ["model.json"]
    assert fresh.store.get_model() is None and fresh.store.damage() == []


# --------------------------------------------------------------------------- ranking


def test_the_queue_order_blends_rule_score_and_learned_probability(cur: Curator) -> None:
    put(cur.store, GOOD_NEW, BAD_NEW)
    before = cur.ranking.rank(cur.store.items("pending"), blend=0.7)
    assert [r.item.id for r in before] == [BAD_NEW.id, GOOD_NEW.id]  # higher rule score
    trained(cur)
    after = cur.ranking.rank(cur.store.items("pending"), blend=0.7)
    assert [r.item.id for r in after] == [GOOD_NEW.id, BAD_NEW.id]
    assert all(r.learned is not None and 0 <= r.learned <= 1 for r in after)
    rules_only = cur.ranking.rank(cur.store.items("pending"), blend=0.0)
    assert [r.item.id for r in rules_only] == [BAD_NEW.id, GOOD_NEW.id]


# --------------------------------------------------------------------------- auto-reject


def test_auto_reject_is_off_by_default(cur: Curator) -> None:
    trained(cur)
    assert cur.config.rank.auto_reject_below is None
    assert ranking.auto_reject(cur) == []
    assert cur.store.get_item(BAD_NEW.id).status == "pending"  # type: ignore[union-attr]


def test_auto_reject_is_recorded_as_the_models_and_undoable(cur: Curator) -> None:
    trained(cur)
    cur.config = config_with(auto_reject_below=0.3)
    done = ranking.auto_reject(cur)
    assert [i.id for i in done] == [BAD_NEW.id]
    item = cur.store.get_item(BAD_NEW.id)
    assert item is not None and item.status == "rejected" and item.reviewed_by == "model"
    event = item.history[-1]
    assert event.action == "rejected" and event.by == "model"
    assert re.search(
        r"learned probability 0\.\d{3} is below rank.auto_reject_below 0.3", event.note or ""
    )
    assert item.note is None  # the editor's note is left alone
    assert cur.store.get_item(GOOD_NEW.id).status == "pending"  # type: ignore[union-attr]
    # The model's own decisions are not examples.
    assert BAD_NEW.id not in {e.item_id for e in ranking.decisions(cur.store)}
    undone = cur.review.undo(BAD_NEW.id, by="editor")
    assert undone.status == "pending" and undone.reviewed_by is None
    assert ranking.auto_reject(cur) == []  # brought back by an editor: left to the editors
    assert cur.store.get_item(BAD_NEW.id).status == "pending"  # type: ignore[union-attr]


def test_auto_reject_leaves_what_an_editor_put_in_the_queue(cur: Curator) -> None:
    trained(cur)
    cur.config = config_with(auto_reject_below=0.3)
    placed = replace(
        BAD_NEW,
        history=(*BAD_NEW.history, Event(at=BAD_NEW.first_seen, action="promoted", by="ed")),
    )
    put(cur.store, placed)
    assert ranking.auto_reject(cur) == []
    assert cur.store.get_item(BAD_NEW.id).status == "pending"  # type: ignore[union-attr]


def test_rank_config_is_validated() -> None:
    with pytest.raises(ConfigError) as e:
        config.loads("rank:\n  min_examples: 10\n  min_each: 10\n")
    assert "min_each (10) of each kind needs min_examples of at least 20" in str(e.value)
    with pytest.raises(ConfigError) as e:  # one of a kind cannot be cross-validated
        config.loads("rank:\n  min_each: 1\n")
    assert "rank.min_each" in str(e.value) and "greater than or equal to 2" in str(e.value)
    with pytest.raises(ConfigError) as e:
        config.loads("rank:\n  auto_reject_below: 1.5\n")
    assert "rank.auto_reject_below" in str(e.value)
    assert config.loads("rank:\n  blend: 0.5\n").rank.blend == 0.5
    assert config.loads("").rank.auto_reject_below is None


# --------------------------------------------------------------------------- serve's job


def test_serves_job_trains_after_a_batch_of_decisions_and_only_then(cur: Curator) -> None:
    put(cur.store, *decided_items(), GOOD_NEW, BAD_NEW)
    clock = cur.clock
    assert isinstance(clock, Clock)
    latest = max(i.reviewed_at for i in cur.store.items() if i.reviewed_at)
    clock.now = latest + timedelta(seconds=5)  # decisions still coming in
    asyncio.run(ranking.check(cur))
    assert cur.store.get_model() is None
    clock.now = latest + timedelta(seconds=ranking.QUIET + 1)
    asyncio.run(ranking.check(cur))
    first = cur.store.get_model()
    assert first is not None and first["examples"] == 50
    assert first["quality"]["folds"] == 5 and first["quality"]["roc_auc"] >= 0.9
    version = cur.store.model_version()
    asyncio.run(ranking.check(cur))  # the same decisions: no training
    assert cur.store.model_version() == version
    cur.review.approve([GOOD_NEW.id], by="editor")
    clock.now += timedelta(seconds=ranking.QUIET + 1)
    asyncio.run(ranking.check(cur))
    assert cur.store.get_model()["examples"] == 51  # type: ignore[index]


def counting(cur: Curator, monkeypatch: pytest.MonkeyPatch) -> tuple[list[int], list[int]]:
    """Calls of the store's look at the decisions (labels only), and of the examples'
    building (every decision's text, for a training run)."""
    looks: list[int] = []
    built: list[int] = []
    look, build = cur.store.decisions, ranking.decisions

    def counted_look(but: str) -> Decisions:
        looks.append(1)
        return look(but)

    def counted_build(store: Store) -> list[learn.Example]:
        built.append(1)
        return build(store)

    monkeypatch.setattr(cur.store, "decisions", counted_look)
    monkeypatch.setattr(ranking, "decisions", counted_build)
    return looks, built


def test_serves_job_reads_every_decision_again_only_after_a_change(
    cur: Curator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While neither the items nor the model change, a model trained on the current
    decisions stays up to date: the job (every 30 s) does not look at 100,000 decisions
    again to find that out, and turns them into examples only to train."""
    trained(cur)
    looks, built = counting(cur, monkeypatch)
    asyncio.run(ranking.check(cur))
    asyncio.run(ranking.check(cur))
    assert len(looks) == 1 and built == []
    cur.review.approve([GOOD_NEW.id], by="editor")
    asyncio.run(ranking.check(cur))  # a new decision, still in its batch: seen, not trained
    assert len(looks) == 2 and built == []
    assert cur.store.get_model()["examples"] == 50  # type: ignore[index]
    clock = cur.clock
    assert isinstance(clock, Clock)
    clock.now += timedelta(seconds=ranking.QUIET + 1)
    asyncio.run(ranking.check(cur))
    assert len(looks) == 3 and len(built) == 1
    assert cur.store.get_model()["examples"] == 51  # type: ignore[index]
    asyncio.run(ranking.check(cur))  # the new model's own write: looked at once more, then quiet
    asyncio.run(ranking.check(cur))
    assert len(looks) == 4 and len(built) == 1


def test_serves_job_with_too_few_decisions_reads_them_again_only_after_a_change(
    cur: Curator, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(cur.store, *decided_items(n_each=3))
    looks, built = counting(cur, monkeypatch)
    asyncio.run(ranking.check(cur))
    asyncio.run(ranking.check(cur))
    assert len(looks) == 1 and built == [] and cur.store.get_model() is None
    # Settings that make them enough (a reloaded feeds.yaml) count as a change.
    cur.config = config_with(min_examples=6, min_each=3)
    clock = cur.clock
    assert isinstance(clock, Clock)
    clock.now = max(i.reviewed_at for i in cur.store.items() if i.reviewed_at)
    clock.now += timedelta(seconds=ranking.QUIET + 1)
    asyncio.run(ranking.check(cur))
    assert len(looks) == 2 and len(built) == 1
    assert cur.store.get_model()["examples"] == 6  # type: ignore[index]


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    cfg = tmp_path / "feeds.yaml"
    cfg.write_text("rules:\n  include: {cctv: 3}\n")
    monkeypatch.setenv("CURATOR_CONFIG", str(cfg))
    monkeypatch.setenv("CURATOR_STORE", str(tmp_path / "store"))
    return TinyDBStore(tmp_path / "store")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_model_train_and_status(capsys: pytest.CaptureFixture[str], cli_env: Store) -> None:
    code, out, err = run(capsys, "model", "status", "--json")
    status = json.loads(out)
    assert code == 0 and status["examples"] == 0 and status["last_trained"] is None
    assert status["roc_auc"] is None and status["enough"] is False
    put(cli_env, *decided_items(n_each=5))
    code, out, err = run(capsys, "model", "train")
    assert code == 1 and "not enough decisions to train on: 5 approved and 5 rejected" in err
    put(cli_env, *decided_items(), GOOD_NEW, BAD_NEW)
    code, out, err = run(capsys, "model", "train", "--json")
    body = json.loads(out)
    assert code == 0 and body["trained"] is True and body["examples"] == 50
    assert body["approved"] == 25 and body["rejected"] == 25
    assert 0.9 <= body["roc_auc"] <= 1 and 0.9 <= body["average_precision"] <= 1
    assert body["folds"] == 5 and body["last_trained"]
    code, out, err = run(capsys, "model", "status", "--json")
    status = json.loads(out)
    for key in ("examples", "last_trained", "roc_auc", "average_precision"):
        assert status[key] == body[key]
    assert status["up_to_date"] is True and status["enough"] is True
    code, out, err = run(capsys, "model", "status")
    assert code == 0 and "ROC AUC" in out and "average precision" in out
    code, out, err = run(capsys, "model", "train")
    assert code == 0 and re.search(r"ROC AUC \d\.\d{3}, average precision \d\.\d{3}", out)


def test_cli_items_sort_rank_and_learned(
    capsys: pytest.CaptureFixture[str], cli_env: Store
) -> None:
    older = replace(GOOD_NEW, published=T0 - timedelta(days=3))
    put(cli_env, older, BAD_NEW)
    code, out, _ = run(capsys, "items", "--json", "--sort", "rank")
    assert code == 0
    rows = json.loads(out)
    assert [r["id"] for r in rows] == [BAD_NEW.id, GOOD_NEW.id]  # by rule score, no model
    assert [r["learned"] for r in rows] == [None, None]
    assert rows[0]["rank"] > rows[1]["rank"]
    put(cli_env, *decided_items())
    assert run(capsys, "model", "train")[0] == 0
    code, out, _ = run(capsys, "items", "--json", "--sort", "rank")
    assert code == 0
    rows = json.loads(out)
    assert [r["id"] for r in rows] == [GOOD_NEW.id, BAD_NEW.id]
    assert all(0 <= r["learned"] <= 1 and 0 <= r["rank"] <= 1 for r in rows)
    _, out, _ = run(capsys, "items", "--json")  # default: newest first, as before
    assert [r["id"] for r in json.loads(out)] == [BAD_NEW.id, GOOD_NEW.id]
    _, out, _ = run(capsys, "items", "--sort", "rank")
    assert out.splitlines()[0].startswith(GOOD_NEW.id)


# --------------------------------------------------------------------------- the web queue


def signed_in(cur: Curator) -> TestClient:
    add_editor(cur.store)
    client = TestClient(create_app(cur, password_hasher=FAST_HASHER), base_url="http://testserver")
    page = client.get("/login")
    r = client.post(
        "/login",
        data={"csrf": csrf_of(page.text), "name": EDITOR, "password": PASSWORD, "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    return client


def queue_order(client: TestClient, query: str = "") -> list[str]:
    return re.findall(r'data-id="([0-9a-f]+)"', client.get("/" + query).text)


def test_web_queue_order_without_and_with_a_model(cur: Curator) -> None:
    low = make_item(3, title="Drone video of crowds goes viral", summary="viral clip", score=1.0)
    put(cur.store, GOOD_NEW, BAD_NEW, low)
    client = signed_in(cur)
    assert queue_order(client) == [BAD_NEW.id, GOOD_NEW.id, low.id]  # rule score only
    assert "Learned:" not in client.get("/").text and "Ordered by" not in client.get("/").text
    trained(cur)
    page = client.get("/").text
    order = re.findall(r'data-id="([0-9a-f]+)"', page)
    assert order == [GOOD_NEW.id, BAD_NEW.id, low.id]  # nothing hidden: all three listed
    assert "Learned:" in page and "rule score 9.0" in page
    assert re.search(
        r"Ordered by 70 % the learned probability \(a model trained \d{4}-\d\d-\d\d on 50 "
        r"decisions, cross-validated ROC AUC \d\.\d\d\) and 30 % the rule score",
        page,
    )
    assert re.search(r'down: (<span class="down">[^<]+</span>(, )?)+', page)
    assert re.search(r'up: (<span class="up">[^<]+</span>(, )?)+', page)
    compact = client.get("/?view=compact").text
    assert re.search(r'<span class="learned">\d+ %|<span class="learned">&lt;1 %', compact)
    # Approved and rejected lists keep their own order, without the model's numbers.
    assert "Learned:" not in client.get("/approved").text


def test_serves_job_trains_in_a_worker_process(cur: Curator) -> None:
    from curator.workers import Workers

    put(cur.store, *decided_items())
    workers = cur.workers = Workers(1)  # as serve has: training gets a process of its own
    try:
        asyncio.run(ranking.check(cur))
        assert workers._pool is None  # the feed readers were not used (nor started)
    finally:
        workers.close()
    model = cur.store.get_model()
    assert model is not None and model["examples"] == 50 and model["quality"]["roc_auc"] >= 0.9


def test_serve_schedules_the_ranking_job(cur: Curator) -> None:
    from curator import schedule

    job = schedule.build_scheduler(cur).get_job("rank")
    assert job is not None and job.func is ranking.check and job.args == (cur,)


# --------------------------------------------------------------------------- the bench's labels


def test_bench_quality_reads_a_labels_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench import bench_model

    decided = decided_items(n_each=12)
    relevant = {i.id: int(i.status == "approved") for i in decided}
    items = [replace(i, status="pending") for i in decided]
    labels = tmp_path / "labels.csv"
    rows = ["url,title,relevant"] + [f'{i.url},"{i.title}",{relevant[i.id]}' for i in items[:-1]]
    rows.append(f',"{items[-1].title}",{relevant[items[-1].id]}')  # joined by title
    labels.write_text("\n".join(rows) + "\n")
    bench_model.quality(items, labels)
    out = capsys.readouterr().out
    assert "24 labelled entries found" in out
    assert re.search(r"all labelled \(24, 12 relevant\): learned ROC AUC 1\.000", out)
    assert "vs keyword score ROC AUC 0.500" in out  # every item has the same rule score
    bad = tmp_path / "bad.csv"
    bad.write_text("url,relevant\nhttps://x.example/,1\n")
    with pytest.raises(SystemExit, match="no column title"):
        bench_model.read_labels(bad)
    bad.write_text("url,title,relevant\nhttps://x.example/,X,yes\n")
    with pytest.raises(SystemExit, match="line 2: relevant is 'yes'"):
        bench_model.read_labels(bad)


def test_an_automatic_rejection_is_shown_and_undone_in_the_web_app(cur: Curator) -> None:
    trained(cur)
    cur.config = config_with(auto_reject_below=0.3)
    client = signed_in(cur)
    assert [i.id for i in ranking.auto_reject(cur)] == [BAD_NEW.id]
    assert BAD_NEW.id not in queue_order(client)
    rejected = client.get("/rejected").text
    assert BAD_NEW.id in rejected and "rejected by model" in rejected
    page = client.get(f"/items/{BAD_NEW.id}").text
    assert "below rank.auto_reject_below 0.3" in page
    r = client.post(
        f"/items/{BAD_NEW.id}/undo",
        data={"csrf": csrf_of(client.get("/account").text), "next": "/rejected"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert BAD_NEW.id in queue_order(client)
    item = cur.store.get_item(BAD_NEW.id)
    assert item is not None and item.status == "pending"
    assert item.history[-1].action == "undone" and item.history[-1].by == EDITOR
