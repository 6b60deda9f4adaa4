//! A deliberately simple in-memory model of the ledger's transfer semantics, and a fresh
//! database helper, shared by the ledger property tests.
#![allow(dead_code)]

use std::collections::HashMap;

use ledger::TransferResult as R;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

/// A UUID-named database with the migrations applied, dropped by `drop_db`.
pub struct FreshDb {
    pub pool: PgPool,
    admin: PgConnectOptions,
    name: String,
}

impl FreshDb {
    pub async fn create() -> FreshDb {
        let url =
            std::env::var("DATABASE_URL").expect("DATABASE_URL (eval \"$(scripts/stack env)\")");
        let admin: PgConnectOptions = url.parse().expect("DATABASE_URL");
        let name = format!("ledger_props_{}", uuid::Uuid::new_v4().simple());
        let mut conn = admin.connect().await.expect("connect");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create database");
        conn.close().await.expect("close");
        let pool = PgPoolOptions::new()
            .max_connections(12)
            .connect_with(admin.clone().database(&name))
            .await
            .expect("connect to fresh database");
        sqlx::migrate!("../migrations")
            .run(&pool)
            .await
            .expect("migrations");
        FreshDb { pool, admin, name }
    }

    pub async fn drop_db(self) {
        self.pool.close().await;
        let mut conn = self.admin.connect().await.expect("connect");
        sqlx::query(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .execute(&mut conn)
            .await
            .expect("drop database");
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MKind {
    Posted {
        dr: String,
        cr: String,
        amount: u64,
    },
    Pending {
        dr: String,
        cr: String,
        amount: u64,
        timeout_s: u32,
    },
    Post {
        pending: String,
        amount: Option<u64>,
    },
    Void {
        pending: String,
    },
}

#[derive(Clone, Debug)]
pub struct MOp {
    pub id: String,
    pub kind: MKind,
    pub linked: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MAcc {
    pub asset: u8,
    pub no_overdraft: bool,
    pub dp: u64,
    pub cp: u64,
    pub dh: u64,
    pub ch: u64,
}

#[derive(Clone, Debug)]
struct MTransfer {
    kind: MKind,
    /// For post: the posted amount; for pending: expiry (seconds) and resolution.
    posted: u64,
    expires_at: Option<i64>,
    resolved: Option<R>,
}

#[derive(Clone, Debug, Default)]
pub struct Model {
    pub accounts: HashMap<String, MAcc>,
    transfers: HashMap<String, MTransfer>,
}

impl Model {
    /// Applies a batch at time `now` (seconds); linked chains all or nothing.
    pub fn apply(&mut self, batch: &[MOp], now: i64) -> Vec<R> {
        let mut results = vec![R::LinkedEventFailed; batch.len()];
        let mut i = 0;
        while i < batch.len() {
            // A batch ending inside a chain: its last transfer fails with chain_open.
            let (end, open) = match (i..batch.len()).find(|&j| !batch[j].linked) {
                Some(end) => (end, false),
                None => (batch.len() - 1, true),
            };
            let saved = self.clone();
            for j in i..=end {
                let r = if open && j == end {
                    R::LinkedEventChainOpen
                } else {
                    self.apply_one(&batch[j], now)
                };
                results[j] = r;
                if !matches!(r, R::Created | R::Exists) {
                    if end > i {
                        *self = saved;
                        for (k, result) in results.iter_mut().enumerate().take(end + 1).skip(i) {
                            if k != j {
                                *result = R::LinkedEventFailed;
                            }
                        }
                    }
                    break;
                }
            }
            if open {
                results[end] = R::LinkedEventChainOpen;
            }
            i = end + 1;
        }
        results
    }

    fn apply_one(&mut self, op: &MOp, now: i64) -> R {
        if let Some(t) = self.transfers.get(&op.id) {
            let same = match (&t.kind, &op.kind) {
                (
                    MKind::Post {
                        pending,
                        amount: Some(_),
                    },
                    MKind::Post {
                        pending: p2,
                        amount: None,
                    },
                ) => {
                    pending == p2
                        && self.transfers.get(pending).map(|p| p.kind.amount()) == Some(t.posted)
                }
                (
                    MKind::Post {
                        pending,
                        amount: None,
                    },
                    MKind::Post {
                        pending: p2,
                        amount: Some(a),
                    },
                ) => pending == p2 && *a == t.posted,
                (a, b) => a == b,
            };
            return if same {
                R::Exists
            } else {
                R::ExistsWithDifferentFields
            };
        }
        match op.kind.clone() {
            MKind::Posted { dr, cr, amount } => self.open(op, &dr, &cr, amount, None, now),
            MKind::Pending {
                dr,
                cr,
                amount,
                timeout_s,
            } => self.open(op, &dr, &cr, amount, Some(timeout_s), now),
            MKind::Post { pending, amount } => self.resolve(op, &pending, Some(amount), now),
            MKind::Void { pending } => self.resolve(op, &pending, None, now),
        }
    }

    fn open(
        &mut self,
        op: &MOp,
        dr: &str,
        cr: &str,
        amount: u64,
        timeout: Option<u32>,
        now: i64,
    ) -> R {
        if dr == cr {
            return R::AccountsMustBeDifferent;
        }
        if amount == 0 {
            return R::AmountMustNotBeZero;
        }
        let (Some(d), Some(c)) = (
            self.accounts.get(dr).copied(),
            self.accounts.get(cr).copied(),
        ) else {
            return R::AccountNotFound;
        };
        if d.asset != c.asset {
            return R::AssetMismatch;
        }
        let (mut d, mut c) = (d, c);
        if timeout.is_some() {
            d.dh += amount;
            c.ch += amount;
        } else {
            d.dp += amount;
            c.cp += amount;
        }
        if d.no_overdraft && d.dp + d.dh > d.cp {
            return R::ExceedsCredits;
        }
        self.accounts.insert(dr.to_string(), d);
        self.accounts.insert(cr.to_string(), c);
        let expires_at = timeout.filter(|t| *t > 0).map(|t| now + i64::from(t));
        self.transfers.insert(
            op.id.clone(),
            MTransfer {
                kind: op.kind.clone(),
                posted: amount,
                expires_at,
                resolved: None,
            },
        );
        R::Created
    }

    /// `post: Some(amount)` posts, `None` voids.
    fn resolve(&mut self, op: &MOp, pending: &str, post: Option<Option<u64>>, now: i64) -> R {
        let Some(p) = self.transfers.get(pending).cloned() else {
            return R::PendingTransferNotFound;
        };
        let MKind::Pending {
            dr,
            cr,
            amount: held,
            ..
        } = p.kind
        else {
            return R::PendingTransferNotPending;
        };
        if let Some(r) = p.resolved {
            return r;
        }
        if p.expires_at.is_some_and(|t| t <= now) {
            return R::PendingTransferExpired;
        }
        let posted = match post {
            Some(Some(0)) => return R::AmountMustNotBeZero,
            Some(Some(a)) if a > held => return R::ExceedsPendingTransferAmount,
            Some(Some(a)) => a,
            Some(None) => held,
            None => 0,
        };
        self.release(&dr, &cr, held, posted);
        let done = if post.is_some() {
            R::PendingTransferAlreadyPosted
        } else {
            R::PendingTransferAlreadyVoided
        };
        if let Some(p) = self.transfers.get_mut(pending) {
            p.resolved = Some(done);
        }
        self.transfers.insert(
            op.id.clone(),
            MTransfer {
                kind: op.kind.clone(),
                posted,
                expires_at: None,
                resolved: None,
            },
        );
        R::Created
    }

    fn release(&mut self, dr: &str, cr: &str, held: u64, posted: u64) {
        let d = self.accounts.get_mut(dr).expect("debit account");
        d.dh -= held;
        d.dp += posted;
        let c = self.accounts.get_mut(cr).expect("credit account");
        c.ch -= held;
        c.cp += posted;
    }

    /// The sweeper: every unresolved pending transfer due at `now` expires.
    pub fn sweep(&mut self, now: i64) {
        let mut due: Vec<String> = self
            .transfers
            .iter()
            .filter(|(_, t)| t.resolved.is_none() && t.expires_at.is_some_and(|e| e <= now))
            .map(|(id, _)| id.clone())
            .collect();
        due.sort();
        for id in due {
            let t = self.transfers[&id].clone();
            if let MKind::Pending { dr, cr, amount, .. } = t.kind {
                self.release(&dr, &cr, amount, 0);
                if let Some(t) = self.transfers.get_mut(&id) {
                    t.resolved = Some(R::PendingTransferExpired);
                }
            }
        }
    }
}

impl MKind {
    fn amount(&self) -> u64 {
        match self {
            MKind::Posted { amount, .. } | MKind::Pending { amount, .. } => *amount,
            _ => 0,
        }
    }
}
