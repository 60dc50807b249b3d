"""Keyword rules: which entries become candidates, with a score and a reason an editor can read.

A term is matched case-insensitively as whole words; ``*`` stands for any further letters or
digits (``camera*``); inside a phrase a space or hyphen matches any run of spaces and hyphens
(``body-worn video`` = ``body worn video``), except that a hyphen next to a digit matches a
hyphen or nothing (``cctv-13`` = ``CCTV-13`` and ``CCTV13``, not ``CCTV 13,000``).  Where
matches overlap only the longest counts, so a phrase's weight is the whole of what it is
worth (``release cctv: -3`` replaces the ``+3`` of ``cctv``) and overlapping phrases do not
pile up (``police appeal`` and ``appeal for`` in "police appeal for witnesses").

Speed matters because a first poll matches every entry of every feed.  An alternation of a few
hundred terms costs about 3 ms per 2 KB of text in :mod:`re` (each alternative is tried at each
position), so each set of terms is compiled into one pattern shaped like a trie of its
characters, run once over the lower-cased text: about 50 µs for the same text.  The pattern is
a lookahead anchored at word starts, so overlapping terms are all seen; an empty named group at
the end of each term tells which one matched.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from curator import config
from curator.exceptions import ConfigError, Problem
from curator.types import Candidate, Entry, Field, Match

__all__ = [
    "MAX_COUNT",
    "Assessment",
    "CompiledRules",
    "assess",
    "check",
    "compile_rules",
    "highlight",
    "match",
    "near_miss",
    "terms_found",
]

#: A term counts at most this many times per field, so a summary repeating "CCTV" ten times
#: does not outscore one that names CCTV, ANPR and the code of practice.
MAX_COUNT = 3
#: The longest term accepted; longer ones are surely a paste mistake.
MAX_TERM = 200

_DASHES = "\\-\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
_SEPARATOR = re.compile(rf"[\s{_DASHES}]+")
_SEP_RE = rf"[\s{_DASHES}]+"
_EDGES = re.compile(rf"^[\s{_DASHES}]+|[\s{_DASHES}]+$")
_OPT_DASH_RE = rf"[{_DASHES}]?"
# Curly and modifier apostrophes read as "'" so that a term written "police's" matches both.
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})
_APOSTROPHE_CHARS = ("\u2019", "\u2018", "\u02bc")

# Trie tokens: a single character stands for itself; these longer strings are special.
_SEP = "<sep>"  # any run of whitespace or hyphens
_OPT_DASH = "<-?>"  # a hyphen or nothing (a hyphen next to a digit)
_STAR = "<*>"  # any further word characters
_SPECIAL_RE = {_SEP: _SEP_RE, _OPT_DASH: _OPT_DASH_RE, _STAR: r"\w*"}
# Alternatives are tried in this order: literal characters first, so that a longer phrase is
# preferred to a term that a wildcard or an optional hyphen lets end early.
_ORDER = {_SEP: 1, _STAR: 2, _OPT_DASH: 3}

_LIST_LIMIT = 6  # terms shown per field in ``why``
_MET_LIMIT = 3  # terms shown per required group in ``why``


# --------------------------------------------------------------------------------------------
# Compiling


@functools.lru_cache(maxsize=16384)  # check() meets every global term once per source
def _term_tokens(term: str) -> tuple[str, ...]:
    """The tokens of a term, or ValueError saying why it cannot be one."""
    text = _EDGES.sub("", term.lower().translate(_APOSTROPHES))
    if not any(ch.isalnum() for ch in text):
        raise ValueError(f"term {term!r} has no letter or digit")
    if len(text) > MAX_TERM:
        raise ValueError(f"term {term[:40]!r}… is longer than {MAX_TERM} characters")
    tokens: list[str] = []
    pos = 0
    for sep in _SEPARATOR.finditer(text):
        tokens += _word_tokens(text[pos : sep.start()])
        before, after = text[sep.start() - 1], text[sep.end()]
        hyphen_only = not any(ch.isspace() for ch in sep.group())
        if hyphen_only and (before.isdigit() or after.isdigit()):
            tokens.append(_OPT_DASH)
        else:
            tokens.append(_SEP)
        pos = sep.end()
    tokens += _word_tokens(text[pos:])
    # Each "*" before the end of a word lets the pattern backtrack over that word; two in
    # one word would make a long word cost its length squared.
    for word in _SEPARATOR.split(text):
        if word.rstrip("*").count("*") > 1:
            raise ValueError(f"term {term!r}: a word may hold '*' only once before its end")
    return tuple(tokens)


def _word_tokens(word: str) -> list[str]:
    out: list[str] = []
    for ch in word:
        if ch == "*":
            if not out or out[-1] != _STAR:
                out.append(_STAR)
        else:
            out.append(ch)
    return out


class _Node:
    __slots__ = ("children", "ends")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.ends: int | None = None  # index of the term that ends here


def _token_re(token: str) -> str:
    return _SPECIAL_RE.get(token) or re.escape(token)


def _node_re(node: _Node, last: str, names: list[int]) -> str:
    """The pattern for the subtree at *node*; *last* is the token that led to it."""
    alternatives = [
        _token_re(token) + _node_re(child, token, names)
        for token, child in sorted(node.children.items(), key=lambda kv: _ORDER.get(kv[0], 0))
    ]
    if node.ends is not None:
        words_end = last == _STAR or bool(re.match(r"\w", last))
        alternatives.append(("(?!\\w)" if words_end else "") + f"(?P<t{len(names)}>)")
        names.append(node.ends)
    if len(alternatives) == 1:
        return alternatives[0]
    return "(?:" + "|".join(alternatives) + ")"


@dataclass(frozen=True)
class _TermSet:
    """Terms compiled into one pattern; ``find`` gives (start, end, term index) per match."""

    pattern: re.Pattern[str]
    # The same pattern under re.ASCII, about a tenth faster: on printable ASCII text \w and
    # \s mean the same either way (\s's extra ASCII members, \x1c-\x1f, are not printable).
    ascii_pattern: re.Pattern[str]
    terms: tuple[str, ...]  # as written in the rules
    keys: tuple[tuple[str, ...], ...]  # token sequences, to tell when two terms are the same
    key_set: frozenset[tuple[str, ...]]
    weights: tuple[float, ...]
    by_group: tuple[int, ...]  # regex group number -> term index

    @classmethod
    def build(cls, terms: Mapping[tuple[str, ...], tuple[str, float]]) -> _TermSet | None:
        if not terms:
            return None
        root = _Node()
        for i, key in enumerate(terms):
            node = root
            for token in key:
                node = node.children.setdefault(token, _Node())
            node.ends = i
        names: list[int] = []
        pattern = re.compile(r"(?<!\w)(?=" + _node_re(root, "", names) + ")")
        by_group = [-1] * (pattern.groups + 1)
        for name, number in pattern.groupindex.items():
            by_group[number] = names[int(name[1:])]
        return cls(
            pattern=pattern,
            ascii_pattern=re.compile(pattern.pattern, re.ASCII),
            terms=tuple(t for t, _ in terms.values()),
            keys=tuple(terms),
            key_set=frozenset(terms),
            weights=tuple(w for _, w in terms.values()),
            by_group=tuple(by_group),
        )

    def _for(self, folded: str) -> re.Pattern[str]:
        return self.ascii_pattern if folded.isascii() and folded.isprintable() else self.pattern

    def occurs(self, folded: str) -> bool:
        return self._for(folded).search(folded) is not None

    def find(self, folded: str) -> list[tuple[int, int, int]]:
        out = []
        for m in self._for(folded).finditer(folded):
            group = m.lastindex or 0
            out.append((m.start(), m.end(group), self.by_group[group]))
        return out


@dataclass(frozen=True)
class CompiledRules:
    """The global rules with one source's changes applied, ready to run.  Build it with
    :func:`compile_rules`, once per source (it is cached on the rules' values)."""

    keep_all: bool
    min_score: float
    title_boost: float
    require: tuple[str, ...]
    _include: _TermSet | None = field(repr=False)
    _exclude: _TermSet | None = field(repr=False)
    _groups: tuple[tuple[str, _TermSet | None], ...] = field(repr=False)


def compile_rules(rules: config.Rules, source: config.SourceRules | None = None) -> CompiledRules:
    """Compile *rules* with *source*'s changes: its ``include`` adds terms (or re-weights one
    already there), its ``exclude`` adds exclusions, ``require`` replaces the default list,
    ``min_score`` replaces the default, ``keep_all`` keeps every entry.

    Raises :class:`ConfigError` for a term that cannot match anything; :func:`check` reports
    those for a whole configuration, with the key they sit under.
    """
    source = source or config.SourceRules()
    return _compile(_Key(rules, source))


class _Key:
    """Rules and source rules, hashed and compared by value (pydantic models holding dicts
    are not hashable), so that sources with the same rules share one compiled copy."""

    __slots__ = ("rules", "source", "value")

    def __init__(self, rules: config.Rules, source: config.SourceRules) -> None:
        self.rules = rules
        self.source = source
        self.value = (rules.model_dump_json(), source.model_dump_json())

    def __hash__(self) -> int:
        return hash(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Key) and other.value == self.value


@functools.lru_cache(maxsize=64)
def _compile(key: _Key) -> CompiledRules:
    rules, source = key.rules, key.source
    problems = _problems(rules, source, file="feeds.yaml", where="rules", source_where="rules")
    if problems:
        raise ConfigError(problems)
    include = _terms({**rules.include, **source.include})
    exclude = _terms(dict.fromkeys([*rules.exclude, *source.exclude], 0.0))
    require = tuple(source.require if source.require is not None else rules.require)
    unknown = [g for g in require if g not in rules.groups]
    if unknown:
        raise ConfigError(
            [Problem("feeds.yaml", None, "rules.require", f"no group named {g!r}") for g in unknown]
        )
    groups = tuple(
        (name, _TermSet.build(_terms(dict.fromkeys(rules.groups[name], 0.0)))) for name in require
    )
    return CompiledRules(
        keep_all=source.keep_all,
        min_score=source.min_score if source.min_score is not None else rules.min_score,
        title_boost=rules.title_boost,
        require=require,
        _include=_TermSet.build(include),
        _exclude=_TermSet.build(exclude),
        _groups=groups,
    )


def _terms(weights: Mapping[str, float]) -> dict[tuple[str, ...], tuple[str, float]]:
    """Terms keyed by their tokens; a later spelling of the same term wins (a source's
    ``include`` re-weights a global term even when written ``body worn`` for ``body-worn``)."""
    out: dict[tuple[str, ...], tuple[str, float]] = {}
    for term, weight in weights.items():
        key = _term_tokens(term)
        out.pop(key, None)
        out[key] = (term.strip(), float(weight))
    return out


def _problems(
    rules: config.Rules, source: config.SourceRules, *, file: str, where: str, source_where: str
) -> list[Problem]:
    return [
        *_rules_problems(rules, file=file, where=where),
        *_source_problems(source, file=file, source_where=source_where),
    ]


def _term_problems(file: str, key: str, values: Iterable[str]) -> list[Problem]:
    problems: list[Problem] = []
    for term in values:
        try:
            _term_tokens(term)
        except ValueError as e:
            problems.append(Problem(file, None, key, str(e)))
    return problems


def _weight_problems(file: str, key: str, values: Mapping[str, float]) -> list[Problem]:
    return [
        Problem(file, None, key, f"weight of {term!r} must be a number")
        for term, weight in values.items()
        if not math.isfinite(weight)
    ]


def _rules_problems(rules: config.Rules, *, file: str, where: str) -> list[Problem]:
    problems = [
        *_term_problems(file, f"{where}.include", rules.include),
        *_weight_problems(file, f"{where}.include", rules.include),
        *_term_problems(file, f"{where}.exclude", rules.exclude),
    ]
    for name, members in rules.groups.items():
        problems += _term_problems(file, f"{where}.groups.{name}", members)
    for key, value in (
        (f"{where}.min_score", rules.min_score),
        (f"{where}.title_boost", rules.title_boost),
    ):
        if value is not None and not math.isfinite(value):
            problems.append(Problem(file, None, key, "must be a number"))
    return problems


def _source_problems(source: config.SourceRules, *, file: str, source_where: str) -> list[Problem]:
    """One source's own rules (checked apart from the global ones, which every source shares:
    checking those once instead of once a source takes `curator items` 20 ms less at 500)."""
    problems: list[Problem] = []
    if source.min_score is not None and not math.isfinite(source.min_score):
        problems.append(Problem(file, None, f"{source_where}.min_score", "must be a number"))
    return [
        *problems,
        *_term_problems(file, f"{source_where}.include", source.include),
        *_weight_problems(file, f"{source_where}.include", source.include),
        *_term_problems(file, f"{source_where}.exclude", source.exclude),
    ]


def check(cfg: config.Config) -> list[Problem]:
    """Every term in *cfg* that cannot match (no letter or digit, absurdly long), every weight
    that is not a number and every empty group, each with the key it sits under; for
    ``curator check`` (``config.load`` cannot call it: this module imports config)."""
    problems = _problems(
        cfg.rules, config.SourceRules(), file=cfg.path, where="rules", source_where="rules"
    )
    for name, members in cfg.rules.groups.items():
        if not members:
            problems.append(
                Problem(
                    cfg.path,
                    None,
                    f"rules.groups.{name}",
                    "the group is empty: nothing can satisfy it",
                )
            )
    for i, source in enumerate(cfg.sources):
        problems += _source_problems(
            source.rules, file=cfg.path, source_where=f"sources[{i}] (id {source.id}).rules"
        )
    return problems


def terms_found(terms: Iterable[str], texts: Iterable[str]) -> set[str]:
    """The *terms* (as given) that occur in any of *texts*, each looked for on its own.

    The same word rules as matching (whole words, ``*``, phrases), but no overlap rule: a
    term inside a longer one that scored in its place still counts (``cctv`` in "CCTV
    network").  That is the question the editors' note asks: did this term find anything?
    A term that cannot match (see :func:`check`) is never found.
    """
    pending: dict[str, _TermSet] = {}
    for term in terms:
        try:
            built = _TermSet.build({_term_tokens(term): (term, 0.0)})
        except ValueError:
            continue
        if built is not None:
            pending[term] = built
    found: set[str] = set()
    for text in texts:
        if not pending:
            break
        folded = _fold(text)
        for term in [t for t, terms_ in pending.items() if terms_.occurs(folded)]:
            found.add(term)
            del pending[term]
    return found


# --------------------------------------------------------------------------------------------
# Matching


def _fold(text: str) -> str:
    """Lower-cased, apostrophes unified, same length as *text* (offsets carry over)."""
    folded = text.lower()
    if len(folded) != len(text):  # e.g. "İ" lower-cases to two characters
        folded = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    if not folded.isascii() and any(a in folded for a in _APOSTROPHE_CHARS):
        folded = folded.translate(_APOSTROPHES)
    return folded


def _outermost(hits: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Where hits overlap, keep the longest (the earliest among equals) and drop every hit
    overlapping a kept one.  *hits* come sorted by start, one per start."""
    out: list[tuple[int, int, int]] = []
    cluster: list[tuple[int, int, int]] = []
    reach = -1
    for hit in [*hits, (_NEVER, _NEVER, -1)]:
        if hit[0] < reach:
            cluster.append(hit)
            reach = max(reach, hit[1])
            continue
        if len(cluster) == 1:
            out += cluster
        elif cluster:
            kept: list[tuple[int, int, int]] = []
            for h in sorted(cluster, key=lambda h: (h[0] - h[1], h[0])):
                if all(h[1] <= k[0] or k[1] <= h[0] for k in kept):
                    kept.append(h)
            out += sorted(kept)
        cluster = [hit]
        reach = hit[1]
    return out


_NEVER = 1 << 62


@dataclass
class _Found:
    """One term seen in one field: how often, where first, and as what text."""

    term: str
    weight: float
    count: int
    first: int
    surface: str
    key: tuple[str, ...]


def _surface(text: str, start: int, end: int) -> str:
    return " ".join(text[start:end].split())


def _collect(hits: Sequence[tuple[int, int, int]], terms: _TermSet, text: str) -> dict[int, _Found]:
    found: dict[int, _Found] = {}
    for start, end, index in hits:
        seen = found.get(index)
        if seen is None:
            found[index] = _Found(
                terms.terms[index],
                terms.weights[index],
                1,
                start,
                _surface(text, start, end),
                terms.keys[index],
            )
        else:
            seen.count += 1
    return found


@dataclass(frozen=True)
class Assessment:
    """Everything the rules concluded about one entry, kept or not: for ``match`` and for
    showing an editor why an entry was left out."""

    kept: bool
    score: float
    matches: tuple[Match, ...]
    why: str
    excluded: tuple[str, ...] = ()  # exclusion terms found, as written in the entry
    missing: tuple[str, ...] = ()  # required groups with no term in the entry
    kept_by: Literal["rules", "keep_all", None] = None


def assess(entry: Entry, rules: CompiledRules) -> Assessment:
    """Score *entry* against *rules* and say whether it is kept, and why, in one sentence."""
    result = _assess(entry, rules, explain=True)
    assert result is not None
    return result


@dataclass
class _Field:
    name: Field
    text: str
    folded: str
    spans: list[tuple[int, int, int]]  # included terms, outermost only
    found: list[_Found]  # included terms, in order of first appearance


def _scan(
    texts: Sequence[tuple[Field, str]], folds: Sequence[str], rules: CompiledRules
) -> tuple[list[_Field], float]:
    """The included terms found in each field, and the score they make."""
    fields: list[_Field] = []
    score = 0.0
    for (name, text), folded in zip(texts, folds, strict=True):
        spans: list[tuple[int, int, int]] = []
        found: list[_Found] = []
        if rules._include is not None and text:
            spans = _outermost(rules._include.find(folded))
            found = sorted(_collect(spans, rules._include, text).values(), key=lambda f: f.first)
        boost = rules.title_boost if name == "title" else 1.0
        score += sum(f.weight * min(f.count, MAX_COUNT) * boost for f in found)
        fields.append(_Field(name, text, folded, spans, found))
    return fields, round(score, 6) + 0.0  # no "-0"


def _assess(
    entry: Entry,
    rules: CompiledRules,
    *,
    explain: bool,
    scanned: tuple[list[str], list[_Field], float] | None = None,
) -> Assessment | None:
    """The assessment; None instead when not *explain* and the entry is surely dropped.

    Dropping is decided cheapest test first: a required group with no term in the entry, or
    an exclusion in it, drops it whatever it scores, and one ``search`` tells either; only
    entries that pass those are scanned for every included term and scored.  Most entries of
    a first poll go no further than the group test.
    """
    texts: tuple[tuple[Field, str], ...] = (("title", entry.title), ("summary", entry.summary_text))
    folds = [_fold(text) for _, text in texts] if scanned is None else scanned[0]
    # Required groups' hits per field, found once: the test below and the explanation use them.
    group_hits: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
    if not explain and not rules.keep_all:
        for g, (_, terms) in enumerate(rules._groups):
            if terms is None:
                return None
            found_any = False
            for i, (_, text) in enumerate(texts):
                if text:
                    hits = group_hits[g, i] = terms.find(folds[i])
                    found_any = found_any or bool(hits)
            if not found_any:
                return None
        if rules._exclude is not None and any(rules._exclude.occurs(f) for f in folds):
            return None
    fields, score = _scan(texts, folds, rules) if scanned is None else scanned[1:]
    if not explain and not rules.keep_all and score < rules.min_score:
        return None

    matches: list[Match] = []
    listed: dict[Field, list[_Found]] = {"title": [], "summary": []}
    down: list[_Found] = []
    excluded: list[str] = []
    satisfied: set[str] = set()
    met: dict[str, list[str]] = {group: [] for group in rules.require}
    context: list[_Found] = []
    include_keys = rules._include.key_set if rules._include is not None else frozenset()
    # Not explaining and not keep_all, the entry got here because no exclusion occurs in it.
    exclusions = rules._exclude if explain or rules.keep_all else None
    for i, fld in enumerate(fields):
        if not fld.text:
            continue
        if exclusions is not None:
            for start, end, _ in _outermost(exclusions.find(fld.folded)):
                excluded.append(_surface(fld.text, start, end))
        # Terms of required groups that score nothing are still shown ("title: CCTV, police"),
        # unless they sit inside an included term already shown ("police drones").
        extra: dict[tuple[str, ...], _Found] = {}
        for g, (group, terms) in enumerate(rules._groups):
            if terms is None:
                continue
            found_hits = group_hits.get((g, i))
            hits = _outermost(terms.find(fld.folded) if found_hits is None else found_hits)
            if hits:
                satisfied.add(group)
                met[group] += [_surface(fld.text, s, e) for s, e, _ in hits]
            alone = [h for h in hits if not any(s <= h[0] and h[1] <= e for s, e, _ in fld.spans)]
            for f in _collect(alone, terms, fld.text).values():
                f.weight = 0.0
                if f.key not in include_keys and f.key not in extra:
                    extra[f.key] = f
        for f in sorted([*fld.found, *extra.values()], key=lambda f: f.first):
            matches.append(Match(f.term, fld.name, f.count, f.weight))
            if f.weight < 0:
                down.append(f)
            elif f.weight == 0:
                context.append(f)
            else:
                listed[fld.name].append(f)

    missing = tuple(g for g in rules.require if g not in satisfied)
    reasons = []
    if excluded:
        reasons.append("excluded: " + _quoted(excluded))
    if missing:
        reasons.append("no term from " + ", ".join(f"'{g}'" for g in missing))
    if score < rules.min_score:
        reasons.append(f"score below {rules.min_score:g}")
    passes = not reasons
    kept = passes or rules.keep_all
    if not explain and not kept:
        return None

    parts = []
    if not passes and rules.keep_all:
        parts.append("kept because this source keeps every entry (else " + "; ".join(reasons) + ")")
    elif not passes:
        parts.append("dropped (" + "; ".join(reasons) + ")")
    # The terms that met each required group come first: they decide whether the entry is
    # here at all, and a long listing below must not hide them behind "and 2 more".
    if any(met.values()):
        parts.append(
            "met "
            + "; ".join(
                f"{group}: " + _listing(terms, limit=_MET_LIMIT)
                for group, terms in met.items()
                if terms
            )
        )
    for name, _ in texts:
        if listed[name]:
            parts.append(f"{name}: " + _listing(f.surface for f in listed[name]))
    if context:
        parts.append("context only: " + _listing(f.surface for f in context))
    if down:
        parts.append("scored down: " + _quoted(f.surface for f in down))
    if len(parts) == (0 if passes else 1):
        parts.append("no terms matched")
    return Assessment(
        kept=kept,
        score=score,
        matches=tuple(matches),
        why=" · ".join(parts) + f" (score {score:g}, needs {rules.min_score:g})",
        excluded=tuple(_unique(excluded)),
        missing=missing,
        kept_by=("rules" if passes else "keep_all") if kept else None,
    )


def _unique(values: Iterable[str]) -> list[str]:
    seen: dict[str, str] = {}
    for v in values:
        seen.setdefault(v.casefold(), v)
    return list(seen.values())


def _listing(values: Iterable[str], quote: str = "", limit: int = _LIST_LIMIT) -> str:
    unique = _unique(values)
    shown = ", ".join(f"{quote}{v}{quote}" for v in unique[:limit])
    if len(unique) > limit:
        shown += f" and {len(unique) - limit} more"
    return shown


def _quoted(values: Iterable[str]) -> str:
    return _listing(values, quote="'")


def match(entry: Entry, rules: CompiledRules) -> Candidate | None:
    """The entry as a candidate for the editor, or None when the rules leave it out."""
    result = _assess(entry, rules, explain=False)
    if result is None:
        return None
    return Candidate(entry=entry, score=result.score, matches=result.matches, why=result.why)


def near_miss(entry: Entry, rules: CompiledRules) -> Assessment | None:
    """The assessment of an entry the rules left out ONLY for lacking a term from a required
    group: it scored at least ``min_score`` (and above 0) and holds no exclusion.  None for
    any other entry, kept or dropped.  For an entry :func:`match` dropped; the editor sees
    these as near misses.

    The score alone is tested first: most entries the rules drop score too little (six in
    seven of the news2023 stream), and then cost one scan for included terms and no more.
    """
    if rules.keep_all or not rules.require:
        return None
    texts: tuple[tuple[Field, str], ...] = (("title", entry.title), ("summary", entry.summary_text))
    folds = [_fold(text) for _, text in texts]
    fields, score = _scan(texts, folds, rules)
    if score < rules.min_score or score <= 0:
        return None
    if rules._exclude is not None and any(rules._exclude.occurs(f) for f in folds):
        return None
    result = _assess(entry, rules, explain=True, scanned=(folds, fields, score))
    assert result is not None
    if result.kept or not result.missing or result.excluded:
        return None
    return result


def highlight(text: str, rules: CompiledRules) -> list[tuple[str, bool]]:
    """*text* cut into chunks, each flagged True when it is a term of the rules (included,
    scored down, excluded or from a required group), for the web UI to mark.  Joining the
    chunks gives *text* back."""
    if not text:
        return []
    folded = _fold(text)
    spans: list[tuple[int, int]] = []
    for terms in (rules._include, rules._exclude, *(t for _, t in rules._groups)):
        if terms is not None:
            spans += [(s, e) for s, e, _ in terms.find(folded)]
    spans.sort()
    chunks: list[tuple[str, bool]] = []
    pos = 0
    start = end = -1
    for s, e in [*spans, (len(text) + 1, len(text) + 1)]:
        if s <= end:
            end = max(end, e)
            continue
        if end > start:
            if start > pos:
                chunks.append((text[pos:start], False))
            chunks.append((text[start:end], True))
            pos = end
        start, end = s, e
    if pos < len(text):
        chunks.append((text[pos:], False))
    return chunks
