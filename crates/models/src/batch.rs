//! Splitting batch inserts under PostgreSQL's bind-parameter limit.

use std::collections::HashMap;

use uuid::Uuid;

use crate::error::{Error, Result};

/// Most bind parameters PostgreSQL accepts in one statement (a 16-bit count).
pub const MAX_BIND_PARAMS: usize = 65_535;

/// Most rows one `INSERT` can carry when each row binds `params_per_row` values.
pub const fn rows_per_statement(params_per_row: usize) -> usize {
    match MAX_BIND_PARAMS.checked_div(params_per_row) {
        Some(rows) => rows,
        None => MAX_BIND_PARAMS,
    }
}

/// `rows` in slices small enough for one `INSERT` each.
pub fn chunks<T>(rows: &[T], params_per_row: usize) -> std::slice::Chunks<'_, T> {
    rows.chunks(rows_per_statement(params_per_row))
}

/// `rows` arranged in the order of `ids`, one per id (repeated ids repeat the row).
pub(crate) fn in_order<T: Clone>(
    ids: &[Uuid],
    rows: Vec<T>,
    id_of: impl Fn(&T) -> Uuid,
    entity: &'static str,
) -> Result<Vec<T>> {
    let by_id: HashMap<Uuid, T> = rows.into_iter().map(|row| (id_of(&row), row)).collect();
    ids.iter()
        .map(|id| {
            by_id
                .get(id)
                .cloned()
                .ok_or_else(|| Error::not_found(entity, id))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_stay_under_the_limit_and_keep_every_row() {
        let rows: Vec<u32> = (0..20_000).collect();
        let chunks: Vec<&[u32]> = chunks(&rows, 8).collect();
        assert!(chunks
            .iter()
            .all(|chunk| chunk.len() * 8 <= MAX_BIND_PARAMS));
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks.concat(), rows);
    }
}
