//! Ingestion benchmark (`cargo bench -p metering --bench ingest`; reads DATABASE_URL and,
//! optionally, KAFKA_BROKERS). In one run, on the same generated rows:
//! 1. the ceiling: a plain `COPY` into an unindexed table (median of three);
//! 2. the write path directly, batches of 1,000 (what HTTP does), 1 and 4 concurrent writers;
//! 3. Kafka → committed rollups, with the consumer's default batch bounds and writers
//!    (`METERING_BENCH_MAX_BATCH_EVENTS`, `METERING_BENCH_MAX_BATCH_BYTES`,
//!    `METERING_BENCH_MAX_BUFFERED_BYTES`, `METERING_BENCH_WRITERS` override): rounds
//!    (`METERING_BENCH_ROUNDS`, default 3) of a backlog produced before its consumer starts,
//!    consumed alone (timed from 10 % to 90 % counted), each between three `COPY` ceilings
//!    before and three after; then the same number produced while the consumer runs, both on
//!    the same cores;
//! 4. event-to-queryable latency at a steady produce rate (p50 / p99 over probe events).
//!
//! `METERING_BENCH_EVENTS` (default 200,000) sets the row count, `METERING_BENCH_PARTITIONS`
//! (default 8) the Kafka topic's partitions, `METERING_BENCH_IDS` (`counter`, `uuid7`,
//! `uuid4`; see [`IdShape`]) the events' ids, `METERING_BENCH_BACKLOG_ONLY=1` skips all but
//! the ceiling and the backlog phase. The backlog phase also prints the CPU it cost per
//! event, split between this process (the consumer), the PostgreSQL processes and the broker,
//! and the cores' idle time (`/proc`).

#![allow(clippy::float_arithmetic)] // events/s figures for a report, never quantities

/// The `tally` binary's allocator (see `src/main.rs`), so that the consumer measured here
/// allocates as it does in `tally serve`.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use metering::kafka::{run_consumer, ConsumerConfig};
use metering::{ingest_batch, UsageEvent};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, SharedString, Unit};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::ClientConfig;
use serde_json::json;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

const TENANTS: usize = 50;
/// Largest backlog the in-process mock broker holds without dropping old segments.
const MOCK_MAX_EVENTS: usize = 40_000;
const METERS: [&str; 4] = [
    "api_calls",
    "ai_tokens",
    "gateway_messages",
    "workflow_runs",
];

/// What the generated events' ids look like (`METERING_BENCH_IDS`). The dedupe key's B-tree
/// is ordered by the id, so its shape decides where a batch's keys land in the index:
/// - `counter` (the default, and every figure before the eleventh session): `<run>-<n>`, a
///   random prefix per phase and an unpadded counter, which text order scatters over the
///   phase's range (`-123456` sorts between `-12345` and `-12346`);
/// - `uuid7`: time-ordered UUIDs (as UUIDv7, ULID or Snowflake producers send): every batch
///   appends at the index's right edge;
/// - `uuid4`: random UUIDs (the SDKs' usual default): every key lands at a random leaf.
#[derive(Clone, Copy, Debug)]
enum IdShape {
    Counter,
    Uuid7,
    Uuid4,
}

fn id_shape() -> IdShape {
    match std::env::var("METERING_BENCH_IDS").as_deref() {
        Err(_) | Ok("counter") => IdShape::Counter,
        Ok("uuid7") => IdShape::Uuid7,
        Ok("uuid4") => IdShape::Uuid4,
        Ok(other) => panic!("METERING_BENCH_IDS must be counter, uuid7 or uuid4, got {other:?}"),
    }
}

fn event_id(run: &str, i: usize, shape: IdShape) -> String {
    match shape {
        IdShape::Counter => format!("{run}-{i}"),
        IdShape::Uuid7 => uuid::Uuid::now_v7().to_string(),
        IdShape::Uuid4 => uuid::Uuid::new_v4().to_string(),
    }
}

fn payloads(run: &str, n: usize) -> Vec<(String, String)> {
    let now = Utc::now();
    let shape = id_shape();
    // How far back event times spread: 2 hours by default (a backlog replay, nearly one 5 min
    // row per event); METERING_BENCH_SPREAD_SECS=60 is a live stream (events from the last
    // minute, so events share their bucket rows within a batch).
    let spread = env_usize("METERING_BENCH_SPREAD_SECS")
        .unwrap_or(7200)
        .max(1);
    (0..n)
        .map(|i| {
            let tenant = format!("bench-t{}", i % TENANTS);
            let time = now - chrono::Duration::seconds(((i * 7919) % spread) as i64);
            let v = json!({"id": event_id(run, i, shape), "tenant": tenant, "meter": METERS[i % 4],
                "subject": format!("user-{}", (i * 31) % 500), "quantity": format!("{}.{}", i % 1000, i % 97),
                "time": time.to_rfc3339(), "properties": {"service": format!("svc{}", i % 5)}});
            (tenant, v.to_string())
        })
        .collect()
}

