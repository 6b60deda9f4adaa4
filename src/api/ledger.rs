//! `/v1/ledger/*` and the tenant wallet: wire types for the `ledger` crate.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use ledger::{
    AccountFlags, AccountId, Amount, AssetCode, Balances, CreateAccountResult, EntryCursor,
    LedgerError, NewAccount, NewTransfer, TransferId, TransferKind, TransferResult,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiQuery};
use super::tenants::load;
use super::AppState;
use crate::apikeys::Scope;

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        let msg = e.to_string();
        match e {
            LedgerError::Invalid { field, .. } => ApiError::invalid_field(field, msg),
            LedgerError::BatchTooLarge { .. } => ApiError::invalid_field("transfers", msg),
            LedgerError::AssetNotFound(_) => ApiError::invalid_field("asset", msg),
            LedgerError::AccountNotFound(id) => ApiError::not_found("account", &id),
            LedgerError::WalletNotFound(t) => ApiError::not_found("wallet", &t),
            LedgerError::OperationNotFound(id) => ApiError::not_found("operation", &id),
            LedgerError::InsufficientBalance { .. } => {
                ApiError::conflict("insufficient_balance", msg)
            }
            LedgerError::ExistsWithDifferentFields(_) => {
                ApiError::conflict("exists_with_different_fields", msg)
            }
            LedgerError::Refused(r) => {
                ApiError::conflict("refused", msg).with_details(json!({ "result": r.as_str() }))
            }
            LedgerError::Contention(_) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "contention", msg)
            }
            LedgerError::Database(e) => e.into(),
            other => ApiError::internal(other),
        }
    }
}

fn amount_json(a: Amount) -> Value {
    Value::String(a.to_string())
}

fn balances_json(id: &str, asset: &str, b: &Balances) -> Value {
    json!({
        "id": id, "asset": asset,
        "debits_posted": amount_json(b.debits_posted), "credits_posted": amount_json(b.credits_posted),
        "debits_pending": amount_json(b.debits_pending), "credits_pending": amount_json(b.credits_pending),
        "balance": b.balance().to_string(), "available": b.available().to_string(),
    })
}

/// An amount from JSON: a string (the contract's form) or a whole number.
fn parse_amount(field: &str, v: &Value) -> ApiResult<Amount> {
    let units = match v {
        Value::String(s) => s.parse::<u64>().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    };
    units.and_then(|u| Amount::new(u).ok()).ok_or_else(|| {
        ApiError::invalid_field(
            field,
            "must be a whole number of the asset's smallest unit, as a string",
        )
    })
}

fn account_id(field: &str, raw: &str) -> ApiResult<AccountId> {
    AccountId::parse(raw).map_err(|e| ApiError::invalid_field(field, e.to_string()))
}

