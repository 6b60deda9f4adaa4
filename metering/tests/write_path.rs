//! The write path against real PostgreSQL: dedupe, parking, every aggregation, tenant-zone
//! months, late events, concurrent batches, and the query's grouping rules.

mod common;

use std::collections::BTreeSet;

use common::*;
use metering::{
    ingest_batch, usage, Aggregation, EventOutcome, Granularity, GroupKey, MeterCode, ParkReason,
    TenantId, UsageEvent, UsageQuery,
};
use serde_json::json;
use sqlx::PgPool;

fn query(meter: &str, granularity: Granularity, group_by: &[GroupKey]) -> UsageQuery {
    UsageQuery {
        tenant: TenantId::parse("acme").unwrap(),
        meter: Some(MeterCode::parse(meter).unwrap()),
        from: utc("2026-10-01T00:00:00Z"),
        to: utc("2026-12-01T00:00:00Z"),
        granularity,
        group_by: group_by.iter().copied().collect::<BTreeSet<_>>(),
    }
}

/// (bucket, value) pairs of a query, as strings.
async fn values(pool: &PgPool, q: &UsageQuery) -> Vec<(String, String)> {
    usage(pool, q)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.bucket.to_rfc3339(), r.value.to_string()))
        .collect()
}

/// The fast path claims keys with one binary `COPY`, streamed in chunks of 256 KiB (20,000
/// keys are several chunks); a taken key fails it wherever the key sits in the stream (in the
/// first chunk, while the rest is still being sent, or the last row), and the batch then counts
/// exactly the others.
#[sqlx::test(migrations = "../migrations")]
async fn a_taken_key_anywhere_in_a_large_batch_costs_only_itself(pool: PgPool) {
    tenant(&pool, "acme", "IN", "UTC").await;
    let ev = |i: usize| {
        event(
            &format!("big-{i:05}"),
            "acme",
            "api_calls",
            "1",
            "2026-11-21T10:00:00Z",
            json!({"properties": {"service": "svc", "note": format!("n\t{i}")}}),
        )
    };
    // Keys sort as their numbers: 0 is the first row of the COPY, 19,999 the last.
    for (taken, offset) in [(0_usize, 0_usize), (19_999, 20_000)] {
        let one = ingest_batch(&pool, &[ev(taken + offset)]).await.unwrap();
        assert_eq!(one.accepted(), 1);
        let batch: Vec<UsageEvent> = (offset..offset + 20_000).map(ev).collect();
        let out = ingest_batch(&pool, &batch).await.unwrap();
        assert_eq!(
            (out.accepted(), out.duplicates()),
            (19_999, 1),
            "taken {taken}"
        );
        assert_eq!(out.outcomes[taken], EventOutcome::Duplicate);
    }
    let (raw, sum): (i64, rust_decimal::Decimal) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM metering_events), (SELECT value FROM metering_rollup_month)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((raw, sum), (40_000, rust_decimal::Decimal::from(40_000)));
    let row: (String, String, String, String, Option<String>) = sqlx::query_as(
        "SELECT properties::text, to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
                quantity::text, service, cost_usd::text
         FROM metering_events WHERE event_id = 'big-00007'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let want = (
        r#"{"note": "n\t7", "service": "svc"}"#,
        "2026-11-21 10:00:00",
        "1",
        "svc",
    );
    assert_eq!((&*row.0, &*row.1, &*row.2, &*row.3), want);
    assert_eq!(row.4, None);
}

