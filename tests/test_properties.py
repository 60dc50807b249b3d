"""Property-based tests (hypothesis): hostile input ends in a value or a clear error, never in
another exception, and the invariants the later stages rely on hold for any input.

Deterministic by default (``derandomize``: the same examples on every run, so CI cannot be
flaky) and quick (a modest ``max_examples``, no deadline on a shared machine).  To explore
further: ``HYPOTHESIS_PROFILE=explore pytest tests/test_properties.py`` (random, 20× more).
"""

from __future__ import annotations

import os
import re
import string
import time
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from feedparser.datetimes import _parse_date as feedparser_parse_date
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from curator import config, match, normalize
from curator.exceptions import ConfigError
from curator.parse import _common, fast
from curator.types import Entry, RawEntry

settings.register_profile(
    "curator",
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "explore", max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "curator"))

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)

#: Characters that must never leave normalize (see curator.normalize._INVISIBLE_CLASS).
FORBIDDEN = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\u200b\u202a-\u202e\u2060-\u2064"
    "\u2066-\u206f\ufdd0-\ufdef\ufeff\ufff9-\ufffb\ufffe\uffff\ud800-\udfff]"
)
NASTY = [
    "\x00", "\x1b", "\x07", "\x7f", "\x9b", "\u202e", "\u202a", "\u2066", "\u2069", "\ufeff",
    "\ufffe", "\u200b", "\u2060", "\ud83d", "\u200d", "\u200e", "\u0085", "\u2028", "\t",
    "\n", "\r", " ", "&", ";", "<", ">", '"', "'", "#", "?", "=", "%", "/", ":", "@", "[", "]",
    "é", "ß", "İ", "中", "👩\u200d💻", "\U0001fffe",
]  # fmt: skip
nasty_text = st.lists(
    st.one_of(st.sampled_from(NASTY), st.characters(codec="utf-8"), st.characters()),
    max_size=40,
).map("".join)


# --------------------------------------------------------------------------- config


def _outcome(text: str) -> config.Config | ConfigError:
    try:
        return config.loads(text, "my.yaml")
    except ConfigError as e:
        return e


def _check_problems(e: ConfigError, text: str) -> None:
    assert e.problems, "a ConfigError must say what is wrong"
    last_line = len(re.split("\r\n|[\n\r\x85\u2028\u2029]", text))  # YAML's line breaks
    for p in e.problems:
        assert p.file == "my.yaml" and str(p).startswith("my.yaml")
        assert p.message.strip()
        assert p.line is None or 1 <= p.line <= last_line
    assert str(e).startswith("my.yaml")


@given(st.text(max_size=300))
def test_any_text_is_a_config_or_a_config_error(text: str) -> None:
    result = _outcome(text)
    if isinstance(result, ConfigError):
        _check_problems(result, text)


YAML_SNIPPETS = [
    "sources:", "rules:", "fetch:", "digest:", "publish:", "web:", "include:", "groups:",
    "  - ", "    ", "id: a", "url: https://example.org/f", "name: N", "interval: 1h",
    "timeout: .nan", "max_body: 1e400", "min_score: .inf", "&a ", "*a", "[", "]", "{", "}",
    ": ", "? ", "!!float x", "!!binary x", "'", '"', "\t", "#", "---", "...", "%YAML 1.1",
    "cctv: 3", "require: [cameras]", "day: funday", "time: '25:00'", "timezone: Mars/Base",
    "1e999", "-1", "0", "yes", "~", "\n", "\n  ", ",", "|", ">",
]  # fmt: skip


@given(st.lists(st.sampled_from(YAML_SNIPPETS) | st.text(max_size=5), max_size=40))
def test_yaml_shaped_text_is_a_config_or_a_config_error(parts: list[str]) -> None:
    text = "".join(parts)
    result = _outcome(text)
    if isinstance(result, ConfigError):
        _check_problems(result, text)


FEEDS_YAML = (ROOT / "feeds.yaml").read_text(encoding="utf-8")


