-- Charging: usage priced in the metering write path's transaction, and the tenant lifecycle's
-- suspension causes. See docs/CHARGING.md.

-- Rated usage per tenant, tenant-local month, meter and allowance period (the hour, day or
-- month a plan's included quantity applies to, in the tenant's zone). Summable meters only
-- (sum, count); written in the same transaction as the rollups it mirrors.
CREATE TABLE charging_usage (
    tenant_id       text NOT NULL,
    period_month    date NOT NULL,
    meter           text NOT NULL,
    allowance_start timestamptz NOT NULL,
    quantity        numeric NOT NULL CHECK (quantity >= 0),
    cost_usd        numeric NOT NULL CHECK (cost_usd >= 0),
    PRIMARY KEY (tenant_id, period_month, meter, allowance_start)
);

-- One row per tenant and tenant-local month: the plan and pricing region it is rated under
-- (fixed when the period's first usage is rated), the priced amount to date in the region's
-- currency, and, for prepaid tenants, the tokens that amount is worth, how many were debited
-- from the wallet and how many the wallet could not cover (the tenant is suspended while any
-- are unpaid). Invariant: tokens_debited + tokens_unpaid = tokens_due for prepaid tenants.
CREATE TABLE charging_periods (
    tenant_id      text NOT NULL REFERENCES tenants (id),
    period_month   date NOT NULL,
    period_start   timestamptz NOT NULL,
    period_end     timestamptz NOT NULL,
    billing_mode   text NOT NULL CHECK (billing_mode IN ('prepaid', 'postpaid')),
    plan           text NOT NULL,
    region         text NOT NULL,
    currency       text NOT NULL,
    token_price    numeric NOT NULL CHECK (token_price > 0),
    amount         numeric NOT NULL DEFAULT 0 CHECK (amount >= 0),
    tokens_due     bigint NOT NULL DEFAULT 0 CHECK (tokens_due >= 0),
    tokens_debited bigint NOT NULL DEFAULT 0 CHECK (tokens_debited >= 0),
    tokens_unpaid  bigint NOT NULL DEFAULT 0 CHECK (tokens_unpaid >= 0),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, period_month),
    CONSTRAINT charging_periods_order CHECK (period_end > period_start)
);
CREATE INDEX charging_periods_unpaid ON charging_periods (tenant_id) WHERE tokens_unpaid > 0;

-- Why a suspended tenant is suspended: only the owner lifts an owner's suspension; the others
-- lift themselves when the cause clears (a top-up or grant covers the unpaid tokens; a new
-- period, an upgrade or an override brings usage back under the hard limit).
ALTER TABLE tenants ADD COLUMN suspended_cause text
    CONSTRAINT tenants_suspended_cause_known
    CHECK (suspended_cause IN ('owner', 'insufficient_balance', 'limit'));

-- Per-subject limits (owner API): a limit on one subject (user, workspace, ...) of a tenant.
CREATE TABLE tenant_subject_limits (
    tenant_id    text NOT NULL REFERENCES tenants (id),
    meter        text NOT NULL,
    subject      text NOT NULL CHECK (length(subject) BETWEEN 1 AND 256),
    "limit"      numeric CHECK ("limit" IS NULL OR "limit" >= 0),
    period       text NOT NULL CHECK (period IN ('hourly', 'daily', 'monthly')),
    hard         boolean NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, meter, subject)
);
