#!/usr/bin/env bash
# Runs every test of Vigil and ends with one line that says what ran:
#
#   N passed, N failed, N skipped: <the skipped tests, named>
#
# Steps, in order (each counted in that line):
#   1. installs what the end-to-end tests need, as root on Debian: postfix,
#      redis-server and redis-tools (Redis Cluster and Sentinel tests), m4,
#      libwrap0, man-db and lintian (the package test),
#      and an unpacked Sendmail (never installed
#      as a package: it conflicts with postfix);
#   2. gofmt and go vet;
#   3. the race pass: go test -race over every package, every test but the
#      corpus and conformance tests (the end-to-end tests against a real
#      Postfix, Sendmail and Redis run here, with Vigil built with -race);
#   4. the corpus pass: go test without -race, only the tests named
#      TestCorpus* or TestConformance* (SpamAssassin corpus, classifier
#      figures, SPF/ARC/DKIM/URL suites), which the race detector would
#      make several times slower;
#   5. the summary: the figures the READMEs state as measured now, the
#      skipped and failed tests, and the line above.
# No service is started here: each test starts its own instance on a
# loopback port and stops it.
#
# Under CI (CI=true; .ci/run sets it) a missing dependency is a failure:
# an install that fails fails the run, and the tests that need Postfix,
# Sendmail, Redis or the shared test data fail instead of skipping.
# Elsewhere they skip, and the summary names them.
#
# Exit status: 0 when every step and test passed, 1 otherwise.
#
# Environment:
#   CI=true                   missing dependencies fail (see above)
#   VIGIL_TEST_NO_INSTALL=1   install nothing
#   VIGIL_TEST_TIMEOUT=20m    go test -timeout, per pass
#   VIGIL_TEST_PKGS="./x/..." packages to vet and test (default ./...)
#   VIGIL_TEST_PASSES="race corpus"  which test passes to run
#   VIGIL_TEST_OUT=DIR        keep the event streams (go test -json) and
#                             logs there (default: a new temp dir)
#   VIGIL_SENDMAIL_ROOT=DIR   unpacked Sendmail (default: a cache dir, filled here)
#   VIGIL_POSTFIX=PATH        the postfix command the tests use (default:
#                             postfix in PATH or /usr/sbin/postfix)
#
# Adding a step that is not a Go test (a packaging check, say):
#   run_step "name" command args...
# exit 0 is a pass, 77 a skip (say why on the last line of output), any
# other status a failure; the output is printed when it did not pass.
set -uo pipefail
cd "$(dirname "$0")"

log() { printf 'test.sh: %s\n' "$*" >&2; }

is_ci() {
	case "${CI:-}" in
	true | TRUE | True | 1) return 0 ;;
	esac
	return 1
}

if ! command -v go >/dev/null 2>&1; then
	log "go is not in PATH"
	exit 1
fi

started=$(date +%s)
out="${VIGIL_TEST_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/vigil-test.XXXXXX")}"
mkdir -p "$out"
steps="$out/steps.jsonl"
: >"$steps"
failed=0

log "building the reporter (cmd/testreport)"
if ! go build -o "$out/testreport" ./cmd/testreport; then
	log "cannot build cmd/testreport"
	exit 1
fi

# record NAME pass|fail|skip [REASON]: one step of the run in the summary.
record() {
	"$out/testreport" -step "$1" -status "$2" -reason "${3:-}" -events "$steps"
	[ "$2" != fail ] || failed=1
}

# run_step NAME COMMAND...: runs a step and records its result.
run_step() {
	local name=$1 rc=0
	shift
	local logf
	logf="$out/step-$(printf '%s' "$name" | tr -c 'A-Za-z0-9._-' '_').log"
	log "$name"
	"$@" >"$logf" 2>&1 || rc=$?
	case $rc in
	0) record "$name" pass ;;
	77)
		record "$name" skip "$(tail -n 1 "$logf")"
		cat "$logf" >&2
		;;
	*)
		record "$name" fail "exit status $rc; output in $logf"
		cat "$logf" >&2
		;;
	esac
}

