"""Scholarly identifiers: DOIs and arXiv ids, found in URLs and strings, normalised for identity.

Pure functions.  A research work reaches Curator through several URLs (``arxiv.org/abs/…v2``,
``arxiv.org/pdf/…``, ``doi.org/10.…``, the publisher's landing page) and the identifiers are
what those URLs have in common, so :mod:`curator.dedupe` merges by them.

* A DOI is case-insensitive (the DOI Handbook, 3.4): the identity key is lower-cased, while
  the DOI kept for display keeps the case it was found in.  ``doi:``, ``https://doi.org/``,
  ``dx.doi.org`` and URL-encoding are stripped; trailing punctuation that follows a DOI in
  running text (``.``, ``,``, ``;``, ``)``) is not part of it.
* An arXiv id is ``YYMM.NNNNN`` (2007 on) or ``archive/YYMMNNN`` (before); the version
  (``v2``) is dropped for identity (every version is the same work) but the link that carried
  it is kept as it was.  arXiv's own DOIs (``10.48550/arXiv.2101.00001``) name the same work
  as the arXiv id, so they are read as one.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

__all__ = [
    "arxiv_from_text",
    "arxiv_from_url",
    "arxiv_url",
    "doi_from_text",
    "doi_from_url",
    "doi_url",
    "identity_keys",
    "normalize_arxiv",
    "normalize_doi",
]

#: The longest DOI accepted (real ones are well under 100 characters; the cap keeps a hostile
#: "DOI" from becoming a megabyte index key).
MAX_DOI = 200

# Crossref's recommended pattern (/^10.\d{4,9}/[-._;()/:A-Z0-9]+$/i), widened to the
# characters real DOIs also carry (<>, [], #, +) but never whitespace, quotes or "&".
_DOI = re.compile(r"10\.\d{4,9}/[^\s\"'&<>]+", re.IGNORECASE)
_DOI_TRAIL = ".,;:)]}'\""
_NEW_ARXIV = r"\d{4}\.\d{4,5}"
_OLD_ARXIV = r"[a-z]+(?:-[a-z]+)?(?:\.[A-Z]{2})?/\d{7}"
_ARXIV_ID = re.compile(rf"^(?P<id>{_NEW_ARXIV}|{_OLD_ARXIV})(?P<v>v\d+)?$", re.IGNORECASE)
_ARXIV_IN_TEXT = re.compile(
    rf"\barxiv:\s*(?P<id>{_NEW_ARXIV}|{_OLD_ARXIV})(?:v\d+)?\b", re.IGNORECASE
)
_ARXIV_PATH = re.compile(
    rf"^/(?:abs|pdf|html|format|ps)/(?P<id>{_NEW_ARXIV}|{_OLD_ARXIV})(?:v\d+)?(?:\.pdf)?/?$",
    re.IGNORECASE,
)
_ARXIV_DOI = re.compile(rf"^10\.48550/arxiv\.(?P<id>{_NEW_ARXIV}|{_OLD_ARXIV})$", re.IGNORECASE)
_DOI_HOSTS = ("doi.org", "dx.doi.org", "www.doi.org")


def normalize_doi(value: str | None) -> str | None:
    """The DOI in *value* (a bare DOI, ``doi:…``, a doi.org URL), without prefix or trailing
    punctuation, case kept; None when there is none."""
    if not value or len(value) > 4 * MAX_DOI:
        return None
    text = value.strip()
    lowered = text.lower()
    if lowered.startswith(("http://", "https://")):
        return doi_from_url(text)
    if lowered.startswith("doi:"):
        text = text[4:].strip()
    if "%" in text:
        text = unquote(text)
    m = _DOI.match(text)
    if m is None:
        return None
    return _trimmed(m.group(0))


def _trimmed(doi: str) -> str | None:
    doi = doi.rstrip(_DOI_TRAIL)
    # A ")" that closes a "(" inside the DOI belongs to it: 10.1016/0000-0000(95)00000-X.
    while doi.endswith(")") and doi.count("(") < doi.count(")"):
        doi = doi[:-1]
    if "/" not in doi or doi.endswith("/") or len(doi) > MAX_DOI:
        return None
    return doi


def doi_from_text(text: str | None) -> str | None:
    """The first DOI anywhere in *text* (a ``dc:identifier``, a citation string)."""
    if not text:
        return None
    m = _DOI.search(text[: 4 * MAX_DOI + 100])
    return _trimmed(m.group(0)) if m else None


def doi_from_url(url: str | None) -> str | None:
    """The DOI of a ``doi.org`` / ``dx.doi.org`` link, or None for any other URL."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if (parts.hostname or "").lower() not in _DOI_HOSTS:
        return None
    path = unquote(parts.path).lstrip("/")
    m = _DOI.match(path)
    return _trimmed(m.group(0)) if m else None