fn parse_all(p: &[(String, String)]) -> Vec<UsageEvent> {
    let now = Utc::now();
    p.iter()
        .map(|(_, v)| UsageEvent::parse_json(v.as_bytes(), now).unwrap())
        .collect()
}

async fn setup() -> (PgPool, String) {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL is required");
    let admin = PgPool::connect(&url).await.unwrap();
    let name = format!("metering_bench_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    if std::env::var("METERING_BENCH_LOG_STATEMENTS").is_ok() {
        sqlx::query(&format!(
            "ALTER DATABASE {name} SET log_min_duration_statement = 0"
        ))
        .execute(&admin)
        .await
        .unwrap();
    }
    let db_url = format!("{}/{name}", url.rsplit_once('/').unwrap().0);
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect(&db_url)
        .await
        .unwrap();
    sqlx::migrate!("../migrations").run(&pool).await.unwrap();
    for i in 0..TENANTS {
        sqlx::query(
            "INSERT INTO tenants (id, name, plan, region, currency, timezone, billing_mode)
             VALUES ($1, $1, 'p', 'IN', 'INR', $2, 'postpaid')",
        )
        .bind(format!("bench-t{i}"))
        .bind(if i % 2 == 0 {
            "Asia/Kolkata"
        } else {
            "America/New_York"
        })
        .execute(&pool)
        .await
        .unwrap();
    }
    (pool, name)
}

/// The ceiling's input: the rows as COPY text, made once per run and timed several times.
struct CopyText {
    text: String,
    rows: usize,
}

fn copy_text(events: &[UsageEvent]) -> CopyText {
    let mut text = String::with_capacity(events.len() * 200);
    for e in events {
        let props = serde_json::Value::Object(e.properties().clone()).to_string();
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\tIN\t{}\t{}\t\\N\n",
            e.tenant(),
            e.id(),
            e.meter(),
            e.subject(),
            e.quantity().value(),
            e.time().to_rfc3339(),
            e.service(),
            props
        ));
    }
    CopyText {
        text,
        rows: events.len(),
    }
}

/// The ceiling: the COPY text into an unindexed table, three times (a fresh table each time);
/// returns the three rates in events/s. One COPY lasts about a second and moved ±25 % between
/// runs, so reports take the median (see [`spread`]).
async fn copy_ceiling(pool: &PgPool, input: &CopyText) -> Vec<f64> {
    let mut rates = Vec::new();
    for round in 0..3 {
        let table = format!("bench_copy_{round}");
        sqlx::query(&format!(
            "CREATE TABLE {table} (tenant_id text, event_id text, meter text, subject text, quantity numeric,
             time timestamptz, region text, service text, properties jsonb, cost_usd numeric)"
        ))
        .execute(pool)
        .await
        .unwrap();
        let mut conn = pool.acquire().await.unwrap();
        let started = Instant::now();
        let mut copy = conn
            .copy_in_raw(&format!("COPY {table} FROM STDIN"))
            .await
            .unwrap();
        for chunk in input.text.as_bytes().chunks(1 << 20) {
            copy.send(chunk).await.unwrap();
        }
        copy.finish().await.unwrap();
        rates.push(rate(input.rows, started.elapsed()));
        // Left in place, the table would be vacuumed and analysed by autovacuum while the
        // phases below run (three times ~0.3 s of CPU and ~5 s of throttled I/O each, seen with
        // log_autovacuum_min_duration = 0), charging the ceiling's upkeep to the write path.
        sqlx::query(&format!("DROP TABLE {table}"))
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    rates
}

/// This process's peak resident memory (`VmHWM`, Linux), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// (median, min, max) of some rates.
fn spread(mut rates: Vec<f64>) -> (f64, f64, f64) {
    rates.sort_by(f64::total_cmp);
    let mid = rates.len() / 2;
    let median = if rates.len() % 2 == 0 {
        (rates[mid - 1] + rates[mid]) / 2.0
    } else {
        rates[mid]
    };
    (median, rates[0], rates[rates.len() - 1])
}

