#!/usr/bin/env bash
# Card events: a pulled card shows absent within a second, its operations
# fail as "token absent" (exit 7) while the other cards keep signing, and
# a re-inserted card is found again, logged out; `cardsign status --watch`
# reports each change. The removal comes from tests/faultmod ("remove
# @label"), which hides the SoftHSM token and closes its sessions as a
# reader does; tests/cards/ does the same through pcscd and OpenSC.
. "$(dirname "$0")/lib.sh"

: "${FAULTMOD:?path of libfaultmod.so}"
export FAULTMOD_REAL=$FIXTURE_MODULE FAULTMOD_CONTROL=$T/fault
: >"$FAULTMOD_CONTROL"
start_agent --module "$FAULTMOD"

alice=$(token_id alice faultmod)
printf '%s\n' "$FIXTURE_ALICE_PIN" | cardsign login --token "$alice" --pin-stdin
printf '%s\n' "$FIXTURE_BOB_PIN" |
    cardsign login --token "$(token_id bob faultmod)" --pin-stdin
akey=$(key_id alice p256-sign faultmod)
bkey=$(key_id bob rsa2048-sign faultmod)
echo "events" >"$T/msg"
openssl dgst -sha256 -binary "$T/msg" >"$T/d"
sign() { cardsign sign-digest --key "$1" --hash sha256 --in "$T/d" -o "$T/sig"; }

# flags TOKEN: the token's state words from `cardsign status --json`.
flags() {
	cardsign status --json | python3 -c '
import json, sys
for t in json.load(sys.stdin):
    if t["id"] == sys.argv[1]:
        print("present" if t["present"] else "absent",
              "in" if t["logged_in"] else "out")' "$1"
}
# wait_flags TOKEN WANT: up to 2 s for the token to reach that state.
wait_flags() {
	local i
	for i in $(seq 1 40); do
		[ "$(flags "$1")" = "$2" ] && return 0
		sleep 0.05
	done
	return 1
}

cardsign status --watch --json >"$T/watch" 2>"$T/watch.err" &
watcher=$!
check "alice's card signs" sign "$akey"

echo "remove @alice" >"$FAULTMOD_CONTROL"
start=$(date +%s%N)
check "a pulled card shows absent within a second" wait_flags "$alice" \
    "absent out"
ms=$((($(date +%s%N) - start) / 1000000))
check "  (seen after $ms ms)" test "$ms" -lt 1500
expect_exit 7 "signing with it fails: token absent" sign "$akey"
check "  and says so" grep -q 'not present\|absent' "$T/out"
check "bob's card keeps signing" sign "$bkey"
check "its keys are still listed, as absent" bash -c \
    "cardsign keys | grep -q 'p256-sign  (card absent)'"

: >"$FAULTMOD_CONTROL"
check "the re-inserted card is found again" wait_flags "$alice" \
    "present out"
check "  with the same id" test "$(token_id alice faultmod)" = "$alice"
check "it needs a login again" bash -c "
    printf '%s\n' '$FIXTURE_ALICE_PIN' |
    cardsign login --token '$alice' --pin-stdin"
check "and signs" sign "$akey"

# Pulled in the middle of a signature, the module answering with a plain
# CKR_GENERAL_ERROR as OpenSC does: still reported as a removal.
echo "pull C_Sign @alice" >"$FAULTMOD_CONTROL"
expect_exit 7 "a card pulled during C_Sign: token absent (exit 7)" \
    sign "$akey"
check "  the error says the card was removed" grep -q 'card was removed' \
    "$T/out"
check "  and it shows absent" wait_flags "$alice" "absent out"
: >"$FAULTMOD_CONTROL"
check "  until it is back" wait_flags "$alice" "present out"
printf '%s\n' "$FIXTURE_ALICE_PIN" | cardsign login --token "$alice" --pin-stdin

# The watcher saw the card leave and come back, as separate updates.
sleep 0.3
kill "$watcher" 2>/dev/null || true
wait "$watcher" 2>/dev/null || true
check "status --watch reported the removal" python3 -c '
import json, sys
seen = []
for line in open(sys.argv[1]):
    t = [x for x in json.loads(line) if x["id"] == sys.argv[2]][0]
    seen.append((t["present"], t["logged_in"]))
# Collapse repeats: present+in, then absent, present+out, present+in twice.
steps = [s for i, s in enumerate(seen) if i == 0 or s != seen[i - 1]]
want = [(True, True)] + [(False, False), (True, False), (True, True)] * 2
sys.exit(0 if steps == want else "saw %r" % (steps,))' "$T/watch" "$alice"
check "the agent logged both events" bash -c "
    grep -q \"token 'alice' .* removed\" '$T/agent.log' &&
    grep -q \"token 'alice' .* inserted\" '$T/agent.log'"

finish
