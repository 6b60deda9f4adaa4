//! The meters catalogue: what each meter code means (aggregation, unit, real cost rate) and
//! the typed owner-API functions over `metering_meters`.

use rust_decimal::Decimal;
use sqlx::{PgPool, Row};

use crate::error::{MeteringError, Result};
use crate::event::MeterCode;

/// How a meter's events combine within a bucket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Aggregation {
    /// Sum of quantities.
    Sum,
    /// Number of events (quantity ignored).
    Count,
    /// Greatest quantity.
    Max,
    /// Number of distinct values of `property` (the subject when `None`).
    UniqueCount { property: Option<String> },
    /// Quantity of the latest event by time (ties: greatest event id).
    Latest,
    /// A gauge: each reading stands for `sample_seconds`; the unit is per `per_seconds`
    /// (storage GB read hourly, billed in GB-days: 3600 and 86400).
    TimeWeighted {
        sample_seconds: u32,
        per_seconds: u32,
    },
}

impl Aggregation {
    /// The stored name (`sum`, `count`, `max`, `unique_count`, `latest`, `time_weighted`).
    pub fn code(&self) -> &'static str {
        match self {
            Aggregation::Sum => "sum",
            Aggregation::Count => "count",
            Aggregation::Max => "max",
            Aggregation::UniqueCount { .. } => "unique_count",
            Aggregation::Latest => "latest",
            Aggregation::TimeWeighted { .. } => "time_weighted",
        }
    }

    /// Whether bucket values of different group keys combine by addition.
    pub fn is_additive(&self) -> bool {
        matches!(
            self,
            Aggregation::Sum | Aggregation::Count | Aggregation::TimeWeighted { .. }
        )
    }
}

/// One catalogue entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meter {
    pub code: MeterCode,
    pub name: String,
    pub aggregation: Aggregation,
    /// The unit values are reported in (`token`, `GB-day`).
    pub unit: String,
    /// What one unit really costs us, used when an event carries no `cost`.
    pub cost_per_unit_usd: Decimal,
}

impl Meter {
    fn validate(&self) -> Result<()> {
        if self.name.is_empty() || self.name.chars().count() > 200 {
            return Err(MeteringError::invalid(
                "name",
                "must be 1 to 200 characters",
            ));
        }
        if self.unit.is_empty() || self.unit.chars().count() > 64 {
            return Err(MeteringError::invalid("unit", "must be 1 to 64 characters"));
        }
        if self.cost_per_unit_usd.is_sign_negative() && !self.cost_per_unit_usd.is_zero() {
            return Err(MeteringError::invalid(
                "cost_per_unit_usd",
                "must not be negative",
            ));
        }
        if let Aggregation::TimeWeighted {
            sample_seconds,
            per_seconds,
        } = self.aggregation
        {
            if sample_seconds == 0
                || per_seconds == 0
                || sample_seconds > 31 * 86_400
                || per_seconds > 31 * 86_400
            {
                return Err(MeteringError::invalid(
                    "aggregation",
                    "sample_seconds and per_seconds must be between 1 and 2678400",
                ));
            }
        }
        Ok(())
    }
}

const COLUMNS: &str =
    "code, name, aggregation, unit, cost_per_unit_usd, value_property, sample_seconds, per_seconds";

fn from_row(row: &sqlx::postgres::PgRow) -> Result<Meter> {
    let code: String = row.try_get("code")?;
    let aggregation: String = row.try_get("aggregation")?;
    let sample: Option<i32> = row.try_get("sample_seconds")?;
    let per: Option<i32> = row.try_get("per_seconds")?;
    let aggregation = match aggregation.as_str() {
        "sum" => Aggregation::Sum,
        "count" => Aggregation::Count,
        "max" => Aggregation::Max,
        "latest" => Aggregation::Latest,
        "unique_count" => Aggregation::UniqueCount {
            property: row.try_get("value_property")?,
        },
        "time_weighted" => Aggregation::TimeWeighted {
            sample_seconds: u32::try_from(sample.unwrap_or(1)).unwrap_or(1),
            per_seconds: u32::try_from(per.unwrap_or(1)).unwrap_or(1),
        },
        other => {
            return Err(MeteringError::Config(format!(
                "meter {code}: unknown aggregation {other}"
            )))
        }
    };
    Ok(Meter {
        code: MeterCode::parse(&code).map_err(MeteringError::Invalid)?,
        name: row.try_get("name")?,
        aggregation,
        unit: row.try_get("unit")?,
        cost_per_unit_usd: row.try_get("cost_per_unit_usd")?,
    })
}

/// Every meter, by code.
pub async fn list_meters(pool: &PgPool) -> Result<Vec<Meter>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM metering_meters ORDER BY code"
    ))
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// One meter, or `None` when the code is not in the catalogue.
pub async fn get_meter(pool: &PgPool, code: &MeterCode) -> Result<Option<Meter>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM metering_meters WHERE code = $1"
    ))
    .bind(code.as_str())
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The meters named in `codes` (unknown codes are simply absent).
pub(crate) async fn meters_by_code(
    conn: &mut sqlx::PgConnection,
    codes: &[String],
) -> Result<Vec<Meter>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM metering_meters WHERE code = ANY($1)"
    ))
    .bind(codes)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Creates a meter or updates its name, unit, cost rate and parameters. The aggregation of an
/// existing meter never changes (rollups already hold values computed with it).
pub async fn upsert_meter(pool: &PgPool, meter: &Meter) -> Result<Meter> {
    meter.validate()?;
    let (property, sample, per) = match &meter.aggregation {
        Aggregation::UniqueCount { property } => (property.clone(), None, None),
        Aggregation::TimeWeighted {
            sample_seconds,
            per_seconds,
        } => (
            None,
            i32::try_from(*sample_seconds).ok(),
            i32::try_from(*per_seconds).ok(),
        ),
        _ => (None, None, None),
    };
    let row = sqlx::query(&format!(
        "INSERT INTO metering_meters AS m ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, unit = EXCLUDED.unit,
             cost_per_unit_usd = EXCLUDED.cost_per_unit_usd, value_property = EXCLUDED.value_property,
             sample_seconds = EXCLUDED.sample_seconds, per_seconds = EXCLUDED.per_seconds, updated_at = now()
         WHERE m.aggregation = EXCLUDED.aggregation
         RETURNING {COLUMNS}"
    ))
    .bind(meter.code.as_str())
    .bind(&meter.name)
    .bind(meter.aggregation.code())
    .bind(&meter.unit)
    .bind(meter.cost_per_unit_usd)
    .bind(property)
    .bind(sample)
    .bind(per)
    .fetch_optional(pool)
    .await?;
    match row {
        Some(row) => from_row(&row),
        None => Err(MeteringError::AggregationChange(meter.code.to_string())),
    }
}
