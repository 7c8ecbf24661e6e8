#!/usr/bin/env bash
# Runs Signet's whole test suite on a fresh machine: installs the peer tools
# the interop tests need (with apt-get, when missing: OpenSSL, GnuPG gpgsm,
# NSS tools, SoftHSM2 for the PKCS #11 tests, OpenLDAP slapd and
# ldap-utils, GnuPG dirmngr, Postfix's smtp-sink/smtp-source and swaks), then checks formatting,
# go vet and staticcheck, and runs `go test ./...` (unit, corpus, fuzz-seed
# and interop tests against OpenSSL, GnuPG gpgsm and NSS cmsutil).
#
# Usage: ./test.sh [extra go test flags, e.g. -run Interop -v]
set -euo pipefail
cd "$(dirname "$0")"

STATICCHECK_VERSION=v0.8.2

say() { printf '== %s\n' "$*"; }

# Debian packages that provide the peer tools: command -> package.
declare -A need=(
  [openssl]=openssl
  [gpgsm]=gpgsm
  [gpg-agent]=gpg-agent
  [cmsutil]=libnss3-tools
  [certutil]=libnss3-tools
  [pk12util]=libnss3-tools
  [softhsm2-util]=softhsm2
  [slapd]=slapd
  [slapadd]=slapd
  [ldapsearch]=ldap-utils
  [dirmngr]=dirmngr
  [smtp-sink]=postfix
  [smtp-source]=postfix
  [swaks]=swaks
)
missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("${need[$cmd]}")
done
# swaks needs Perl's TLS modules for --tls (STARTTLS tests).
perl -MNet::SSLeay -MIO::Socket::SSL -e1 >/dev/null 2>&1 || missing+=(libnet-ssleay-perl libio-socket-ssl-perl)
if [ ${#missing[@]} -gt 0 ]; then
  pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
  say "installing peer tools: $pkgs"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  # Postfix only for its test tools (smtp-sink, smtp-source): no mail system.
  echo "postfix postfix/main_mailer_type select No configuration" | $sudo debconf-set-selections
  $sudo apt-get update -qq
  # shellcheck disable=SC2086
  $sudo apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
fi

command -v go >/dev/null || { echo "test.sh: Go is required (go.mod names the version)" >&2; exit 1; }

say "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" >&2; echo "$unformatted" >&2; exit 1
fi

say "go vet"
go vet ./...

say "staticcheck $STATICCHECK_VERSION"
gobin=$(go env GOPATH)/bin
if ! "$gobin/staticcheck" -version 2>/dev/null | grep -q "${STATICCHECK_VERSION#v}"; then
  go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
fi
"$gobin/staticcheck" ./...

say "go test ./... (unit, corpus, fuzz seeds, interop)"
go test -count=1 "$@" ./...
