//! Liveness, readiness and Prometheus metrics.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use super::error::ApiError;
use super::AppState;

pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready when the database answers and every migration this binary knows has been applied.
pub async fn readyz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let unavailable =
        |why: String| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", why);
    match crate::db::migrations_current(&state.pool).await {
        Ok(true) => Ok(Json(json!({ "status": "ready" }))),
        Ok(false) => Err(unavailable(
            "migrations are not applied; run `tally migrate`".into(),
        )),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(unavailable("the database is not reachable".into()))
        }
    }
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let body = state
        .metrics
        .as_ref()
        .map(|h| h.render())
        .unwrap_or_default();
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
