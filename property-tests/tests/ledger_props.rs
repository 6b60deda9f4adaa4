//! Ledger properties against real PostgreSQL: random workloads (linked chains, pending /
//! post / void / expiry, duplicate ids, failing transfers) give the same results and balances
//! as a simple in-memory model, and `verify` holds after every step.

mod ledger_model;

use chrono::{DateTime, Duration, TimeZone, Utc};
use ledger::{
    AccountFlags, AccountId, Amount, AssetCode, NewAccount, NewTransfer, TransferId, TransferKind,
};
use ledger_model::{FreshDb, MAcc, MKind, MOp, Model};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use sqlx::PgPool;

/// Accounts of a case: 0 world (no limit), 1..=3 wallets (no overdraft), 4 USD, 5 missing.
const ACCOUNTS: usize = 6;
const IDS: usize = 20;

/// A generated operation, over account and id indices; `instantiate` names them per run, so
/// shrunk re-runs never collide with ids left by earlier runs in the same database.
#[derive(Clone, Debug)]
enum GKind {
    Posted(usize, usize, u64),
    Pending(usize, usize, u64, u32),
    Post(usize, Option<u64>),
    Void(usize),
}

#[derive(Clone, Debug)]
enum Step {
    Batch(Vec<(usize, GKind, bool)>),
    /// Resubmits the n-th earlier batch (modulo their count) verbatim: idempotency.
    Retry(usize),
    Advance(i64),
    Sweep,
}

fn instantiate(case: usize, (id, kind, linked): &(usize, GKind, bool)) -> MOp {
    let acct = |i: &usize| format!("c{case}-a{i}");
    let tid = |i: &usize| format!("c{case}-t{i}");
    let kind = match kind {
        GKind::Posted(d, c, amount) => MKind::Posted {
            dr: acct(d),
            cr: acct(c),
            amount: *amount,
        },
        GKind::Pending(d, c, amount, t) => MKind::Pending {
            dr: acct(d),
            cr: acct(c),
            amount: *amount,
            timeout_s: *t,
        },
        GKind::Post(p, amount) => MKind::Post {
            pending: tid(p),
            amount: *amount,
        },
        GKind::Void(p) => MKind::Void { pending: tid(p) },
    };
    MOp {
        id: tid(id),
        kind,
        linked: *linked,
    }
}

/// Pending transfers take ids 0..6, posted ones 4..12, posts and voids 10..20 and name
/// 0..6: resolutions usually find a pending transfer, and ids still collide across kinds.
fn op() -> impl Strategy<Value = (usize, GKind, bool)> {
    let kind = prop_oneof![
        4 => (4..12usize, 0..ACCOUNTS, 0..ACCOUNTS, 0u64..40).prop_map(|(i, d, c, a)| (i, GKind::Posted(d, c, a))),
        3 => (0..6usize, 0..ACCOUNTS, 0..ACCOUNTS, 0u64..40, 0u32..3).prop_map(|(i, d, c, a, t)| (i, GKind::Pending(d, c, a, t * 5))),
        2 => (10..IDS, 0..6usize, proptest::option::of(0u64..40)).prop_map(|(i, p, a)| (i, GKind::Post(p, a))),
        2 => (10..IDS, 0..6usize).prop_map(|(i, p)| (i, GKind::Void(p))),
    ];
    (kind, proptest::bool::weighted(0.25)).prop_map(|((i, kind), linked)| (i, kind, linked))
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        6 => proptest::collection::vec(op(), 1..10).prop_map(Step::Batch),
        1 => (0usize..8).prop_map(Step::Retry),
        2 => (1i64..15).prop_map(Step::Advance),
        1 => Just(Step::Sweep),
    ];
    proptest::collection::vec(step, 2..12)
}

fn to_transfer(op: &MOp) -> NewTransfer {
    let a = |s: &str| AccountId::parse(s).unwrap();
    let t = |s: &str| TransferId::parse(s).unwrap();
    let m = |v: u64| Amount::new(v).unwrap();
    let kind = match &op.kind {
        MKind::Posted { dr, cr, amount } => TransferKind::Posted {
            debit: a(dr),
            credit: a(cr),
            amount: m(*amount),
        },
        MKind::Pending {
            dr,
            cr,
            amount,
            timeout_s,
        } => TransferKind::Pending {
            debit: a(dr),
            credit: a(cr),
            amount: m(*amount),
            timeout_s: *timeout_s,
        },
        MKind::Post { pending, amount } => TransferKind::PostPending {
            pending_id: t(pending),
            amount: amount.map(m),
        },
        MKind::Void { pending } => TransferKind::VoidPending {
            pending_id: t(pending),
        },
    };
    NewTransfer {
        id: t(&op.id),
        kind,
        linked: op.linked,
        metadata: None,
    }
}

