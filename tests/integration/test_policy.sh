#!/usr/bin/env bash
# PIN policy (cardagent.conf): pin-cache login (the default: stay logged
# in, ask the PIN of an always-authenticate key at every use), ttl (reuse
# that PIN for a while, then forget it and log out), none (log out after
# every operation), and idle-lock. Prompts are counted through the fake
# pinentry; each agent runs with its own config.
. "$(dirname "$0")/lib.sh"

echo "policy" >"$T/msg"
openssl dgst -sha256 -binary "$T/msg" >"$T/d"
set_pin "$FIXTURE_ALICE_PIN"

# agent CONFIG-LINES...: (re)starts the agent with these settings.
agent() {
	[ -z "${AGENT_PID:-}" ] || stop_agent
	printf '%s\n' "$@" >"$T/agent.conf"
	start_agent --config "$T/agent.conf" --module "$FIXTURE_MODULE"
	alice=$(token_id alice)
	aa=$(key_id alice rsa2048-sign-aa)
	plain=$(key_id alice p256-sign)
	: >"$FAKE_PINENTRY_LOG"
}
sign() { cardsign sign-digest --key "$1" --hash sha256 --in "$T/d" -o "$T/sig"; }
login() { printf '%s\n' "$FIXTURE_ALICE_PIN" | cardsign login --token "$alice" --pin-stdin; }
logged_in() {
	cardsign status --json | python3 -c '
import json, sys
sys.exit(0 if [t for t in json.load(sys.stdin)
               if t["id"] == sys.argv[1]][0]["logged_in"] else 1)' "$alice"
}
# wait_out SECONDS: until alice is logged out, SECONDS at most.
wait_out() {
	local i
	for i in $(seq 1 $(($1 * 20))); do
		logged_in || return 0
		sleep 0.05
	done
	return 1
}

agent "# defaults"
check "login" login
check "always-auth key signs" sign "$aa"
check "  again" sign "$aa"
check "default: its PIN is asked at every use (2 prompts)" \
    test "$(prompts)" -eq 2
check "an ordinary key signs without a prompt" sign "$plain"
check "  (still 2 prompts)" test "$(prompts)" -eq 2

agent "pin-cache ttl 3"
check "ttl: login" login
check "ttl: always-auth key signs" sign "$aa"
check "  and again" sign "$aa"
check "  with the login's PIN, no prompt" test "$(prompts)" -eq 0
check "ttl: after 3 s the token is logged out" wait_out 5
check "  and the PIN is gone: the next use asks, once (the login's PIN" bash -c \
    "cardsign sign-digest --key '$aa' --hash sha256 --in '$T/d' \
    -o '$T/sig' && test \"\$(grep -c '^GETPIN' '$FAKE_PINENTRY_LOG')\" -eq 1"
check "  serves the key too)" true
check "  the log says why" grep -q "time is up (pin-cache ttl)" "$T/agent.log"
check "ttl: a lock forgets the PIN" cardsign lock
: >"$FAKE_PINENTRY_LOG"
check "  so the next signature asks again" sign "$aa"
check "  (once: the login)" test "$(prompts)" -eq 1

agent "pin-cache ttl 60"
set_pin 999999
: >"$FAKE_PINENTRY_LOG"
expect_exit 5 "ttl: a wrong PIN fails" sign "$aa"
set_pin "$FIXTURE_ALICE_PIN"
check "  and is not kept: the next signature asks" sign "$aa"
check "  (the wrong login's prompt, then the good one's)" \
    test "$(prompts)" -eq 2

agent "pin-cache none"
check "none: login" login
check "none: an ordinary key signs" sign "$plain"
check "  and the token is logged out after it" wait_out 2
check "  so the next signature asks for the PIN" sign "$plain"
check "  (one prompt)" test "$(prompts)" -eq 1

agent "idle-lock 2s"
check "idle-lock: login" login
check "  sign" sign "$plain"
check "  still logged in at once" logged_in
check "  logged out once idle for 2 s" wait_out 5
check "  the log says why" grep -q "unused (idle-lock)" "$T/agent.log"

export FAKE_PINENTRY_CONFIRM=$T/confirm
agent "confirm sign"
check "confirm: login" login
echo yes >"$FAKE_PINENTRY_CONFIRM"
check "confirm sign: allowed, it signs" sign "$plain"
check "  the dialog named the program, the key and the token" grep -q \
    '^CONFIRM Allow cardsign (process [0-9]*) to sign with the key "p256-sign" on the token "alice"?' \
    "$FAKE_PINENTRY_LOG"
echo no >"$FAKE_PINENTRY_CONFIRM"
expect_exit 9 "confirm sign: denied, nothing is signed" sign "$plain"
check "  and it says so" grep -q 'did not allow' "$T/out"
: >"$FAKE_PINENTRY_LOG"
check "confirm sign: decryption needs no confirmation" bash -c "
    openssl pkeyutl -encrypt -certin \
    -inkey '$FIXTURE_DIR/pki/alice-rsa2048-km.pem' -in '$T/d' \
    -out '$T/wrapped' &&
    cardsign unwrap --key '$(key_id alice rsa2048-km)' --in '$T/wrapped' \
    -o '$T/unwrapped' && cmp '$T/d' '$T/unwrapped'"
check "  (no dialog)" bash -c "! grep -q '^CONFIRM' '$FAKE_PINENTRY_LOG'"

# Per token: a rule with a label overrides the one without.
agent "confirm sign" "confirm none bob"
echo no >"$FAKE_PINENTRY_CONFIRM"
check "confirm per token: login to both" bash -c "
    printf '%s\n' '$FIXTURE_ALICE_PIN' | cardsign login --token '$alice' --pin-stdin &&
    printf '%s\n' '$FIXTURE_BOB_PIN' |
    cardsign login --token '$(token_id bob)' --pin-stdin"
expect_exit 9 "alice's key still needs the OK" sign "$plain"
check "bob's is exempt" sign "$(key_id bob rsa2048-sign)"
unset FAKE_PINENTRY_CONFIRM

finish
