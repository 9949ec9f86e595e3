"""Anchors from outside the store: ``--expect`` text and the high-water mark.

An anchor says "entry SEQ of this chain had hash HEAD". Verify proves the store still holds
exactly that prefix, so deleting the newest entries, restoring an older copy, or rewriting
the chain (and re-hashing it) below an anchor is caught.

- ``--expect`` takes ``SEQ:HASH`` (printed by verify and on every PDF), a whole checkpoint
  line (``checkpoint SEQ:HASH at … key … sig …``, its signature then checked too), or the
  path of a file holding such lines.
- The **high-water mark** is the longest chain verify or checkpoint has seen for a data
  directory, kept in the state directory of the user who runs them (default
  ``~/.local/state/ims-kiosk/high-water.json``), apart from the data directory. Run as
  another operating-system user than the kiosk's (an admin account, or root), it is out of
  the kiosk user's reach: a store cut or rolled back below it is reported even when the
  whole data directory was replaced. Run as the kiosk's own user it still catches an older
  copy restored over the store or entries deleted with their index and checkpoints, but not
  someone who also edits the mark.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from consent_records.base import Anchor, Checkpoint
from consent_records.storage import atomic_write_bytes
from consent_records.store.layout import DIR_MODE, FILE_MODE, FileRefused, read_file

HIGH_WATER_NAME = "high-water.json"
_PAIR = re.compile(r"\b(\d{1,18}):([0-9a-f]{64})\b")
_LINE = re.compile(
    r"checkpoint (\d{1,18}):([0-9a-f]{64}) at (\S+) key ([0-9a-f]{20}) sig ([A-Za-z0-9_-]{86})"
)


class AnchorError(Exception):
    """Text or a file that is not an anchor (a sentence for the person at the terminal)."""


def parse_anchor_text(text: str, source: str) -> list[Anchor | Checkpoint]:
    """Anchors in ``text``: checkpoint lines (kept as checkpoints, to check their signature)
    and bare ``SEQ:HASH`` pairs."""
    found: list[Anchor | Checkpoint] = []
    for raw in text.splitlines() or [text]:
        line = raw.strip()
        if not line:
            continue
        match = _LINE.search(line)
        if match:
            try:
                found.append(
                    Checkpoint(
                        seq=int(match[1]),
                        head=match[2],
                        at=match[3],
                        key=match[4],
                        signature=match[5],
                    )
                )
            except ValidationError:
                raise AnchorError(f"{source}: {line[:80]!r} is not a valid checkpoint.") from None
            continue
        pair = _PAIR.search(line)
        if pair:
            found.append(Anchor(seq=int(pair[1]), head=pair[2], source=source))
    return found


def parse_expect(value: str) -> list[Anchor | Checkpoint]:
    """One ``--expect`` value: ``SEQ:HASH``, a checkpoint line, or a file of them."""
    if _PAIR.search(value):
        return parse_anchor_text(value, f"--expect {value[:90]}")
    path = Path(value)
    try:
        blob = read_file(path, 4 * 2**20)
    except FileNotFoundError:
        raise AnchorError(
            f"--expect {value}: give SEQ:HASH (for example 1234:9f86d0…, as verify and every "
            "PDF print it), a checkpoint line, or a file holding them."
        ) from None
    except FileRefused as exc:
        raise AnchorError(f"--expect: {exc.sentence()}.") from None
    except OSError as exc:
        raise AnchorError(f"--expect: {path} cannot be read ({exc.strerror or exc}).") from None
    found = parse_anchor_text(blob.decode("utf-8", "replace"), f"the anchor file {path}")
    if not found:
        raise AnchorError(f"--expect: {path} holds no SEQ:HASH and no checkpoint line.")
    return found


def default_state_dir() -> Path:
    env = os.environ.get("IMS_KIOSK_STATE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "ims-kiosk"


@dataclass(frozen=True, slots=True)
class Mark:
    seq: int
    head: str
    at: str
    key: str | None
    checkpoints: int = 0
    """Signed checkpoints the store held (deleting them is noticed too)."""

    def anchor(self, path: Path) -> Anchor:
        return Anchor(
            seq=self.seq,
            head=self.head,
            source=f"the high-water mark (seen {self.at}, kept in {path})",
            key=self.key,
        )


class HighWater:
    """The high-water marks of every data directory checked by this user."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / HIGH_WATER_NAME

    def _load_all(self) -> dict[str, dict[str, object]]:
        try:
            blob = read_file(self.path, 16 * 2**20)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            reason = exc.reason if isinstance(exc, FileRefused) else (exc.strerror or str(exc))
            raise AnchorError(
                f"The high-water mark {self.path} cannot be read: {reason}."
            ) from None
        try:
            doc = json.loads(blob.decode("utf-8"))
            stores = doc["stores"]
            if not isinstance(stores, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError, RecursionError):
            raise AnchorError(
                f"The high-water mark {self.path} is damaged; move it aside to start a new one "
                "(you lose its protection against rollback until the next verify)."
            ) from None
        return stores

    @staticmethod
    def key_for(data_dir: Path) -> str:
        return os.fspath(Path(data_dir).resolve())

    def get(self, data_dir: Path) -> Mark | None:
        entry = self._load_all().get(self.key_for(data_dir))
        if not isinstance(entry, dict):
            return None
        try:
            seq, head, at, key = entry["seq"], entry["head"], entry["at"], entry.get("key")
            checkpoints = entry.get("checkpoints", 0)
            if not (
                isinstance(seq, int)
                and isinstance(head, str)
                and isinstance(at, str)
                and isinstance(checkpoints, int)
            ):
                raise TypeError
            return Mark(
                seq=seq,
                head=head,
                at=at,
                key=key if isinstance(key, str) else None,
                checkpoints=checkpoints,
            )
        except (KeyError, TypeError):
            raise AnchorError(f"The high-water mark {self.path} is damaged.") from None

    def raise_to(self, data_dir: Path, seq: int, head: str, key: str | None, *,
                 checkpoints: int = 0, lower: bool = False) -> bool:  # fmt: skip
        """Record that the chain of ``data_dir`` reached ``seq`` with ``head`` (never
        lowered unless ``lower``). Returns whether the mark changed."""
        stores = self._load_all()
        name = self.key_for(data_dir)
        current = stores.get(name)
        if (
            not lower
            and isinstance(current, dict)
            and isinstance(current.get("seq"), int)
            and current["seq"] > seq  # type: ignore[operator]
        ):
            return False
        if isinstance(current, dict) and (
            current.get("seq"),
            current.get("head"),
            current.get("key"),
        ) == (seq, head, key):
            return False
        stores[name] = {
            "seq": seq,
            "head": head,
            "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "key": key,
            "checkpoints": checkpoints,
        }
        self.path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        blob = json.dumps({"stores": stores}, indent=1, sort_keys=True).encode() + b"\n"
        atomic_write_bytes(self.path, blob, mode=FILE_MODE)
        return True
