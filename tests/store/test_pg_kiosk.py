"""The kiosk and its commands on a PostgreSQL store named in the clinic's settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.cli import main
from tests.pg_fixtures import PgDatabase

pytest.importorskip("psycopg")


def _config(tmp_path: Path, db: PgDatabase, chain: str) -> Path:
    dsn = db.app_dsn.replace("'", "")
    path = tmp_path / "clinic.toml"
    path.write_text(
        f'store = "postgresql"\ndsn = "{dsn}"\nchain = "{chain}"\n'
        '[clinic]\nname = "Synthetic Test Clinic"\n'
        '[[physiotherapists]]\nid = "akim"\nname = "Alex Kim"\n',
        encoding="utf-8",
    )
    return path


def test_demo_pdf_and_verify_on_postgresql(
    pg_database: PgDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, pg_database, "kiosk-cli")
    data = tmp_path / "data"
    common = ["--config", str(config), "--data-dir", str(data)]
    assert main(["demo", "--records", "3", "--seed", "4", *common]) == 0
    references = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()]
    assert len(references) == 3
    out = tmp_path / "summary.pdf"
    assert main(["pdf", references[0], "--out", str(out), *common]) == 0
    assert out.read_bytes().startswith(b"%PDF")
    state = tmp_path / "state"
    assert main(["verify", "--state-dir", str(state), *common]) == 0
    printed = capsys.readouterr().out
    assert "3 records, 1 events" in printed  # the PDF export is logged as an event
    assert "chain kiosk-cli" in printed
    # The entry files of the embedded store were never made...
    assert not (data / "entries").exists()
    # ...but a backup is one, verified, with the chain's head.
    assert main(["backup", "--out", str(tmp_path / "backup"), *common]) == 0
    assert "3 records, 1 events" in capsys.readouterr().out
    assert (tmp_path / "backup" / "store.json").is_file()


def test_postgresql_without_a_dsn_is_a_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IMS_KIOSK_DSN", raising=False)
    config = tmp_path / "clinic.toml"
    config.write_text('store = "postgresql"\n', encoding="utf-8")
    assert main(["verify", "--config", str(config), "--data-dir", str(tmp_path / "d")]) == 1
    assert "name no database" in capsys.readouterr().err


def test_checkpoint_on_postgresql_and_verify_its_line_anywhere(
    pg_database: PgDatabase,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The key stays on the admin's machine; the checkpoint and the public key go with the
    chain, so another terminal's verify checks them (and the line written down)."""
    import io

    from consent_records import keys

    monkeypatch.setattr(keys, "SCRYPT_N", 2**14)
    config = _config(tmp_path, pg_database, "checkpointed")
    admin = ["--config", str(config), "--data-dir", str(tmp_path / "admin")]
    other = ["--config", str(config), "--data-dir", str(tmp_path / "other")]
    assert main(["demo", "--records", "2", *admin]) == 0
    passphrase = "a synthetic passphrase for tests"
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{passphrase}\nanother one for the seal\n"))
    assert main(["keys", "init", "--passphrase-stdin", *admin]) == 0, capsys.readouterr().err
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", io.StringIO(passphrase + "\n"))
    assert main(["checkpoint", "--passphrase-stdin", *admin]) == 0, capsys.readouterr().err
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith("checkpoint 2:")
    assert main(["demo", "--records", "1", *admin]) == 0
    capsys.readouterr()
    code = main(["verify", "--state-dir", str(tmp_path / "s"), "--expect", line, *other])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Checkpoints: 1 signed, each matches" in out


def test_the_database_going_away_mid_session_loses_nothing(
    pg_database: PgDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kiosk's save fails with SaveFailed (the patient is asked to fetch the front desk,
    the session kept); once the database is back, the same session saves."""
    import random

    import psycopg

    from kiosk.demo import fill_session
    from kiosk.services import KioskServices, SaveFailed
    from kiosk.settings import load_settings

    monkeypatch.setattr("consent_records.pg.engine.POOL_TIMEOUT", 1.0)  # (5 s at a kiosk)
    settings = load_settings(_config(tmp_path, pg_database, "away"))
    services = KioskServices(settings, tmp_path / "data")
    try:
        services.prepare()
        session = services.new_session()
        signature = fill_session(session, random.Random(3))
        with psycopg.connect(pg_database.admin_dsn, autocommit=True) as admin:
            admin.execute(f'REVOKE CONNECT ON DATABASE "{pg_database.name}" FROM PUBLIC')
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE usename = 'ims_test_app' AND datname = current_database()"
            )
            try:
                with pytest.raises(SaveFailed, match="could not be used"):
                    services.save(session, signature)
            finally:
                admin.execute(f'GRANT CONNECT ON DATABASE "{pg_database.name}" TO PUBLIC')
        # Back: pressing Sign and finish again works as soon as a connection is made
        # again (the pool reconnects in the background, within a few seconds).
        for _attempt in range(30):
            try:
                saved = services.save(session, signature)
                break
            except SaveFailed:
                continue
        else:
            pytest.fail("the save never worked again after the database came back")
        assert services.find(saved.reference).record.id == saved.record_id
    finally:
        services.close()


def test_a_staff_account_made_on_one_terminal_signs_in_on_another(
    pg_database: PgDatabase,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io

    config = _config(tmp_path, pg_database, "staff")
    kiosk = ["--config", str(config), "--data-dir", str(tmp_path / "kiosk")]
    office = ["--config", str(config), "--data-dir", str(tmp_path / "office")]
    room = ["--config", str(config), "--data-dir", str(tmp_path / "room")]
    assert main(["demo", "--records", "2", "--seed", "9", *kiosk]) == 0
    password = "purple walrus on a quiet bicycle 42"
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{password}\n{password}\n"))
    args = ["users", "add", "akim", "--role", "physio", "--os-user", "--password-stdin"]
    assert main([*args, *office]) == 0, capsys.readouterr().err
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{password}\n"))
    code = main(["records", "list", "--user", "akim", "--password-stdin", *room])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith("2 records")
