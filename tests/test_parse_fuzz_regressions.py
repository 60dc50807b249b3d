"""Inputs that once made a parser raise something other than ParseError, or run for minutes.

Each case names where it came from: a ``bench/fuzz_parse.py`` run (the crashing input, minus
the fuzzer's leading kind byte, as a bytes literal) or a hand review made while fuzzing.  Each
must now end in a ParseError naming the source, or parse.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from curator.config import Source, SourceKind
from curator.exceptions import ParseError
from curator.parse import page_metadata, parse
from curator.parse.crossref import jats_to_html
from curator.types import Fetched, ParsedFeed

URL = "https://fuzz.example/doc"


def parsed(content: bytes, kind: SourceKind, content_type: str = "text/html") -> ParsedFeed:
    fetched = Fetched(
        source_id="fuzz",
        url=URL,
        status=200,
        headers={"content-type": content_type},
        content=content,
    )
    return parse(fetched, Source(id="fuzz", name="Fuzz", url=URL, kind=kind))


# fuzz_parse.py, 10,500 inputs in: bs4's ParserRejectedMarkup (html.parser asserts on the
# marked section "<![OCTYPE"), out of parse_page and page_metadata alike.
MARKED_SECTION = (
    b'<![OCTYPE html>\n<html>\n <head>\n  <meta charset="UTF-8">\n  <title>The Is Not The Feed '
    b"You're Looking For</title>\n </he\xa6\x9b\xc1zzzzzzzzzzz\xf5 <body>\n  <p>Move Along. Move "
    b"Along.</p>\n </body>\n</html>"
)


def test_marked_section_html_parser_rejects_is_a_parse_error() -> None:
    with pytest.raises(ParseError) as info:
        parsed(MARKED_SECTION, "page")
    assert info.value.source_id == "fuzz"
    assert "not a readable HTML page" in str(info.value) and "OCTYPE" in str(info.value)
    with pytest.raises(ParseError, match="not a readable HTML page"):
        page_metadata(MARKED_SECTION, url=URL, headers={"content-type": "text/html"})


def crossref_work(date_parts: object) -> bytes:
    work = {
        "title": ["CCTV"],
        "URL": "https://doi.org/10.1/x",
        "issued": {"date-parts": date_parts},
    }
    return json.dumps({"status": "ok", "message-type": "work", "message": work}).encode()


# Review while fuzzing: a 30-digit year or day made datetime() raise OverflowError, which
# only ValueError was caught for; a boolean passed for a year.
@pytest.mark.parametrize(
    "date_parts",
    [[[10**30, 1, 1]], [[2020, 10**30]], [[True, 2, 3]], [[0, 1, 1]], [[2020, 13, 1]]],
    ids=["huge-year", "huge-month", "boolean", "year-0", "month-13"],
)
def test_crossref_impossible_dates_are_left_out(date_parts: object) -> None:
    (entry,) = parsed(crossref_work(date_parts), "crossref", "application/json").entries
    assert entry.title == "CCTV" and entry.published is None


def test_crossref_sound_date_still_read() -> None:
    (entry,) = parsed(crossref_work([[2024, 5, 17]]), "crossref", "application/json").entries
    assert entry.published == datetime(2024, 5, 17, tzinfo=UTC)


# Review while fuzzing: "[^>]*" in the JATS tag patterns ran to the end of the abstract from
# every unclosed "<jats:" — quadratic: 320 KB took 16 s, this one would take minutes.
def test_jats_abstract_of_unclosed_tags_is_read_in_one_pass() -> None:
    hostile = "<jats:p " * 200_000 + "<jats:title " * 200_000
    assert jats_to_html(hostile) == hostile.strip()  # no tag closes, so nothing is a tag
    doc = {
        "status": "ok",
        "message-type": "work",
        "message": {"title": ["CCTV"], "URL": "https://doi.org/10.1/y", "abstract": hostile},
    }
    (entry,) = parsed(json.dumps(doc).encode(), "crossref", "application/json").entries
    assert entry.summary is not None


def test_jats_markup_still_converted() -> None:
    abstract = '<jats:title>Abstract</jats:title><jats:p id="a">Hi <jats:italic>you</jats:italic>'
    assert jats_to_html(abstract + "</jats:p>") == "<p>Hi <i>you</i></p>"


# Review while fuzzing: a page declaring a charset Python has only as a bytes-to-bytes codec
# (base64, zlib, rot13) raised LookupError, and idna/punycode/undefined raised UnicodeError
# even with errors="replace".  Such a charset is now ignored, as an unknown one is.
@pytest.mark.parametrize("charset", ["base64", "zlib", "rot13", "hex", "idna", "punycode"])
@pytest.mark.parametrize("declared", ["http", "meta"])
def test_page_declaring_a_codec_no_document_uses_is_read(charset: str, declared: str) -> None:
    page = (
        f'<html><head><meta charset="{charset}"><title>CCTV \u00e9</title></head>'
        '<body><h2><a href="/a">Cameras \u00e9</a></h2></body></html>'
    ).encode()
    content_type = f"text/html; charset={charset}" if declared == "http" else "text/html"
    (entry,) = parsed(page, "page", content_type).entries
    assert entry.title == "Cameras \u00e9"
    meta = page_metadata(page, url=URL, headers={"content-type": content_type})
    assert meta.title == "CCTV \u00e9"
