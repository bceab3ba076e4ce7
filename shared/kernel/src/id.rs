//! Validated identifiers (ARCHITECTURE.md §8.2): once built, they are valid.

use std::fmt;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The value is empty.
    #[error("must not be empty")]
    Empty,
    /// The value is longer than allowed.
    #[error("must be at most {max} characters, got {len}")]
    TooLong {
        /// The limit.
        max: usize,
        /// The length given.
        len: usize,
    },
    /// The value contains a control character.
    #[error("must not contain control characters")]
    ControlCharacter,
    /// A numeric id is zero or negative.
    #[error("must be greater than 0, got {0}")]
    NotPositive(i64),
}

/// The longest user id, order id, request id or business number accepted.
pub const MAX_TEXT_ID_LEN: usize = 64;

fn text_id(value: &str) -> Result<(), IdError> {
    let len = value.chars().count();
    if len == 0 {
        return Err(IdError::Empty);
    }
    if len > MAX_TEXT_ID_LEN {
        return Err(IdError::TooLong { max: MAX_TEXT_ID_LEN, len });
    }
    if value.chars().any(char::is_control) {
        return Err(IdError::ControlCharacter);
    }
    Ok(())
}

macro_rules! text_id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Validates `value`: 1–64 characters, no control characters.
            pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                text_id(&value)?;
                Ok(Self(value))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The identifier as an owned string.
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

text_id_type!(
    /// A user id.
    UserId
);
text_id_type!(
    /// A raffle order id (or a recharge order id).
    OrderId
);
text_id_type!(
    /// A caller-chosen idempotency key: `request_id` or `out_business_no`.
    BusinessNo
);

/// Validates a numeric id (activity, strategy, sku, award): it must be > 0.
pub fn positive_id(value: i64) -> Result<i64, IdError> {
    if value > 0 { Ok(value) } else { Err(IdError::NotPositive(value)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_id_limits() {
        assert!(UserId::parse("xiaofuge").is_ok());
        assert!(UserId::parse("用户".repeat(32)).is_ok(), "64 characters, not bytes");
        assert_eq!(UserId::parse(""), Err(IdError::Empty));
        assert_eq!(UserId::parse("a".repeat(65)), Err(IdError::TooLong { max: 64, len: 65 }));
        assert_eq!(UserId::parse("a\nb"), Err(IdError::ControlCharacter));
        assert_eq!(UserId::parse("a\u{0}b"), Err(IdError::ControlCharacter));
    }

    #[test]
    fn numeric_ids_must_be_positive() {
        assert_eq!(positive_id(100_301), Ok(100_301));
        assert_eq!(positive_id(0), Err(IdError::NotPositive(0)));
        assert_eq!(positive_id(-5), Err(IdError::NotPositive(-5)));
    }
}
