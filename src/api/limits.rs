//! The rate-limit middleware: resolves the caller once, counts tenant-key calls against the
//! plan's hourly allowance, and reports it in `X-RateLimit-*` headers (429 with `Retry-After`).

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use pricing::{LimitPeriod, MeterCode, PlanCode};
use serde_json::json;

use super::auth::Principal;
use super::error::ApiError;
use super::AppState;
use crate::ratelimit::Decision;

/// The plan's API calls per hour; `None` when unlimited or not set.
fn hourly_allowance(state: &AppState, plan: &str) -> Option<u32> {
    let catalogue = state.catalogue.current();
    let plan = catalogue
        .plan_at(&PlanCode::parse(plan).ok()?, Utc::now())
        .ok()?;
    let limit = plan.limit(&MeterCode::parse("api_calls").ok()?)?;
    if limit.period != LimitPeriod::Hourly {
        return None;
    }
    rust_decimal::prelude::ToPrimitive::to_u32(&limit.limit?.trunc())
}

fn set_headers(headers: &mut HeaderMap, d: &Decision) {
    let mut set = |name: &'static str, v: u64| {
        headers.insert(name, HeaderValue::from(v));
    };
    set("x-ratelimit-limit", u64::from(d.limit));
    set("x-ratelimit-remaining", u64::from(d.remaining));
    set("x-ratelimit-reset", d.reset_s);
}

pub async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    // An unauthenticated request goes on to its handler, which answers 401 in its own words.
    let Ok(principal) = Principal::from_request_parts(&mut parts, &state).await else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    let decision = match &principal {
        Principal::Tenant {
            tenant_id,
            key_id,
            plan,
            ..
        } => hourly_allowance(&state, plan)
            .map(|per_hour| state.rate_limits.check(per_hour, tenant_id, key_id)),
        Principal::Owner => None,
    };
    parts.extensions.insert(principal);
    let Some(d) = decision else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    if !d.allowed {
        metrics::counter!("tally_rate_limited_total").increment(1);
        let mut resp = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "the plan allows {} API calls per hour; retry in {} s",
                d.limit, d.retry_after_s
            ),
        )
        .with_details(json!({ "limit": d.limit, "retry_after_s": d.retry_after_s }))
        .into_response();
        set_headers(resp.headers_mut(), &d);
        resp.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(d.retry_after_s));
        return resp;
    }
    let mut resp = next.run(Request::from_parts(parts, body)).await;
    set_headers(resp.headers_mut(), &d);
    resp
}