async fn open_case(pool: &PgPool, case: usize, model: &mut Model) {
    let mut accounts = Vec::new();
    for i in 0..ACCOUNTS - 1 {
        let id = format!("c{case}-a{i}");
        let asset = if i == 4 { "USD" } else { "TOKEN" };
        let no_overdraft = (1..=3).contains(&i);
        accounts.push(NewAccount {
            id: AccountId::parse(&id).unwrap(),
            tenant: None,
            asset: AssetCode::parse(asset).unwrap(),
            flags: AccountFlags {
                debits_must_not_exceed_credits: no_overdraft,
                credits_must_not_exceed_debits: false,
            },
            metadata: None,
        });
        model.accounts.insert(
            id,
            MAcc {
                asset: u8::from(i == 4),
                no_overdraft,
                ..MAcc::default()
            },
        );
    }
    ledger::create_accounts(pool, &accounts).await.unwrap();
}

async fn check_balances(pool: &PgPool, model: &Model) -> Result<(), TestCaseError> {
    for (id, m) in &model.accounts {
        let a = ledger::get_account(pool, &AccountId::parse(id).unwrap())
            .await
            .unwrap()
            .unwrap();
        let b = a.balances;
        let got = (
            b.debits_posted.get(),
            b.credits_posted.get(),
            b.debits_pending.get(),
            b.credits_pending.get(),
        );
        prop_assert_eq!(got, (m.dp, m.cp, m.dh, m.ch), "account {}", id);
        if m.no_overdraft {
            prop_assert!(b.available() >= 0, "{} overdrawn", id);
        }
    }
    let report = ledger::verify(pool).await.unwrap();
    prop_assert!(report.is_ok(), "{}", report);
    Ok(())
}

async fn run_case(pool: &PgPool, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let case = case_counter();
    let base: DateTime<Utc> =
        Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap() + Duration::days(case as i64);
    let mut model = Model::default();
    open_case(pool, case, &mut model).await;
    let mut now_s = 0i64;
    // Wallets start funded so that limits, holds and posts are reachable.
    let fund: Vec<(usize, GKind, bool)> = (1..=3)
        .map(|i| (8 + i, GKind::Posted(0, i, 40), false))
        .collect();
    let mut done: Vec<Vec<(usize, GKind, bool)>> = Vec::new();
    for step in std::iter::once(Step::Batch(fund)).chain(steps) {
        let now = base + Duration::seconds(now_s);
        let step = match step {
            Step::Retry(n) if !done.is_empty() => Step::Batch(done[n % done.len()].clone()),
            other => other,
        };
        match step {
            Step::Retry(_) => {}
            Step::Batch(ops) => {
                done.push(ops.clone());
                let ops: Vec<MOp> = ops.iter().map(|o| instantiate(case, o)).collect();
                let transfers: Vec<NewTransfer> = ops.iter().map(to_transfer).collect();
                let got = ledger::create_transfers_at(pool, &transfers, now)
                    .await
                    .unwrap();
                let want = model.apply(&ops, now_s);
                SEEN.lock().unwrap().extend(got.iter().map(|r| r.as_str()));
                prop_assert_eq!(got, want, "batch {:?}", ops);
            }
            Step::Advance(s) => now_s += s,
            Step::Sweep => {
                ledger::sweep(pool, now).await.unwrap();
                model.sweep(now_s);
            }
        }
        check_balances(pool, &model).await?;
    }
    Ok(())
}

#[test]
fn random_workloads_match_the_model() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let db = rt.block_on(FreshDb::create());
    // Seeded, so the coverage check below is reproducible; LEDGER_PROPS_SEED explores others.
    let seed: u64 = std::env::var("LEDGER_PROPS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_122);
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let config = Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(config, rng);
    let result = runner.run(&steps(), |steps| rt.block_on(run_case(&db.pool, steps)));
    rt.block_on(db.drop_db());
    result.unwrap();
    // The workloads reach the interesting outcomes, not only trivial ones.
    let seen = SEEN.lock().unwrap();
    for code in [
        "created",
        "exists",
        "exists_with_different_fields",
        "linked_event_failed",
        "exceeds_credits",
        "account_not_found",
        "asset_mismatch",
        "pending_transfer_expired",
        "pending_transfer_already_posted",
        "pending_transfer_already_voided",
        "exceeds_pending_transfer_amount",
    ] {
        assert!(seen.contains(code), "no {code} in {seen:?}");
    }
}

