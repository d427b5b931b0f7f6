//! Telling PostgreSQL's `lock_timeout` (SQLSTATE 55P03) from other failures of a migration.
//!
//! diesel-async hands a server error on without its SQLSTATE (it keeps the
//! message, detail, hint, table, column and constraint), and Diesel's
//! harness wraps it in an error type it does not export. The message is
//! what is left, and PostgreSQL translates messages as `lc_messages` says:
//! [`untranslated_messages`] asks the server for untranslated ones, and warns
//! when it may not (only superusers, or roles granted `SET` on
//! `lc_messages`, may change it) and they are translated.

use diesel::{
    connection::SimpleConnection, result::Error as DieselError, sql_types::Text, QueryableByName,
    RunQueryDsl,
};

use crate::runtime::SyncPgConnection;

/// PostgreSQL's message when `lock_timeout` fires (SQLSTATE 55P03, `lock_not_available`).
pub(crate) const LOCK_TIMEOUT_MESSAGE: &str = "canceling statement due to lock timeout";

/// Whether `err`, a migration step's failure, is the server's lock timeout.
pub(crate) fn is_lock_timeout(err: &(dyn std::error::Error + 'static)) -> bool {
    if let Some(DieselError::DatabaseError(_, info)) = err.downcast_ref::<DieselError>() {
        return info.message() == LOCK_TIMEOUT_MESSAGE;
    }
    // Diesel's harness error: "Failed to run <version> with: <message>".
    let text = err.to_string();
    text == LOCK_TIMEOUT_MESSAGE
        || (text.starts_with("Failed to run ")
            && text.ends_with(&format!(" with: {LOCK_TIMEOUT_MESSAGE}")))
}

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    value: String,
}

/// Makes the session's server messages untranslated where they are not, so
/// that [`is_lock_timeout`] recognises them; warns when the server refuses.
pub(crate) fn untranslated_messages(conn: &mut SyncPgConnection) {
    let current = diesel::sql_query("SELECT current_setting('lc_messages') AS value")
        .get_result::<Setting>(conn)
        .map(|setting| setting.value)
        .unwrap_or_default();
    if is_untranslated(&current) || conn.batch_execute("SET lc_messages TO 'C'").is_ok() {
        return;
    }
    tracing::warn!(
        "the server's messages are in {current:?} and this role may not change lc_messages: a \
         migration whose lock_timeout fires fails at once instead of being retried"
    );
}

/// Whether `lc_messages` leaves messages in English.
fn is_untranslated(lc_messages: &str) -> bool {
    let lc = lc_messages.to_ascii_lowercase();
    lc.is_empty() || lc == "c" || lc == "posix" || lc.starts_with("c.") || lc.starts_with("en")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_and_c_locales_leave_messages_untranslated() {
        for lc in ["", "C", "C.UTF-8", "POSIX", "en_US.UTF-8"] {
            assert!(is_untranslated(lc), "{lc}");
        }
        assert!(!is_untranslated("de_DE.UTF-8"));
    }

    #[test]
    fn the_harness_wrapping_of_a_lock_timeout_is_recognised() {
        let wrapped = format!("Failed to run 20300101000001 with: {LOCK_TIMEOUT_MESSAGE}");
        let err: Box<dyn std::error::Error + Send + Sync> = wrapped.into();
        assert!(is_lock_timeout(&*err));
        let other: Box<dyn std::error::Error + Send + Sync> =
            "Failed to run 20300101000001 with: relation \"x\" does not exist".into();
        assert!(!is_lock_timeout(&*other));
    }
}
