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
    /// A code holds a character outside `A-Z a-z 0-9 _ -`.
    #[error("must contain only A-Z, a-z, 0-9, '_' and '-'")]
    NotCodeCharacter,
}

/// The longest user id, order id, request id or business number accepted.
pub const MAX_TEXT_ID_LEN: usize = 64;

/// The rule of every text identifier: 1–64 characters, no control characters.
pub fn text_id(value: &str) -> Result<(), IdError> {
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

/// The longest stage channel or source code (`raffle_activity_stage.channel VARCHAR(8)`).
pub const MAX_STAGE_CODE_LEN: usize = 8;

/// A channel or source code of the activity stage (spec §5 `raffle_activity_stage`, e.g.
/// `c01`, `s01`): 1–8 characters of `A-Z a-z 0-9 _ -`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StageCode(String);

impl StageCode {
    /// Validates `value`: 1–8 characters of `A-Z a-z 0-9 _ -`.
    pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        let len = value.chars().count();
        if len == 0 {
            return Err(IdError::Empty);
        }
        if len > MAX_STAGE_CODE_LEN {
            return Err(IdError::TooLong { max: MAX_STAGE_CODE_LEN, len });
        }
        if !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(IdError::NotCodeCharacter);
        }
        Ok(Self(value))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StageCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

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
    fn stage_code_limits() {
        assert_eq!(StageCode::parse("c01").unwrap().as_str(), "c01");
        assert!(StageCode::parse("Ab_-0123").is_ok(), "8 characters of the allowed set");
        assert_eq!(StageCode::parse(""), Err(IdError::Empty));
        assert_eq!(StageCode::parse("c01234567"), Err(IdError::TooLong { max: 8, len: 9 }));
        for bad in ["c 01", "c/01", "渠道", "c01\n", "c.01"] {
            assert_eq!(StageCode::parse(bad), Err(IdError::NotCodeCharacter), "{bad:?}");
        }
    }

    #[test]
    fn numeric_ids_must_be_positive() {
        assert_eq!(positive_id(100_301), Ok(100_301));
        assert_eq!(positive_id(0), Err(IdError::NotPositive(0)));
        assert_eq!(positive_id(-5), Err(IdError::NotPositive(-5)));
    }
}
