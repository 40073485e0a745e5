#!/usr/bin/env bash
# 50 clients at once, on two tokens, each signature checked.
. "$(dirname "$0")/lib.sh"

start_agent
printf '%s\n' "$FIXTURE_ALICE_PIN" | cardsign login --token "$(token_id alice)" --pin-stdin
printf '%s\n' "$FIXTURE_BOB_PIN" | cardsign login --token "$(token_id bob)" --pin-stdin
ids=("$(key_id alice rsa2048-sign)" "$(key_id alice p256-sign)" "$(key_id bob rsa2048-sign)")
pubs=("$PKI/alice-rsa2048-sign.pub.pem" "$PKI/alice-p256-sign.pub.pem" "$PKI/bob-rsa2048-sign.pub.pem")
pids=()
for i in $(seq 1 50); do
	echo "message $i" >"$T/m$i"
	openssl dgst -sha256 -binary "$T/m$i" >"$T/d$i"
	k=$((i % 3))
	( cardsign sign-digest --key "${ids[$k]}" --hash sha256 --in "$T/d$i" \
	    -o "$T/s$i" && openssl dgst -sha256 -verify "${pubs[$k]}" \
	    -signature "$T/s$i" "$T/m$i" >/dev/null ) &
	pids+=($!)
done
bad=0
for p in "${pids[@]}"; do wait "$p" || bad=$((bad + 1)); done
check "50 concurrent signatures all verify ($bad failed)" test $bad -eq 0
check "agent still answers" cardsign status
finish
