"""How the store writes Curator's dataclasses as JSON, and the shapes it accepts back.

Shared by both backends (a TinyDB file holds these documents; a PostgreSQL row holds one in a
``jsonb`` column), so an item copied from one to the other is the same document byte for
byte.  The codecs are derived from the dataclasses' type hints: a field added to
``curator/types.py`` is stored without touching this module, and a type it cannot store fails
at import, not later.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import types
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar, cast

from curator.types import (
    Candidate,
    DigestRecord,
    Entry,
    Event,
    Item,
    Match,
    NearMiss,
    SeenEntry,
    SourceState,
    User,
)

__all__ = [
    "ITEM_ID",
    "STAMP",
    "canonical_doc",
    "dataclass_codec",
    "dt_in",
    "dt_out",
    "from_json",
    "read_doc",
    "to_json",
]

T = TypeVar("T")

ITEM_ID = re.compile(r"[0-9a-f]{16}\Z")
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00\Z")  # what dt_out writes

Codec = Callable[[Any], Any]


def dt_out(value: datetime) -> str:
    if value.tzinfo is not UTC:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: the store keeps UTC-aware datetimes only")
        value = value.astimezone(UTC)
    # One fixed format (always microseconds, always +00:00) so stored stamps sort as strings.
    return value.isoformat(timespec="microseconds")


def dt_in(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO datetime string, got {value!r}")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"datetime without a time zone: {value!r}")
    return parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)


def _expect(kind: type[Any]) -> Codec:
    def check(value: Any) -> Any:
        if type(value) is not kind:
            raise ValueError(f"expected {kind.__name__}, got {value!r}")
        return value

    return check


def _str_in(value: Any) -> str:
    if type(value) is not str:
        raise ValueError(f"expected str, got {value!r}")
    # Short strings (source ids, terms, actions, names) repeat across thousands of items.
    return sys.intern(value) if len(value) <= 40 else value


def _float_in(value: Any) -> float:
    if type(value) not in (int, float):
        raise ValueError(f"expected a number, got {value!r}")
    return float(value)


def _optional(codec: Codec) -> Codec:
    if codec is _identity:
        return codec
    return lambda value: None if value is None else codec(value)


def _identity(value: Any) -> Any:
    return value


def _codecs(tp: Any) -> tuple[Codec, Codec]:
    """(encode, decode) for one annotated type."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is datetime:
        return dt_out, dt_in
    if tp is str:
        return _identity, _str_in
    if tp in (int, bool):
        return _identity, _expect(tp)
    if tp is float:
        return _identity, _float_in
    if tp is type(None):
        return _identity, _identity
    if origin is Literal:
        allowed = {a: a for a in args}

        def literal(value: Any) -> Any:
            try:
                return allowed[value]  # the one shared object, not the JSON parser's copy
            except (KeyError, TypeError):
                raise ValueError(f"expected one of {sorted(allowed)}, got {value!r}") from None

        return _identity, literal
    if origin in (types.UnionType, typing.Union):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            enc, dec = _codecs(rest[0])
            return _optional(enc), _optional(dec)
        raise TypeError(f"the store cannot serialise the union {tp!r}")
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            enc, dec = _codecs(args[0])

            def seq_in(value: Any) -> tuple[Any, ...]:
                if not isinstance(value, list):
                    raise ValueError(f"expected a list, got {value!r}")
                return tuple(map(dec, value))

            seq_dec: Codec = seq_in
            if args[0] is str or args[0] in _SHARED_TYPES:
                # ("google-news",), the rule matches: the same few tuples in most items.
                seq_dec = _shared(seq_in)
            return (list if enc is _identity else lambda value: list(map(enc, value))), seq_dec
        pairs = [_codecs(a) for a in args]

        def fixed_in(value: Any) -> tuple[Any, ...]:
            if not isinstance(value, list) or len(value) != len(pairs):
                raise ValueError(f"expected a list of {len(pairs)}, got {value!r}")
            return tuple(d(v) for (_, d), v in zip(pairs, value, strict=True))

        return (lambda value: [e(v) for (e, _), v in zip(pairs, value, strict=True)]), fixed_in
    if origin in (Mapping, dict):
        if args[0] is not str:
            raise TypeError(f"the store keeps mappings with str keys only, not {tp!r}")
        venc, vdec = _codecs(args[1])

        def map_in(value: Any) -> dict[str, Any]:
            if not isinstance(value, dict):
                raise ValueError(f"expected an object, got {value!r}")
            return {k: vdec(v) for k, v in value.items()}

        if venc is _identity:
            return dict, map_in
        return (lambda value: {k: venc(v) for k, v in value.items()}), map_in
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        codec = dataclass_codec(tp)
        return codec.encode, (_shared(codec.decode) if tp in _SHARED_TYPES else codec.decode)
    raise TypeError(f"the store cannot serialise {tp!r}")


