#!/usr/bin/env bash
# Faults around the agent itself: SIGTERM with operations in flight (those
# at a card are answered, those waiting for the user cancelled, the agent
# exits 0 and the tokens are intact; a second signal stops at once),
# restarts under systemd socket activation that clients never notice, and
# a module whose host crashes at every start (restarted with back-off, no
# fork storm, the rest served meanwhile).
. "$(dirname "$0")/lib.sh"

: "${FAULTMOD:?path of libfaultmod.so}"
export FAULTMOD_REAL=$FIXTURE_MODULE FAULTMOD_CONTROL=$T/fault
: >"$FAULTMOD_CONTROL"
printf 'token-timeout 10\n' >"$T/agent.conf"
echo "faults" >"$T/msg"
openssl dgst -sha256 -binary "$T/msg" >"$T/d"

# objects TOKEN PIN: a fingerprint of the token's objects, read by SoftHSM
# directly: what a corrupted token store would change.
objects() {
	pkcs11-tool --module "$FIXTURE_MODULE" --token-label "$1" --login \
	    --pin "$2" --list-objects 2>&1 | sort | sha256sum
}
alice_objects=$(objects alice "$FIXTURE_ALICE_PIN")
bob_objects=$(objects bob "$FIXTURE_BOB_PIN")

# login TOKEN PIN [MODULE]
login() {
	printf '%s\n' "$2" |
	    cardsign login --token "$(token_id "$1" "${3:-}")" --pin-stdin
}
# sign NAME TOKEN LABEL: a background signature; NAME.rc gets its exit
# status, NAME.out its messages, NAME.sig the signature. The key is looked
# up first, so that the request is on its way when sign returns.
sign() {
	local key
	key=$(key_id "$2" "$3")
	(
		rc=0
		cardsign sign-digest --key "$key" --hash sha256 \
		    --in "$T/d" -o "$T/$1.sig" >"$T/$1.out" 2>&1 || rc=$?
		echo $rc >"$T/$1.rc"
	) &
}
# verifies NAME TOKEN LABEL: NAME's signature is TOKEN's LABEL key's.
verifies() {
	openssl dgst -sha256 -verify "$PKI/$2-$3.pub.pem" -signature "$T/$1.sig" \
	    "$T/msg" >/dev/null
}
# rc_of NAME: the exit status of background signature NAME, once known.
rc_of() {
	local i
	for i in $(seq 1 300); do
		[ -s "$T/$1.rc" ] && break
		sleep 0.1
	done
	cat "$T/$1.rc" 2>/dev/null || echo none
}

