//! `POST /v1/events` and `GET /v1/tenants/{id}/usage`: HTTP's side of metering.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use metering::{EventOutcome, Granularity, GroupKey, MeteringError, UsageQuery, UsageRow};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiQuery};
use super::tenants::load;
use super::AppState;
use crate::apikeys::Scope;

/// Most events in one HTTP batch, per the contract.
pub const MAX_EVENTS_PER_REQUEST: usize = 1_000;
/// Default usage window when `from` is not given.
const DEFAULT_WINDOW_DAYS: i64 = 31;

impl From<MeteringError> for ApiError {
    fn from(e: MeteringError) -> Self {
        match e {
            MeteringError::Invalid(f) => ApiError::invalid_field(&f.field, f.message),
            MeteringError::UnknownMeter(m) => ApiError::not_found("meter", &m),
            e @ MeteringError::BatchTooLarge { .. } => {
                ApiError::invalid_field("body", e.to_string())
            }
            MeteringError::Database(e) => e.into(),
            other => ApiError::internal(other),
        }
    }
}

fn rejection(index: usize, code: &str, field: &str, message: impl Into<String>) -> Value {
    let message = message.into();
    json!({ "index": index, "error": { "code": code, "message": format!("{field}: {message}"), "details": { "field": field } } })
}

/// Valid events are kept whatever their siblings look like; each bad one is reported by index.
pub async fn ingest(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let own_tenant = match &principal {
        Principal::Owner => None,
        Principal::Tenant { tenant_id, .. } => {
            principal.require_tenant(tenant_id, Scope::Ingest)?;
            Some(tenant_id.clone())
        }
    };
    let Value::Array(values) = body else {
        return Err(ApiError::invalid_field(
            "body",
            "must be a JSON array of usage events",
        ));
    };
    if values.len() > MAX_EVENTS_PER_REQUEST {
        return Err(ApiError::invalid_field(
            "body",
            format!("at most {MAX_EVENTS_PER_REQUEST} events per request"),
        ));
    }
    let parsed = metering::parse_batch(&values, Utc::now());
    let mut rejected: Vec<(usize, Value)> = parsed
        .rejected
        .iter()
        .map(|(i, e)| (*i, rejection(*i, "validation_failed", &e.field, &e.message)))
        .collect();
    let mut events = Vec::with_capacity(parsed.events.len());
    let mut indices = Vec::with_capacity(parsed.events.len());
    for (event, index) in parsed.events.into_iter().zip(parsed.indices) {
        match &own_tenant {
            Some(own) if event.tenant().as_str() != own => rejected.push((
                index,
                rejection(
                    index,
                    "tenant_mismatch",
                    "tenant",
                    format!("this API key may only send events for '{own}'"),
                ),
            )),
            _ => {
                events.push(event);
                indices.push(index);
            }
        }
    }
    let outcome = state.ingest.ingest(events).await?;
    let mut parked = Vec::new();
    for (o, index) in outcome.outcomes.iter().zip(&indices) {
        if let EventOutcome::Parked(reason) = o {
            parked.push(json!({ "index": index, "reason": reason.code() }));
        }
    }
    rejected.sort_by_key(|(i, _)| *i);
    metrics::counter!("tally_events_accepted_total", "path" => "http")
        .increment(outcome.accepted() as u64);
    metrics::counter!("tally_events_duplicate_total", "path" => "http")
        .increment(outcome.duplicates() as u64);
    let body = json!({
        "accepted": outcome.accepted(),
        "duplicates": outcome.duplicates(),
        "rejected": rejected.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
        "parked": parked,
    });
    Ok((StatusCode::ACCEPTED, Json(body)))
}

#[derive(Deserialize)]
pub struct UsageParams {
    meter: Option<String>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    granularity: Option<String>,
    group_by: Option<String>,
}

pub async fn usage(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<UsageParams>,
) -> ApiResult<Json<Value>> {
    load(&state, &principal, &id, Scope::Read).await?;
    let granularity = match p.granularity.as_deref().unwrap_or("1d") {
        "5m" => Granularity::FiveMinutes,
        "1h" => Granularity::Hour,
        "1d" => Granularity::Day,
        "month" => Granularity::Month,
        other => {
            return Err(ApiError::invalid_field(
                "granularity",
                format!("'{other}' is not one of 5m, 1h, 1d, month"),
            ))
        }
    };
    let to = p.to.unwrap_or_else(Utc::now);
    let from = p.from.unwrap_or(to - Duration::days(DEFAULT_WINDOW_DAYS));
    let meter = match p.meter.as_deref().filter(|m| !m.is_empty()) {
        Some(m) => Some(
            metering::MeterCode::parse(m)
                .map_err(|e| ApiError::invalid_field("meter", e.message))?,
        ),
        None => None,
    };
    let tenant =
        metering::TenantId::parse(&id).map_err(|e| ApiError::invalid_field("tenant", e.message))?;
    let group_by = GroupKey::parse_list(p.group_by.as_deref().unwrap_or(""))?;
    let q = UsageQuery {
        tenant,
        meter,
        from,
        to,
        granularity,
        group_by,
    };
    let rows = metering::usage(&state.pool, &q).await?;
    Ok(Json(
        json!({ "data": rows.iter().map(row_json).collect::<Vec<_>>() }),
    ))
}

fn row_json(r: &UsageRow) -> Value {
    let mut v = json!({
        "bucket": r.bucket, "meter": r.meter.as_str(), "value": r.value.to_string(), "unit": r.unit,
        "event_count": r.event_count, "cost_usd": r.cost_usd.to_string(),
    });
    for (key, value) in [
        ("subject", &r.subject),
        ("region", &r.region),
        ("service", &r.service),
    ] {
        if let Some(value) = value {
            v[key] = json!(value);
        }
    }
    v
}
