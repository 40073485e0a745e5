#!/usr/bin/env bash
# Forwarding a restricted socket with `ssh -R` (docs/forwarding.md): a real
# sshd on 127.0.0.1 and a real ssh client; cardsign on the "remote" side
# signs a file through the forwarded socket, and what the socket does not
# allow stays refused over there.
#
# sshd never lets root bind a forwarded Unix socket, so as root the test
# runs in a private mount namespace where /etc/passwd, /etc/group and
# /etc/shadow are copies naming one more user, the "remote" one; nothing
# on the machine changes. As any other user, that user is the remote one.
SSHD=/usr/sbin/sshd
if [ ! -x "$SSHD" ]; then
	echo "1..0 # SKIP no sshd (openssh-server)"
	exit 77
fi
if [ "$(id -u)" -eq 0 ] && [ -z "${CARDAGENT_FWD_NS:-}" ]; then
	exec env CARDAGENT_FWD_NS=1 unshare --mount --propagation private \
	    bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"

S=$T/ssh
R=$T/r
mkdir -p "$S"
ssh-keygen -q -t ed25519 -N '' -f "$S/host" </dev/null
ssh-keygen -q -t ed25519 -N '' -f "$S/id" </dev/null
RHOME=$(mktemp -d "${TMPDIR:-/tmp}/cardagent-remote.XXXXXX")
RUSER=$(id -un)
if [ "$(id -u)" -eq 0 ]; then
	RUSER=cardagent-remote
	ruid=64123
	while getent passwd "$ruid" >/dev/null || getent group "$ruid" >/dev/null; do
		ruid=$((ruid + 1))
	done
	for f in passwd group shadow; do
		cp "/etc/$f" "$S/$f"
	done
	echo "$RUSER:x:$ruid:$ruid::$RHOME:/bin/bash" >>"$S/passwd"
	echo "$RUSER:x:$ruid:" >>"$S/group"
	echo "$RUSER:*:19000:0:99999:7:::" >>"$S/shadow"
	for f in passwd group shadow; do
		mount --bind "$S/$f" "/etc/$f"
	done
	# sshd as root wants its privilege-separation directory.
	mkdir -p /run/sshd
fi
mkdir -p "$RHOME/.ssh"
cp "$S/id.pub" "$RHOME/.ssh/authorized_keys"
chown -R "$RUSER:" "$RHOME"
chmod 700 "$RHOME"
if ! setpriv --reuid="$RUSER" --regid="$RUSER" --clear-groups \
    test -x "$CARDAGENT_BIN/cardsign" 2>/dev/null; then
	echo "1..0 # SKIP $CARDAGENT_BIN is out of reach of another user"
	rm -rf "$RHOME"
	exit 77
fi
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$S/sshd_config" <<CONF
ListenAddress 127.0.0.1
Port $port
HostKey $S/host
PidFile $S/sshd.pid
AuthorizedKeysFile $RHOME/.ssh/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
AllowStreamLocalForwarding yes
StreamLocalBindUnlink yes
X11Forwarding no
CONF
"$SSHD" -D -e -f "$S/sshd_config" 2>"$S/sshd.log" &
SSHD_PID=$!
stop_sshd() {
	kill "$SSHD_PID" 2>/dev/null || true
	wait "$SSHD_PID" 2>/dev/null || true
	rm -rf "$RHOME"
	if [ "$nfail" -gt 0 ]; then
		echo "--- sshd log ---"
		cat "$S/sshd.log"
	fi
}
# cleanup reads the test's status from $?; under errexit, (exit "$rc")
# would end the trap before it.
trap 'rc=$?; stop_sshd; set +e; (exit "$rc"); cleanup' EXIT
for i in $(seq 1 100); do
	python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" \
	    2>/dev/null && break
	sleep 0.05
done

cat >"$T/agent.conf" <<CONF
restricted-socket $R/forward.sock ops=sign keys=p256-sign rate=30
audit $T/audit.log
CONF
start_agent --config "$T/agent.conf" --module "$FIXTURE_MODULE"
printf '%s\n' "$FIXTURE_ALICE_PIN" | cardsign login --token "$(token_id alice)" --pin-stdin
head -c 100000 /dev/urandom >"$RHOME/report.pdf"
cp "$PKI/intermediate.pem" "$RHOME/chain.pem"
chown "$RUSER:" "$RHOME/report.pdf" "$RHOME/chain.pem"

# remote CMD: runs CMD on the "remote" host with the restricted socket
# forwarded to $RHOME/agent.sock there, as docs/forwarding.md shows.
remote() {
	ssh -F /dev/null -i "$S/id" -p "$port" -o BatchMode=yes \
	    -o StrictHostKeyChecking=no -o UserKnownHostsFile="$S/known_hosts" \
	    -o ExitOnForwardFailure=yes -o LogLevel=ERROR \
	    -R "$RHOME/agent.sock:$R/forward.sock" "$RUSER@127.0.0.1" \
	    "CARDAGENT_SOCK=$RHOME/agent.sock; export CARDAGENT_SOCK; $1"
}

check "over ssh -R, cardsign signs a file on the remote side" remote \
    "$CARDAGENT_BIN/cardsign sign --key 'pkcs11:token=alice;object=p256-sign' \
    --certfile $RHOME/chain.pem $RHOME/report.pdf -o $RHOME/report.pdf.p7s"
check "  the signature verifies here" cardsign verify --ca-file "$PKI/root.pem" \
    "$RHOME/report.pdf.p7s" "$RHOME/report.pdf"
check "the remote side sees only the key the socket allows" remote \
    "$CARDAGENT_BIN/cardsign keys --json | python3 -c '
import json, sys
keys = json.load(sys.stdin)
assert [k[\"label\"] for k in keys] == [\"p256-sign\"], keys'"
expect_exit 1 "the remote side cannot lock the card" remote \
    "$CARDAGENT_BIN/cardsign lock"
check "  (denied, it is told)" grep -qi "denied\|not allowed" "$T/out"
check "  and the token is still logged in here" bash -c "
cardsign status --json | python3 -c '
import json, sys
assert [t for t in json.load(sys.stdin) if t[\"label\"] == \"alice\"][0][\"logged_in\"]'"
expect_exit 1 "the remote side cannot send a PIN" remote \
    "printf '000000\n' | $CARDAGENT_BIN/cardsign login --pin-stdin"
expect_exit 4 "the remote side cannot use another key" remote \
    "$CARDAGENT_BIN/cardsign sign --key 'pkcs11:token=alice;object=rsa2048-sign' \
    $RHOME/report.pdf -o $RHOME/x.p7s"
check "the audit log names the forwarded socket and ssh as the client" \
    grep -qE "exe=[^ ]*/ssh socket=$R/forward.sock op=sign key=[0-9a-f]+ label=p256-sign token=alice digest=[0-9a-f]{64} result=ok" \
    "$T/audit.log"

finish