# ---- SIGTERM with operations in flight ----
start_agent --config "$T/agent.conf" --module "$FAULTMOD"
login alice "$FIXTURE_ALICE_PIN"
login bob "$FIXTURE_BOB_PIN"
nkeys=$(cardsign keys --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
# A signature whose PIN dialog is open (the user takes 10 s), another
# whose prompt is queued behind it, and four held 1.5 s each at the cards.
set_pin "$FIXTURE_ALICE_PIN"
: >"$FAKE_PINENTRY_LOG"
echo 10 >"$FAKE_PINENTRY_WAIT"
sign aa1 alice p256-sign-aa
for i in $(seq 1 100); do
	[ "$(prompts)" -ge 1 ] && break
	sleep 0.1
done
sign aa2 alice rsa2048-sign-aa
echo "delay C_Sign 1500" >"$FAULTMOD_CONTROL"
sign a1 alice p256-sign
sign a2 alice rsa2048-sign
sign b1 bob rsa2048-sign
sign b2 bob rsa2048-sign
sleep 1
kill -TERM "$AGENT_PID"
sleep 0.5
check "the socket file goes at once" test ! -e "$CARDAGENT_SOCK"
expect_exit 3 "a new client finds no agent while it drains" cardsign status
check "the agent is still answering its requests in flight" kill -0 "$AGENT_PID"
rc=0
wait_exit "$AGENT_PID" 20 || rc=$?
AGENT_PID=
check "the agent exits 0 within the token timeout (exit $rc)" test $rc -eq 0
for s in a1:alice:p256-sign a2:alice:rsa2048-sign b1:bob:rsa2048-sign \
    b2:bob:rsa2048-sign; do
	IFS=: read -r name tok label <<<"$s"
	check "in-flight $name ($tok $label) got its signature (exit $(rc_of "$name"))" \
	    test "$(rc_of "$name")" = 0
	check "and it verifies" verifies "$name" "$tok" "$label"
done
# Neither waits for the user.
check "the open PIN dialog's request is cancelled (exit $(rc_of aa1))" \
    test "$(rc_of aa1)" = 9
check "the queued prompt is withdrawn: cancelled (exit $(rc_of aa2))" \
    test "$(rc_of aa2)" = 9
sed 's/^/    aa1: /' "$T/aa1.out"
sed 's/^/    aa2: /' "$T/aa2.out"
check "the agent logged the drain" grep -q 'shutting down once' "$T/agent.log"
rm -f "$FAKE_PINENTRY_WAIT"
: >"$FAULTMOD_CONTROL"

start_agent --config "$T/agent.conf" --module "$FAULTMOD"
check "a new agent on the same tokens: alice's PIN still works" \
    login alice "$FIXTURE_ALICE_PIN"
check "bob's too" login bob "$FIXTURE_BOB_PIN"
check "all $nkeys keys are still there" test "$(cardsign keys --json |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = "$nkeys"
sign s1 alice rsa2048-sign
sign s2 bob rsa2048-sign
check "alice signs" test "$(rc_of s1)" = 0
check "and it verifies" verifies s1 alice rsa2048-sign
check "bob signs" test "$(rc_of s2)" = 0
check "and it verifies" verifies s2 bob rsa2048-sign

# A second signal while draining stops at once: the cards' 10 s are not
# waited for, and the clients are told.
echo "delay C_Sign 10000" >"$FAULTMOD_CONTROL"
sign h1 alice p256-sign
sign h2 bob rsa2048-sign
sleep 1
kill -TERM "$AGENT_PID"
sleep 1
check "the first SIGTERM waits for the requests in flight" kill -0 "$AGENT_PID"
kill -TERM "$AGENT_PID"
rc=0
wait_exit "$AGENT_PID" 6 || rc=$?
AGENT_PID=
check "a second SIGTERM stops it at once (exit $rc)" test $rc -eq 0
for name in h1 h2; do
	check "stopped request $name fails (exit $(rc_of $name))" \
	    test "$(rc_of $name)" -ne 0
	check "and is told the agent is shutting down" grep -q 'shutting down' "$T/$name.out"
done
: >"$FAULTMOD_CONTROL"
check "alice's token store is intact" test "$(objects alice "$FIXTURE_ALICE_PIN")" = "$alice_objects"
check "bob's token store is intact" test "$(objects bob "$FIXTURE_BOB_PIN")" = "$bob_objects"
start_agent --config "$T/agent.conf" --module "$FAULTMOD"
check "a new agent logs in after the hard stop" login alice "$FIXTURE_ALICE_PIN"
sign s3 alice p256-sign
check "and signs" test "$(rc_of s3)" = 0
check "and it verifies" verifies s3 alice p256-sign
stop_agent

# ---- socket activation: restarts the clients never notice ----
# systemd-socket-activate binds the socket, waits for the first client,
# then execs its command with the socket as fd 3. Like a systemd socket
# unit, the command here keeps the socket and starts the agent again
# whenever it exits, each time with LISTEN_PID set to the agent's pid.
cat >"$T/restarter.sh" <<'SH'
dir=$1
shift
stop=0
trap 'stop=1; kill -TERM $child 2>/dev/null' TERM
while [ $stop -eq 0 ]; do
	sh -c 'echo $$ >"$0/sa.pid"; LISTEN_PID=$$; export LISTEN_PID; exec "$@"' \
	    "$dir" "$@" 2>>"$dir/agent.log" &
	child=$!
	st=
	while [ -z "$st" ]; do
		wait $child && st=0 || st=$?
		# The trap interrupts wait; the agent is still stopping.
		kill -0 $child 2>/dev/null && st=
	done
	echo "$st" >>"$dir/sa.exits"
	rm -f "$dir/sa.pid"
done
SH
sa=$T/sa.sock
# It passes on only the variables named with -E.
pass=()
for v in SOFTHSM2_CONF FAKE_PINENTRY_LOG FAKE_PINENTRY_PIN FAKE_PINENTRY_WAIT \
    ASAN_OPTIONS UBSAN_OPTIONS; do
	[ -n "${!v+set}" ] && pass+=(-E "$v")
done
systemd-socket-activate -l "$sa" "${pass[@]}" bash "$T/restarter.sh" "$T" \
    "${AGENT_WRAP[@]}" "$CARDAGENT_BIN/cardagent" --module "$FIXTURE_MODULE" \
    --pinentry "$FAKE_PINENTRY" --config "$T/agent.conf" \
    >/dev/null 2>"$T/sa.log" &
# Stopping the holder stops the agent it runs.
AGENT_PID=$!
for i in $(seq 1 100); do [ -S "$sa" ] && break; sleep 0.05; done
export CARDAGENT_SOCK=$sa
check "the first client starts the agent" timeout 30 cardsign status
# sa_agent: the pid of the agent now running under the holder.
sa_agent() {
	local i
	for i in $(seq 1 100); do
		[ -s "$T/sa.pid" ] && break
		sleep 0.1
	done
	cat "$T/sa.pid"
}
pid1=$(sa_agent)
check "it was socket-activated" grep -q 'socket activation' "$T/agent.log"
# Clients keep coming while the agent is stopped and started twice; each
# is served by one agent or the next. A client that an agent stopping
# cuts off between two requests (it closes idle connections) connects
# again, once.
(
	bad=0 again=0
	for i in $(seq 1 30); do
		if ! timeout 30 cardsign status >/dev/null 2>&1; then
			again=$((again + 1))
			timeout 30 cardsign status >/dev/null 2>&1 || bad=$((bad + 1))
		fi
		sleep 0.1
	done
	echo "$bad $again" >"$T/sa.bad"
) &
clients=$!
sleep 0.5
kill -TERM "$pid1"
for i in $(seq 1 100); do
	[ -s "$T/sa.pid" ] && [ "$(cat "$T/sa.pid")" != "$pid1" ] && break
	sleep 0.1
done
pid2=$(sa_agent)
check "a SIGTERM'd agent is started again ($pid1 then $pid2)" test "$pid2" != "$pid1"
check "the stopped agent exited 0" test "$(head -n 1 "$T/sa.exits")" = 0
check "a new cardsign is served by the restarted agent" timeout 30 cardsign status
sleep 0.5
kill -KILL "$pid2"
for i in $(seq 1 100); do
	[ -s "$T/sa.pid" ] && [ "$(cat "$T/sa.pid")" != "$pid2" ] && break
	sleep 0.1
done
pid3=$(sa_agent)
check "a killed agent is started again ($pid3)" test "$pid3" != "$pid2"
wait "$clients"
read -r bad again <"$T/sa.bad"
check "30 clients across two restarts all served ($bad failed, $again reconnected)" \
    test "$bad" = 0
check "the restarted agent logs in" login alice "$FIXTURE_ALICE_PIN"
sign s4 alice p256-sign
check "and signs" test "$(rc_of s4)" = 0
check "and it verifies" verifies s4 alice p256-sign
kill -TERM "$AGENT_PID"
rc=0
wait_exit "$AGENT_PID" 20 || rc=$?
AGENT_PID=
check "the holder and its agent stop" test $rc -eq 0
check "the agent stopped last exited 0" test "$(tail -n 1 "$T/sa.exits")" = 0
check "an activated agent leaves the socket file to its owner" test -S "$sa"
export CARDAGENT_SOCK=$T/agent.sock

# ---- a token host that crashes at every start ----
start_agent --debug --config "$T/agent.conf" --module "$FAULTMOD" --module "$FIXTURE_MODULE"
check "login through SoftHSM directly" login alice "$FIXTURE_ALICE_PIN" softhsm
good=$(key_id alice p256-sign softhsm)
fm=$(token_id alice faultmod)
# up TOKEN: "up" or "down", as STATUS says of the token's module host.
up() {
	timeout 10 cardsign status --json | python3 -c '
import json, sys
t = [t for t in json.load(sys.stdin) if t["id"] == sys.argv[1]][0]
print("down" if t["module_down"] else "up")' "$1"
}
check "the faulty module's host is up" test "$(up "$fm")" = up
host=$(pgrep -P "$AGENT_PID" -f 'token-host.*libfaultmod')
echo "crash C_Initialize" >"$FAULTMOD_CONTROL"
mark=$(wc -l <"$T/agent.log")
kill -KILL "$host"
t0=$SECONDS
bad=0
down=0
while [ $((SECONDS - t0)) -lt 10 ]; do
	case $(up "$fm") in
	down) down=$((down + 1)) ;;
	up) ;;
	*) bad=$((bad + 1)) ;;
	esac
	timeout 10 cardsign sign-digest --key "$good" --hash sha256 --in "$T/d" \
	    -o "$T/sig.good" >/dev/null 2>&1 || bad=$((bad + 1))
	sleep 0.5
