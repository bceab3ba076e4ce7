//! What an award record is and how an award is handed out, by its `award_key`.

/// The state of a user award record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwardState {
    /// Recorded; not distributed yet.
    Create,
    /// Distributed (credited, or delivered to the external system).
    Completed,
    /// Distribution needs an operator; the record carries the reason.
    Parked,
}

impl AwardState {
    /// The stored form.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Completed => "completed",
            Self::Parked => "parked",
        }
    }
}

/// How an award is distributed, decided by its key (ARCHITECTURE.md §8.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// `user_credit_random`: a random credit in the config's range, in-house.
    RandomCredit,
    /// Awards another system fulfils (`openai_use_count`, `openai_model`): handed to the
    /// external delivery step.
    External,
}

impl Delivery {
    /// The delivery of `award_key`; `None` when nothing can deliver it (spec §14 bug 8:
    /// `user_credit_blacklist` and unknown keys had no distributor and were lost).
    pub fn of(award_key: &str) -> Option<Self> {
        match award_key {
            "user_credit_random" => Some(Self::RandomCredit),
            "openai_use_count" | "openai_model" => Some(Self::External),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_dispatch_to_their_delivery() {
        assert_eq!(Delivery::of("user_credit_random"), Some(Delivery::RandomCredit));
        assert_eq!(Delivery::of("openai_use_count"), Some(Delivery::External));
        assert_eq!(Delivery::of("openai_model"), Some(Delivery::External));
        assert_eq!(Delivery::of("user_credit_blacklist"), None);
        assert_eq!(Delivery::of(""), None);
    }
}
