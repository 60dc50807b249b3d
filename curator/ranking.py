"""The learned ranking at the edges: the store's current model, training it, its status, the
optional automatic rejections, and ``serve``'s background job.

:mod:`curator.learn` is the pure part (examples, training, scoring); this module reads the
decisions from the store, writes the trained model back into it (``model.json``, JSON data
only), and keeps one :class:`~curator.learn.Scorer` per stored model, rebuilt when any
process (``serve``'s job, ``curator model train``) writes a new one.

In ``serve`` the job :func:`check` runs every :data:`CHECK_EVERY` seconds: when the decisions
differ from those the stored model learned from, and none came in the last :data:`QUIET`
seconds (a batch of decisions is over) or the model is :data:`STALE` seconds old, it trains
in a worker process of its own (scikit-learn is imported there, never in ``serve``), stores
the model, and applies ``rank.auto_reject_below`` when set.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from curator import learn
from curator.exceptions import ModelError, StoreError
from curator.store import Store
from curator.store.api import Decisions
from curator.types import Item
from curator.workers import WorkerCrashed, Workers, WorkerTimeout

if TYPE_CHECKING:
    from curator.core import Curator

log = logging.getLogger("curator.ranking")

CHECK_EVERY = 30.0  # seconds between the background job's looks at the decisions
QUIET = 20.0  # seconds without a new decision before a batch counts as done
STALE = 600.0  # seconds after which a model is retrained even while decisions keep coming
TRAIN_TIMEOUT = 1800.0  # seconds a training run (or its cross-validation) may take in its worker


class Ranking:
    """The store's current model as a :class:`~curator.learn.Scorer`, rebuilt when the
    stored model changes (in any process).  Thread-safe."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._version: Any = None
        self._scorer: learn.Scorer | None = None
        self.error: str | None = None  # why the stored model is not used, when it is not
        # (items version, model version, rank settings) at which check() found nothing to
        # train whatever the time: until one changes, it need not read every item again.
        self.settled: tuple[object, ...] | None = None

    def scorer(self) -> learn.Scorer | None:
        """The current model, or None before one is trained (or when the stored one is
        damaged: logged once, the queue is then ordered by the rules alone)."""
        version = self.store.model_version()
        with self._lock:
            if version == self._version:
                return self._scorer
            try:
                doc = self.store.get_model()
                scorer = learn.Scorer(doc) if doc is not None else None
                self.error = None
            except (ModelError, StoreError) as e:
                log.error("stored model not used: %s", e)
                scorer, self.error = None, str(e)
            self._version, self._scorer = version, scorer
            return scorer

    def rank(self, items: Sequence[Item], blend: float) -> list[learn.Ranked]:
        return learn.rank_items(items, self.scorer(), blend=blend)


# --------------------------------------------------------------------------- training


def decisions(store: Store) -> list[learn.Example]:
    """Every decision as an example, the items read a part at a time (only the examples
    are held, not 100,000 decoded items beside them)."""
    return learn.examples(store.iter_items())


def train_now(cur: Curator, *, validate: bool = True) -> learn.Trained:
    """Train on every decision now, in this process, and store the model.  ModelError when
    there are too few decisions (nothing is changed then)."""
    settings = cur.config.rank
    trained = learn.train(
        decisions(cur.store),
        now=cur.clock(),
        min_examples=settings.min_examples,
        min_each=settings.min_each,
        validate=validate,
    )
    save(cur.store, trained)
    return trained


def save(store: Store, trained: learn.Trained) -> None:
    with store.transaction():
        store.put_model(trained.model)
    q = trained.quality
    log.info(
        "trained model examples=%d roc_auc=%s average_precision=%s seconds=%.1f",
        trained.model["examples"],
        "-" if q is None else f"{q.roc_auc:.3f}",
        "-" if q is None else f"{q.average_precision:.3f}",
        trained.seconds,
    )


# --------------------------------------------------------------------------- status


@dataclass(frozen=True)
class Status:
    """What ``curator model status`` reports."""

    examples: int  # decisions the next training would learn from
    approved: int
    rejected: int
    min_examples: int
    min_each: int
    enough: bool
    last_trained: str | None  # ISO time of the stored model, None before one exists
    trained_on: int | None  # decisions the stored model learned from
    up_to_date: bool  # the stored model learned from exactly the current decisions
    roc_auc: float | None
    average_precision: float | None
    folds: int | None
    features: int | None
    blend: float
    auto_reject_below: float | None
    error: str | None  # why the stored model cannot be used


