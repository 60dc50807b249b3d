"""Load and validate ``feeds.yaml``.

Everything an editor may change lives in that file and is checked once, here, at load: a bad
file yields one :class:`~curator.exceptions.Problem` per mistake, each naming the file, the line
and the key, so that ``curator check`` can list them all at once.  Secrets never live here; they
come from the environment (see README).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    FiniteFloat,
    ValidationError,
    field_validator,
    model_validator,
)

from curator.exceptions import ConfigError, Problem
from curator.types import DEFAULT_JURISDICTION, Category, PublisherClass

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
ID_PATTERN = _ID  # what a source id must look like (OPML import derives ids to fit it)
#: A jurisdiction: a short upper-case code, ISO 3166 style ("UK", "US", "EU", "GB-SCT", "INT").
JURISDICTION_CODE = re.compile(r"^[A-Z]{2,3}(-[A-Z0-9]{1,3})?$")


#: The longest duration accepted (100 years): anything longer is a typo, and a date that far
#: off overflows the calendar (``datetime`` ends in the year 9999).
MAX_DURATION = 100 * 365 * 86400.0
#: The largest size accepted (1 TB).
MAX_SIZE = 1024**4


def _checked_duration(seconds: float) -> float:
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError("a duration must be a positive number, such as 30m, 6h or 1d")
    if seconds > MAX_DURATION:
        raise ValueError("a duration must be at most 100 years (36500d)")
    return seconds


def parse_duration(value: object) -> float:
    """``"30m"`` → 1800.0 seconds. Accepts s, m, h, d, w; a bare number means seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30m, 6h or 1d")
    if isinstance(value, int | float):
        return _checked_duration(float(value))
    if isinstance(value, str):
        m = _DURATION.match(value.lower())
        if m:
            return _checked_duration(float(m.group(1)) * _UNITS[m.group(2)])
    raise ValueError(f"expected a duration such as 30m, 6h or 1d, not {value!r}")


def parse_size(value: object) -> int:
    """``"10MB"`` → 10485760 bytes."""
    size: float | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str):
        m = _SIZE.match(value)
        if m:
            size = float(m.group(1)) * _SIZE_UNITS[(m.group(2) or "b").lower()]
    if size is None or not math.isfinite(size) or size < 1:
        raise ValueError(f"expected a size such as 10MB or 512KB, not {value!r}")
    if size > MAX_SIZE:
        raise ValueError(f"a size must be at most 1TB, not {value!r}")
    return int(size)


def _parse_delay(value: object) -> float:
    if value in (0, "0", "0s"):
        return 0.0
    return parse_duration(value)


Duration = Annotated[float, BeforeValidator(parse_duration)]
Delay = Annotated[float, BeforeValidator(_parse_delay)]  # a duration that may be zero
Size = Annotated[int, BeforeValidator(parse_size)]


def _check_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in value:
        raise ValueError(f"expected an absolute http:// or https:// URL, not {value!r}")
    return value


