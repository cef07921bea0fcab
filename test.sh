#!/usr/bin/env bash
# Runs every test of Vigil: gofmt, go vet, and go test -race over all packages,
# including the end-to-end tests against a real Postfix (and Sendmail).
#
# As root on Debian it first installs what the end-to-end tests need
# (postfix, redis-server, and an unpacked Sendmail that is never installed as
# a package). Without root or apt those tests skip with a message saying why.
# No service is started here: each test starts its own instance on a
# loopback port and stops it.
#
# Environment:
#   VIGIL_TEST_NO_INSTALL=1   do not install anything
#   VIGIL_TEST_TIMEOUT=20m    go test -timeout
#   VIGIL_SENDMAIL_ROOT=DIR   unpacked Sendmail (default: a cache dir, filled here)
#   VIGIL_TEST_PKGS="./x/..." packages to vet and test (default ./...)
set -euo pipefail
cd "$(dirname "$0")"

log() { printf 'test.sh: %s\n' "$*" >&2; }

have_postfix() { command -v postfix >/dev/null 2>&1 || [ -x /usr/sbin/postfix ]; }

apt_install() {
	# A policy-rc.d that forbids starting services, so that installing
	# postfix or redis-server does not leave daemons on ports 25 and 6379.
	local policy=/usr/sbin/policy-rc.d made_policy=""
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
	fi
	local rc=0
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/tmp/vigil-test-apt.log 2>&1 || {
		log "apt-get install failed once; running apt-get update and retrying"
		apt-get update -q >>/tmp/vigil-test-apt.log 2>&1 || true
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >>/tmp/vigil-test-apt.log 2>&1 || rc=$?
	}
	[ -n "$made_policy" ] && rm -f "$policy"
	if [ "$rc" != 0 ]; then
		log "could not install $* (see /tmp/vigil-test-apt.log); the tests that need them will skip"
	fi
	return 0
}

install_deps() {
	if [ -n "${VIGIL_TEST_NO_INSTALL:-}" ]; then
		log "VIGIL_TEST_NO_INSTALL set: installing nothing"
		return
	fi
	if [ "$(id -u)" != 0 ]; then
		log "not root: not installing postfix/redis-server/sendmail; end-to-end tests will skip"
		return
	fi
	if ! command -v apt-get >/dev/null 2>&1; then
		log "no apt-get: not installing anything; end-to-end tests skip unless postfix is already there"
		return
	fi
	local missing=()
	have_postfix || missing+=(postfix)
	command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
	command -v m4 >/dev/null 2>&1 || missing+=(m4)
	dpkg -s libwrap0 >/dev/null 2>&1 || missing+=(libwrap0)
	# The package test: man -l renders the pages, lintian checks the .deb.
	command -v man >/dev/null 2>&1 || missing+=(man-db)
	command -v lintian >/dev/null 2>&1 || missing+=(lintian)
	if [ "${#missing[@]}" -gt 0 ]; then
		log "installing ${missing[*]}"
		# Postfix asks how it is used; "Local only" keeps the default
		# instance off the network (the tests run their own instances).
		echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
		echo "postfix postfix/mailname string vigil.test" | debconf-set-selections
		apt_install "${missing[@]}"
	fi
	install_sendmail
}

# Sendmail conflicts with postfix as a package, but runs unpacked: download
# the .debs and extract them into a cache directory (shared/RECIPES.md).
install_sendmail() {
	local root="${VIGIL_SENDMAIL_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/vigil-e2e/sendmail}"
	if [ -x "$root/usr/libexec/sendmail/sendmail" ] && [ -f "$root/usr/share/sendmail/cf/m4/cf.m4" ]; then
		export VIGIL_SENDMAIL_ROOT="$root"
		return
	fi
	local dl
	dl="$(mktemp -d)"
	if (cd "$dl" && apt-get download sendmail-bin sendmail-base sendmail-cf >/tmp/vigil-test-sendmail.log 2>&1) ||
		{ apt-get update -q >>/tmp/vigil-test-sendmail.log 2>&1 &&
			(cd "$dl" && apt-get download sendmail-bin sendmail-base sendmail-cf >>/tmp/vigil-test-sendmail.log 2>&1); }; then
		mkdir -p "$root"
		for deb in "$dl"/*.deb; do dpkg -x "$deb" "$root"; done
		export VIGIL_SENDMAIL_ROOT="$root"
		log "unpacked sendmail into $root"
	else
		log "could not download sendmail (see /tmp/vigil-test-sendmail.log); the Sendmail end-to-end test will skip"
	fi
	rm -rf "$dl"
}

install_deps
if [ -z "${VIGIL_SENDMAIL_ROOT:-}" ]; then
	default_root="${XDG_CACHE_HOME:-$HOME/.cache}/vigil-e2e/sendmail"
	[ -x "$default_root/usr/libexec/sendmail/sendmail" ] && export VIGIL_SENDMAIL_ROOT="$default_root"
fi

if ! command -v go >/dev/null 2>&1; then
	log "go is not in PATH"
	exit 1
fi

read -r -a pkgs <<<"${VIGIL_TEST_PKGS:-./...}"
dirs=()
for p in "${pkgs[@]}"; do dirs+=("${p%/...}"); done

log "gofmt -l ${dirs[*]}"
unformatted="$(gofmt -l "${dirs[@]}" 2>&1)"
if [ -n "$unformatted" ]; then
	log "these files need gofmt -w:"
	printf '%s\n' "$unformatted" >&2
	exit 1
fi

log "go vet ${pkgs[*]}"
go vet "${pkgs[@]}"

log "go test -race ${pkgs[*]}"
go test -race -count=1 -timeout "${VIGIL_TEST_TIMEOUT:-20m}" "${pkgs[@]}"