# missing_dep NAME REASON: a dependency that could not be had; a failure
# under CI, a skip elsewhere.
missing_dep() {
	if is_ci; then
		log "FAILED (CI=true): $1: $2"
		record "$1" fail "$2"
	else
		log "MISSING: $1: $2 (the tests that need it will skip; under CI=true this fails)"
		record "$1" skip "MISSING: $2"
	fi
}

# have CMD: CMD is an executable file in PATH. (bash's "command -v" alone
# also names a file that is there but cannot run.)
have() {
	local p
	p="$(command -v "$1" 2>/dev/null)" && [ -f "$p" ] && [ -x "$p" ]
}

have_postfix() {
	if [ -n "${VIGIL_POSTFIX:-}" ]; then
		[ -f "$VIGIL_POSTFIX" ] && [ -x "$VIGIL_POSTFIX" ]
		return
	fi
	have postfix || { [ -f /usr/sbin/postfix ] && [ -x /usr/sbin/postfix ]; }
}

apt_log="$out/apt.log"

# apt_install PKG...: installs Debian packages without starting their
# services; returns apt-get's status.
apt_install() {
	# A policy-rc.d that forbids starting services, so that installing
	# postfix or redis-server does not leave daemons on ports 25 and 6379.
	local policy=/usr/sbin/policy-rc.d made_policy=""
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
	fi
	local rc=0
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >>"$apt_log" 2>&1 || {
		log "apt-get install failed once; running apt-get update and retrying"
		apt-get update -q >>"$apt_log" 2>&1 || true
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >>"$apt_log" 2>&1 || rc=$?
	}
	[ -z "$made_policy" ] || rm -f "$policy"
	return "$rc"
}

install_deps() {
	local missing=()
	have_postfix || missing+=(postfix)
	have redis-server || missing+=(redis-server)
	# redis-cli --cluster create joins the Redis Cluster of the failover tests.
	have redis-cli || missing+=(redis-tools)
	have m4 || missing+=(m4)
	dpkg -s libwrap0 >/dev/null 2>&1 || missing+=(libwrap0)
	# The package test: man -l renders the pages, lintian checks the .deb.
	have man || missing+=(man-db)
	have lintian || missing+=(lintian)
	local why=""
	if [ -n "${VIGIL_TEST_NO_INSTALL:-}" ]; then
		why="VIGIL_TEST_NO_INSTALL is set"
	elif [ "$(id -u)" != 0 ]; then
		why="not root"
	elif ! command -v apt-get >/dev/null 2>&1; then
		why="no apt-get"
	fi
	if [ "${#missing[@]}" -eq 0 ]; then
		record "install packages" pass
	elif [ -n "$why" ]; then
		missing_dep "install packages" "${missing[*]} not installed, and $why"
	else
		log "installing ${missing[*]}"
		# Postfix asks how it is used; "Local only" keeps the default
		# instance off the network (the tests run their own instances).
		echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
		echo "postfix postfix/mailname string vigil.test" | debconf-set-selections
		if apt_install "${missing[@]}"; then
			record "install packages" pass "installed ${missing[*]}"
		else
			missing_dep "install packages" "apt-get install ${missing[*]} failed (log: $apt_log)"
		fi
		# Installed or not, say what is still missing.
		have_postfix || log "postfix is still missing"
	fi
	install_sendmail "$why"
}

