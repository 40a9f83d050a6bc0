"""Headless Chromium for tests: screenshots and the DOM after scripts ran.

Debian's ``chromium`` is installed by tools/chromium.sh (make test). Without
it the calling test fails and says how to install it: it never skips.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars")


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("chromium is not installed: run tools/chromium.sh (make test does) or apt-get install chromium")
    return path


def run(url: str, *extra: str, timeout: float = 90) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="dbswarm-chromium-") as profile:
        return subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", *extra, url],
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        )


def screenshot(url: str, path: str, size: str = "1200,2400", wait_ms: int = 0) -> subprocess.CompletedProcess:
    extra = [f"--window-size={size}", f"--screenshot={path}"]
    if wait_ms:
        extra.append(f"--virtual-time-budget={wait_ms}")
    return run(url, *extra)


def dom(url: str, wait_ms: int = 0) -> subprocess.CompletedProcess:
    """Page DOM after load (stdout); stderr carries console errors (--enable-logging)."""
    extra = ["--dump-dom", "--enable-logging=stderr", "--v=0"]
    if wait_ms:
        extra.append(f"--virtual-time-budget={wait_ms}")
    return run(url, *extra)


def page_errors(stderr: str) -> list[str]:
    """JavaScript errors and failed loads Chromium logged for the page."""
    needles = ("Uncaught", "CONSOLE", "Failed to load resource", "net::ERR_")
    return [line for line in stderr.splitlines() if any(n in line for n in needles) and "dbus" not in line]


def screenshot_dir(tmp_path) -> str:
    """$DBSWARM_SCREENSHOTS when set (to keep them), else the test's temporary directory."""
    directory = os.environ.get("DBSWARM_SCREENSHOTS") or str(tmp_path)
    os.makedirs(directory, exist_ok=True)
    return directory
