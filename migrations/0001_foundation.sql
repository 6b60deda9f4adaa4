-- Foundation: capability detection, tenants, their lifecycle log and API keys.

-- Later migrations call this in DO blocks to decide between TimescaleDB features
-- (hypertables, compression, retention) and plain PostgreSQL (native partitions).
CREATE OR REPLACE FUNCTION tally_timescaledb_available() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')
$$;

CREATE TABLE tenants (
    id            text PRIMARY KEY CONSTRAINT tenants_id_format CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    plan          text NOT NULL,
    region        text NOT NULL CHECK (region ~ '^[A-Z]{2}$'),
    currency      text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    timezone      text NOT NULL,
    billing_mode  text NOT NULL CHECK (billing_mode IN ('prepaid', 'postpaid')),
    status        text NOT NULL DEFAULT 'active'
                  CHECK (status IN ('active', 'suspended', 'past_due', 'canceled')),
    status_reason text,
    deleted_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Every lifecycle transition, append-only: who suspended whom, when and why.
CREATE TABLE tenant_status_changes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   text NOT NULL REFERENCES tenants (id),
    from_status text NOT NULL,
    to_status   text NOT NULL,
    reason      text,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tenant_status_changes_tenant ON tenant_status_changes (tenant_id, at DESC);

-- Tenant API keys: the secret is shown once; only its SHA-256 is kept. The key is 160 bits
-- of randomness, so a fast hash is the right tool (a password KDF buys nothing here).
CREATE TABLE api_keys (
    id         text PRIMARY KEY,
    tenant_id  text NOT NULL REFERENCES tenants (id),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    prefix     text NOT NULL CONSTRAINT api_keys_prefix_key UNIQUE,
    key_hash   bytea NOT NULL CHECK (length(key_hash) = 32),
    scopes     text[] NOT NULL
               CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['ingest', 'read', 'quota', 'admin']),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);
