//! Validated identifiers: account and transfer ids, asset codes, tenant ids.

use std::fmt;

use crate::error::{LedgerError, Result};

/// Longest id a client may choose (system ids derived from client ids may be longer).
pub const MAX_CLIENT_ID_LEN: usize = 128;
/// Longest id the schema stores.
pub(crate) const MAX_STORED_ID_LEN: usize = 256;
/// Ids starting with this are minted by the ledger itself (system and wallet accounts,
/// wallet transfers); clients cannot create them through the raw API.
pub const RESERVED_PREFIX: char = '~';

fn check_id(field: &'static str, s: &str, max: usize) -> Result<()> {
    let len = s.chars().count();
    let reason = if len == 0 {
        "must not be empty".to_string()
    } else if len > max {
        format!("must be at most {max} characters")
    } else if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        "must not contain whitespace or control characters".to_string()
    } else {
        return Ok(());
    };
    Err(LedgerError::Invalid { field, reason })
}

macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Parses a client-chosen id: 1..=128 characters, no whitespace or control
            /// characters. Ids starting with `~` parse (to look system ids up) but are
            /// refused on creation.
            pub fn parse(s: &str) -> Result<Self> {
                check_id($field, s, MAX_CLIENT_ID_LEN)?;
                Ok(Self(s.to_string()))
            }

            /// A ledger-minted id (starts with `~`).
            pub(crate) fn system(s: String) -> Result<Self> {
                check_id($field, &s, MAX_STORED_ID_LEN)?;
                Ok(Self(s))
            }

            /// An id read back from the database.
            pub(crate) fn from_db(s: String) -> Self {
                Self(s)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Whether the id is in the ledger's reserved namespace.
            pub fn is_reserved(&self) -> bool {
                self.0.starts_with(RESERVED_PREFIX)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_id!(
    /// An account id, chosen by the client.
    AccountId,
    "account id"
);
text_id!(
    /// A transfer id: also its idempotency key.
    TransferId,
    "transfer id"
);

/// An asset code from the asset registry (`TOKEN`, `USD`, ...).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AssetCode(String);

impl AssetCode {
    /// Parses `^[A-Z][A-Z0-9_]{0,15}$`; whether it is registered is checked on use.
    pub fn parse(s: &str) -> Result<Self> {
        let ok = (1..=16).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_uppercase())
            && s.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !ok {
            return Err(LedgerError::Invalid {
                field: "asset",
                reason: "must match [A-Z][A-Z0-9_]{0,15}".into(),
            });
        }
        Ok(Self(s.to_string()))
    }

    /// The asset of tenant wallets.
    pub fn token() -> Self {
        Self("TOKEN".into())
    }

    pub(crate) fn from_db(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AssetCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tenant id as the ledger stores it (plain text, no foreign key): 1..=64 characters of
/// `[A-Za-z0-9_.-]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    pub fn parse(s: &str) -> Result<Self> {
        let ok = (1..=64).contains(&s.len())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !ok {
            return Err(LedgerError::Invalid {
                field: "tenant",
                reason: "must be 1..=64 characters of [A-Za-z0-9_.-]".into(),
            });
        }
        Ok(Self(s.to_string()))
    }

    pub(crate) fn from_db(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
