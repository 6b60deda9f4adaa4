-- Each account's counters against the sum of the effects of its transfers.
WITH x AS (
    SELECT t.debit_account AS d, t.credit_account AS c,
        CASE WHEN t.kind IN ('posted', 'post') THEN t.amount ELSE 0 END::numeric AS posted,
        CASE t.kind WHEN 'pending' THEN t.amount WHEN 'post' THEN -p.amount
            WHEN 'posted' THEN 0 ELSE -t.amount END::numeric AS pending
    FROM ledger_transfers t LEFT JOIN ledger_transfers p ON p.id = t.pending_id
), sides AS (
    SELECT d AS account, posted AS dp, 0::numeric AS cp, pending AS dh, 0::numeric AS ch FROM x
    UNION ALL
    SELECT c, 0, posted, 0, pending FROM x
), sums AS (
    SELECT account, sum(dp) AS dp, sum(cp) AS cp, sum(dh) AS dh, sum(ch) AS ch
    FROM sides GROUP BY account
)
SELECT coalesce(a.id, s.account),
    CASE WHEN a.id IS NULL THEN 'transfers reference a missing account'
    ELSE format('counters %s/%s/%s/%s, transfers sum to %s/%s/%s/%s (dp/cp/dh/ch)',
        a.debits_posted, a.credits_posted, a.debits_pending, a.credits_pending,
        coalesce(s.dp, 0), coalesce(s.cp, 0), coalesce(s.dh, 0), coalesce(s.ch, 0)) END
FROM ledger_accounts a FULL JOIN sums s ON s.account = a.id
WHERE a.id IS NULL
   OR a.debits_posted <> coalesce(s.dp, 0) OR a.credits_posted <> coalesce(s.cp, 0)
   OR a.debits_pending <> coalesce(s.dh, 0) OR a.credits_pending <> coalesce(s.ch, 0)
ORDER BY 1 LIMIT $1
