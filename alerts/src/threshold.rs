//! Quota thresholds (70, 85, 95 and 100 % of a limit) and which ones a change of usage crosses.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A share of a limit that raises an alert when usage first reaches it in a period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum Threshold {
    P70,
    P85,
    P95,
    P100,
}

impl Threshold {
    /// Every threshold, lowest first.
    pub const ALL: [Threshold; 4] = [
        Threshold::P70,
        Threshold::P85,
        Threshold::P95,
        Threshold::P100,
    ];

    /// The percentage, as in the event body (`70`, `85`, `95`, `100`).
    pub fn percent(self) -> u8 {
        match self {
            Threshold::P70 => 70,
            Threshold::P85 => 85,
            Threshold::P95 => 95,
            Threshold::P100 => 100,
        }
    }

    /// The threshold for a percentage, if it is one of the four.
    pub fn from_percent(percent: u8) -> Option<Threshold> {
        Threshold::ALL.into_iter().find(|t| t.percent() == percent)
    }

    /// Whether `used` has reached this share of `limit`.
    ///
    /// Zero usage reaches nothing, so a zero limit is crossed (all four thresholds at once) by
    /// the first positive usage, not by the limit's mere existence. `limit × percent / 100`
    /// never exceeds `limit` in magnitude, so the multiplication cannot overflow; if it ever
    /// failed the threshold would read as never reached, which keeps [`crossed`] monotone.
    pub fn reached(self, limit: Decimal, used: Decimal) -> bool {
        let share = Decimal::new(i64::from(self.percent()), 2);
        used > Decimal::ZERO && limit.checked_mul(share).is_some_and(|level| used >= level)
    }
}

impl From<Threshold> for u8 {
    fn from(t: Threshold) -> u8 {
        t.percent()
    }
}

impl TryFrom<u8> for Threshold {
    type Error = String;

    fn try_from(percent: u8) -> Result<Self, Self::Error> {
        Threshold::from_percent(percent).ok_or_else(|| format!("{percent} is not a threshold"))
    }
}

/// The thresholds newly reached when usage goes from `used_before` to `used_after`, lowest
/// first. A single jump can cross several; a decrease (a correction) crosses none.
///
/// Monotone by construction: for `a ≤ b ≤ c`, `crossed(a, c)` is the disjoint union of
/// `crossed(a, b)` and `crossed(b, c)`, because "reached" only ever turns on as usage grows.
pub fn crossed(limit: Decimal, used_before: Decimal, used_after: Decimal) -> Vec<Threshold> {
    Threshold::ALL
        .into_iter()
        .filter(|t| !t.reached(limit, used_before) && t.reached(limit, used_after))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Threshold::*;

    fn check(limit: &str, before: &str, after: &str, expected: &[Threshold]) {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(
            crossed(d(limit), d(before), d(after)),
            expected,
            "limit {limit}, {before} -> {after}"
        );
    }

    #[test]
    fn table() {
        check("1000", "0", "699", &[]);
        check("1000", "0", "700", &[P70]);
        check("1000", "699.999", "700", &[P70]);
        check("1000", "700", "701", &[]);
        check("1000", "700", "850", &[P85]);
        check("1000", "600", "1000", &[P70, P85, P95, P100]);
        check("1000", "600", "5000", &[P70, P85, P95, P100]);
        check("1000", "960", "999.99", &[]);
        check("1000", "960", "1000", &[P100]);
        check("1000", "1000", "2000", &[]);
        check("1000", "900", "800", &[]);
        check("1000", "1200", "0", &[]);
        check("3", "2", "2.1", &[P70]);
        check("0.0001", "0", "0.00007", &[P70]);
        check("0", "0", "0", &[]);
        check("0", "0", "1", &[P70, P85, P95, P100]);
        check("0", "1", "2", &[]);
    }

    #[test]
    fn percent_round_trips() {
        for t in Threshold::ALL {
            assert_eq!(Threshold::from_percent(t.percent()), Some(t));
            assert_eq!(serde_json::to_string(&t).unwrap(), t.percent().to_string());
        }
        assert_eq!(Threshold::from_percent(50), None);
    }
}