HttpUrl = Annotated[str, BeforeValidator(lambda v: _check_http_url(v) if isinstance(v, str) else v)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FetchSettings(_Model):
    """How politely and how hard we poll."""

    user_agent: str = (
        "Curator/{version} (news and research curator for a police CCTV working group)"
    )
    contact: str | None = None  # appended to the User-Agent: an e-mail or URL to reach us
    timeout: Duration = 30.0  # whole request, including the body
    connect_timeout: Duration = 10.0
    read_timeout: Duration = 20.0
    max_body: Size = 10 * 1024 * 1024
    max_redirects: int = Field(5, ge=0, le=20)
    concurrency: int = Field(100, ge=1, le=500)
    per_host: int = Field(2, ge=1, le=20)
    default_interval: Duration = 3600.0
    max_backoff: Duration = 86400.0
    max_entries: int = Field(200, ge=1, le=100_000)  # per document; the rest are ignored
    parse_timeout: Duration = 30.0  # per document: parse, normalize and match, in a worker
    jitter: Delay = 60.0
    allow_private_urls: bool = False  # let "add a link by hand" fetch private/loopback hosts


class SourceRules(_Model):
    """Per-source changes to the global rules."""

    keep_all: bool = False  # keep every entry (a journal that is all on-topic)
    min_score: FiniteFloat | None = None
    require: list[str] | None = None  # group names from rules.groups; replaces the default
    include: dict[str, FiniteFloat] = Field(default_factory=dict)  # extra terms and weights
    exclude: list[str] = Field(default_factory=list)  # extra exclusions


class Rules(_Model):
    """The keyword rules. Terms are case-insensitive whole words; ``*`` ends a word freely
    (``camera*``); a phrase matches across spaces and hyphens.  A term with a negative weight
    scores an entry down (kept only if it still reaches ``min_score``); a term in ``exclude``
    drops the entry whatever else it matched."""

    min_score: FiniteFloat = 3.0
    title_boost: FiniteFloat = 2.0  # a match in the title counts this many times
    include: dict[str, FiniteFloat] = Field(default_factory=dict)
    exclude: list[str] = Field(default_factory=list)
    groups: dict[str, list[str]] = Field(default_factory=dict)
    require: list[str] = Field(default_factory=list)  # groups every entry needs one term of

    @field_validator("include")
    @classmethod
    def _weights(cls, v: dict[str, float]) -> dict[str, float]:
        for term in v:
            if not term.strip():
                raise ValueError("a term must not be empty")
        return v

    @model_validator(mode="after")
    def _known_groups(self) -> Rules:
        for name in self.require:
            if name not in self.groups:
                raise ValueError(
                    f"require names group {name!r}, which rules.groups does not define"
                )
        return self


SourceKind = Literal["feed", "page", "crossref", "arxiv"]


class Source(_Model):
    """One polled source."""

    id: str
    name: str
    url: HttpUrl
    kind: SourceKind = "feed"
    category: Category = "news"
    interval: Duration | None = None
    enabled: bool = True
    rules: SourceRules = Field(default_factory=SourceRules)
    selector: str | None = None  # for kind: page, a CSS selector for the article links
    homepage: HttpUrl | None = None
    # Added by sources (issue 12): who publishes it (the YAML key is ``class``, a Python
    # keyword, hence the alias) and where (a short code; the working group is British).
    publisher_class: PublisherClass | None = Field(None, alias="class")
    jurisdiction: str = DEFAULT_JURISDICTION

    @field_validator("jurisdiction")
    @classmethod
    def _jurisdiction(cls, v: str) -> str:
        code = v.strip().upper()
        if not JURISDICTION_CODE.match(code):
            raise ValueError(
                f"expected a short code such as UK, US, EU or GB-SCT for the jurisdiction, "
                f"not {v!r}"
            )
        return code

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError(
                f"{v!r} is not a usable id: use lower-case letters, digits, '-' or '_' (at most 63)"
            )
        return v

    @field_validator("selector")
    @classmethod
    def _selector(cls, v: str | None) -> str | None:
        if v is not None:
            import soupsieve

            try:
                soupsieve.compile(v)
            except soupsieve.SelectorSyntaxError as e:
                first_line = e.args[0].splitlines()[0]
                raise ValueError(f"not a usable CSS selector: {first_line}") from None
        return v

    def config_hash(self) -> str:
        """Changes whenever the source's configuration does; clears a 410 'gone' mark."""
        # Who publishes it says nothing about how it is fetched: left out, so that classifying
        # sources does not clear their marks.
        fetched = self.model_dump(mode="json", exclude={"publisher_class", "jurisdiction"})
        blob = json.dumps(fetched, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


class Smtp(_Model):
    host: str = "localhost"
    port: int = Field(25, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "none"
    username: str | None = None
    timeout: Duration = 30.0


class Digest(_Model):
    """The weekly digest. The SMTP password comes only from ``CURATOR_SMTP_PASSWORD``."""

    enabled: bool = True
    day: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] = (
        "monday"
    )
    time: str = "08:00"
    timezone: str = "Europe/London"
    sender: str = "CCTV news and research <links@example.org>"
    reply_to: str | None = None
    recipients: list[str] = Field(default_factory=list)
    recipients_file: str | None = None  # one address a line; '#' starts a comment
    editors: list[str] = Field(default_factory=list)  # who gets the editors' weekly note
    subject: str = "CCTV in policing: news and research, {start:%-d %b} to {end:%-d %b %Y}"
    intro: str = "The links our editors picked this week on CCTV in policing."
    empty_week: Literal["skip", "send"] = "skip"
    list_id: str = "cctv-links.example.org"
    unsubscribe: str | None = None  # mailto: address for List-Unsubscribe
    silent_days: int = Field(14, ge=1, le=3650)  # editors' note: sources silent longer
    # Added by digest (issue 4): how long a digest keeps being retried for the recipients the
    # server has not accepted yet; older ones are left as they stand (see `digest list`).
    retry_days: int = Field(7, ge=1, le=3650)
    smtp: Smtp = Field(default_factory=Smtp)

    @field_validator("time")
    @classmethod
    def _time(cls, v: str) -> str:
        if not re.match(r"^([01]\d|2[0-3]):[0-5]\d$", v):
            raise ValueError(f"expected a time as HH:MM (24-hour), not {v!r}")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {v!r}; use an IANA name such as Europe/London"
            ) from None
        return v


class Publish(_Model):
    title: str = "CCTV in policing: news and research"
    description: str = "Links on CCTV in policing, chosen by the working group's editors."
    base_url: str = "http://127.0.0.1:8080"  # where `curator serve` is reached from outside
    site_url: str | None = None  # the website the list appears on
    limit: int = Field(50, ge=1, le=1000)
    max_age: Duration = 365 * 86400.0
    out_dir: str | None = None  # static export refreshed after each change
    cache_seconds: int = Field(300, ge=0, le=31_536_000)
    # Added by publish (issue 5):
    author: str | None = None  # who the feeds name as author; the title when unset
    language: str = "en"  # RFC 5646 tag for the feeds and the embed page
    export_url: HttpUrl | None = None  # where out_dir is served; the exported feeds' self links

    @field_validator("language")
    @classmethod
    def _language(cls, v: str) -> str:
        if not re.match(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$", v):
            raise ValueError(f"expected a language tag such as en or en-GB, not {v!r}")
        return v


class Web(_Model):
    session_days: int = Field(14, ge=1, le=3650)
    page_size: int = Field(50, ge=5, le=500)
    # Mark the session cookie Secure even when the request looks like plain http (a proxy
    # that terminates https without passing X-Forwarded-Proto). Over https it always is.
    secure_cookies: bool = False
    # Failed sign-ins allowed within signin_window: per account from one address (then that
    # address is locked out of that account), per address (any names), and per account from
    # every address together (past it, attempts are paced, never locked: web/_account.py).
    signin_attempts: int = Field(5, ge=1, le=1000)
    signin_attempts_per_address: int = Field(20, ge=1, le=10000)
    signin_attempts_per_account: int = Field(100, ge=1, le=100000)
    signin_window: Duration = 900.0
    # The largest request body accepted, before anything parses it.
    max_body: Size = Field(256 * 1024, ge=1024, le=64 * 1024 * 1024)


class StoreSettings(_Model):
    """The ``store:`` section (store engineer's): how many daily backups ``serve`` keeps in
    ``<store>/backups/`` (0: none), and how long every polled entry is kept, matched or not,
    for trying rule changes on (``keep_seen``; 0: none)."""

    backups: int = Field(7, ge=0, le=366)
    keep_seen: Delay = 30 * 86400.0


class ResearchSettings(_Model):
    """The ``research:`` section (issue 12): looking up research items' metadata on their
    landing pages and at Crossref, politely and at most ``per_run`` look-ups a run."""

    enrich: bool = True  # after each poll that stored research items
    crossref_url: HttpUrl = "https://api.crossref.org"  # tests point it at a local server
    per_run: int = Field(20, ge=1, le=1000)  # network look-ups per run, pages and Crossref
    retry_failed: Duration = 7 * 86400.0  # a failed look-up is tried again after this
    max_page: Size = Field(2 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    timeout: Duration = 20.0  # whole request
    host_delay: Delay = 1.0  # pause between two look-ups on one host


class Stories(_Model):
    """The ``stories:`` section: when two outlets' entries whose links and titles differ are
    grouped as one story (README, "Same story, one item").  ``threshold`` is the word
    similarity (Jaccard, 0-1) of title + lead that two entries published within a day need;
    each further day apart asks 0.05 more, and nothing older than ``window`` is compared."""

    enabled: bool = True
    window: Duration = Field(14 * 86400.0, ge=3600.0, le=90 * 86400.0)
    threshold: float = Field(0.3, gt=0.0, le=1.0)


class RankSettings(_Model):
    """The ``rank:`` section: the learned ranking (:mod:`curator.learn`).

    A model is trained once the editors have made ``min_examples`` decisions, at least
    ``min_each`` of them approvals and as many rejections.  The queue's order is ``blend``
    times the learned probability plus the rest times the rule score's percentile (0: rules
    only; 1: the model only).  ``auto_reject_below`` (off unless set) rejects pending items
    whose probability is below it, recorded as the model's decision and undoable."""

    min_examples: int = Field(40, ge=2, le=1_000_000)
    min_each: int = Field(10, ge=2, le=1_000_000)  # cross-validation needs 2 of each
    blend: float = Field(0.7, ge=0.0, le=1.0)
    auto_reject_below: float | None = Field(None, gt=0.0, lt=1.0)

    @model_validator(mode="after")
    def _each_within_all(self) -> RankSettings:
        if 2 * self.min_each > self.min_examples:
            raise ValueError(
                f"min_each ({self.min_each}) of each kind needs min_examples of at least "
                f"{2 * self.min_each}, not {self.min_examples}"
            )
        return self


class Config(_Model):
    """The whole of feeds.yaml."""

    fetch: FetchSettings = Field(default_factory=FetchSettings)
    rules: Rules = Field(default_factory=Rules)
    sources: list[Source] = Field(default_factory=list)
    digest: Digest = Field(default_factory=Digest)
    publish: Publish = Field(default_factory=Publish)
    web: Web = Field(default_factory=Web)
    store: StoreSettings = Field(default_factory=StoreSettings)
    research: ResearchSettings = Field(default_factory=ResearchSettings)
    stories: Stories = Field(default_factory=Stories)
    rank: RankSettings = Field(default_factory=RankSettings)
    path: str = Field("feeds.yaml", exclude=True)

    def source(self, source_id: str) -> Source | None:
        return next((s for s in self.sources if s.id == source_id), None)


def served_at(config: Config, host: str, port: int) -> Config:
    """``config`` as ``curator serve --host --port`` runs it: a ``publish.base_url`` left at
    its default follows the address served (``--port 8000`` → ``http://127.0.0.1:8000``;
    every interface, ``0.0.0.0``, keeps 127.0.0.1); one the file sets is kept as it is."""
    if "base_url" in config.publish.model_fields_set:
        return config
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    publish = config.publish.model_copy(update={"base_url": f"http://{shown}:{port}"})
    return config.model_copy(update={"publish": publish})


@dataclass(frozen=True)
class ConfigStatus:
    """What ``curator serve`` made of the last reading of its configuration file.

    ``problems`` non-empty: the file was refused and the configuration loaded at
    ``loaded_at`` still runs.  ``restart_needed``: keys that changed in the file but are only
    read when ``serve`` starts (see README, "Changing feeds.yaml while serve runs")."""

    path: str
    loaded_at: datetime
    checked_at: datetime
    problems: tuple[Problem, ...] = ()
    restart_needed: tuple[str, ...] = ()


# --------------------------------------------------------------------------- loading


class _LineLoader(yaml.SafeLoader):
    """A safe loader that also remembers the line of every key, for error messages."""


#: libyaml's parser (PyYAML's C extension) when it is there: it reads a 500-source file about
#: ten times as fast as the pure-Python one, which every command pays for at start-up.  A text
#: it refuses is read again by the pure-Python parser, whose messages are the ones reported.
_FAST_LOADER: type[Any] | None = getattr(yaml, "CSafeLoader", None)


def _compose(text: str) -> yaml.Node | None:
    """The YAML node tree of ``text`` (None for an empty document)."""
    if _FAST_LOADER is not None:
        try:
            return yaml.compose(text, Loader=_FAST_LOADER)
        except yaml.YAMLError:
            pass  # refused: the pure-Python parser below says where and why, as before
    return yaml.compose(text, Loader=_LineLoader)


#: The most values a file may expand to.  Aliases let a few lines stand for millions of values
#: ("billion laughs"); a real feeds.yaml holds a few thousand.
MAX_VALUES = 100_000


class _Unusable(Exception):
    """Valid YAML that cannot be a configuration: the line and what to do (internal)."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(line, message)
        self.line = line
        self.message = message


class _Builder:
    """YAML nodes → Python values, noting the line of every key (``lines``)."""

    def __init__(self) -> None:
        self.lines: dict[tuple[Any, ...], int] = {}
        self._count = 0
        self._open: set[int] = set()  # nodes being built: an alias to one of them is a loop
        self._scalars = _LineLoader("")

    def build(self, node: yaml.Node, path: tuple[Any, ...]) -> Any:
        line = node.start_mark.line + 1
        self.lines.setdefault(path, line)
        self._count += 1
        if self._count > MAX_VALUES:
            raise _Unusable(
                line,
                f"the file expands to more than {MAX_VALUES:,} values "
                "(through aliases?); write the values out",
            )
        if id(node) in self._open:
            raise _Unusable(line, "an alias (*name) refers to a value that contains it")
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            self._open.add(id(node))
            try:
                return self._collection(node, path)
            finally:
                self._open.discard(id(node))
        try:
            return self._scalars.construct_object(node, deep=True)
        except (ValueError, TypeError, OverflowError) as e:  # e.g. "!!float x"
            raise _Unusable(line, f"the value {node.value!r} cannot be read ({e})") from None

    def _collection(self, node: yaml.MappingNode | yaml.SequenceNode, path: tuple[Any, ...]) -> Any:
        if isinstance(node, yaml.SequenceNode):
            return [self.build(v, (*path, i)) for i, v in enumerate(node.value)]
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise _Unusable(line, "a key must be a plain name, not a list or a mapping")
            key = key_node.value
            child = (*path, key)
            self.lines[child] = line
            if key in out:
                self.lines[(*path, key, "__duplicate__")] = line
            out[key] = self.build(value_node, child)
        return out


def _read(text: str, name: str) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """The YAML in ``text`` as Python values and the line of each key; ConfigError (with the
    line where it can be known) for text that is not YAML or cannot be a configuration."""
    builder = _Builder()
    try:
        node = _compose(text)
        return ({} if node is None else builder.build(node, ())), builder.lines
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        line = mark.line + 1 if mark is not None else None
        problem = Problem(name, line, "", f"not valid YAML: {e.problem}")
    except yaml.reader.ReaderError as e:  # a character YAML does not allow
        line = text.count("\n", 0, e.position) + 1
        code = e.character if isinstance(e.character, int) else ord(e.character)
        problem = Problem(
            name, line, "", f"not valid YAML: the character U+{code:04X} is not allowed"
        )
    except yaml.YAMLError as e:
        problem = Problem(name, None, "", f"not valid YAML: {e}")
    except _Unusable as e:
        problem = Problem(name, e.line, "", e.message)
    except RecursionError:
        problem = Problem(name, None, "", "the YAML is nested too deeply to be a configuration")
    raise ConfigError([problem])


def _line_for(loc: tuple[Any, ...], lines: Mapping[tuple[Any, ...], int]) -> int | None:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def _key_name(loc: tuple[Any, ...], data: Any) -> str:
    parts: list[str] = []
    node = data
    for part in loc:
        if isinstance(part, int):
            label = f"[{part}]"
            if isinstance(node, list) and part < len(node) and isinstance(node[part], dict):
                sid = node[part].get("id")
                if isinstance(sid, str):
                    label = f"[{part}] (id {sid})"
            parts.append(label)
            node = node[part] if isinstance(node, list) and part < len(node) else None
        else:
            parts.append(("." if parts else "") + str(part))
            node = node.get(part) if isinstance(node, dict) else None
    return "".join(parts)


def load(path: str | Path) -> Config:
    """Read and validate a configuration file. Raises ConfigError listing every problem."""
    p = Path(path)
    name = str(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [Problem(name, None, "", "no such file; pass --config PATH or set CURATOR_CONFIG")]
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([Problem(name, None, "", f"cannot read it: {e}")]) from None
    return loads(text, name)


def loads(text: str, name: str = "feeds.yaml") -> Config:
    """Validate configuration text; ``name`` is used in messages."""
    data, lines = _read(text, name)
    if not isinstance(data, dict):
        raise ConfigError(
            [Problem(name, 1, "", "expected a mapping of sections (sources:, rules:…)")]
        )

    problems: list[Problem] = []
    for loc, line in lines.items():
        if loc and loc[-1] == "__duplicate__":
            problems.append(
                Problem(name, line, _key_name(loc[:-1], data), "this key appears twice; keep one")
            )
    problems += _cross_checks(data, name, lines)
    try:
        config = Config.model_validate({**data, "path": name})
    except ValidationError as e:
        for err in e.errors():
            loc = tuple(err["loc"])
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown key; check its spelling against the README"
            elif msg.startswith("Value error, "):
                msg = msg[len("Value error, ") :]
            elif err["type"] == "literal_error":
                msg = f"{msg}, not {err.get('input')!r}"
            elif err["type"] == "missing":
                msg = "this key is required"
            elif err["type"] == "string_type" and isinstance(err.get("input"), bool):
                msg += " (YAML reads unquoted yes/no/on/off as true/false: quote the value)"
            problems.append(Problem(name, _line_for(loc, lines), _key_name(loc, data), msg))
    if problems:
        # In file order, so that an editor can work down the file.
        problems.sort(key=lambda p: (p.line or 0, p.key))
        raise ConfigError(problems)
    return config


def _cross_checks(
    data: dict[str, Any], name: str, lines: Mapping[tuple[Any, ...], int]
) -> list[Problem]:
    """Checks across entries (duplicate ids, groups named but not defined), made on the raw
    data so that they are reported together with every other mistake, not after them."""
    problems: list[Problem] = []
    sources = data.get("sources")
    rules = data.get("rules")
    groups = rules.get("groups") if isinstance(rules, dict) else None
    known = set(groups) if isinstance(groups, dict) else set()
    if not isinstance(sources, list):
        return problems
    seen: dict[str, int] = {}
    for i, source in enumerate(sources):
        if not isinstance(source, dict):
            continue
        sid = source.get("id")
        if isinstance(sid, str):
            if sid in seen:
                problems.append(
                    Problem(
                        name,
                        lines.get(("sources", i, "id")),
                        f"sources[{i}].id",
                        f"duplicate source id {sid!r} (first used by sources[{seen[sid]}])",
                    )
                )
            seen.setdefault(sid, i)
        source_rules = source.get("rules")
        require = source_rules.get("require") if isinstance(source_rules, dict) else None
        for g in require if isinstance(require, list) else []:
            if isinstance(g, str) and g not in known:
                problems.append(
                    Problem(
                        name,
                        lines.get(("sources", i, "rules", "require")),
                        f"sources[{i}].rules.require",
                        f"names group {g!r}, which rules.groups does not define",
                    )
                )
    return problems
