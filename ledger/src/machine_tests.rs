//! Unit tests of the batch state machine (no database).

use chrono::{TimeZone, Utc};

use crate::account::AccountFlags;
use crate::balances::Balances;
use crate::ids::{AccountId, AssetCode, TransferId};
use crate::machine::{AccountState, Machine, Op, Request};
use crate::transfer::{TransferKind, TransferResult as R};
use crate::Amount;

fn account(id: &str, asset: &str, no_overdraft: bool) -> AccountState {
    AccountState {
        id: AccountId::parse(id).unwrap(),
        asset: AssetCode::parse(asset).unwrap(),
        flags: AccountFlags {
            debits_must_not_exceed_credits: no_overdraft,
            credits_must_not_exceed_debits: false,
        },
        balances: Balances::default(),
        last_seq: 0,
    }
}

fn req(id: &str, linked: bool, kind: TransferKind) -> Request {
    Request {
        id: TransferId::parse(id).unwrap(),
        op: Op::Transfer(kind),
        linked,
        metadata: None,
    }
}

fn posted(id: &str, dr: &str, cr: &str, amount: u64) -> Request {
    req(
        id,
        false,
        TransferKind::Posted {
            debit: AccountId::parse(dr).unwrap(),
            credit: AccountId::parse(cr).unwrap(),
            amount: Amount::new(amount).unwrap(),
        },
    )
}

fn pending(id: &str, dr: &str, cr: &str, amount: u64, timeout_s: u32) -> Request {
    req(
        id,
        false,
        TransferKind::Pending {
            debit: AccountId::parse(dr).unwrap(),
            credit: AccountId::parse(cr).unwrap(),
            amount: Amount::new(amount).unwrap(),
            timeout_s,
        },
    )
}

fn post(id: &str, p: &str, amount: Option<u64>) -> Request {
    req(
        id,
        false,
        TransferKind::PostPending {
            pending_id: TransferId::parse(p).unwrap(),
            amount: amount.map(|a| Amount::new(a).unwrap()),
        },
    )
}

fn void(id: &str, p: &str) -> Request {
    req(
        id,
        false,
        TransferKind::VoidPending {
            pending_id: TransferId::parse(p).unwrap(),
        },
    )
}

fn link(mut r: Request) -> Request {
    r.linked = true;
    r
}

/// Runs `batch` on accounts world (no flags), a and b (no overdraft), usd (USD); returns
/// results and the final balances of a and b.
fn check(batch: Vec<Request>, expected: &[R], balances: (i128, i128)) {
    let now = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
    let accounts = vec![
        account("world", "TOKEN", false),
        account("a", "TOKEN", true),
        account("b", "TOKEN", true),
        account("usd", "USD", false),
    ];
    let out = Machine::new(now, accounts, vec![]).run(&batch).unwrap();
    assert_eq!(out.results, expected);
    let bal = |i: usize| out.accounts[i].0.balances.balance();
    assert_eq!((bal(1), bal(2)), balances);
    let created = out.results.iter().filter(|r| **r == R::Created).count();
    assert_eq!(out.transfers.len(), created);
    assert_eq!(out.entries.len(), 2 * created);
}

#[test]
fn single_transfers() {
    use R::*;
    check(
        vec![posted("1", "world", "a", 10), posted("2", "a", "b", 11)],
        &[Created, ExceedsCredits],
        (10, 0),
    );
    check(
        vec![posted("1", "a", "a", 1), posted("2", "a", "b", 0)],
        &[AccountsMustBeDifferent, AmountMustNotBeZero],
        (0, 0),
    );
    check(
        vec![posted("1", "world", "x", 1), posted("2", "world", "usd", 1)],
        &[AccountNotFound, AssetMismatch],
        (0, 0),
    );
    check(
        vec![
            posted("1", "world", "a", 1),
            posted("1", "world", "a", 1),
            posted("1", "world", "a", 2),
        ],
        &[Created, Exists, ExistsWithDifferentFields],
        (1, 0),
    );
}

#[test]
fn linked_chains() {
    use R::*;
    check(
        vec![
            link(posted("1", "world", "a", 5)),
            link(posted("2", "a", "b", 5)),
            posted("3", "a", "b", 1),
            posted("4", "world", "b", 2),
        ],
        &[
            LinkedEventFailed,
            LinkedEventFailed,
            ExceedsCredits,
            Created,
        ],
        (0, 2),
    );
    check(
        vec![link(posted("1", "world", "a", 5)), posted("2", "a", "b", 5)],
        &[Created, Created],
        (0, 5),
    );
    check(
        vec![
            posted("0", "world", "a", 1),
            link(posted("1", "world", "a", 5)),
        ],
        &[Created, LinkedEventChainOpen],
        (1, 0),
    );
    // A failed chain does not consume its ids: the retry of id "1" is created.
    check(
        vec![
            link(posted("1", "world", "a", 5)),
            posted("2", "b", "a", 1),
            posted("1", "world", "a", 5),
        ],
        &[LinkedEventFailed, ExceedsCredits, Created],
        (5, 0),
    );
}

#[test]
fn two_phase() {
    use R::*;
    check(
        vec![
            posted("f", "world", "a", 10),
            pending("p", "a", "b", 8, 60),
            posted("x", "a", "b", 3),
            post("q", "p", Some(5)),
        ],
        &[Created, Created, ExceedsCredits, Created],
        (5, 5),
    );
    check(
        vec![
            posted("f", "world", "a", 10),
            pending("p", "a", "b", 8, 0),
            void("v", "p"),
            post("q", "p", None),
            void("v2", "p"),
        ],
        &[
            Created,
            Created,
            Created,
            PendingTransferAlreadyVoided,
            PendingTransferAlreadyVoided,
        ],
        (10, 0),
    );
    check(
        vec![
            posted("f", "world", "a", 10),
            pending("p", "a", "b", 8, 0),
            post("q", "p", Some(9)),
            post("r", "p", None),
            post("s", "p", None),
        ],
        &[
            Created,
            Created,
            ExceedsPendingTransferAmount,
            Created,
            PendingTransferAlreadyPosted,
        ],
        (2, 8),
    );
    check(
        vec![
            post("q", "nope", None),
            void("v", "f"),
            posted("f", "world", "a", 1),
            void("w", "f"),
        ],
        &[
            PendingTransferNotFound,
            PendingTransferNotFound,
            Created,
            PendingTransferNotPending,
        ],
        (1, 0),
    );
}
