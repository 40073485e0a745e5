#!/usr/bin/env bash
# No copy of a PIN outlives its use in the agent: its memory, read through
# /proc/PID/mem, holds the PIN while pin-cache ttl keeps it (the scan
# works), and none after a LOCK or once the time is up. The token gets a
# PIN found nowhere else first, so a match is the PIN and nothing else.
# Needs root (the agent is not dumpable, so only CAP_SYS_PTRACE may read
# it): skipped (77) otherwise.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: reading another process's memory needs root"
	exit 77
fi
pin=Zq7-w0rD-$RANDOM$RANDOM
check "the token gets a PIN found nowhere else" pkcs11-tool \
    --module "$FIXTURE_MODULE" --token-label alice --login \
    --pin "$FIXTURE_ALICE_PIN" --change-pin --new-pin "$pin"

printf 'pin-cache ttl 3\n' >"$T/agent.conf"
start_agent --config "$T/agent.conf" --module "$FIXTURE_MODULE"
alice=$(token_id alice)
aa=$(key_id alice rsa2048-sign-aa)
echo secrets >"$T/msg"
openssl dgst -sha256 -binary "$T/msg" >"$T/d"

# copies [PID [HEX]]: how many times the PIN (or the bytes HEX) is in the
# writable memory of the agent (or process PID).
copies() {
	python3 - "${1:-$AGENT_PID}" "${2:-$(printf %s "$pin" | od -An -tx1 | tr -d ' \n')}" <<'PY'
import sys
pid, pin = sys.argv[1], bytes.fromhex(sys.argv[2])
CHUNK = 1 << 20
n = 0
with open("/proc/%s/maps" % pid) as maps, open("/proc/%s/mem" % pid, "rb", 0) as mem:
    for line in maps:
        fields = line.split()
        addr, perms = fields[:2]
        lo, hi = (int(x, 16) for x in addr.split("-"))
        # ASan's shadow is terabytes of reserve, not data.
        if not perms.startswith("rw") or hi - lo > (1 << 32):
            continue
        tail = b""
        for at in range(lo, hi, CHUNK):
            try:
                mem.seek(at)
                buf = tail + mem.read(min(CHUNK, hi - at))
            except OSError:
                tail = b""
                continue
            n += buf.count(pin)
            # The last len(pin) - 1 bytes go with the next chunk: a copy
            # across the two is found there, and none is counted twice.
            tail = buf[-(len(pin) - 1):]
print(n)
PY
}

printf '%s\n' "$pin" | cardsign login --token "$alice" --pin-stdin
: >"$FAKE_PINENTRY_LOG"
check "signing with the kept PIN" cardsign sign-digest \
    --key "$aa" --hash sha256 --in "$T/d" -o "$T/sig"
check "  no prompt was needed" test "$(prompts)" -eq 0
kept=$(copies)
check "while kept, the scan finds the PIN ($kept copies)" test "$kept" -ge 1
check "lock" cardsign lock
left=$(copies)
check "after LOCK no copy is left ($left)" test "$left" -eq 0

printf '%s\n' "$pin" | cardsign login --token "$alice" --pin-stdin
check "  sign again" cardsign sign-digest --key "$aa" --hash sha256 \
    --in "$T/d" -o "$T/sig"
sleep 4
left=$(copies)
check "once pin-cache's time is up, no copy is left ($left)" \
    test "$left" -eq 0
# An unwrapped content key: in the reply, then in neither process.
km=$(key_id alice rsa2048-km)
head -c 32 /dev/urandom >"$T/cek"
openssl pkeyutl -encrypt -pubin -inkey "$PKI/alice-rsa2048-km.pub.pem" \
    -in "$T/cek" -out "$T/cek.enc"
cek=$(od -An -tx1 "$T/cek" | tr -d ' \n')
printf '%s\n' "$pin" | cardsign login --token "$alice" --pin-stdin
check "the agent unwraps a content key" env PYTHONPATH="$TESTS_SRC/integration" \
    python3 -c "
import sys
from agentclient import *
r = Agent(sys.argv[1]).op(DECRYPT, sys.argv[2], open(sys.argv[3], 'rb').read(), ALG_RSA_PKCS)
assert r == ('ok', bytes.fromhex(sys.argv[4])), r" \
    "$CARDAGENT_SOCK" "$km" "$T/cek.enc" "$cek"
left=$(copies "$AGENT_PID" "$cek")
check "  no copy of it is left in the agent ($left)" test "$left" -eq 0
host=$(pgrep -P "$AGENT_PID" | head -n1)
left=$(copies "$host" "$cek")
check "  nor in its token host ($left)" test "$left" -eq 0

# Not dumpable, no core files: seen from outside on an agent run as an
# ordinary user (nobody), whose /proc files the kernel then gives to root.
stop_agent
N=$(mktemp -d "${TMPDIR:-/tmp}/cardagent-nobody.XXXXXX")
cp -a "$T/tokens" "$N/tokens"
sed "s|$T/tokens|$N/tokens|" "$SOFTHSM2_CONF" >"$N/softhsm2.conf"
mkdir -m 700 "$N/run"
chown -R nobody: "$N"
chmod 711 "$N"
setpriv --reuid=nobody --regid=nogroup --clear-groups env \
    SOFTHSM2_CONF="$N/softhsm2.conf" HOME="$N" \
    "$CARDAGENT_BIN/cardagent" --foreground --socket "$N/run/agent.sock" \
    --module "$FIXTURE_MODULE" >/dev/null 2>"$T/nobody.log" &
npid=$!
for i in $(seq 1 100); do
	[ -S "$N/run/agent.sock" ] && break
	sleep 0.05
done
check "an agent running as nobody" test -S "$N/run/agent.sock"
check "  is not dumpable: its /proc files belong to root" \
    test "$(stat -c %U "/proc/$npid/status")" = root
check "  and may write no core file" bash -c \
    "grep -E '^Max core file size +0 +0 ' /proc/$npid/limits"
hpid=$(pgrep -P "$npid" | head -n1)
check "  nor may its token host" bash -c "test -n '$hpid' &&
    test \"\$(stat -c %U /proc/$hpid/status)\" = root &&
    grep -E '^Max core file size +0 +0 ' /proc/$hpid/limits"
kill "$npid"
wait "$npid" 2>/dev/null || true
rm -rf "$N"

finish