/// CPU ticks used so far by this process, by every PostgreSQL process and by every `tansu`
/// process on the machine (per process), and the machine's idle ticks (`/proc`, Linux; zeros
/// where unreadable). The stack's server and broker are local, so the difference over a phase
/// splits the cores' time between the consumer (this process), the database, the broker and
/// idle.
fn cpu_seconds() -> CpuSnapshot {
    let ticks = |stat: &str| -> Option<(String, u64)> {
        let (head, tail) = stat.rsplit_once(')')?;
        let comm = head.split_once('(')?.1.to_string();
        let f: Vec<&str> = tail.split_whitespace().collect();
        Some((
            comm,
            f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?,
        ))
    };
    let own_stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let own = ticks(&own_stat).map_or(0, |(_, t)| t);
    // Field 10 of /proc/self/stat: minor page faults (a first touch of a fresh page).
    let faults = own_stat
        .rsplit_once(')')
        .and_then(|(_, tail)| tail.split_whitespace().nth(7)?.parse::<u64>().ok())
        .unwrap_or(0);
    let mut procs = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) {
            if let Some((comm, t)) = ticks(&stat) {
                if comm.starts_with("postgres") {
                    procs.insert(pid, (true, t));
                } else if comm.starts_with("tansu") {
                    procs.insert(pid, (false, t));
                }
            }
        }
    }
    // The first line of /proc/stat: "cpu user nice system idle iowait ...", all cores.
    let idle = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            let f: Vec<u64> = s
                .lines()
                .next()?
                .split_whitespace()
                .skip(1)
                .filter_map(|v| v.parse().ok())
                .collect();
            Some(f.get(3)? + f.get(4)?)
        })
        .unwrap_or(0);
    CpuSnapshot {
        own,
        faults,
        idle,
        procs,
    }
}

/// Cumulative counters at one moment, see [`cpu_seconds`].
struct CpuSnapshot {
    own: u64,
    faults: u64,
    idle: u64,
    /// PostgreSQL (`true`) and broker processes by pid: their ticks so far.
    procs: HashMap<u32, (bool, u64)>,
}

/// The CPU seconds between two snapshots. A process is counted by its own difference: one
/// that started inside the window counts whole, and one that exited inside it (an autovacuum
/// worker, say) is missing from both ends instead of taking its whole life's ticks off the
/// sum (a total over processes did that: one round read 1.97 µs of PostgreSQL per event
/// beside 4.26 and 4.28). What an exited process did inside the window is not counted.
impl std::ops::Sub for CpuSnapshot {
    type Output = Cpu;
    fn sub(self, o: CpuSnapshot) -> Cpu {
        // /proc counts in USER_HZ, which the kernel ABI fixes at 100 on x86 and arm64.
        let tick = 0.01;
        let (mut pg, mut broker) = (0, 0);
        for (pid, (is_pg, t)) in &self.procs {
            let before = o.procs.get(pid).map_or(0, |(_, b)| *b);
            let d = t.saturating_sub(before);
            if *is_pg {
                pg += d;
            } else {
                broker += d;
            }
        }
        Cpu {
            consumer: self.own.saturating_sub(o.own) as f64 * tick,
            postgres: pg as f64 * tick,
            broker: broker as f64 * tick,
            idle: self.idle.saturating_sub(o.idle) as f64 * tick,
            faults: self.faults.saturating_sub(o.faults) as f64,
        }
    }
}

/// CPU seconds (µs per event once divided), see [`cpu_seconds`].
#[derive(Clone, Copy, Default)]
struct Cpu {
    consumer: f64,
    postgres: f64,
    broker: f64,
    idle: f64,
    /// This process's minor page faults.
    faults: f64,
}

/// The cluster's WAL and checkpoint counters (`pg_stat_wal`, `pg_stat_bgwriter`; PostgreSQL 14+).
/// Over a phase they show how much WAL each event cost, how much of it full-page images
/// (written for a page's first change after a checkpoint), and whether a checkpoint began
/// inside the phase.
#[derive(Clone, Copy, Default)]
struct Wal {
    bytes: f64,
    records: f64,
    fpi: f64,
    checkpoints: f64,
}

impl std::ops::Sub for Wal {
    type Output = Wal;
    fn sub(self, o: Wal) -> Wal {
        Wal {
            bytes: self.bytes - o.bytes,
            records: self.records - o.records,
            fpi: self.fpi - o.fpi,
            checkpoints: self.checkpoints - o.checkpoints,
        }
    }
}

