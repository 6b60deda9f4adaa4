//! Bearer-token authentication: the owner token or a tenant API key, and the checks handlers ask for.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::AppState;
use crate::apikeys::{self, Scope};

/// Who is calling.
#[derive(Clone, Debug)]
pub enum Principal {
    Owner,
    Tenant {
        tenant_id: String,
        key_id: String,
        scopes: Vec<Scope>,
        plan: String,
    },
}

impl Principal {
    /// Owner-only operations. A tenant key asking about another tenant learns nothing (404).
    pub fn require_owner(&self, tenant_id: Option<&str>) -> Result<(), ApiError> {
        match self {
            Principal::Owner => Ok(()),
            Principal::Tenant { tenant_id: own, .. } => match tenant_id {
                Some(t) if t != own => Err(ApiError::not_found("tenant", t)),
                _ => Err(ApiError::forbidden(
                    "owner_required",
                    "this operation needs the owner token",
                )),
            },
        }
    }

    /// Access to `tenant_id`'s data with `scope`: the owner always; a key only for its own
    /// tenant (another tenant's id is 404, as if it did not exist) and only with the scope.
    /// Scopes are independent: `admin` manages keys but does not imply `read` or `ingest`.
    pub fn require_tenant(&self, tenant_id: &str, scope: Scope) -> Result<(), ApiError> {
        match self {
            Principal::Owner => Ok(()),
            Principal::Tenant {
                tenant_id: own,
                scopes,
                ..
            } => {
                if own != tenant_id {
                    Err(ApiError::not_found("tenant", tenant_id))
                } else if scopes.contains(&scope) {
                    Ok(())
                } else {
                    Err(ApiError::forbidden(
                        "insufficient_scope",
                        format!("this API key lacks the '{}' scope", scope.as_str()),
                    )
                    .with_details(serde_json::json!({ "required_scope": scope.as_str() })))
                }
            }
        }
    }

    pub fn tenant_id(&self) -> Option<&str> {
        match self {
            Principal::Owner => None,
            Principal::Tenant { tenant_id, .. } => Some(tenant_id),
        }
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // The rate-limit middleware has usually resolved the caller already.
        if let Some(p) = parts.extensions.get::<Principal>() {
            return Ok(p.clone());
        }
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
            ApiError::unauthorized("missing Authorization: Bearer <token> header")
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must be 'Bearer <token>'")
            })?;
        if bool::from(apikeys::hash(token).ct_eq(&state.owner_token_hash)) {
            return Ok(Principal::Owner);
        }
        let prefix = apikeys::prefix_of(token)
            .ok_or_else(|| ApiError::unauthorized("unknown bearer token"))?;
        let stored = apikeys::find_by_prefix(&state.pool, prefix)
            .await?
            .ok_or_else(|| ApiError::unauthorized("unknown API key"))?;
        if !bool::from(apikeys::hash(token).ct_eq(&stored.key_hash)) {
            return Err(ApiError::unauthorized("unknown API key"));
        }
        if stored.revoked {
            return Err(ApiError::unauthorized("this API key has been revoked"));
        }
        let scopes = stored
            .scopes
            .iter()
            .filter_map(|s| Scope::parse(s))
            .collect();
        Ok(Principal::Tenant {
            tenant_id: stored.tenant_id,
            key_id: stored.id,
            scopes,
            plan: stored.plan,
        })
    }
}
