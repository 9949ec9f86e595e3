-- IMS Consent Kiosk, PostgreSQL schema version 1: the hash chain, the content archive,
-- the checkpoints and the records' search index.
--
-- Applied by `ims-kiosk db init` as the owner role ims_owner (SET ROLE), in one transaction
-- with the row in ims.schema_migrations that records it. The application logs in as another
-- role, a member of ims_writer, which may only SELECT and INSERT (docs/postgresql.md).

CREATE SCHEMA ims;
REVOKE ALL ON SCHEMA ims FROM PUBLIC;
GRANT USAGE ON SCHEMA ims TO ims_writer;

CREATE TABLE ims.schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    sha256 text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- One row per clinic chain (a chain of clinics may keep several in one database).
CREATE TABLE ims.chains (
    chain text PRIMARY KEY CHECK (chain ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Every entry of every chain: the exact canonical JSON bytes that were hashed (body), and
-- the columns that find it. sha256 = SHA-256(body); body holds seq, kind and prev_sha256.
CREATE TABLE ims.entries (
    chain text NOT NULL REFERENCES ims.chains (chain),
    seq bigint NOT NULL CHECK (seq >= 1),
    kind text NOT NULL CHECK (kind IN ('record', 'event', 'audit')),
    entry_id text NOT NULL CHECK (entry_id ~ '^[0-9a-f]{32}$'),
    record_id text CHECK (record_id ~ '^[0-9a-f]{32}$'),
    reference text,
    event_kind text,
    at timestamptz NOT NULL,
    at_day date NOT NULL,
    actor text,
    subject text,
    prev_sha256 text NOT NULL CHECK (prev_sha256 ~ '^[0-9a-f]{64}$'),
    sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    body bytea NOT NULL CHECK (octet_length(body) <= 4194304),
    status_after text,
    consented_at_after timestamptz,
    PRIMARY KEY (chain, seq),
    UNIQUE (chain, prev_sha256),
    UNIQUE (chain, sha256),
    UNIQUE (chain, entry_id),
    UNIQUE (chain, reference),
    CHECK (encode(sha256(body), 'hex') = sha256),
    CHECK ((kind = 'record') = (reference IS NOT NULL)),
    CHECK (kind <> 'record' OR entry_id = record_id),
    CHECK (kind <> 'event' OR record_id IS NOT NULL),
    CHECK ((kind = 'record') = (event_kind IS NULL)),
    CHECK ((kind = 'record') = (actor IS NULL))
);
CREATE INDEX entries_record ON ims.entries (chain, record_id, seq);
CREATE INDEX entries_subject ON ims.entries (chain, subject, seq) WHERE subject IS NOT NULL;
CREATE INDEX entries_actor ON ims.entries (chain, actor, seq) WHERE actor IS NOT NULL;
CREATE INDEX entries_log ON ims.entries (chain, seq) WHERE kind <> 'record';

-- Staff password hashes (argon2id PHC strings), outside the chain: each row is committed to
-- by the PasswordSet audit entry appended in the same transaction; the newest row counts.
CREATE TABLE ims.credentials (
    chain text NOT NULL REFERENCES ims.chains (chain),
    user_name text NOT NULL,
    n integer NOT NULL CHECK (n >= 1),
    phc text NOT NULL CHECK (length(phc) <= 1024),
    entry_seq bigint NOT NULL,
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chain, user_name, n),
    FOREIGN KEY (chain, entry_seq) REFERENCES ims.entries (chain, seq)
);

-- The content each record was shown, by its SHA-256 (shared by every chain).
CREATE TABLE ims.content (
    sha256 text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    body bytea NOT NULL CHECK (octet_length(body) <= 16777216),
    archived_at timestamptz NOT NULL DEFAULT now(),
    CHECK (encode(sha256(body), 'hex') = sha256)
);

-- Signed checkpoints of a chain, and the public keys that sign them.
CREATE TABLE ims.checkpoint_keys (
    chain text NOT NULL REFERENCES ims.chains (chain),
    n integer NOT NULL CHECK (n >= 1),
    fingerprint text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{20}$'),
    public_key bytea NOT NULL CHECK (octet_length(public_key) <= 65536),
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chain, n)
);
CREATE TABLE ims.checkpoints (
    chain text NOT NULL REFERENCES ims.chains (chain),
    n integer NOT NULL CHECK (n >= 1),
    line bytea NOT NULL CHECK (octet_length(line) <= 4096),
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chain, n)
);

