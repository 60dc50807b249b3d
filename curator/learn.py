"""Learned ranking: every editor decision is a labelled example, and a text model trained on
them gives each pending item the probability that the editors approve it.

Three steps, each a function of values:

* :func:`examples` turns decided items into :class:`Example` values.  An edited item counts
  with the feed's own text (``Item.original``): the decision was made on what the feed said,
  and the pending items it is compared with carry the feed's text too.  Items the model
  rejected itself are never examples (it would learn from its own guesses).
* :func:`train` (scikit-learn, run in a worker process by ``serve``) fits TF-IDF of words,
  word pairs and character n-grams within words, plus the source, category and matched terms,
  with a logistic regression, and measures it by stratified cross-validation on the same
  decisions.  It returns the model as plain JSON data: terms, idf and coefficients.
* :class:`Scorer` rebuilds the scoring from that JSON without scikit-learn (a sparse dot
  product and a sigmoid): ``serve`` and the CLI score items without importing it, and loading
  a model never unpickles anything (the store holds JSON only).

The queue's order (:func:`rank_items`) blends the rule score, as a percentile among the items
ranked, with the learned probability; nothing is hidden: low-ranked items come last.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import re
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from curator import normalize
from curator.exceptions import ModelError
from curator.types import Event, Item

FORMAT = "curator-rank/1"
#: Who an automatic rejection is recorded as (``rank.auto_reject_below``).
MODEL_EDITOR = "model"
#: Characters of an item's text that count: a long summary says no more about relevance
#: than its opening, and it would cost scoring time.
MAX_TEXT = 1500
WORD_NGRAMS = (1, 2)
CHAR_NGRAMS = (3, 5)
#: Features kept per block (the most frequent): bounds the stored model and its memory.
MAX_FEATURES = {"word": 30_000, "char": 40_000, "meta": 2_000}
#: Inverse regularisation of the logistic regression: on 510 hand-labelled news2023 entries
#: C from 1 to 30 moved the cross-validated ROC AUC by under 0.01; 4 is within 0.001 of the
#: best and trains two to three times faster than 10 or 30.
C = 4.0
#: Most cross-validation folds; fewer when one kind of decision has fewer examples.
FOLDS = 5
_TOKEN = re.compile(r"\w\w+")
_BLOCKS = ("word", "char", "meta")


@dataclass(frozen=True)
class Example:
    """One item as the model sees it; ``label`` is 1 (approved), 0 (rejected) or None."""

    item_id: str
    title: str
    text: str
    source: str
    category: str
    terms: tuple[str, ...]
    label: int | None = None


def example(item: Item) -> Example:
    """The item as its feed gave it (original title, summary and category when edited)."""
    title = item.original.get("title", item.title)
    if "summary" in item.original:
        text = normalize.html_to_text(item.original["summary"])
    else:
        text = item.summary_text
    label = {"approved": 1, "rejected": 0}.get(item.status)
    return Example(
        item_id=item.id,
        title=title,
        text=text,
        source=item.sources[0] if item.sources else "",
        category=item.original.get("category", item.category),
        terms=tuple(sorted({m.term for m in item.matched})),
        label=label,
    )


def by_model(item: Item) -> bool:
    """Whether the item's current decision is the model's own automatic rejection."""
    return item.status == "rejected" and item.reviewed_by == MODEL_EDITOR


def examples(items: Iterable[Item]) -> list[Example]:
    """Every decided item (approved or rejected by an editor) as a labelled example, in id
    order so that training is reproducible."""
    out = [example(i) for i in items if i.status in ("approved", "rejected") and not by_model(i)]
    out.sort(key=lambda e: e.item_id)
    return out


def decisions_key(exs: Sequence[Example]) -> str:
    """A short fingerprint of the labelled examples: a model trained on the same decisions
    needs no training again."""
    return labels_key([(e.item_id, e.label) for e in exs])


def labels_key(labels: Iterable[tuple[str, int | None]]) -> str:
    """:func:`decisions_key` of the examples with these (item id, label) pairs, in id
    order: what :meth:`~curator.store.Store.decisions` gives without decoding the items."""
    digest = hashlib.blake2b(digest_size=8)
    for item_id, label in labels:
        digest.update(f"{item_id}:{label}\n".encode())
    return digest.hexdigest()


# --------------------------------------------------------------------------- features


def words(ex: Example) -> list[str]:
    """Lower-case word tokens (two letters or more) of the title and the text's opening."""
    return _TOKEN.findall(f"{ex.title}\n{ex.text[:MAX_TEXT]}".lower())


