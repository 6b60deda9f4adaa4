-- Each account's counters against its latest entry (the running balance).
SELECT a.id, format('counters %s/%s/%s/%s seq %s, latest entry %s/%s/%s/%s seq %s',
    a.debits_posted, a.credits_posted, a.debits_pending, a.credits_pending, a.last_seq,
    e.debits_posted, e.credits_posted, e.debits_pending, e.credits_pending, e.seq)
FROM ledger_accounts a
LEFT JOIN LATERAL (
    SELECT * FROM ledger_entries e WHERE e.account_id = a.id ORDER BY e.seq DESC LIMIT 1
) e ON true
WHERE a.last_seq <> coalesce(e.seq, 0)
   OR a.debits_posted <> coalesce(e.debits_posted, 0) OR a.credits_posted <> coalesce(e.credits_posted, 0)
   OR a.debits_pending <> coalesce(e.debits_pending, 0) OR a.credits_pending <> coalesce(e.credits_pending, 0)
ORDER BY a.id LIMIT $1