def status(cur: Curator) -> Status:
    exs = decisions(cur.store)
    settings = cur.config.rank
    approved = sum(1 for e in exs if e.label == 1)
    rejected = len(exs) - approved
    doc = cur.store.get_model()
    error = None
    if doc is not None:
        try:
            learn.Scorer(doc)
        except ModelError as e:
            error = str(e)
    quality = doc.get("quality") if doc else None
    quality = quality if isinstance(quality, dict) else {}
    blocks = doc.get("blocks") if doc else None
    return Status(
        examples=len(exs),
        approved=approved,
        rejected=rejected,
        min_examples=settings.min_examples,
        min_each=settings.min_each,
        enough=len(exs) >= settings.min_examples and min(approved, rejected) >= settings.min_each,
        last_trained=_str(doc.get("trained_at")) if doc else None,
        trained_on=_int(doc.get("examples")) if doc else None,
        up_to_date=doc is not None and doc.get("decisions") == learn.decisions_key(exs),
        roc_auc=_float(quality.get("roc_auc")),
        average_precision=_float(quality.get("average_precision")),
        folds=_int(quality.get("folds")),
        features=sum(len(b.get("terms", ())) for b in blocks.values() if isinstance(b, dict))
        if isinstance(blocks, dict)
        else None,
        blend=settings.blend,
        auto_reject_below=settings.auto_reject_below,
        error=error,
    )


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


# --------------------------------------------------------------------------- auto-reject


def auto_reject(cur: Curator) -> list[Item]:
    """Reject the pending items whose learned probability is below
    ``rank.auto_reject_below`` (nothing when it is not set or no model exists).  Each is
    recorded as the model's decision, with the probability, and is undone like any other;
    an item the model decided on before, or that an editor put in the queue, is left to the
    editors."""
    threshold = cur.config.rank.auto_reject_below
    scorer = cur.ranking.scorer()
    if threshold is None or scorer is None:
        return []
    pending = [
        i
        for i in cur.store.items("pending")
        if not learn.ever_by_model(i) and not _placed_by_an_editor(i)
    ]
    if not pending:
        return []
    low = {
        i.id: (i, p)
        for i, p in zip(pending, scorer.probabilities(pending), strict=True)
        if p < threshold
    }
    if not low:
        return []
    now = cur.clock()
    done: list[Item] = []
    with cur.store.transaction():
        for item_id, (seen, p) in low.items():
            current = cur.store.get_item(item_id)
            # Only as it was scored: an editor's decision or edit meanwhile wins.
            if current is None or current != seen:
                continue
            new = learn.auto_rejected(current, p, threshold, now)
            cur.store.put_item(new)
            done.append(new)
    for item in done:
        log.info("rejected item=%s by=%s automatically", item.id, learn.MODEL_EDITOR)
    if done:
        cur.changed()
    return done


def _placed_by_an_editor(item: Item) -> bool:
    """An item an editor added, promoted, reopened or edited: a person put it in the queue on
    purpose, and the model does not overrule that (only a poll's candidates are its to
    reject)."""
    return any(e.by is not None and e.by != learn.MODEL_EDITOR for e in item.history)


# --------------------------------------------------------------------------- serve's job


def due(cur: Curator, found: Decisions, now: datetime) -> bool:
    """Whether the background job should train now (module docstring), from the store's
    :meth:`~curator.store.Store.decisions`: the labels and dates, no item decoded."""
    settings = cur.config.rank
    labels = [label for _, label in found.labels]
    try:
        learn.check_labels(labels, settings.min_examples, settings.min_each)
    except ModelError:
        return False
    doc = cur.store.get_model()
    if doc is not None and doc.get("decisions") == learn.labels_key(found.labels):
        return False
    latest = found.latest
    if latest is None or now - latest >= timedelta(seconds=QUIET):
        return True
    trained = _str(doc.get("trained_at")) if doc else None
    return trained is not None and now - datetime.fromisoformat(trained) >= timedelta(seconds=STALE)


