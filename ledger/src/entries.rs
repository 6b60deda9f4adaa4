//! Account history: entries newest first, paged by an opaque cursor.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgPool, Row};

use crate::amount::Amount;
use crate::balances::Balances;
use crate::error::{LedgerError, Result};
use crate::ids::{AccountId, TransferId};
use crate::machine::Kind;

/// Largest page of entries.
pub const MAX_ENTRIES_PAGE: u32 = 1000;

/// Which side of its transfer an entry is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Debit,
    Credit,
}

/// One entry: a transfer seen from one of its accounts, with that account's counters after it.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub account: AccountId,
    /// 1, 2, ... per account, in the order the entries were applied.
    pub seq: i64,
    pub transfer_id: TransferId,
    pub kind: Kind,
    pub side: Side,
    pub counterparty: AccountId,
    /// The transfer's amount (for `void`/`expire`, the amount released).
    pub amount: Amount,
    pub balances_after: Balances,
    pub metadata: Option<Value>,
    pub created_at: DateTime<Utc>,
}

/// Where the next page starts; its text form is what clients send back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryCursor(i64);

impl EntryCursor {
    pub fn parse(s: &str) -> Result<Self> {
        s.strip_prefix('e')
            .and_then(|n| n.parse::<i64>().ok())
            .filter(|n| *n > 0)
            .map(EntryCursor)
            .ok_or(LedgerError::Invalid {
                field: "cursor",
                reason: "not a cursor returned by this API".into(),
            })
    }
}

impl std::fmt::Display for EntryCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "e{}", self.0)
    }
}

/// A page of entries, newest first.
#[derive(Clone, Debug, PartialEq)]
pub struct EntryPage {
    pub entries: Vec<Entry>,
    pub next_cursor: Option<EntryCursor>,
}

/// Entries of `account`, newest first, starting after `cursor`; `limit` is clamped to
/// 1..=[`MAX_ENTRIES_PAGE`]. `None` if the account does not exist.
pub async fn list_entries(
    pool: &PgPool,
    account: &AccountId,
    cursor: Option<EntryCursor>,
    limit: u32,
) -> Result<Option<EntryPage>> {
    let limit = limit.clamp(1, MAX_ENTRIES_PAGE);
    let exists: Option<i64> =
        sqlx::query_scalar("SELECT last_seq FROM ledger_accounts WHERE id = $1")
            .bind(account.as_str())
            .fetch_optional(pool)
            .await?;
    if exists.is_none() {
        return Ok(None);
    }
    let rows = sqlx::query(
        "SELECT e.seq, e.transfer_id, e.debits_posted, e.credits_posted, e.debits_pending, \
             e.credits_pending, e.created_at, t.kind, t.debit_account, t.credit_account, t.amount, \
             t.metadata \
         FROM ledger_entries e JOIN ledger_transfers t ON t.id = e.transfer_id \
         WHERE e.account_id = $1 AND e.seq < $2 ORDER BY e.seq DESC LIMIT $3",
    )
    .bind(account.as_str())
    .bind(cursor.map_or(i64::MAX, |c| c.0))
    .bind(i64::from(limit) + 1)
    .fetch_all(pool)
    .await?;
    let mut entries = rows
        .iter()
        .map(|row| entry_from_row(account, row))
        .collect::<Result<Vec<_>>>()?;
    let next_cursor = if entries.len() > limit as usize {
        entries.truncate(limit as usize);
        entries.last().map(|e| EntryCursor(e.seq))
    } else {
        None
    };
    Ok(Some(EntryPage {
        entries,
        next_cursor,
    }))
}

fn entry_from_row(account: &AccountId, row: &sqlx::postgres::PgRow) -> Result<Entry> {
    let debit: String = row.try_get("debit_account")?;
    let credit: String = row.try_get("credit_account")?;
    let (side, counterparty) = if debit == account.as_str() {
        (Side::Debit, credit)
    } else {
        (Side::Credit, debit)
    };
    Ok(Entry {
        account: account.clone(),
        seq: row.try_get("seq")?,
        transfer_id: TransferId::from_db(row.try_get("transfer_id")?),
        kind: Kind::parse(row.try_get("kind")?)?,
        side,
        counterparty: AccountId::from_db(counterparty),
        amount: Amount::from_db(row.try_get("amount")?, "amount")?,
        balances_after: Balances::from_db(
            row.try_get("debits_posted")?,
            row.try_get("credits_posted")?,
            row.try_get("debits_pending")?,
            row.try_get("credits_pending")?,
        )?,
        metadata: row.try_get("metadata")?,
        created_at: row.try_get("created_at")?,
    })
}