#: Frozen values made of short scalars that recur across thousands of items (the keyword
#: rules' matches): decoded once, then shared by every item that holds an equal one.
_SHARED_TYPES: frozenset[type[Any]] = frozenset({Match})
_SHARED_MAX = 4096  # distinct values kept per decoder: bounded whatever the documents hold
_SHARED_LEN = 40  # a tuple of strings is shared only if each is this short (like _str_in)


def _shared(decode: Codec) -> Codec:
    """*decode*, returning one object for equal results instead of a copy each time.

    A memory measure for ``serve``'s decoded items (a tuple of two rule matches costs about
    400 bytes per item otherwise).  Only hashable, immutable values are shared, at most
    :data:`_SHARED_MAX` of them, and only tuples of short strings, so a feed with endless
    distinct authors or tags cannot grow the table's memory without bound.
    """
    known: dict[Any, Any] = {}

    def decode_shared(value: Any) -> Any:
        out = decode(value)
        found = known.get(out)
        if found is not None:
            return found
        if len(known) < _SHARED_MAX and _shareable(out):
            known[out] = out
        return out

    return decode_shared


def _shareable(value: Any) -> bool:
    if isinstance(value, tuple):
        return all(type(v) is not str or len(v) <= _SHARED_LEN for v in value)
    return True


#: Dataclasses decoded lean (see :meth:`_DataclassCodec.decode_lean`).
_LEAN_TYPES: frozenset[type[Any]] = frozenset({Item})


