"""A classroom on one server: many sessions open the exploration pages while some have training queued.

    .venv/bin/python bench/bench_class.py                      # 30 sessions, 10 of them press Run on Training
    .venv/bin/python bench/bench_class.py --sessions 8 --trainers 3

Starts a fresh server as ``make run`` does (``python -m ui.serve``: its own port, a temporary run store, the
training queue at its default size unless ``MSMIX_TRAINING_SLOTS`` is set) and drives it with headless clients that
speak Streamlit's own websocket protocol (a ``BackMsg`` asks for a script run, ``ForwardMsg`` s
answer until ``script_finished``), so thirty sessions cost this machine the server's work, not thirty
browsers'. First ``--trainers`` sessions open Training with their own seed and press Run (a few
epochs of no mixing): the queue starts as many as it has slots and the others wait, their place in
line shown. Then every session, at once, opens each exploration page with its own synthetic data
seed (so no session is served another's cached data, and, with an empty latent cache, the pages that open
on trained latents train them once per session) and the time from the request to the
``script_finished`` of that page run is recorded per page, as the server's side of a page load.
Meanwhile the resident memory of the server and of all its child processes (the trainings, the idle
worker) is sampled from ``/proc``. A page run fails when it ends in an exception element, a compile
error, a closed socket or no answer within ``--timeout`` seconds. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import websockets  # noqa: E402
from app_driver import app_server  # noqa: E402
from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402
from streamlit.proto.ClientState_pb2 import ClientState  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402
from streamlit.proto.WidgetStates_pb2 import WidgetState  # noqa: E402

EXPLORATION = ("home", "pairs", "ratios", "embeddings")
SUCCESS = (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY)


class Session:
    """One browser session over one websocket: ask for a page run, read what comes until it finishes."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url, self.timeout = url, timeout
        self.ws = None
        self.buttons: dict[str, str] = {}  # label -> widget id, of the last run
        self.progress: list[str] = []  # the progress texts of the last run

    async def open(self) -> None:
        host = self.url.removeprefix("http://")
        self.ws = await websockets.connect(
            f"ws://{host}/_stcore/stream",
            subprotocols=["streamlit"],
            max_size=None,
            open_timeout=self.timeout,
            ping_interval=None,  # as a browser: no client pings, whose 20 s answer a loaded server may miss
        )

    async def run(self, page: str, query: str, widgets: list[WidgetState] = ()) -> tuple[float, str | None]:
        """Seconds until the page run's ``script_finished``, and why it failed (None when it did not)."""
        state = ClientState(query_string=query, page_name=page, widget_states={"widgets": list(widgets)})
        message = BackMsg(rerun_script=state)
        self.buttons, self.progress = {}, []
        start = time.perf_counter()
        failure = None
        try:
            await self.ws.send(message.SerializeToString())
            async with asyncio.timeout(self.timeout):
                while True:
                    forward = ForwardMsg()
                    forward.ParseFromString(await self.ws.recv())
                    kind = forward.WhichOneof("type")
                    if kind == "delta" and forward.delta.WhichOneof("type") == "new_element":
                        element = forward.delta.new_element
                        which = element.WhichOneof("type")
                        if which == "exception":
                            failure = f"exception: {element.exception.message[:120]}"
                        elif which == "button":
                            self.buttons[element.button.label] = element.button.id
                        elif which == "progress":
                            self.progress.append(element.progress.text)
                    elif kind == "page_not_found":
                        failure = "page not found"
                    elif kind == "script_finished":
                        if forward.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                            continue
                        if forward.script_finished not in SUCCESS:
                            failure = failure or f"script_finished {forward.script_finished}"
                        break
        except TimeoutError:
            failure = f"no answer within {self.timeout:.0f} s"
        except websockets.ConnectionClosed as exc:
            failure = f"socket closed: {exc}"
        return time.perf_counter() - start, failure

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            todo += children
    return found


