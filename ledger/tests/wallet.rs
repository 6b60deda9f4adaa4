//! Wallet operations against PostgreSQL: grants burn first, holds, refunds, expiry sweeps.

mod common;

use chrono::{Duration, TimeZone, Utc};
use common::*;
use ledger::{LedgerError, TenantId, TransferResult as R};
use sqlx::PgPool;

#[sqlx::test(migrations = "../migrations")]
async fn usage_burns_grants_by_expiry_then_purchased(pool: PgPool) {
    let t = TenantId::parse("acme").unwrap();
    let now = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
    ledger::open_wallet(&pool, &t).await.unwrap();
    ledger::open_wallet(&pool, &t).await.unwrap();
    let late = now + Duration::days(30);
    let soon = now + Duration::days(1);
    assert_eq!(
        ledger::grant_tokens(
            &pool,
            &t,
            &tid("g-late"),
            amt(100),
            late,
            Some("promo"),
            now
        )
        .await
        .unwrap(),
        R::Created
    );
    assert_eq!(
        ledger::grant_tokens(&pool, &t, &tid("g-soon"), amt(50), soon, None, now)
            .await
            .unwrap(),
        R::Created
    );
    assert_eq!(
        ledger::top_up(&pool, &t, &tid("pay-1"), amt(1000), Some("stripe"), now)
            .await
            .unwrap(),
        R::Created
    );
    assert_eq!(
        ledger::top_up(&pool, &t, &tid("pay-1"), amt(1000), Some("stripe"), now)
            .await
            .unwrap(),
        R::Exists
    );
    assert!(matches!(
        ledger::top_up(&pool, &t, &tid("pay-1"), amt(999), Some("stripe"), now).await,
        Err(LedgerError::ExistsWithDifferentFields(_))
    ));

    assert_eq!(
        ledger::debit_usage(&pool, &t, &tid("u1"), amt(120), now)
            .await
            .unwrap(),
        R::Created
    );
    assert_eq!(
        ledger::debit_usage(&pool, &t, &tid("u1"), amt(120), now)
            .await
            .unwrap(),
        R::Exists
    );
    let w = ledger::wallet(&pool, &t, now).await.unwrap();
    assert_eq!(
        (w.granted.get(), w.purchased.get(), w.available.get()),
        (30, 1000, 1030)
    );
    assert_eq!(
        w.grants
            .iter()
            .map(|g| (g.id.as_str(), g.remaining.get()))
            .collect::<Vec<_>>(),
        vec![("g-soon", 0), ("g-late", 30)]
    );

    // Too much: nothing written.
    assert!(matches!(
        ledger::debit_usage(&pool, &t, &tid("u2"), amt(1031), now).await,
        Err(LedgerError::InsufficientBalance {
            available: 1030,
            requested: 1031
        })
    ));
    // Hold, partial settle: 30 from the grant, 10 from purchased.
    assert_eq!(
        ledger::hold(&pool, &t, &tid("h1"), amt(60), 3600, now)
            .await
            .unwrap(),
        R::Created
    );
    let w = ledger::wallet(&pool, &t, now).await.unwrap();
    assert_eq!((w.pending.get(), w.available.get()), (60, 970));
    assert_eq!(
        ledger::settle(&pool, &t, &tid("h1"), Some(amt(40)), now)
            .await
            .unwrap(),
        R::Created
    );
    assert_eq!(
        ledger::settle(&pool, &t, &tid("h1"), Some(amt(40)), now)
            .await
            .unwrap(),
        R::Exists
    );
    assert!(matches!(
        ledger::release(&pool, &t, &tid("h1"), now).await,
        Err(LedgerError::Refused(R::PendingTransferAlreadyPosted))
    ));
    let w = ledger::wallet(&pool, &t, now).await.unwrap();
    assert_eq!(
        (w.granted.get(), w.purchased.get(), w.pending.get()),
        (0, 990, 0)
    );

    // Refund the first usage, newest leg first: 70 back to the late grant, 50 to the soon one.
    assert_eq!(
        ledger::refund_usage(&pool, &t, &tid("u1"), None, now)
            .await
            .unwrap(),
        R::Created
    );
    let w = ledger::wallet(&pool, &t, now).await.unwrap();
    assert_eq!((w.granted.get(), w.available.get()), (120, 1110));

    // Expiry: the soon grant's 50 move to ~expired:TOKEN.
    let later = soon + Duration::seconds(1);
    let report = ledger::sweep(&pool, later).await.unwrap();
    assert_eq!(
        (report.pending_expired, report.grants_expired, report.more),
        (0, 1, false)
    );
    assert_eq!(ledger::sweep(&pool, later).await.unwrap().grants_expired, 0);
    let w = ledger::wallet(&pool, &t, later).await.unwrap();
    assert_eq!(
        (w.granted.get(), w.available.get(), w.grants.len()),
        (70, 1060, 1)
    );
    assert_eq!(balance(&pool, "~expired:TOKEN").await, 50);
    let report = ledger::verify(&pool).await.unwrap();
    assert!(report.is_ok(), "{report}");
}

#[sqlx::test(migrations = "../migrations")]
async fn expired_holds_release_and_missing_wallets_error(pool: PgPool) {
    let t = TenantId::parse("beta").unwrap();
    let now = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
    assert!(matches!(
        ledger::top_up(&pool, &t, &tid("p"), amt(1), None, now).await,
        Err(LedgerError::WalletNotFound(_))
    ));
    ledger::open_wallet(&pool, &t).await.unwrap();
    ledger::top_up(&pool, &t, &tid("p"), amt(10), None, now)
        .await
        .unwrap();
    ledger::hold(&pool, &t, &tid("h"), amt(10), 60, now)
        .await
        .unwrap();
    assert!(matches!(
        ledger::debit_usage(&pool, &t, &tid("u"), amt(1), now).await,
        Err(LedgerError::InsufficientBalance { available: 0, .. })
    ));
    let later = now + Duration::seconds(61);
    assert!(matches!(
        ledger::settle(&pool, &t, &tid("h"), None, later).await,
        Err(LedgerError::Refused(R::PendingTransferExpired))
    ));
    assert_eq!(
        ledger::sweep(&pool, later).await.unwrap().pending_expired,
        1
    );
    assert_eq!(
        ledger::wallet(&pool, &t, later)
            .await
            .unwrap()
            .available
            .get(),
        10
    );
    assert!(ledger::verify(&pool).await.unwrap().is_ok());
}
