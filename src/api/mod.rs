//! The HTTP API: state, router, middleware. Wire types live here; domain crates stay HTTP-free.

pub mod auth;
pub mod error;
mod events;
pub mod extract;
mod health;
mod ledger;
mod limits;
mod pricing;
mod quota;
mod tenants;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;
use tower::ServiceBuilder;

use crate::catalogue::CatalogueStore;
use error::ApiError;

/// Handlers that take longer than this are cut off (408); nothing a client waits on is unbounded.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Shared by every handler. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    /// SHA-256 of the owner token, compared in constant time.
    pub owner_token_hash: Arc<[u8]>,
    pub metrics: Option<PrometheusHandle>,
    pub catalogue: CatalogueStore,
    pub rate_limits: crate::ratelimit::RateLimits,
    pub quota: crate::quota::QuotaView,
    /// Group commit for `POST /v1/events` (see `crate::ingest`).
    pub ingest: crate::ingest::Coalescer,
}

impl AppState {
    pub fn new(
        pool: PgPool,
        owner_token: &str,
        metrics: Option<PrometheusHandle>,
        catalogue: CatalogueStore,
    ) -> Self {
        Self {
            owner_token_hash: crate::apikeys::hash(owner_token).into(),
            metrics,
            rate_limits: crate::ratelimit::RateLimits::new(1),
            quota: crate::quota::QuotaView::default(),
            ingest: crate::ingest::Coalescer::spawn(
                pool.clone(),
                catalogue.clone(),
                crate::ingest::DEFAULT_WRITERS,
                crate::ingest::DEFAULT_MAX_EVENTS,
            ),
            pool,
            catalogue,
        }
    }
}

pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/tenants", post(tenants::create).get(tenants::list))
        .route("/tenants/{id}", get(tenants::get).delete(tenants::delete))
        .route("/tenants/{id}/suspend", post(tenants::suspend))
        .route("/tenants/{id}/resume", post(tenants::resume))
        .route("/tenants/{id}/past-due", post(tenants::past_due))
        .route("/tenants/{id}/cancel", post(tenants::cancel))
        .route("/tenants/{id}/restore", post(tenants::restore))
        .route(
            "/tenants/{id}/plan",
            axum::routing::put(tenants::change_plan),
        )
        .route(
            "/tenants/{id}/api-keys",
            post(tenants::create_key).get(tenants::list_keys),
        )
        .route(
            "/tenants/{id}/api-keys/{key_id}",
            delete(tenants::revoke_key),
        )
        .route("/tenants/{id}/usage", get(events::usage))
        .route("/tenants/{id}/wallet", get(ledger::wallet))
        .route("/tenants/{id}/limits", get(quota::list))
        .route("/tenants/{id}/alerts", get(quota::alerts))
        .route(
            "/tenants/{id}/limits/{meter}",
            axum::routing::put(quota::put),
        )
        .route("/quota/check", post(quota::check))
        .route("/tenants/{id}/wallet/top-ups", post(ledger::top_up))
        .route("/ledger/accounts", post(ledger::create_account))
        .route("/ledger/accounts/{id}", get(ledger::get_account))
        .route("/ledger/accounts/{id}/entries", get(ledger::entries))
        .route("/ledger/transfers", post(ledger::create_transfers))
        .route("/ledger/transfers/{id}/post", post(ledger::post_pending))
        .route("/ledger/transfers/{id}/void", post(ledger::void_pending))
        .route("/events", post(events::ingest))
        .route("/pricing/quote", post(pricing::quote))
        .route(
            "/pricing/catalogue",
            get(pricing::get_catalogue).put(pricing::put_catalogue),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            limits::rate_limit,
        ));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .nest("/v1", v1)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(extract::MAX_BODY_BYTES))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
                    timed_out()
                }))
                .timeout(REQUEST_TIMEOUT),
        )
        .layer(middleware::from_fn(record_metrics))
        .with_state(state)
}

fn timed_out() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "timeout",
        format!(
            "the request did not finish within {} s",
            REQUEST_TIMEOUT.as_secs()
        ),
    )
}

async fn not_found() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "route_not_found",
        "no such route",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this route",
    )
}

/// Counts and times every request by route template (never by raw path: bounded label sets).
async fn record_metrics(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("tally_http_requests_total", &labels).increment(1);
    metrics::histogram!("tally_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}
