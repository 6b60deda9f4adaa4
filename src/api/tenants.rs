//! `/v1/tenants`: create, read, list, suspend/resume and API keys.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiQuery};
use super::AppState;
use crate::apikeys::{self, KeyError, Scope};
use crate::tenants::{self, NewTenant, Status, Tenant, TenantError, TenantInput};

/// Largest page of tenants one request returns.
const MAX_PAGE: i64 = 500;

impl From<TenantError> for ApiError {
    fn from(e: TenantError) -> Self {
        match e {
            TenantError::AlreadyExists(id) => {
                ApiError::conflict("tenant_exists", format!("tenant '{id}' already exists"))
                    .with_details(json!({ "id": id }))
            }
            TenantError::NotFound(id) => ApiError::not_found("tenant", &id),
            e @ TenantError::InvalidTransition { .. } => {
                ApiError::conflict("invalid_transition", e.to_string())
            }
            TenantError::Db(e) => e.into(),
            e @ TenantError::Events(_) => ApiError::internal(anyhow::anyhow!(e.to_string())),
        }
    }
}

pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<TenantInput>,
) -> ApiResult<(StatusCode, Json<Tenant>)> {
    principal.require_owner(None)?;
    let now = chrono::Utc::now();
    let new = NewTenant::parse(&input, &|p| state.catalogue.is_plan(p, now))
        .map_err(|e| ApiError::invalid_field(e.field, e.message))?;
    let tenant = tenants::create(&state.pool, &new).await?;
    // Every tenant gets its token wallet at once; prepaid usage debits it.
    let wallet_owner =
        ledger::TenantId::parse(&tenant.id).map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?;
    ledger::open_wallet(&state.pool, &wallet_owner).await?;
    tracing::info!(tenant = %tenant.id, plan = %tenant.plan, "tenant created");
    Ok((StatusCode::CREATED, Json(tenant)))
}