# Sendmail conflicts with postfix as a package, but runs unpacked: download
# the .debs and extract them into a cache directory.
install_sendmail() {
	local why=$1
	local root="${VIGIL_SENDMAIL_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/vigil-e2e/sendmail}"
	if [ -x "$root/usr/libexec/sendmail/sendmail" ] && [ -f "$root/usr/share/sendmail/cf/m4/cf.m4" ]; then
		export VIGIL_SENDMAIL_ROOT="$root"
		record "unpack sendmail" pass
		return
	fi
	if [ -n "$why" ]; then
		missing_dep "unpack sendmail" "no unpacked Sendmail at $root, and $why"
		return
	fi
	local dl sm_log="$out/sendmail.log"
	dl="$(mktemp -d)"
	if (cd "$dl" && apt-get download sendmail-bin sendmail-base sendmail-cf >>"$sm_log" 2>&1) ||
		{ apt-get update -q >>"$sm_log" 2>&1 &&
			(cd "$dl" && apt-get download sendmail-bin sendmail-base sendmail-cf >>"$sm_log" 2>&1); }; then
		mkdir -p "$root"
		for deb in "$dl"/*.deb; do dpkg -x "$deb" "$root"; done
		export VIGIL_SENDMAIL_ROOT="$root"
		record "unpack sendmail" pass "unpacked into $root"
	else
		missing_dep "unpack sendmail" "apt-get download sendmail-bin sendmail-base sendmail-cf failed (log: $sm_log)"
	fi
	rm -rf "$dl"
}

install_deps

read -r -a pkgs <<<"${VIGIL_TEST_PKGS:-./...}"
dirs=()
for p in "${pkgs[@]}"; do dirs+=("${p%/...}"); done

log "gofmt -l ${dirs[*]}"
unformatted="$(gofmt -l "${dirs[@]}" 2>&1)"
if [ -n "$unformatted" ]; then
	log "these files need gofmt -w:"
	printf '%s\n' "$unformatted" >&2
	record gofmt fail "needs gofmt -w: $(printf '%s' "$unformatted" | tr '\n' ' ')"
else
	record gofmt pass
fi

run_step "go vet" go vet "${pkgs[@]}"

# The corpus and conformance tests, by name: they run once, in the corpus
# pass, and never in the race pass.
corpus_re='^Test(Corpus|Conformance)'
timeout="${VIGIL_TEST_TIMEOUT:-20m}"
passes="${VIGIL_TEST_PASSES:-race corpus}"
events=("$steps")

# go_test NAME ARGS...: one go test -json pass through the reporter.
go_test() {
	local name=$1 t0
	shift
	t0=$(date +%s)
	log "$name pass: go test $*"
	go test -json "$@" 2>&1 | "$out/testreport" -events "$out/$name.jsonl"
	local st=("${PIPESTATUS[@]}")
	events+=("$out/$name.jsonl")
	log "$name pass: $(($(date +%s) - t0))s (go test exit ${st[0]}, reporter exit ${st[1]})"
	if [ "${st[0]}" != 0 ] || [ "${st[1]}" != 0 ]; then
		failed=1
	fi
}

if [[ " $passes " == *" race "* ]]; then
	go_test race -race -count=1 -timeout "$timeout" -skip "$corpus_re" "${pkgs[@]}"
fi
if [[ " $passes " == *" corpus "* ]]; then
	corpus_pkgs=("${pkgs[@]}")
	if [ -z "${VIGIL_TEST_PKGS:-}" ]; then
		# Only the packages that have such tests: the others would be
		# compiled a second time, without -race, for nothing.
		mapfile -t corpus_pkgs < <(grep -rlE --include='*_test.go' '^func Test(Corpus|Conformance)' . |
			xargs -r -n1 dirname | sort -u)
	fi
	if [ "${#corpus_pkgs[@]}" -gt 0 ]; then
		go_test corpus -count=1 -timeout "$timeout" -run "$corpus_re" "${corpus_pkgs[@]}"
	fi
fi

log "summary of the whole run ($(($(date +%s) - started))s; go test -json streams in $out, kept when something failed):"
"$out/testreport" -summary "${events[@]}" || failed=1
if [ -z "${VIGIL_TEST_OUT:-}" ] && [ "$failed" = 0 ]; then
	rm -rf "$out"
fi
exit "$failed"