T = TypeVar("T")


async def _off_loop(cur: Curator, job: Callable[[], T]) -> T:
    """*job* in a worker process of its own, which ends with it: scikit-learn (about
    100 MB) is imported there, never in ``serve`` nor in the workers that read feeds, and a
    training run never holds up a poll.  In a thread when the Curator has no workers (a
    test, or a command that reads documents in its own process)."""
    import asyncio  # in the functions of serve's job: `curator items` never loads it

    if cur.workers is None:
        return await asyncio.to_thread(job)
    workers = Workers(1, preload=("curator.learn",))
    try:
        return await workers.run(TRAIN_TIMEOUT, job)
    finally:
        await asyncio.to_thread(workers.close)


def save_quality(store: Store, decisions: str, quality: learn.Quality) -> None:
    """Record *quality* on the stored model, if it is still the one trained on
    *decisions*."""
    with store.transaction():
        doc = store.get_model()
        if doc is None or doc.get("decisions") != decisions:
            return
        store.put_model({**doc, "quality": learn.quality_json(quality)})
    log.info(
        "measured model roc_auc=%.3f average_precision=%.3f folds=%d",
        quality.roc_auc,
        quality.average_precision,
        quality.folds,
    )


async def check(cur: Curator) -> None:
    """The job of ``serve``: train in a worker when due, then store the model and apply
    the automatic rejections.  Store trouble is logged in one line, as other jobs do."""
    import asyncio

    try:
        versions = (*await asyncio.to_thread(_versions, cur.store), cur.config.rank)
        if versions != cur.ranking.settled:
            await _train_if_due(cur, versions)
        scorer = await asyncio.to_thread(cur.ranking.scorer)
        if scorer is not None:
            # Score what is pending now, off the loop, so the queue's next page is quick.
            pending = await asyncio.to_thread(cur.store.items, "pending")
            await asyncio.to_thread(scorer.probabilities, pending)
        await asyncio.to_thread(auto_reject, cur)
    except StoreError as e:
        log.error("learned ranking not updated: %s", e)
        cur.health.failed("rank", cur.clock(), e)
        return
    except (ModelError, WorkerTimeout, WorkerCrashed) as e:  # the queue keeps the last model
        log.error("learned ranking not trained: %s", e)
        return
    cur.health.succeeded("rank", cur.clock())


def _versions(store: Store) -> tuple[object, object]:
    return store.version(), store.model_version()


async def _train_if_due(cur: Curator, versions: tuple[object, ...]) -> None:
    """Train when :func:`due`.  When it cannot be due whatever the time (the stored model
    learned from exactly the current decisions, or they are too few), note *versions*, so
    that the next checks (every 30 s) do not turn every decided item into an example again
    until an item, the model or the ``rank:`` settings change."""
    import asyncio

    found = await asyncio.to_thread(cur.store.decisions, learn.MODEL_EDITOR)
    now = cur.clock()
    if await asyncio.to_thread(due, cur, found, now):
        # Only now every decision becomes an example (its text): seconds and tens of MB at
        # 100,000 decisions, for the training run alone.
        exs = await asyncio.to_thread(decisions, cur.store)
        settings = cur.config.rank
        # The model first (seconds), then its cross-validation (four or five times as
        # long), so that the queue uses the new model meanwhile.
        trained = await _off_loop(
            cur,
            functools.partial(
                learn.train,
                exs,
                now=now,
                min_examples=settings.min_examples,
                min_each=settings.min_each,
                validate=False,
            ),
        )
        await asyncio.to_thread(save, cur.store, trained)
        quality = await _off_loop(cur, functools.partial(learn.evaluate, exs))
        await asyncio.to_thread(save_quality, cur.store, trained.model["decisions"], quality)
        return
    if await asyncio.to_thread(_settled, cur, found):
        cur.ranking.settled = versions


def _settled(cur: Curator, found: Decisions) -> bool:
    """Whether :func:`due` says no to *found* at any time, not just now."""
    settings = cur.config.rank
    try:
        learn.check_labels(
            [label for _, label in found.labels], settings.min_examples, settings.min_each
        )
    except ModelError:
        return True
    doc = cur.store.get_model()
    return doc is not None and doc.get("decisions") == learn.labels_key(found.labels)
