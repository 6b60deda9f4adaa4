//! Effective-dated history of a catalogue entry: a change starts a new version, never edits an old one.

use chrono::{DateTime, Utc};

/// Versions of one entry, ordered by strictly increasing `effective_from`.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    versions: Vec<(DateTime<Utc>, T)>,
}

impl<T> Versioned<T> {
    /// Builds a history; `None` if it is empty or the dates are not strictly increasing.
    pub(crate) fn new(versions: Vec<(DateTime<Utc>, T)>) -> Option<Self> {
        let ordered = versions.windows(2).all(|w| w[0].0 < w[1].0);
        (ordered && !versions.is_empty()).then_some(Versioned { versions })
    }

    /// The version in force at `at`: the latest one whose `effective_from` is not after `at`.
    pub fn at(&self, at: DateTime<Utc>) -> Option<&T> {
        let in_force = self.versions.partition_point(|(from, _)| *from <= at);
        in_force.checked_sub(1).map(|i| &self.versions[i].1)
    }

    /// Every version with its start, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (DateTime<Utc>, &T)> {
        self.versions.iter().map(|(from, v)| (*from, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn picks_the_version_in_force() {
        let h = Versioned::new(vec![
            (t("2026-01-01T00:00:00Z"), "v1"),
            (t("2026-07-01T00:00:00Z"), "v2"),
        ])
        .unwrap();
        assert_eq!(h.at(t("2025-12-31T23:59:59Z")), None);
        assert_eq!(h.at(t("2026-01-01T00:00:00Z")), Some(&"v1"));
        assert_eq!(h.at(t("2026-06-30T23:59:59Z")), Some(&"v1"));
        assert_eq!(h.at(t("2026-07-01T00:00:00Z")), Some(&"v2"));
        assert!(Versioned::new(vec![
            (t("2026-01-01T00:00:00Z"), 1),
            (t("2026-01-01T00:00:00Z"), 2)
        ])
        .is_none());
    }
}
