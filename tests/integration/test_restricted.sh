#!/usr/bin/env bash
# Restricted sockets (restricted-socket in cardagent.conf): only the keys
# and operations named, no LOCK, no PIN from the client, a rate limit per
# client, confirmation per use or per connection; the audit log; modules
# only from the agent's own config, resolved at start; and RSA PKCS#1 v1.5
# decryption failures that all read alike (no padding oracle).
. "$(dirname "$0")/lib.sh"
: "${FAULTMOD:?path of libfaultmod.so}"

export PYTHONPATH=$TESTS_SRC/integration
R=$T/r
set_pin "$FIXTURE_ALICE_PIN"
echo "restricted" >"$T/msg"
openssl dgst -sha256 -binary "$T/msg" >"$T/d"
DIGEST_HEX=$(od -An -tx1 "$T/d" | tr -d ' \n')
export CONFIRM_FILE=$T/confirm
export FAKE_PINENTRY_CONFIRM=$CONFIRM_FILE
echo yes >"$CONFIRM_FILE"

cat >"$T/agent.conf" <<CONF
restricted-socket $R/sign.sock ops=sign keys=p256-sign,rsa2048-sign rate=5
restricted-socket $R/use.sock confirm=use
restricted-socket $R/conn.sock confirm=connection
audit $T/audit.log
CONF
start_agent --config "$T/agent.conf" --module "$FIXTURE_MODULE"
alice=$(token_id alice)
p256=$(key_id alice p256-sign)
rsa3072=$(key_id alice rsa3072-sign)
km=$(key_id alice rsa2048-km)
check "login on the full socket" bash -c \
    "printf '%s\n' '$FIXTURE_ALICE_PIN' | cardsign login --token '$alice' --pin-stdin"

# ac SOCKET PYTHON: runs PYTHON with a = Agent(SOCKET) and the digest d.
ac() {
	python3 -c "
import sys
from agentclient import *
a = Agent(sys.argv[1])
d = open(sys.argv[2], 'rb').read()
$2" "$1" "$T/d"
}

check "the restricted sockets exist, mode 0600" bash -c \
    "for s in sign use conn; do test \"\$(stat -c %a $R/\$s.sock)\" = 600; done"
