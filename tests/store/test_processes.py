"""Real processes: kill -9 at random moments of a writer, and two writers at once."""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from .conftest import open_new
from .harness import temp_files

WRITER = Path(__file__).with_name("writer.py")
ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 200
ROUNDS_PER_STORE = 25


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def test_kill_minus_nine(tmp_path: Path) -> None:
    rng = random.Random(20260611)
    server = subprocess.Popen(
        [sys.executable, str(WRITER), "server"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=ROOT,
    )
    assert server.stdin is not None and server.stdout is not None
    acked_records: set[str] = set()
    acked_events: dict[str, set[str]] = {}
    total_acks = 0
    try:
        for round_no in range(ROUNDS):
            data = tmp_path / f"store{round_no // ROUNDS_PER_STORE}"
            if round_no % ROUNDS_PER_STORE == 0:
                acked_records, acked_events, all_events = set(), {}, 0
            round_records: set[str] = set()
            server.stdin.write(f"fork {data} {round_no + 1}\n")
            server.stdin.flush()
            pid = None
            ready = False
            while pid is None or not ready:
                line = server.stdout.readline().split()
                assert line, "the fork server died"
                if line[0] == "pid":
                    pid = int(line[1])
                elif line[0] == "ready":
                    ready = True
                else:
                    raise AssertionError(f"unexpected {line} before ready")
            time.sleep(rng.uniform(0.02, 0.2))
            os.kill(pid, signal.SIGKILL)
            while True:
                line = server.stdout.readline().split()
                assert line, "the fork server died"
                if line[0] == "exit":
                    status = int(line[2])
                    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (
                        f"round {round_no}: the writer died by itself (status {status})"
                    )
                    break
                if line[0] == "R":
                    round_records.add(line[1])
                elif line[0] == "E":
                    acked_events.setdefault(line[2], set()).add(line[1])
                    all_events += 1
                total_acks += 1
            # The store always opens, and every acknowledged entry is there and intact.
            store = open_new(data, lock_timeout=5)
            assert not temp_files(data), f"round {round_no}: temporary files were not swept"
            acked_records |= round_records
            records, events = store.count()
            assert records >= len(acked_records)
            assert events >= all_events
            # This round's records, and the records that got events this round, are there
            # and intact (get re-hashes every file it reads); verify re-checks all of them.
            for record_id in round_records | set(acked_events):
                stored = store.get(record_id)
                assert acked_events.get(record_id, set()) <= {e.event.id for e in stored.events}
            acked_events = {}
            if round_no % ROUNDS_PER_STORE == ROUNDS_PER_STORE - 1:
                report = store.verify()
                assert report.ok, f"round {round_no}: {report.problem}"
            store.close()
    finally:
        server.stdin.close()
        server.wait(timeout=30)
    # Writers did write (under a heavily loaded machine some rounds end before a save).
    assert total_acks > ROUNDS, total_acks


def test_two_writers_500_each(tmp_path: Path) -> None:
    data = tmp_path / "data"
    open_new(data).close()
    start_at = time.time() + 1.5
    procs = [
        subprocess.Popen(
            [sys.executable, str(WRITER), "batch", str(data), "500", str(start_at)],
            stdout=subprocess.PIPE,
            text=True,
            env=_env(),
            cwd=ROOT,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=180)[0].split() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    ids = [set(out) for out in outputs]
    assert len(ids[0]) == len(ids[1]) == 500
    assert not ids[0] & ids[1]
    store = open_new(data)
    assert store.count() == (1000, 0)
    report = store.verify()
    assert report.ok, report.problem
    assert report.records == 1000
    # The writers really ran at the same time: their entries interleave in the chain.
    seqs = sorted((store.get(i).entry.seq, n) for n in (0, 1) for i in ids[n])
    assert [seq for seq, _ in seqs] == list(range(1, 1001))
    owner = [n for _, n in seqs]
    switches = sum(a != b for a, b in itertools.pairwise(owner))
    assert switches >= 2, switches
    store.close()
