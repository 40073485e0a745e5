# shellcheck shell=bash
# stack.sh: what the tests of the card stack through OpenSC alone share
# (pkcs11-tool on alice's card, raw APDUs to reader 0), after
# tests/tap.sh and tests/cards/lib.sh.

fails() { ! "$@"; }

# The exit trap: the logs if anything failed, the stack stopped, the
# summary, and the test's status.
stack_finish() {
	local rc=$? log
	[ "$nfail" -eq 0 ] || rc=1
	if [ "$rc" -ne 0 ] && [ -n "${CARDS_DIR:-}" ]; then
		for log in "$CARDS_DIR"/*.log; do
			echo "--- $log (last lines) ---"
			tail -n 20 "$log"
		done
	fi
	cards_stop
	echo "$npass passed, $nfail failed"
	exit "$rc"
}

p11() { pkcs11-tool --module "$CARDS_MODULE" "$@"; }

alice() { p11 --token-label alice "$@"; }

alice_login() { alice --login --pin "$CARDS_PIN" "$@"; }

# expect_sws DESC APDU SW [APDU SW]...: sends the APDUs in a row, in one
# connection, to reader 0; each must answer with the status word after it.
# (opensc-tool fails when an APDU fails: its exit status means nothing here.)
expect_sws() {
	local d=$1 args=() want="" got
	shift
	while [ $# -ge 2 ]; do
		args+=(-s "$1")
		want+="${want:+ }$2"
		shift 2
	done
	opensc-tool --card-driver default --reader 0 "${args[@]}" \
	    >"$T/apdu.out" 2>&1 || true
	got=$(sed -n 's/^Received (SW1=0x\(..\), SW2=0x\(..\)).*/\1\2/p' \
	    "$T/apdu.out" | tr 'a-f\n' 'A-F ')
	got=${got% }
	if [ "$got" = "$want" ]; then
		pass "$d"
	else
		failed "$d"
		echo "    got:    $got"
		echo "    wanted: $want"
		sed 's/^/    /' "$T/apdu.out"
	fi
}

hex() { od -An -v -tx1 | tr -d ' \n'; }
