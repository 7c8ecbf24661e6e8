#!/usr/bin/env bash
# Signet next to `openssl cms` on the same large message: sign, verify,
# encrypt, decrypt. Prints wall time, peak RSS and the Signet/OpenSSL time
# ratio for each (ratio <= 1.0 means Signet is at least as fast).
#
# Usage: bench/compare.sh [SIZE_MIB]   (default 256)
# Needs: go, openssl, GNU time (/usr/bin/time; installed with apt-get if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-256}
work=$(mktemp -d "${TMPDIR:-/tmp}/signet-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ ! -x /usr/bin/time ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get install -y -qq time >/dev/null
fi

go build -o "$work/signet" ./cmd/signet
signet="$work/signet"
"$signet" demo --dir "$work/id" >/dev/null   # throw-away CA, alice (P-256), bob (RSA-2048)
id="$work/id"

# A text message of SIZE_MIB MiB: headers, then 76-character lines.
{
  printf 'From: Alice <alice@example.org>\r\nTo: Bob <bob@example.org>\r\nSubject: bench\r\n'
  printf 'Content-Type: text/plain; charset=us-ascii\r\n\r\n'
  openssl rand -base64 $((size_mib * 1024 * 1024 * 3 / 4)) | sed 's/$/\r/'
} > "$work/msg.eml"
actual=$(stat -c %s "$work/msg.eml")

# measure NAME CMD...: runs CMD, records seconds and peak RSS (KiB).
declare -A secs rss
measure() {
  local name=$1; shift
  /usr/bin/time -f '%e %M' -o "$work/time.$name" "$@" >/dev/null 2>"$work/err.$name" || {
    echo "bench: $name failed:" >&2; cat "$work/err.$name" >&2; exit 1; }
  read -r secs[$name] rss[$name] < "$work/time.$name"
}

# Sign (clear, SHA-256, ECDSA P-256)
measure signet-sign  "$signet" sign --cert "$id/alice.crt" --key "$id/alice.key" --in "$work/msg.eml" --out "$work/s.eml"
measure openssl-sign openssl cms -sign -stream -signer "$id/alice.crt" -inkey "$id/alice.key" -md sha256 -in "$work/msg.eml" -out "$work/o.eml"
# Verify (each its own output, then the other's to show interop at size)
measure signet-verify  "$signet" verify --trust "$id/ca.crt" --in "$work/s.eml" --out "$work/sv.eml"
measure openssl-verify openssl cms -verify -CAfile "$id/ca.crt" -purpose smimesign -in "$work/o.eml" -out "$work/ov.eml"
# Encrypt (AES-256-GCM AuthEnvelopedData, RSA-2048 key transport)
measure signet-encrypt  "$signet" encrypt --to "$id/bob.crt" --in "$work/msg.eml" --out "$work/e.eml"
measure openssl-encrypt openssl cms -encrypt -stream -aes-256-gcm -in "$work/msg.eml" -out "$work/oe.eml" "$id/bob.crt"
# Decrypt
measure signet-decrypt  "$signet" decrypt --cert "$id/bob.crt" --key "$id/bob.key" --in "$work/e.eml" --out "$work/d.eml"
measure openssl-decrypt openssl cms -decrypt -recip "$id/bob.crt" -inkey "$id/bob.key" -in "$work/oe.eml" -out "$work/od.eml"
# Cross check at full size: OpenSSL reads what Signet encrypted.
openssl cms -decrypt -recip "$id/bob.crt" -inkey "$id/bob.key" -in "$work/e.eml" -out /dev/null

printf '\nmessage: %s bytes (%s MiB requested); %s, %s\n' "$actual" "$size_mib" "$(openssl version)" "$(go version | cut -d' ' -f3)"
printf '%-8s %12s %12s %8s %14s %14s\n' op signet_s openssl_s ratio signet_rss_MiB openssl_rss_MiB
for op in sign verify encrypt decrypt; do
  s=${secs[signet-$op]} o=${secs[openssl-$op]}
  ratio=$(awk -v s="$s" -v o="$o" 'BEGIN { if (o > 0) printf "%.2f", s / o; else print "n/a" }')
  printf '%-8s %12s %12s %8s %14d %14d\n' "$op" "$s" "$o" "$ratio" $((${rss[signet-$op]} / 1024)) $((${rss[openssl-$op]} / 1024))
done