fn transfer_id(field: &str, raw: &str) -> ApiResult<TransferId> {
    TransferId::parse(raw).map_err(|e| ApiError::invalid_field(field, e.to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountInput {
    id: String,
    tenant: Option<String>,
    asset: String,
    #[serde(default)]
    flags: FlagsInput,
    metadata: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FlagsInput {
    #[serde(default)]
    debits_must_not_exceed_credits: bool,
    #[serde(default)]
    credits_must_not_exceed_debits: bool,
}

pub async fn create_account(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<AccountInput>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    principal.require_owner(None)?;
    let tenant = match &input.tenant {
        Some(t) => Some(
            ledger::TenantId::parse(t)
                .map_err(|e| ApiError::invalid_field("tenant", e.to_string()))?,
        ),
        None => None,
    };
    let account = NewAccount {
        id: account_id("id", &input.id)?,
        tenant,
        asset: AssetCode::parse(&input.asset)
            .map_err(|e| ApiError::invalid_field("asset", e.to_string()))?,
        flags: AccountFlags {
            debits_must_not_exceed_credits: input.flags.debits_must_not_exceed_credits,
            credits_must_not_exceed_debits: input.flags.credits_must_not_exceed_debits,
        },
        metadata: input.metadata,
    };
    let result = ledger::create_accounts(&state.pool, std::slice::from_ref(&account)).await?;
    let result = result
        .first()
        .copied()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no result")))?;
    let status = match result {
        CreateAccountResult::Created => StatusCode::CREATED,
        CreateAccountResult::Exists => StatusCode::OK,
        CreateAccountResult::ExistsWithDifferentFields => {
            return Err(ApiError::conflict(
                "exists_with_different_fields",
                format!("account '{}' exists with different fields", input.id),
            ))
        }
        CreateAccountResult::AssetNotFound => {
            return Err(ApiError::invalid_field(
                "asset",
                format!("'{}' is not a registered asset", input.asset),
            ))
        }
        CreateAccountResult::FlagsAreMutuallyExclusive => {
            return Err(ApiError::invalid_field(
                "flags",
                "at most one must_not_exceed flag may be set",
            ))
        }
        CreateAccountResult::ReservedId => {
            return Err(ApiError::invalid_field(
                "id",
                "ids starting with '~' are reserved for system accounts",
            ))
        }
    };
    Ok((
        status,
        Json(json!({ "id": input.id, "result": result.as_str() })),
    ))
}

/// The account if the caller may see it: the owner, or a `read` key of the account's tenant.
async fn visible_account(
    state: &AppState,
    principal: &Principal,
    raw: &str,
) -> ApiResult<ledger::Account> {
    let id = account_id("id", raw)?;
    let account = ledger::get_account(&state.pool, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("account", raw))?;
    if let Principal::Tenant { tenant_id, .. } = principal {
        match &account.tenant {
            Some(t) if t.as_str() == tenant_id => {
                principal.require_tenant(tenant_id, Scope::Read)?
            }
            _ => return Err(ApiError::not_found("account", raw)),
        }
    }
    Ok(account)
}

#[derive(Deserialize)]
pub struct AsOf {
    as_of: Option<DateTime<Utc>>,
}

pub async fn get_account(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<AsOf>,
) -> ApiResult<Json<Value>> {
    let account = visible_account(&state, &principal, &id).await?;
    let balances = match q.as_of {
        None => account.balances,
        Some(at) => ledger::balances_as_of(&state.pool, &account.id, at)
            .await?
            .ok_or_else(|| ApiError::not_found("account", &id))?,
    };
    let mut body = balances_json(account.id.as_str(), account.asset.as_str(), &balances);
    body["tenant"] = json!(account.tenant.as_ref().map(|t| t.as_str()));
    body["as_of"] = json!(q.as_of);
    Ok(Json(body))
}

#[derive(Deserialize)]
pub struct Page {
    cursor: Option<String>,
    limit: Option<u32>,
}

pub async fn entries(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<Page>,
) -> ApiResult<Json<Value>> {
    let account = visible_account(&state, &principal, &id).await?;
    let cursor = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => Some(
            EntryCursor::parse(c).map_err(|e| ApiError::invalid_field("cursor", e.to_string()))?,
        ),
        None => None,
    };
    let page = ledger::list_entries(&state.pool, &account.id, cursor, q.limit.unwrap_or(100))
        .await?
        .ok_or_else(|| ApiError::not_found("account", &id))?;
    let data: Vec<Value> = page
        .entries
        .iter()
        .map(|e| {
            json!({
                "seq": e.seq, "transfer_id": e.transfer_id.as_str(), "kind": e.kind.as_str(),
                "side": match e.side { ledger::Side::Debit => "debit", ledger::Side::Credit => "credit" },
                "counterparty": e.counterparty.as_str(), "amount": amount_json(e.amount),
                "balance_after": e.balances_after.balance().to_string(),
                "available_after": e.balances_after.available().to_string(),
                "metadata": e.metadata, "created_at": e.created_at,
            })
        })
        .collect();
    Ok(Json(
        json!({ "data": data, "next_cursor": page.next_cursor.map(|c| c.to_string()) }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransfersInput {
    transfers: Vec<Map<String, Value>>,
}

fn str_field<'a>(t: &'a Map<String, Value>, prefix: &str, name: &str) -> ApiResult<&'a str> {
    t.get(name).and_then(Value::as_str).ok_or_else(|| {
        ApiError::invalid_field(&format!("{prefix}.{name}"), "is required (a string)")
    })
}

fn parse_transfer(i: usize, t: &Map<String, Value>) -> ApiResult<NewTransfer> {
    let p = format!("transfers[{i}]");
    const KNOWN: &[&str] = &[
        "id",
        "debit_account",
        "credit_account",
        "amount",
        "pending",
        "timeout_s",
        "linked",
        "metadata",
    ];
    if let Some(unknown) = t.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(ApiError::invalid_field(
            &format!("{p}.{unknown}"),
            "is not a transfer field",
        ));
    }
    let flag = |name: &str| -> ApiResult<bool> {
        match t.get(name) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(ApiError::invalid_field(
                &format!("{p}.{name}"),
                "must be true or false",
            )),
        }
    };
    let id = transfer_id(&format!("{p}.id"), str_field(t, &p, "id")?)?;
    let debit = account_id(
        &format!("{p}.debit_account"),
        str_field(t, &p, "debit_account")?,
    )?;
    let credit = account_id(
        &format!("{p}.credit_account"),
        str_field(t, &p, "credit_account")?,
    )?;
    let amount = parse_amount(
        &format!("{p}.amount"),
        t.get("amount").unwrap_or(&Value::Null),
    )?;
    let kind = if flag("pending")? {
        let timeout_s = match t.get("timeout_s") {
            None | Some(Value::Null) => 0,
            Some(v) => v
                .as_u64()
                .and_then(|s| u32::try_from(s).ok())
                .ok_or_else(|| {
                    ApiError::invalid_field(
                        &format!("{p}.timeout_s"),
                        "must be a whole number of seconds",
                    )
                })?,
        };
        TransferKind::Pending {
            debit,
            credit,
            amount,
            timeout_s,
        }
    } else {
        TransferKind::Posted {
            debit,
            credit,
            amount,
        }
    };
    Ok(NewTransfer {
        id,
        kind,
        linked: flag("linked")?,
        metadata: t.get("metadata").cloned(),
    })
}

fn results_json(ids: &[&str], results: &[TransferResult]) -> Value {
    let results: Vec<Value> = ids
        .iter()
        .zip(results)
        .map(|(id, r)| json!({ "id": id, "result": r.as_str() }))
        .collect();
    json!({ "results": results })
}

pub async fn create_transfers(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<TransfersInput>,
) -> ApiResult<Json<Value>> {
    principal.require_owner(None)?;
    if input.transfers.len() > ledger::MAX_BATCH {
        return Err(ApiError::invalid_field(
            "transfers",
            format!("at most {} transfers per request", ledger::MAX_BATCH),
        ));
    }
    let transfers = input
        .transfers
        .iter()
        .enumerate()
        .map(|(i, t)| parse_transfer(i, t))
        .collect::<ApiResult<Vec<_>>>()?;
    let results = ledger::create_transfers(&state.pool, &transfers).await?;
    let ids: Vec<&str> = transfers.iter().map(|t| t.id.as_str()).collect();
    Ok(Json(results_json(&ids, &results)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PostInput {
    amount: Option<Value>,
}

/// Resolving a pending transfer is itself a transfer, with a reserved id derived from the
/// pending one (`~post:<id>`, `~void:<id>`), so a retried call answers `exists`.
fn resolved(pending: &str, result: TransferResult) -> Json<Value> {
    Json(json!({ "results": [{ "id": pending, "result": result.as_str() }] }))
}

pub async fn post_pending(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    principal.require_owner(None)?;
    let input: PostInput = if body.iter().all(u8::is_ascii_whitespace) {
        PostInput::default()
    } else {
        super::extract::parse_json(&body)?
    };
    let amount = match input.amount {
        Some(v) => Some(parse_amount("amount", &v)?),
        None => None,
    };
    let pending_id = transfer_id("id", &id)?;
    let result = ledger::post_pending(&state.pool, &pending_id, amount, Utc::now()).await?;
    Ok(resolved(&id, result))
}

pub async fn void_pending(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    principal.require_owner(None)?;
    let pending_id = transfer_id("id", &id)?;
    let result = ledger::void_pending(&state.pool, &pending_id, Utc::now()).await?;
    Ok(resolved(&id, result))
}

fn ledger_tenant(id: &str) -> ApiResult<ledger::TenantId> {
    ledger::TenantId::parse(id).map_err(|e| ApiError::invalid_field("tenant", e.to_string()))
}

pub async fn wallet(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    load(&state, &principal, &id, Scope::Read).await?;
    let w = ledger::wallet(&state.pool, &ledger_tenant(&id)?, Utc::now()).await?;
    let grants: Vec<Value> = w
        .grants
        .iter()
        .map(|g| json!({ "id": g.id, "amount": amount_json(g.amount), "remaining": amount_json(g.remaining), "expires_at": g.expires_at }))
        .collect();
    Ok(Json(json!({
        "asset": w.asset.as_str(), "available": amount_json(w.available), "granted": amount_json(w.granted),
        "purchased": amount_json(w.purchased), "pending": amount_json(w.pending), "grants": grants,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopUpInput {
    id: String,
    amount: Value,
    reason: Option<String>,
}

pub async fn top_up(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<TopUpInput>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    principal.require_owner(Some(&id))?;
    load(&state, &principal, &id, Scope::Admin).await?;
    let amount = parse_amount("amount", &input.amount)?;
    let top_up_id = transfer_id("id", &input.id)?;
    let tenant = ledger_tenant(&id)?;
    ledger::open_wallet(&state.pool, &tenant).await?;
    let result = ledger::top_up(
        &state.pool,
        &tenant,
        &top_up_id,
        amount,
        input.reason.as_deref(),
        Utc::now(),
    )
    .await?;
    // Pays tokens the wallet could not cover and resumes a tenant suspended for them.
    let resumed = crate::charging::settle(&state.pool, &id, Utc::now())
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?;
    let status = if result == TransferResult::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({ "id": input.id, "result": result.as_str(), "tenant_resumed": resumed })),
    ))
}
