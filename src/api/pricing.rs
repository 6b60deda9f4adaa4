//! `POST /v1/pricing/quote` and the owner's catalogue endpoints.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use metering::Granularity;
use pricing::{MeterCode, PlanCode, PricingError, QuoteRequest, RegionCode};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::extract::ApiJson;
use super::tenants::load;
use super::AppState;
use crate::apikeys::Scope;
use crate::catalogue::{pricing_region, PublishError, MAX_DOCUMENT_BYTES};

impl From<PricingError> for ApiError {
    fn from(e: PricingError) -> Self {
        let msg = e.to_string();
        match e {
            PricingError::InvalidCode { kind, .. } => ApiError::invalid_field(kind, msg),
            PricingError::InvalidInput { field, .. } => ApiError::invalid_field(field, msg),
            PricingError::UnknownPlan(_) => ApiError::invalid_field("plan", msg),
            PricingError::UnknownMeter(_) => ApiError::invalid_field("meter", msg),
            PricingError::UnknownRegion(_) => ApiError::invalid_field("region", msg),
            PricingError::AddonNotAvailable { .. } => ApiError::invalid_field("meter", msg),
            PricingError::NotPriced { .. } | PricingError::NegotiatedPrice { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "not_priced", msg)
            }
            PricingError::CatalogueSyntax(_) | PricingError::CatalogueInvalid { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_catalogue", msg)
            }
            _ => ApiError::internal(anyhow::anyhow!(msg)),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuoteInput {
    tenant: Option<String>,
    plan: Option<String>,
    region: Option<String>,
    meter: String,
    quantity: Value,
    /// Real provider cost in USD of the whole quantity; default: the meter's cost rate.
    cost: Option<Value>,
}

pub async fn quote(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<QuoteInput>,
) -> ApiResult<Json<Value>> {
    let catalogue = state.catalogue.current();
    let now = Utc::now();
    let meter = MeterCode::parse(&input.meter)
        .map_err(|e| ApiError::invalid_field("meter", e.to_string()))?;
    let quantity = super::extract::non_negative_decimal("quantity", &input.quantity)?;
    let real_cost_usd = input
        .cost
        .as_ref()
        .map(|c| super::extract::non_negative_decimal("cost", c))
        .transpose()?;
    let (plan, region, period_usage) = match (&input.tenant, &input.plan, &input.region) {
        (Some(id), None, None) => {
            let tenant = load(&state, &principal, id, Scope::Read).await?;
            let used = period_usage(&state, id, &meter, now).await?;
            (
                PlanCode::parse(&tenant.plan)?,
                pricing_region(&catalogue, &tenant.region)?,
                Some(used),
            )
        }
        (None, Some(plan), Some(region)) => {
            let plan = PlanCode::parse(plan)
                .map_err(|e| ApiError::invalid_field("plan", e.to_string()))?;
            let region = RegionCode::parse(region)
                .map_err(|e| ApiError::invalid_field("region", e.to_string()))?;
            (plan, catalogue.pricing_region(&region)?, None)
        }
        _ => {
            return Err(ApiError::invalid_field(
                "tenant",
                "give either `tenant`, or `plan` and `region`",
            ))
        }
    };
    let req = QuoteRequest {
        plan,
        region,
        meter,
        quantity,
        real_cost_usd,
        period_usage,
        at: Some(now),
    };
    let q = catalogue.quote(&req)?;
    Ok(Json(json!({
        "currency": q.currency.code(),
        "amount": q.amount.to_string(),
        "unit_price": q.unit_price.to_string(),
        "real_cost_usd": q.real_cost_usd.to_string(),
        "mode": q.mode,
        "plan": q.plan.as_str(),
        "region": q.region.as_str(),
        "meter": q.meter.as_str(),
        "quantity": q.quantity.to_string(),
        "included_quantity": q.included_quantity.to_string(),
        "billable_quantity": q.billable_quantity.to_string(),
        "period_usage": period_usage.map(|u| u.to_string()),
        "catalogue_version": q.catalogue_version,
        "priced_at": q.priced_at,
        "breakdown": q.breakdown,
    })))
}

/// Usage of `meter` in the tenant's current month (its own time zone), from the month rollup.
async fn period_usage(
    state: &AppState,
    tenant: &str,
    meter: &MeterCode,
    now: chrono::DateTime<Utc>,
) -> ApiResult<Decimal> {
    let q = metering::UsageQuery {
        tenant: metering::TenantId::parse(tenant)
            .map_err(|e| ApiError::invalid_field("tenant", e.message))?,
        meter: Some(
            metering::MeterCode::parse(meter.as_str())
                .map_err(|e| ApiError::invalid_field("meter", e.message))?,
        ),
        from: now - chrono::Duration::days(1),
        to: now + chrono::Duration::seconds(1),
        granularity: Granularity::Month,
        group_by: Default::default(),
    };
    let rows = match metering::usage(&state.pool, &q).await {
        Ok(rows) => rows,
        // A meter the pricing catalogue knows but metering does not has no usage yet.
        Err(metering::MeteringError::UnknownMeter(_)) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    Ok(rows
        .iter()
        .filter(|r| r.bucket <= now)
        .max_by_key(|r| r.bucket)
        .map(|r| r.value)
        .unwrap_or_default())
}

pub async fn get_catalogue(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    principal.require_owner(None)?;
    let (id, text) = state.catalogue.document();
    let c = state.catalogue.current();
    Ok(Json(
        json!({ "id": id, "version": c.version(), "toml": &*text }),
    ))
}

/// Publishes a new catalogue document (TOML body, or JSON `{"toml": "..."}`).
pub async fn put_catalogue(
    State(state): State<AppState>,
    principal: Principal,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    principal.require_owner(None)?;
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(super::extract::payload_too_large());
    }
    let text = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(o)) => o
            .get("toml")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                ApiError::invalid_field(
                    "toml",
                    "is required: the catalogue document as a TOML string",
                )
            })?,
        _ => String::from_utf8(body.to_vec())
            .map_err(|_| ApiError::invalid_field("body", "must be UTF-8 TOML"))?,
    };
    let (id, c) = state
        .catalogue
        .publish(&state.pool, text, Utc::now())
        .await
        .map_err(|e| match e {
            PublishError::Invalid(p) => ApiError::from(p),
            PublishError::RewritesPast(p) => {
                ApiError::conflict("catalogue_rewrites_past", p.to_string())
            }
            e @ PublishError::VersionExists(_) => {
                ApiError::conflict("catalogue_version_exists", e.to_string())
            }
            PublishError::Db(e) => e.into(),
        })?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": id, "version": c.version() })),
    ))
}
