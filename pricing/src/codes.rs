//! Code newtypes (`PlanCode`, `MeterCode`, `RegionCode`), built only by parsing.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::PricingError;

/// Lower-case identifier rules shared by plan and meter codes: `[a-z][a-z0-9_]{0,63}`.
fn check_identifier(kind: &'static str, value: &str) -> Result<(), PricingError> {
    let invalid = |reason| PricingError::InvalidCode {
        kind,
        value: value.to_owned(),
        reason,
    };
    if value.is_empty() || value.len() > 64 {
        return Err(invalid("must be 1 to 64 characters"));
    }
    if !value.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(invalid("must start with a lower-case letter"));
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(invalid("may hold only a-z, 0-9 and _"));
    }
    Ok(())
}

macro_rules! code_newtype {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses and validates a code; the only way to build one.
            pub fn parse(value: &str) -> Result<Self, PricingError> {
                let check: fn(&str) -> Result<String, PricingError> = $check;
                check(value).map($name)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = PricingError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(code: $name) -> String {
                code.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = PricingError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}

code_newtype!(
    /// A plan code such as `pro` or `org_growth`.
    PlanCode,
    "plan",
    |v| check_identifier("plan", v).map(|()| v.to_owned())
);

code_newtype!(
    /// A meter code such as `ai_tokens` or `workflow_runs`.
    MeterCode,
    "meter",
    |v| check_identifier("meter", v).map(|()| v.to_owned())
);

code_newtype!(
    /// A pricing region: an ISO 3166 alpha-2 code (plus `EU`), stored upper-case.
    RegionCode,
    "region",
    |v| {
        if v.len() == 2 && v.chars().all(|c| c.is_ascii_alphabetic()) {
            Ok(v.to_ascii_uppercase())
        } else {
            Err(PricingError::InvalidCode {
                kind: "region",
                value: v.to_owned(),
                reason: "must be two ASCII letters (ISO 3166 alpha-2)",
            })
        }
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_parse_and_reject() {
        assert_eq!(PlanCode::parse("org_pro").unwrap().as_str(), "org_pro");
        assert!(PlanCode::parse("Pro").is_err());
        assert!(MeterCode::parse("").is_err());
        assert!(MeterCode::parse("ai-tokens").is_err());
        assert_eq!(RegionCode::parse("in").unwrap().as_str(), "IN");
        assert!(RegionCode::parse("IND").is_err());
    }
}
