//! Tenants: validated creation, lookup and the lifecycle state machine.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

/// A field that failed validation and why, for a 422 that names it.
#[derive(Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

fn field_err(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BillingMode {
    Prepaid,
    Postpaid,
}

impl BillingMode {
    pub fn as_str(self) -> &'static str {
        match self {
            BillingMode::Prepaid => "prepaid",
            BillingMode::Postpaid => "postpaid",
        }
    }
}

/// A tenant id: 1–64 of `a-z 0-9 _ -`, starting with a letter or digit. It appears in URLs,
/// Kafka keys and ledger account ids, so it is kept plain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct TenantId(String);

impl TenantId {
    pub fn parse(raw: &str) -> Result<TenantId, FieldError> {
        let ok_char =
            |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-';
        let first_ok = raw
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if raw.is_empty() || raw.len() > 64 || !first_ok || !raw.chars().all(ok_char) {
            return Err(field_err(
                "id",
                "must be 1-64 characters of a-z, 0-9, '_' or '-', starting with a letter or digit",
            ));
        }
        Ok(TenantId(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The request to create a tenant, as received; `NewTenant::parse` turns it into a valid one.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantInput {
    pub id: Option<String>,
    pub name: Option<String>,
    pub plan: Option<String>,
    pub region: Option<String>,
    pub currency: Option<String>,
    pub timezone: Option<String>,
    pub billing_mode: Option<String>,
}

#[derive(Clone, Debug)]
pub struct NewTenant {
    pub id: TenantId,
    pub name: String,
    pub plan: String,
    pub region: String,
    pub currency: String,
    pub timezone: chrono_tz::Tz,
    pub billing_mode: BillingMode,
}

fn required<'a>(value: &'a Option<String>, field: &'static str) -> Result<&'a str, FieldError> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| field_err(field, "is required"))
}

impl NewTenant {
    pub fn parse(
        input: &TenantInput,
        plans: &dyn Fn(&str) -> bool,
    ) -> Result<NewTenant, FieldError> {
        let id = TenantId::parse(required(&input.id, "id")?)?;
        let name = required(&input.name, "name")?;
        if name.chars().count() > 200 {
            return Err(field_err("name", "must be at most 200 characters"));
        }
        let plan = required(&input.plan, "plan")?;
        if !plans(plan) {
            return Err(field_err(
                "plan",
                format!("'{plan}' is not a plan in the catalogue"),
            ));
        }
        Ok(NewTenant {
            id,
            name: name.to_string(),
            plan: plan.to_string(),
            region: parse_region(required(&input.region, "region")?)?,
            currency: parse_currency(required(&input.currency, "currency")?)?,
            timezone: parse_timezone(required(&input.timezone, "timezone")?)?,
            billing_mode: match required(&input.billing_mode, "billing_mode")? {
                "prepaid" => BillingMode::Prepaid,
                "postpaid" => BillingMode::Postpaid,
                other => {
                    return Err(field_err(
                        "billing_mode",
                        format!("'{other}' is not one of prepaid, postpaid"),
                    ))
                }
            },
        })
    }
}

/// An ISO 3166-1 alpha-2 country code (upper case), or `EU` for the European Union.
pub fn parse_region(raw: &str) -> Result<String, FieldError> {
    let valid = raw == "EU" || (raw.len() == 2 && isocountry::CountryCode::for_alpha2(raw).is_ok());
    if !valid || raw.chars().any(|c| !c.is_ascii_uppercase()) {
        return Err(field_err(
            "region",
            format!("'{raw}' is not an ISO 3166-1 alpha-2 code such as US, IN or BR"),
        ));
    }
    Ok(raw.to_string())
}

pub fn parse_currency(raw: &str) -> Result<String, FieldError> {
    match iso_currency::Currency::from_code(raw) {
        Some(c) if c.exponent().is_some() => Ok(c.code().to_string()),
        _ => Err(field_err(
            "currency",
            format!("'{raw}' is not an ISO 4217 currency code such as USD, EUR or INR"),
        )),
    }
}

pub fn parse_timezone(raw: &str) -> Result<chrono_tz::Tz, FieldError> {
    raw.parse().map_err(|_| {
        field_err(
            "timezone",
            format!("'{raw}' is not an IANA time zone such as Europe/Berlin"),
        )
    })
}

/// Where a tenant is in its lifecycle. Transitions are checked by `Status::can_become`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    Suspended,
    PastDue,
    Canceled,
}

impl Status {
    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "active" => Status::Active,
            "suspended" => Status::Suspended,
            "past_due" => Status::PastDue,
            "canceled" => Status::Canceled,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Suspended => "suspended",
            Status::PastDue => "past_due",
            Status::Canceled => "canceled",
        }
    }

    /// Canceled is terminal; every other state may move to any other.
    pub fn can_become(self, to: Status) -> bool {
        self != Status::Canceled && self != to
    }
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub plan: String,
    pub region: String,
    pub currency: String,
    pub timezone: String,
    pub billing_mode: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub suspended_cause: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const TENANT_COLUMNS: &str =
    "id, name, plan, region, currency, timezone, billing_mode, status, status_reason, suspended_cause, created_at, updated_at";

