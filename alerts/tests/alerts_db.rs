//! Alerts against real PostgreSQL: once per period under races, again in a new period,
//! several thresholds in one jump, events only for new alerts, and rollback leaves nothing.

mod common;

use alerts::{list_alerts, raise_crossed, EventType, Threshold, UsageChange};
use common::*;
use serde_json::json;
use sqlx::PgPool;

fn percents(alerts: &[alerts::Alert]) -> Vec<u8> {
    alerts.iter().map(|a| a.threshold.percent()).collect()
}

async fn raise(pool: &PgPool, change: &UsageChange<'_>) -> Vec<alerts::Alert> {
    let mut tx = pool.begin().await.unwrap();
    let raised = raise_crossed(&mut tx, change, utc("2026-11-21T10:00:00Z"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    raised
}

#[sqlx::test(migrations = "../migrations")]
async fn jump_from_60_to_100_raises_all_four_with_their_events(pool: PgPool) {
    tenant(&pool, "acme").await;
    let raised = raise(&pool, &change("600", "1000")).await;
    assert_eq!(percents(&raised), [70, 85, 95, 100]);
    assert_eq!(count(&pool, "alerts").await, 4);
    assert_eq!(count(&pool, "billing_events").await, 4);

    let event = &raised[0].event;
    assert_eq!(event.event_type, EventType::QuotaThresholdCrossed);
    assert_eq!(event.tenant, "acme");
    assert_eq!(
        event.data,
        json!({"meter": "ai_tokens", "subject": null, "threshold": 70, "limit": "1000",
               "used": "1000", "period_start": "2026-11-01T00:00:00Z",
               "period_end": "2026-12-01T00:00:00Z"})
    );
    // The listing returns the very bodies that were enqueued, newest first.
    let listed = list_alerts(&pool, "acme", 100).await.unwrap();
    let mut enqueued: Vec<_> = raised.into_iter().map(|a| a.event).collect();
    enqueued.reverse();
    assert_eq!(listed, enqueued);
}

#[sqlx::test(migrations = "../migrations")]
async fn each_threshold_is_raised_once_per_period(pool: PgPool) {
    tenant(&pool, "acme").await;
    assert_eq!(percents(&raise(&pool, &change("0", "710")).await), [70]);
    // The same crossing reported again (a retry, another instance): nothing new.
    assert!(raise(&pool, &change("0", "710")).await.is_empty());
    // Usage dips (a correction) and rises again: 70 % was already raised this period.
    assert!(raise(&pool, &change("500", "720")).await.is_empty());
    assert_eq!(
        percents(&raise(&pool, &change("720", "990")).await),
        [85, 95]
    );
    // Only the new ones got events.
    assert_eq!(count(&pool, "alerts").await, 3);
    assert_eq!(count(&pool, "billing_events").await, 3);

    // A new period raises again.
    let mut december = change("0", "1500");
    december.period_start = utc("2026-12-01T00:00:00Z");
    december.period_end = utc("2027-01-01T00:00:00Z");
    assert_eq!(percents(&raise(&pool, &december).await), [70, 85, 95, 100]);
    // So does another subject's limit in the same period.
    let mut subject = change("0", "960");
    subject.subject = Some("user-42");
    assert_eq!(percents(&raise(&pool, &subject).await), [70, 85, 95]);
    assert_eq!(count(&pool, "billing_events").await, 10);
    let listed = list_alerts(&pool, "acme", 100).await.unwrap();
    assert_eq!(listed.len(), 10);
    assert!(listed.iter().any(|e| e.data["subject"] == "user-42"));
}

#[sqlx::test(migrations = "../migrations")]
async fn partially_raised_jump_only_adds_the_missing_thresholds(pool: PgPool) {
    tenant(&pool, "acme").await;
    // Another instance saw 70 → 86 % first.
    raise(&pool, &change("690", "860")).await;
    // This one saw 60 → 100 %: only 95 and 100 are new, and only they get events.
    let raised = raise(&pool, &change("600", "1000")).await;
    assert_eq!(percents(&raised), [95, 100]);
    assert_eq!(count(&pool, "billing_events").await, 4);
}

#[sqlx::test(migrations = "../migrations")]
async fn concurrent_raises_of_one_crossing_raise_it_once(pool: PgPool) {
    tenant(&pool, "acme").await;
    // The first transaction inserts and holds its rows uncommitted...
    let mut first = pool.begin().await.unwrap();
    let now = utc("2026-11-21T10:00:00Z");
    let won = raise_crossed(&mut first, &change("600", "960"), now)
        .await
        .unwrap();
    // ...while a second one races for the same crossing; its insert waits on the first.
    let racer = tokio::spawn({
        let pool = pool.clone();
        async move { raise(&pool, &change("650", "1000")).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    first.commit().await.unwrap();
    let lost = racer.await.unwrap();
    assert_eq!(percents(&won), [70, 85, 95]);
    assert_eq!(percents(&lost), [100]);
    assert_eq!(count(&pool, "alerts").await, 4);
    assert_eq!(count(&pool, "billing_events").await, 4);

    // Many racers at once for a new period: still one alert and one event per threshold.
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut c = change("0", "1000");
                c.period_start = utc("2026-12-01T00:00:00Z");
                c.period_end = utc("2027-01-01T00:00:00Z");
                raise(&pool, &c).await.len()
            })
        })
        .collect();
    let mut total = 0;
    for h in handles {
        total += h.await.unwrap();
    }
    assert_eq!(total, 4);
    assert_eq!(count(&pool, "billing_events").await, 8);
}

#[sqlx::test(migrations = "../migrations")]
async fn rollback_leaves_neither_alert_nor_event(pool: PgPool) {
    tenant(&pool, "acme").await;
    let mut tx = pool.begin().await.unwrap();
    let raised = raise_crossed(&mut tx, &change("0", "1000"), utc("2026-11-21T10:00:00Z"))
        .await
        .unwrap();
    assert_eq!(raised.len(), 4);
    tx.rollback().await.unwrap();
    assert_eq!(count(&pool, "alerts").await, 0);
    assert_eq!(count(&pool, "billing_events").await, 0);
    // Nothing was claimed either: the next report raises them.
    assert_eq!(raise(&pool, &change("0", "1000")).await.len(), 4);
}

#[sqlx::test(migrations = "../migrations")]
async fn invalid_changes_are_rejected_before_any_write(pool: PgPool) {
    tenant(&pool, "acme").await;
    let mut backwards = change("0", "1000");
    backwards.period_end = backwards.period_start;
    let mut negative = change("0", "1000");
    negative.limit = dec("-1");
    let mut empty_subject = change("0", "1000");
    empty_subject.subject = Some("");
    for bad in [backwards, negative, empty_subject] {
        let mut tx = pool.begin().await.unwrap();
        let err = raise_crossed(&mut tx, &bad, utc("2026-11-21T10:00:00Z")).await;
        assert!(
            matches!(err, Err(alerts::AlertsError::Invalid { .. })),
            "{bad:?}"
        );
    }
    assert_eq!(count(&pool, "alerts").await, 0);
    let _ = Threshold::ALL;
}

#[sqlx::test(migrations = "../migrations")]
async fn listing_is_per_tenant_newest_first_and_bounded(pool: PgPool) {
    tenant(&pool, "acme").await;
    tenant(&pool, "globex").await;
    let mut other = change("0", "1000");
    other.tenant = "globex";
    raise(&pool, &other).await;
    let mut tx = pool.begin().await.unwrap();
    raise_crossed(&mut tx, &change("0", "800"), utc("2026-11-10T00:00:00Z"))
        .await
        .unwrap();
    raise_crossed(&mut tx, &change("800", "1000"), utc("2026-11-20T00:00:00Z"))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let listed = list_alerts(&pool, "acme", 2).await.unwrap();
    let thresholds: Vec<_> = listed.iter().map(|e| e.data["threshold"].clone()).collect();
    assert_eq!(thresholds, [json!(100), json!(95)]);
    assert!(listed.iter().all(|e| e.tenant == "acme"));
    assert_eq!(list_alerts(&pool, "acme", 0).await.unwrap().len(), 1);
    assert_eq!(list_alerts(&pool, "nobody", 10).await.unwrap().len(), 0);
}
