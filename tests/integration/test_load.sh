#!/usr/bin/env bash
# Load: a thousand clients at once, two hundred that trickle a byte a
# second while others are served, and clients killed in the middle of a
# request or of a PIN prompt. The agent answers everyone, its memory stays
# bounded, and it is left with nothing in flight. Waits are hang checks,
# not speed checks (bench/ measures speed).
. "$(dirname "$0")/lib.sh"

: "${FAULTMOD:?path of libfaultmod.so}"
export FAULTMOD_REAL=$FIXTURE_MODULE FAULTMOD_CONTROL=$T/fault
: >"$FAULTMOD_CONTROL"
LOADGEN=$(dirname "$0")/loadgen.py

start_agent --module "$FAULTMOD"
printf '%s\n' "$FIXTURE_ALICE_PIN" | cardsign login --token "$(token_id alice)" --pin-stdin
key=$(key_id alice p256-sign)
pub=$PKI/alice-p256-sign.pub.pem
echo "load" >"$T/msg"
openssl dgst -sha256 -binary "$T/msg" >"$T/d"
# sign_ok [TIMEOUT]: one signature through cardsign, verified, within
# TIMEOUT seconds (10 by default).
sign_ok() {
	timeout "${1:-10}" cardsign sign-digest --key "$key" --hash sha256 \
	    --in "$T/d" -o "$T/sig" &&
	    openssl dgst -sha256 -verify "$pub" -signature "$T/sig" "$T/msg" >/dev/null
}
rss0=$(agent_rss)
echo "# agent VmRSS at start: $rss0 kB"
# What the agent's resident memory may grow by under all this: generous, as
# ASan or valgrind may be underneath, yet below what buffering the frames
# the tricklers announce (150 MiB) would take.
RSS_CAP_KB=$((rss0 + 96 * 1024))

# ---- a thousand connections at once ----
rc=0
python3 "$LOADGEN" "$CARDAGENT_SOCK" many 1000 "$key" "$pub" >"$T/many.out" 2>&1 || rc=$?
sed 's/^/    /' "$T/many.out"
check "1000 concurrent connections: HELLO, STATUS, SIGN all answered" test $rc -eq 0
rss=$(agent_rss)
echo "# agent VmRSS after 1000 connections: $rss kB"
check "agent memory bounded after 1000 connections ($rss kB)" \
    test "$rss" -lt "$RSS_CAP_KB"
check "agent alive after 1000 connections" kill -0 "$AGENT_PID"
check "cardsign status after 1000 connections" timeout 10 cardsign status
check "a signature after 1000 connections" sign_ok

# ---- 200 connections trickling a byte a second ----
python3 "$LOADGEN" "$CARDAGENT_SOCK" trickle 200 15 >"$T/trickle.out" 2>&1 &
trickler=$!
for i in $(seq 1 100); do
	grep -q '^ready' "$T/trickle.out" && break
	sleep 0.1
done
check "200 trickling connections are open" grep -q '^ready' "$T/trickle.out"
t0=$SECONDS
bad=0
for i in $(seq 1 10); do
	sign_ok || bad=$((bad + 1))
	timeout 10 cardsign status >/dev/null || bad=$((bad + 1))
	# Long enough for the headers announcing 1 MiB frames to be whole.
	[ $((SECONDS - t0)) -ge 6 ] || sleep 0.4
done
check "20 requests answered, each within 10 s, beside the tricklers ($bad failed)" \
    test $bad -eq 0
rss=$(agent_rss)
echo "# agent VmRSS with 200 tricklers: $rss kB"
check "agent memory bounded with 200 tricklers ($rss kB)" test "$rss" -lt "$RSS_CAP_KB"
check "the tricklers were still at it throughout" kill -0 "$trickler"
wait "$trickler" || failed "trickling client failed"
sed 's/^/    /' "$T/trickle.out"
check "agent alive after the tricklers left" kill -0 "$AGENT_PID"
rss=$(agent_rss)
echo "# agent VmRSS after the tricklers left: $rss kB"
check "agent memory bounded after the tricklers left ($rss kB)" test "$rss" -lt "$RSS_CAP_KB"
check "a signature after the tricklers left" sign_ok

