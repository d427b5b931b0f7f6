//! bridge-admin: apply, revert and inspect the bridge database migrations.
fn main() {}
