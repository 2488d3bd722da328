#!/usr/bin/env bash
# Transfer benchmark (not a test): upload and download a generated file over loopback TLS 1.3
# with client certificates, using the release binary as server and as client, and report
# MB/s (10^6 bytes/s) and peak RSS next to raw SHA-256 and AES-256-GCM throughput measured in
# the same run.
#
#   scripts/bench-transfer.sh [SIZE_MIB ...]     (default: 256 1024)
#
# Peak RSS is the server's VmHWM, reset before each transfer (/proc/PID/clear_refs), and the
# client's maximum RSS from GNU time.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(256 1024)
command -v /usr/bin/time >/dev/null || { echo "GNU time is required (apt-get install time)" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is required" >&2; exit 1; }

cargo build --release --quiet --bin kenshin-relay --example raw_throughput
kr=target/release/kenshin-relay
work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
data=$work/data
$kr init --data-dir "$data" --listen "127.0.0.1:$port" >/dev/null
KENSHIN_RELAY_DATA_DIR=$data $kr admin org create --code bench-inst --kind institution --name "ベンチ健診センター" >/dev/null
KENSHIN_RELAY_DATA_DIR=$data $kr admin org create --code bench-ins --kind insurer --name "ベンチ保険組合" >/dev/null
KENSHIN_RELAY_DATA_DIR=$data $kr admin route create --from bench-inst --to bench-ins >/dev/null
KENSHIN_RELAY_DATA_DIR=$data $kr admin cert issue --org bench-inst --name bench --out "$work/inst" >/dev/null
KENSHIN_RELAY_DATA_DIR=$data $kr admin cert issue --org bench-ins --name bench --out "$work/ins" >/dev/null
KENSHIN_RELAY_MAX_UPLOAD_BYTES=$((64 * 1024 * 1024 * 1024)) KENSHIN_RELAY_LOG=warn \
  $kr serve --data-dir "$data" &
server_pid=$!
for _ in $(seq 100); do
  curl -s --cacert "$data/pki/ca.pem" "https://localhost:$port/health" >/dev/null && break
  sleep 0.1
done

export KENSHIN_RELAY_SERVER=https://localhost:$port KENSHIN_RELAY_CA=$data/pki/ca.pem
hwm_kib() { awk '/VmHWM/ {print $2}' "/proc/$server_pid/status"; }
reset_hwm() { echo 5 > "/proc/$server_pid/clear_refs"; }
now() { date +%s.%N; }

raw=$(target/release/examples/raw_throughput 1024)
sha=$(echo "$raw" | python3 -c 'import json,sys; print(json.load(sys.stdin)["sha256_mb_s"])')
aes=$(echo "$raw" | python3 -c 'import json,sys; print(json.load(sys.stdin)["aes256gcm_mb_s"])')

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "raw SHA-256: ${sha} MB/s   raw AES-256-GCM: ${aes} MB/s   (aws-lc-rs, one core, 64 KiB buffers)"
echo
echo "| size | direction | seconds | MB/s | × raw SHA-256 | server peak RSS | client peak RSS |"
echo "|---:|---|---:|---:|---:|---:|---:|"
for mib in "${sizes[@]}"; do
  file=$work/input-$mib.bin
  head -c "$((mib * 1024 * 1024))" /dev/urandom > "$file"
  sync  # the generated file's writeback must not compete with the measurement
  bytes=$((mib * 1024 * 1024))

  reset_hwm
  t0=$(now)
  /usr/bin/time -f '%M' -o "$work/time.up" \
    $kr client --json --cert "$work/inst/cert.pem" --key "$work/inst/key.pem" \
    send "$file" --to bench-ins > "$work/receipt.json"
  t1=$(now)
  up_server=$(hwm_kib); up_client=$(cat "$work/time.up")
  delivery=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["deliveries"][0]["id"])' "$work/receipt.json")

  reset_hwm
  t2=$(now)
  /usr/bin/time -f '%M' -o "$work/time.down" \
    $kr client --json --cert "$work/ins/cert.pem" --key "$work/ins/key.pem" \
    fetch "$delivery" --out "$work/output-$mib.bin" > /dev/null
  t3=$(now)
  down_server=$(hwm_kib); down_client=$(cat "$work/time.down")
  cmp -s "$file" "$work/output-$mib.bin" || { echo "downloaded file differs" >&2; exit 1; }
  $kr client --json --cert "$work/ins/cert.pem" --key "$work/ins/key.pem" confirm "$delivery" > /dev/null
  rm -f "$file" "$work/output-$mib.bin"

  python3 - "$mib" "$bytes" "$t0" "$t1" "$t2" "$t3" "$sha" "$up_server" "$up_client" "$down_server" "$down_client" <<'PY'
import sys
mib, size, t0, t1, t2, t3, sha, us, uc, ds, dc = sys.argv[1:]
size = int(size); sha = float(sha)
for label, a, b, s, c in (("upload", t0, t1, us, uc), ("download", t2, t3, ds, dc)):
    secs = float(b) - float(a)
    rate = size / secs / 1e6
    print(f"| {mib} MiB | {label} | {secs:.2f} | {rate:.0f} | {rate / sha:.2f} | {int(s) / 1024:.1f} MiB | {int(c) / 1024:.1f} MiB |")
PY
done
