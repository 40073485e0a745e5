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

# copies: how many times the PIN is in the agent's writable memory.
copies() {
	python3 - "$AGENT_PID" "$pin" <<'PY'
import sys
pid, pin = sys.argv[1], sys.argv[2].encode()
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
finish
