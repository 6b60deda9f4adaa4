-- Metering: the meters catalogue, raw usage events, exactly-once dedupe keys, rollups at
-- 5 min / 1 h / 1 day per (tenant, meter, subject, region, service), monthly rollups per
-- tenant and meter in the tenant's time zone, exact distinct-value sets, and parked events.
-- The write path (metering::ingest_batch) updates all of it in one transaction per batch.

CREATE TABLE metering_meters (
    code              text PRIMARY KEY CONSTRAINT metering_meters_code_format
                      CHECK (code ~ '^[a-z][a-z0-9_]{0,63}$'),
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    aggregation       text NOT NULL CHECK (aggregation IN
                      ('sum', 'count', 'max', 'unique_count', 'latest', 'time_weighted')),
    unit              text NOT NULL CHECK (length(unit) BETWEEN 1 AND 64),
    cost_per_unit_usd numeric NOT NULL CHECK (cost_per_unit_usd >= 0),
    -- unique_count: the property whose distinct values are counted (NULL = the subject).
    value_property    text,
    -- time_weighted: one reading stands for sample_seconds; the unit is per per_seconds
    -- (storage GB read hourly, billed in GB-days: 3600 and 86400).
    sample_seconds    integer CHECK (sample_seconds > 0),
    per_seconds       integer CHECK (per_seconds > 0),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT metering_meters_time_weighted CHECK (
        (aggregation = 'time_weighted') = (sample_seconds IS NOT NULL AND per_seconds IS NOT NULL))
);

INSERT INTO metering_meters (code, name, aggregation, unit, cost_per_unit_usd, value_property, sample_seconds, per_seconds) VALUES
    ('api_calls',         'API calls',               'sum',           'call',       0.000001,  NULL, NULL, NULL),
    ('workflow_runs',     'Workflow runs',           'sum',           'run',        0.002,     NULL, NULL, NULL),
    ('plugin_executions', 'Plugin executions',       'sum',           'execution',  0.0005,    NULL, NULL, NULL),
    ('gateway_messages',  'Gateway messages',        'sum',           'message',    0.00001,   NULL, NULL, NULL),
    ('ai_tokens',         'AI tokens',               'sum',           'token',      0.000002,  NULL, NULL, NULL),
    ('ai_credits',        'AI credits',              'sum',           'credit',     0.01,      NULL, NULL, NULL),
    ('storage_gb',        'Storage (GB, hourly)',    'time_weighted', 'GB-day',     0.0007,    NULL, 3600, 86400),
    ('ram_gb',            'RAM (GB, per minute)',    'time_weighted', 'GB-hour',    0.005,     NULL, 60,   3600),
    ('cpu_vcpu',          'vCPU (per minute)',       'time_weighted', 'vCPU-hour',  0.02,      NULL, 60,   3600),
    ('seats',             'Active seats',            'unique_count',  'seat',       0,         NULL, NULL, NULL);

-- Dedupe keys. Unpartitioned on purpose: a primary key on a partitioned table must include
-- the partition key, which would make (tenant, id) unique only within one time range. The
-- key is claimed by the same INSERT that writes the raw event, in the same transaction, so a
-- failed write never leaves a claimed key behind. metering_maintain() deletes keys whose
-- event time is older than the 35-day acceptance window (plus margin): such an event is
-- rejected at parse time anyway, so dedupe holds for as long as an event can be accepted.
CREATE TABLE metering_event_ids (
    tenant_id  text NOT NULL,
    event_id   text NOT NULL,
    event_time timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
);
CREATE INDEX metering_event_ids_time ON metering_event_ids USING brin (event_time);

-- Raw events: a TimescaleDB hypertable with compression and retention when the extension is
-- there; otherwise native monthly range partitions created on demand (plus a DEFAULT
-- partition so that an insert never fails for want of one).
DO $$
DECLARE
    timescale boolean := to_regprocedure('tally_timescaledb_available()') IS NOT NULL
                         AND tally_timescaledb_available();
    columns text := $cols$(
        tenant_id   text NOT NULL,
        event_id    text NOT NULL,
        meter       text NOT NULL,
        subject     text NOT NULL,
        quantity    numeric NOT NULL CHECK (quantity >= 0),
        time        timestamptz NOT NULL,
        region      text NOT NULL,
        service     text NOT NULL,
        properties  jsonb NOT NULL,
        cost_usd    numeric CHECK (cost_usd >= 0),
        ingested_at timestamptz NOT NULL DEFAULT now()
    )$cols$;
BEGIN
    IF timescale THEN
        EXECUTE 'CREATE TABLE metering_events ' || columns;
        EXECUTE $q$SELECT create_hypertable('metering_events', 'time', chunk_time_interval => interval '1 day')$q$;
        EXECUTE $q$ALTER TABLE metering_events SET (timescaledb.compress,
                   timescaledb.compress_segmentby = 'tenant_id, meter')$q$;
        -- Late events arrive up to 35 days after their time: compress only chunks past that.
        EXECUTE $q$SELECT add_compression_policy('metering_events', interval '37 days')$q$;
        EXECUTE $q$SELECT add_retention_policy('metering_events', interval '400 days')$q$;
    ELSE
        EXECUTE 'CREATE TABLE metering_events ' || columns || ' PARTITION BY RANGE (time)';
        EXECUTE 'CREATE TABLE metering_events_default PARTITION OF metering_events DEFAULT';
    END IF;
