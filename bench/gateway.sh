#!/usr/bin/env bash
# The SMTP gateway's throughput: 10 KiB messages from Postfix's smtp-source,
# signed by the sender and encrypted for two recipients (P-256), through
# "signet serve --smtp" to smtp-sink — next to smtp-source straight to
# smtp-sink (the limit of the tools) and to the bare crypto rate (the
# transform benchmark without SMTP and queue). Prints messages per second
# and the ratios.
#
# Usage: bench/gateway.sh [MESSAGES] [SESSIONS]   (default 2000 8)
# Needs: go, openssl, Postfix's smtp-source and smtp-sink (apt-get install
# postfix; installed if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-2000}
sessions=${2:-8}
work=$(mktemp -d "${TMPDIR:-/tmp}/signet-gwbench.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
if [ ! -x /usr/sbin/smtp-source ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "postfix postfix/main_mailer_type select No configuration" | $sudo debconf-set-selections
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postfix >/dev/null
fi
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
count() { find "$1" -type f | wc -l; }
wait_count() { # DIR N
  while [ "$(count "$1")" -lt "$2" ]; do sleep 0.05; done
}
now() { date +%s.%N; }

go build -o "$work/signet" ./cmd/signet
s="$work/signet"; export SIGNET_PASSPHRASE=bench-passphrase
d="$work/data"
"$s" --data "$d" init --org Example --domain example.org >/dev/null
"$s" --data "$d" config set KeyCustody gateway
"$s" --data "$d" user add alice@example.org --issue >/dev/null
# Two partner recipients with P-256 certificates from a partner CA:
# smtp-source -t bob@partner.test -r 2 sends to bob@ and 2bob@.
cd "$work"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=Partner CA" -keyout ca.key -out ca.crt -days 30 \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
for i in "" 2; do
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=${i}bob" -keyout "bob$i.key" -out "bob$i.csr" 2>/dev/null
  printf 'subjectAltName=email:%sbob@partner.test\nkeyUsage=critical,keyAgreement\nextendedKeyUsage=emailProtection\n' "$i" > ext$i
  openssl x509 -req -in "bob$i.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -extfile ext$i -out "bob$i.crt" 2>/dev/null
done
cd - >/dev/null
"$s" --data "$d" trust import "$work/ca.crt" >/dev/null
for i in "" 2; do "$s" --data "$d" contact add "${i}bob@partner.test" --cert "$work/bob$i.crt" >/dev/null; done
"$s" --data "$d" config set AlwaysSign true
"$s" --data "$d" config set AlwaysEncrypt true
# 2bob is not in To: (a Bcc): one message for both, as the benchmark asks.
"$s" --data "$d" config set BCCEncryptedEmailForking 2

relay=$(port); deliver=$(port); smtp=$(port); http=$(port); direct=$(port)
mkdir -p "$work/relay" "$work/direct"
/usr/sbin/smtp-sink -u root -d "$work/relay/%M." "127.0.0.1:$relay" 1000 & pids+=($!)
/usr/sbin/smtp-sink -u root "127.0.0.1:$deliver" 1000 & pids+=($!)
/usr/sbin/smtp-sink -u root -d "$work/direct/%M." "127.0.0.1:$direct" 1000 & pids+=($!)
"$s" --data "$d" serve --http "127.0.0.1:$http" --smtp "127.0.0.1:$smtp" --relay "127.0.0.1:$relay" --deliver "127.0.0.1:$deliver" 2>"$work/serve.log" & pids+=($!)
for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$smtp") 2>/dev/null && break; sleep 0.05; done

echo "== $n messages of 10 KiB, $sessions sessions, signed and encrypted for 2 recipients"
t0=$(now)
/usr/sbin/smtp-source -s "$sessions" -m "$n" -l 10240 -f alice@example.org -t bob@partner.test -r 2 "127.0.0.1:$smtp" || { echo "bench: smtp-source failed"; tail -20 "$work/serve.log"; exit 1; }
t1=$(now)
wait_count "$work/relay" "$n"
t2=$(now)
/usr/sbin/smtp-source -s "$sessions" -m "$n" -l 10240 -f alice@example.org -t bob@partner.test -r 2 "127.0.0.1:$direct"
wait_count "$work/direct" "$n"
t3=$(now)
# Check one: encrypted, not plain.
f=$(find "$work/relay" -type f -print -quit)
grep -q 'application/pkcs7-mime' "$f" || { echo "bench: the relayed message is not encrypted" >&2; exit 1; }

bare=$(go test -run '^$' -bench 'BenchmarkBareSignEncrypt' -benchtime 2s ./gateway/transform | awk '/BenchmarkBareSignEncrypt/ { print 1e9 / $3 }')
tf=$(go test -run '^$' -bench 'BenchmarkTransformSignEncrypt' -benchtime 2s ./gateway/transform | awk '/BenchmarkTransformSignEncrypt/ { print 1e9 / $3 }')
commits=$(go test -run '^$' -bench 'BenchmarkCommit10KParallel' -benchtime 2s ./gateway/queue | awk '/BenchmarkCommit10KParallel/ { print 1e9 / $3 }')
awk -v n="$n" -v t0="$t0" -v t1="$t1" -v t2="$t2" -v t3="$t3" -v bare="$bare" -v tf="$tf" -v commits="$commits" 'BEGIN {
  acc = n / (t1 - t0); e2e = n / (t2 - t0); direct = n / (t3 - t2)
  printf "%-44s %10s\n", "path", "msgs/s"
  printf "%-44s %10.0f\n", "smtp-source -> smtp-sink (the tools limit)", direct
  printf "%-44s %10.0f\n", "smtp-source -> signet (accepted, 250)", acc
  printf "%-44s %10.0f\n", "smtp-source -> signet -> smtp-sink (end to end)", e2e
  printf "%-44s %10.0f\n", "transform alone (one goroutine)", tf
  printf "%-44s %10.0f\n", "bare sign+encrypt (one goroutine)", bare
  printf "%-44s %10.0f\n", "durable queue commits alone (8 goroutines)", commits
  printf "end to end / (bare crypto x 2 cores): %.2f\n", e2e / (bare * 2)
  printf "end to end / tools limit: %.2f\n", e2e / direct
  printf "end to end / durable commits alone: %.2f\n", e2e / commits
}'
