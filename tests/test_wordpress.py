"""links.rss and links.atom through WordPress itself: the SimplePie 1.5.8 that Debian's WordPress
6.1 ships, set up as WordPress's fetch_feed() sets it up, and the title expression of its RSS
widget and RSS block (tests/data/wordpress_titles.php says which lines of WordPress it follows).

The parts come from Debian, not PyPI: ``php-cli``, ``php-xml``, ``php-mbstring`` and the
``wordpress`` package unpacked into ``.cache/wordpress`` (``.ci/wordpress.sh`` does both), or
wherever ``CURATOR_WORDPRESS`` points (the folder holding ``wp-includes``).  Missing parts
skip these tests locally and fail them in CI (tests/system.py).
"""

from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from curator import publish
from curator.config import Publish
from tests.system import require
from tests.test_publish import MARKUP_TITLES, NOW, PLAIN_TITLES, title_items

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(__file__).parent / "data" / "wordpress_titles.php"
WORDPRESS = Path(
    os.environ.get(
        "CURATOR_WORDPRESS", ROOT / ".cache" / "wordpress" / "usr" / "share" / "wordpress"
    )
)
FEED_TITLE = 'CCTV & policing: "links" <news>'
TITLES = list(PLAIN_TITLES + MARKUP_TITLES)


@pytest.fixture(scope="module")
def php() -> str:
    exe = shutil.which("php")
    require(exe is not None, "php is not installed (apt-get install php-cli php-xml php-mbstring)")
    assert exe is not None
    modules = subprocess.run(
        [
            exe,
            "-r",
            'echo extension_loaded("xml") && extension_loaded("mbstring") '
            '&& class_exists("DOMDocument") ? "ok" : "missing";',
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    require(
        modules == "ok", "php lacks xml, dom or mbstring (apt-get install php-xml php-mbstring)"
    )
    require(
        (WORDPRESS / "wp-includes" / "class-simplepie.php").is_file(),
        f"WordPress is not unpacked at {WORDPRESS} (run .ci/wordpress.sh or set CURATOR_WORDPRESS)",
    )
    return exe


def through_wordpress(php: str, feed: bytes, tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "feed.xml"
    path.write_bytes(feed)
    done = subprocess.run(
        [php, str(SCRIPT), str(WORDPRESS), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def feed_bytes(fmt: publish.Format) -> bytes:
    p = Publish(title=FEED_TITLE, base_url="https://curator.example.org")
    selection = publish.select(title_items(), p, NOW)
    return publish.render(fmt, selection, p, self_url=publish.feed_url(p, f"links.{fmt}")).body


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_the_wordpress_widget_shows_every_title_as_stored(
    php: str, fmt: publish.Format, tmp_path: Path
) -> None:
    seen = through_wordpress(php, feed_bytes(fmt), tmp_path)
    assert seen["simplepie"] == "1.5.8"
    assert [i["shown"] for i in seen["items"]] == TITLES
    assert seen["feed"]["shown"] == FEED_TITLE


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_simplepie_gets_each_title_as_html_escaped_once(
    php: str, fmt: publish.Format, tmp_path: Path
) -> None:
    """get_title() is HTML: the stored text with its special characters escaped exactly once
    (the double escape of 0.1 gave ``Q&amp;amp;A``, shown on the website as ``Q&amp;A``)."""
    seen = through_wordpress(php, feed_bytes(fmt), tmp_path)
    raw = [i["raw"] for i in seen["items"]]
    assert [html.unescape(r) for r in raw] == TITLES
    assert not any("<" in r for r in raw)  # no markup: strip_tags() has nothing to remove
    assert raw[0] == "Q&amp;A: police CCTV at M&amp;S"
    assert html.unescape(seen["feed"]["raw"]) == FEED_TITLE
