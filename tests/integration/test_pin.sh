#!/usr/bin/env bash
# PIN handling: a wrong PIN is reported and never retried, a cancelled
# prompt fails cleanly, and an always-authenticate key gets a fresh
# context-specific login (one prompt) before every signature.
. "$(dirname "$0")/lib.sh"

start_agent
alice=$(token_id alice)
echo "pin test" >"$T/msg"
openssl dgst -sha256 -binary "$T/msg" >"$T/d"

echo 000000 | expect_exit 5 "wrong PIN from --pin-stdin is reported" \
    cardsign login --token "$alice" --pin-stdin
check "the error says the PIN was wrong" grep -qi 'PIN incorrect' "$T/out"

set_pin 999999
: >"$FAKE_PINENTRY_LOG"
id=$(key_id alice rsa2048-sign)
expect_exit 5 "wrong PIN from pinentry is reported" \
    cardsign sign-digest --key "$id" --hash sha256 --in "$T/d" -o "$T/sig"
check "the wrong PIN was asked once and not retried" test "$(prompts)" -eq 1
check "the prompt names the token, the operation and the key" grep -q \
    'GETPIN .*token "alice".* to sign with the key "rsa2048-sign"' \
    "$FAKE_PINENTRY_LOG"

no_pin
: >"$FAKE_PINENTRY_LOG"
expect_exit 9 "cancelled prompt" \
    cardsign sign-digest --key "$id" --hash sha256 --in "$T/d" -o "$T/sig"
check "still logged out after cancel" bash -c \
    "cardsign status --json | python3 -c 'import json,sys; sys.exit(any(t[\"logged_in\"] for t in json.load(sys.stdin)))'"

# Several clients waiting for the same login share one prompt.
set_pin "$FIXTURE_ALICE_PIN"
: >"$FAKE_PINENTRY_LOG"
pids=()
for i in 1 2 3 4 5; do
	cardsign sign-digest --key "$id" --hash sha256 --in "$T/d" \
	    -o "$T/sig.$i" &
	pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
check "five clients signed after one login" test $rc -eq 0
check "one prompt served them all" test "$(prompts)" -eq 1

# Always-authenticate: every use asks, and each signature verifies.
for label in rsa2048-sign-aa p256-sign-aa; do
	aa=$(key_id alice $label)
	: >"$FAKE_PINENTRY_LOG"
	for i in 1 2 3; do
		check "$label signature $i verifies" bash -c "
		    cardsign sign-digest --key $aa --hash sha256 --in $T/d -o $T/sig &&
		    openssl dgst -sha256 -verify $PKI/alice-$label.pub.pem \
		        -signature $T/sig $T/msg"
	done
	check "$label asked for the PIN at each of 3 uses" test "$(prompts)" -eq 3
	check "$label prompt says the key wants the PIN every time" \
	    grep -q 'every time' "$FAKE_PINENTRY_LOG"
	set_pin 111111
	expect_exit 5 "$label with a wrong PIN fails without retry" \
	    cardsign sign-digest --key "$aa" --hash sha256 --in "$T/d" -o "$T/sig"
	check "$label: that was one more prompt only" test "$(prompts)" -eq 4
	set_pin "$FIXTURE_ALICE_PIN"
	check "$label signs again after a wrong PIN" \
	    cardsign sign-digest --key "$aa" --hash sha256 --in "$T/d" -o "$T/sig"
done

# Shutting down while the user has a PIN dialog open does not wait for it.
cardsign lock
echo 30 >"$FAKE_PINENTRY_WAIT"
: >"$FAKE_PINENTRY_LOG"
cardsign sign-digest --key "$id" --hash sha256 --in "$T/d" -o "$T/sig" \
    >"$T/pending.out" 2>&1 &
pending=$!
for i in $(seq 1 50); do
	grep -q '^GETPIN' "$FAKE_PINENTRY_LOG" 2>/dev/null && break
	sleep 0.1
done
kill -TERM "$AGENT_PID"
for i in $(seq 1 50); do
	kill -0 "$AGENT_PID" 2>/dev/null || break
	sleep 0.1
done
check "the agent exits while a PIN dialog is open" \
    bash -c "! kill -0 $AGENT_PID 2>/dev/null"
rc=0
wait "$pending" || rc=$?
check "the waiting client gets an error, not a hang (exit $rc)" test $rc -ne 0
wait "$AGENT_PID" 2>/dev/null || true
AGENT_PID=
rm -f "$FAKE_PINENTRY_WAIT"
finish
