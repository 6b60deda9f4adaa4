//! Double-entry token ledger on PostgreSQL (TigerBeetle's account/transfer model). Not built yet: see the Ledger issue.