-- The staff browser's search index: one row per record, derived from its entries (never
-- trusted over them: verify compares). base_status and consented_at follow the record's
-- events (set by the trigger below from the event entry's status_after).
CREATE TABLE ims.records (
    chain text NOT NULL,
    record_id text NOT NULL,
    seq bigint NOT NULL,
    reference text NOT NULL,
    reference_compact text COLLATE "C" NOT NULL,
    patient_name text NOT NULL,
    name_key text COLLATE "C" NOT NULL,
    name_terms text[] NOT NULL,
    date_of_birth date NOT NULL,
    chart text COLLATE "C" NOT NULL,
    completed_at timestamptz NOT NULL,
    completed_day date NOT NULL,
    physiotherapist_id text NOT NULL,
    flag_count integer NOT NULL,
    missed_count integer NOT NULL,
    has_substitute boolean NOT NULL,
    content_language text NOT NULL,
    content_version text NOT NULL,
    content_version_key integer[] NOT NULL,
    base_status text NOT NULL,
    consented_at timestamptz,
    state_seq bigint NOT NULL,
    PRIMARY KEY (chain, record_id),
    FOREIGN KEY (chain, seq) REFERENCES ims.entries (chain, seq)
);
CREATE INDEX records_completed ON ims.records (chain, completed_at DESC, record_id);
CREATE INDEX records_name ON ims.records (chain, name_key, completed_at DESC);
CREATE INDEX records_terms ON ims.records USING gin (name_terms);
CREATE INDEX records_reference ON ims.records (chain, reference_compact text_pattern_ops);
CREATE INDEX records_chart ON ims.records (chain, chart text_pattern_ops);
CREATE INDEX records_birth ON ims.records (chain, date_of_birth);
CREATE INDEX records_status ON ims.records (chain, base_status, consented_at);
CREATE INDEX records_physio ON ims.records (chain, physiotherapist_id, completed_at DESC);

-- ------------------------------------------------------------------ append-only

CREATE FUNCTION ims.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'IMS Consent Kiosk records are append-only: % on %.% is refused',
        TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON ims.entries
    FOR EACH ROW EXECUTE FUNCTION ims.refuse_change();
CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON ims.entries
    FOR EACH STATEMENT EXECUTE FUNCTION ims.refuse_change();
CREATE TRIGGER content_append_only BEFORE UPDATE OR DELETE ON ims.content
    FOR EACH ROW EXECUTE FUNCTION ims.refuse_change();
CREATE TRIGGER content_no_truncate BEFORE TRUNCATE ON ims.content
    FOR EACH STATEMENT EXECUTE FUNCTION ims.refuse_change();
CREATE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE ON ims.checkpoints
    FOR EACH ROW EXECUTE FUNCTION ims.refuse_change();
CREATE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON ims.checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION ims.refuse_change();
CREATE TRIGGER checkpoint_keys_append_only BEFORE UPDATE OR DELETE ON ims.checkpoint_keys
    FOR EACH ROW EXECUTE FUNCTION ims.refuse_change();
CREATE TRIGGER checkpoint_keys_no_truncate BEFORE TRUNCATE ON ims.checkpoint_keys
    FOR EACH STATEMENT EXECUTE FUNCTION ims.refuse_change();
CREATE TRIGGER credentials_append_only BEFORE UPDATE OR DELETE ON ims.credentials
    FOR EACH ROW EXECUTE FUNCTION ims.refuse_change();
CREATE TRIGGER credentials_no_truncate BEFORE TRUNCATE ON ims.credentials
    FOR EACH STATEMENT EXECUTE FUNCTION ims.refuse_change();
CREATE TRIGGER chains_append_only BEFORE UPDATE OR DELETE ON ims.chains
    FOR EACH ROW EXECUTE FUNCTION ims.refuse_change();
CREATE TRIGGER chains_no_truncate BEFORE TRUNCATE ON ims.chains
    FOR EACH STATEMENT EXECUTE FUNCTION ims.refuse_change();
CREATE TRIGGER records_no_delete BEFORE DELETE ON ims.records
    FOR EACH ROW EXECUTE FUNCTION ims.refuse_change();
CREATE TRIGGER records_no_truncate BEFORE TRUNCATE ON ims.records
    FOR EACH STATEMENT EXECUTE FUNCTION ims.refuse_change();

-- Every entry follows the one before it in its chain (or the genesis hash), and an event
-- follows its record: the database itself keeps the chain whole, whatever the client.
CREATE FUNCTION ims.check_link() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    before text;
BEGIN
    IF NEW.seq = 1 THEN
        before := repeat('0', 64);
    ELSE
        SELECT sha256 INTO before FROM ims.entries WHERE chain = NEW.chain AND seq = NEW.seq - 1;
    END IF;
    IF before IS NULL OR before <> NEW.prev_sha256 THEN
        RAISE EXCEPTION 'entry % of chain % does not follow the chain''s head', NEW.seq, NEW.chain
            USING ERRCODE = 'serialization_failure';
    END IF;
    IF NEW.record_id IS NOT NULL AND NEW.kind <> 'record' AND NOT EXISTS (
        SELECT 1 FROM ims.entries
        WHERE chain = NEW.chain AND entry_id = NEW.record_id AND kind = 'record'
    ) THEN
        RAISE EXCEPTION 'event % is for record %, which is not stored', NEW.entry_id, NEW.record_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER entries_link BEFORE INSERT ON ims.entries
    FOR EACH ROW EXECUTE FUNCTION ims.check_link();

-- An event moves its record's status in the search index. SECURITY DEFINER: it runs as the
-- owner, so the application needs no UPDATE right on ims.records.
CREATE FUNCTION ims.follow_event() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, ims AS $$
BEGIN
    IF NEW.kind = 'event' AND NEW.status_after IS NOT NULL THEN
        UPDATE ims.records
        SET base_status = NEW.status_after, consented_at = NEW.consented_at_after,
            state_seq = NEW.seq
        WHERE chain = NEW.chain AND record_id = NEW.record_id AND state_seq < NEW.seq;
    END IF;
    RETURN NULL;
END;
$$;
REVOKE ALL ON FUNCTION ims.follow_event() FROM PUBLIC;
CREATE TRIGGER entries_follow AFTER INSERT ON ims.entries
    FOR EACH ROW EXECUTE FUNCTION ims.follow_event();

-- Search index rows change only through the trigger above (the owner), never otherwise.
CREATE FUNCTION ims.records_update_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() < 2 THEN
        RAISE EXCEPTION 'the search index follows the entries: UPDATE on ims.records is refused'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.chain <> OLD.chain OR NEW.record_id <> OLD.record_id OR NEW.seq <> OLD.seq
       OR NEW.patient_name <> OLD.patient_name OR NEW.name_key <> OLD.name_key
       OR NEW.completed_at <> OLD.completed_at OR NEW.reference <> OLD.reference THEN
        RAISE EXCEPTION 'a record''s own fields never change' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER records_update_guard BEFORE UPDATE ON ims.records
    FOR EACH ROW EXECUTE FUNCTION ims.records_update_guard();

GRANT SELECT, INSERT ON ims.chains, ims.entries, ims.content, ims.checkpoints,
    ims.checkpoint_keys, ims.records, ims.credentials TO ims_writer;
GRANT SELECT ON ims.schema_migrations TO ims_writer;
