"""A service user for the deploy-guide test, like the guide's ``forum`` user."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests import pgtools

ROOT = Path(__file__).resolve().parents[2]
NAME = "forum-guide-test"


def _unavailable(reason: str):
    if pgtools.in_ci():
        pytest.fail(f"{reason} (CI runs as root and must run this test)")
    pytest.skip(reason)


@pytest.fixture
def service_user():
    """(work folder readable by the user, its passwd entry, the command prefix that runs a
    command as it). The user is created (``useradd``) when missing and removed afterwards.

    The prefix is the guide's ``runuser -u USER --``, or, where this Python lives in a
    folder the user may not enter (a Python under /root, mode 700), ``setpriv`` to the
    same user with only the capability to read and search folders: files it creates are
    still its own, and it still cannot write files that are not."""
    if os.geteuid() != 0:
        _unavailable("the guide's maintenance commands are run as root; run this test as root")
    if not (shutil.which("runuser") and shutil.which("useradd")):
        _unavailable("runuser and useradd (util-linux, passwd) are needed")
    created = False
    try:
        user = pwd.getpwnam(NAME)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", NAME],
            check=True,
        )
        created, user = True, pwd.getpwnam(NAME)
    work = Path(tempfile.mkdtemp(prefix="forum-guide-"))
    work.chmod(0o755)
    try:
        yield work, user, _prefix(user)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if created:
            subprocess.run(["userdel", NAME], check=False)


def _prefix(user) -> list[str]:
    probe = [sys.executable, "-c", "import forum"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    runuser = ["runuser", "-u", user.pw_name, "--"]
    if subprocess.run(runuser + probe, cwd=ROOT, env=env, capture_output=True).returncode == 0:
        return runuser
    setpriv = [
        "setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
        "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search",
    ]  # fmt: skip
    if subprocess.run(setpriv + probe, cwd=ROOT, env=env, capture_output=True).returncode:
        _unavailable(f"user {user.pw_name} cannot run {sys.executable} with the app")
    return setpriv
