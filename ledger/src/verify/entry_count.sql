-- Every transfer has exactly one entry per side.
SELECT t.id, format('%s entries', count(e.transfer_id))
FROM ledger_transfers t LEFT JOIN ledger_entries e ON e.transfer_id = t.id
GROUP BY t.id HAVING count(e.transfer_id) <> 2
ORDER BY t.id LIMIT $1
