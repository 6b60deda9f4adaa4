//! Transfer requests and their TigerBeetle-style result codes.

use std::fmt;

use serde_json::Value;

use crate::amount::Amount;
use crate::ids::{AccountId, TransferId};

/// Most transfers in one batch call (TigerBeetle's batch size).
pub const MAX_BATCH: usize = 8190;

/// What a transfer does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransferKind {
    /// Single-phase: moves `amount` at once.
    Posted {
        debit: AccountId,
        credit: AccountId,
        amount: Amount,
    },
    /// Two-phase, first phase: reserves `amount` (counts as pending debits/credits) until
    /// posted, voided or expired `timeout_s` seconds later (0 = never expires).
    Pending {
        debit: AccountId,
        credit: AccountId,
        amount: Amount,
        timeout_s: u32,
    },
    /// Posts a pending transfer, fully (`None`) or partially; the rest is released.
    PostPending {
        pending_id: TransferId,
        amount: Option<Amount>,
    },
    /// Voids a pending transfer, releasing all of it.
    VoidPending { pending_id: TransferId },
}

/// One transfer of a batch. `id` is the idempotency key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTransfer {
    pub id: TransferId,
    pub kind: TransferKind,
    /// Links this transfer to the next: a run of linked transfers ending at the first
    /// unlinked one commits all or nothing.
    pub linked: bool,
    pub metadata: Option<Value>,
}

impl NewTransfer {
    /// A single-phase, unlinked transfer without metadata.
    pub fn posted(id: TransferId, debit: AccountId, credit: AccountId, amount: Amount) -> Self {
        NewTransfer {
            id,
            kind: TransferKind::Posted {
                debit,
                credit,
                amount,
            },
            linked: false,
            metadata: None,
        }
    }
}

macro_rules! results {
    ($($variant:ident => $code:literal,)*) => {
        /// The outcome of one transfer, in request order. `Created` and `Exists` are
        /// successes; everything else left the ledger unchanged for that transfer.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum TransferResult { $($variant,)* }

        impl TransferResult {
            /// The stable snake_case code of the contract.
            pub fn as_str(self) -> &'static str {
                match self { $(TransferResult::$variant => $code,)* }
            }

            /// Every code, for documentation and exhaustive tests.
            pub const ALL: &'static [TransferResult] = &[$(TransferResult::$variant,)*];
        }
    };
}

results! {
    Created => "created",
    Exists => "exists",
    ExistsWithDifferentFields => "exists_with_different_fields",
    ReservedId => "reserved_id",
    LinkedEventFailed => "linked_event_failed",
    LinkedEventChainOpen => "linked_event_chain_open",
    AccountsMustBeDifferent => "accounts_must_be_different",
    AmountMustNotBeZero => "amount_must_not_be_zero",
    AccountNotFound => "account_not_found",
    AssetMismatch => "asset_mismatch",
    PendingTransferNotFound => "pending_transfer_not_found",
    PendingTransferNotPending => "pending_transfer_not_pending",
    PendingTransferAlreadyPosted => "pending_transfer_already_posted",
    PendingTransferAlreadyVoided => "pending_transfer_already_voided",
    PendingTransferExpired => "pending_transfer_expired",
    ExceedsPendingTransferAmount => "exceeds_pending_transfer_amount",
    ExceedsCredits => "exceeds_credits",
    ExceedsDebits => "exceeds_debits",
    OverflowsDebits => "overflows_debits",
    OverflowsCredits => "overflows_credits",
    OverflowsTimeout => "overflows_timeout",
}

impl TransferResult {
    /// `Created` or `Exists`: the transfer is in the ledger.
    pub fn is_ok(self) -> bool {
        matches!(self, TransferResult::Created | TransferResult::Exists)
    }
}

impl fmt::Display for TransferResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
