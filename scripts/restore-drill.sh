#!/usr/bin/env bash
# Restore drill: take a backup of a live data directory, restore it into a scratch
# directory with the KEK kept apart, start a relay on the copy, check its health and its
# ledger, stop it, and remove the copy. Run it regularly (the guideline asks that backups
# be restorable, not only written). Exits non-zero on any failure.
#
#   scripts/restore-drill.sh DATA_DIR BACKUP_DIR KEK_FILE [PORT]
#
# A relay on PostgreSQL restores into a database: set DRILL_DATABASE_URL to an empty
# scratch database (createdb -T template0 -l C kenshin_drill), and drop it afterwards.
set -euo pipefail

data=${1:?usage: restore-drill.sh DATA_DIR BACKUP_DIR KEK_FILE [PORT]}
backups=${2:?backup directory}
kek=${3:?KEK file kept apart from the backups}
port=${4:-18443}
kr=${KR:-kenshin-relay}
database=()
if [[ -n "${DRILL_DATABASE_URL:-}" ]]; then
  database=(--database-url "$DRILL_DATABASE_URL")
fi

scratch=$(mktemp -d)
trap 'kill "${server:-0}" 2>/dev/null || true; rm -rf "$scratch"' EXIT

echo "== backup"
"$kr" backup --data-dir "$data" create --to "$backups"
echo "== restore (verifies the ledger and the access log)"
"$kr" backup restore --from "$backups" --kek "$kek" --into "$scratch/restored" "${database[@]}"
echo "== serve the restored copy on port $port"
"$kr" serve --data-dir "$scratch/restored" --listen "127.0.0.1:$port" &
server=$!
for _ in $(seq 1 50); do
  if curl -sf --cacert "$scratch/restored/pki/ca.pem" "https://localhost:$port/health" >"$scratch/health.json"; then
    break
  fi
  sleep 0.2
done
cat "$scratch/health.json"; echo
grep -q '"database":{"ok":true' "$scratch/health.json"
echo "== ledger audit of the restored copy"
kill "$server"; wait "$server" 2>/dev/null || true; server=0
"$kr" admin --data-dir "$scratch/restored" ledger audit
echo "restore drill passed"
