-- IMS Consent Kiosk, PostgreSQL schema version 3: take a chain's append lock and read its
-- head in one round trip.
--
-- In a function each statement sees what was committed before it ran, so the head read
-- after the lock is granted is the true head (a single SELECT would read the head as it was
-- before it waited for the lock).

CREATE FUNCTION ims.lock_chain(p_chain text, OUT head_seq bigint, OUT head_sha256 text)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('ims-chain:' || p_chain, 0));
    SELECT e.seq, e.sha256 INTO head_seq, head_sha256
    FROM ims.entries e WHERE e.chain = p_chain ORDER BY e.seq DESC LIMIT 1;
END;
$$;
GRANT EXECUTE ON FUNCTION ims.lock_chain(text) TO ims_writer;
