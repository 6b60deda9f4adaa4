//! Ledger throughput benchmark: batched fast path vs one transfer per transaction.
//!
//! `cargo bench -p ledger --bench ledger` with DATABASE_URL set (a role that may create
//! databases). Creates a fresh database, runs every scenario on it in one run, prints a table
//! and drops the database. `synchronous_commit` is left at the server's setting (on).

use std::time::{Duration, Instant};

use futures::future::try_join_all;
use ledger::{
    AccountFlags, AccountId, Amount, AssetCode, NewAccount, NewTransfer, TransferId, TransferResult,
};
use rand::{rngs::StdRng, Rng, SeedableRng};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

const ACCOUNTS: usize = 10_000;
const BATCH: usize = ledger::MAX_BATCH;
const BATCH_CLIENTS: usize = 4;
const BATCHES_PER_CLIENT: usize = 5;
const HOT_BATCHES_PER_CLIENT: usize = 3;
const BASELINE_CLIENTS: usize = 8;
const BASELINE_PER_CLIENT: usize = 1_500;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[tokio::main]
async fn main() -> Res<()> {
    let url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set")?;
    let admin: PgConnectOptions = url.parse()?;
    let name = format!("ledger_bench_{}", uuid::Uuid::new_v4().simple());
    let mut conn = admin.connect().await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await?;
    let result = run(admin.clone().database(&name)).await;
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    result
}

async fn run(opts: PgConnectOptions) -> Res<()> {
    let pool = PgPoolOptions::new()
        .max_connections((BASELINE_CLIENTS + 2) as u32)
        .acquire_timeout(Duration::from_secs(60))
        .connect_with(opts)
        .await?;
    sqlx::migrate!("../migrations").run(&pool).await?;
    let sync: String = sqlx::query_scalar("SHOW synchronous_commit")
        .fetch_one(&pool)
        .await?;
    let version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&pool)
        .await?;
    println!("PostgreSQL {version}, synchronous_commit = {sync}");
    setup(&pool).await?;

    let mut rows = Vec::new();
    rows.push(batched(&pool, "batched, uniform random pairs", false).await?);
    rows.push(
        batched(
            &pool,
            "batched, hot account (every transfer debits one wallet)",
            true,
        )
        .await?,
    );
    rows.push(baseline(&pool).await?);
    println!();
    println!("| scenario | clients | transfers | seconds | transfers/s |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.2} | {:.0} |",
            r.name,
            r.clients,
            r.transfers,
            r.elapsed.as_secs_f64(),
            r.rate()
        );
    }
    println!("\nbatched / baseline = {:.1}x", rows[0].ratio(&rows[2]));
    let report = ledger::verify(&pool).await?;
    println!("verify: {}", if report.is_ok() { "ok" } else { "FAILED" });
    if !report.is_ok() {
        println!("{report}");
        return Err("ledger invariants violated".into());
    }
    Ok(())
}

struct Row {
    name: &'static str,
    clients: usize,
    transfers: usize,
    elapsed: Duration,
}

impl Row {
    // Throughput figures for display, not money: floats are fine here.
    #[allow(clippy::float_arithmetic)]
    fn rate(&self) -> f64 {
        self.transfers as f64 / self.elapsed.as_secs_f64()
    }

    // Throughput figures for display, not money: floats are fine here.
    #[allow(clippy::float_arithmetic)]
    fn ratio(&self, other: &Row) -> f64 {
        self.rate() / other.rate()
    }
}

fn account(i: usize) -> AccountId {
    AccountId::parse(&format!("acct-{i:05}")).expect("valid id")
}

async fn setup(pool: &PgPool) -> Res<()> {
    let mut accounts: Vec<NewAccount> = (0..ACCOUNTS)
        .map(|i| NewAccount {
            id: account(i),
            tenant: None,
            asset: AssetCode::token(),
            flags: AccountFlags::default(),
            metadata: None,
        })
        .collect();
    accounts.push(NewAccount {
        id: AccountId::parse("hot-wallet")?,
        tenant: None,
        asset: AssetCode::token(),
        flags: AccountFlags {
            debits_must_not_exceed_credits: true,
            credits_must_not_exceed_debits: false,
        },
        metadata: None,
    });
    for chunk in accounts.chunks(BATCH) {
        ledger::create_accounts(pool, chunk).await?;
    }
    let fund = NewTransfer::posted(
        TransferId::parse("fund-hot")?,
        account(0),
        AccountId::parse("hot-wallet")?,
        Amount::new(1_000_000_000_000)?,
    );
    check(&ledger::create_transfers(pool, &[fund]).await?)
}

fn check(results: &[TransferResult]) -> Res<()> {
    match results.iter().find(|r| **r != TransferResult::Created) {
        Some(r) => Err(format!("unexpected result {r}").into()),
        None => Ok(()),
    }
}