#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("tenant '{0}' already exists")]
    AlreadyExists(String),
    #[error("tenant '{0}' does not exist")]
    NotFound(String),
    #[error("tenant '{id}' cannot go from {from} to {to}")]
    InvalidTransition {
        id: String,
        from: &'static str,
        to: &'static str,
    },
    #[error("recording the billing event failed: {0}")]
    Events(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

pub async fn create(pool: &PgPool, t: &NewTenant) -> Result<Tenant, TenantError> {
    let sql = format!(
        "INSERT INTO tenants (id, name, plan, region, currency, timezone, billing_mode)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {TENANT_COLUMNS}"
    );
    sqlx::query_as(&sql)
        .bind(t.id.as_str())
        .bind(&t.name)
        .bind(&t.plan)
        .bind(&t.region)
        .bind(&t.currency)
        .bind(t.timezone.name())
        .bind(t.billing_mode.as_str())
        .fetch_one(pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.constraint() == Some("tenants_pkey") => {
                TenantError::AlreadyExists(t.id.as_str().to_string())
            }
            _ => TenantError::Db(e),
        })
}

/// A tenant that exists and is not soft-deleted.
pub async fn get(pool: &PgPool, id: &str) -> Result<Option<Tenant>, sqlx::Error> {
    let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1 AND deleted_at IS NULL");
    sqlx::query_as(&sql).bind(id).fetch_optional(pool).await
}

/// Tenants in id order, from after `after`, at most `limit`.
pub async fn list(
    pool: &PgPool,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Tenant>, sqlx::Error> {
    let sql = format!(
        "SELECT {TENANT_COLUMNS} FROM tenants WHERE deleted_at IS NULL AND id > $1 ORDER BY id LIMIT $2"
    );
    sqlx::query_as(&sql)
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(pool)
        .await
}

/// Why a tenant is suspended; only `Owner` suspensions wait for the owner to lift them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    Owner,
    InsufficientBalance,
    Limit,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Owner => "owner",
            Cause::InsufficientBalance => "insufficient_balance",
            Cause::Limit => "limit",
        }
    }
}

/// Moves a tenant to `to`, logging the change; a no-op if it is already there.
pub async fn set_status(
    pool: &PgPool,
    id: &str,
    to: Status,
    reason: Option<&str>,
    cause: Option<Cause>,
) -> Result<Tenant, TenantError> {
    let mut tx = pool.begin().await?;
    let tenant = set_status_in(&mut tx, id, to, reason, cause).await?;
    tx.commit().await?;
    Ok(tenant)
}

