#!/usr/bin/env bash
# Only the agent's own user may talk to it: even with the socket opened up to
# everyone, SO_PEERCRED turns another uid away.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: needs root to run a client as another user"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
fi
start_agent
check "own user is served" cardsign status
# Open the directory and socket so that only the peer check stands between.
chmod 755 "$T"
chmod 666 "$CARDAGENT_SOCK"
rc=0
setpriv --reuid=nobody --regid=nogroup --clear-groups \
    env CARDAGENT_SOCK="$CARDAGENT_SOCK" LD_LIBRARY_PATH="${CARDAGENT_LIB:-}" \
    "$CARDAGENT_BIN/cardsign" status >"$T/out" 2>&1 || rc=$?
if [ $rc -ne 0 ] && grep -q 'permission denied' "$T/out"; then
	pass "uid nobody is refused with a clear message (exit $rc)"
else
	failed "uid nobody was not refused (exit $rc)"
	cat "$T/out"
fi
check "the refusal is logged" grep -q 'refused connection from uid 65534' "$T/agent.log"
check "own user is still served" cardsign status
finish