async fn wal_stats(pool: &PgPool) -> Wal {
    let row: (f64, f64, f64, f64) = sqlx::query_as(
        "SELECT w.wal_bytes::float8, w.wal_records::float8, w.wal_fpi::float8,
                (b.checkpoints_timed + b.checkpoints_req)::float8
         FROM pg_stat_wal w, pg_stat_bgwriter b",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    Wal {
        bytes: row.0,
        records: row.1,
        fpi: row.2,
        checkpoints: row.3,
    }
}

/// Partitions of the benchmark topic (`METERING_BENCH_PARTITIONS`, default 8, as the stack's
/// `usage-events`: at least one per writer).
fn partitions() -> i32 {
    env_usize("METERING_BENCH_PARTITIONS").map_or(8, |n| n.clamp(1, 64) as i32)
}

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

async fn write_path(pool: &PgPool, events: Vec<UsageEvent>, writers: usize) -> f64 {
    let started = Instant::now();
    let n = events.len();
    let mut chunks: Vec<Vec<UsageEvent>> =
        events.chunks(1000).map(<[UsageEvent]>::to_vec).collect();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let mine: Vec<_> = chunks
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| i % writers == w)
            .map(|(_, c)| std::mem::take(c))
            .collect();
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            for batch in mine {
                let out = ingest_batch(&pool, &batch).await.unwrap();
                assert_eq!(out.accepted(), batch.len());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    rate(n, started.elapsed())
}

/// Events counted so far in the database: each adds exactly 1 to one month rollup row. The
/// Kafka phases check it once at the end; while they run they wait on [`done`] instead (this
/// query, polled every 20 ms, cost about 2.5 % of the machine's CPU on a long backlog, counted
/// as PostgreSQL's per event).
async fn written(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT COALESCE(sum(event_count), 0)::int8 FROM metering_rollup_month")
        .fetch_one(pool)
        .await
        .unwrap()
}

fn producer(brokers: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .set("enable.idempotence", "false")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .unwrap()
}

fn admin(brokers: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap()
}

async fn create_topics(brokers: &str, topics: &[String]) {
    let admin = admin(brokers);
    let mut new: Vec<_> = topics
        .iter()
        .map(|t| NewTopic::new(t, partitions(), TopicReplication::Fixed(1)))
        .collect();
    new.push(NewTopic::new(
        "usage-bench-dlq",
        1,
        TopicReplication::Fixed(1),
    ));
    // Per-topic results are ignored: the DLQ topic may exist from an earlier run.
    let _ = admin
        .create_topics(&new, &AdminOptions::new())
        .await
        .unwrap();
}

async fn send_all(p: &FutureProducer, topic: &str, records: &[(String, String)]) {
    let sends: Vec<_> = records
        .iter()
        .map(|(k, v)| {
            p.send_result(FutureRecord::to(topic).key(k).payload(v))
                .unwrap()
        })
        .collect();
    for s in sends {
        s.await.unwrap().unwrap();
    }
}

/// The consumer's `tally_kafka_messages_done_total` (messages whose batch has committed and
/// whose offsets are stored), read in this process through a recorder that keeps only it.
static DONE: std::sync::OnceLock<Arc<AtomicU64>> = std::sync::OnceLock::new();

struct DoneRecorder(Arc<AtomicU64>);

impl metrics::Recorder for DoneRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        if key.name() == "tally_kafka_messages_done_total" {
            Counter::from_arc(self.0.clone())
        } else {
            Counter::noop()
        }
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

/// Deletes the run's topics (errors ignored: a broker that cannot delete keeps them).
async fn delete_topics(brokers: &str, topics: &[String]) {
    let admin = admin(brokers);
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    let kept: Vec<String> = match admin.delete_topics(&names, &AdminOptions::new()).await {
        Ok(results) => results
            .into_iter()
            .filter_map(|r| r.err().map(|(t, e)| format!("{t}: {e}")))
            .collect(),
        Err(e) => vec![e.to_string()],
    };
    if !kept.is_empty() {
        println!(
            "  (the broker kept some of the benchmark's topics: {})",
            kept.join("; ")
        );
    }
}

/// Messages the consumer has finished so far (every bench message is one new event).
fn done() -> i64 {
    DONE.get().map_or(0, |d| d.load(Ordering::Relaxed) as i64)
}