# ---- clients killed mid-request ----
# Three signatures held at the card, their clients killed meanwhile.
echo "delay C_Sign 1000" >"$FAULTMOD_CONTROL"
pids=()
for i in 1 2 3; do
	cardsign sign-digest --key "$key" --hash sha256 --in "$T/d" \
	    -o "$T/killed.$i" 2>/dev/null &
	pids+=($!)
done
sleep 0.5
# In braces, bash's "Killed" notices go to /dev/null too.
{
	kill -KILL "${pids[@]}"
	for p in "${pids[@]}"; do wait "$p" || true; done
} 2>/dev/null
# Fifty more from one process killed with its requests queued.
echo "delay C_Sign 20" >"$FAULTMOD_CONTROL"
python3 "$LOADGEN" "$CARDAGENT_SOCK" hold 50 "$key" >"$T/hold.out" 2>&1 &
holder=$!
for i in $(seq 1 100); do
	grep -q '^sent' "$T/hold.out" && break
	sleep 0.1
done
check "50 signatures sent by a client about to die" grep -q '^sent' "$T/hold.out"
{
	kill -KILL "$holder"
	wait "$holder" || true
} 2>/dev/null
: >"$FAULTMOD_CONTROL"
check "agent alive after its clients were killed" kill -0 "$AGENT_PID"
check "cardsign status after the kills" timeout 10 cardsign status
check "the token still signs after the kills (behind the orphans)" sign_ok 20
check "and again" sign_ok

# A client killed while its PIN prompt is up: the login still completes
# and serves the next request without a second prompt.
cardsign lock
set_pin "$FIXTURE_ALICE_PIN"
: >"$FAKE_PINENTRY_LOG"
echo 2 >"$FAKE_PINENTRY_WAIT"
cardsign sign-digest --key "$key" --hash sha256 --in "$T/d" -o "$T/killed.pin" \
    2>/dev/null &
victim=$!
for i in $(seq 1 100); do
	[ "$(prompts)" -ge 1 ] && break
	sleep 0.1
done
check "the prompt is up" test "$(prompts)" -eq 1
{
	kill -KILL "$victim"
	wait "$victim" || true
} 2>/dev/null
rm -f "$FAKE_PINENTRY_WAIT"
check "the next request is served" sign_ok
check "by the login the killed client started (one prompt)" test "$(prompts)" -eq 1
check "alice is logged in" bash -c \
    "cardsign status --json | python3 -c 'import json,sys; sys.exit(not [t for t in json.load(sys.stdin) if t[\"label\"] == \"alice\" and t[\"logged_in\"]])'"

# Out of descriptors: with its limit lowered under it, the agent refuses
# the clients it cannot take, instead of leaving them in the listen queue,
# where they keep the socket readable and the loop spinning on accept.
prlimit --pid "$AGENT_PID" --nofile=128:128
cpu() { awk '{ print $14 + $15 }' "/proc/$AGENT_PID/stat"; }
python3 "$LOADGEN" "$CARDAGENT_SOCK" hog 200 4 >"$T/hog.out" 2>&1 &
hog=$!
for i in $(seq 1 100); do
	grep -q '^ready' "$T/hog.out" && break
	sleep 0.1
done
lines=$(wc -l <"$T/agent.log")
cpu0=$(cpu)
sleep 2
ticks=$(($(cpu) - cpu0))
lines=$(($(wc -l <"$T/agent.log") - lines))
check "200 clients connect to an agent limited to 128 descriptors" \
    grep -q '^ready' "$T/hog.out"
check "the agent does not spin meanwhile ($ticks ticks of CPU in 2 s)" \
    test "$ticks" -lt 50
check "nor flood its log ($lines lines in 2 s)" test "$lines" -lt 50
wait "$hog" || failed "hogging client failed"
sed 's/^/    /' "$T/hog.out"
check "those it could not take were refused" grep -q '^# [1-9][0-9]* of 200 connections refused' "$T/hog.out"
check "the agent serves once they have gone" timeout 10 cardsign status

# Nothing is left in flight: the agent drains nothing and stops at once.
kill -TERM "$AGENT_PID"
rc=0
wait_exit "$AGENT_PID" 15 || rc=$?
check "agent stops on SIGTERM (exit $rc)" test $rc -eq 0
AGENT_PID=
check "with no request left in flight" \
    grep -q 'once 0 request(s) in flight' "$T/agent.log"
finish
