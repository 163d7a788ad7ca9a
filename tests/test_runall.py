"""``manage.py runall`` (what ``make run`` starts): a busy port is an error, a dead
process is started again and the log says so."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}}
    env.update(NETPOL_VAR_DIR=str(tmp_path), PYTHONUNBUFFERED="1", DJANGO_SETTINGS_MODULE="config.settings")
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_busy_port_stops_runall_at_once_with_a_non_zero_exit(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "manage.py", "runall", "--bind", f"127.0.0.1:{port}"],
            cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=60,
        )
    assert result.returncode == 1
    assert f"127.0.0.1:{port} is already in use" in result.stderr
    assert "started (pid" not in result.stdout  # nothing was started


class _Output:
    """The lines a process prints, gathered by a thread as they come."""

    def __init__(self, process: subprocess.Popen):
        self.process, self._lines = process, []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self._lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self._lines)

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.text)
            if found:
                return found
            time.sleep(0.2)
        raise AssertionError(f"{pattern!r} not printed; output so far:\n{self.text[-4000:]}")


@pytest.mark.worker
def test_a_killed_worker_is_started_again_and_the_web_keeps_serving(tmp_path):
    env = _env(tmp_path)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runall", "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    output = _Output(process)
    try:
        output.wait_for(rf"running at http://localhost:{port}/")
        first = int(output.wait_for(r"worker started \(pid (\d+)\)").group(1))
        os.kill(first, signal.SIGKILL)
        output.wait_for(r"worker exited with code -9; starting it again \(restart 1 of at most 5")
        second = [int(p) for p in re.findall(r"worker started \(pid (\d+)\)", output.text)]
        assert len(second) == 2 and second[1] != first
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # the web server never went away
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
