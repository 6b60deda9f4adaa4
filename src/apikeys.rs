//! Tenant API keys: generation, hashing, scopes, lookup and revocation.

use rand::distributions::Alphanumeric;
use rand::Rng;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

/// What a key may do. `admin` manages the tenant's own keys; the owner role is not a scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Ingest,
    Read,
    Quota,
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Quota => "quota",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Some(match s {
            "ingest" => Scope::Ingest,
            "read" => Scope::Read,
            "quota" => Scope::Quota,
            "admin" => Scope::Admin,
            _ => return None,
        })
    }
}

const KEY_PREFIX: &str = "tly_";
const PREFIX_RANDOM_LEN: usize = 8;
const SECRET_LEN: usize = 32;
/// Keys per tenant, active or revoked: a bound on what one tenant can make us store.
pub const MAX_KEYS_PER_TENANT: i64 = 1_000;

/// A freshly minted key. `secret` is shown once and never stored.
pub struct NewKey {
    pub id: String,
    pub prefix: String,
    pub secret: String,
}

/// `tly_<8 visible chars>_<32 secret chars>`: ~190 bits of randomness from the OS RNG.
pub fn generate() -> NewKey {
    let mut rng = rand::rngs::OsRng;
    let mut random = |n: usize| -> String {
        (&mut rng)
            .sample_iter(&Alphanumeric)
            .take(n)
            .map(char::from)
            .collect()
    };
    let prefix = format!("{KEY_PREFIX}{}", random(PREFIX_RANDOM_LEN));
    let secret = format!("{prefix}_{}", random(SECRET_LEN));
    NewKey {
        id: format!("key_{}", uuid::Uuid::now_v7().simple()),
        prefix,
        secret,
    }
}

pub fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// The visible prefix of a presented key, if it has our shape.
pub fn prefix_of(presented: &str) -> Option<&str> {
    let end = KEY_PREFIX.len() + PREFIX_RANDOM_LEN;
    let separated = presented.as_bytes().get(end) == Some(&b'_');
    presented
        .get(..end)
        .filter(|p| separated && p.starts_with(KEY_PREFIX))
}

/// A key found by its prefix, for verification by the caller.
#[derive(sqlx::FromRow)]
pub struct StoredKey {
    pub id: String,
    pub tenant_id: String,
    pub key_hash: Vec<u8>,
    pub scopes: Vec<String>,
    pub revoked: bool,
    /// The tenant's plan, for its rate limit.
    pub plan: String,
}

pub async fn find_by_prefix(pool: &PgPool, prefix: &str) -> Result<Option<StoredKey>, sqlx::Error> {
    sqlx::query_as(
        "SELECT k.id, k.tenant_id, k.key_hash, k.scopes, t.plan,
                (k.revoked_at IS NOT NULL OR t.deleted_at IS NOT NULL) AS revoked
           FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
          WHERE k.prefix = $1",
    )
    .bind(prefix)
    .fetch_optional(pool)
    .await
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("tenant has reached the limit of {MAX_KEYS_PER_TENANT} API keys")]
    TooMany,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

pub async fn insert(
    pool: &PgPool,
    tenant_id: &str,
    name: &str,
    scopes: &[Scope],
    key: &NewKey,
) -> Result<(), KeyError> {
    let mut tx = pool.begin().await?;
    // Serialise key creation per tenant so the bound below cannot be raced past.
    sqlx::query("SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE")
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM api_keys WHERE tenant_id = $1")
        .bind(tenant_id)
        .fetch_one(&mut *tx)
        .await?;
    if count >= MAX_KEYS_PER_TENANT {
        return Err(KeyError::TooMany);
    }
    let scopes: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    sqlx::query(
        "INSERT INTO api_keys (id, tenant_id, name, prefix, key_hash, scopes) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&key.id)
    .bind(tenant_id)
    .bind(name)
    .bind(&key.prefix)
    .bind(hash(&key.secret))
    .bind(&scopes)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Revokes a key of the tenant; false when the tenant has no such key. Revoking twice is fine.
pub async fn revoke(pool: &PgPool, tenant_id: &str, key_id: &str) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 AND tenant_id = $2",
    )
    .bind(key_id)
    .bind(tenant_id)
    .execute(pool)
    .await?;
    Ok(r.rows_affected() == 1)
}

#[derive(sqlx::FromRow, serde::Serialize)]
pub struct KeyInfo {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

pub async fn list(pool: &PgPool, tenant_id: &str) -> Result<Vec<KeyInfo>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, prefix, scopes, created_at, revoked_at FROM api_keys
          WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC",
    )
    .bind(tenant_id)
    .fetch_all(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_a_visible_prefix_and_distinct_secrets() {
        let a = generate();
        let b = generate();
        assert_ne!(a.secret, b.secret);
        assert_eq!(prefix_of(&a.secret), Some(a.prefix.as_str()));
        assert_eq!(
            a.secret.len(),
            KEY_PREFIX.len() + PREFIX_RANDOM_LEN + 1 + SECRET_LEN
        );
        assert_eq!(prefix_of("tly_short"), None);
        assert_eq!(prefix_of("Bearer x"), None);
    }
}
