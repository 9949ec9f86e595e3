"""Writer processes for the kill -9 and two-writer tests (run as a script, not collected).

``python writer.py server``: a fork server. For each ``fork <data_dir> <seed>`` line on stdin
it forks a fresh writer process (imports already done, so a round costs milliseconds), which
opens the store, prints ``ready`` and then saves records and events in a loop, printing
``R <id>`` or ``E <event id> <record id>`` only after each save has returned. The server
prints ``pid <pid>`` and, once the writer has died, ``exit <pid> <status>``.

``python writer.py batch <data_dir> <count> <start_at>``: wait until the time ``start_at``,
save ``count`` records, print their ids, exit.
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import make_event, make_record, open_new

from consent_records.store import open_store


def _say(fd: int, text: str) -> None:
    os.write(fd, text.encode() + b"\n")  # one write per line: whole lines in the pipe


def writer(data_dir: Path, seed: int) -> None:
    rng = random.Random(seed)
    store = open_new(data_dir, lock_timeout=30)
    _say(1, "ready")
    records: list[str] = []
    n = 0
    while True:
        if records and rng.random() < 0.25:
            event = make_event(rng.choice(records), n=n)
            store.append_event(event)
            _say(1, f"E {event.id} {event.record_id}")
        else:
            record = make_record(seed * 1000 + n % 1000, rng=rng)
            store.save_record(record)
            records.append(record.id)
            _say(1, f"R {record.id}")
        n += 1


def server() -> None:
    for line in sys.stdin:
        command, data_dir, seed = line.split()
        assert command == "fork"
        pid = os.fork()
        if pid == 0:
            try:
                writer(Path(data_dir), int(seed))
            finally:
                os._exit(3)
        _say(1, f"pid {pid}")
        _, status = os.waitpid(pid, 0)
        _say(1, f"exit {pid} {status}")


def trickle(data_dir: Path, count: int) -> None:
    """Save ``count`` small events, one every millisecond or so (for verify to race)."""
    store = open_store(data_dir, lock_timeout=30)
    record_id = store.recent(1)[0].id
    _say(1, "ready")
    for n in range(count):
        store.append_event(make_event(record_id, n=n))
        time.sleep(0.001)
    store.close()


def batch(data_dir: Path, count: int, start_at: float) -> None:
    store = open_new(data_dir, lock_timeout=60)
    time.sleep(max(0.0, start_at - time.time()))
    for n in range(count):
        record = make_record(n)
        store.save_record(record)
        _say(1, record.id)
    store.close()


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server()
    elif sys.argv[1] == "trickle":
        trickle(Path(sys.argv[2]), int(sys.argv[3]))
    else:
        batch(Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
