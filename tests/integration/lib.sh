# lib.sh: shared set-up for cardagent's integration tests.
#
# Each test is a bash script run by ctest that sources this file. It starts a
# real agent on a real Unix socket against the SoftHSM fixture tokens, drives
# it with the real cardsign, and checks results with openssl.
#
# ctest passes: CARDAGENT_BIN (build/bin), CARDAGENT_LIB (build/lib),
# FIXTURE_DIR (made by tests/fixtures/make-tokens.sh), TESTS_SRC (tests/).
set -euo pipefail

: "${CARDAGENT_BIN:?}" "${FIXTURE_DIR:?}" "${TESTS_SRC:?}"
# shellcheck source=/dev/null
. "$FIXTURE_DIR/env.sh"

PKI=$FIXTURE_DIR/pki
# The cardsign under test, also inside `bash -c` checks.
export PATH="$CARDAGENT_BIN:$PATH"
T=$(mktemp -d "${TMPDIR:-/tmp}/cardagent-test.XXXXXX")
chmod 700 "$T"
# Each test gets its own copy of the fixture tokens: SoftHSM rewrites a
# token's file at a failed login, and a test running beside it could read
# it half written (CKR_USER_PIN_NOT_INITIALIZED).
cp -a "$FIXTURE_DIR/tokens" "$T/tokens"
sed "s|$FIXTURE_DIR/tokens|$T/tokens|" "$SOFTHSM2_CONF" >"$T/softhsm2.conf"
export SOFTHSM2_CONF=$T/softhsm2.conf
FAKE_PINENTRY=$TESTS_SRC/fake-pinentry.sh
export FAKE_PINENTRY_LOG=$T/pinentry.log
export FAKE_PINENTRY_PIN=$T/pin
# The agent starts pinentry with its own environment: set for every agent,
# effective only while the file exists.
export FAKE_PINENTRY_WAIT=$T/pinentry-wait
export CARDAGENT_SOCK=$T/agent.sock
AGENT_PID=

cleanup() {
	local rc=$?
	if [ -n "$AGENT_PID" ]; then
		kill "$AGENT_PID" 2>/dev/null || true
		wait "$AGENT_PID" 2>/dev/null || true
	fi
	# The agent and its token hosts run under ASan/UBSan/LSan in the
	# suite: any report in their log fails the test.
	if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' \
	    "$T"/agent*.log 2>/dev/null; then
		echo "FAIL - sanitizer report in the agent's log"
		rc=1
	fi
	if [ "$nfail" -gt 0 ] || [ "$rc" -ne 0 ]; then
		echo "--- agent log ---"
		cat "$T/agent.log" 2>/dev/null || true
	fi
	rm -rf "$T"
	exit "$rc"
}
trap cleanup EXIT

# shellcheck source=../tap.sh
. "$TESTS_SRC/tap.sh"

# Ends the test with the plain summary line ctest's log readers know.
finish() {
	echo "$npass passed, $nfail failed"
	[ "$nfail" -eq 0 ]
}

# start_agent [ARGS...]: a foreground agent on $CARDAGENT_SOCK; default
# module: the fixture's SoftHSM.
start_agent() {
	local args=("$@") i
	if [ ${#args[@]} -eq 0 ]; then
		args=(--module "$FIXTURE_MODULE")
	fi
	"$CARDAGENT_BIN/cardagent" --foreground --socket "$CARDAGENT_SOCK" \
	    --pinentry "$FAKE_PINENTRY" "${args[@]}" >"$T/agent.out" \
	    2>"$T/agent.log" &
	AGENT_PID=$!
	for i in $(seq 1 200); do
		[ -S "$CARDAGENT_SOCK" ] && return 0
		kill -0 "$AGENT_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "agent did not start" >&2
	cat "$T/agent.log" >&2
	return 1
}

stop_agent() {
	kill "$AGENT_PID"
	wait "$AGENT_PID" 2>/dev/null || true
	AGENT_PID=
}


# key_id TOKEN LABEL [MODULE]: the agent's id for a key, from `cardsign keys
# --json`; MODULE, a substring of the module path, tells apart the same token
# seen through two modules.
key_id() {
	cardsign keys --json | python3 -c '
import json, sys
tok = {t["id"]: t for t in json.load(open(sys.argv[4]))}
for k in json.load(sys.stdin):
    t = tok.get(k["token"])
    if t and t["label"] == sys.argv[1] and k["label"] == sys.argv[2] \
            and sys.argv[3] in t["module"]:
        print(k["id"]); break
else:
    sys.exit("no key " + sys.argv[1] + "/" + sys.argv[2])
' "$1" "$2" "${3:-}" <(cardsign status --json)
}

# token_id LABEL [MODULE]
token_id() {
	cardsign status --json | python3 -c '
import json, sys
for t in json.load(sys.stdin):
    if t["label"] == sys.argv[1] and sys.argv[2] in t["module"]:
        print(t["id"]); break
else:
    sys.exit("no token " + sys.argv[1])
' "$1" "${2:-}"
}

set_pin() { printf '%s\n' "$1" >"$FAKE_PINENTRY_PIN"; }
no_pin() { rm -f "$FAKE_PINENTRY_PIN"; }
prompts() { grep -c '^GETPIN' "$FAKE_PINENTRY_LOG" 2>/dev/null || true; }