/// [`set_status`] in the caller's transaction: the status row, the change log and the
/// `tenant.suspended` / `tenant.resumed` billing event commit together or not at all.
/// `cause` is recorded for a suspension (default `owner`).
pub async fn set_status_in(
    conn: &mut sqlx::PgConnection,
    id: &str,
    to: Status,
    reason: Option<&str>,
    cause: Option<Cause>,
) -> Result<Tenant, TenantError> {
    let current: Option<String> = sqlx::query_scalar(
        "SELECT status FROM tenants WHERE id = $1 AND deleted_at IS NULL FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let from = current
        .as_deref()
        .and_then(Status::parse)
        .ok_or_else(|| TenantError::NotFound(id.into()))?;
    if from != to {
        if !from.can_become(to) {
            return Err(TenantError::InvalidTransition {
                id: id.into(),
                from: from.as_str(),
                to: to.as_str(),
            });
        }
        let cause = (to == Status::Suspended).then(|| cause.unwrap_or(Cause::Owner).as_str());
        sqlx::query(
            "UPDATE tenants SET status = $2, status_reason = $3, suspended_cause = $4, updated_at = now() WHERE id = $1",
        )
        .bind(id)
        .bind(to.as_str())
        .bind(reason)
        .bind(cause)
        .execute(&mut *conn)
        .await?;
        sqlx::query("INSERT INTO tenant_status_changes (tenant_id, from_status, to_status, reason) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(from.as_str())
            .bind(to.as_str())
            .bind(reason)
            .execute(&mut *conn)
            .await?;
        let now = Utc::now();
        let event = match to {
            Status::Suspended => Some(alerts::BillingEvent::tenant_suspended(
                id,
                reason.unwrap_or(""),
                now,
            )),
            Status::Active if from == Status::Suspended => {
                Some(alerts::BillingEvent::tenant_resumed(id, now))
            }
            _ => None,
        };
        if let Some(event) = event {
            let event = event.map_err(|e| TenantError::Events(e.to_string()))?;
            alerts::enqueue(&mut *conn, &event)
                .await
                .map_err(|e| TenantError::Events(e.to_string()))?;
        }
    }
    let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1");
    Ok(sqlx::query_as(&sql).bind(id).fetch_one(&mut *conn).await?)
}

/// Moves a tenant to another plan (logged in `tenant_plan_changes`); a canceled tenant
/// cannot change plans. Limits and quota answers follow the new plan at once.
pub async fn change_plan(pool: &PgPool, id: &str, plan: &str) -> Result<Tenant, TenantError> {
    let mut tx = pool.begin().await?;
    let current: Option<(String, String)> = sqlx::query_as(
        "SELECT plan, status FROM tenants WHERE id = $1 AND deleted_at IS NULL FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let (from, status) = current.ok_or_else(|| TenantError::NotFound(id.into()))?;
    if status == Status::Canceled.as_str() {
        return Err(TenantError::InvalidTransition {
            id: id.into(),
            from: Status::Canceled.as_str(),
            to: "another plan",
        });
    }
    if from != plan {
        sqlx::query("UPDATE tenants SET plan = $2, updated_at = now() WHERE id = $1")
            .bind(id)
            .bind(plan)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO tenant_plan_changes (tenant_id, from_plan, to_plan) VALUES ($1, $2, $3)",
        )
        .bind(id)
        .bind(&from)
        .bind(plan)
        .execute(&mut *tx)
        .await?;
    }
    let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1");
    let tenant = sqlx::query_as(&sql).bind(id).fetch_one(&mut *tx).await?;
    tx.commit().await?;
    Ok(tenant)
}

/// Soft-deletes a tenant: it disappears from every read and its keys stop working, its
/// events are parked as `unknown_tenant`, and nothing is erased; `restore` brings it back.
pub async fn soft_delete(pool: &PgPool, id: &str) -> Result<Tenant, TenantError> {
    mark_deleted(pool, id, true).await
}

/// Undoes `soft_delete`; the tenant returns with the status it had.
pub async fn restore(pool: &PgPool, id: &str) -> Result<Tenant, TenantError> {
    mark_deleted(pool, id, false).await
}

async fn mark_deleted(pool: &PgPool, id: &str, deleted: bool) -> Result<Tenant, TenantError> {
    let mut tx = pool.begin().await?;
    let sql = format!(
        "UPDATE tenants SET deleted_at = CASE WHEN $2 THEN now() END, updated_at = now()
          WHERE id = $1 AND (deleted_at IS NULL) = $2 RETURNING {TENANT_COLUMNS}"
    );
    let tenant: Option<Tenant> = sqlx::query_as(&sql)
        .bind(id)
        .bind(deleted)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(tenant) = tenant else {
        return Err(TenantError::NotFound(id.into()));
    };
    let (from, to) = if deleted {
        (tenant.status.as_str(), "deleted")
    } else {
        ("deleted", tenant.status.as_str())
    };
    sqlx::query("INSERT INTO tenant_status_changes (tenant_id, from_status, to_status, reason) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(from)
        .bind(to)
        .bind(if deleted { "soft-deleted by the owner" } else { "restored by the owner" })
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(tenant)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> TenantInput {
        TenantInput {
            id: Some("acme".into()),
            name: Some("Acme".into()),
            plan: Some("pro".into()),
            region: Some("IN".into()),
            currency: Some("INR".into()),
            timezone: Some("Asia/Kolkata".into()),
            billing_mode: Some("prepaid".into()),
        }
    }

    fn check(edit: impl Fn(&mut TenantInput), field: &str) {
        let mut i = input();
        edit(&mut i);
        let e = NewTenant::parse(&i, &|p| p == "pro").unwrap_err();
        assert_eq!(e.field, field, "{e:?}");
    }

    #[test]
    fn each_invalid_field_is_named() {
        assert!(NewTenant::parse(&input(), &|p| p == "pro").is_ok());
        check(|i| i.id = Some("Has Spaces".into()), "id");
        check(|i| i.id = None, "id");
        check(|i| i.name = Some(" ".into()), "name");
        check(|i| i.plan = Some("platinum".into()), "plan");
        check(|i| i.region = Some("XX".into()), "region");
        check(|i| i.region = Some("in".into()), "region");
        check(|i| i.currency = Some("ABC".into()), "currency");
        check(|i| i.timezone = Some("Mars/Olympus".into()), "timezone");
        check(|i| i.billing_mode = Some("credit".into()), "billing_mode");
    }

    #[test]
    fn canceled_is_terminal() {
        assert!(Status::Active.can_become(Status::Suspended));
        assert!(Status::Suspended.can_become(Status::Active));
        assert!(!Status::Canceled.can_become(Status::Active));
    }
}
