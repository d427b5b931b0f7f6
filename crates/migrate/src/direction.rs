//! Whether a migration is applied or reverted.

use std::fmt;

/// Whether a migration is applied (`up.sql`) or reverted (`down.sql`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Running `up.sql`.
    Up,
    /// Running `down.sql`.
    Down,
}

impl Direction {
    /// The SQL file this direction runs.
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Up => "up.sql",
            Self::Down => "down.sql",
        }
    }

    /// What running it is called: `applying` or `reverting`.
    pub fn verb(self) -> &'static str {
        match self {
            Self::Up => "applying",
            Self::Down => "reverting",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Up => "up",
            Self::Down => "down",
        })
    }
}