/// The tenant if it exists and the caller may read it; otherwise 404 either way.
pub async fn load(
    state: &AppState,
    principal: &Principal,
    id: &str,
    scope: Scope,
) -> ApiResult<Tenant> {
    principal.require_tenant(id, scope)?;
    tenants::get(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant", id))
}

pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Tenant>> {
    Ok(Json(load(&state, &principal, &id, Scope::Read).await?))
}

#[derive(Deserialize)]
pub struct ListQuery {
    after: Option<String>,
    limit: Option<i64>,
}

pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Value>> {
    principal.require_owner(None)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid_field(
            "limit",
            format!("must be between 1 and {MAX_PAGE}"),
        ));
    }
    let rows = tenants::list(&state.pool, q.after.as_deref(), limit).await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|t| t.id.clone()))
        .flatten();
    Ok(Json(json!({ "data": rows, "next_after": next })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    reason: Option<String>,
}

fn reason_or<'a>(body: &'a ReasonBody, default: &'a str) -> &'a str {
    body.reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .unwrap_or(default)
}

/// An owner's lifecycle transition (see `Status::can_become` and docs/CHARGING.md).
async fn transition(
    state: &AppState,
    principal: &Principal,
    id: &str,
    to: Status,
    reason: &str,
) -> ApiResult<Json<Tenant>> {
    principal.require_owner(Some(id))?;
    let cause = (to == Status::Suspended).then_some(tenants::Cause::Owner);
    Ok(Json(
        tenants::set_status(&state.pool, id, to, Some(reason), cause).await?,
    ))
}

pub async fn suspend(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> ApiResult<Json<Tenant>> {
    let reason = reason_or(&body, "suspended by owner");
    transition(&state, &principal, &id, Status::Suspended, reason).await
}

pub async fn resume(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Tenant>> {
    transition(&state, &principal, &id, Status::Active, "resumed by owner").await
}

/// `POST /v1/tenants/{id}/past-due`: a payment failed; usage continues during dunning.
pub async fn past_due(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> ApiResult<Json<Tenant>> {
    let reason = reason_or(&body, "payment failed");
    transition(&state, &principal, &id, Status::PastDue, reason).await
}

/// `POST /v1/tenants/{id}/cancel`: terminal; late events are still metered and billed.
pub async fn cancel(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> ApiResult<Json<Tenant>> {
    let reason = reason_or(&body, "canceled by owner");
    transition(&state, &principal, &id, Status::Canceled, reason).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanInput {
    plan: Option<String>,
}

/// `PUT /v1/tenants/{id}/plan`: limits and quota answers follow the new plan at once; the new
/// plan's monthly grant (if any) is credited for the current month, which also settles tokens
/// left unpaid and resumes a tenant whose suspension the upgrade clears. Proration of the plan
/// fee belongs to invoicing; a month keeps the plan it started with for rating usage.
pub async fn change_plan(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<PlanInput>,
) -> ApiResult<Json<Tenant>> {
    principal.require_owner(Some(&id))?;
    let now = chrono::Utc::now();
    let plan = input
        .plan
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::invalid_field("plan", "is required"))?;
    if !state.catalogue.is_plan(plan, now) {
        return Err(ApiError::invalid_field(
            "plan",
            format!("'{plan}' is not a plan in the catalogue"),
        ));
    }
    let tenant = tenants::change_plan(&state.pool, &id, plan).await?;
    let charge = |e: crate::charging::ChargeError| ApiError::internal(anyhow::anyhow!(e));
    if tenant.billing_mode == "prepaid" {
        let catalogue = state.catalogue.current();
        crate::charging::grant_current(&state.pool, &catalogue, &id, plan, &tenant.timezone, now)
            .await
            .map_err(charge)?;
        crate::charging::settle(&state.pool, &id, now)
            .await
            .map_err(charge)?;
    }
    state.quota.refresh(&state.pool, now).await?;
    let tenant = tenants::get(&state.pool, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant", &id))?;
    Ok(Json(tenant))
}

/// `DELETE /v1/tenants/{id}`: soft delete (nothing is erased; `restore` undoes it).
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    principal.require_owner(Some(&id))?;
    tenants::soft_delete(&state.pool, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/tenants/{id}/restore`: brings a soft-deleted tenant back as it was.
pub async fn restore(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Tenant>> {
    principal.require_owner(Some(&id))?;
    Ok(Json(tenants::restore(&state.pool, &id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyInput {
    name: Option<String>,
    scopes: Option<Vec<String>>,
}

pub async fn create_key(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<KeyInput>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    load(&state, &principal, &id, Scope::Admin).await?;
    let name = input
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("default");
    if name.chars().count() > 200 {
        return Err(ApiError::invalid_field(
            "name",
            "must be at most 200 characters",
        ));
    }
    let raw = input.scopes.filter(|s| !s.is_empty()).ok_or_else(|| {
        ApiError::invalid_field(
            "scopes",
            "is required: a non-empty list of ingest, read, quota, admin",
        )
    })?;
    let mut scopes = Vec::with_capacity(raw.len());
    for (i, s) in raw.iter().enumerate() {
        let scope = Scope::parse(s).ok_or_else(|| {
            ApiError::invalid_field(
                &format!("scopes[{i}]"),
                format!("'{s}' is not one of ingest, read, quota, admin"),
            )
        })?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    let key = apikeys::generate();
    apikeys::insert(&state.pool, &id, name, &scopes, &key)
        .await
        .map_err(|e| match e {
            KeyError::TooMany => ApiError::conflict("too_many_api_keys", e.to_string()),
            KeyError::Db(e) => e.into(),
        })?;
    let scopes: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    let body = json!({ "id": key.id, "key": key.secret, "prefix": key.prefix, "name": name, "scopes": scopes });
    Ok((StatusCode::CREATED, Json(body)))
}

pub async fn list_keys(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    load(&state, &principal, &id, Scope::Admin).await?;
    Ok(Json(
        json!({ "data": apikeys::list(&state.pool, &id).await? }),
    ))
}

pub async fn revoke_key(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, key_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    load(&state, &principal, &id, Scope::Admin).await?;
    if !apikeys::revoke(&state.pool, &id, &key_id).await? {
        return Err(ApiError::not_found("api_key", &key_id));
    }
    Ok(StatusCode::NO_CONTENT)
}
