"""Parts of the tests that come from the system, not PyPI (chromium, java, npm), and scripts
installed beside the running interpreter (the README runs ``.venv/bin/python -m pytest``
without activating the venv, so its ``bin/`` need not be on PATH).

Where such a part is missing the test is skipped with the reason, except in CI (``CI`` set):
there a missing part must fail, not let its tests pass by skipping.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

#: Debian's chromium (browsers cannot be downloaded here), and the flags that keep it from
#: reaching for the network it does not have (design.md, "Playwright").
CHROMIUM = os.environ.get("CURATOR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require(present: bool, reason: str) -> None:
    if present:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must have it: see .ci/run)")
    pytest.skip(reason)


def script(name: str) -> str | None:
    """A command from the running interpreter's bin/ first, then from PATH."""
    here = str(Path(sys.executable).parent)
    return shutil.which(name, path=os.pathsep.join([here, os.environ.get("PATH", "")]))
