//! The command line: the contract's subcommands, dispatched on a tokio runtime.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::{config, db, serve, telemetry};

#[derive(Parser)]
#[command(name = "tally", version, about = "Metering, billing and token ledger")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// HTTP API and background workers (usage consumer when KAFKA_BROKERS is set)
    Serve,
    /// Apply migrations/ to DATABASE_URL
    Migrate,
    /// Monthly invoices
    Invoice {
        #[command(subcommand)]
        command: InvoiceCommand,
    },
    /// Stripe reconciliation
    Stripe {
        #[command(subcommand)]
        command: StripeCommand,
    },
    /// Ledger checks
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Benchmarks against a fresh database next to DATABASE_URL's
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// A realistic month through the whole pipeline, with a summary at the end
    Demo {
        /// Distinct usage events to generate
        #[arg(long, default_value_t = 60_000)]
        events: usize,
        /// Random seed of the workload
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Quota checks: in-memory view in process and over HTTP, against one SQL query per check
    Quota {
        #[arg(long, default_value_t = 1_000)]
        tenants: usize,
        #[arg(long, default_value_t = 200_000)]
        checks: usize,
        /// Paced HTTP request rate (checks per second)
        #[arg(long, default_value_t = 10_000)]
        http_rate: u64,
        #[arg(long, default_value_t = 10)]
        http_seconds: u64,
    },
    /// HTTP ingestion in batches of 1,000 over concurrent connections, without and with group commit
    Ingest {
        #[arg(long, default_value_t = 50)]
        tenants: usize,
        #[arg(long, default_value_t = 100)]
        requests: usize,
        #[arg(long, default_value_t = 8)]
        connections: usize,
    },
    /// What charging costs the write path: rollups only vs rollups + rating + wallet debits
    Rating {
        #[arg(long, default_value_t = 20)]
        tenants: usize,
        #[arg(long, default_value_t = 50_000)]
        events: usize,
        /// Events per write-path batch
        #[arg(long, default_value_t = 1_000)]
        batch: usize,
    },
}

#[derive(Subcommand)]
enum InvoiceCommand {
    /// Run the monthly invoices for a period (idempotent, resumable)
    Run {
        #[arg(long, value_name = "YYYY-MM")]
        period: String,
        #[arg(long, value_name = "ID")]
        tenant: Option<String>,
    },
}

#[derive(Subcommand)]
enum StripeCommand {
    /// Compare local state with Stripe and report / repair drift
    Reconcile,
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Check every ledger invariant; exit 1 with a report on any violation
    Verify,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tally: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tally: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve => serve::run().await.map(|_| ExitCode::SUCCESS),
        Command::Migrate => migrate().await,
        Command::Invoice {
            command: InvoiceCommand::Run { .. },
        } => not_built("tally invoice run", "Invoicing"),
        Command::Stripe {
            command: StripeCommand::Reconcile,
        } => not_built("tally stripe reconcile", "Stripe"),
        Command::Ledger {
            command: LedgerCommand::Verify,
        } => ledger_verify().await,
        Command::Bench {
            command:
                BenchCommand::Quota {
                    tenants,
                    checks,
                    http_rate,
                    http_seconds,
                },
        } => crate::bench::quota::run(crate::bench::quota::QuotaBenchArgs {
            tenants,
            checks,
            http_rate,
            http_seconds,
        })
        .await
        .map(|_| ExitCode::SUCCESS),
        Command::Bench {
            command:
                BenchCommand::Ingest {
                    tenants,
                    requests,
                    connections,
                },
        } => crate::bench::ingest::run(crate::bench::ingest::IngestBenchArgs {
            tenants,
            requests,
            connections,
        })
        .await
        .map(|_| ExitCode::SUCCESS),
        Command::Bench {
            command:
                BenchCommand::Rating {
                    tenants,
                    events,
                    batch,
                },
        } => crate::bench::rating::run(crate::bench::rating::RatingBenchArgs {
            tenants,
            events,
            batch,
        })
        .await
        .map(|_| ExitCode::SUCCESS),
        Command::Demo { events, seed } => {
            crate::demo::run(crate::demo::DemoArgs { events, seed }).await
        }
    }
}

async fn migrate() -> anyhow::Result<ExitCode> {
    let pool = db::connect(&config::db(&config::ProcessEnv)?).await?;
    let caps = db::migrate(&pool).await?;
    let storage = if caps.timescaledb {
        "TimescaleDB"
    } else {
        "plain PostgreSQL (TimescaleDB not available)"
    };
    println!(
        "migrations applied ({} known); storage: {storage}",
        db::MIGRATOR.iter().count()
    );
    Ok(ExitCode::SUCCESS)
}

async fn ledger_verify() -> anyhow::Result<ExitCode> {
    let pool = db::connect(&config::db(&config::ProcessEnv)?).await?;
    let report = ledger::verify(&pool).await?;
    println!("{report}");
    let catalogue = crate::catalogue::CatalogueStore::embedded()?;
    catalogue.refresh(&pool).await?;
    let charging = crate::charging::reconcile(&pool, &catalogue.current()).await?;
    println!("{charging}");
    Ok(if report.is_ok() && charging.mismatches.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A subcommand whose work has not landed yet: say so and fail, never pretend.
fn not_built(command: &str, issue: &str) -> anyhow::Result<ExitCode> {
    eprintln!("{command}: not built yet (tracked by the {issue} issue)");
    Ok(ExitCode::from(2))
}