class MemorySampler(threading.Thread):
    """Peak resident memory (MiB) of the server alone and of the server with all its descendants."""

    def __init__(self, pid: int, every: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.server_peak = self.total_peak = 0.0
        self.children_peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            server = _rss_kib(self.pid)
            children = _descendants(self.pid)
            total = server + sum(_rss_kib(child) for child in children)
            self.server_peak = max(self.server_peak, server / 1024)
            self.total_peak = max(self.total_peak, total / 1024)
            self.children_peak = max(self.children_peak, len(children))
            self.done.wait(self.every)


def _server_pid(port: str) -> int:
    """The pid of the server listening on ``port`` (the app_driver keeps the Popen to itself)."""
    out = subprocess.run(["pgrep", "-f", f"ui.serve --server.port {port}"], capture_output=True, text=True)
    return int(out.stdout.split()[0])


async def press_run(session: Session, seed: int, epochs: int) -> tuple[float, str | None, str]:
    """Open Training with this session's seed and press Run; seconds of the press, failure, and the progress text."""
    query = f"seed={seed}&tr_methods=none&tr_epochs={epochs}&tr_seeds=1"
    seconds, failure = await session.run("training", query)
    if failure is None:
        run = session.buttons.get("Run")
        if run is None:
            return seconds, "no Run button", ""
        seconds, failure = await session.run("training", query, [WidgetState(id=run, trigger_value=True)])
    return seconds, failure, (session.progress or [""])[-1]


async def explore(session: Session, seed: int, times: dict[str, list[float]], failures: list[str]) -> None:
    """Open every exploration page in turn with this session's own data seed."""
    for page in EXPLORATION:
        seconds, failure = await session.run(page, f"data_seed={seed}")
        times.setdefault(page, []).append(seconds)
        if failure:
            failures.append(f"{page} (data seed {seed}): {failure}")


async def classroom(url: str, args: argparse.Namespace) -> dict:
    sessions = [Session(url, args.timeout) for _ in range(args.sessions)]
    await asyncio.gather(*(s.open() for s in sessions))
    failures: list[str] = []
    pressed = await asyncio.gather(
        *(press_run(s, 100 + i, args.epochs) for i, s in enumerate(sessions[: args.trainers]))
    )
    queue_texts = [text for _, failure, text in pressed if failure is None]
    failures += [f"training Run: {failure}" for _, failure, _ in pressed if failure]
    times: dict[str, list[float]] = {}
    start = time.perf_counter()
    await asyncio.gather(*(explore(s, 1000 + i, times, failures) for i, s in enumerate(sessions)))
    wall = time.perf_counter() - start
    after = await asyncio.gather(
        *(s.run("training", f"seed={100 + i}") for i, s in enumerate(sessions[: args.trainers]))
    )
    later = [session.progress[-1] for session in sessions[: args.trainers] if session.progress]
    failures += [f"training page after: {failure}" for _, failure in after if failure]
    await asyncio.gather(*(s.close() for s in sessions))
    return {
        "times": times,
        "failures": failures,
        "queue": queue_texts,
        "later": later,
        "wall": wall,
        "pressed": pressed,
    }


def _quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--trainers", type=int, default=10, help="sessions that press Run on Training first")
    parser.add_argument(
        "--epochs",
        type=int,
        default=20,
        help="epochs of each queued training (long enough to keep the queue full while the pages are measured)",
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds a page run may take before it fails")
    args = parser.parse_args()
    env = {  # an empty run store, and an empty latent cache: every session's own data seed trains its latents
        "MSMIX_RUNS_DIR": tempfile.mkdtemp(prefix="msmix-class-"),
        "MSMIX_LATENT_CACHE": tempfile.mkdtemp(prefix="msmix-class-latents-"),
    }
    with app_server(env) as url:
        sampler = MemorySampler(_server_pid(url.rsplit(":", 1)[1]))
        sampler.start()
        result = asyncio.run(classroom(url, args))
        sampler.done.set()
        sampler.join()
    slots = os.environ.get("MSMIX_TRAINING_SLOTS") or f"{os.cpu_count()} (the cores)"
    print(
        f"`bench/bench_class.py --sessions {args.sessions} --trainers {args.trainers} --epochs {args.epochs}`, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()} ({os.cpu_count()} cores, Python "
        f"{platform.python_version()}), training slots {slots}\n"
    )
    print("| page | runs | p50 s | p95 s | max s |\n|---|---|---|---|---|")
    for page, values in result["times"].items():
        print(
            f"| {page} | {len(values)} | {statistics.median(values):.2f} | {_quantile(values, 95):.2f} | "
            f"{max(values):.2f} |"
        )
    presses = [seconds for seconds, _, _ in result["pressed"]]
    if presses:
        print(
            f"| Training: Run pressed (queued) | {len(presses)} | {statistics.median(presses):.2f} | "
            f"{_quantile(presses, 95):.2f} | {max(presses):.2f} |"
        )
    print(
        f"\nAll sessions' exploration pages took {result['wall']:.1f} s of wall time. Peak resident memory: "
        f"server {sampler.server_peak:.0f} MiB, server and its children {sampler.total_peak:.0f} MiB "
        f"(at most {sampler.children_peak} child processes at once). Failures: {len(result['failures'])}."
    )
    for failure in result["failures"][:20]:
        print(f"- {failure}")
    for when, texts in (("right after Run", result["queue"]), ("after the exploration pages", result["later"])):
        waiting = sorted(text for text in texts if "in line" in text)
        print(f"\nThe trainers' progress {when}: {len(waiting)} waiting, {len(texts) - len(waiting)} training or done")
        for text in [*waiting[:3], *[t for t in texts if "in line" not in t][:2]]:
            print(f"- {text}")


if __name__ == "__main__":
    main()
