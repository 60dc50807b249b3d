"""DOIs and arXiv ids found in URLs and strings, normalised for identity."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from curator import identifiers as ids


@pytest.mark.parametrize(
    ("value", "doi"),
    [
        ("10.1007/s11292-015-9243-6", "10.1007/s11292-015-9243-6"),
        ("doi:10.1101/2023.12.16.571984", "10.1101/2023.12.16.571984"),
        ("https://doi.org/10.1002/CL2.1046", "10.1002/CL2.1046"),
        ("http://dx.doi.org/10.1142/S021797921244002X", "10.1142/S021797921244002X"),
        ("https://doi.org/10.1016%2Fj.jcrimjus.2023.102030", "10.1016/j.jcrimjus.2023.102030"),
        ("10.1016/0047-2352(95)00000-X.", "10.1016/0047-2352(95)00000-X"),
        ("(see 10.1000/xyz123)", None),  # normalize_doi wants the DOI itself
        ("https://example.org/10.1000/abc", None),  # not a DOI resolver
        ("11.1000/abc", None),
        ("10.1000/", None),
        ("10.12/abc", None),  # a registrant code has 4 to 9 digits
        ("", None),
        (None, None),
    ],
)
def test_normalize_doi(value: str | None, doi: str | None) -> None:
    assert ids.normalize_doi(value) == doi


def test_doi_in_text_drops_trailing_punctuation_and_caps_length() -> None:
    assert ids.doi_from_text("Published as 10.1000/xyz123, see also") == "10.1000/xyz123"
    assert ids.doi_from_text("(doi: 10.1000/xyz123)") == "10.1000/xyz123"
    assert ids.doi_from_text("10.1000/" + "a" * 5000) is None


@pytest.mark.parametrize(
    ("url", "arxiv"),
    [
        ("http://arxiv.org/abs/1201.4869v1", "1201.4869"),
        ("https://arxiv.org/abs/2301.01234", "2301.01234"),
        ("https://arxiv.org/pdf/2301.01234v3", "2301.01234"),
        ("https://arxiv.org/pdf/2301.01234v3.pdf", "2301.01234"),
        ("https://export.arxiv.org/abs/cond-mat/0412498v1", "cond-mat/0412498"),
        ("https://arxiv.org/abs/math.AG/0601001", "math.AG/0601001"),
        ("https://doi.org/10.48550/arXiv.2301.01234", "2301.01234"),
        ("https://arxiv.org/list/cs.CV/recent", None),
        ("https://notarxiv.org/abs/2301.01234", None),
        ("https://example.org/abs/2301.01234", None),
    ],
)
def test_arxiv_from_url(url: str, arxiv: str | None) -> None:
    assert ids.arxiv_from_url(url) == arxiv


def test_normalize_arxiv_strips_versions_and_prefixes() -> None:
    assert ids.normalize_arxiv("arXiv:2301.01234v2") == "2301.01234"
    assert ids.normalize_arxiv("2301.01234") == "2301.01234"
    assert ids.normalize_arxiv("HEP-TH/9901001v1") == "hep-th/9901001"
    assert ids.normalize_arxiv("10.48550/arXiv.2301.01234") == "2301.01234"
    assert ids.normalize_arxiv("10.1000/xyz") is None
    assert ids.normalize_arxiv("not an id") is None
    assert ids.arxiv_from_text("Preprint at arXiv:2301.01234v4 [cs.CV]") == "2301.01234"


def test_identity_keys_fold_doi_case_and_read_arxiv_dois_as_arxiv_ids() -> None:
    assert ids.identity_keys("10.1002/CL2.1046", None) == ("doi:10.1002/cl2.1046",)
    assert ids.identity_keys("10.1002/cl2.1046", "2301.01234") == (
        "doi:10.1002/cl2.1046",
        "arxiv:2301.01234",
    )
    assert ids.identity_keys("10.48550/arXiv.2301.01234", None) == ("arxiv:2301.01234",)
    assert ids.identity_keys(None, None) == ()


_SUFFIX = st.text(
    alphabet=st.sampled_from(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._;()/:"
    ),
    min_size=1,
    max_size=40,
)
_DOIS = st.builds(lambda reg, suffix: f"10.{reg}/{suffix}", st.integers(1000, 999_999_999), _SUFFIX)


@given(st.text(max_size=300))
def test_normalize_doi_is_idempotent_on_anything(text: str) -> None:
    doi = ids.normalize_doi(text)
    if doi is not None:
        assert ids.normalize_doi(doi) == doi
        assert len(doi) <= ids.MAX_DOI and doi.startswith("10.")


@given(_DOIS)
def test_a_doi_survives_its_own_link_and_case(doi: str) -> None:
    found = ids.normalize_doi(doi)
    if found is None:  # a suffix of trailing punctuation only
        return
    assert ids.doi_from_url(ids.doi_url(found)) == found
    assert ids.identity_keys(found.upper(), None) == ids.identity_keys(found.lower(), None)
