-- IMS Consent Kiosk, PostgreSQL schema version 2: counts per status kept as records are
-- added and their events move them, so the staff browser's tabs ("7 awaiting discussion")
-- cost the same at a million records as at a hundred.
--
-- One row per chain, physiotherapist, base status and the three yes/no filters: at most a
-- few hundred rows a chain. Kept by triggers running as the owner (the application cannot
-- write it); verify compares it with the records.

CREATE TABLE ims.record_counts (
    chain text NOT NULL,
    physiotherapist_id text NOT NULL,
    base_status text NOT NULL,
    has_flags boolean NOT NULL,
    has_missed boolean NOT NULL,
    has_substitute boolean NOT NULL,
    n bigint NOT NULL CHECK (n >= 0),
    PRIMARY KEY (chain, physiotherapist_id, base_status, has_flags, has_missed, has_substitute)
);
GRANT SELECT ON ims.record_counts TO ims_writer;

INSERT INTO ims.record_counts
SELECT chain, physiotherapist_id, base_status, flag_count > 0, missed_count > 0, has_substitute,
    count(*)
FROM ims.records GROUP BY 1, 2, 3, 4, 5, 6;

CREATE FUNCTION ims.count_record() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, ims AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.base_status = OLD.base_status THEN
            RETURN NULL;
        END IF;
        UPDATE ims.record_counts SET n = n - 1
        WHERE chain = OLD.chain AND physiotherapist_id = OLD.physiotherapist_id
          AND base_status = OLD.base_status AND has_flags = (OLD.flag_count > 0)
          AND has_missed = (OLD.missed_count > 0) AND has_substitute = OLD.has_substitute;
    END IF;
    INSERT INTO ims.record_counts AS c (chain, physiotherapist_id, base_status, has_flags,
        has_missed, has_substitute, n)
    VALUES (NEW.chain, NEW.physiotherapist_id, NEW.base_status, NEW.flag_count > 0,
        NEW.missed_count > 0, NEW.has_substitute, 1)
    ON CONFLICT (chain, physiotherapist_id, base_status, has_flags, has_missed, has_substitute)
    DO UPDATE SET n = c.n + 1;
    RETURN NULL;
END;
$$;
REVOKE ALL ON FUNCTION ims.count_record() FROM PUBLIC;
CREATE TRIGGER records_count AFTER INSERT OR UPDATE OF base_status ON ims.records
    FOR EACH ROW EXECUTE FUNCTION ims.count_record();
CREATE TRIGGER record_counts_no_truncate BEFORE TRUNCATE ON ims.record_counts
    FOR EACH STATEMENT EXECUTE FUNCTION ims.refuse_change();

-- Active consents by consent time, with what the counts need (an index-only scan of the
-- last year's consents splits active, expiring and re-consent needed from expired).
DROP INDEX ims.records_status;
CREATE INDEX records_active ON ims.records (chain, consented_at)
    INCLUDE (content_version_key, physiotherapist_id, flag_count, missed_count, has_substitute)
    WHERE base_status = 'active';
-- Reference and chart prefixes (LIKE 'K7P%' under the "C" collation).
DROP INDEX ims.records_reference;
DROP INDEX ims.records_chart;
CREATE INDEX records_reference ON ims.records (chain, reference_compact);
CREATE INDEX records_chart ON ims.records (chain, chart);
