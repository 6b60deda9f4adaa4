-- Accounts beyond their must-not-exceed flag.
SELECT id, format('debits %s + %s pending, credits %s + %s pending', debits_posted,
    debits_pending, credits_posted, credits_pending)
FROM ledger_accounts
WHERE (debits_must_not_exceed_credits AND debits_posted::numeric + debits_pending > credits_posted)
   OR (credits_must_not_exceed_debits AND credits_posted::numeric + credits_pending > debits_posted)
ORDER BY id LIMIT $1