def word_features(tokens: Sequence[str]) -> list[str]:
    lo, hi = WORD_NGRAMS
    out = list(tokens) if lo == 1 else []
    for n in range(max(lo, 2), hi + 1):
        out += [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return out


def char_grams(word: str) -> list[str]:
    """Character n-grams of one word padded with spaces (as scikit-learn's ``char_wb``)."""
    padded = f" {word} "
    lo, hi = CHAR_NGRAMS
    out: list[str] = []
    for n in range(lo, hi + 1):
        out += [padded[i : i + n] for i in range(len(padded) - n + 1)]
    return out


def meta_features(ex: Example) -> list[str]:
    return [
        f"source: {ex.source}",
        f"category: {ex.category}",
        *(f"term: {t}" for t in ex.terms),
    ]


# --------------------------------------------------------------------------- training


@dataclass(frozen=True)
class Quality:
    """Cross-validated quality on the store's own decisions."""

    roc_auc: float
    average_precision: float
    folds: int
    examples: int


@dataclass(frozen=True)
class Trained:
    """What :func:`train` returns (picklable, to come back from a worker process)."""

    model: dict[str, Any]  # the JSON document the store keeps
    quality: Quality | None
    seconds: float


def check_enough(exs: Sequence[Example], min_examples: int, min_each: int) -> None:
    """ModelError, saying how many more decisions are needed, unless *exs* are enough."""
    check_labels([e.label for e in exs], min_examples, min_each)


def check_labels(labels: Sequence[int | None], min_examples: int, min_each: int) -> None:
    """:func:`check_enough` of examples with these labels."""
    approved = sum(1 for label in labels if label == 1)
    rejected = sum(1 for label in labels if label == 0)
    short = []
    if approved + rejected < min_examples:
        short.append(f"{min_examples} decisions in all")
    if approved < min_each:
        short.append(f"{min_each} approved")
    if rejected < min_each:
        short.append(f"{min_each} rejected")
    if short:
        raise ModelError(
            f"not enough decisions to train on: {approved} approved and {rejected} rejected; "
            f"the model needs at least {' and '.join(short)} (rank.min_examples, "
            "rank.min_each in feeds.yaml). Approve and reject more items, then train again."
        )


class _Vocabulary:
    """The terms of one block, chosen on the training documents: those in at least
    ``min_df`` of them, the ``limit`` most frequent by document frequency."""

    def __init__(self, terms: list[str], idf: Any) -> None:
        self.terms = terms
        self.index = {t: i for i, t in enumerate(terms)}
        self.idf = idf


def _choose(dfs: Counter[str], n_docs: int, *, limit: int, min_df: int) -> _Vocabulary:
    import numpy as np

    kept = [(t, df) for t, df in dfs.items() if df >= min_df]
    kept.sort(key=lambda kv: (-kv[1], kv[0]))
    kept = sorted(kept[:limit])
    # scikit-learn's smooth idf: ln((1 + n) / (1 + df)) + 1.
    idf = np.log((1 + n_docs) / (1 + np.array([df for _, df in kept], dtype=float))) + 1.0
    return _Vocabulary([t for t, _ in kept], idf)


@dataclass(frozen=True)
class _Doc:
    """One example's tokens: words (in order), word features, meta features."""

    tokens: list[str]
    word: list[str]
    meta: list[str]


def _doc(ex: Example) -> _Doc:
    tokens = words(ex)
    return _Doc(tokens, word_features(tokens), meta_features(ex))


def _vocabularies(docs: Sequence[_Doc]) -> dict[str, _Vocabulary]:
    """Each block's vocabulary.  A character n-gram's document frequency is summed over
    the distinct words that hold it (a document with two such words counts twice): the
    n-grams of each distinct word of the whole corpus are cut once, which keeps training
    on 5,000 decisions within seconds."""
    word_df: Counter[str] = Counter()
    meta_df: Counter[str] = Counter()
    token_df: Counter[str] = Counter()
    for d in docs:
        word_df.update(set(d.word))
        meta_df.update(set(d.meta))
        token_df.update(set(d.tokens))
    char_df: Counter[str] = Counter()
    for token, df in token_df.items():
        for gram in set(char_grams(token)):
            char_df[gram] += df
    n = len(docs)
    return {
        "word": _choose(word_df, n, limit=MAX_FEATURES["word"], min_df=2),
        "char": _choose(char_df, n, limit=MAX_FEATURES["char"], min_df=2),
        "meta": _choose(meta_df, n, limit=MAX_FEATURES["meta"], min_df=1),
    }


class _Counter:
    """Turns documents into the ids of their in-vocabulary features, block by block.

    Character n-grams are those of the document's distinct words (a word said five times
    adds its n-grams once: the word features count repeats already), each word's looked up
    once per model."""

    def __init__(self, index: Mapping[str, Mapping[str, int]]) -> None:
        self.index = index
        self.words: dict[str, tuple[int, ...]] = {}

    def char_ids(self, word: str) -> tuple[int, ...]:
        ids = self.words.get(word)
        if ids is None:
            ids = tuple(j for j in map(self.index["char"].get, char_grams(word)) if j is not None)
            if len(self.words) > 200_000:  # a cache, not a second vocabulary
                self.words.clear()
            self.words[word] = ids
        return ids

    def ids(self, d: _Doc) -> dict[str, list[int]]:
        word, meta = self.index["word"], self.index["meta"]
        chars: list[int] = []
        for w in dict.fromkeys(d.tokens):
            chars += self.char_ids(w)
        return {
            "word": [j for f in d.word if (j := word.get(f)) is not None],
            "char": chars,
            "meta": [j for f in d.meta if (j := meta.get(f)) is not None],
        }


def _flatten(rows: Sequence[Sequence[int]]) -> tuple[Any, Any]:
    """(every id, the row it came from) as two int64 arrays."""
    import numpy as np

    buf = array("q")
    for r in rows:
        buf.extend(r)
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    flat = np.frombuffer(buf, dtype=np.int64) if len(buf) else np.zeros(0, dtype=np.int64)
    return flat, np.repeat(np.arange(len(rows), dtype=np.int64), lengths)


def _tfidf(rows: Sequence[Sequence[int]], idf: Any) -> Any:
    """The l2-normalised tf-idf matrix (scipy CSR) of documents given as feature ids."""
    import numpy as np
    from scipy.sparse import csr_matrix

    n_features = len(idf)
    flat, doc = _flatten(rows)
    keys, counts = np.unique(doc * max(n_features, 1) + flat, return_counts=True)
    r, c = keys // max(n_features, 1), keys % max(n_features, 1)
    values = counts * idf[c] if n_features else counts.astype(float)
    norms = np.sqrt(np.bincount(r, values * values, minlength=len(rows)))
    values = values / np.where(norms[r] > 0, norms[r], 1.0)
    return csr_matrix((values, (r, c)), shape=(len(rows), n_features))


def _matrix(docs: Sequence[_Doc], vocab: Mapping[str, _Vocabulary]) -> Any:
    from scipy.sparse import hstack

    counter = _Counter({b: v.index for b, v in vocab.items()})
    ids = [counter.ids(d) for d in docs]
    return hstack([_tfidf([i[b] for i in ids], vocab[b].idf) for b in _BLOCKS]).tocsr()


def _fit(docs: Sequence[_Doc], labels: Sequence[int]) -> tuple[dict[str, _Vocabulary], Any]:
    """Choose the vocabularies and fit the regression on them."""
    from sklearn.linear_model import LogisticRegression

    vocab = _vocabularies(docs)
    # The dual problem: many more features than examples (measured: 10-15 times faster).
    model = LogisticRegression(C=C, max_iter=2000, solver="liblinear", dual=True)
    model.fit(_matrix(docs, vocab), labels)
    return vocab, model


def cross_validate(docs: Sequence[_Doc], labels: Sequence[int]) -> Quality:
    """Out-of-fold probabilities from stratified folds (each fold chooses its own
    vocabularies); ROC AUC and average precision over all of them."""
    import numpy as np
    from sklearn.metrics import average_precision_score, roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(labels)
    folds = max(2, min(FOLDS, int(y.sum()), int(len(y) - y.sum())))
    predicted = np.zeros(len(y))
    for train_at, test_at in StratifiedKFold(folds, shuffle=True, random_state=0).split(y, y):
        vocab, model = _fit([docs[i] for i in train_at], y[train_at].tolist())
        matrix = _matrix([docs[i] for i in test_at], vocab)
        predicted[test_at] = model.predict_proba(matrix)[:, 1]
    return Quality(
        roc_auc=round(float(roc_auc_score(y, predicted)), 4),
        average_precision=round(float(average_precision_score(y, predicted)), 4),
        folds=folds,
        examples=len(y),
    )


def train(
    exs: Sequence[Example],
    *,
    now: datetime,
    min_examples: int = 40,
    min_each: int = 10,
    validate: bool = True,
) -> Trained:
    """Train on the labelled *exs*: the model as JSON data, and its cross-validated quality
    (skipped with ``validate=False``).  Imports scikit-learn: call it in a worker process
    from ``serve``.  Raises ModelError when there are not enough examples."""
    started = time.perf_counter()
    exs = [e for e in exs if e.label is not None]
    check_enough(exs, min_examples, min_each)
    docs = [_doc(e) for e in exs]
    labels = [int(e.label or 0) for e in exs]
    quality = cross_validate(docs, labels) if validate else None
    vocab, model = _fit(docs, labels)
    coef = model.coef_[0]
    blocks: dict[str, Any] = {}
    at = 0
    for block in _BLOCKS:
        v = vocab[block]
        n = len(v.terms)
        blocks[block] = {
            "terms": v.terms,
            "idf": [_round(x) for x in v.idf.tolist()],
            "coef": [_round(x) for x in coef[at : at + n].tolist()],
        }
        at += n
    doc = {
        "format": FORMAT,
        "trained_at": now.isoformat(),
        "examples": len(exs),
        "approved": sum(labels),
        "rejected": len(labels) - sum(labels),
        "decisions": decisions_key(exs),
        "intercept": _round(float(model.intercept_[0])),
        "settings": {**_settings(), "C": C},
        "quality": None if quality is None else quality_json(quality),
        "blocks": blocks,
    }
    return Trained(doc, quality, time.perf_counter() - started)


def evaluate(exs: Sequence[Example]) -> Quality:
    """The cross-validated quality of a model trained on *exs* (what :func:`train` measures
    with ``validate=True``), on its own: ``serve`` stores the model first, then measures."""
    exs = [e for e in exs if e.label is not None]
    return cross_validate([_doc(e) for e in exs], [int(e.label or 0) for e in exs])


def _settings() -> dict[str, Any]:
    """How features are cut: a model cut otherwise cannot be scored by this code."""
    return {
        "word_ngrams": list(WORD_NGRAMS),
        "char_ngrams": list(CHAR_NGRAMS),
        "max_text": MAX_TEXT,
        "token": _TOKEN.pattern,
    }


def _round(value: float) -> float:
    return float(f"{value:.6g}")


def quality_json(q: Quality) -> dict[str, Any]:
    return {
        "roc_auc": q.roc_auc,
        "average_precision": q.average_precision,
        "folds": q.folds,
        "examples": q.examples,
    }


# --------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class Contribution:
    """What one word (or phrase, source, term) added to an item's learned log-odds."""

    feature: str
    weight: float


@dataclass(frozen=True)
class Explanation:
    """An item's learned probability and the features that pushed it up and down."""

    probability: float
    up: tuple[Contribution, ...]
    down: tuple[Contribution, ...]


class _Block:
    """One block of a stored model: term -> index, and the idf and coefficient arrays."""

    def __init__(self, name: str, data: Any) -> None:
        import numpy as np

        def bad(what: str) -> ModelError:
            return ModelError(
                f"the stored model's block {name!r} {what}: train it again with "
                "`curator model train`"
            )

        if not isinstance(data, dict):
            raise bad("is not an object")
        terms, idf, coef = data.get("terms"), data.get("idf"), data.get("coef")
        if not (isinstance(terms, list) and isinstance(idf, list) and isinstance(coef, list)):
            raise bad("lacks terms, idf or coef")
        if not len(terms) == len(idf) == len(coef):
            raise bad("has lists of unequal length")
        if not all(type(t) is str for t in terms) or len(set(terms)) != len(terms):
            raise bad("has a term that is not text, or one twice")
        if not all(type(v) in (int, float) for v in (*idf, *coef)):
            raise bad("has a weight that is not a number")
        self.idf = np.array(idf, dtype=float)
        self.coef = np.array(coef, dtype=float)
        if not (np.isfinite(self.idf).all() and np.isfinite(self.coef).all()):
            raise bad("has a weight that is not finite")
        self.terms: list[str] = terms
        self.index = {t: i for i, t in enumerate(terms)}

    def values(self, rows: Sequence[Sequence[int]]) -> Any:
        """Each row's contribution to the log-odds: its l2-normalised tf-idf vector's dot
        product with the coefficients (vectorised over all rows)."""
        import numpy as np

        n, width = len(rows), max(len(self.terms), 1)
        flat, doc = _flatten(rows)
        if not len(flat):
            return np.zeros(n)
        keys, counts = np.unique(doc * width + flat, return_counts=True)
        r, c = keys // width, keys % width
        w = counts * self.idf[c]
        norms = np.sqrt(np.bincount(r, w * w, minlength=n))
        dots = np.bincount(r, w * self.coef[c], minlength=n)
        return np.divide(dots, norms, out=np.zeros(n), where=norms > 0)


class Scorer:
    """A stored model, ready to score items without scikit-learn (numpy only).

    Built from the JSON document :func:`train` made; raises ModelError for a document of
    another shape (a store written by a newer Curator, or damage that still parses).
    Scores are cached per item version, so a queue page scores only what is new.
    """

    def __init__(self, doc: Mapping[str, Any]) -> None:
        if not isinstance(doc, Mapping) or doc.get("format") != FORMAT:
            raise ModelError(
                f"the stored model is not in the format {FORMAT!r}: train it again with "
                "`curator model train`"
            )
        settings = doc.get("settings")
        if not isinstance(settings, Mapping) or any(
            settings.get(k) != v for k, v in _settings().items()
        ):
            raise ModelError(
                "the stored model cuts its features otherwise than this version of Curator: "
                "train it again with `curator model train`"
            )
        blocks = doc.get("blocks")
        if not isinstance(blocks, dict):
            raise ModelError("the stored model has no blocks: train it again")
        empty: dict[str, list[Any]] = {"terms": [], "idf": [], "coef": []}
        self.blocks = {b: _Block(b, blocks.get(b, empty)) for b in _BLOCKS}
        intercept = doc.get("intercept")
        if not isinstance(intercept, int | float) or not math.isfinite(intercept):
            raise ModelError("the stored model's intercept is not a number: train it again")
        self.intercept = float(intercept)
        self.trained_at = doc.get("trained_at") if isinstance(doc.get("trained_at"), str) else None
        examples, quality = doc.get("examples"), doc.get("quality")
        self.examples = examples if isinstance(examples, int) else None
        auc = quality.get("roc_auc") if isinstance(quality, Mapping) else None
        self.roc_auc = float(auc) if isinstance(auc, int | float) else None
        self._counter = _Counter({b: v.index for b, v in self.blocks.items()})
        # The character n-grams of every word the model knows, cut now: most words of the
        # items to score are among them, and a queue then costs lookups only.
        for term in self.blocks["word"].terms:
            if " " not in term:
                self._counter.char_ids(term)
        self._scores: dict[tuple[Any, ...], float] = {}
        self._explained: dict[tuple[Any, ...], Explanation] = {}

    @staticmethod
    def _key(item: Item) -> tuple[Any, ...]:
        return (item.id, len(item.history), item.sources[:1], item.title, item.summary_text)

    def log_odds(self, exs: Sequence[Example]) -> list[float]:
        import numpy as np

        ids = [self._counter.ids(_doc(e)) for e in exs]
        z = np.full(len(exs), self.intercept)
        for name, block in self.blocks.items():
            z += block.values([i[name] for i in ids])
        return [float(v) for v in z]

    def probabilities(self, items: Sequence[Item]) -> list[float]:
        """The probability that the editors approve each item (cached per item version)."""
        missing = {self._key(i): i for i in items if self._key(i) not in self._scores}
        if missing:
            if len(self._scores) + len(missing) > 200_000:
                self._scores.clear()
            found = self.log_odds([example(i) for i in missing.values()])
            for key, z in zip(missing, found, strict=True):
                self._scores[key] = _sigmoid(z)
        return [self._scores[self._key(i)] for i in items]

    def probability(self, item: Item) -> float:
        return self.probabilities([item])[0]

    def explain(self, item: Item, top: int = 5) -> Explanation:
        """The item's probability and the *top* words (or phrases, source, matched terms)
        that pushed it up and down, each with its share of the log-odds.  A word's share
        includes its character n-grams'.  Cached per item version, as scores are."""
        key = (*self._key(item), top)
        found = self._explained.get(key)
        if found is None:
            if len(self._explained) > 20_000:
                self._explained.clear()
            found = self._explained[key] = self._explain(item, top)
        return found

    def _explain(self, item: Item, top: int) -> Explanation:
        d = _doc(example(item))
        ids = self._counter.ids(d)
        by: dict[str, float] = {}
        z = self.intercept
        for name, block in self.blocks.items():
            counts = Counter(ids[name])
            w = {j: c * float(block.idf[j]) for j, c in counts.items()}
            norm = math.sqrt(sum(v * v for v in w.values()))
            if not norm:
                continue
            z += sum(v * float(block.coef[j]) for j, v in w.items()) / norm
            if name == "char":
                for token in dict.fromkeys(d.tokens):
                    share = sum(
                        float(block.idf[j] * block.coef[j]) for j in self._counter.char_ids(token)
                    )
                    by[token] = by.get(token, 0.0) + share / norm
            else:
                for j, v in w.items():
                    term = block.terms[j]
                    by[term] = by.get(term, 0.0) + v * float(block.coef[j]) / norm
        ranked = sorted(by.items(), key=lambda kv: (kv[1], kv[0]))
        up = tuple(Contribution(k, round(v, 3)) for k, v in reversed(ranked[-top:]) if v > 0)
        down = tuple(Contribution(k, round(v, 3)) for k, v in ranked[:top] if v < 0)
        return Explanation(_sigmoid(z), up, down)


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


# --------------------------------------------------------------------------- ranking


@dataclass(frozen=True)
class Ranked:
    """An item with its learned probability (None without a model) and its blended rank
    (0-1: higher first)."""

    item: Item
    learned: float | None
    rank: float


def rank_items(
    items: Sequence[Item],
    scorer: Scorer | None,
    *,
    blend: float,
    among: Sequence[float] | None = None,
) -> list[Ranked]:
    """Every item with its rank, best first (then newest, then by id).

    The rule score counts as its percentile among *items* (ties share one), so that it is on
    the same 0-1 scale as the probability whatever the rules' weights; the rank is
    ``blend * learned + (1 - blend) * percentile``.  Without a model the rank is the
    percentile alone: the order by score the queue always had.  *among* are the scores the
    percentile is taken among when *items* are only some of the listed ones (``curator
    items`` decodes only those it prints); by default the items' own."""
    percentile = percentiles([i.score for i in items] if among is None else among)
    probabilities = scorer.probabilities(items) if scorer is not None else [None] * len(items)
    out = []
    for item, learned in zip(items, probabilities, strict=True):
        rule = percentile.get(item.score, 0.0)
        rank = rule if learned is None else blend * learned + (1 - blend) * rule
        out.append(Ranked(item, None if learned is None else round(learned, 4), round(rank, 4)))
    out.sort(key=lambda r: (-r.rank, -r.item.published.timestamp(), r.item.id))
    return out


def percentiles(scores: Sequence[float]) -> dict[float, float]:
    """Each rule score's percentile among *scores* (0-1; ties share one): the rank an item
    has without a model, before rounding (:func:`rank_items`)."""
    n = len(scores)
    ordered = sorted(scores)
    percentile: dict[float, float] = {}
    if n:
        for s in set(ordered):
            below = bisect.bisect_left(ordered, s)
            ties = bisect.bisect_right(ordered, s) - below
            percentile[s] = (below + ties / 2) / n
    return percentile


def rank_key(ranked: Mapping[str, Ranked]) -> Callable[[Item], Any]:
    """A sort key for items ranked by :func:`rank_items` (best first, then newest)."""

    def key(item: Item) -> Any:
        found = ranked.get(item.id)
        return (-(found.rank if found else 0.0), -item.published.timestamp(), item.id)

    return key


# --------------------------------------------------------------------------- auto-reject


def auto_rejected(item: Item, probability: float, threshold: float, now: datetime) -> Item:
    """*item* rejected by the model, the probability in its history (undone like any
    decision: the history's change is the status only)."""
    note = (
        f"automatic: learned probability {probability:.3f} is below "
        f"rank.auto_reject_below {threshold:g}"
    )
    return replace(
        item,
        status="rejected",
        reviewed_by=MODEL_EDITOR,
        reviewed_at=now,
        history=(
            *item.history,
            Event(now, "rejected", MODEL_EDITOR, {"status": (item.status, "rejected")}, note),
        ),
        updated_at=now,
    )


def ever_by_model(item: Item) -> bool:
    """Whether the model decided on this item before: an item an editor brought back after
    an automatic rejection is left to the editors."""
    return any(e.by == MODEL_EDITOR for e in item.history)


__all__ = [
    "FORMAT",
    "MODEL_EDITOR",
    "Contribution",
    "Example",
    "Explanation",
    "Quality",
    "Ranked",
    "Scorer",
    "Trained",
    "auto_rejected",
    "by_model",
    "check_enough",
    "check_labels",
    "decisions_key",
    "evaluate",
    "ever_by_model",
    "example",
    "examples",
    "labels_key",
    "quality_json",
    "rank_items",
    "rank_key",
    "train",
]
