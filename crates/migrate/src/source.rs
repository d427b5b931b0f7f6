//! Where migrations come from: the set embedded at build time, or a directory on disk.

use std::{
    collections::HashMap,
    fmt::Write,
    fs,
    path::{Path, PathBuf},
    time::Duration,
};

use bridge_schema::{MIGRATIONS, MIGRATION_SQL};
use diesel::{
    migration::{Migration, MigrationSource as DieselMigrationSource},
    pg::Pg,
};
use diesel_migrations::FileBasedMigrations;
use sha2::{Digest, Sha256};

use crate::{direction::Direction, error::MigrateError, statement_timeout, Result};

/// Where to read migrations from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum MigrationSource {
    /// The migrations under `migrations/`, embedded in this binary at build time.
    #[default]
    Embedded,
    /// A Diesel-format migrations directory read at run time.
    Directory(PathBuf),
}

/// One migration: who it is, its SQL and checksum, and Diesel's runnable form of it.
pub struct Script {
    /// Diesel's version: the directory prefix without dashes, e.g. `20251007000001`.
    pub version: String,
    /// Directory name, e.g. `2025-10-07-000001_create_workflow_executions`.
    pub dir_name: String,
    /// The migration's directory, for messages (`migrations/<dir_name>` when embedded).
    pub path: PathBuf,
    /// Contents of `up.sql`.
    pub up_sql: String,
    /// Contents of `down.sql`, when the migration has one.
    pub down_sql: Option<String>,
    /// SHA-256 of `up.sql`, lower-case hex.
    pub checksum: String,
    /// The `statement_timeout` `up.sql` declares (`-- bridge-migrate: statement_timeout = 10min`).
    pub up_statement_timeout: Option<Duration>,
    /// The `statement_timeout` `down.sql` declares.
    pub down_statement_timeout: Option<Duration>,
    runnable: Box<dyn Migration<Pg>>,
}

impl std::fmt::Debug for Script {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Script")
            .field("version", &self.version)
            .field("dir_name", &self.dir_name)
            .field("path", &self.path)
            .field("checksum", &self.checksum)
            .finish_non_exhaustive()
    }
}

impl Script {
    /// The name after the version prefix, e.g. `create_workflow_executions`.
    pub fn name(&self) -> &str {
        self.dir_name
            .split_once('_')
            .map_or(self.dir_name.as_str(), |(_, name)| name)
    }

    /// The `statement_timeout` its SQL file for `direction` declares.
    pub fn statement_timeout(&self, direction: Direction) -> Option<Duration> {
        match direction {
            Direction::Up => self.up_statement_timeout,
            Direction::Down => self.down_statement_timeout,
        }
    }

    /// Whether it runs in a transaction (`run_in_transaction` of its `metadata.toml`).
    pub fn in_transaction(&self) -> bool {
        self.runnable.metadata().run_in_transaction()
    }

    /// Diesel's runnable migration, for its harness.
    pub(crate) fn runnable(&self) -> &dyn Migration<Pg> {
        &*self.runnable
    }
}

/// The SQL text of one migration, before it is paired with Diesel's runnable form.
struct SqlText {
    dir_name: String,
    path: PathBuf,
    up: String,
    down: Option<String>,
}

impl MigrationSource {
    /// Every migration of this source, in version order.
    pub fn load(&self) -> Result<Vec<Script>> {
        let (runnables, texts) = match self {
            Self::Embedded => (
                DieselMigrationSource::<Pg>::migrations(&MIGRATIONS),
                embedded_texts(),
            ),
            Self::Directory(dir) => (directory_runnables(dir), directory_texts(dir)?),
        };
        let runnables = runnables.map_err(|err| self.error(err.to_string()))?;
        let mut scripts = pair(runnables, texts).map_err(|reason| self.error(reason))?;
        scripts.sort_by(|a, b| a.version.cmp(&b.version));
        Ok(scripts)
    }

