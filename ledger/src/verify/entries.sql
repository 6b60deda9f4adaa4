-- Each entry's change from the account's previous entry against its transfer's effect;
-- entries are numbered 1, 2, ... without gaps.
WITH e AS (
    SELECT e.*, row_number() OVER w AS rn,
        e.debits_posted - lag(e.debits_posted, 1, 0::bigint) OVER w AS ddp,
        e.credits_posted - lag(e.credits_posted, 1, 0::bigint) OVER w AS dcp,
        e.debits_pending - lag(e.debits_pending, 1, 0::bigint) OVER w AS ddh,
        e.credits_pending - lag(e.credits_pending, 1, 0::bigint) OVER w AS dch
    FROM ledger_entries e
    WINDOW w AS (PARTITION BY e.account_id ORDER BY e.seq)
), x AS (
    SELECT e.*, t.id AS tid,
        CASE WHEN t.kind IN ('posted', 'post') THEN t.amount ELSE 0 END AS posted,
        CASE t.kind WHEN 'pending' THEN t.amount WHEN 'post' THEN -p.amount
            WHEN 'posted' THEN 0 ELSE -t.amount END AS pending,
        e.account_id = t.debit_account AS is_debit, e.account_id = t.credit_account AS is_credit
    FROM e
    LEFT JOIN ledger_transfers t ON t.id = e.transfer_id
    LEFT JOIN ledger_transfers p ON p.id = t.pending_id
)
SELECT account_id || '#' || seq, CASE WHEN tid IS NULL THEN 'entry of a missing transfer'
    ELSE format('transfer %s: change %s/%s/%s/%s (dp/cp/dh/ch)', transfer_id, ddp, dcp, ddh, dch) END
FROM x
WHERE tid IS NULL OR seq <> rn OR NOT (is_debit OR is_credit)
   OR ddp <> CASE WHEN is_debit THEN posted ELSE 0 END
   OR ddh <> CASE WHEN is_debit THEN pending ELSE 0 END
   OR dcp <> CASE WHEN is_credit THEN posted ELSE 0 END
   OR dch <> CASE WHEN is_credit THEN pending ELSE 0 END
ORDER BY account_id, seq LIMIT $1