async fn batched(pool: &PgPool, name: &'static str, hot: bool) -> Res<Row> {
    let batches = if hot {
        HOT_BATCHES_PER_CLIENT
    } else {
        BATCHES_PER_CLIENT
    };
    let start = Instant::now();
    let clients = (0..BATCH_CLIENTS).map(|c| {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(c as u64 + if hot { 1000 } else { 0 });
            for b in 0..batches {
                let batch: Vec<NewTransfer> = (0..BATCH)
                    .map(|i| {
                        let id = TransferId::parse(&format!(
                            "{}-{c}-{b}-{i}",
                            if hot { "h" } else { "u" }
                        ))?;
                        let cr = rng.gen_range(1..ACCOUNTS);
                        let dr = if hot {
                            AccountId::parse("hot-wallet")?
                        } else {
                            account((cr + rng.gen_range(1..ACCOUNTS - 1)) % ACCOUNTS)
                        };
                        Ok(NewTransfer::posted(
                            id,
                            dr,
                            account(cr),
                            Amount::new(rng.gen_range(1..100))?,
                        ))
                    })
                    .collect::<Res<_>>()?;
                check(&ledger::create_transfers(&pool, &batch).await?)?;
            }
            Res::Ok(())
        })
    });
    for r in try_join_all(clients).await? {
        r?;
    }
    Ok(Row {
        name,
        clients: BATCH_CLIENTS,
        transfers: BATCH_CLIENTS * batches * BATCH,
        elapsed: start.elapsed(),
    })
}

/// The straightforward implementation: one transaction per transfer, both accounts locked
/// with `SELECT … FOR UPDATE` (in id order), two updates, one transfer and two entry inserts.
async fn baseline(pool: &PgPool) -> Res<Row> {
    let start = Instant::now();
    let clients = (0..BASELINE_CLIENTS).map(|c| {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(2000 + c as u64);
            for i in 0..BASELINE_PER_CLIENT {
                let cr = rng.gen_range(0..ACCOUNTS);
                let dr = (cr + rng.gen_range(1..ACCOUNTS - 1)) % ACCOUNTS;
                let amount: i64 = rng.gen_range(1..100);
                single(&pool, &format!("s-{c}-{i}"), dr, cr, amount).await?;
            }
            Res::Ok(())
        })
    });
    for r in try_join_all(clients).await? {
        r?;
    }
    Ok(Row {
        name: "baseline: one transfer per transaction, SELECT … FOR UPDATE",
        clients: BASELINE_CLIENTS,
        transfers: BASELINE_CLIENTS * BASELINE_PER_CLIENT,
        elapsed: start.elapsed(),
    })
}

async fn single(pool: &PgPool, id: &str, dr: usize, cr: usize, amount: i64) -> Res<()> {
    let (dr, cr) = (account(dr), account(cr));
    let mut tx = pool.begin().await?;
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT id, debits_posted, credits_posted FROM ledger_accounts \
         WHERE id = ANY($1) ORDER BY id FOR UPDATE",
    )
    .bind(vec![dr.as_str(), cr.as_str()])
    .fetch_all(&mut *tx)
    .await?;
    if rows.len() != 2 {
        return Err("account missing".into());
    }
    let mut seqs = Vec::new();
    for (acct, col) in [(&dr, "debits_posted"), (&cr, "credits_posted")] {
        let (seq, d, c): (i64, i64, i64) = sqlx::query_as(&format!(
            "UPDATE ledger_accounts SET {col} = {col} + $2, last_seq = last_seq + 1, updated_at = now() \
             WHERE id = $1 RETURNING last_seq, debits_posted, credits_posted"
        ))
        .bind(acct.as_str())
        .bind(amount)
        .fetch_one(&mut *tx)
        .await?;
        seqs.push((acct.as_str().to_string(), seq, d, c));
    }
    sqlx::query(
        "INSERT INTO ledger_transfers (id, kind, debit_account, credit_account, asset, amount, created_at) \
         VALUES ($1, 'posted', $2, $3, 'TOKEN', $4, now())",
    )
    .bind(id)
    .bind(dr.as_str())
    .bind(cr.as_str())
    .bind(amount)
    .execute(&mut *tx)
    .await?;
    for (acct, seq, d, c) in seqs {
        sqlx::query(
            "INSERT INTO ledger_entries (account_id, seq, transfer_id, debits_posted, credits_posted, \
             debits_pending, credits_pending, created_at) VALUES ($1, $2, $3, $4, $5, 0, 0, now())",
        )
        .bind(acct)
        .bind(seq)
        .bind(id)
        .bind(d)
        .bind(c)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
