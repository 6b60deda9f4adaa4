//! Helpers shared by the ledger's integration tests.
#![allow(dead_code)]

use ledger::{
    AccountFlags, AccountId, Amount, AssetCode, NewAccount, NewTransfer, TransferId, TransferKind,
};
use sqlx::PgPool;

pub fn acc(s: &str) -> AccountId {
    AccountId::parse(s).unwrap()
}

pub fn tid(s: &str) -> TransferId {
    TransferId::parse(s).unwrap()
}

pub fn amt(v: u64) -> Amount {
    Amount::new(v).unwrap()
}

pub async fn open(pool: &PgPool, id: &str, asset: &str, no_overdraft: bool) {
    let r = ledger::create_accounts(
        pool,
        &[NewAccount {
            id: acc(id),
            tenant: None,
            asset: AssetCode::parse(asset).unwrap(),
            flags: AccountFlags {
                debits_must_not_exceed_credits: no_overdraft,
                credits_must_not_exceed_debits: false,
            },
            metadata: None,
        }],
    )
    .await
    .unwrap();
    assert_eq!(r[0], ledger::CreateAccountResult::Created);
}

pub fn posted(id: &str, dr: &str, cr: &str, amount: u64) -> NewTransfer {
    NewTransfer::posted(tid(id), acc(dr), acc(cr), amt(amount))
}

pub fn pending(id: &str, dr: &str, cr: &str, amount: u64, timeout_s: u32) -> NewTransfer {
    NewTransfer {
        id: tid(id),
        kind: TransferKind::Pending {
            debit: acc(dr),
            credit: acc(cr),
            amount: amt(amount),
            timeout_s,
        },
        linked: false,
        metadata: None,
    }
}

pub fn linked(mut t: NewTransfer) -> NewTransfer {
    t.linked = true;
    t
}

pub async fn balance(pool: &PgPool, id: &str) -> i128 {
    ledger::get_account(pool, &acc(id))
        .await
        .unwrap()
        .unwrap()
        .balances
        .balance()
}
