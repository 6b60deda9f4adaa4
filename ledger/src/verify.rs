//! `verify`: checks every ledger invariant on one consistent snapshot and reports violations.

use std::fmt;

use sqlx::{PgPool, Row};

use crate::error::Result;

/// Most violations reported per check (the report stays readable; one is enough to fail).
pub const MAX_VIOLATIONS_PER_CHECK: i64 = 100;

/// Totals of one asset over all its accounts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssetTotals {
    pub asset: String,
    pub accounts: i64,
    pub debits_posted: u128,
    pub credits_posted: u128,
    pub debits_pending: u128,
    pub credits_pending: u128,
}

/// One broken invariant: which check, on what, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub check: &'static str,
    pub subject: String,
    pub detail: String,
}

/// The outcome of [`verify`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub assets: Vec<AssetTotals>,
    pub transfers: i64,
    pub entries: i64,
    pub violations: Vec<Violation>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.violations.is_empty()
    }
}

/// (check name, query returning `subject, detail` rows for each violation).
const CHECKS: &[(&str, &str)] = &[
    ("flag_exceeded", include_str!("verify/flags.sql")),
    (
        "counters_match_transfers",
        include_str!("verify/counters.sql"),
    ),
    (
        "counters_match_last_entry",
        include_str!("verify/last_entry.sql"),
    ),
    ("entry_matches_transfer", include_str!("verify/entries.sql")),
    (
        "two_entries_per_transfer",
        include_str!("verify/entry_count.sql"),
    ),
    ("transfer_references", include_str!("verify/references.sql")),
];

/// Checks, on one REPEATABLE READ snapshot: per asset, posted and pending debits equal
/// credits; every flagged account is within its bound; every account's counters equal both
/// the sum of its transfers and its latest entry; every entry's change equals its transfer's
/// effect; every transfer has two entries and consistent references.
pub async fn verify(pool: &PgPool) -> Result<VerifyReport> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    let mut report = VerifyReport::default();
    let rows = sqlx::query(
        "SELECT asset, count(*) AS n, sum(debits_posted)::text AS dp, sum(credits_posted)::text AS cp, \
             sum(debits_pending)::text AS dh, sum(credits_pending)::text AS ch \
         FROM ledger_accounts GROUP BY asset ORDER BY asset",
    )
    .fetch_all(&mut *tx)
    .await?;
    for row in &rows {
        let num = |c: &str| -> Result<u128> {
            let s: String = row.try_get(c)?;
            s.parse()
                .map_err(|_| crate::error::corrupt(format!("sum {c} = {s}")))
        };
        let totals = AssetTotals {
            asset: row.try_get("asset")?,
            accounts: row.try_get("n")?,
            debits_posted: num("dp")?,
            credits_posted: num("cp")?,
            debits_pending: num("dh")?,
            credits_pending: num("ch")?,
        };
        for (which, d, c) in [
            ("posted", totals.debits_posted, totals.credits_posted),
            ("pending", totals.debits_pending, totals.credits_pending),
        ] {
            if d != c {
                report.violations.push(Violation {
                    check: "asset_balanced",
                    subject: totals.asset.clone(),
                    detail: format!("{which} debits {d} != {which} credits {c}"),
                });
            }
        }
        report.assets.push(totals);
    }
    report.transfers = sqlx::query_scalar("SELECT count(*) FROM ledger_transfers")
        .fetch_one(&mut *tx)
        .await?;
    report.entries = sqlx::query_scalar("SELECT count(*) FROM ledger_entries")
        .fetch_one(&mut *tx)
        .await?;
    for (check, sql) in CHECKS {
        let rows: Vec<(String, String)> = sqlx::query_as(sql)
            .bind(MAX_VIOLATIONS_PER_CHECK)
            .fetch_all(&mut *tx)
            .await?;
        report
            .violations
            .extend(rows.into_iter().map(|(subject, detail)| Violation {
                check,
                subject,
                detail,
            }));
    }
    tx.commit().await?;
    Ok(report)
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = if self.is_ok() {
            "OK"
        } else {
            "VIOLATIONS FOUND"
        };
        writeln!(f, "ledger verify: {status}")?;
        writeln!(
            f,
            "  {} transfers, {} entries",
            self.transfers, self.entries
        )?;
        for a in &self.assets {
            writeln!(
                f,
                "  {:<8} {:>6} accounts  posted {} / {}  pending {} / {} (debits / credits)",
                a.asset,
                a.accounts,
                a.debits_posted,
                a.credits_posted,
                a.debits_pending,
                a.credits_pending
            )?;
        }
        for v in &self.violations {
            writeln!(f, "  [{}] {}: {}", v.check, v.subject, v.detail)?;
        }
        Ok(())
    }
}
