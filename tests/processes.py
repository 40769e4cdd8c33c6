"""Real forum servers and a real Redis in subprocesses, on 127.0.0.1, for multi-process tests.

``ForumServer`` runs ``gunicorn -c gunicorn.conf.py`` (the production settings) with its own
instance folder and whatever database URL it is given; ``redis_url`` gives a Redis: the one
CI started (FORUM_TEST_REDIS_URL) or a private ``redis-server`` the test starts and stops.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from . import pgtools

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def forum_env(instance: Path, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORUM_")}
    env.update(
        FORUM_INSTANCE_PATH=str(instance),
        FORUM_SQLALCHEMY_DATABASE_URI=database_url,
        FORUM_LOAD_DEMO_ON_FIRST_START="false",
        FORUM_SECRET_KEY="multi-server-test-secret",
        FORUM_SEARCH_SEMANTIC=os.environ.get("FORUM_SEARCH_SEMANTIC", "true"),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def start_all(*servers: ForumServer, timeout: float = 90) -> None:
    """Launch servers side by side and wait until each answers /healthz."""
    for server in servers:
        server.launch()
    try:
        for server in servers:
            server.wait_ready(timeout)
    except Exception:
        for server in servers:
            server.stop()
        raise


class ForumServer:
    """One app server: gunicorn with ``workers`` workers on a free port."""

    def __init__(self, instance: Path, database_url: str, workers: int = 1, **env: str):
        self.instance = instance
        self.database_url = database_url
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = forum_env(
            instance,
            database_url,
            FORUM_BIND=f"127.0.0.1:{self.port}",
            FORUM_WORKERS=str(workers),
            **{"FORUM_ACCESS_LOG": "off", **env},
        )
        self.log_path = instance.parent / f"{instance.name}-server.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> ForumServer:
        return self.launch().wait_ready(timeout)

    def launch(self) -> ForumServer:
        """Start the process without waiting (start several, then ``wait_ready`` each)."""
        self.instance.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # closed in stop()
        self._log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py")],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def wait_ready(self, timeout: float = 60) -> ForumServer:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not answer in {timeout}s:\n{self.log()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except FileNotFoundError:
            return ""

    def client(self) -> Browser:
        return Browser(self.base)

    def flask(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """``flask <args>`` against this server's instance folder and database."""
        return subprocess.run(
            [sys.executable, "-m", "flask", "--app", "app", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


class Browser:
    """Cookies, CSRF tokens and plain HTTP against a live server (no JavaScript)."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str) -> tuple[int, str]:
        return self._open(urllib.request.Request(self.base + path))

    def get_json(self, path: str) -> tuple[int, dict]:
        status, body = self.get(path)
        return status, json.loads(body)

    def post(self, path: str, data, token_from: str | None = None):
        """POST a form (a dict, or (name, value) pairs for repeated fields) with the CSRF
        token of the page ``token_from`` (default: ``path``)."""
        _, page = self.get(token_from or path)
        match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        pairs = list(data.items()) if isinstance(data, dict) else list(data)
        pairs.append(("csrf_token", match.group(1) if match else ""))
        body = urllib.parse.urlencode(pairs).encode()
        return self._open(urllib.request.Request(self.base + path, data=body, method="POST"))

    def _open(self, req: urllib.request.Request) -> tuple[int, str]:
        try:
            with self.opener.open(req, timeout=30) as resp:
                return resp.status, resp.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode("utf-8", "replace")


def redis_url(tmp_path: Path):
    """Yields a Redis URL: CI's server, or a private redis-server on a free port."""
    url = os.environ.get("FORUM_TEST_REDIS_URL")
    if url:
        yield url
        return
    binary = shutil.which("redis-server")
    if not binary:
        if pgtools.in_ci():
            pytest.fail("CI needs Redis: set FORUM_TEST_REDIS_URL or install redis-server")
        pytest.skip("no redis-server on this machine")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
