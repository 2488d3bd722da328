#!/usr/bin/env bash
# Sealed-delivery benchmark (not a test): the same file uploaded over loopback TLS 1.3 to a
# receiver without age recipients and to one with an X25519 recipient (sealed while it streams:
# age's ChaCha20-Poly1305 under the per-object AES-256-GCM), next to the stock `age -e` of the
# same file to /dev/null — the cost of age encryption alone, in the same run — and the
# receiver's `client fetch --identity` (download + local age decryption + SHA-256 check) next to
# a plain fetch.
#
#   scripts/bench-sealed.sh [SIZE_MIB ...]     (default: 256 1024; needs Debian's age, GNU time)
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(256 1024)
for tool in age age-keygen curl /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "$tool is required (apt-get install age time curl)" >&2; exit 1; }
done

cargo build --release --quiet --bin kenshin-relay
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
admin() { KENSHIN_RELAY_DATA_DIR=$data $kr admin "$@" >/dev/null; }
admin org create --code bench-inst --kind institution --name "ベンチ健診センター"
for ins in bench-plain bench-sealed; do
  admin org create --code "$ins" --kind insurer --name "ベンチ保険組合 $ins"
  admin route create --from bench-inst --to "$ins"
  admin cert issue --org "$ins" --name bench --out "$work/$ins"
done
admin cert issue --org bench-inst --name bench --out "$work/inst"
age-keygen -o "$work/key.txt" 2>/dev/null
recipient=$(age-keygen -y "$work/key.txt")
admin org recipient add --org bench-sealed "$recipient"
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
mbs() { python3 -c "import sys; b,t=int(sys.argv[1]),float(sys.argv[2]); print(f'{t:.2f} | {b/t/1e6:.0f}')" "$1" "$2"; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); age $(age --version)"
echo
echo "| size | what | seconds | MB/s | server peak RSS |"
echo "|---:|---|---:|---:|---:|"
for mib in "${sizes[@]}"; do
  file=$work/input-$mib.bin
  head -c "$((mib * 1024 * 1024))" /dev/urandom > "$file"
  sync
  bytes=$((mib * 1024 * 1024))
  for ins in bench-plain bench-sealed; do
    reset_hwm
    t0=$(now)
    $kr client --json --cert "$work/inst/cert.pem" --key "$work/inst/key.pem" \
      send "$file" --to "$ins" --allow-duplicate > "$work/receipt-$ins.json"
    t1=$(now)
    echo "| $mib MiB | upload to $ins | $(mbs $bytes "$(echo "$t1 - $t0" | bc)") | $(( $(hwm_kib) / 1024 )) MiB |"
  done
  t0=$(now)
  age -e -r "$recipient" -o /dev/null "$file"
  t1=$(now)
  echo "| $mib MiB | age -e (Go, alone) | $(mbs $bytes "$(echo "$t1 - $t0" | bc)") | – |"
  for ins in bench-plain bench-sealed; do
    delivery=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["deliveries"][0]["id"])' "$work/receipt-$ins.json")
    extra=()
    [ "$ins" = bench-sealed ] && extra=(--identity "$work/key.txt")
    reset_hwm
    t0=$(now)
    $kr client --json --cert "$work/$ins/cert.pem" --key "$work/$ins/key.pem" \
      fetch "$delivery" --out "$work/out-$ins-$mib.bin" "${extra[@]}" > /dev/null
    t1=$(now)
    cmp -s "$file" "$work/out-$ins-$mib.bin" || { echo "the fetched file differs ($ins)" >&2; exit 1; }
    echo "| $mib MiB | fetch from $ins${extra:+ --identity} | $(mbs $bytes "$(echo "$t1 - $t0" | bc)") | $(( $(hwm_kib) / 1024 )) MiB |"
    rm -f "$work/out-$ins-$mib.bin"
  done
  rm -f "$file"
done
