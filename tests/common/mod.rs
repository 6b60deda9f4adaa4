//! Test harness: the real router over a fresh PostgreSQL database (one per test, by sqlx::test).
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sqlx::PgPool;
use tower::ServiceExt;

pub const OWNER: &str = "owner-token-for-tests-0123456789";

pub struct App {
    router: axum::Router,
    pub state: tally::api::AppState,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl App {
    pub fn new(pool: PgPool) -> App {
        let catalogue = tally::catalogue::CatalogueStore::embedded().unwrap();
        let state = tally::api::AppState::new(pool, OWNER, None, catalogue);
        App {
            router: tally::api::router(state.clone()),
            state,
        }
    }

    /// An app over a state the test adjusted (e.g. its ingestion writers).
    pub fn with_state(state: tally::api::AppState) -> App {
        App {
            router: tally::api::router(state.clone()),
            state,
        }
    }

    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Resp {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let body = match body {
            Some(b) => {
                req = req.header("content-type", "application/json");
                Body::from(b)
            }
            None => Body::empty(),
        };
        let res = self
            .router
            .clone()
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).to_string();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Resp {
        self.raw(
            method,
            path,
            Some(token),
            body.map(|b| serde_json::to_vec(&b).unwrap()),
        )
        .await
    }

    pub async fn create_tenant(&self, id: &str) -> Resp {
        self.call("POST", "/v1/tenants", OWNER, Some(tenant_body(id)))
            .await
    }

    /// Creates a key for `tenant` with `scopes` and returns the secret.
    pub async fn key(&self, tenant: &str, scopes: &[&str]) -> String {
        let r = self
            .call(
                "POST",
                &format!("/v1/tenants/{tenant}/api-keys"),
                OWNER,
                Some(json!({"name": "t", "scopes": scopes})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.body["key"].as_str().unwrap().to_string()
    }
}

pub fn tenant_body(id: &str) -> Value {
    json!({"id": id, "name": format!("{id} Inc"), "plan": "pro", "region": "IN", "currency": "INR",
           "timezone": "Asia/Kolkata", "billing_mode": "prepaid"})
}

/// Asserts the contract's error shape and returns the code.
pub fn error_code(r: &Resp) -> String {
    let e = &r.body["error"];
    assert!(
        e["message"].is_string() && e["details"].is_object(),
        "not the contract's error shape: {}",
        r.text
    );
    e["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code: {}", r.text))
        .to_string()
}
