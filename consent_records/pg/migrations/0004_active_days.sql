-- IMS Consent Kiosk, PostgreSQL schema version 4: active consents counted per day of
-- consent (UTC), physiotherapist and content version, so the browser's "active", "expired"
-- and "re-consent needed" tabs are counted from a few hundred rows a year instead of every
-- consent of the last year. Kept by the same owner-run trigger as ims.record_counts;
-- verify compares it with the records.

CREATE TABLE ims.active_days (
    chain text NOT NULL,
    physiotherapist_id text NOT NULL,
    content_version_key integer[] NOT NULL,
    consented_day date NOT NULL,
    n bigint NOT NULL CHECK (n >= 0),
    PRIMARY KEY (chain, physiotherapist_id, content_version_key, consented_day)
);
GRANT SELECT ON ims.active_days TO ims_writer;
CREATE TRIGGER active_days_no_truncate BEFORE TRUNCATE ON ims.active_days
    FOR EACH STATEMENT EXECUTE FUNCTION ims.refuse_change();

INSERT INTO ims.active_days
SELECT chain, physiotherapist_id, content_version_key, (consented_at AT TIME ZONE 'UTC')::date,
    count(*)
FROM ims.records WHERE base_status = 'active' AND consented_at IS NOT NULL
GROUP BY 1, 2, 3, 4;

CREATE FUNCTION ims.count_active() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, ims AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.base_status = OLD.base_status
           AND NEW.consented_at IS NOT DISTINCT FROM OLD.consented_at THEN
            RETURN NULL;
        END IF;
        IF OLD.base_status = 'active' AND OLD.consented_at IS NOT NULL THEN
            UPDATE ims.active_days SET n = n - 1
            WHERE chain = OLD.chain AND physiotherapist_id = OLD.physiotherapist_id
              AND content_version_key = OLD.content_version_key
              AND consented_day = (OLD.consented_at AT TIME ZONE 'UTC')::date;
        END IF;
    END IF;
    IF NEW.base_status = 'active' AND NEW.consented_at IS NOT NULL THEN
        INSERT INTO ims.active_days AS d (chain, physiotherapist_id, content_version_key,
            consented_day, n)
        VALUES (NEW.chain, NEW.physiotherapist_id, NEW.content_version_key,
            (NEW.consented_at AT TIME ZONE 'UTC')::date, 1)
        ON CONFLICT (chain, physiotherapist_id, content_version_key, consented_day)
        DO UPDATE SET n = d.n + 1;
    END IF;
    RETURN NULL;
END;
$$;
REVOKE ALL ON FUNCTION ims.count_active() FROM PUBLIC;
CREATE TRIGGER records_count_active AFTER INSERT OR UPDATE OF base_status, consented_at
    ON ims.records FOR EACH ROW EXECUTE FUNCTION ims.count_active();