@settings(max_examples=40)
@given(st.data())
def test_the_bundled_config_damaged_anywhere_is_a_config_or_a_config_error(
    data: st.DataObject,
) -> None:
    """The real feeds.yaml with a few characters cut or inserted somewhere."""
    text = FEEDS_YAML
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 12))
        insert = data.draw(st.sampled_from(YAML_SNIPPETS) | st.text(max_size=3))
        text = text[:at] + insert + text[at + cut :]
    result = _outcome(text)
    if isinstance(result, ConfigError):
        _check_problems(result, text)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["30m", "1d", "0s", "10MB", "-5h", "1e400s", "monday", "08:00", "http://x"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
KEYS = {
    "fetch": ["timeout", "max_body", "concurrency", "jitter", "max_backoff", "user_agent"],
    "rules": ["min_score", "title_boost", "include", "exclude", "groups", "require"],
    "digest": ["day", "time", "timezone", "recipients", "silent_days", "smtp", "subject"],
    "publish": ["limit", "max_age", "base_url", "language", "cache_seconds"],
    "web": ["session_days", "page_size", "signin_window"],
}
SOURCE_KEYS = ["id", "name", "url", "kind", "category", "interval", "rules", "selector"]


@st.composite
def configs(draw: st.DrawFn) -> dict[str, object]:
    data: dict[str, object] = {}
    for section in draw(st.lists(st.sampled_from([*KEYS, "sources", "bogus"]), unique=True)):
        if section == "sources":
            data["sources"] = draw(
                st.lists(st.dictionaries(st.sampled_from(SOURCE_KEYS), values), max_size=3)
            )
        else:
            names = KEYS.get(section, ["x"])
            data[section] = draw(st.dictionaries(st.sampled_from(names), values, max_size=4))
    return data


@given(configs())
def test_structured_configs_name_the_line_of_each_problem(data: dict[str, object]) -> None:
    text = yaml.safe_dump(data, allow_unicode=True)
    result = _outcome(text)
    if isinstance(result, config.Config):
        return
    _check_problems(result, text)
    for p in result.problems:
        assert p.line is not None, p  # the data is a mapping: every key has a line


# --------------------------------------------------------------------------- URLs

URL_PARTS = st.fixed_dictionaries(
    {
        "scheme": st.sampled_from(["http", "https", "HTTP", "HtTpS", "ftp", "javascript", ""]),
        "host": st.sampled_from(
            [
                "example.org",
                "Example.ORG.",
                "www.google.com",
                "news.google.com",
                "duckduckgo.com",
                "bücher.de",
                "[::1]",
                "127.0.0.1",
                "exa\u202emple.org",
                "",
            ]
        ),
        "port": st.sampled_from(["", ":80", ":443", ":8080", ":x"]),
        "path": nasty_text.map(lambda s: "/" + s),
        "query": st.lists(
            st.tuples(
                st.sampled_from(["utm_source", "UTM_Medium", "fbclid", "id", "q", "url", "xtor"])
                | st.text(max_size=5),
                nasty_text,
            ),
            max_size=4,
        ),
        "fragment": st.sampled_from(
            [
                "",
                "#",
                "#top",
                "#comments",
                "#a080605",
                "#:~:text=x",
                "#s:~:text=y",
                "#!/r",
                "#xtor=RSS-8",
                "#tk.rss_all",
                "#x=1&utm_source=y",
            ]
        )
        | nasty_text.map(lambda s: "#" + s),
    }
)


def _url(parts: dict[str, object]) -> str:
    query = "&".join(f"{k}={v}" for k, v in parts["query"])  # type: ignore[attr-defined]
    scheme = f"{parts['scheme']}://" if parts["scheme"] else ""
    return (
        f"{scheme}{parts['host']}{parts['port']}{parts['path']}"
        + (f"?{query}" if query else "")
        + str(parts["fragment"])
    )


urls = URL_PARTS.map(_url) | nasty_text


@given(urls)
def test_canonical_url_is_idempotent_and_clean(url: str) -> None:
    canonical = normalize.canonical_url(url)
    assert normalize.canonical_url(canonical) == canonical
    assert not FORBIDDEN.search(canonical) or canonical == url.strip()
    if canonical.startswith(("http://", "https://")) and urlsplit(canonical).query:
        keys = [p.partition("=")[0].lower() for p in urlsplit(canonical).query.split("&")]
        assert not any(k.startswith("utm_") or k in ("fbclid", "xtor") for k in keys)
    assert re.fullmatch(r"[0-9a-f]{16}", normalize.item_id(canonical))


@given(urls)
def test_the_link_shown_and_its_identity_agree(url: str) -> None:
    """normalize stores ``canonical_url(clean_url(link))``: cleaning first changes nothing."""
    clean = normalize.clean_url(url)
    assert normalize.clean_url(clean) == clean
    assert normalize.canonical_url(clean) == normalize.canonical_url(url)
    assert normalize.document_url(normalize.canonical_url(url)).count("#") == 0


@given(urls, st.sampled_from([None, "https://example.org/feed/", "tag:x", "http://[::1"]))
def test_absolute_http_url_gives_an_http_url_or_none(url: str, base: str | None) -> None:
    out = normalize.absolute_http_url(url, base)
    if out is not None:
        parts = urlsplit(out)
        assert parts.scheme.lower() in ("http", "https") and parts.hostname
        assert not re.search(r"[\x00-\x20\x7f]", out)


# --------------------------------------------------------------------------- HTML and text

FRAGMENTS = [
    "<p>", "</p>", "<a href='https://example.org/x'>", "<a href=\"javascript:alert(1)\">",
    "<a href=' JaVaScRiPt:alert(1)'>", "<a href='java\tscript:x'>", "<a href='data:text/html,x'>",
    "<a href='/relative'>", "<a href='//cdn.example/x'>", "<a href='mailto:a@b.org'>", "</a>",
    "<a style='color:red' onclick='x()' href='https://e.org'>", "<b onmouseover=x>", "</b>",
    "<script>alert(1)</script>", "<script", "<style>p{}</style>", "<img src=x onerror=y>",
    "<svg onload=x>", "<iframe src=x>", "<!-- c -->", "<![CDATA[x]]>", "&lt;script&gt;", "&amp;",
    "&#0;", "&#x202e;", "&#xd800;", "<table><tr><td>a</td><td>b</td></tr></table>", "<br/>",
    "<math><mi xlink:href='javascript:x'>", "<form action=javascript:x>", "<object data=x>",
    "<div style='background:url(javascript:x)'>", "<p title='a\u202eb'>", "<em>", "</em>",
    "<h1>", "<li>", "<pre>\n", "<template><script>x</script></template>", "<noscript>",
    "<base href='javascript:x'>", "<meta http-equiv=refresh content='0;url=javascript:x'>",
]  # fmt: skip
html_inputs = st.lists(st.sampled_from(FRAGMENTS) | nasty_text, max_size=25).map("".join)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _check_sanitized(out: str) -> None:
    assert len(out) <= normalize.SUMMARY_HTML_MAX
    assert not FORBIDDEN.search(out)
    parser = _Tags()
    parser.feed(out)
    parser.close()
    for tag, attrs in parser.tags:
        assert tag in normalize.ALLOWED_TAGS, tag
        # nh3 (ammonia) allows ``lang`` and ``title`` on every tag; ``rel`` is ours, on links
        allowed = {"lang", "title", *normalize.ALLOWED_ATTRIBUTES.get(tag, ())}
        allowed |= {"rel"} if tag == "a" else set()
        assert set(attrs) <= allowed, (tag, attrs)  # no style, no on* handlers
        href = attrs.get("href")
        if href is not None:
            assert urlsplit(href).scheme.lower() in ("http", "https", "mailto"), href
        if tag == "a":
            assert attrs.get("rel") == normalize.LINK_REL
    lowered = out.lower()
    assert "<script" not in lowered and "<style" not in lowered and "javascript:" not in lowered


@given(html_inputs, st.sampled_from([None, "https://example.org/news/", "tag:x"]))
@example("<a style='color:red' onclick='x()' href='https://e.org/'>x</a>", None)
@example("<p title='&#x202e;' lang=en>\ud83d</p>", "https://example.org/")
def test_sanitized_html_holds_only_the_allow_list(html_: str, base: str | None) -> None:
    out = normalize.sanitize_html(html_, base_url=base)
    _check_sanitized(out)
    assert normalize.sanitize_html(out, base_url=base) == out  # stable: a re-clean changes nothing


def _is_paragraphs(text: str) -> bool:
    """Clean lines of text, separated by one blank line each (summary_text's shape)."""
    return not text or all(p and p == " ".join(p.split()) for p in text.split("\n\n"))


@given(html_inputs)
def test_text_from_html_is_clean_paragraphs(html_: str) -> None:
    text = normalize.html_to_text(html_)
    assert len(text) <= normalize.SUMMARY_TEXT_MAX
    assert not FORBIDDEN.search(text)
    assert _is_paragraphs(text)
    text.encode("utf-8")


@given(html_inputs)
def test_text_from_html_is_one_clean_line(html_: str) -> None:
    for text, limit in (
        (normalize.plain_text(html_), normalize.TITLE_MAX),
        (normalize.clean_title(html_), normalize.TITLE_MAX),
        (normalize.clean_title(html_, "text/plain"), normalize.TITLE_MAX),
        (normalize.text_line(html_, 100), 100),
    ):
        assert len(text) <= limit
        assert not FORBIDDEN.search(text)
        assert text == " ".join(text.split())  # no line break, tab or doubled space
        text.encode("utf-8")
    plain = normalize.text_line(html_)
    assert normalize.text_line(plain) == plain


@given(
    st.builds(
        RawEntry,
        title=st.none() | html_inputs,
        link=st.none() | urls,
        summary=st.none() | html_inputs,
        content=st.none() | html_inputs,
        published=st.none() | st.datetimes(timezones=st.timezones() | st.none()),
        updated=st.none() | st.datetimes(timezones=st.just(UTC)),
        authors=st.lists(nasty_text, max_size=3).map(tuple),
        tags=st.lists(nasty_text, max_size=3).map(tuple),
        base_url=st.none() | urls,
        title_type=st.sampled_from([None, "text/plain", "text/html", "application/xhtml+xml"]),
    )
)
def test_any_raw_entry_normalizes_to_a_clean_entry_or_none(raw: RawEntry) -> None:
    entry = normalize.normalize(raw, source_id="s", feed_url="https://feeds.example.org/f", now=NOW)
    if entry is None:
        return
    assert urlsplit(entry.url).scheme in ("http", "https")
    assert entry.item_id == normalize.item_id(entry.canonical_url)
    assert normalize.EARLIEST <= entry.published <= NOW + normalize.FUTURE_SLACK
    assert entry.published.tzinfo is UTC
    assert entry.title and len(entry.title) <= normalize.TITLE_MAX
    _check_sanitized(entry.summary_html)
    for text in (entry.title, *entry.authors, *entry.tags):
        assert not FORBIDDEN.search(text) and "\n" not in text
    assert not FORBIDDEN.search(entry.summary_text) and _is_paragraphs(entry.summary_text)


# --------------------------------------------------------------------------- dates

date_texts = st.one_of(
    nasty_text,
    st.datetimes().map(lambda d: d.strftime("%a, %d %b %Y %H:%M:%S +0000")),
    st.datetimes().map(lambda d: d.isoformat()),
    st.from_regex(r"\A\d{1,5}[-/.]\d{1,3}([-/.]\d{1,3})?([T ]\d\d:\d\d(:\d\d)?)?\Z"),
    st.sampled_from(
        [
            "Mon, 31 Feb 2025 10:00:00 GMT",
            "Tue, 10 Jun 2003 04:00:00 +2400",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59-23:59",
            "2025-13-01",
            "1 Jan 10000",
            "Sun, 06 Nov 1994 08:49:37 XYZ",
            "2003-12-31T10:14:55.123456789Z",
        ]
    ),
)


@given(date_texts)
def test_date_parsers_give_a_date_or_none(text: str) -> None:
    for parsed in (fast.parse_date(text), feedparser_parse_date(text)):
        assert parsed is None or isinstance(parsed, time.struct_time)
        dt = _common.from_struct(parsed)
        assert dt is None or dt.tzinfo is UTC
    dt = _common.parse_date(text)
    assert dt is None or dt.tzinfo is UTC


@given(
    st.none() | st.datetimes(timezones=st.timezones() | st.none()),
    st.none() | st.datetimes(timezones=st.timezones() | st.none()),
)
def test_published_at_is_plausible_utc(
    published: datetime | None, updated: datetime | None
) -> None:
    raw = RawEntry(title="t", link="https://example.org/", published=published, updated=updated)
    when = normalize.published_at(raw, NOW)
    assert when.tzinfo is UTC
    assert when == NOW or normalize.EARLIEST <= when <= NOW + timedelta(days=1)


# --------------------------------------------------------------------------- matching

words = st.text(alphabet=string.ascii_lowercase + "éß中", min_size=1, max_size=8)
terms = st.one_of(
    words,
    words.map(lambda w: w + "*"),
    st.lists(words, min_size=2, max_size=3).map(" ".join),
    st.lists(words, min_size=2, max_size=2).map("-".join),
    nasty_text,
)


def _entry(title: str, summary: str) -> Entry:
    return Entry(
        source_id="s",
        title=title,
        url="https://example.org/a",
        canonical_url="https://example.org/a",
        item_id=normalize.item_id("https://example.org/a"),
        summary_html="",
        summary_text=summary,
        published=NOW,
    )


@given(
    st.dictionaries(terms, st.floats(-5, 5), max_size=6),
    st.lists(terms, max_size=3),
    nasty_text,
    nasty_text,
)
def test_matching_any_rules_and_text_ends_in_a_value_or_a_config_error(
    include: dict[str, float], exclude: list[str], title: str, summary: str
) -> None:
    try:
        rules = config.Rules(include=include, exclude=exclude, min_score=0)
        compiled = match.compile_rules(rules)
    except (ConfigError, ValueError):  # pydantic's ValidationError is a ValueError
        return
    result = match.assess(_entry(title, summary), compiled)
    assert all(m.count >= 1 and m.field in ("title", "summary") for m in result.matches)
    for text in (title, summary):
        chunks = match.highlight(text, compiled)
        assert "".join(c for c, _ in chunks) == text


@given(words, nasty_text, nasty_text)
def test_a_term_written_as_a_whole_word_is_always_found(word: str, before: str, after: str) -> None:
    shown = word.upper() if word.upper().lower() == word else word  # "ß".upper() is "SS"
    compiled = match.compile_rules(config.Rules(include={word: 1.0}, min_score=0))
    title = f"{before} {shown} {after}"
    result = match.assess(_entry(title, ""), compiled)
    assert any(m.term == word and m.field == "title" for m in result.matches), result
    assert match.terms_found([word], [title]) == {word}


@pytest.mark.parametrize("char", ["\u202e", "\x1b", "\ufeff", "\u200b"])
def test_invisible_characters_cannot_hide_a_term_from_matching(char: str) -> None:
    """Normalize removes them before matching: "CC<ZWSP>TV" is "CCTV"."""
    raw = RawEntry(title=f"Police CC{char}TV in town", link="https://example.org/x")
    entry = normalize.normalize(raw, source_id="s", feed_url="https://example.org/", now=NOW)
    assert entry is not None
    compiled = match.compile_rules(config.Rules(include={"cctv": 3}, min_score=0))
    assert [m.term for m in match.assess(entry, compiled).matches] == ["cctv"]
