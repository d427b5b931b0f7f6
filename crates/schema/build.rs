//! Embeds the SQL of every migration under `migrations/` and reruns when that
//! directory changes, so a new migration is never silently left out.

use std::{env, fs, path::Path};

fn main() {
    let manifest_dir = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let migrations = Path::new(&manifest_dir).join("../../migrations");
    println!("cargo:rerun-if-changed={}", migrations.display());

    let mut dirs: Vec<_> = fs::read_dir(&migrations)
        .expect("the migrations directory is readable")
        .map(|entry| entry.expect("a readable directory entry").path())
        .filter(|path| path.join("up.sql").is_file())
        .collect();
    dirs.sort();

    let mut out = String::from("&[\n");
    for dir in dirs {
        let dir = dir.canonicalize().expect("a migration directory resolves");
        let dir_name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let down = dir.join("down.sql");
        let down = if down.is_file() {
            format!("Some(include_str!({:?}))", down.display().to_string())
        } else {
            "None".to_owned()
        };
        out.push_str(&format!(
            "    MigrationSql {{ dir_name: {dir_name:?}, up: include_str!({:?}), down: {down} }},\n",
            dir.join("up.sql").display().to_string(),
        ));
    }
    out.push_str("]\n");

    let dest =
        Path::new(&env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("migration_sql.rs");
    fs::write(dest, out).expect("OUT_DIR is writable");
}