def normalize_arxiv(value: str | None) -> str | None:
    """The arXiv id in *value* (``2101.00001v2``, ``arXiv:2101.00001``, ``hep-th/9901001``,
    an arxiv.org link, arXiv's own DOI) without its version; None when it is none."""
    if not value:
        return None
    text = value.strip()
    if text.lower().startswith(("http://", "https://")):
        return arxiv_from_url(text)
    if text.lower().startswith("arxiv:"):
        text = text[6:].strip()
    m = _ARXIV_ID.match(text)
    if m:
        return _arxiv_case(m.group("id"))
    return _arxiv_of_doi(normalize_doi(text))


def _arxiv_case(arxiv_id: str) -> str:
    """Old-style ids keep their subject class's case (``math.AG/0601001``); the archive is
    lower-case."""
    if "/" not in arxiv_id:
        return arxiv_id
    archive, number = arxiv_id.split("/", 1)
    head, dot, cls = archive.partition(".")
    return f"{head.lower()}{dot}{cls.upper()}/{number}"


def arxiv_from_text(text: str | None) -> str | None:
    """An ``arXiv:2101.00001`` mention anywhere in *text*."""
    if not text:
        return None
    m = _ARXIV_IN_TEXT.search(text[:2000])
    return _arxiv_case(m.group("id")) if m else None


def arxiv_from_url(url: str | None) -> str | None:
    """The arXiv id of an arxiv.org ``/abs/``, ``/pdf/``, ``/html/`` link (any version, with
    or without ``.pdf``), or of a doi.org link to arXiv's own DOI; else None."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if host == "arxiv.org" or host.endswith(".arxiv.org"):
        m = _ARXIV_PATH.match(unquote(parts.path))
        return _arxiv_case(m.group("id")) if m else None
    return _arxiv_of_doi(doi_from_url(url))


def _arxiv_of_doi(doi: str | None) -> str | None:
    """The arXiv id of arXiv's own DOI (``10.48550/arXiv.2101.00001``); else None."""
    d = _ARXIV_DOI.match(doi) if doi else None
    return _arxiv_case(d.group("id")) if d else None


def doi_url(doi: str) -> str:
    """The resolver link of *doi* (``https://doi.org/10.…``)."""
    return f"https://doi.org/{doi}"


def arxiv_url(arxiv_id: str) -> str:
    """The abstract page of *arxiv_id* (its latest version)."""
    return f"https://arxiv.org/abs/{arxiv_id}"


def identity_keys(doi: str | None, arxiv_id: str | None) -> tuple[str, ...]:
    """The store's index keys for a work: ``doi:<lower-cased DOI>`` and ``arxiv:<id>``.  An
    arXiv DOI counts as the arXiv id, so the preprint's two names meet."""
    keys: list[str] = []
    if doi:
        d = _ARXIV_DOI.match(doi)
        if d:
            arxiv_id = arxiv_id or _arxiv_case(d.group("id"))
        else:
            keys.append(f"doi:{doi.lower()}")
    if arxiv_id:
        keys.append(f"arxiv:{arxiv_id.lower()}")
    return tuple(keys)
