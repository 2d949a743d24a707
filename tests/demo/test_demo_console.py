"""Ctrl-C on scripts/run_demo.sh stops web, worker and beat once, with one goodbye and no crash."""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db
ROOT = Path(settings.BASE_DIR)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(sys.platform != "linux", reason="process groups as on the demo's Linux machines")
def test_ctrl_c_stops_web_worker_and_beat_once(tmp_path):
    var = tmp_path / "var"
    # The demo's own defaults (SQLite and the file-system broker under VAR_DIR), whatever the test run uses.
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(VAR_DIR=str(var), PORT=str(_free_port()))
    subprocess.run(
        [str(ROOT / ".venv/bin/python"), "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )
    demo = subprocess.Popen(
        [str(ROOT / "scripts/run_demo.sh")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        # A terminal's shell starts the script with Ctrl-C's default action (a test runner may ignore it).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    url = f"http://127.0.0.1:{env['PORT']}/healthz/"
    for _ in range(60):
        try:
            if urllib.request.urlopen(url, timeout=2).status in (200, 503):
                break
        except OSError:
            time.sleep(1)
    # A person presses Ctrl-C once the demo is up. Beat is up once it has opened its schedule file; a TERM in
    # the second it takes to open it (a loaded machine) ended in a traceback from the interpreter's shutdown.
    for _ in range(60):
        if list(var.glob("celerybeat-schedule*")):
            break
        time.sleep(0.5)
    time.sleep(1)
    children = subprocess.run(["pgrep", "-P", str(demo.pid)], capture_output=True, text=True).stdout.split()
    assert len(children) == 3, children
    os.killpg(demo.pid, signal.SIGINT)  # what the terminal does on Ctrl-C: the foreground process group
    out, _ = demo.communicate(timeout=90)
    text = out.decode()
    assert demo.returncode == 0, text
    assert text.count("Goodbye") == 1 and text.count("Warm shutdown") <= 1, text
    assert "Segmentation fault" not in text and "Traceback" not in text, text
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