check "it lists only the keys it allows, for the operations it allows" bash -c "
CARDAGENT_SOCK=$R/sign.sock cardsign keys --json | python3 -c '
import json, sys
keys = json.load(sys.stdin)
# By label: alice's p256-sign and rsa2048-sign, and bob's rsa2048-sign.
assert sorted(k[\"label\"] for k in keys) == [\"p256-sign\", \"rsa2048-sign\",
                                          \"rsa2048-sign\"], keys
assert all(k[\"sign\"] and not k[\"decrypt\"] and not k[\"derive\"]
           for k in keys), keys'"
check "cardsign signs through it" env CARDAGENT_SOCK="$R/sign.sock" \
    cardsign sign-digest --key "$p256" --hash sha256 --in "$T/d" -o "$T/sig"
check "  and the signature verifies" openssl pkeyutl -verify -pubin \
    -inkey "$PKI/alice-p256-sign.pub.pem" -in "$T/d" -sigfile "$T/sig"
check "a key outside the scope is answered as unknown" ac "$R/sign.sock" "
r = a.op(SIGN, '$rsa3072', d, ALG_RSA_PKCS, HASH_SHA256)
assert r[0] == 'NO_KEY', r"
check "  the same key signs on the full socket" ac "$CARDAGENT_SOCK" "
r = a.op(SIGN, '$rsa3072', d, ALG_RSA_PKCS, HASH_SHA256)
assert r[0] == 'ok', r"
check "an operation it does not allow is denied" ac "$R/sign.sock" "
r = a.op(DECRYPT, '$km', b'\\0' * 256, ALG_RSA_PKCS)
assert r[0] == 'DENIED', r"
check "LOCK is denied" ac "$R/sign.sock" "
r = a.lock()
assert r[0] == 'DENIED', r"
check "LOGIN with a PIN from the client is denied" ac "$R/sign.sock" "
r = a.login('$alice', b'$FIXTURE_ALICE_PIN')
assert r[0] == 'DENIED', r"
check "an operation carrying a PIN is denied" ac "$R/sign.sock" "
r = a.op(SIGN, '$p256', d, ALG_ECDSA, HASH_SHA256, pin=b'000000')
assert r[0] == 'DENIED', r"
check "  and the token is still logged in, no PIN was tried" bash -c "
cardsign status --json | python3 -c '
import json, sys
t = [t for t in json.load(sys.stdin) if t[\"label\"] == \"alice\"][0]
assert t[\"logged_in\"] and not t.get(\"pin_count_low\"), t'"
check "rate=5: five operations a minute, the sixth is refused (BUSY)" \
    ac "$R/sign.sock" "
r = [a.op(SIGN, '$p256', d, ALG_ECDSA, HASH_SHA256)[0] for i in range(6)]
assert r == ['ok'] * 5 + ['BUSY'], r"
check "the full socket has no rate limit" ac "$CARDAGENT_SOCK" "
r = [a.op(SIGN, '$p256', d, ALG_ECDSA, HASH_SHA256)[0] for i in range(12)]
assert r == ['ok'] * 12, r"

: >"$FAKE_PINENTRY_LOG"
check "confirm=use: every operation is confirmed" ac "$R/use.sock" "
r = [a.op(SIGN, '$p256', d, ALG_ECDSA, HASH_SHA256)[0] for i in range(2)]
assert r == ['ok', 'ok'], r"
check "  two dialogs" test "$(grep -c '^CONFIRM' "$FAKE_PINENTRY_LOG")" -eq 2
check "  naming the socket" grep -q "restricted%20socket%20$R/use.sock\|restricted socket $R/use.sock" \
    "$FAKE_PINENTRY_LOG"
echo no >"$CONFIRM_FILE"
check "  denied: the operation is not done" ac "$R/use.sock" "
r = a.op(SIGN, '$p256', d, ALG_ECDSA, HASH_SHA256)
assert r[0] == 'CANCELLED', r"
echo yes >"$CONFIRM_FILE"
: >"$FAKE_PINENTRY_LOG"
check "confirm=connection: three operations on one connection" \
    ac "$R/conn.sock" "
r = [a.op(SIGN, '$p256', d, ALG_ECDSA, HASH_SHA256)[0] for i in range(3)]
assert r == ['ok'] * 3, r"
check "  one dialog" test "$(grep -c '^CONFIRM' "$FAKE_PINENTRY_LOG")" -eq 1
check "  a new connection asks again" ac "$R/conn.sock" "
r = a.op(SIGN, '$p256', d, ALG_ECDSA, HASH_SHA256)
assert r[0] == 'ok', r"
check "  (two dialogs)" test "$(grep -c '^CONFIRM' "$FAKE_PINENTRY_LOG")" -eq 2

check "audit: a line for the signature, with the digest signed" \
    grep -q "socket=$R/sign.sock op=sign key=$p256 label=p256-sign token=alice digest=$DIGEST_HEX result=ok" \
    "$T/audit.log"
check "audit: who asked (uid, pid, executable)" grep -qE \
    "^time=[0-9T:.-]+Z uid=$(id -u) pid=[0-9]+ exe=[^ ]*python3[^ ]* socket=$R/sign.sock op=sign" \
    "$T/audit.log"
check "audit: refusals are logged" grep -q \
    "socket=$R/sign.sock op=lock result=\"request denied\"" "$T/audit.log"
check "audit: a decryption is logged by the hash of its data" grep -qE \
    "op=decrypt key=$km data=sha256:[0-9a-f]{64} result=\"request denied\"" \
    "$T/audit.log"
check "audit: the login on the full socket" grep -q \
    "socket=main op=login token=alice result=ok" "$T/audit.log"
check "audit: never the PIN" bash -c "! grep -q '$FIXTURE_ALICE_PIN' '$T/audit.log'"
check "audit: the file is the user's alone" test "$(stat -c %a "$T/audit.log")" = 600

check "RSA PKCS#1 v1.5: every bad padding is answered alike (SoftHSM)" \
    python3 "$TESTS_SRC/integration/oracle.py" "$CARDAGENT_SOCK" "$km" \
    "$PKI/alice-rsa2048-km.pem"
stop_agent

# Tokens differ in what they answer for bad padding; the client must not
# see the difference. faultmod makes C_Decrypt fail with each value.
export FAULTMOD_REAL=$FIXTURE_MODULE FAULTMOD_CONTROL=$T/fault
: >"$FAULTMOD_CONTROL"
start_agent --module "$FAULTMOD"
fkm=$(key_id alice rsa2048-km)
check "login through faultmod" bash -c \
    "printf '%s\n' '$FIXTURE_ALICE_PIN' | cardsign login --token '$(token_id alice)' --pin-stdin"
probe() {
	python3 "$TESTS_SRC/integration/oracle.py" "$CARDAGENT_SOCK" "$fkm" \
	    "$PKI/alice-rsa2048-km.pem" probe
}
want=$(probe)
check "a random block fails: $want" test -n "$want"
for rv in 5 6 20 21 40 41 30; do
	echo "fail C_Decrypt $rv" >"$FAULTMOD_CONTROL"
	check "  CKR 0x$rv from C_Decrypt reads the same" test "$(probe)" = "$want"
done
: >"$FAULTMOD_CONTROL"
stop_agent

# Modules: resolved to real paths at start; nothing else is loaded.
ln -s "$FIXTURE_MODULE" "$T/link.so"
start_agent --module "$T/link.so"
check "a module named through a symlink is served by its real path" bash -c "
cardsign status --json | python3 -c '
import json, os, sys
mods = {t[\"module\"] for t in json.load(sys.stdin)}
assert mods == {os.path.realpath(\"$FIXTURE_MODULE\")}, mods'"
stop_agent
start_agent --module "$T/link.so" --module "$FIXTURE_MODULE"
check "a module named twice is served once" bash -c "
cardsign status --json | python3 -c '
import json, sys
labels = sorted(t[\"label\"] for t in json.load(sys.stdin))
assert labels == [\"alice\", \"bob\"], labels'"
stop_agent
printf 'module %s\n' "$T/missing.so" >"$T/bad.conf"
expect_exit 1 "a config naming a missing module stops the start" \
    "$CARDAGENT_BIN/cardagent" --foreground --socket "$T/x.sock" --config "$T/bad.conf"
check "  saying where and why" grep -q "bad.conf:1: module: No such file" "$T/out"
printf 'module lib.so\n' >"$T/bad.conf"
expect_exit 1 "a relative module path is refused" \
    "$CARDAGENT_BIN/cardagent" --foreground --socket "$T/x.sock" --config "$T/bad.conf"

finish
