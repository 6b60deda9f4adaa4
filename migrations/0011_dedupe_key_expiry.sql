-- Dedupe keys lose their BRIN index on event_time, and expire through their raw events.
--
-- Why: on PostgreSQL 15 a BRIN index costs every inserted row a fresh look-up of the index's
-- metapage and range map (brininsert → brinRevmapInitialize; PostgreSQL 17 caches it per
-- statement). In a profile of a backlog replay the two BRIN indexes the write path fills took
-- 7.5 % of PostgreSQL's CPU (docs/BENCHMARKS.md), and this one served nothing but the daily
-- key expiry. The raw events' BRIN stays: it serves every time-range read of the archive.
--
-- How keys expire now: a key is claimed in the same transaction, and with the same time, as
-- the one raw event it admits, so the keys to expire for an hour of event time are the raw
-- events of that hour (found by the raw table's BRIN), each deleted through the keys' primary
-- key. The cost is one index probe per expiring key, as it was; a sequential scan of the whole
-- key table, which is what the DELETE would do without an index, is never needed.
-- `metering_key_expiry` remembers how far expiry has got, so every hour is visited once.

-- Keys already past the window go now, while the index that finds them is still there.
DELETE FROM metering_event_ids WHERE event_time < now() - interval '40 days';
DROP INDEX metering_event_ids_time;

CREATE TABLE metering_key_expiry (
    singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    -- Every key of an event before this time has been deleted.
    expired_before timestamptz NOT NULL
);
INSERT INTO metering_key_expiry (expired_before) VALUES (now() - interval '40 days');

-- Housekeeping, safe to run any time and from several instances at once (`tally serve` runs
-- it at start and daily; one call at a time does the work, a concurrent call returns): raw
-- partitions for the months around now, dedupe keys past the acceptance window, then raw
-- partitions past retention (after the keys they would find).
CREATE OR REPLACE FUNCTION metering_maintain(retain_months integer DEFAULT 13) RETURNS void
LANGUAGE plpgsql
-- An hour of raw events joins the keys by index probes (a nested loop), whatever the
-- statistics say: a hash or merge join would read the whole key table.
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $$
DECLARE
    m integer;
    part record;
    cutoff timestamptz := date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => retain_months);
    keys_before timestamptz := now() - interval '40 days';
    expired timestamptz;
    step timestamptz;
BEGIN
    IF retain_months IS NULL OR retain_months < 2 THEN
        RAISE EXCEPTION 'retain_months must be at least 2 (dedupe keys live 40 days and expire through their raw events), got %', retain_months;
    END IF;
    IF NOT pg_try_advisory_xact_lock(hashtext('metering_maintain')) THEN
        RETURN;
    END IF;
    FOR m IN -2..2 LOOP
        PERFORM metering_ensure_partition((date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => m))::date);
    END LOOP;
    SELECT expired_before INTO expired FROM metering_key_expiry;
    WHILE expired < keys_before LOOP
        step := least(expired + interval '1 hour', keys_before);
        DELETE FROM metering_event_ids k
        USING metering_events e
        WHERE e.time >= expired AND e.time < step
          AND k.event_id = e.event_id COLLATE "C"
          AND k.tenant_id = e.tenant_id COLLATE "C"
          AND k.event_time = e.time;
        expired := step;
    END LOOP;
    UPDATE metering_key_expiry SET expired_before = expired;
    FOR part IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'metering_events'::regclass AND c.relname ~ '^metering_events_y[0-9]{4}m[0-9]{2}$'
          AND to_date(substr(c.relname, 18, 4) || substr(c.relname, 23, 2), 'YYYYMM')::timestamp < cutoff
    LOOP
        EXECUTE format('DROP TABLE IF EXISTS %I', part.relname);
    END LOOP;
END
$$;
