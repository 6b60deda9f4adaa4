//! The rules of one transfer: validation, idempotency, balance limits, two-phase resolution.

use chrono::Duration;

use crate::amount::Amount;
use crate::balances::Balances;
use crate::ids::{AccountId, TransferId};
use crate::machine::{Kind, Machine, Op, Request, StoredTransfer, Undo};
use crate::transfer::{TransferKind, TransferResult as R};

type Step = crate::Result<R>;

impl Machine {
    /// Applies one request; returns its result code (state changes only on `Created`).
    pub(crate) fn apply(&mut self, req: &Request) -> Step {
        if let Op::Reject(result) = req.op {
            return Ok(result);
        }
        if let Some(existing) = self.transfers.get(&req.id) {
            return Ok(if self.same_fields(existing, req) {
                R::Exists
            } else {
                R::ExistsWithDifferentFields
            });
        }
        match &req.op {
            Op::Transfer(TransferKind::Posted {
                debit,
                credit,
                amount,
            }) => self.open(req, debit, credit, *amount, None),
            Op::Transfer(TransferKind::Pending {
                debit,
                credit,
                amount,
                timeout_s,
            }) => self.open(req, debit, credit, *amount, Some(*timeout_s)),
            Op::Transfer(TransferKind::PostPending { pending_id, amount }) => {
                self.resolve(req, pending_id, Kind::Post, *amount)
            }
            Op::Transfer(TransferKind::VoidPending { pending_id }) => {
                self.resolve(req, pending_id, Kind::Void, None)
            }
            Op::Expire { pending_id } => self.resolve(req, pending_id, Kind::Expire, None),
            Op::Reject(result) => Ok(*result),
        }
    }

    fn same_fields(&self, e: &StoredTransfer, req: &Request) -> bool {
        if e.metadata != req.metadata {
            return false;
        }
        let same_pending = |p: &TransferId| e.pending_id.as_ref() == Some(p);
        match &req.op {
            Op::Transfer(TransferKind::Posted {
                debit,
                credit,
                amount,
            }) => {
                e.kind == Kind::Posted
                    && e.debit == *debit
                    && e.credit == *credit
                    && e.amount == *amount
            }
            Op::Transfer(TransferKind::Pending {
                debit,
                credit,
                amount,
                timeout_s,
            }) => {
                e.kind == Kind::Pending
                    && e.debit == *debit
                    && e.credit == *credit
                    && e.amount == *amount
                    && e.timeout_s == *timeout_s
            }
            Op::Transfer(TransferKind::PostPending { pending_id, amount }) => {
                let full = || self.transfers.get(pending_id).map(|p| p.amount);
                e.kind == Kind::Post
                    && same_pending(pending_id)
                    && match amount {
                        Some(a) => e.amount == *a,
                        None => full() == Some(e.amount),
                    }
            }
            Op::Transfer(TransferKind::VoidPending { pending_id }) => {
                e.kind == Kind::Void && same_pending(pending_id)
            }
            Op::Expire { pending_id } => e.kind == Kind::Expire && same_pending(pending_id),
            Op::Reject(_) => false,
        }
    }

    /// A posted (`timeout_s: None`) or pending transfer between two accounts.
    fn open(
        &mut self,
        req: &Request,
        debit: &AccountId,
        credit: &AccountId,
        amount: Amount,
        timeout_s: Option<u32>,
    ) -> Step {
        if debit == credit {
            return Ok(R::AccountsMustBeDifferent);
        }
        if amount.is_zero() {
            return Ok(R::AmountMustNotBeZero);
        }
        let (Some(&dr), Some(&cr)) = (self.index.get(debit), self.index.get(credit)) else {
            return Ok(R::AccountNotFound);
        };
        if self.accounts[dr].asset != self.accounts[cr].asset {
            return Ok(R::AssetMismatch);
        }
        let expires_at = match timeout_s {
            Some(0) | None => None,
            Some(s) => match self.now.checked_add_signed(Duration::seconds(i64::from(s))) {
                Some(t) => Some(t),
                None => return Ok(R::OverflowsTimeout),
            },
        };
        let pending = timeout_s.is_some();
        let (d, c) = (self.accounts[dr].balances, self.accounts[cr].balances);
        let Some(d2) = add_side(d, amount, pending, Side::Debit) else {
            return Ok(R::OverflowsDebits);
        };
        let Some(c2) = add_side(c, amount, pending, Side::Credit) else {
            return Ok(R::OverflowsCredits);
        };
        // Sums fit: add_side bounded posted + pending by Amount::MAX.
        let d_total = d2.debits_posted.get() + d2.debits_pending.get();
        if self.accounts[dr].flags.debits_must_not_exceed_credits
            && d_total > d2.credits_posted.get()
        {
            return Ok(R::ExceedsCredits);
        }
        let c_total = c2.credits_posted.get() + c2.credits_pending.get();
        if self.accounts[cr].flags.credits_must_not_exceed_debits
            && c_total > c2.debits_posted.get()
        {
            return Ok(R::ExceedsDebits);
        }
        let kind = if pending { Kind::Pending } else { Kind::Posted };
        let stored = StoredTransfer {
            id: req.id.clone(),
            kind,
            debit: debit.clone(),
            credit: credit.clone(),
            amount,
            pending_id: None,
            timeout_s: timeout_s.unwrap_or(0),
            expires_at,
            metadata: req.metadata.clone(),
            resolution: None,
        };
        self.commit(stored, (dr, d2), (cr, c2));
        Ok(R::Created)
    }

