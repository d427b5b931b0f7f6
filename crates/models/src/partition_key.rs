//! Caller-supplied ids of the partitioned audit tables must be UUIDv7.
//!
//! `fsm_transitions` and `metadata_stamps` are range-partitioned by `id`, one
//! partition per month of the time in the first 48 bits of a UUIDv7. Only a
//! UUIDv7 lands in the month it was made; any other id would fall into the
//! default partition (or a random month) and escape time-based retention.
//! Generated ids are UUIDv7 already ([`Uuid::now_v7`]); ids from callers are
//! checked here, before anything is sent.

use uuid::Uuid;

use crate::error::{Error, Result};

/// Refuses `id` unless it is absent (the API generates a UUIDv7) or a UUIDv7;
/// `field` names it in the error, e.g. `fsm_transitions.id`.
pub(crate) fn check(field: &str, id: Option<Uuid>) -> Result<()> {
    match id {
        Some(id) if id.get_version_num() != 7 => Err(Error::invalid(
            field,
            format!(
                "{id} is a UUIDv{}, but ids of the partitioned audit tables must be UUIDv7 \
                 (time-ordered, e.g. Uuid::now_v7()): the time in a UUIDv7 picks the monthly partition",
                id.get_version_num()
            ),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_uuid_v7_or_none_passes() {
        assert!(check("x.id", None).is_ok());
        assert!(check("x.id", Some(Uuid::now_v7())).is_ok());
        let err = check("fsm_transitions.id", Some(Uuid::new_v4())).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidValue { field, problem } if field == "fsm_transitions.id" && problem.contains("UUIDv4")),
            "{err:?}"
        );
        assert!(check("x.id", Some(Uuid::nil())).is_err());
    }
}
