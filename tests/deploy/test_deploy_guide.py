"""docs/deploy.md, followed mechanically where a test can: its env file read as systemd
reads it and as ``forum-flask`` (sh) reads it, then loaded into the app's and gunicorn's
settings; ``nginx -t`` on its site config with Debian's nginx; its maintenance commands
through its ``forum-flask`` script as a service user, leaving no root-owned file; and two
gunicorn app servers behind a real nginx on loopback ports.
"""

from __future__ import annotations

import os
import re
import runpy
import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from flask import Flask

from forum import settings
from tests import pgtools
from tests.processes import ForumServer, free_port, start_all

from . import guide

pytestmark = pytest.mark.slow
ROOT = guide.ROOT


def _need(binary: str) -> str:
    path = shutil.which(binary) or next(
        (p for p in (f"/usr/sbin/{binary}", f"/usr/bin/{binary}") if os.path.exists(p)), None
    )
    if not path:
        reason = f"{binary} is not installed (apt-get install {binary})"
        if pgtools.in_ci():
            pytest.fail(f"CI needs {binary}: {reason}")
        pytest.skip(reason)
    return path


def test_env_file_means_the_same_to_systemd_sh_the_app_and_gunicorn(tmp_path, monkeypatch):
    text = guide.fill_placeholders(guide.block("env"))
    systemd = guide.systemd_environment(text)
    (tmp_path / "forum.env").write_text(text)
    shell = subprocess.run(
        ["sh", "-c", "set -a; . ./forum.env; set +a; env -0"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    from_sh = dict(x.split("=", 1) for x in shell.split("\0") if x.startswith("FORUM_"))
    assert from_sh == systemd, "forum-flask (sh) and systemd would read forum.env differently"
    assert not [k for k, v in systemd.items() if "#" in v], "an inline comment became a value"

    for name in [n for n in os.environ if n.startswith("FORUM_")]:
        monkeypatch.delenv(name)
    for name, value in systemd.items():
        monkeypatch.setenv(name, value)
    app = Flask("guide", instance_path=str(tmp_path / "instance"))
    settings.load(app, None)
    assert app.config["SCHEMA_AUTO_UPGRADE"] is False
    assert app.config["LOAD_DEMO_ON_FIRST_START"] is False
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["PROXY_COUNT"] == 1
    assert app.config["MAIL_PORT"] == 587 and app.config["MAIL_USE_TLS"] is True
    assert app.config["MAIL_DEFAULT_SENDER"] == "Aza Community <no-reply@example.org>"
    gunicorn = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert gunicorn["workers"] == 4 and gunicorn["bind"] == ["10.0.0.11:8000"]

    # The mistake the guide used to make is caught, not read as "true".
    old = guide.systemd_environment("FORUM_SCHEMA_AUTO_UPGRADE=false     # by hand\n")
    monkeypatch.setenv("FORUM_SCHEMA_AUTO_UPGRADE", old["FORUM_SCHEMA_AUTO_UPGRADE"])
    with pytest.raises(settings.ConfigError, match="FORUM_SCHEMA_AUTO_UPGRADE"):
        settings.load(Flask("old", instance_path=str(tmp_path / "old")), None)


def _certificate(tmp_path):
    cert, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    subprocess.run(
        [_need("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=forum.example.org", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def _nginx_conf(tmp_path, ports) -> str:
    cert, key = _certificate(tmp_path)
    conf = tmp_path / "nginx.conf"
    conf.write_text(guide.nginx_main(tmp_path, guide.nginx_site(tmp_path, ports, cert, key)))
    return str(conf)


def test_nginx_accepts_the_site_config(tmp_path):
    nginx = _need("nginx")
    ports = {name: free_port() for name in ("app1", "app2", "http", "https")}
    conf = _nginx_conf(tmp_path, ports)
    done = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", conf, "-e", str(tmp_path / "error.log")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def _https(port: int, path: str) -> tuple[int, str]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    req = urllib.request.Request(f"https://127.0.0.1:{port}{path}")
    req.add_header("Host", "forum.example.org")
    try:
        with urllib.request.urlopen(req, context=context, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_two_app_servers_behind_nginx(tmp_path):
    """Pages reach both servers; a search that one server answers 503 (its index cannot
    be used) is answered by the other; gunicorn's log line is readable."""
    nginx = _need("nginx")
    database = f"sqlite:///{tmp_path / 'forum.db'}"
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    logs = {name: tmp_path / f"{name}.access.log" for name in ("app1", "app2")}
    app1 = ForumServer(tmp_path / "app1", database, FORUM_ACCESS_LOG=str(logs["app1"]),
                       FORUM_PROXY_COUNT="1")  # fmt: skip
    app2 = ForumServer(tmp_path / "app2", database, FORUM_ACCESS_LOG=str(logs["app2"]),
                       FORUM_PROXY_COUNT="1",
                       FORUM_SEARCH_INDEX_DIR=str(blocker / "search-index"))  # fmt: skip
    ports = {"app1": app1.port, "app2": app2.port, "http": free_port(), "https": free_port()}
    conf = _nginx_conf(tmp_path, ports)
    start_all(app1, app2)
    proc = subprocess.Popen(
        [nginx, "-p", str(tmp_path), "-c", conf, "-e", str(tmp_path / "error.log"),
         "-g", "daemon off;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        status = None
        for _ in range(100):  # until nginx listens
            try:
                status, _body = _https(ports["https"], "/")
                break
            except urllib.error.URLError:
                time.sleep(0.1)
        assert status == 200
        for _ in range(5):
            assert _https(ports["https"], "/")[0] == 200
        for name, log in logs.items():
            assert '"GET /"' in log.read_text(), f"{name} never got a page"
        for _ in range(6):
            status, body = _https(ports["https"], "/search?q=rash")
            assert status == 200 and "being rebuilt" not in body
        assert '"GET /search" 503' in logs["app2"].read_text(), "app2 was never tried"
        line = logs["app1"].read_text().splitlines()[-1]
        assert re.match(r'\S+ \[\d\d/\w{3}/\d{4}:[\d:]+ [+-]\d{4}\] "GET /search" 200 ', line)
        assert "q=rash" not in logs["app1"].read_text()  # search terms stay out of logs
    finally:
        proc.terminate()
        proc.wait(10)
        app1.stop()
        app2.stop()


def test_maintenance_commands_run_as_the_service_user(tmp_path, service_user):
    """The guide's forum-flask script, run as root like an operator would, leaves every
    instance file owned by the service user; a command run as root without it is
    reported at start and by /healthz."""
    work, user, as_user = service_user
    instance = work / "instance"
    instance.mkdir()
    shutil.chown(instance, user.pw_name, user.pw_gid)  # install -d -o forum -g forum
    env_text = guide.rewrite(
        guide.fill_placeholders(guide.block("env")),
        (r"FORUM_INSTANCE_PATH=.*", f"FORUM_INSTANCE_PATH={instance}"),
        (r"FORUM_SQLALCHEMY_DATABASE_URI=.*",
         f"FORUM_SQLALCHEMY_DATABASE_URI=sqlite:///{instance / 'forum.db'}"),
        (r"FORUM_RATELIMIT_STORAGE_URI=.*", "FORUM_RATELIMIT_STORAGE_URI=memory://"),
    )  # fmt: skip
    (work / "forum.env").write_text(env_text)
    script = work / "forum-flask"
    script.write_text(
        guide.rewrite(
            guide.block("forum-flask"),
            (r"/srv/forum/forum\.env", str(work / "forum.env")),
            (r"/srv/forum/app", str(ROOT)),
            (r"runuser -u forum --", " ".join(as_user)),
            (r"/srv/forum/venv/bin/flask", f"{sys.executable} -m flask"),
        )
    )
    script.chmod(0o755)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FORUM_")}
    clean["PYTHONPATH"] = str(ROOT)
    commands = [line.split()[1:] for line in guide.block("first-run").splitlines() if line]
    commands += [line.split()[1:] for line in guide.block("maintenance").splitlines() if line]
    assert ["forum", "reindex"] in commands
    for args in commands:
        done = subprocess.run([str(script), *args], env=clean, capture_output=True, text=True)
        assert done.returncode == 0, f"forum-flask {' '.join(args)}:\n{done.stderr[-3000:]}"
    owned_by_root = [str(p) for p in instance.rglob("*") if p.lstat().st_uid != user.pw_uid]
    assert owned_by_root == []

    # The mistake the guide warns about: `flask forum reindex` as root.
    as_root = {**clean, **guide.systemd_environment(env_text)}
    subprocess.run([sys.executable, "-m", "flask", "--app", "app", "forum", "reindex"],
                   cwd=ROOT, env=as_root, check=True, capture_output=True)  # fmt: skip
    probe = (
        "from forum import create_app\n"
        "r = create_app().test_client().get('/healthz')\n"
        "print(r.status_code, r.get_json()['instance'])\n"
    )
    done = subprocess.run(
        [*as_user, sys.executable, "-c", probe],
        cwd=ROOT, env=as_root, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "instance files not writable" in done.stderr
    assert done.stdout.startswith("503 ") and "unwritable" in done.stdout
    assert str(instance / "search-index") in done.stdout


def test_cron_jobs_run_real_commands_through_forum_flask(app):
    jobs = [line.split() for line in guide.block("cron").splitlines() if line[:1] not in "#"]
    assert len(jobs) == 2
    runner = app.test_cli_runner()
    for fields in jobs:
        assert fields[5] == "root" and fields[6] == "/usr/local/bin/forum-flask", fields
        result = runner.invoke(args=[*fields[7:], "--help"])
        assert result.exit_code == 0, f"{' '.join(fields[7:])}: {result.output}"
    assert [f[-1] for f in jobs] == ["send-mail", "send-digests"]
