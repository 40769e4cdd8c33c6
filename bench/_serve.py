"""Shared by the bench scripts: a forum (or any WSGI app) under gunicorn on 127.0.0.1.

Uses the repository's gunicorn.conf.py, so what is measured is the configuration that ships.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def forum_env(instance: Path, **extra: str) -> dict[str, str]:
    """Environment for a forum process (server or `flask` command) on this instance."""
    return {
        **os.environ,
        "FORUM_INSTANCE_PATH": str(instance),
        "FORUM_LOAD_DEMO_ON_FIRST_START": "false",
        "FORUM_RATELIMIT_ENABLED": "false",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def flask(instance: Path, *args: str, timeout: float = 3600, **env: str):
    """Run `flask --app app ...` on an instance folder; returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=ROOT,
        env=forum_env(instance, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class Gunicorn:
    """gunicorn -c gunicorn.conf.py APP with FORUM_* settings; start() waits for a 200."""

    def __init__(self, app: str, env: dict[str, str], workers: int, log: Path, threads: int = 1):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = app
        self.log = log
        self.env = {
            **env,
            "FORUM_BIND": f"127.0.0.1:{self.port}",
            "FORUM_WORKERS": str(workers),
            "FORUM_THREADS": str(threads),
            "FORUM_ACCESS_LOG": "off",
            "FORUM_LOG_LEVEL": "warning",
        }
        self.proc: subprocess.Popen | None = None

    def start(self, path: str = "/", timeout: float = 120) -> Gunicorn:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = self.log.open("ab")
        cmd = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), self.app]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=out, stderr=out)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log.read_text()[-4000:]}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(self.url + path, timeout=10) as resp:
                    if resp.status == 200:
                        return self
            time.sleep(0.3)
        self.stop()
        tail = self.log.read_text()[-4000:]
        raise RuntimeError(f"gunicorn did not answer in {timeout}s:\n{tail}")

    def worker_pids(self) -> list[int]:
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True
        ).stdout
        return [int(p) for p in out.split()]

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server: master and live workers."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in [self.proc.pid, *self.worker_pids()]:
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / ticks
        return total

    def worker_rss_mb(self) -> list[float]:
        sizes = []
        for pid in self.worker_pids():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        sizes.append(int(line.split()[1]) / 1024)
        return sizes

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(35)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
