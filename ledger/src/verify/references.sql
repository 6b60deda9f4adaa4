-- Transfers name existing accounts of the transfer's asset; a post/void/expire names a
-- pending transfer between the same accounts and stays within its amount.
SELECT t.id, CASE
    WHEN da.id IS NULL OR ca.id IS NULL THEN 'names a missing account'
    WHEN da.asset <> t.asset OR ca.asset <> t.asset THEN 'asset differs from its accounts'
    ELSE 'does not match the pending transfer it resolves' END
FROM ledger_transfers t
LEFT JOIN ledger_accounts da ON da.id = t.debit_account
LEFT JOIN ledger_accounts ca ON ca.id = t.credit_account
LEFT JOIN ledger_transfers p ON p.id = t.pending_id
WHERE da.id IS NULL OR ca.id IS NULL OR da.asset <> t.asset OR ca.asset <> t.asset
   OR (t.pending_id IS NOT NULL AND (p.id IS NULL OR p.kind <> 'pending'
       OR p.debit_account <> t.debit_account OR p.credit_account <> t.credit_account
       OR t.amount > p.amount OR (t.kind <> 'post' AND t.amount <> p.amount)))
ORDER BY t.id LIMIT $1
