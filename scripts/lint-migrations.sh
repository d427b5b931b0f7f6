#!/usr/bin/env bash
# Lints every migration's up.sql and down.sql with squawk (PyPI squawk-cli),
# the PostgreSQL migration linter: each rule names the lock a statement takes
# and the form that does not stall live traffic. CI runs it (.ci/run); so can
# you, before committing a migration. Exits non-zero on any finding.
#
# squawk's .squawk.toml can exclude a rule only for every file, and a CLI
# --exclude replaces its list, so the exclusions live here, per file, each
# with its reason. Existing migrations are applied and never edited (their
# checksums are recorded), so they carry exclusions instead of fixes.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v squawk >/dev/null; then
  echo "squawk is not installed: pip install squawk-cli" >&2
  exit 2
fi

# Every file: bridge-migrate itself sets lock_timeout (--ddl-lock-timeout, 2 s)
# before every migration, and statement_timeout where the file declares one
# (`-- bridge-migrate: statement_timeout = …`), so the SQL need not.
ALWAYS="require-lock-timeout,require-statement-timeout"

# Every down.sql: dropping what up.sql created is its job; it runs only when
# an operator reverts, and bridge-admin's data guard refuses to drop tables
# that hold rows without --force.
DOWN="ban-drop-table,ban-drop-function,ban-drop-extension"

# Existing migrations, by directory, and the rules they break.
declare -A EXISTING=(
  # VARCHAR(n) limits and INTEGER counters are the specification
  # (docs/schema.md); the tables were created empty, so nothing was rewritten.
  [2025-10-07-000001_create_workflow_executions]="prefer-text-field,prefer-bigint-over-int"
  [2025-10-07-000002_create_workflow_steps]="prefer-text-field,prefer-bigint-over-int"
  [2025-10-07-000003_create_fsm_transitions]="prefer-text-field"
  [2025-10-07-000004_create_bridge_states]="prefer-text-field"
  [2025-10-07-000005_create_node_registrations]="prefer-text-field"
  [2025-10-07-000006_create_metadata_stamps]="prefer-text-field"
  [2026-11-26-000001_create_adapter_deferred_events]="prefer-text-field,prefer-bigint-over-int"
  # Swapped the two audit tables for partitioned ones (renames, copy, drop of
  # the plain tables) in one transaction, before the bridge wrote to them.
  [2026-11-25-000001_partition_audit_tables]="prefer-text-field,renaming-object,renaming-table,ban-drop-table"
  # A plain CREATE INDEX on workflow_executions, inside the migration's
  # transaction, from before bounded lock waits; today it would be a
  # run_in_transaction = false migration with CREATE INDEX CONCURRENTLY.
  [2026-11-25-000002_retention_indexes]="require-concurrent-index-creation,require-concurrent-index-deletion"
)

status=0
for dir in migrations/*/; do
  name=$(basename "$dir")
  # squawk flags what needs care outside a transaction only when told it is outside one.
  in_transaction=--assume-in-transaction
  if grep -Eqs '^\s*run_in_transaction\s*=\s*false' "$dir/metadata.toml"; then
    in_transaction=--no-assume-in-transaction
  fi
  for file in up.sql down.sql; do
    [ -f "$dir/$file" ] || continue
    exclude="$ALWAYS"
    [ "$file" = down.sql ] && exclude="$exclude,$DOWN"
    [ -n "${EXISTING[$name]:-}" ] && exclude="$exclude,${EXISTING[$name]}"
    squawk --reporter gcc --pg-version 15 "$in_transaction" --exclude "$exclude" "$dir$file" || status=1
  done
done
[ $status -eq 0 ] && echo "squawk: every migration passes"
exit $status
