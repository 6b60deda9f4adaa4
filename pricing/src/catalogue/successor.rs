//! Whether a new catalogue may replace the one in force without rewriting the past.

use std::collections::BTreeMap;
use std::fmt::Display;

use chrono::{DateTime, Utc};

use super::Catalogue;
use crate::error::PricingError;
use crate::versioned::Versioned;

fn rewrite(entry: impl Display, reason: &str) -> PricingError {
    PricingError::CatalogueInvalid {
        entry: entry.to_string(),
        field: "versions".into(),
        reason: reason.into(),
    }
}

/// The versions of `old` and `new` that started at or before `now` must be identical.
fn same_past<T: PartialEq>(
    entry: impl Display,
    old: &Versioned<T>,
    new: Option<&Versioned<T>>,
    now: DateTime<Utc>,
) -> Result<(), PricingError> {
    let Some(new) = new else {
        return Err(rewrite(entry, "is in force and may not be removed"));
    };
    let past = |v: &'_ Versioned<T>| v.iter().filter(|(from, _)| *from <= now).count();
    let equal = past(old) == past(new)
        && old
            .iter()
            .filter(|(from, _)| *from <= now)
            .zip(new.iter().filter(|(from, _)| *from <= now))
            .all(|((fa, va), (fb, vb))| fa == fb && va == vb);
    if !equal {
        return Err(rewrite(
            entry,
            "changes a version already in force; add a new version with a later effective_from",
        ));
    }
    Ok(())
}

fn check_all<K: Ord + Display, E, T: PartialEq>(
    old: &BTreeMap<K, E>,
    new: &BTreeMap<K, E>,
    versions: impl Fn(&E) -> &Versioned<T>,
    now: DateTime<Utc>,
) -> Result<(), PricingError> {
    for (code, entry) in old {
        same_past(code, versions(entry), new.get(code).map(&versions), now)?;
    }
    Ok(())
}

impl Catalogue {
    /// Checks that `next` keeps every plan, meter, region version and FX rate that is already
    /// in force at `now` exactly as it is: changes may only start in the future, and new
    /// entries may be added.
    pub fn check_successor(
        &self,
        next: &Catalogue,
        now: DateTime<Utc>,
    ) -> Result<(), PricingError> {
        check_all(&self.plans, &next.plans, |p| &p.versions, now)?;
        check_all(&self.meters, &next.meters, |m| &m.versions, now)?;
        check_all(&self.regions, &next.regions, |r| &r.versions, now)?;
        let today = now.date_naive();
        for (currency, rates) in &self.fx.rates {
            let past = |r: &&crate::catalogue::region::FxRate| r.as_of <= today;
            let old: Vec<_> = rates.iter().filter(past).collect();
            let new: Vec<_> = next
                .fx
                .rates
                .get(currency)
                .map(|r| r.iter().filter(past).collect())
                .unwrap_or_default();
            if old != new {
                return Err(rewrite(
                    format!("fx {}", currency.code()),
                    "changes a rate already published; add a rate with a later as_of",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EMBEDDED_CATALOGUE_TOML;

    fn now() -> DateTime<Utc> {
        "2026-11-22T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn an_identical_or_future_dated_change_is_accepted() {
        let c = Catalogue::embedded().unwrap();
        c.check_successor(&Catalogue::embedded().unwrap(), now())
            .unwrap();
        let future =
            EMBEDDED_CATALOGUE_TOML.replace("version = \"2026-01\"", "version = \"2027-01\"");
        c.check_successor(&Catalogue::from_toml_str(&future).unwrap(), now())
            .unwrap();
    }

    #[test]
    fn a_change_to_a_price_in_force_is_refused() {
        let c = Catalogue::embedded().unwrap();
        let first = EMBEDDED_CATALOGUE_TOML
            .find("rate = \"83.50\"")
            .expect("the INR rate is in the catalogue");
        let mut edited = EMBEDDED_CATALOGUE_TOML.to_string();
        edited.replace_range(first..first + "rate = \"83.50\"".len(), "rate = \"90.00\"");
        let next = Catalogue::from_toml_str(&edited).unwrap();
        assert!(matches!(
            c.check_successor(&next, now()),
            Err(PricingError::CatalogueInvalid { .. })
        ));
    }
}
