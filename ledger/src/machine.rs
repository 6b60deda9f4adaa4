//! The batch state machine: applies a batch in request order to locked balances, in memory.
//!
//! Pure (no I/O), so it is unit-tested without a database. Linked chains record an undo log
//! and roll their in-memory effects back when any member fails.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::account::AccountFlags;
use crate::balances::Balances;
use crate::ids::{AccountId, AssetCode, TransferId};
use crate::transfer::{TransferKind, TransferResult};

/// What a stored transfer did (the `kind` column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Single-phase transfer.
    Posted,
    /// First phase of a two-phase transfer (a hold).
    Pending,
    /// Posted a pending transfer.
    Post,
    /// Voided a pending transfer.
    Void,
    /// Expired a pending transfer (the sweeper).
    Expire,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Posted => "posted",
            Kind::Pending => "pending",
            Kind::Post => "post",
            Kind::Void => "void",
            Kind::Expire => "expire",
        }
    }

    pub(crate) fn parse(s: &str) -> crate::Result<Self> {
        Ok(match s {
            "posted" => Kind::Posted,
            "pending" => Kind::Pending,
            "post" => Kind::Post,
            "void" => Kind::Void,
            "expire" => Kind::Expire,
            other => return Err(crate::error::corrupt(format!("transfer kind {other}"))),
        })
    }
}

/// What a request asks for: a client transfer, or the sweeper expiring a pending one.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    Transfer(TransferKind),
    Expire {
        pending_id: TransferId,
    },
    /// Refused before reaching the ledger (e.g. a reserved id); still takes part in chains.
    Reject(TransferResult),
}

#[derive(Clone, Debug)]
pub(crate) struct Request {
    pub id: TransferId,
    pub op: Op,
    pub linked: bool,
    pub metadata: Option<Value>,
}

/// A locked account as the machine sees it.
#[derive(Clone, Debug)]
pub(crate) struct AccountState {
    pub id: AccountId,
    pub asset: AssetCode,
    pub flags: AccountFlags,
    pub balances: Balances,
    pub last_seq: i64,
}

/// A transfer row, loaded or created by this batch; `resolution` is how a pending one ended.
#[derive(Clone, Debug)]
pub(crate) struct StoredTransfer {
    pub id: TransferId,
    pub kind: Kind,
    pub debit: AccountId,
    pub credit: AccountId,
    pub amount: crate::Amount,
    pub pending_id: Option<TransferId>,
    pub timeout_s: u32,
    pub expires_at: Option<DateTime<Utc>>,
    pub metadata: Option<Value>,
    pub resolution: Option<Kind>,
}

/// One new entry: `account` and `transfer` index `Outcome::accounts` / `Outcome::transfers`.
#[derive(Clone, Debug)]
pub(crate) struct EntryRow {
    pub account: usize,
    pub seq: i64,
    pub transfer: usize,
    pub balances: Balances,
}

/// What the batch did, ready to be written.
pub(crate) struct Outcome {
    pub results: Vec<TransferResult>,
    pub transfers: Vec<StoredTransfer>,
    pub entries: Vec<EntryRow>,
    /// Final state of every locked account, and whether this batch changed it.
    pub accounts: Vec<(AccountState, bool)>,
}

pub(crate) enum Undo {
    Account(usize, Balances, i64),
    Created(TransferId),
    Resolved(TransferId),
}

pub(crate) struct Machine {
    pub(crate) now: DateTime<Utc>,
    pub(crate) accounts: Vec<AccountState>,
    pub(crate) index: HashMap<AccountId, usize>,
    pub(crate) transfers: HashMap<TransferId, StoredTransfer>,
    pub(crate) created: Vec<TransferId>,
    pub(crate) entries: Vec<(usize, i64, usize, Balances)>,
    pub(crate) undo: Vec<Undo>,
}

impl Machine {
    pub(crate) fn new(
        now: DateTime<Utc>,
        accounts: Vec<AccountState>,
        transfers: Vec<StoredTransfer>,
    ) -> Self {
        let index = accounts
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id.clone(), i))
            .collect();
        let transfers = transfers.into_iter().map(|t| (t.id.clone(), t)).collect();
        Machine {
            now,
            accounts,
            index,
            transfers,
            created: Vec::new(),
            entries: Vec::new(),
            undo: Vec::new(),
        }
    }

    /// Applies `requests` in order; linked chains commit all or nothing.
    pub(crate) fn run(mut self, requests: &[Request]) -> crate::Result<Outcome> {
        let initial_seq: Vec<i64> = self.accounts.iter().map(|a| a.last_seq).collect();
        let mut results = vec![TransferResult::LinkedEventFailed; requests.len()];
        // (first index of the open chain, undo mark, created mark, entries mark)
        let mut chain: Option<(usize, usize, usize, usize)> = None;
        let mut chain_failed = false;
        for (i, req) in requests.iter().enumerate() {
            if req.linked && chain.is_none() {
                chain = Some((i, self.undo.len(), self.created.len(), self.entries.len()));
                chain_failed = false;
            }
            let last = i + 1 == requests.len();
            let result = if req.linked && last {
                TransferResult::LinkedEventChainOpen
            } else if chain_failed {
                TransferResult::LinkedEventFailed
            } else {
                self.apply(req)?
            };
            results[i] = result;
            if let (false, Some((start, undo, created, entries))) = (result.is_ok(), chain) {
                if !chain_failed {
                    self.rollback(undo, created, entries);
                    for r in &mut results[start..i] {
                        *r = TransferResult::LinkedEventFailed;
                    }
                    chain_failed = true;
                }
            }
            if !req.linked {
                chain = None;
                chain_failed = false;
            }
        }
        self.finish(results, &initial_seq)
    }

    fn rollback(&mut self, undo_mark: usize, created_mark: usize, entries_mark: usize) {
        while self.undo.len() > undo_mark {
            match self.undo.pop() {
                Some(Undo::Account(i, balances, seq)) => {
                    self.accounts[i].balances = balances;
                    self.accounts[i].last_seq = seq;
                }
                Some(Undo::Created(id)) => {
                    self.transfers.remove(&id);
                }
                Some(Undo::Resolved(id)) => {
                    if let Some(t) = self.transfers.get_mut(&id) {
                        t.resolution = None;
                    }
                }
                None => break,
            }
        }
        self.created.truncate(created_mark);
        self.entries.truncate(entries_mark);
    }

    fn finish(
        mut self,
        results: Vec<TransferResult>,
        initial_seq: &[i64],
    ) -> crate::Result<Outcome> {
        let mut transfers = Vec::with_capacity(self.created.len());
        for id in &self.created {
            let t = self
                .transfers
                .remove(id)
                .ok_or_else(|| crate::error::corrupt("created transfer vanished"))?;
            transfers.push(t);
        }
        let entries = self
            .entries
            .into_iter()
            .map(|(account, seq, transfer, balances)| EntryRow {
                account,
                seq,
                transfer,
                balances,
            })
            .collect();
        let accounts = self
            .accounts
            .into_iter()
            .zip(initial_seq)
            .map(|(a, seq0)| {
                let changed = a.last_seq != *seq0;
                (a, changed)
            })
            .collect();
        Ok(Outcome {
            results,
            transfers,
            entries,
            accounts,
        })
    }
}