/// Waits until the consumer has finished at least `target` messages; returns the count seen.
/// Read every millisecond, in process: no query competes with the consumer it measures.
async fn wait_done(target: i64, n: usize) -> i64 {
    let give_up = Instant::now() + Duration::from_secs(600);
    loop {
        let done = done();
        if done >= target {
            return done;
        }
        assert!(
            Instant::now() < give_up,
            "{} of {n} events still unwritten after 600 s",
            target - done
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Backlog rounds (`METERING_BENCH_ROUNDS`, default 3, at most 20). Each round is a fresh
/// backlog on its own topic, consumed alone by a fresh consumer group, with the `COPY` ceiling
/// measured three times just before and three times just after it; a round's ratio is its
/// rate over the median of its own six ceilings. One round's ratio moved by 10–20 points from
/// run to run of the same build on this machine (its speed drifts within minutes), so the run
/// reports every round and their median.
fn rounds() -> usize {
    env_usize("METERING_BENCH_ROUNDS").map_or(3, |n| n.clamp(1, 20))
}

/// The topics of a run: one per backlog round.
fn round_topics(topic: &str) -> Vec<String> {
    (0..rounds()).map(|r| format!("{topic}-r{r}")).collect()
}

/// One backlog round's figures.
struct Round {
    /// Events/s while the count went from 10 % to 90 % of the backlog.
    rate: f64,
    /// The six ceilings around the round (events/s).
    ceilings: Vec<f64>,
    /// CPU µs per event over the same window (this process, PostgreSQL, the broker, idle).
    cpu: Cpu,
    /// WAL per event over the same window, and the checkpoints begun inside it.
    wal: Wal,
}

impl Round {
    fn ceiling(&self) -> f64 {
        spread(self.ceilings.clone()).0
    }

    fn ratio(&self) -> f64 {
        100.0 * self.rate / self.ceiling()
    }
}

/// What the Kafka phase measured.
struct KafkaRun {
    /// Producing the first round's backlog (nothing consuming).
    produce: f64,
    rounds: Vec<Round>,
    /// Unless `METERING_BENCH_BACKLOG_ONLY`: the older figure, producing and consuming at once
    /// on the same cores (timed from the first send to the last commit), and the
    /// event-to-queryable p50 and p99.
    rest: Option<(f64, Duration, Duration)>,
}

/// `METERING_BENCH_BACKLOG_ONLY=1`: only the ceiling and the backlog replay (for comparing
/// builds run after run; the full run takes three times as long).
fn backlog_only() -> bool {
    std::env::var("METERING_BENCH_BACKLOG_ONLY").is_ok_and(|v| v == "1")
}

fn consumer_config(brokers: &str, topic: &str, group: String) -> ConsumerConfig {
    let mut config = ConsumerConfig::new(brokers);
    config.topic = topic.to_string();
    config.dlq_topic = "usage-bench-dlq".into();
    config.group = group;
    config.consumer_overrides = vec![("fetch.max.bytes".into(), "52428800".into())];
    config.add_consumer_properties(
        &std::env::var("METERING_KAFKA_CONSUMER_PROPERTIES").unwrap_or_default(),
    );
    if let Some(n) = env_usize("METERING_BENCH_MAX_BATCH_EVENTS") {
        config.max_batch_events = n;
    }
    if let Some(n) = env_usize("METERING_BENCH_MAX_BATCH_BYTES") {
        config.max_batch_bytes = n;
    }
    if let Some(n) = env_usize("METERING_BENCH_MAX_BUFFERED_BYTES") {
        config.max_buffered_bytes = n;
    }
    if let Some(n) = env_usize("METERING_BENCH_WRITERS") {
        config.writers = n;
    }
    config
}

/// A consumer running in the background, and the switch that stops it.
struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<metering::Result<metering::kafka::ConsumerStats>>,
}

impl Running {
    async fn stop(self) {
        self.stop.send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

/// One backlog round on `topic`: the ceiling three times, the backlog produced with nothing
/// consuming, a fresh consumer group started on it and timed from 10 % to 90 % counted, the
/// ceiling three times again. Returns the round, the produce rate and the consumer (still
/// running, idle on the drained topic).
async fn backlog_round(
    pool: &PgPool,
    p: &FutureProducer,
    config: ConsumerConfig,
    n: usize,
    ceiling_rows: &CopyText,
    tag: &str,
) -> (Round, f64, Running) {
    let before = done();
    let backlog = payloads(tag, n);
    // The ceiling just before and just after the backlog: this machine's speed drifts by
    // tens of percent within minutes, and a ceiling taken a minute earlier made the ratio
    // swing either way (57 % once, from a ceiling measured in a slow minute).
    let mut ceilings = copy_ceiling(pool, ceiling_rows).await;
    let started = Instant::now();
    send_all(p, &config.topic, &backlog).await;
    let produce = rate(n, started.elapsed());
    drop(backlog);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(run_consumer(config, pool.clone(), async {
        let _ = stopped.await;
    }));
    // Timed between 10 % and 90 % of the backlog counted: the steady state, without the group
    // join and the first round of batches (which all commit at about the same moment, so a
    // window opened at the first commit counted their work as if it took no time), nor the
    // tail where the last partition's batches run alone.
    let target = before + n as i64;
    let tenth = (n / 10) as i64;
    let low = wait_done(before + tenth.max(1), n).await;
    let low_at = Instant::now();
    let cpu0 = cpu_seconds();
    let wal0 = wal_stats(pool).await;
    let high = wait_done(target - tenth, n).await;
    let cpu = cpu_seconds() - cpu0;
    let wal = wal_stats(pool).await - wal0;
    let counted = usize::try_from(high - low).unwrap_or(0);
    let rate_counted = rate(counted, low_at.elapsed());
    let per_event = |x: f64| x / counted.max(1) as f64;
    let round = Round {
        rate: rate_counted,
        ceilings: Vec::new(),
        cpu: Cpu {
            consumer: per_event(cpu.consumer) * 1e6,
            postgres: per_event(cpu.postgres) * 1e6,
            broker: per_event(cpu.broker) * 1e6,
            idle: per_event(cpu.idle) * 1e6,
            faults: per_event(cpu.faults),
        },
        wal: Wal {
            bytes: per_event(wal.bytes),
            records: per_event(wal.records),
            fpi: per_event(wal.fpi),
            checkpoints: wal.checkpoints,
        },
    };
    wait_done(target, n).await;
    // The consumer idles on its drained topic while the ceiling is measured again.
    ceilings.extend(copy_ceiling(pool, ceiling_rows).await);
    (Round { ceilings, ..round }, produce, Running { stop, task })
}

async fn kafka(
    pool: &PgPool,
    brokers: &str,
    topics: &[String],
    n: usize,
    ceiling_rows: &CopyText,
) -> KafkaRun {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let p = producer(brokers);
    let first = consumer_config(brokers, &topics[0], String::new());
    let config_batch = first.max_batch_events;
    println!(
        "Kafka consumer: batches of up to {} events, {} writers; {} backlog rounds",
        first.max_batch_events,
        first.writers,
        topics.len()
    );
    if n < 10 * config_batch {
        println!(
            "  (warning: a backlog of {n} is under 10 batches of {config_batch}; the 10–90 % window sees a few commits, not a steady state)"
        );
    }
    // 1. Backlogs produced before their consumer exists: the consumer alone on the cores.
    let before_db = written(pool).await;
    let mut rounds = Vec::new();
    let mut produce = 0.0;
    let mut running: Option<Running> = None;
    for (r, topic) in topics.iter().enumerate() {
        if let Some(previous) = running.take() {
            previous.stop().await;
        }
        let config = consumer_config(brokers, topic, format!("bench-{run}-{r}"));
        let (round, produced, consumer) =
            backlog_round(pool, &p, config, n, ceiling_rows, &format!("k{r}{run}")).await;
        println!(
            "  round {}: {:.0} events/s, {:.0} % of the COPY ceiling around it ({:.0}); consumer {:.2} µs, PostgreSQL {:.2} µs, idle {:.2} µs per event",
            r + 1,
            round.rate,
            round.ratio(),
            round.ceiling(),
            round.cpu.consumer,
            round.cpu.postgres,
            round.cpu.idle
        );
        if r == 0 {
            produce = produced;
        }
        rounds.push(round);
        running = Some(consumer);
    }
    let running = running.expect("at least one round");
    let rounds_total = (rounds.len() * n) as i64;
    if backlog_only() {
        running.stop().await;
        assert_eq!(
            written(pool).await - before_db,
            rounds_total,
            "the month rollups do not count every event the consumers finished"
        );
        return KafkaRun {
            produce,
            rounds,
            rest: None,
        };
    }
    // 2. Producing and consuming at once (the figure reported before), on the last round's
    //    topic and consumer.
    let last_topic = topics.last().expect("at least one round");
    let before = done();
    let again = payloads(&format!("c{run}"), n);
    let started = Instant::now();
    send_all(&p, last_topic, &again).await;
    wait_done(before + n as i64, n).await;
    let concurrent = rate(n, started.elapsed());
    // What the consumers finished is what the rollups count.
    assert_eq!(
        written(pool).await - before_db,
        rounds_total + n as i64,
        "the month rollups do not count every event the consumers finished"
    );

    // 3. Steady stream with probes: how long until a produced event is queryable.
    let (p50, p99) = latency(pool, &p, last_topic, &run).await;
    running.stop().await;
    KafkaRun {
        produce,
        rounds,
        rest: Some((concurrent, p50, p99)),
    }
}

async fn latency(
    pool: &PgPool,
    p: &FutureProducer,
    topic: &str,
    run: &str,
) -> (Duration, Duration) {
    const RATE_PER_S: usize = 5_000;
    const SECONDS: usize = 10;
    let stream = payloads(&format!("l{run}"), RATE_PER_S * SECONDS);
    let mut sent_at: HashMap<String, Instant> = HashMap::new();
    let mut seen_at: HashMap<String, Instant> = HashMap::new();
    let started = Instant::now();
    for (tick, chunk) in stream.chunks(RATE_PER_S / 10).enumerate() {
        for (i, (k, v)) in chunk.iter().enumerate() {
            let mut v: serde_json::Value = serde_json::from_str(v).unwrap();
            if i == 0 {
                let probe = format!("probe-{tick}");
                v["tenant"] = json!("bench-t0");
                v["subject"] = json!(probe.clone());
                sent_at.insert(probe, Instant::now());
            }
            let _ = p.send_result(FutureRecord::to(topic).key(k).payload(&v.to_string()));
        }
        let _ = p.flush(Duration::from_secs(1));
        poll_probes(pool, &mut seen_at).await;
        let next = started + Duration::from_millis(100 * (tick as u64 + 1));
        tokio::time::sleep_until(next.into()).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen_at.len() < sent_at.len() && Instant::now() < deadline {
        poll_probes(pool, &mut seen_at).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut lat: Vec<Duration> = sent_at
        .iter()
        .map(|(k, s)| {
            seen_at
                .get(k)
                .map_or(Duration::from_secs(30), |t| t.saturating_duration_since(*s))
        })
        .collect();
    lat.sort();
    let pick = |q: usize| lat[(lat.len() * q / 100).min(lat.len() - 1)];
    (pick(50), pick(99))
}

async fn poll_probes(pool: &PgPool, seen: &mut HashMap<String, Instant>) {
    let subjects: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT subject FROM metering_rollup_5m WHERE tenant_id = 'bench-t0' AND subject LIKE 'probe-%'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let now = Instant::now();
    for s in subjects {
        seen.entry(s).or_insert(now);
    }
}

async fn drop_database(name: &str) {
    let url = std::env::var("DATABASE_URL").unwrap();
    let admin = PgPool::connect(&url).await.unwrap();
    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&admin)
        .await;
}

fn main() {
    let done = Arc::new(AtomicU64::new(0));
    metrics::set_global_recorder(DoneRecorder(done.clone())).expect("the only recorder");
    DONE.set(done).expect("set once");
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let n: usize = std::env::var("METERING_BENCH_EVENTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(200_000);
        let (pool, name) = setup().await;
        println!("metering ingest benchmark: {n} events, ids {:?}, database {name}", id_shape());
        let run = uuid::Uuid::new_v4().simple().to_string();
        let ceiling_events = parse_all(&payloads(&format!("c{run}"), n));
        let ceiling_rows = copy_text(&ceiling_events);
        let (copy, copy_min, copy_max) = spread(copy_ceiling(&pool, &ceiling_rows).await);
        println!(
            "COPY into an unindexed table (ceiling): {copy:.0} events/s (median of 3; {copy_min:.0}–{copy_max:.0})"
        );
        let texts = payloads(&format!("w{run}"), n);
        let started = Instant::now();
        let parsed = parse_all(&texts);
        println!(
            "parse (UsageEvent::parse_json, one thread): {:.0} events/s",
            rate(n, started.elapsed())
        );
        if !backlog_only() {
            let w1 = write_path(&pool, parsed, 1).await;
            println!(
                "write path, batches of 1,000, 1 writer: {w1:.0} events/s ({:.0} % of COPY)",
                100.0 * w1 / copy
            );
            let w4 = write_path(&pool, parse_all(&payloads(&format!("x{run}"), n)), 4).await;
            println!(
                "write path, batches of 1,000, 4 writers: {w4:.0} events/s ({:.0} % of COPY)",
                100.0 * w4 / copy
            );
        }
        // Without a real broker, librdkafka's in-process mock cluster stands in (labelled).
        let mock;
        let topics = round_topics(&format!("usage-bench-{run}"));
        let (brokers, label, n_kafka, real_broker) = match std::env::var("KAFKA_BROKERS")
            .ok()
            .filter(|b| !b.is_empty())
        {
            Some(b) => {
                create_topics(&b, &topics).await;
                (b, "KAFKA_BROKERS".to_string(), n, true)
            }
            None => {
                mock = rdkafka::mocking::MockCluster::new(1).unwrap();
                for t in &topics {
                    mock.create_topic(t, partitions(), 1).unwrap();
                }
                mock.create_topic("usage-bench-dlq", 1, 1).unwrap();
                // The mock broker keeps about 5 MB per partition and drops older segments.
                let capped = n.min(MOCK_MAX_EVENTS);
                let label =
                    format!("librdkafka mock cluster (KAFKA_BROKERS unset), {capped} events");
                (mock.bootstrap_servers(), label, capped, false)
            }
        };
        // The mock broker's phase is capped: its ceiling is timed on as many rows.
        let kafka_ceiling_rows = (n_kafka < n).then(|| copy_text(&ceiling_events[..n_kafka]));
        let k = kafka(
            &pool,
            &brokers,
            &topics,
            n_kafka,
            kafka_ceiling_rows.as_ref().unwrap_or(&ceiling_rows),
        )
        .await;
        if real_broker {
            // The broker keeps what it was sent (tansu's memory storage: all of it in RAM).
            delete_topics(&brokers, &topics).await;
        }
        let median = |f: &dyn Fn(&Round) -> f64| spread(k.rounds.iter().map(f).collect()).0;
        let ratios: Vec<String> = k.rounds.iter().map(|r| format!("{:.0}", r.ratio())).collect();
        let (around, around_min, around_max) =
            spread(k.rounds.iter().flat_map(|r| r.ceilings.clone()).collect());
        println!("Kafka broker: {label}");
        println!("Kafka produce (backlog, nothing consuming): {:.0} events/s", k.produce);
        println!(
            "COPY ceiling around the backlog rounds: {around:.0} events/s (median of {}, 3 before and 3 after each round; {around_min:.0}–{around_max:.0})",
            6 * k.rounds.len()
        );
        println!(
            "Kafka → committed rollups, backlog consumed alone: {:.0} events/s ({:.0} % of the COPY ceiling around it; medians of {} rounds, each round's %: {})",
            median(&|r| r.rate),
            median(&|r| r.ratio()),
            k.rounds.len(),
            ratios.join(" / ")
        );
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let c = Cpu {
            consumer: median(&|r| r.cpu.consumer),
            postgres: median(&|r| r.cpu.postgres),
            broker: median(&|r| r.cpu.broker),
            idle: median(&|r| r.cpu.idle),
            faults: median(&|r| r.cpu.faults),
        };
        println!(
            "  CPU per event while consuming the backlog (medians): consumer {:.2} µs, PostgreSQL {:.2} µs ({cores} cores: at most {:.0} events/s at that cost); broker {:.2} µs, idle {:.2} µs; the consumer's page faults per event: {:.3}",
            c.consumer,
            c.postgres,
            cores as f64 * 1e6 / (c.consumer + c.postgres).max(0.01),
            c.broker,
            c.idle,
            c.faults
        );
        println!(
            "  WAL per event while consuming the backlog (medians): {:.0} bytes, {:.2} records, {:.3} full-page images; checkpoints begun in the rounds: {:.0}",
            median(&|r| r.wal.bytes),
            median(&|r| r.wal.records),
            median(&|r| r.wal.fpi),
            k.rounds.iter().map(|r| r.wal.checkpoints).sum::<f64>()
        );
        if let Some(kb) = peak_rss_kib() {
            println!(
                "  peak RSS of this process (the consumer, and the benchmark's own copies of every event): {} MiB",
                kb / 1024
            );
        }
        drop(pool);
        drop_database(&name).await;
        if let Some((concurrent, p50, p99)) = k.rest {
            println!(
                "Kafka → committed rollups, produced while consumed (same cores): {concurrent:.0} events/s ({:.0} % of COPY)",
                100.0 * concurrent / copy
            );
            println!("event-to-queryable at 5,000 events/s: p50 {p50:?}, p99 {p99:?}");
        }
    });
}
