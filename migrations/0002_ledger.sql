-- Ledger: TigerBeetle's account/transfer model on PostgreSQL (see docs/LEDGER.md).
-- Amounts are integers in the asset's smallest unit, bounded by bigint (checked in Rust,
-- CHECKed here). Transfers and entries are append-only; accounts are never deleted.
-- Tenant ids are plain text on purpose: the ledger does not depend on other schemas.
-- Ids use the "C" collation: byte order, the cheapest comparisons for the primary keys and
-- the lock order (ORDER BY id) every batch uses.

CREATE TABLE ledger_assets (
    code        text PRIMARY KEY CHECK (code ~ '^[A-Z][A-Z0-9_]{0,15}$'),
    scale       smallint NOT NULL CHECK (scale BETWEEN 0 AND 18),
    description text NOT NULL DEFAULT ''
);

INSERT INTO ledger_assets (code, scale, description) VALUES
    ('TOKEN', 0, 'Tally tokens (1 = one token)'),
    ('USD', 2, 'US dollar, in cents'),
    ('EUR', 2, 'Euro, in cents'),
    ('GBP', 2, 'Pound sterling, in pence'),
    ('INR', 2, 'Indian rupee, in paise'),
    ('JPY', 0, 'Japanese yen');

CREATE TABLE ledger_accounts (
    id              text COLLATE "C" PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 256),
    tenant          text CHECK (tenant IS NULL OR length(tenant) BETWEEN 1 AND 128),
    asset           text NOT NULL REFERENCES ledger_assets (code),
    debits_must_not_exceed_credits boolean NOT NULL DEFAULT false,
    credits_must_not_exceed_debits boolean NOT NULL DEFAULT false,
    debits_posted   bigint NOT NULL DEFAULT 0,
    credits_posted  bigint NOT NULL DEFAULT 0,
    debits_pending  bigint NOT NULL DEFAULT 0,
    credits_pending bigint NOT NULL DEFAULT 0,
    -- Sequence number of the account's latest entry (entries are numbered 1, 2, ...).
    last_seq        bigint NOT NULL DEFAULT 0,
    -- Set on grant sub-accounts of a wallet: what remains after this moves to expired-grants.
    expires_at      timestamptz,
    metadata        jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- Timestamp of the latest entry; batches never stamp an entry earlier than this.
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ledger_accounts_flags_exclusive
        CHECK (NOT (debits_must_not_exceed_credits AND credits_must_not_exceed_debits)),
    CONSTRAINT ledger_accounts_counters_nonnegative
        CHECK (debits_posted >= 0 AND credits_posted >= 0 AND debits_pending >= 0
               AND credits_pending >= 0 AND last_seq >= 0),
    CONSTRAINT ledger_accounts_debits_within_credits
        CHECK (NOT debits_must_not_exceed_credits OR debits_posted + debits_pending <= credits_posted),
    CONSTRAINT ledger_accounts_credits_within_debits
        CHECK (NOT credits_must_not_exceed_debits OR credits_posted + credits_pending <= debits_posted)
) WITH (fillfactor = 70); -- room for HOT updates of the counters

CREATE INDEX ledger_accounts_tenant ON ledger_accounts (tenant, asset) WHERE tenant IS NOT NULL;
CREATE INDEX ledger_accounts_expiry ON ledger_accounts (expires_at) WHERE expires_at IS NOT NULL;

-- kind: posted (single-phase), pending (two-phase, holds), post / void / expire (resolve a
-- pending transfer named by pending_id). For post, amount is the posted amount; for void and
-- expire it is the pending amount released.
CREATE TABLE ledger_transfers (
    id             text COLLATE "C" PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 256),
    kind           text NOT NULL CHECK (kind IN ('posted', 'pending', 'post', 'void', 'expire')),
    debit_account  text COLLATE "C" NOT NULL,
    credit_account text COLLATE "C" NOT NULL,
    asset          text NOT NULL,
    amount         bigint NOT NULL CHECK (amount > 0),
    pending_id     text COLLATE "C",
    timeout_s      bigint NOT NULL DEFAULT 0 CHECK (timeout_s >= 0),
    expires_at     timestamptz,
    metadata       jsonb,
    created_at     timestamptz NOT NULL,
    CONSTRAINT ledger_transfers_accounts_differ CHECK (debit_account <> credit_account),
    CONSTRAINT ledger_transfers_resolution_names_pending
        CHECK ((kind IN ('post', 'void', 'expire')) = (pending_id IS NOT NULL)),
    CONSTRAINT ledger_transfers_only_pending_expires CHECK (kind = 'pending' OR expires_at IS NULL)
);

-- A pending transfer is resolved (posted, voided or expired) at most once.
CREATE UNIQUE INDEX ledger_transfers_one_resolution ON ledger_transfers (pending_id)
    WHERE pending_id IS NOT NULL;
CREATE INDEX ledger_transfers_expiry ON ledger_transfers (expires_at) WHERE expires_at IS NOT NULL;

-- One entry per account side per transfer, with the account's counters after it.
CREATE TABLE ledger_entries (
    account_id      text COLLATE "C" NOT NULL,
    seq             bigint NOT NULL CHECK (seq > 0),
    transfer_id     text COLLATE "C" NOT NULL,
    debits_posted   bigint NOT NULL,
    credits_posted  bigint NOT NULL,
    debits_pending  bigint NOT NULL,
    credits_pending bigint NOT NULL,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (account_id, seq)
);

CREATE FUNCTION ledger_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger: % on % is forbidden (append-only)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;

CREATE TRIGGER ledger_transfers_append_only BEFORE UPDATE OR DELETE OR TRUNCATE
    ON ledger_transfers FOR EACH STATEMENT EXECUTE FUNCTION ledger_forbid_change();
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE OR TRUNCATE
    ON ledger_entries FOR EACH STATEMENT EXECUTE FUNCTION ledger_forbid_change();
CREATE TRIGGER ledger_accounts_never_deleted BEFORE DELETE OR TRUNCATE
    ON ledger_accounts FOR EACH STATEMENT EXECUTE FUNCTION ledger_forbid_change();
-- Column-specific, so the hot path (which sets only counters) never fires it.
CREATE TRIGGER ledger_accounts_identity_immutable
    BEFORE UPDATE OF id, tenant, asset, debits_must_not_exceed_credits,
        credits_must_not_exceed_debits, expires_at, created_at
    ON ledger_accounts FOR EACH STATEMENT EXECUTE FUNCTION ledger_forbid_change();
CREATE TRIGGER ledger_assets_immutable BEFORE UPDATE OR DELETE OR TRUNCATE
    ON ledger_assets FOR EACH STATEMENT EXECUTE FUNCTION ledger_forbid_change();

-- System accounts per seeded asset: the operator ("world", mints and absorbs), expired grants,
-- and revenue (usage). Other assets get theirs lazily (ledger::ensure_system_accounts).
INSERT INTO ledger_accounts (id, asset)
SELECT '~' || role || ':' || code, code
FROM ledger_assets, unnest(ARRAY['world', 'expired', 'revenue']) AS role;
