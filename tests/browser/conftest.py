"""A real forum process on 127.0.0.1 and Debian's Chromium driven by Playwright.

Every test here is marked `browser`. Where the CI variable is set, a missing Chromium or
Playwright fails the run instead of skipping it: a green build must have used a browser.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


def pytest_runtest_setup(item):
    """Skip (fail in CI) before any server starts when there is no browser to drive."""
    problem = _browser_problem()
    if problem:
        _unavailable(problem)


@functools.cache
def _browser_problem() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install -e '.[test]')"
    if not chromium_path():
        return "chromium is not installed (apt-get install chromium)"
    return None


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the browser tests, not skip them)")
    pytest.skip(reason)


def chromium_path() -> str | None:
    return (
        os.environ.get("CHROMIUM_PATH")
        or shutil.which("chromium")
        or next((p for p in ("/usr/bin/chromium",) if os.path.exists(p)), None)
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveForum:
    """`python app.py` in a subprocess with its own instance folder and port."""

    def __init__(self, instance: Path, *, demo: bool):
        self.instance = instance
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "PORT": str(self.port),
            "FORUM_INSTANCE_PATH": str(instance),
            "FORUM_LOAD_DEMO_ON_FIRST_START": "true" if demo else "false",
            "FORUM_RATELIMIT_ENABLED": "false",
            "PYTHONUNBUFFERED": "1",
        }
        self.log = instance.parent / f"server-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120) -> LiveForum:
        self.instance.mkdir(parents=True, exist_ok=True)
        logfile = self.log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "app.py"], cwd=ROOT, env=self.env, stdout=logfile, stderr=logfile
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"forum exited early:\n{self.log.read_text()[-3000:]}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(self.url + "/", timeout=5) as resp:
                    if resp.status == 200:
                        return self
            time.sleep(0.2)
        raise RuntimeError(f"forum did not answer in {timeout}s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def flask(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run `flask --app app <args>` against this forum's instance folder."""
        return subprocess.run(
            [sys.executable, "-m", "flask", "--app", "app", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@pytest.fixture(scope="module")
def forum(tmp_path_factory) -> Iterator[LiveForum]:
    """An empty forum (no demo content), shared by the tests of one module."""
    server = LiveForum(tmp_path_factory.mktemp("forum") / "instance", demo=False).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def demo_forum(tmp_path_factory) -> Iterator[LiveForum]:
    """A forum with the demo content loaded on first start, for scans and screenshots."""
    server = LiveForum(tmp_path_factory.mktemp("demo") / "instance", demo=True).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - depends on the machine
        _unavailable("playwright is not installed")
    path = chromium_path()
    if not path:
        _unavailable("chromium is not installed (apt-get install chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def axe() -> str:
    """axe-core's script, or skip (fail in CI) when `npm ci` has not installed it."""
    if not AXE_JS.exists():
        _unavailable(f"axe-core is not installed: run `npm ci` ({AXE_JS} is missing)")
    return AXE_JS.read_text()


@pytest.fixture
def context(browser):
    """A fresh browser profile per test: no cookies carried from one person to another."""
    ctx = browser.new_context(viewport=DESKTOP)
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    return context.new_page()


@pytest.fixture
def new_person(browser):
    """Open a browser profile for one more person (own cookies), e.g. an asker and a replier."""
    contexts = []

    def make(**options):
        options.setdefault("viewport", DESKTOP)
        ctx = browser.new_context(**options)
        ctx.set_default_timeout(10_000)
        contexts.append(ctx)
        return ctx.new_page()

    yield make
    for ctx in contexts:
        ctx.close()
