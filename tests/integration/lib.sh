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

# CARDAGENT_MEMCHECK=1 (scripts/memcheck.sh, on a tree built without
# sanitizers) runs every agent that start_agent starts under valgrind
# memcheck, and its token hosts too (the same binary, re-executed); not
# pinentry or other programs it runs. Each process writes
# $T/valgrind.PID.xml and .log: any error, or a definite or indirect leak
# that tests/valgrind.supp (third-party libraries only) does not excuse,
# fails the test. The agent kills its token hosts (SIGKILL) as it stops,
# so they are checked for errors, not for leaks.
# CARDAGENT_MEMCHECK=front leaves the token hosts out, for tests whose
# token-timeout is shorter than a host takes to start under valgrind.
AGENT_WRAP=()
if [ "${CARDAGENT_MEMCHECK:-0}" != 0 ]; then
	hosts=yes
	[ "$CARDAGENT_MEMCHECK" = front ] && hosts=no
	AGENT_WRAP=(valgrind --tool=memcheck --leak-check=full
	    --show-leak-kinds=definite,indirect
	    --errors-for-leak-kinds=definite,indirect --error-exitcode=99
	    --trace-children="$hosts" --trace-children-skip='/usr/*,/bin/*,*.sh'
	    --child-silent-after-fork=yes --num-callers=30
	    --suppressions="$TESTS_SRC/valgrind.supp"
	    --xml=yes --xml-file="$T/valgrind.%p.xml"
	    --log-file="$T/valgrind.%p.log")
fi

# memcheck_verdict: prints what valgrind reported in the logs not looked
# at yet, and fails if it reported anything.
memcheck_verdict() {
	local x rc=0
	for x in "$T"/valgrind.*.xml; do
		[ -e "$x" ] || continue
		python3 - "$x" <<'PY' || rc=1
import re, sys
import xml.etree.ElementTree as ET

# A process killed by SIGKILL leaves its file unfinished: read error by
# error.
text = open(sys.argv[1], errors="replace").read()
errors = re.findall(r"<error>.*?</error>", text, re.S)
for e in errors:
    e = ET.fromstring(e)
    what = e.findtext("what") or e.findtext("xwhat/text") or e.findtext("kind")
    print("    valgrind: %s" % what)
    for f in e.iter("frame"):
        where = f.findtext("fn") or f.findtext("obj") or "?"
        if f.findtext("file"):
            where += " (%s:%s)" % (f.findtext("file"), f.findtext("line"))
        print("        at %s" % where)
if errors:
    cmd = re.search(r"<line>Command: (.*?)</line>", text)
    print("    in %s, %s" % (cmd.group(1) if cmd else "?", sys.argv[1]))
sys.exit(1 if errors else 0)
PY
		mv "$x" "$x.seen"
	done
	return $rc
}

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
	if ! memcheck_verdict; then
		echo "FAIL - valgrind report on the agent"
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
	"${AGENT_WRAP[@]}" "$CARDAGENT_BIN/cardagent" --foreground \
	    --socket "$CARDAGENT_SOCK" --pinentry "$FAKE_PINENTRY" "${args[@]}" \
	    >"$T/agent.out" 2>"$T/agent.log" &
	AGENT_PID=$!
	# The socket file exists from bind(2), before listen(2): wait for the
	# line the agent prints once it listens (slow under valgrind).
	for i in $(seq 1 400); do
		[ -S "$CARDAGENT_SOCK" ] &&
		    grep -q '^CARDAGENT_SOCK=' "$T/agent.out" && return 0
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
	memcheck_verdict || failed "valgrind reported errors or leaks"
}

# wait_exit PID SECONDS: waits for the child PID to exit, at most SECONDS;
# returns its exit status, or 124 if it is still running.
wait_exit() {
	local i
	for ((i = $2 * 10; i > 0; i--)); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$1" 2>/dev/null && return 124
	wait "$1"
}

# agent_rss: the agent's resident memory in kB.
agent_rss() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$AGENT_PID/status"
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

# private_gnupg: a GNUPGHOME in $T for gpgsm, whose gpg-agent is stopped on
# every way out, before cleanup removes $T, keeping the test's status.
private_gnupg() {
	export GNUPGHOME=$T/gnupg
	# cleanup reads the test's status from $?: keep it across gpg_stop,
	# with errexit off, or (exit "$rc") would end the trap before cleanup.
	trap 'rc=$?; set +e; gpg_stop; (exit "$rc"); cleanup' EXIT
}

gpg_stop() {
	local sock
	[ -d "${GNUPGHOME:-}" ] || return 0
	sock=$(gpgconf --homedir "$GNUPGHOME" --list-dirs agent-socket)
	gpgconf --homedir "$GNUPGHOME" --kill all >/dev/null 2>&1 || true
	# The agent goes away asynchronously: wait for its socket, so that it
	# does not race cleanup's rm -rf "$T".
	for _ in $(seq 1 100); do
		[ -S "$sock" ] || break
		sleep 0.05
	done
	rm -rf "$GNUPGHOME" 2>/dev/null || { sleep 0.2; rm -rf "$GNUPGHOME"; } || true
}

# json_check FILE PYTHON-EXPRESSION: FILE holds one line of JSON, and the
# expression over that object, j, holds.
json_check() {
	python3 -c '
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 1, "not one line: %r" % lines
j = json.loads(lines[0])
if not eval("(" + sys.argv[2] + ")"):
    sys.exit("no: %s in %s" % (sys.argv[2], lines[0]))
' "$@"
}