/// Result codes seen across all cases.
static SEEN: std::sync::Mutex<std::collections::BTreeSet<&'static str>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// Every run of a case (and of each shrink of it) gets fresh account and transfer ids.
fn case_counter() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Tasks hammering one flagged hot account (with chains, duplicate ids across tasks and
/// transfers in both directions between sinks): never overdrawn, every id created at most
/// once, final balance = funding − sum of the created debits, `verify` clean.
#[test]
fn hot_account_under_concurrency() {
    const TASKS: usize = 6;
    const BATCHES: usize = 15;
    const FUNDING: u64 = 2_000;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let db = FreshDb::create().await;
        let pool = db.pool.clone();
        let a = |s: &str| AccountId::parse(s).unwrap();
        let new = |id: &str, no_overdraft: bool| NewAccount {
            id: a(id),
            tenant: None,
            asset: AssetCode::token(),
            flags: AccountFlags {
                debits_must_not_exceed_credits: no_overdraft,
                credits_must_not_exceed_debits: false,
            },
            metadata: None,
        };
        let mut accounts = vec![new("world", false), new("hot", true)];
        accounts.extend((0..4).map(|i| new(&format!("sink{i}"), false)));
        ledger::create_accounts(&pool, &accounts).await.unwrap();
        let fund = NewTransfer::posted(
            TransferId::parse("fund").unwrap(),
            a("world"),
            a("hot"),
            Amount::new(FUNDING).unwrap(),
        );
        ledger::create_transfers(&pool, &[fund]).await.unwrap();

        let tasks = (0..TASKS).map(|task| {
            let pool = pool.clone();
            tokio::spawn(async move {
                use rand::{Rng, SeedableRng};
                let mut rng = rand::rngs::StdRng::seed_from_u64(task as u64);
                let mut created = Vec::new();
                for b in 0..BATCHES {
                    let batch: Vec<NewTransfer> = (0..20)
                        .map(|i| {
                            // A shared id space: tasks collide on ids (same fields per id).
                            let n = rng.gen_range(0..3000u64);
                            let (dr, cr) = if n % 4 == 0 {
                                (format!("sink{}", n % 3), format!("sink{}", 3 - n % 3))
                            } else {
                                ("hot".to_string(), format!("sink{}", n % 4))
                            };
                            let mut t = NewTransfer::posted(
                                TransferId::parse(&format!("x{n}")).unwrap(),
                                AccountId::parse(&dr).unwrap(),
                                AccountId::parse(&cr).unwrap(),
                                Amount::new(n % 17 + 1).unwrap(),
                            );
                            t.linked = (b + i) % 5 == 0 && i < 19;
                            t
                        })
                        .collect();
                    let results = ledger::create_transfers(&pool, &batch).await.unwrap();
                    let hot = ledger::get_account(&pool, &AccountId::parse("hot").unwrap())
                        .await
                        .unwrap()
                        .unwrap();
                    assert!(
                        hot.balances.available() >= 0,
                        "hot overdrawn: {:?}",
                        hot.balances
                    );
                    for (t, r) in batch.iter().zip(results) {
                        if r == ledger::TransferResult::Created {
                            created.push(t.clone());
                        }
                    }
                }
                created
            })
        });
        let mut created: Vec<NewTransfer> = Vec::new();
        for t in futures::future::join_all(tasks).await {
            created.extend(t.unwrap());
        }
        let mut ids: Vec<&str> = created.iter().map(|t| t.id.as_str()).collect();
        ids.sort_unstable();
        let before = ids.len();
        ids.dedup();
        assert_eq!(before, ids.len(), "an id was created twice");
        let debited: u64 = created
            .iter()
            .filter_map(|t| match &t.kind {
                TransferKind::Posted { debit, amount, .. } if debit.as_str() == "hot" => {
                    Some(amount.get())
                }
                _ => None,
            })
            .sum();
        let hot = ledger::get_account(&pool, &a("hot"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            hot.balances.balance(),
            i128::from(FUNDING) - i128::from(debited)
        );
        assert!(
            hot.balances.balance() < 17,
            "demand exceeds funding, so the hot account ends nearly empty"
        );
        let report = ledger::verify(&pool).await.unwrap();
        assert!(report.is_ok(), "{report}");
        db.drop_db().await;
    });
}
