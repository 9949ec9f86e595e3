"""The embedded store's files for the staff side: credentials, backup, index rebuild."""

from __future__ import annotations

import json
import os
from pathlib import Path

from consent_records.audit import AuditQuery, RecordViewed
from consent_records.store import TinyDBStore, open_store, rebuild_index
from consent_records.store.layout import CREDENTIALS_NAME, INDEX_NAME
from tests.event_factories import JLEE, discussed
from tests.store.test_contract import PHC, _account, _agreed, _password

OTHER_PHC = "$argon2id$v=19$m=8,t=1,p=1$b3RoZXJzYWx0$b3RoZXJoYXNob3RoZXJoYXNo"


def _with_account(store: TinyDBStore) -> None:
    store.append_audit(_account("jlee"), _password("jlee"), credential=PHC)


def test_credentials_are_private_and_verify_checks_them_against_the_chain(
    store: TinyDBStore, store_dir: Path
) -> None:
    _with_account(store)
    path = store_dir / CREDENTIALS_NAME
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(path.parent).st_mode & 0o777 == 0o700
    report = store.verify()
    assert report.ok and report.accounts == 1 and report.audit == 2
    path.write_text(json.dumps({"jlee": OTHER_PHC}))
    problem = store.verify().problem
    assert problem is not None and "jlee" in problem and "not the one the audit chain" in problem
    assert OTHER_PHC not in problem
    path.unlink()
    problem = store.verify().problem
    assert problem is not None and "missing" in problem


def test_a_backup_holds_the_credentials_and_verifies(store: TinyDBStore, tmp_path: Path) -> None:
    _with_account(store)
    record = _agreed(0)
    store.save_record(record)
    store.append_event(discussed(record))
    report = store.backup(tmp_path / "backup")
    assert report.ok, report.problem
    assert (report.records, report.events, report.audit, report.accounts) == (1, 1, 2, 1)
    copy = open_store(tmp_path / "backup", read_only=True)
    try:
        assert copy.credential("jlee") == PHC
    finally:
        copy.close()


def test_a_lost_index_is_rebuilt_with_audit_entries(store: TinyDBStore, store_dir: Path) -> None:
    _with_account(store)
    record = _agreed(1)
    store.save_record(record)
    store.append_audit(RecordViewed(at=record.completed_at, actor=JLEE, record_id=record.id))
    store.append_event(discussed(record))
    before = (store_dir / INDEX_NAME).read_bytes()
    store.close()
    (store_dir / INDEX_NAME).unlink()
    rebuild_index(store_dir)
    assert (store_dir / INDEX_NAME).read_bytes() == before
    again = open_store(store_dir)
    try:
        assert again.count() == (1, 1) and again.audit_count() == 3
        assert again.audit(AuditQuery(person="jlee")).total == 4  # about or by jlee
        assert again.verify().ok
    finally:
        again.close()
