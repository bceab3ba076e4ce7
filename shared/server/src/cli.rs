//! The binaries' command line: `<binary> [serve|migrate|seed|reset-demo]`. Everything else
//! is configuration (`BM_CONFIG` file and `BM_*` environment variables).

use std::fmt;

/// What a binary was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Run migrations (unless `database.migrate = false`) and serve gRPC (the default).
    Serve,
    /// Apply the migrations and exit.
    Migrate,
    /// Apply the migrations, load the demo data (idempotent) and exit.
    Seed,
    /// Apply the migrations, put the demo data back to its initial state (deletes every
    /// user's rows and the service's Redis keys; refuses a database that holds more than
    /// the demo configuration) and exit. docs/operations.md, "Resetting the demo".
    ResetDemo,
}

/// An unknown argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown argument {:?}; usage: <binary> [serve|migrate|seed|reset-demo] \
             (configuration comes from BM_CONFIG and BM_* variables)",
            self.0
        )
    }
}

impl std::error::Error for UsageError {}

impl Command {
    /// Parses the arguments after the program name.
    pub fn parse(mut args: impl Iterator<Item = String>) -> Result<Self, UsageError> {
        let command = match args.next().as_deref() {
            None | Some("serve") => Self::Serve,
            Some("migrate") => Self::Migrate,
            Some("seed") => Self::Seed,
            Some("reset-demo") => Self::ResetDemo,
            Some(other) => return Err(UsageError(other.to_owned())),
        };
        match args.next() {
            Some(extra) => Err(UsageError(extra)),
            None => Ok(command),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, UsageError> {
        Command::parse(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn commands() {
        assert_eq!(parse(&[]), Ok(Command::Serve));
        assert_eq!(parse(&["serve"]), Ok(Command::Serve));
        assert_eq!(parse(&["migrate"]), Ok(Command::Migrate));
        assert_eq!(parse(&["seed"]), Ok(Command::Seed));
        assert_eq!(parse(&["reset-demo"]), Ok(Command::ResetDemo));
        assert_eq!(parse(&["reset_demo"]), Err(UsageError("reset_demo".into())));
        assert_eq!(parse(&["reset-demo", "--yes"]), Err(UsageError("--yes".into())));
        assert_eq!(parse(&["--port"]), Err(UsageError("--port".into())));
        assert_eq!(parse(&["seed", "x"]), Err(UsageError("x".into())));
    }

    #[test]
    fn usage_names_every_command() {
        let usage = UsageError("x".into()).to_string();
        assert!(usage.contains("[serve|migrate|seed|reset-demo]"), "{usage}");
    }
}
