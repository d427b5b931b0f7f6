//! A duration given on the command line in seconds, decimals allowed.

use std::{fmt, str::FromStr, time::Duration};

/// A duration in seconds, decimals allowed (`0.5`); at most a day. Shown as
/// seconds, so that a default taken from the engine's constants shows as it would be typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(pub Duration);

impl FromStr for Seconds {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let seconds: f64 = text
            .parse()
            .map_err(|_| format!("{text:?} is not a number of seconds"))?;
        match Duration::try_from_secs_f64(seconds) {
            Ok(duration) if duration <= Duration::from_secs(86_400) => Ok(Self(duration)),
            _ => Err(format!("{text:?} is not between 0 and 86400 seconds")),
        }
    }
}

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_read_back_as_they_are_shown() {
        for text in ["2", "1", "30", "0.5", "0"] {
            let seconds: Seconds = text.parse().unwrap();
            assert_eq!(seconds.to_string(), text);
        }
        assert_eq!(
            "0.25".parse::<Seconds>(),
            Ok(Seconds(Duration::from_millis(250)))
        );
        assert!("-1".parse::<Seconds>().is_err());
        assert!("86401".parse::<Seconds>().is_err());
        assert!("soon".parse::<Seconds>().is_err());
    }
}
