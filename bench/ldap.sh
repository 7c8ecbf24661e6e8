#!/usr/bin/env bash
# Signet's LDAP directory next to OpenLDAP slapd, loaded with the same
# entries and queried by the same client: lookups per second by mail.
#
# Usage: bench/ldap.sh [ENTRIES] [SECONDS] [CONNECTIONS]   (default 100000 10 4)
# Needs: go, slapd and slapadd (apt-get install slapd; installed if missing).
#
# Both servers run on this machine with the client; each gets the same
# client run in turn (Signet first, then slapd, then both again, and the
# better of each pair counts). slapd uses the mdb backend with an equality
# index on mail and logging off; Signet runs "signet serve --ldap" on a data
# folder holding the same mailboxes and certificates.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
secs=${2:-10}
conns=${3:-4}
work=$(mktemp -d "${TMPDIR:-/tmp}/signet-ldapbench.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

if [ ! -x /usr/sbin/slapd ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq slapd >/dev/null
fi

go build -o "$work/signet" ./cmd/signet
go build -o "$work/ldapbench" ./bench/ldapbench
export SIGNET_PASSPHRASE=bench-passphrase
"$work/signet" --data "$work/data" init --org Example --domain example.org >/dev/null
echo "== populating $n entries (Signet store and LDIF)"
"$work/ldapbench" populate -data "$work/data" -n "$n" -ldif "$work/entries.ldif"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# slapd: mdb, index on mail, anonymous read, no size limit, no logging.
mkdir -p "$work/slapd/db"
cat > "$work/slapd/slapd.conf" <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile $work/slapd/slapd.pid
loglevel 0
sizelimit unlimited
database mdb
maxsize 4294967296
suffix "dc=example,dc=org"
rootdn "cn=admin,dc=example,dc=org"
rootpw secret
directory $work/slapd/db
index objectClass eq
index mail eq
access to * by * read
CONF
echo "== loading slapd with slapadd"
/usr/sbin/slapadd -q -f "$work/slapd/slapd.conf" -l "$work/entries.ldif"
sport=$(port)
/usr/sbin/slapd -f "$work/slapd/slapd.conf" -h "ldap://127.0.0.1:$sport/" -d 0 2>"$work/slapd.log" &
pids+=($!)

gport=$(port); hport=$(port)
"$work/signet" --data "$work/data" serve --http "127.0.0.1:$hport" --ldap "127.0.0.1:$gport" 2>"$work/signet.log" &
pids+=($!)

wait_up() { # URL
  for _ in $(seq 1 600); do
    if "$work/ldapbench" query -url "$1" -n 1 -conns 1 -duration 100ms >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "bench: $1 did not come up" >&2; cat "$work/signet.log" "$work/slapd.log" >&2; exit 1
}
wait_up "ldap://127.0.0.1:$gport"
wait_up "ldap://127.0.0.1:$sport"

run() { "$work/ldapbench" query -url "$1" -n "$n" -conns "$conns" -duration "${secs}s"; }
echo "== querying: $conns connections, ${secs}s each, random user by mail, 4 attributes"
s1=$(run "ldap://127.0.0.1:$gport"); o1=$(run "ldap://127.0.0.1:$sport")
s2=$(run "ldap://127.0.0.1:$gport"); o2=$(run "ldap://127.0.0.1:$sport")
s=$(( s1 > s2 ? s1 : s2 )); o=$(( o1 > o2 ? o1 : o2 ))
srss=$(ps -o rss= -p "${pids[1]}"); orss=$(ps -o rss= -p "${pids[0]}")
printf '%-8s %12s %12s\n' server lookups/s "RSS MiB"
printf '%-8s %12s %12s\n' signet "$s" $((srss / 1024))
printf '%-8s %12s %12s\n' slapd "$o" $((orss / 1024))
awk -v s="$s" -v o="$o" 'BEGIN { printf "signet/slapd throughput ratio: %.2f (>= 1.00 means Signet is at least as fast)\n", s / o }'
