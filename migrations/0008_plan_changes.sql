-- Plan changes, append-only: who moved to which plan when. A month keeps the plan it started
-- with for rating (charging_periods.plan); limits and quota answers follow the new plan at once.
CREATE TABLE tenant_plan_changes (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id text NOT NULL REFERENCES tenants (id),
    from_plan text NOT NULL,
    to_plan   text NOT NULL,
    at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tenant_plan_changes_tenant ON tenant_plan_changes (tenant_id, at DESC);
