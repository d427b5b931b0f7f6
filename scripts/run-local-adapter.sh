#!/usr/bin/env bash
# Runs bridge-adapter against a local tansu broker and the local PostgreSQL:
# starts tansu (sqlite storage under target/local-broker) on 127.0.0.1:9092
# unless something already listens there, creates the event and dead-letter
# topics, migrates the database DATABASE_URL names (bridge-admin setup), then
# runs the adapter in the foreground (Ctrl-C stops it; the broker is stopped
# with it). Extra arguments go to bridge-adapter.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/omninode_bridge}"
port="${BROKER_PORT:-9092}"
broker="127.0.0.1:$port"

cargo build -q -p bridge-adapter -p bridge-admin
if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  mkdir -p target/local-broker
  (cd target/local-broker && exec tansu broker --listener-url "tcp://$broker" \
    --advertised-listener-url "tcp://$broker" --storage-engine sqlite://broker.db) \
    >target/local-broker/broker.log 2>&1 &
  trap 'kill %1 2>/dev/null || true' EXIT
  for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
fi
for topic in $(target/debug/bridge-adapter --print-topics "$@"); do
  tansu topic create "$topic" --partitions 3 --broker "tcp://$broker" >/dev/null 2>&1 || true
done
target/debug/bridge-admin setup
target/debug/bridge-adapter --brokers "$broker" "$@"
