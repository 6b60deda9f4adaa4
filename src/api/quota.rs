//! `POST /v1/quota/check` (from the in-memory view) and the limits in force per tenant.

use axum::extract::{Path, State};
use axum::Json;
use chrono::Utc;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::extract::ApiJson;
use super::tenants::load;
use super::AppState;
use crate::apikeys::Scope;
use crate::quota::{parse_period, period_name};

fn dec(v: Option<Decimal>) -> Value {
    v.map_or(Value::Null, |d| Value::String(d.normalize().to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckInput {
    tenant: String,
    meter: String,
    quantity: Value,
    /// Checked against the subject's own limit too, when it has one.
    subject: Option<String>,
}

fn quantity(v: &Value) -> ApiResult<Decimal> {
    super::extract::non_negative_decimal("quantity", v)
}

pub async fn check(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<CheckInput>,
) -> ApiResult<Json<Value>> {
    principal.require_tenant(&input.tenant, Scope::Quota)?;
    let quantity = quantity(&input.quantity)?;
    let catalogue = state.catalogue.current();
    let answer = state
        .quota
        .check(
            &catalogue,
            &input.tenant,
            &input.meter,
            input.subject.as_deref(),
            quantity,
            Utc::now(),
        )
        .ok_or_else(|| ApiError::not_found("tenant", &input.tenant))?;
    metrics::counter!("tally_quota_checks_total", "allowed" => answer.allowed.to_string())
        .increment(1);
    Ok(Json(json!({
        "allowed": answer.allowed,
        "limit": dec(answer.limit),
        "used": dec(Some(answer.used)),
        "remaining": dec(answer.remaining),
        "period_end": answer.period_end,
        "reason": answer.reason.map(|r| r.as_str()),
        "as_of": answer.as_of,
    })))
}

pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    load(&state, &principal, &id, Scope::Read).await?;
    let catalogue = state.catalogue.current();
    // A tenant created since the last refresh is read in now rather than reported missing.
    let limits = match state.quota.limits(&catalogue, &id, Utc::now()) {
        Some(l) => l,
        None => {
            state.quota.refresh(&state.pool, Utc::now()).await?;
            state
                .quota
                .limits(&catalogue, &id, Utc::now())
                .ok_or_else(|| ApiError::not_found("tenant", &id))?
        }
    };
    let data: Vec<Value> = limits
        .iter()
        .map(|l| {
            json!({
                "meter": l.meter, "limit": dec(l.spec.limit), "used": dec(Some(l.used)),
                "period": period_name(l.spec.period), "period_end": l.period_end,
                "hard": l.spec.hard, "auto_suspend": l.spec.auto_suspend,
                "source": if l.overridden { "override" } else { "plan" },
            })
        })
        .collect();
    Ok(Json(json!({ "data": data })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitInput {
    /// `null` for unlimited.
    limit: Option<Value>,
    period: String,
    hard: bool,
    #[serde(default)]
    auto_suspend: bool,
    /// A limit on one subject of the tenant instead of the whole tenant.
    subject: Option<String>,
}

pub async fn put(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, meter)): Path<(String, String)>,
    ApiJson(input): ApiJson<LimitInput>,
) -> ApiResult<Json<Value>> {
    principal.require_owner(Some(&id))?;
    load(&state, &principal, &id, Scope::Admin).await?;
    let meter = pricing::MeterCode::parse(&meter)
        .map_err(|e| ApiError::invalid_field("meter", e.to_string()))?;
    state.catalogue.current().meter(&meter)?;
    let period = parse_period(&input.period).ok_or_else(|| {
        ApiError::invalid_field("period", "must be one of hourly, daily, monthly")
    })?;
    let limit = match &input.limit {
        None | Some(Value::Null) => None,
        Some(v) => Some(quantity(v).map_err(|_| {
            ApiError::invalid_field("limit", "must be a non-negative decimal or null")
        })?),
    };
    if let Some(subject) = &input.subject {
        if subject.is_empty() || subject.chars().count() > 256 {
            return Err(ApiError::invalid_field(
                "subject",
                "must be 1-256 characters",
            ));
        }
        if input.auto_suspend {
            return Err(ApiError::invalid_field(
                "auto_suspend",
                "a subject's limit cannot suspend the whole tenant; set it on the tenant's limit",
            ));
        }
        sqlx::query(
            r#"INSERT INTO tenant_subject_limits (tenant_id, meter, subject, "limit", period, hard)
               VALUES ($1, $2, $3, $4, $5, $6)
               ON CONFLICT (tenant_id, meter, subject) DO UPDATE SET "limit" = EXCLUDED."limit",
                   period = EXCLUDED.period, hard = EXCLUDED.hard, updated_at = now()"#,
        )
        .bind(&id)
        .bind(meter.as_str())
        .bind(subject)
        .bind(limit)
        .bind(period_name(period))
        .bind(input.hard)
        .execute(&state.pool)
        .await?;
        state.quota.refresh(&state.pool, Utc::now()).await?;
        return Ok(Json(
            json!({ "meter": meter.as_str(), "subject": subject, "limit": dec(limit), "period": period_name(period), "hard": input.hard, "auto_suspend": false }),
        ));
    }
    sqlx::query(
        r#"INSERT INTO tenant_limits (tenant_id, meter, "limit", period, hard, auto_suspend)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (tenant_id, meter) DO UPDATE SET "limit" = EXCLUDED."limit", period = EXCLUDED.period,
               hard = EXCLUDED.hard, auto_suspend = EXCLUDED.auto_suspend, updated_at = now()"#,
    )
    .bind(&id)
    .bind(meter.as_str())
    .bind(limit)
    .bind(period_name(period))
    .bind(input.hard)
    .bind(input.auto_suspend)
    .execute(&state.pool)
    .await?;
    state.quota.refresh(&state.pool, Utc::now()).await?;
    Ok(Json(
        json!({ "meter": meter.as_str(), "limit": dec(limit), "period": period_name(period), "hard": input.hard, "auto_suspend": input.auto_suspend }),
    ))
}

/// `GET /v1/tenants/{id}/alerts`: alerts raised for the tenant, newest first, as the same
/// bodies published on `billing-events`.
pub async fn alerts(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    load(&state, &principal, &id, Scope::Read).await?;
    let list = alerts::list_alerts(&state.pool, &id, 100)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(json!({ "data": list })))
}
