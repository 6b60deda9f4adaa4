//! Extractors whose rejections speak the contract's error shape and name the offending field.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::error::ApiError;

/// Largest request body accepted, per the contract.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// A JSON body. Syntax errors are 400 `invalid_json`; well-formed JSON of the wrong shape is
/// 422 `validation_failed` with the path of the field; over 1 MiB is 413.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|ct| {
                ct.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("application/json")
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be JSON with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                payload_too_large()
            } else {
                ApiError::bad_request("invalid_body", r.body_text())
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

pub fn payload_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
    )
    .with_details(json!({ "limit_bytes": MAX_BODY_BYTES }))
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_data() {
            let field = if path == "." {
                "body".to_string()
            } else {
                path
            };
            ApiError::invalid_field(&field, inner.to_string())
        } else {
            ApiError::bad_request(
                "invalid_json",
                format!("the body is not valid JSON: {inner}"),
            )
        }
    })
}

/// Query-string parameters; a bad one is 422 naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded_deserializer(query);
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|e| {
                let path = e.path().to_string();
                let field = if path == "." {
                    "query".to_string()
                } else {
                    path
                };
                ApiError::invalid_field(&field, e.into_inner().to_string())
            })
    }
}

fn serde_urlencoded_deserializer(query: &str) -> serde_urlencoded::Deserializer<'_> {
    serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()))
}

/// A non-negative decimal given as a JSON string (`"12.5"`) or number; 422 naming `field`.
pub fn non_negative_decimal(
    field: &str,
    v: &serde_json::Value,
) -> Result<rust_decimal::Decimal, ApiError> {
    let parsed = match v {
        serde_json::Value::String(s) => s.trim().parse::<rust_decimal::Decimal>().ok(),
        serde_json::Value::Number(n) => n.to_string().parse::<rust_decimal::Decimal>().ok(),
        _ => None,
    };
    parsed.filter(|d| !d.is_sign_negative()).ok_or_else(|| {
        ApiError::invalid_field(
            field,
            "must be a non-negative decimal, as a string or a number",
        )
    })
}
