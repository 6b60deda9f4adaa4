//! Bulk SQL of the fast path: load transfers, lock accounts, write a batch's outcome.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, Row};

use crate::amount::Amount;
use crate::balances::Balances;
use crate::error::{corrupt, Result};
use crate::ids::{AccountId, AssetCode, TransferId};
use crate::machine::{AccountState, Kind, Outcome, StoredTransfer};

/// Round trip (1): the transfers with these ids, each with how it was resolved if pending.
pub(crate) async fn load_transfers(
    conn: &mut PgConnection,
    ids: &[&str],
) -> Result<Vec<StoredTransfer>> {
    let rows = sqlx::query(
        "SELECT t.id, t.kind, t.debit_account, t.credit_account, t.amount, t.pending_id, \
             t.timeout_s, t.expires_at, t.metadata, r.kind AS resolution \
         FROM ledger_transfers t LEFT JOIN ledger_transfers r ON r.pending_id = t.id \
         WHERE t.id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(transfer_from_row).collect()
}

fn transfer_from_row(row: &sqlx::postgres::PgRow) -> Result<StoredTransfer> {
    let timeout_s: i64 = row.try_get("timeout_s")?;
    Ok(StoredTransfer {
        id: TransferId::from_db(row.try_get("id")?),
        kind: Kind::parse(row.try_get("kind")?)?,
        debit: AccountId::from_db(row.try_get("debit_account")?),
        credit: AccountId::from_db(row.try_get("credit_account")?),
        amount: Amount::from_db(row.try_get("amount")?, "amount")?,
        pending_id: row
            .try_get::<Option<String>, _>("pending_id")?
            .map(TransferId::from_db),
        timeout_s: u32::try_from(timeout_s)
            .map_err(|_| corrupt(format!("timeout_s {timeout_s}")))?,
        expires_at: row.try_get("expires_at")?,
        metadata: row.try_get("metadata")?,
        resolution: row
            .try_get::<Option<&str>, _>("resolution")?
            .map(Kind::parse)
            .transpose()?,
    })
}

/// Round trip (2): locks the accounts in id order (no deadlocks) and returns them with the
/// latest entry time among them.
pub(crate) async fn lock_accounts(
    conn: &mut PgConnection,
    ids: &[&str],
) -> Result<(Vec<AccountState>, Option<DateTime<Utc>>)> {
    let rows = sqlx::query(
        "SELECT id, asset, debits_must_not_exceed_credits, credits_must_not_exceed_debits, \
             debits_posted, credits_posted, debits_pending, credits_pending, last_seq, updated_at \
         FROM ledger_accounts WHERE id = ANY($1) ORDER BY id FOR UPDATE",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut latest: Option<DateTime<Utc>> = None;
    let mut accounts = Vec::with_capacity(rows.len());
    for row in &rows {
        let updated_at: DateTime<Utc> = row.try_get("updated_at")?;
        latest = Some(latest.map_or(updated_at, |l| l.max(updated_at)));
        accounts.push(AccountState {
            id: AccountId::from_db(row.try_get("id")?),
            asset: AssetCode::from_db(row.try_get("asset")?),
            flags: crate::account::flags_from_row(row)?,
            balances: crate::account::balances_from_row(row)?,
            last_seq: row.try_get("last_seq")?,
        });
    }
    Ok((accounts, latest))
}

/// Round trip (4): inserts transfers and entries and updates counters in one statement.
pub(crate) async fn write_outcome(
    conn: &mut PgConnection,
    o: &Outcome,
    now: DateTime<Utc>,
) -> Result<()> {
    if o.transfers.is_empty() {
        return Ok(());
    }
    let assets: HashMap<&AccountId, &AssetCode> =
        o.accounts.iter().map(|(a, _)| (&a.id, &a.asset)).collect();
    let t = &o.transfers;
    let asset_of = |id: &AccountId| {
        assets
            .get(id)
            .map(|a| a.as_str())
            .ok_or_else(|| corrupt("unlocked account"))
    };
    let t_assets = t
        .iter()
        .map(|t| asset_of(&t.debit))
        .collect::<Result<Vec<_>>>()?;
    // In primary-key order (accounts are locked in id order): each index leaf is visited once.
    let mut e: Vec<&crate::machine::EntryRow> = o.entries.iter().collect();
    e.sort_unstable_by_key(|x| (x.account, x.seq));
    let changed: Vec<&AccountState> = o
        .accounts
        .iter()
        .filter(|(_, c)| *c)
        .map(|(a, _)| a)
        .collect();
    let col = |f: fn(&Balances) -> Amount| {
        e.iter()
            .map(move |x| f(&x.balances).to_db())
            .collect::<Vec<i64>>()
    };
    let acol = |f: fn(&Balances) -> Amount| {
        changed
            .iter()
            .map(move |a| f(&a.balances).to_db())
            .collect::<Vec<i64>>()
    };
    sqlx::query(
        "WITH t AS ( \
           INSERT INTO ledger_transfers (id, kind, debit_account, credit_account, asset, amount, \
               pending_id, timeout_s, expires_at, metadata, created_at) \
           SELECT u.*, $1 FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
               $7::int8[], $8::text[], $9::int8[], $10::timestamptz[], $11::jsonb[]) AS u \
         ), e AS ( \
           INSERT INTO ledger_entries (account_id, seq, transfer_id, debits_posted, credits_posted, \
               debits_pending, credits_pending, created_at) \
           SELECT u.*, $1 FROM UNNEST($12::text[], $13::int8[], $14::text[], $15::int8[], \
               $16::int8[], $17::int8[], $18::int8[]) AS u \
         ) \
         UPDATE ledger_accounts a SET debits_posted = u.dp, credits_posted = u.cp, \
             debits_pending = u.dh, credits_pending = u.ch, last_seq = u.seq, updated_at = $1 \
         FROM UNNEST($19::text[], $20::int8[], $21::int8[], $22::int8[], $23::int8[], $24::int8[]) \
             AS u(id, dp, cp, dh, ch, seq) \
         WHERE a.id = u.id",
    )
    .bind(now)
    .bind(t.iter().map(|t| t.id.as_str()).collect::<Vec<_>>())
    .bind(t.iter().map(|t| t.kind.as_str()).collect::<Vec<_>>())
    .bind(t.iter().map(|t| t.debit.as_str()).collect::<Vec<_>>())
    .bind(t.iter().map(|t| t.credit.as_str()).collect::<Vec<_>>())
    .bind(t_assets)
    .bind(t.iter().map(|t| t.amount.to_db()).collect::<Vec<_>>())
    .bind(t.iter().map(|t| t.pending_id.as_ref().map(|p| p.as_str())).collect::<Vec<_>>())
    .bind(t.iter().map(|t| i64::from(t.timeout_s)).collect::<Vec<_>>())
    .bind(t.iter().map(|t| t.expires_at).collect::<Vec<_>>())
    .bind(t.iter().map(|t| t.metadata.clone()).collect::<Vec<Option<Value>>>())
    .bind(e.iter().map(|x| o.accounts[x.account].0.id.as_str()).collect::<Vec<_>>())
    .bind(e.iter().map(|x| x.seq).collect::<Vec<_>>())
    .bind(e.iter().map(|x| t[x.transfer].id.as_str()).collect::<Vec<_>>())
    .bind(col(|b| b.debits_posted))
    .bind(col(|b| b.credits_posted))
    .bind(col(|b| b.debits_pending))
    .bind(col(|b| b.credits_pending))
    .bind(changed.iter().map(|a| a.id.as_str()).collect::<Vec<_>>())
    .bind(acol(|b| b.debits_posted))
    .bind(acol(|b| b.credits_posted))
    .bind(acol(|b| b.debits_pending))
    .bind(acol(|b| b.credits_pending))
    .bind(changed.iter().map(|a| a.last_seq).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    Ok(())
}
