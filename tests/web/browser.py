"""Headless Chromium (Debian's) driven by Playwright, for the web page's tests.

Playwright's own browser download cannot run here, so it launches /usr/bin/chromium
with the flags PEERS.md gives; a missing Chromium skips locally and fails under CI.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from conftest import require

FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    require(path is not None, "Debian's chromium (headless browser)")
    assert path is not None
    return path


@contextmanager
def browser() -> Iterator[Any]:
    """A headless Chromium for one test module."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=executable, args=FLAGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()