class _DataclassCodec:
    def __init__(self, cls: type[Any]) -> None:
        hints = typing.get_type_hints(cls)
        self.cls = cls
        self.fields: list[tuple[str, Codec, Codec, bool]] = []
        lean: list[tuple[str, Codec, Any, Any]] = []
        for f in dataclasses.fields(cls):
            enc, dec = _codecs(hints[f.name])
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            self.fields.append((f.name, enc, dec, required))
            lean.append((f.name, dec, f.default, f.default_factory))
        # Fast paths (a shard of 400 items is encoded on every commit of a warm server and
        # decoded on every load): copy the instance dict and convert only what needs it.
        self.convert = [(name, enc) for name, enc, _, _ in self.fields if enc is not _identity]
        self.decoders = [(name, dec) for name, _, dec, _ in self.fields]
        self.by_dict = "__slots__" not in cls.__dict__
        self.lean = lean if cls in _LEAN_TYPES and self.by_dict else None
        self.encoders = {name: enc for name, enc, _, _ in self.fields}
        # What a lean instance's absent attributes encode to, in field order (the class
        # attribute holds the default; required fields are always present).
        self.template = {
            name: None if default is dataclasses.MISSING else self.encoders[name](default)
            for name, _, default, _ in lean
        }

    def encode(self, obj: Any) -> dict[str, Any]:
        if self.by_dict:
            attrs = obj.__dict__
            if len(attrs) == len(self.fields):  # nothing but the fields (no cached attributes)
                out = dict(attrs)
                for name, enc in self.convert:
                    out[name] = enc(out[name])
                return out
            if self.lean is not None and attrs.keys() <= self.template.keys():
                out = dict(self.template)  # field order, as every other document
                encoders = self.encoders
                for name, value in attrs.items():
                    out[name] = encoders[name](value)
                return out
        return {name: enc(getattr(obj, name)) for name, enc, _, _ in self.fields}

    def decode(self, data: Any) -> Any:
        if self.lean is not None:
            return self.decode_lean(data)
        try:
            return self.cls(**{name: dec(data[name]) for name, dec in self.decoders})
        except (KeyError, ValueError, TypeError):
            return self._decode_slowly(data)  # defaults for missing keys; a precise message

    def decode_lean(self, data: Any) -> Any:
        """An instance whose ``__dict__`` holds only the fields that differ from their
        defaults; the others read the class attribute that ``dataclass`` leaves with the
        default, so the instance equals, hashes, prints, pickles and ``replace()``s as one
        made by ``__init__``.

        Why: CPython shares instance-dict keys only up to 30 attributes, so each of Item's
        37 fields costs a full dict of about 1.6 KB per item; a typical stored item has 15
        to 20 fields set (about 0.5 KB), and ``serve`` keeps every item decoded.  Values
        equal within one item (``url`` and ``canonical_url``, ``published`` and
        ``first_seen``) are kept once.  Same checks and messages as the ordinary decode.
        """
        if not isinstance(data, dict):
            raise ValueError(f"expected an object for {self.cls.__name__}, got {data!r}")
        assert self.lean is not None
        attrs: dict[str, Any] = {}
        same: dict[Any, Any] = {}
        for name, dec, default, factory in self.lean:
            try:
                raw = data[name]
            except KeyError:
                if factory is not dataclasses.MISSING:
                    attrs[name] = factory()
                elif default is dataclasses.MISSING:
                    raise ValueError(f"{self.cls.__name__} without {name!r}") from None
                continue
            try:
                value = dec(raw)
            except (ValueError, TypeError) as e:
                raise ValueError(f"{name}: {e}") from None
            if value is default or (type(value) is type(default) and value == default):
                continue
            if type(value) is str or type(value) is datetime:
                value = same.setdefault(value, value)
            attrs[name] = value
        obj = object.__new__(self.cls)
        object.__setattr__(obj, "__dict__", attrs)
        return obj

    def _decode_slowly(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError(f"expected an object for {self.cls.__name__}, got {data!r}")
        kwargs: dict[str, Any] = {}
        for name, _, dec, required in self.fields:
            try:
                value = data[name]
            except KeyError:
                if required:
                    raise ValueError(f"{self.cls.__name__} without {name!r}") from None
                continue
            try:
                kwargs[name] = dec(value)
            except ValueError as e:
                raise ValueError(f"{name}: {e}") from None
        # Keys this version does not know (written by a newer one) are ignored.
        return self.cls(**kwargs)


_CODECS: dict[type[Any], _DataclassCodec] = {}


def dataclass_codec(cls: type[Any]) -> _DataclassCodec:
    codec = _CODECS.get(cls)
    if codec is None:
        codec = _CODECS[cls] = _DataclassCodec(cls)
    return codec


_Storable = Item | SourceState | User | DigestRecord | Event | Match | NearMiss
ITEM = dataclass_codec(Item)
STATE = dataclass_codec(SourceState)
USER = dataclass_codec(User)
DIGEST = dataclass_codec(DigestRecord)
NEAR = dataclass_codec(NearMiss)
SEEN = dataclass_codec(SeenEntry)
dataclass_codec(Candidate)
dataclass_codec(Entry)
dataclass_codec(Event)
dataclass_codec(Match)


def to_json(value: _Storable) -> dict[str, Any]:
    """The JSON object the store writes for *value* (datetimes as ISO 8601 UTC strings).

    Raises ValueError for a naive datetime: the store never guesses a time zone.
    """
    return dataclass_codec(type(value)).encode(value)


def from_json(cls: type[T], data: Mapping[str, Any]) -> T:
    """The inverse of :func:`to_json`; ValueError when *data* does not have *cls*'s shape."""
    return cast(T, dataclass_codec(cls).decode(dict(data)))


# Document checks: what a loaded document must look like before it is trusted.


def no_check(key: str, doc: Any) -> None:
    pass


def check_item_doc(key: str, doc: Any) -> None:
    if not ITEM_ID.match(key):
        raise ValueError(f"{key!r} is not an item id")


def check_title_doc(key: str, doc: Any) -> None:
    if not isinstance(doc.get("id"), str):
        raise ValueError(f"title {key!r} has no item id")
    stamp = doc.get("first_seen")
    if not isinstance(stamp, str) or not STAMP.match(stamp):
        raise ValueError(f"title {key!r}: first_seen is not an ISO datetime as dt_out writes")


def check_alias_doc(key: str, doc: Any) -> None:
    if not ITEM_ID.match(key) or not ITEM_ID.match(str(doc.get("id"))):
        raise ValueError(f"alias {key!r} does not map an item id to an item id")


def check_research_id_doc(key: str, doc: Any) -> None:
    if not key.startswith(("doi:", "arxiv:")) or not ITEM_ID.match(str(doc.get("id"))):
        raise ValueError(f"research id {key!r} does not map a DOI or arXiv id to an item id")


def check_research_cache_doc(key: str, doc: Any) -> None:
    stamp = doc.get("at")
    if not isinstance(stamp, str) or not STAMP.match(stamp) or type(doc.get("ok")) is not bool:
        raise ValueError(f"research look-up {key!r} has no time or outcome")


def check_near_doc(key: str, doc: Any) -> None:
    if not ITEM_ID.match(key):
        raise ValueError(f"near miss {key!r} is not keyed by an item id")


def check_seen_doc(key: str, doc: Any) -> None:
    if not ITEM_ID.match(key):
        raise ValueError(f"kept entry {key!r} is not keyed by an item id")
    stamp = doc.get("seen_at")
    if not isinstance(stamp, str) or not STAMP.match(stamp):
        raise ValueError(f"kept entry {key!r}: seen_at is not an ISO datetime as dt_out writes")


def check_meta_doc(key: str, doc: Any) -> None:
    if "value" not in doc:
        raise ValueError(f"meta {key!r} has no value")


def check_model_doc(key: str, doc: Any) -> None:
    if key != "current" or not isinstance(doc.get("blocks"), dict):
        raise ValueError(f"model {key!r} is not the current model with its blocks")


def check_count_doc(key: str, doc: Any) -> None:
    if not re.fullmatch(r"[0-9a-f]{2}", key) or type(doc.get("items")) is not int:
        raise ValueError(f"shard count {key!r} is not a shard name with a whole number of items")


# Whole tables, backend-neutral: what `curator store copy` moves between stores.

#: The dataclass each table's documents decode to; the other tables hold plain JSON data.
TABLE_CLASSES: dict[str, type[Any]] = {
    "items": Item,
    "sources": SourceState,
    "users": User,
    "digests": DigestRecord,
    "near_misses": NearMiss,
    "seen": SeenEntry,
}


def check_secret_doc(key: str, doc: Any) -> None:
    value = doc.get("value")
    if key != "session" or not isinstance(value, str):
        raise ValueError(f"secret {key!r} is not the session key")
    if len(value) < 32 or not value.isascii() or any(c.isspace() for c in value):
        raise ValueError("the session key must be at least 32 printable ASCII characters")


#: The check a read makes of each table's documents before trusting them.
TABLE_CHECKS: dict[str, Callable[[str, Any], None]] = {
    "items": check_item_doc,
    "aliases": check_alias_doc,
    "titles": check_title_doc,
    "research_ids": check_research_id_doc,
    "research_cache": check_research_cache_doc,
    "sources": no_check,
    "users": no_check,
    "digests": no_check,
    "near_misses": check_near_doc,
    "seen": check_seen_doc,
    "meta": check_meta_doc,
    "model": check_model_doc,
    "secret": check_secret_doc,
}


def read_doc(table: str, key: Any, doc: Any) -> Any:
    """The value a document of *table* stands for: its dataclass (an Item, a SourceState…)
    or, for the plain tables, a copy of its JSON data; ValueError saying what is wrong
    (the same checks a read makes: a backend loading another's documents trusts nothing)."""
    check = TABLE_CHECKS.get(table)
    if check is None:
        raise ValueError(f"no table {table!r} (the tables are {', '.join(TABLE_CHECKS)})")
    if type(key) is not str or not key:
        raise ValueError(f"{table}: the key {key!r} is not a non-empty string")
    if not isinstance(doc, dict):
        raise ValueError(f"{table} {key!r} is not an object")
    check(key, doc)
    cls = TABLE_CLASSES.get(table)
    if cls is None:
        try:  # a copy that is JSON data and nothing else (no NaN, no tuples, str keys)
            return json.loads(json.dumps(doc, allow_nan=False))
        except (TypeError, ValueError) as e:
            raise ValueError(f"{table} {key!r} is not JSON data: {e}") from None
    try:
        value = dataclass_codec(cls).decode(doc)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{table} {key!r}: {e}") from None
    if table == "items" and value.id != key:
        raise ValueError(f"item {key} has the id {value.id!r}")
    return value


def canonical_doc(table: str, key: Any, doc: Any) -> dict[str, Any]:
    """*doc* as the codecs write it (dataclasses decoded and encoded again, so two backends
    holding the same data dump the same bytes); ValueError as :func:`read_doc`."""
    value = read_doc(table, key, doc)
    cls = TABLE_CLASSES.get(table)
    return dataclass_codec(cls).encode(value) if cls is not None else cast(dict[str, Any], value)


def json_value(value: Any, what: str) -> Any:
    """A copy of *value* that is JSON data and nothing else (str keys, no NaN, no tuples):
    what every backend stores for meta values, look-ups and the model.  TypeError starting
    with *what* otherwise."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise TypeError(f"{what}: {e}") from e