    /// Posts, voids or expires a pending transfer.
    fn resolve(
        &mut self,
        req: &Request,
        pending_id: &TransferId,
        kind: Kind,
        amount: Option<Amount>,
    ) -> Step {
        let Some(p) = self.transfers.get(pending_id) else {
            return Ok(R::PendingTransferNotFound);
        };
        if p.kind != Kind::Pending {
            return Ok(R::PendingTransferNotPending);
        }
        match p.resolution {
            Some(Kind::Post) => return Ok(R::PendingTransferAlreadyPosted),
            Some(Kind::Void) => return Ok(R::PendingTransferAlreadyVoided),
            Some(_) => return Ok(R::PendingTransferExpired),
            None => {}
        }
        if kind != Kind::Expire && p.expires_at.is_some_and(|t| t <= self.now) {
            return Ok(R::PendingTransferExpired);
        }
        let held = p.amount;
        let posted = match (kind, amount) {
            (Kind::Post, Some(a)) if a.is_zero() => return Ok(R::AmountMustNotBeZero),
            (Kind::Post, Some(a)) if a > held => return Ok(R::ExceedsPendingTransferAmount),
            (Kind::Post, Some(a)) => a,
            (Kind::Post, None) => held,
            _ => Amount::ZERO,
        };
        let (Some(&dr), Some(&cr)) = (self.index.get(&p.debit), self.index.get(&p.credit)) else {
            return Err(crate::error::corrupt(format!(
                "accounts of pending transfer {pending_id} not locked"
            )));
        };
        let (d, c) = (self.accounts[dr].balances, self.accounts[cr].balances);
        let Some(d2) = release_side(d, held, posted, Side::Debit) else {
            return Ok(R::OverflowsDebits);
        };
        let Some(c2) = release_side(c, held, posted, Side::Credit) else {
            return Ok(R::OverflowsCredits);
        };
        let stored = StoredTransfer {
            id: req.id.clone(),
            kind,
            debit: p.debit.clone(),
            credit: p.credit.clone(),
            amount: if kind == Kind::Post { posted } else { held },
            pending_id: Some(pending_id.clone()),
            timeout_s: 0,
            expires_at: None,
            metadata: req.metadata.clone(),
            resolution: None,
        };
        if let Some(p) = self.transfers.get_mut(pending_id) {
            p.resolution = Some(kind);
        }
        self.undo.push(Undo::Resolved(pending_id.clone()));
        self.commit(stored, (dr, d2), (cr, c2));
        Ok(R::Created)
    }

    /// Records a created transfer, its two entries and the new balances (with undo).
    fn commit(&mut self, t: StoredTransfer, debit: (usize, Balances), credit: (usize, Balances)) {
        let position = self.created.len();
        self.undo.push(Undo::Created(t.id.clone()));
        self.created.push(t.id.clone());
        self.transfers.insert(t.id.clone(), t);
        for (i, balances) in [debit, credit] {
            let a = &mut self.accounts[i];
            self.undo.push(Undo::Account(i, a.balances, a.last_seq));
            a.balances = balances;
            a.last_seq += 1;
            self.entries.push((i, a.last_seq, position, balances));
        }
    }
}

#[derive(Clone, Copy)]
enum Side {
    Debit,
    Credit,
}

/// Adds `amount` to one side's posted or pending counter; `None` if posted + pending would
/// exceed `Amount::MAX`.
fn add_side(b: Balances, amount: Amount, pending: bool, side: Side) -> Option<Balances> {
    let mut b2 = b;
    let (posted, held) = match side {
        Side::Debit => (&mut b2.debits_posted, &mut b2.debits_pending),
        Side::Credit => (&mut b2.credits_posted, &mut b2.credits_pending),
    };
    if pending {
        *held = held.checked_add(amount)?;
    } else {
        *posted = posted.checked_add(amount)?;
    }
    posted.checked_add(*held)?;
    Some(b2)
}

/// Releases `held` from one side's pending counter and posts `posted` (0 for void/expire).
fn release_side(b: Balances, held: Amount, posted: Amount, side: Side) -> Option<Balances> {
    let mut b2 = b;
    let (p, h) = match side {
        Side::Debit => (&mut b2.debits_posted, &mut b2.debits_pending),
        Side::Credit => (&mut b2.credits_posted, &mut b2.credits_pending),
    };
    *h = h.checked_sub(held)?;
    *p = p.checked_add(posted)?;
    Some(b2)
}