END
$$;
CREATE INDEX metering_events_time ON metering_events USING brin (time);

-- Creates the monthly partition holding month_start (no-op on a hypertable or when it exists).
-- Rows already in the DEFAULT partition for that month are moved into the new partition.
CREATE FUNCTION metering_ensure_partition(month_start date) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    first date := date_trunc('month', month_start)::date;
    part text := format('metering_events_y%sm%s', to_char(first, 'YYYY'), to_char(first, 'MM'));
    lo timestamptz := first::timestamp AT TIME ZONE 'UTC';
    hi timestamptz := (first + interval '1 month')::timestamp AT TIME ZONE 'UTC';
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = 'metering_events'::regclass) <> 'p'
       OR to_regclass(part) IS NOT NULL THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('metering_ensure_partition'));
    IF to_regclass(part) IS NOT NULL THEN
        RETURN;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE metering_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
    EXECUTE format('WITH moved AS (DELETE FROM metering_events_default WHERE time >= %L AND time < %L RETURNING *)
                    INSERT INTO %I SELECT * FROM moved', lo, hi, part);
    EXECUTE format('ALTER TABLE metering_events ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
END
$$;

-- Housekeeping, safe to run any time (the binary's scheduler runs it daily): partitions for
-- the next months, raw-event retention, and dedupe keys past the acceptance window.
CREATE FUNCTION metering_maintain(retain_months integer DEFAULT 13) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    m integer;
    part record;
    cutoff timestamptz := date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => retain_months);
BEGIN
    FOR m IN -2..2 LOOP
        PERFORM metering_ensure_partition((date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => m))::date);
    END LOOP;
    FOR part IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'metering_events'::regclass AND c.relname ~ '^metering_events_y[0-9]{4}m[0-9]{2}$'
          AND to_date(substr(c.relname, 18, 4) || substr(c.relname, 23, 2), 'YYYYMM')::timestamp < cutoff
    LOOP
        EXECUTE format('DROP TABLE %I', part.relname);
    END LOOP;
    DELETE FROM metering_event_ids WHERE event_time < now() - interval '40 days';
END
$$;

SELECT metering_maintain();

-- Rollups. One row per bucket key; `aggregation` decides how a new batch merges in:
-- sum/count/time_weighted add, max takes the greatest, latest keeps the value of the latest
-- (time, event id), unique_count adds the number of values new to the bucket's set.
-- time_weighted values are stored in unit-seconds (GB·s) and converted on read.
CREATE TABLE metering_rollup_5m (
    tenant_id   text NOT NULL,
    meter       text NOT NULL,
    bucket      timestamptz NOT NULL,
    subject     text NOT NULL,
    region      text NOT NULL,
    service     text NOT NULL,
    aggregation text NOT NULL,
    value       numeric NOT NULL,
    event_count bigint NOT NULL,
    cost_usd    numeric NOT NULL,
    latest_time timestamptz NOT NULL,
    latest_id   text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, meter, bucket, subject, region, service)
);
CREATE TABLE metering_rollup_1h (LIKE metering_rollup_5m INCLUDING ALL);
CREATE TABLE metering_rollup_1d (LIKE metering_rollup_5m INCLUDING ALL);

-- Calendar months in the tenant's IANA time zone (invoicing periods): `bucket` is the
-- instant the local month starts, `period_month` its local first day.
CREATE TABLE metering_rollup_month (
    tenant_id    text NOT NULL,
    meter        text NOT NULL,
    period_month date NOT NULL,
    bucket       timestamptz NOT NULL,
    period_end   timestamptz NOT NULL,
    timezone     text NOT NULL,
    aggregation  text NOT NULL,
    value        numeric NOT NULL,
    event_count  bigint NOT NULL,
    cost_usd     numeric NOT NULL,
    latest_time  timestamptz NOT NULL,
    latest_id    text NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, meter, period_month)
);

-- The exact distinct values behind unique_count rollups, per grain and bucket key
-- (grain 'month' uses empty subject/region/service: months are per tenant and meter).
CREATE TABLE metering_unique_values (
    grain     text NOT NULL CHECK (grain IN ('5m', '1h', '1d', 'month')),
    tenant_id text NOT NULL,
    meter     text NOT NULL,
    bucket    timestamptz NOT NULL,
    subject   text NOT NULL,
    region    text NOT NULL,
    service   text NOT NULL,
    value     text NOT NULL,
    PRIMARY KEY (grain, tenant_id, meter, bucket, subject, region, service, value)
);

-- Valid events the write path could not attribute (unknown tenant or meter). Kept with a
-- reason a person can read; replayable once the tenant or meter exists. Parking does not
-- claim the dedupe key, so a replay counts the event exactly once.
CREATE TABLE metering_parked (
    tenant_id   text NOT NULL,
    event_id    text NOT NULL,
    reason_code text NOT NULL CHECK (reason_code IN ('unknown_tenant', 'unknown_meter')),
    reason      text NOT NULL,
    event       jsonb NOT NULL,
    parked_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, event_id)
);
CREATE INDEX metering_parked_at ON metering_parked (parked_at);