done
tail -n +"$((mark + 1))" "$T/agent.log" >"$T/loop.log"
starts=$(grep -c 'token host for .*libfaultmod.* started' "$T/loop.log" || true)
grep -o 'restarting token host for .*libfaultmod.* in [0-9]* ms' "$T/loop.log" |
    awk '{ print $(NF - 1) }' >"$T/delays"
echo "# host starts in 10 s: $starts; restart delays (ms): $(tr '\n' ' ' <"$T/delays")"
check "STATUS answered throughout, the host marked down ($down times)" test $down -ge 5
check "the other module signed throughout ($bad requests failed)" test $bad -eq 0
check "the crashing host was restarted" test "$starts" -ge 3
check "with back-off: at most 8 starts in 10 s ($starts)" test "$starts" -le 8
check "each restart waits twice as long as the last" awk '
	NR > 2 && $1 != 2 * prev { bad = 1 }
	{ prev = $1 }
	END { exit bad || NR < 3 }' "$T/delays"
: >"$FAULTMOD_CONTROL"
for i in $(seq 1 250); do
	[ "$(up "$fm")" = up ] && break
	sleep 0.1
done
check "the host comes back once the module behaves" test "$(up "$fm")" = up
check "one host per module, nothing left over" test \
    "$(pgrep -c -P "$AGENT_PID" -f 'token-host')" = 2
check "login through the recovered module" login alice "$FIXTURE_ALICE_PIN" faultmod
finish
