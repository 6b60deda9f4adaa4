-- Alerts and outgoing billing events: the transactional outbox that feeds the Kafka topic
-- `billing-events`, and the quota threshold alerts (70/85/95/100 %) raised once per limit
-- and period. Both are written in the caller's transaction (alerts::enqueue,
-- alerts::raise_crossed), so an event exists exactly when the change that caused it commits.

-- The outbox. `id` is a UUIDv7 (time-ordered text), the key consumers dedupe on: publication
-- is at least once. A row is never deleted by Tally; `published_at` is set after the broker
-- acknowledged it, and failures push `next_attempt_at` back with a bounded backoff.
CREATE TABLE billing_events (
    id              text PRIMARY KEY CONSTRAINT billing_events_id_format
                    CHECK (id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'),
    type            text NOT NULL CONSTRAINT billing_events_type_known CHECK (type IN (
                        'quota.threshold_crossed', 'tenant.suspended', 'tenant.resumed',
                        'invoice.finalized', 'invoice.paid', 'payment.failed')),
    tenant          text NOT NULL REFERENCES tenants (id),
    time            timestamptz NOT NULL,
    data            jsonb NOT NULL CHECK (jsonb_typeof(data) = 'object'),
    created_at      timestamptz NOT NULL DEFAULT now(),
    published_at    timestamptz,
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text
);
-- The publisher's queue: only unpublished rows, in id (= creation time) order.
CREATE INDEX billing_events_unpublished ON billing_events (id) WHERE published_at IS NULL;
CREATE INDEX billing_events_tenant ON billing_events (tenant, id DESC);

-- Threshold alerts. The unique key is the once-per-period guarantee: several instances racing
-- to raise the same crossing insert with ON CONFLICT DO NOTHING, and only the winner enqueues
-- the event. `subject` is '' for a tenant-wide limit (a NULL would defeat the unique key).
CREATE TABLE alerts (
    tenant       text NOT NULL REFERENCES tenants (id),
    meter        text NOT NULL,
    subject      text NOT NULL DEFAULT '',
    period_start timestamptz NOT NULL,
    period_end   timestamptz NOT NULL,
    threshold    smallint NOT NULL CONSTRAINT alerts_threshold_known
                 CHECK (threshold IN (70, 85, 95, 100)),
    "limit"      numeric NOT NULL CHECK ("limit" >= 0),
    used         numeric NOT NULL CHECK (used >= 0),
    event_id     text NOT NULL CONSTRAINT alerts_event_id_key UNIQUE REFERENCES billing_events (id)
                 DEFERRABLE INITIALLY DEFERRED,
    raised_at    timestamptz NOT NULL,
    CONSTRAINT alerts_once_per_period UNIQUE (tenant, meter, subject, period_start, threshold),
    CONSTRAINT alerts_period_order CHECK (period_end > period_start)
);
CREATE INDEX alerts_tenant_newest ON alerts (tenant, raised_at DESC, event_id DESC);