    fn error(&self, reason: String) -> MigrateError {
        let path = match self {
            Self::Embedded => PathBuf::from("<embedded migrations>"),
            Self::Directory(dir) => dir.clone(),
        };
        MigrateError::Source { path, reason }
    }
}

/// Diesel's version of a migration directory name: its prefix without dashes.
pub(crate) fn version_of(dir_name: &str) -> String {
    dir_name
        .split('_')
        .next()
        .unwrap_or_default()
        .replace('-', "")
}

fn pair(
    runnables: Vec<Box<dyn Migration<Pg>>>,
    texts: Vec<SqlText>,
) -> Result<Vec<Script>, String> {
    let mut by_version: HashMap<String, SqlText> = texts
        .into_iter()
        .map(|text| (version_of(&text.dir_name), text))
        .collect();
    runnables
        .into_iter()
        .map(|runnable| {
            let version = runnable.name().version().to_string();
            let text = by_version
                .remove(&version)
                .ok_or_else(|| format!("no SQL found for migration {}", runnable.name()))?;
            let declared = |file: &str, sql: &str| {
                statement_timeout::declared(sql)
                    .map_err(|problem| format!("{}/{file}: {problem}", text.dir_name))
            };
            Ok(Script {
                up_statement_timeout: declared("up.sql", &text.up)?,
                down_statement_timeout: declared("down.sql", text.down.as_deref().unwrap_or(""))?,
                checksum: sha256_hex(&text.up),
                version,
                dir_name: text.dir_name,
                path: text.path,
                up_sql: text.up,
                down_sql: text.down,
                runnable,
            })
        })
        .collect()
}

fn embedded_texts() -> Vec<SqlText> {
    MIGRATION_SQL
        .iter()
        .map(|sql| SqlText {
            dir_name: sql.dir_name.to_owned(),
            path: Path::new("migrations").join(sql.dir_name),
            up: sql.up.to_owned(),
            down: sql.down.map(str::to_owned),
        })
        .collect()
}

fn directory_runnables(dir: &Path) -> diesel::migration::Result<Vec<Box<dyn Migration<Pg>>>> {
    DieselMigrationSource::<Pg>::migrations(&FileBasedMigrations::from_path(dir)?)
}

/// Reads `up.sql` and `down.sql` of every migration directory, as Diesel finds them.
fn directory_texts(dir: &Path) -> Result<Vec<SqlText>> {
    let io_error = |err: std::io::Error| MigrateError::Source {
        path: dir.to_owned(),
        reason: err.to_string(),
    };
    let mut texts = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error)? {
        let path = entry.map_err(io_error)?.path();
        let dir_name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if !path.join("up.sql").is_file() || dir_name.starts_with('.') {
            continue;
        }
        let down = path.join("down.sql");
        texts.push(SqlText {
            up: fs::read_to_string(path.join("up.sql")).map_err(io_error)?,
            down: match down.is_file() {
                true => Some(fs::read_to_string(down).map_err(io_error)?),
                false => None,
            },
            dir_name,
            path,
        });
    }
    Ok(texts)
}

/// Lower-case hex SHA-256 of `text`.
pub(crate) fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_known_digest() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn embedded_source_pairs_every_migration_with_its_sql() {
        let scripts = MigrationSource::Embedded.load().unwrap();
        assert_eq!(scripts.len(), MIGRATION_SQL.len());
        for (script, sql) in scripts.iter().zip(MIGRATION_SQL) {
            assert_eq!(script.version, sql.version());
            assert_eq!(script.name(), sql.name());
            assert_eq!(script.up_sql, sql.up);
        }
    }

    #[test]
    fn versions_drop_the_dashes_of_the_prefix() {
        assert_eq!(version_of("2025-10-07-000001_create_x"), "20251007000001");
        assert_eq!(
            version_of("00000000000000_diesel_initial_setup"),
            "00000000000000"
        );
    }

    #[test]
    fn a_missing_directory_is_a_source_error() {
        let source = MigrationSource::Directory("/nonexistent/migrations".into());
        assert!(matches!(source.load(), Err(MigrateError::Source { .. })));
    }
}
