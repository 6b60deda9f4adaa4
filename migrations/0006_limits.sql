-- Owner overrides of a plan's limits, per tenant and meter. A row replaces the plan's limit for
-- that meter entirely (limit NULL = unlimited).
CREATE TABLE tenant_limits (
    tenant_id    text NOT NULL REFERENCES tenants (id),
    meter        text NOT NULL,
    "limit"      numeric CHECK ("limit" IS NULL OR "limit" >= 0),
    period       text NOT NULL CHECK (period IN ('hourly', 'daily', 'monthly')),
    hard         boolean NOT NULL,
    auto_suspend boolean NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, meter)
);

-- The quota view re-reads the last day of 5-minute rollups every refresh.
CREATE INDEX metering_rollup_5m_bucket ON metering_rollup_5m (bucket);
