#!/usr/bin/env bash
# A module that hangs or crashes costs only its own host: the watchdog kills
# it, its request fails with a clear error, the host restarts, and the other
# module keeps serving throughout. Faults come from tests/faultmod on cue.
. "$(dirname "$0")/lib.sh"

: "${FAULTMOD:?path of libfaultmod.so}"
export FAULTMOD_REAL=$FIXTURE_MODULE FAULTMOD_CONTROL=$T/fault
cat >"$T/agent.conf" <<CONF
token-timeout 2
CONF
: >"$FAULTMOD_CONTROL"
start_agent --config "$T/agent.conf" --module "$FAULTMOD" --module "$FIXTURE_MODULE"

login() { printf '%s\n' "$FIXTURE_ALICE_PIN" | cardsign login --token "$(token_id alice "$1")" --pin-stdin; }
check "login through the faulty module" login faultmod
check "login through SoftHSM directly" login softhsm
bad=$(key_id alice rsa2048-sign faultmod)
good=$(key_id alice p256-sign softhsm)
echo "watchdog" >"$T/msg"
openssl dgst -sha256 -binary "$T/msg" >"$T/d"
sign() { cardsign sign-digest --key "$1" --hash sha256 --in "$T/d" -o "$T/sig.$2"; }
# Waits (5 s at most) until no module host is restarting.
wait_restarted() {
	local i
	for i in $(seq 1 50); do
		cardsign status | grep 'module restarting' >/dev/null || return 0
		sleep 0.1
	done
}

echo "hang C_Sign" >"$FAULTMOD_CONTROL"
rc=0
sign "$bad" hang >"$T/hang.out" 2>&1 &
hung=$!
sleep 0.3
check "other module signs while one hangs" sign "$good" ok
check "status answers while one hangs" cardsign status
check "the hung request is still waiting" kill -0 $hung
wait $hung || rc=$?
check "hung signature fails as a token failure (exit 10)" test $rc -eq 10
check "the error says the token did not answer" grep -q 'did not answer' "$T/hang.out"
check "the agent logged the restart" grep -q 'restarting token host' "$T/agent.log"

: >"$FAULTMOD_CONTROL"
wait_restarted
check "restarted host is back" bash -c "! cardsign status | grep -q 'module restarting'"
check "login again after the restart" login faultmod
check "the restarted module signs" sign "$bad" again

# One module, two tokens: a card that hangs holds up only its own keys.
printf '%s\n' "$FIXTURE_BOB_PIN" | cardsign login --token "$(token_id bob faultmod)" --pin-stdin
echo "hang C_Sign @alice" >"$FAULTMOD_CONTROL"
rc=0
sign "$bad" hang2 >"$T/hang.out" 2>&1 &
hung=$!
sleep 0.3
check "bob's key on the same module signs while alice's card hangs" \
    sign "$(key_id bob rsa2048-sign faultmod)" bob
check "the hung request on alice is still waiting" kill -0 $hung
wait $hung || rc=$?
check "alice's hung signature fails (exit 10)" test $rc -eq 10
: >"$FAULTMOD_CONTROL"
wait_restarted
check "login to alice again" login faultmod

echo "crash C_Sign" >"$FAULTMOD_CONTROL"
expect_exit 10 "crashed module fails the request (exit 10)" sign "$bad" crash
check "the error says the module crashed" grep -q 'crashed' "$T/out"
check "agent survived the crash" kill -0 "$AGENT_PID"
check "other module still signs" sign "$good" ok2
: >"$FAULTMOD_CONTROL"
wait_restarted
check "login after the crash" login faultmod
check "signs after the crash" sign "$bad" after

# A module that hangs in C_Initialize does not hold up the agent's start.
stop_agent
echo "hang C_Initialize" >"$FAULTMOD_CONTROL"
start_agent --config "$T/agent.conf" --module "$FAULTMOD" --module "$FIXTURE_MODULE"
check "status answers although a module hangs at start" cardsign status
check "the healthy module's tokens are listed" bash -c "cardsign status --json | grep -q softhsm"
check "login to the healthy module" login softhsm
check "the healthy module signs" sign "$(key_id alice p256-sign softhsm)" init
: >"$FAULTMOD_CONTROL"
finish
