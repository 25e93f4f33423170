"""Joining a Ray cluster ends within msmix's deadline with one line, and signals get msmix's usual answer
(issue 21, point 8): real ``msmix`` processes against a TCP server that is not Ray, and a local Ray."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from msmix_core.training.ray_executor import RAY_CONNECT_TIMEOUT

pytest.importorskip("ray", reason="Ray is optional: pip install -r requirements-ray.txt")

#: Seconds a msmix process may take beyond the deadline: importing torch and Ray on a loaded 2-core machine.
STARTUP = 20


class NotRay:
    """A TCP server on a free port that accepts every connection and never answers, as a black hole or a service
    that is not Ray does; it keeps each connection to see when its client is gone."""

    def __init__(self) -> None:
        self.server = socket.create_server(("", 0))  # every interface: Ray dials a loopback address as the node's
        self.port = self.server.getsockname()[1]
        self.clients: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:  # closed
                return
            self.clients.append(client)

    def all_gone(self, within: float) -> bool:
        """Whether every client has closed its end (read to EOF) within ``within`` seconds."""
        deadline = time.monotonic() + within
        for client in list(self.clients):
            client.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                while client.recv(65536):
                    pass
            except ConnectionResetError:
                pass
            except TimeoutError:
                return False
        return True

    def close(self) -> None:
        self.server.close()
        for client in self.clients:
            client.close()


@pytest.fixture
def not_ray():
    server = NotRay()
    yield server
    server.close()


@pytest.fixture
def msmix(tmp_path):
    """Starts ``msmix train`` processes (with tiny settings, the store in ``tmp_path``); kills any left at the end."""
    started: list[subprocess.Popen] = []

    def start(*argv: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        command = [sys.executable, "-m", "msmix_core", "train", "--runs-dir", str(tmp_path / "runs"), *argv]
        command += ["--batch-size", "16", "--device", "cpu", "--no-weights", "--quiet"]
        started.append(subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}))
        return started[-1]

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.mark.slow
def test_a_server_that_is_not_ray_ends_the_command_with_one_line_at_the_deadline(tiny_npz, tmp_path, not_ray, msmix):
    """Ray retried such an address for minutes (still running after 125 s), printing its log lines."""
    start = time.monotonic()
    process = msmix("--ray", f"127.0.0.1:{not_ray.port}", "--dataset", tiny_npz, "--epochs", "1")
    _, err = process.communicate(timeout=RAY_CONNECT_TIMEOUT + STARTUP + 30)
    took = time.monotonic() - start
    assert process.returncode == 2
    assert err.count("\n") == 1, err
    assert err.startswith(f"msmix: error: --ray 127.0.0.1:{not_ray.port}: no Ray head answers there (no answer within")
    assert err.rstrip().endswith("start one with `ray start --head` or check the address")
    assert RAY_CONNECT_TIMEOUT <= took < RAY_CONNECT_TIMEOUT + STARTUP
    assert len(not_ray.clients) >= 2  # the reachability check, then Ray in the child: it did try
    assert not_ray.all_gone(within=5)  # the child is killed, not left retrying
    assert not list((tmp_path / "runs").glob("*/*"))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sent", "code", "said"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated by SIGTERM")]
)
def test_a_signal_while_joining_is_msmix_s_one_line_at_once(tiny_npz, not_ray, msmix, sent, code, said):
    """Ray held off SIGTERM while it retried (25 s), then ended with no msmix line."""
    process = msmix("--ray", f"127.0.0.1:{not_ray.port}", "--dataset", tiny_npz, "--epochs", "1")
    deadline = time.monotonic() + STARTUP + RAY_CONNECT_TIMEOUT
    while len(not_ray.clients) < 2 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.1)  # the second connection is Ray's, from the child that tries to join
    assert len(not_ray.clients) >= 2, "Ray never dialled the server"
    sent_at = time.monotonic()
    process.send_signal(sent)
    _, err = process.communicate(timeout=30)
    assert time.monotonic() - sent_at < 5
    assert process.returncode == code
    assert err.strip().splitlines() == [
        f"msmix: {said}; 0 of 3 runs stored; the Ray tasks in progress were cancelled, not stored"
    ]
    assert not_ray.all_gone(within=5)


def _ray_tasks_marked(marker: str) -> bool:
    """Whether a Ray worker of this machine whose environment holds ``marker`` is running msmix's task."""
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if (proc / "cmdline").read_bytes().startswith(b"ray::_ray_task") and marker.encode() in (
                proc / "environ"
            ).read_bytes():
                return True
        except OSError:  # gone, or another user's
            continue
    return False


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").is_file(), reason="finds Ray's workers through Linux's /proc")
def test_sigterm_while_ray_tasks_train_is_msmix_s_one_line(tiny_npz, msmix):
    """ray.init put in a SIGTERM handler that exits at once (status 15, no line, the tasks left to Ray). A
    $RAY_ADDRESS where nothing listens does not stop `--ray` alone starting its own local Ray."""
    marker = f"msmix-test-{uuid.uuid4()}"
    argv = ["--ray", "--workers", "2", "--seeds", "1", "2", "--epochs", "100000", "--patience", "100000"]
    process = msmix(*argv, "--dataset", tiny_npz, env={"MSMIX_TEST_MARKER": marker, "RAY_ADDRESS": "127.0.0.1:1"})
    deadline = time.monotonic() + 180
    while not _ray_tasks_marked(marker) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    assert process.poll() is None, process.communicate()[1][-2000:]
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err[-2000:]
    last = err.strip().splitlines()[-1]
    assert (
        last == "msmix: terminated by SIGTERM; 0 of 2 runs stored; the Ray tasks in progress were cancelled, not stored"
    )
