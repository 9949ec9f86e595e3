"""The embedded consent store: TinyDB's file format, write-once entries, a hash chain.

Modules, along the store's seams (docs/storage.md describes the design):

- :mod:`.layout`: where everything lives in a data directory, and the only way files there
  are opened (no symbolic links, no special files, capped sizes, private modes);
- :mod:`.lock`: the one cross-process lock;
- :mod:`.entries`: entry files and index lines, read and checked;
- :mod:`.index`: the index held in memory, looked up without decoding every line;
- :mod:`.engine`: :class:`TinyDBStore` (save, append, read) and :func:`open_store`;
- :mod:`.verify`, :mod:`.backup`, :mod:`.reindex`, :mod:`.checkpoints`: the admin's tools;
- :mod:`.messages`: the sentences its errors carry.

``from consent_records.store import open_store, TinyDBStore, store_exists, entry_path``
keeps working for every caller.
"""

from consent_records.store.engine import TinyDBStore, open_store, store_exists
from consent_records.store.entries import Entry, EntryProblem, Row, read_entry
from consent_records.store.layout import (
    BLOCK,
    ENTRY_TABLE,
    FORMAT_NAME,
    FORMAT_VERSION,
    entry_path,
)
from consent_records.store.reindex import rebuild_index

__all__ = [
    "BLOCK",
    "ENTRY_TABLE",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "Entry",
    "EntryProblem",
    "Row",
    "TinyDBStore",
    "entry_path",
    "open_store",
    "read_entry",
    "rebuild_index",
    "store_exists",
]
