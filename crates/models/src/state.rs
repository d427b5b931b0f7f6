//! States and statuses, stored as the upper-case text their columns' CHECK
//! constraints accept.
//!
//! Each enum maps to `TEXT`/`VARCHAR` through Diesel's `ToSql`/`FromSql`, so
//! Rust can only write a documented value, and a value read back that this
//! crate does not know fails with [`Error::UnexpectedValue`]
//! naming it.

use std::{fmt, io::Write, str::FromStr};

use diesel::{
    deserialize::{self, FromSql},
    pg::{Pg, PgValue},
    serialize::{self, IsNull, Output, ToSql},
    sql_types::Text,
};

use crate::error::Error;

/// Declares a text-mapped enum: its variants, their stored text and the Diesel and
/// string conversions.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $what:literal {
            $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash,
            serde::Serialize, serde::Deserialize,
            diesel::AsExpression, diesel::FromSqlRow,
        )]
        #[diesel(sql_type = Text)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The text stored in the database.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(text: &str) -> Result<Self, Error> {
                match text {
                    $($text => Ok(Self::$variant),)+
                    other => Err(Error::UnexpectedValue {
                        what: $what,
                        value: other.to_owned(),
                    }),
                }
            }
        }

        impl ToSql<Text, Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                out.write_all(self.as_str().as_bytes())?;
                Ok(IsNull::No)
            }
        }

        impl FromSql<Text, Pg> for $name {
            fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
                let text = std::str::from_utf8(value.as_bytes())?;
                Ok(text.parse()?)
            }
        }
    };
}

text_enum! {
    /// State of a workflow execution (`workflow_executions.current_state`).
    WorkflowState, "workflow state" {
        /// Accepted, not started.
        Pending => "PENDING",
        /// Running.
        Processing => "PROCESSING",
        /// Finished successfully; terminal.
        Completed => "COMPLETED",
        /// Finished with an error; terminal.
        Failed => "FAILED",
    }
}

impl WorkflowState {
    /// Whether the workflow is finished: reaching this state sets `completed_at`.
    pub const fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }

    /// Whether the state machine allows a move from `self` to `to`:
    /// `PENDING` to `PROCESSING`, `COMPLETED` or `FAILED`; `PROCESSING` to
    /// `COMPLETED` or `FAILED`; nothing leaves a terminal state, and no state
    /// moves to itself.
    pub const fn can_move_to(self, to: Self) -> bool {
        matches!(
            (self, to),
            (
                Self::Pending,
                Self::Processing | Self::Completed | Self::Failed
            ) | (Self::Processing, Self::Completed | Self::Failed)
        )
    }

    /// Every state from which a move to `self` is allowed.
    pub fn allowed_from(self) -> Vec<Self> {
        Self::ALL
            .iter()
            .copied()
            .filter(|from| from.can_move_to(self))
            .collect()
    }
}

text_enum! {
    /// Status of a workflow step (`workflow_steps.status`).
    StepStatus, "step status" {
        /// Not started.
        Pending => "PENDING",
        /// Running.
        Running => "RUNNING",
        /// Finished successfully.
        Completed => "COMPLETED",
        /// Finished with an error.
        Failed => "FAILED",
    }
}

text_enum! {
    /// Health a node reports (`node_registrations.health_status`).
    HealthStatus, "health status" {
        /// Working normally.
        Healthy => "HEALTHY",
        /// Working with reduced capacity.
        Degraded => "DEGRADED",
        /// Not working.
        Unhealthy => "UNHEALTHY",
        /// Not reported yet; the column default.
        Unknown => "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_unknown_text_is_named() {
        for state in WorkflowState::ALL {
            assert_eq!(state.as_str().parse::<WorkflowState>().unwrap(), *state);
        }
        for status in StepStatus::ALL {
            assert_eq!(status.to_string().parse::<StepStatus>().unwrap(), *status);
        }
        let err = "paused".parse::<HealthStatus>().unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"unexpected health status "paused" read from the database"#
        );
    }

    #[test]
    fn the_workflow_state_machine_allows_only_forward_moves() {
        use WorkflowState::*;
        let allowed = [
            (Pending, Processing),
            (Pending, Completed),
            (Pending, Failed),
            (Processing, Completed),
            (Processing, Failed),
        ];
        for from in WorkflowState::ALL {
            for to in WorkflowState::ALL {
                assert_eq!(
                    from.can_move_to(*to),
                    allowed.contains(&(*from, *to)),
                    "{from} -> {to}"
                );
            }
        }
        assert_eq!(Completed.allowed_from(), vec![Pending, Processing]);
        assert!(Pending.allowed_from().is_empty());
    }

    #[test]
    fn serde_uses_the_stored_text() {
        let json = serde_json::to_string(&WorkflowState::Processing).unwrap();
        assert_eq!(json, r#""PROCESSING""#);
        let back: HealthStatus = serde_json::from_str(r#""DEGRADED""#).unwrap();
        assert_eq!(back, HealthStatus::Degraded);
    }
}
