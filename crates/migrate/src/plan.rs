//! Which migrations a command touches, from the known versions and the applied ones.
//!
//! Both lists are in ascending version order; the plans are indices into `known`.

use crate::{error::MigrateError, options::Target, source::version_of, Result};

/// The pending migrations in order, up to and including version `to`.
pub(crate) fn to_apply(
    known: &[String],
    applied: &[String],
    to: Option<&str>,
) -> Result<Vec<usize>> {
    let last = to.map(|to| known_version(known, applied, to)).transpose()?;
    Ok((0..known.len())
        .filter(|&i| last.as_ref().is_none_or(|last| known[i] <= *last))
        .filter(|&i| !applied.contains(&known[i]))
        .collect())
}

/// The applied migrations `target` names, latest first.
pub(crate) fn to_revert(
    known: &[String],
    applied: &[String],
    target: &Target,
) -> Result<Vec<usize>> {
    let latest_first = applied.iter().rev();
    let chosen: Vec<&String> = match target {
        Target::Last(n) => latest_first.take(*n).collect(),
        Target::All => latest_first.collect(),
        Target::To(to) => {
            let to = known_version(known, applied, to)?;
            latest_first.filter(|version| **version > to).collect()
        }
    };
    chosen
        .into_iter()
        .map(|version| {
            known
                .iter()
                .position(|known| known == version)
                .ok_or_else(|| MigrateError::UnknownApplied {
                    version: version.clone(),
                })
        })
        .collect()
}

/// `version` in Diesel's form (dashes and name dropped), when it is known or applied.
fn known_version(known: &[String], applied: &[String], version: &str) -> Result<String> {
    let wanted = version_of(version);
    if known.contains(&wanted) || applied.contains(&wanted) {
        return Ok(wanted);
    }
    Err(MigrateError::UnknownVersion {
        version: version.to_owned(),
        known: known.join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(list: &[&str]) -> Vec<String> {
        list.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn up_applies_pending_in_order_and_stops_at_to() {
        let known = versions(&["1", "2", "3", "4"]);
        let applied = versions(&["1"]);
        assert_eq!(to_apply(&known, &applied, None).unwrap(), [1, 2, 3]);
        assert_eq!(to_apply(&known, &applied, Some("3")).unwrap(), [1, 2]);
        assert!(matches!(
            to_apply(&known, &applied, Some("9")),
            Err(MigrateError::UnknownVersion { .. })
        ));
    }

    #[test]
    fn versions_may_be_written_with_dashes_or_as_directory_names() {
        let known = versions(&["20251007000001", "20251007000002"]);
        let plan = to_apply(&known, &[], Some("2025-10-07-000001_create_x")).unwrap();
        assert_eq!(plan, [0]);
    }

    #[test]
    fn down_reverts_latest_first() {
        let known = versions(&["1", "2", "3"]);
        let applied = versions(&["1", "2", "3"]);
        assert_eq!(to_revert(&known, &applied, &Target::Last(1)).unwrap(), [2]);
        assert_eq!(
            to_revert(&known, &applied, &Target::Last(9)).unwrap(),
            [2, 1, 0]
        );
        assert_eq!(
            to_revert(&known, &applied, &Target::All).unwrap(),
            [2, 1, 0]
        );
        assert_eq!(
            to_revert(&known, &applied, &Target::To("1".into())).unwrap(),
            [2, 1]
        );
    }

    #[test]
    fn reverting_a_migration_the_source_lacks_is_refused() {
        let known = versions(&["1"]);
        let applied = versions(&["1", "2"]);
        assert!(matches!(
            to_revert(&known, &applied, &Target::Last(1)),
            Err(MigrateError::UnknownApplied { version }) if version == "2"
        ));
    }
}
