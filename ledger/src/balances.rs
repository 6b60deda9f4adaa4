//! An account's four counters and the balances derived from them.

use crate::amount::Amount;

/// Posted and pending debits and credits of one account. Sign convention: an account's
/// `balance` is credits − debits (credit-normal), so a funded wallet has a positive balance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Balances {
    pub debits_posted: Amount,
    pub credits_posted: Amount,
    pub debits_pending: Amount,
    pub credits_pending: Amount,
}

impl Balances {
    /// credits_posted − debits_posted.
    pub fn balance(&self) -> i128 {
        i128::from(self.credits_posted.get()) - i128::from(self.debits_posted.get())
    }

    /// balance − debits_pending: what can still be spent, holds counted (blnk #181).
    pub fn available(&self) -> i128 {
        self.balance() - i128::from(self.debits_pending.get())
    }

    /// Reads the four counters from their `bigint` columns.
    pub(crate) fn from_db(dp: i64, cp: i64, dpend: i64, cpend: i64) -> crate::Result<Self> {
        Ok(Balances {
            debits_posted: Amount::from_db(dp, "debits_posted")?,
            credits_posted: Amount::from_db(cp, "credits_posted")?,
            debits_pending: Amount::from_db(dpend, "debits_pending")?,
            credits_pending: Amount::from_db(cpend, "credits_pending")?,
        })
    }
}