#[sqlx::test(migrations = "../migrations")]
async fn duplicates_count_once_within_and_across_batches(pool: PgPool) {
    tenant(&pool, "acme", "IN", "UTC").await;
    let a = event(
        "e1",
        "acme",
        "ai_tokens",
        "100",
        "2026-11-21T10:00:00Z",
        json!({}),
    );
    let b = event(
        "e2",
        "acme",
        "ai_tokens",
        "5",
        "2026-11-21T10:01:00Z",
        json!({}),
    );
    let first = ingest_batch(&pool, &[a.clone(), a.clone(), b.clone()])
        .await
        .unwrap();
    assert_eq!(
        first.outcomes,
        [
            EventOutcome::Accepted,
            EventOutcome::Duplicate,
            EventOutcome::Accepted
        ]
    );
    let again = ingest_batch(&pool, &[b, a]).await.unwrap();
    assert_eq!((again.accepted(), again.duplicates()), (0, 2));
    let q = query("ai_tokens", Granularity::Hour, &[]);
    assert_eq!(
        values(&pool, &q).await,
        [("2026-11-21T10:00:00+00:00".into(), "105".into())]
    );
    let raw: i64 = sqlx::query_scalar("SELECT count(*) FROM metering_events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(raw, 2);
}

#[sqlx::test(migrations = "../migrations")]
async fn unknown_tenant_or_meter_is_parked_with_a_reason(pool: PgPool) {
    tenant(&pool, "acme", "IN", "UTC").await;
    let events = [
        event(
            "p1",
            "ghost",
            "ai_tokens",
            "1",
            "2026-11-21T10:00:00Z",
            json!({}),
        ),
        event(
            "p2",
            "acme",
            "no_such_meter",
            "1",
            "2026-11-21T10:00:00Z",
            json!({}),
        ),
        event(
            "ok",
            "acme",
            "ai_tokens",
            "1",
            "2026-11-21T10:00:00Z",
            json!({}),
        ),
    ];
    let out = ingest_batch(&pool, &events).await.unwrap();
    assert_eq!(
        out.outcomes,
        [
            EventOutcome::Parked(ParkReason::UnknownTenant),
            EventOutcome::Parked(ParkReason::UnknownMeter),
            EventOutcome::Accepted
        ]
    );
    let parked: Vec<(String, String)> =
        sqlx::query_as("SELECT event_id, reason FROM metering_parked ORDER BY event_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        parked[0],
        ("p1".into(), "tenant `ghost` does not exist".into())
    );
    assert_eq!(
        parked[1],
        (
            "p2".into(),
            "meter `no_such_meter` is not in the catalogue".into()
        )
    );
    // Parking does not claim the dedupe key: once the tenant exists the event counts.
    tenant(&pool, "ghost", "US", "UTC").await;
    let retry = ingest_batch(&pool, &events[..1]).await.unwrap();
    assert_eq!(retry.outcomes, [EventOutcome::Accepted]);
}

#[sqlx::test(migrations = "../migrations")]
async fn every_aggregation_is_exact_per_bucket(pool: PgPool) {
    tenant(&pool, "acme", "IN", "UTC").await;
    meter(&pool, "m_max", Aggregation::Max).await;
    meter(&pool, "m_latest", Aggregation::Latest).await;
    meter(&pool, "m_count", Aggregation::Count).await;
    meter(
        &pool,
        "m_users",
        Aggregation::UniqueCount {
            property: Some("user".into()),
        },
    )
    .await;
    let t = |m: &str| format!("2026-11-21T10:0{m}:00Z");
    let batch1 = [
        event("a1", "acme", "m_max", "7", &t("1"), json!({})),
        event("a2", "acme", "m_max", "3.5", &t("2"), json!({})),
        event("b1", "acme", "m_latest", "9", &t("3"), json!({})),
        event("b2", "acme", "m_latest", "4", &t("1"), json!({})),
        event("c1", "acme", "m_count", "100", &t("1"), json!({})),
        event(
            "u1",
            "acme",
            "m_users",
            "1",
            &t("1"),
            json!({"subject": "s1", "properties": {"user": "ann"}}),
        ),
        event(
            "u2",
            "acme",
            "m_users",
            "1",
            &t("2"),
            json!({"subject": "s2", "properties": {"user": "ann"}}),
        ),
    ];
    let batch2 = [
        event("a3", "acme", "m_max", "7.25", &t("3"), json!({})),
        event("b3", "acme", "m_latest", "1", &t("2"), json!({})),
        event("c2", "acme", "m_count", "0", &t("2"), json!({})),
        event(
            "u3",
            "acme",
            "m_users",
            "1",
            &t("3"),
            json!({"subject": "s1", "properties": {"user": "bob"}}),
        ),
        event(
            "u4",
            "acme",
            "m_users",
            "1",
            &t("4"),
            json!({"subject": "s1", "properties": {"user": "ann"}}),
        ),
    ];
    ingest_batch(&pool, &batch1).await.unwrap();
    ingest_batch(&pool, &batch2).await.unwrap();
    for (m, want) in [
        ("m_max", "7.25"),
        ("m_latest", "9"),
        ("m_count", "2"),
        ("m_users", "2"),
    ] {
        for g in [
            Granularity::FiveMinutes,
            Granularity::Hour,
            Granularity::Day,
            Granularity::Month,
        ] {
            let rows = values(&pool, &query(m, g, &[])).await;
            assert_eq!(rows.len(), 1, "{m} {g:?}");
            assert_eq!(rows[0].1, want, "{m} {g:?}");
        }
    }
    // Distinct users per subject: s1 saw ann and bob, s2 saw ann.
    let by_subject = usage(
        &pool,
        &query("m_users", Granularity::Hour, &[GroupKey::Subject]),
    )
    .await
    .unwrap();
    let got: Vec<_> = by_subject
        .iter()
        .map(|r| (r.subject.clone().unwrap(), r.value.to_string()))
        .collect();
    assert_eq!(got, [("s1".into(), "2".into()), ("s2".into(), "1".into())]);
}

#[sqlx::test(migrations = "../migrations")]
async fn time_weighted_gauges_become_gb_days(pool: PgPool) {
    tenant(&pool, "acme", "IN", "UTC").await;
    // storage_gb: hourly readings, GB-days. 24 readings of 10 GB = 10 GB-days.
    let events: Vec<_> = (0..24)
        .map(|h| {
            event(
                &format!("s{h}"),
                "acme",
                "storage_gb",
                "10",
                &format!("2026-11-20T{h:02}:30:00Z"),
                json!({}),
            )
        })
        .collect();
    ingest_batch(&pool, &events).await.unwrap();
    assert_eq!(
        values(&pool, &query("storage_gb", Granularity::Day, &[])).await[0].1,
        "10"
    );
    // ram_gb: per-minute readings, GB-hours: one reading of 6 GB = 0.1 GB-hour.
    ingest_batch(
        &pool,
        &[event(
            "r1",
            "acme",
            "ram_gb",
            "6",
            "2026-11-20T01:00:00Z",
            json!({}),
        )],
    )
    .await
    .unwrap();
    assert_eq!(
        values(&pool, &query("ram_gb", Granularity::Hour, &[])).await[0].1,
        "0.1"
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn months_use_the_tenant_zone_and_late_events_land(pool: PgPool) {
    tenant(&pool, "acme", "IN", "Asia/Kolkata").await;
    let events = [
        // 00:30 on 1 November in Kolkata: November, although still October in UTC.
        event(
            "n1",
            "acme",
            "api_calls",
            "2",
            "2026-10-31T19:00:00Z",
            json!({}),
        ),
        // 23:30 on 31 October in Kolkata.
        event(
            "o1",
            "acme",
            "api_calls",
            "3",
            "2026-10-31T18:00:00Z",
            json!({}),
        ),
        // 34 days late, in a month whose partition may not exist yet.
        event(
            "late",
            "acme",
            "api_calls",
            "5",
            "2026-10-18T00:00:00Z",
            json!({}),
        ),
    ];
    ingest_batch(&pool, &events).await.unwrap();
    let months = values(&pool, &query("api_calls", Granularity::Month, &[])).await;
    assert_eq!(
        months,
        [
            ("2026-09-30T18:30:00+00:00".into(), "8".into()),
            ("2026-10-31T18:30:00+00:00".into(), "2".into())
        ]
    );
    let region: String = sqlx::query_scalar("SELECT DISTINCT region FROM metering_rollup_1d")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(region, "IN", "region defaults to the tenant's");
}

#[sqlx::test(migrations = "../migrations")]
async fn grouping_by_region_and_service(pool: PgPool) {
    tenant(&pool, "acme", "IN", "UTC").await;
    let e =
        |id: &str, q: &str, extra| event(id, "acme", "ai_tokens", q, "2026-11-21T10:00:00Z", extra);
    let events = [
        e(
            "1",
            "10",
            json!({"region": "US", "properties": {"service": "chat"}}),
        ),
        e("2", "20", json!({"properties": {"service": "chat"}})),
        e(
            "3",
            "30",
            json!({"region": "US", "properties": {"service": "search"}}),
        ),
    ];
    ingest_batch(&pool, &events).await.unwrap();
    let rows = usage(
        &pool,
        &query("ai_tokens", Granularity::Day, &[GroupKey::Region]),
    )
    .await
    .unwrap();
    let got: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.region.clone().unwrap(),
                r.value.to_string(),
                r.service.clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("IN".into(), "20".into(), None),
            ("US".into(), "40".into(), None)
        ]
    );
    let month_grouped = usage(
        &pool,
        &query("ai_tokens", Granularity::Month, &[GroupKey::Service]),
    )
    .await;
    assert!(
        matches!(month_grouped, Err(metering::MeteringError::Invalid(ref f)) if f.field == "group_by")
    );
    // Cost: no explicit cost, so 60 tokens at the catalogue's 0.000002 USD.
    assert_eq!(
        rows.iter()
            .map(|r| r.cost_usd)
            .sum::<rust_decimal::Decimal>(),
        dec("0.00012")
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn concurrent_overlapping_batches_count_each_event_once(pool: PgPool) {
    tenant(&pool, "acme", "IN", "UTC").await;
    tenant(&pool, "beta", "US", "UTC").await;
    let make = |n: u32| {
        (0..200)
            .map(|i| {
                let t = if (i + n) % 2 == 0 { "acme" } else { "beta" };
                let tenant = if i % 2 == 0 { "acme" } else { t };
                event(
                    &format!("e{i}"),
                    tenant,
                    "api_calls",
                    "1",
                    "2026-11-21T10:00:00Z",
                    json!({}),
                )
            })
            .collect::<Vec<_>>()
    };
    let mut tasks = Vec::new();
    for n in 0..6u32 {
        let pool = pool.clone();
        let mut batch = make(n);
        if n % 2 == 1 {
            batch.reverse();
        }
        tasks.push(tokio::spawn(async move {
            ingest_batch(&pool, &batch).await.unwrap()
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        accepted += t.await.unwrap().accepted();
    }
    let distinct: i64 = sqlx::query_scalar("SELECT count(*) FROM metering_event_ids")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(accepted as i64, distinct);
    let total: rust_decimal::Decimal =
        sqlx::query_scalar("SELECT sum(value) FROM metering_rollup_1d")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(total, rust_decimal::Decimal::from(distinct));
}

#[sqlx::test(migrations = "../migrations")]
async fn meter_aggregation_never_changes(pool: PgPool) {
    meter(&pool, "m_sum", Aggregation::Sum).await;
    let mut m = metering::get_meter(&pool, &MeterCode::parse("m_sum").unwrap())
        .await
        .unwrap()
        .unwrap();
    m.aggregation = Aggregation::Max;
    assert!(matches!(
        metering::upsert_meter(&pool, &m).await,
        Err(metering::MeteringError::AggregationChange(_))
    ));
    let codes: Vec<String> = metering::list_meters(&pool)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.code.to_string())
        .collect();
    for seeded in [
        "api_calls",
        "workflow_runs",
        "plugin_executions",
        "gateway_messages",
        "ai_tokens",
        "ai_credits",
        "storage_gb",
        "ram_gb",
        "cpu_vcpu",
        "seats",
    ] {
        assert!(codes.iter().any(|c| c == seeded), "{seeded}");
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn parked_events_replay_once_their_tenant_exists(pool: PgPool) {
    let events = [
        event(
            "g1",
            "ghost",
            "api_calls",
            "4",
            "2026-11-21T10:00:00Z",
            json!({}),
        ),
        event(
            "g2",
            "ghost",
            "api_calls",
            "6",
            "2026-11-21T10:00:00Z",
            json!({}),
        ),
    ];
    ingest_batch(&pool, &events).await.unwrap();
    let still = metering::replay_parked(&pool, now(), 100).await.unwrap();
    assert_eq!(still.outcome.parked(), 2, "the tenant is still unknown");
    tenant(&pool, "ghost", "US", "UTC").await;
    let replay = metering::replay_parked(&pool, now(), 100).await.unwrap();
    assert_eq!((replay.outcome.accepted(), replay.expired), (2, 0));
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM metering_parked")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    let again = ingest_batch(&pool, &events).await.unwrap();
    assert_eq!(again.duplicates(), 2);
    let mut q = query("api_calls", Granularity::Day, &[]);
    q.tenant = TenantId::parse("ghost").unwrap();
    assert_eq!(
        values(&pool, &q).await,
        [("2026-11-21T00:00:00+00:00".into(), "10".into())]
    );
}

/// Dedupe keys expire through their raw events once their event time is 40 days old (the
/// acceptance window is 35): `metering_maintain` deletes exactly those keys, keeps every raw
/// event, records how far it got, and refuses a raw retention shorter than the key window.
#[sqlx::test(migrations = "../migrations")]
async fn dedupe_keys_expire_through_their_raw_events(pool: PgPool) {
    tenant(&pool, "acme", "IN", "UTC").await;
    let real_now = chrono::Utc::now();
    let at = |days: i64, id: &str| {
        let time = real_now - chrono::Duration::days(days);
        // Parsed against a "now" that accepts the time (the write path does not re-check it).
        let parse_now = time + chrono::Duration::days(1);
        UsageEvent::parse(
            &event_json(id, "acme", "api_calls", "1", &time.to_rfc3339(), json!({})),
            parse_now,
        )
        .unwrap()
    };
    let old: Vec<UsageEvent> = (0..50).map(|i| at(50, &format!("old-{i}"))).collect();
    let kept: Vec<UsageEvent> = (0..50)
        .map(|i| at(39, &format!("kept-{i}")))
        .chain((0..50).map(|i| at(1, &format!("new-{i}"))))
        .collect();
    assert_eq!(ingest_batch(&pool, &old).await.unwrap().accepted(), 50);
    assert_eq!(ingest_batch(&pool, &kept).await.unwrap().accepted(), 100);
    // As if expiry had last run 60 days ago.
    sqlx::query("UPDATE metering_key_expiry SET expired_before = now() - interval '60 days'")
        .execute(&pool)
        .await
        .unwrap();
    metering::maintain(&pool, 13).await.unwrap();
    let keys: Vec<String> =
        sqlx::query_scalar("SELECT event_id FROM metering_event_ids ORDER BY event_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(keys.len(), 100, "only the 50-day-old keys go: {keys:?}");
    assert!(keys.iter().all(|k| !k.starts_with("old-")));
    let raw: i64 = sqlx::query_scalar("SELECT count(*) FROM metering_events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(raw, 150, "raw events are kept for their own retention");
    let behind: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM now() - expired_before)::float8 / 86400 FROM metering_key_expiry",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        (39.9..40.1).contains(&behind),
        "expired up to 40 days ago, got {behind} days"
    );
    // The 39-day-old events are still duplicates.
    assert_eq!(
        ingest_batch(&pool, &kept[..50]).await.unwrap().duplicates(),
        50
    );
    let short = sqlx::query("SELECT metering_maintain(1)")
        .execute(&pool)
        .await;
    let message = short.unwrap_err().to_string();
    assert!(
        message.contains("retain_months must be at least 2"),
        "{message}"
    );
}
