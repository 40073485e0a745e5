#!/usr/bin/env bash
# The systemd user units (agent/systemd/) and the udev rules (udev/):
#  1. systemd-analyze --user verify finds nothing to say about the units;
#  2. the socket unit's ListenStream and the service's ExecStart start the
#     agent the way systemd does (LISTEN_FDS, through systemd-socket-activate)
#     and a client with no CARDAGENT_SOCK finds it;
#  3. as root: a real user manager (systemd --user, for the unprivileged
#     user nobody, in private mount and cgroup namespaces so that nothing
#     outside the test sees it), driven by systemctl --user, starts the
#     socket, activates the service at the first client and runs it
#     sandboxed: keys, signatures and a PIN dialog work, and the agent, its
#     token host and its pinentry are held by the sandbox;
#  4. the udev rules pass a strict static check, and udevadm test (udev
#     252 has no `udevadm verify`), run in a private mount namespace with a
#     synthetic sysfs, reads them without complaint and tags the readers
#     and tokens they should, and only those, for uaccess.
. "$(dirname "$0")/lib.sh"

SRC=$(cd "$TESTS_SRC/.." && pwd)
RULES=$SRC/udev/70-cardagent.rules
run=$T/run
mkdir -m 700 "$run"

# make_units DIR BINDIR: the units as CMake configures them, for BINDIR.
make_units() {
	local u
	mkdir -p "$1"
	for u in cardagent.socket cardagent.service; do
		sed -e "s|@CARDAGENT_BINDIR@|$2|g" \
		    -e "s|@CARDAGENT_DOCDIR@|$SRC/docs|g" \
		    "$SRC/agent/systemd/$u" >"$1/$u"
	done
}
# unit_value FILE KEY: the first KEY= setting in FILE.
unit_value() { sed -n "s/^$2=//p" "$1" | head -n 1; }

# ---- 1. systemd-analyze verify ----
make_units "$T/units" "$CARDAGENT_BIN"
# Documentation=man:... must name pages that exist: docs/man's, laid out
# as they are installed.
for f in "$SRC"/docs/man/*.[1-8]; do
	[ -e "$f" ] || continue
	mkdir -p "$T/man/man${f##*.}"
	ln -s "$f" "$T/man/man${f##*.}/"
done
verify() {
	XDG_RUNTIME_DIR=$run MANPATH=$T/man \
	    systemd-analyze --user verify "$@" >"$T/verify.out" 2>&1
}
check "systemd-analyze --user verify accepts the units" \
    verify "$T/units/cardagent.socket" "$T/units/cardagent.service"
check "and has not one warning (unknown keys, bad values, missing man pages)" \
    test ! -s "$T/verify.out"
sed 's/^RestrictAddressFamilies=AF_UNIX/RestrictAddressFamilies=AF_UNIXX/' \
    "$T/units/cardagent.service" >"$T/units/bad.service"
verify "$T/units/bad.service" || true
check "while a bad value is reported (the check can fail)" \
    grep -q 'AF_UNIXX' "$T/verify.out"

S=$T/units/cardagent.socket
V=$T/units/cardagent.service
check "the socket is %t/cardagent/agent.sock, the clients' default" \
    test "$(unit_value "$S" ListenStream)" = "%t/cardagent/agent.sock"
check "socket mode 0600, directory mode 0700" \
    test "$(unit_value "$S" SocketMode)/$(unit_value "$S" DirectoryMode)" = 0600/0700
check "the service runs the agent in the foreground" \
    test "$(unit_value "$V" ExecStart)" = "$CARDAGENT_BIN/cardagent --foreground"
for k in NoNewPrivileges=yes PrivateUsers=yes ProtectSystem=strict \
    ProtectHome=read-only RestrictAddressFamilies=AF_UNIX LockPersonality=yes \
    MemoryDenyWriteExecute=yes; do
	check "the service sets $k" grep -qx "$k" "$V"
done

# ---- 2. socket activation as systemd does it ----
# The user's config names the module and pinentry, as ~/.config would.
cfg=$T/config
mkdir -p "$cfg/cardagent"
printf 'module %s\npinentry %s\n' "$FIXTURE_MODULE" "$FAKE_PINENTRY" \
    >"$cfg/cardagent/cardagent.conf"
sock=$(unit_value "$S" ListenStream)
sock=${sock//%t/$run}
mkdir -m "$(unit_value "$S" DirectoryMode)" "$(dirname "$sock")"
read -r -a execstart <<<"$(unit_value "$V" ExecStart)"
pass_env=()
for v in SOFTHSM2_CONF FAKE_PINENTRY_LOG FAKE_PINENTRY_PIN ASAN_OPTIONS \
    UBSAN_OPTIONS; do
	[ -n "${!v+set}" ] && pass_env+=(-E "$v")
done
XDG_CONFIG_HOME=$cfg systemd-socket-activate -l "$sock" -E XDG_CONFIG_HOME \
    "${pass_env[@]}" "${execstart[@]}" >/dev/null 2>"$T/agent.log" &
AGENT_PID=$!
for i in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.05; done
# No CARDAGENT_SOCK: the client default, $XDG_RUNTIME_DIR/cardagent/agent.sock.
check "a client with only XDG_RUNTIME_DIR reaches the activated agent" \
    env -u CARDAGENT_SOCK XDG_RUNTIME_DIR="$run" bash -c \
    'cardsign status | grep -q alice'
check "which took systemd's socket (LISTEN_FDS)" \
    grep -q 'listening on (socket activation)' "$T/agent.log"
check "and read the user's config (its module)" \
    grep -q 'token host for .*softhsm.*: 2 token' "$T/agent.log"
stop_agent
rm -rf "$run/cardagent"

# ---- 3. a real systemd --user manager ----
# As root, the test runs a user's systemd (systemd --user) for an
# unprivileged user, nobody, as a login would, and drives it with
# systemctl --user. systemd --user refuses to run unless systemd booted the
# machine (/run/systemd/system) and takes its cgroup for its own: it runs
# in private mount and cgroup namespaces, with a /run/systemd and
# /run/user of its own and a cgroup2 hierarchy rooted at a fresh,
# delegated cgroup, so nothing outside the test sees it.
MGR_PID=
MGR_CG=
MUID=$(id -u nobody 2>/dev/null || echo 65534)
MGID=$(id -g nobody 2>/dev/null || echo 65534)
U=
as_user() { setpriv --reuid="$MUID" --regid="$MGID" --clear-groups "$@"; }
# The cgroup2 hierarchy: all of /sys/fs/cgroup, or its unified part.
cgroup2_root() {
	local fs
	for fs in /sys/fs/cgroup /sys/fs/cgroup/unified; do
		if [ "$(stat -f -c %T "$fs" 2>/dev/null)" = cgroup2fs ]; then
			echo "$fs"
			return
		fi
	done
}
manager_skip() {
	local t
	[ "$(id -u)" = 0 ] || { echo "not root"; return 0; }
	for t in unshare nsenter setpriv; do
		command -v $t >/dev/null || { echo "no $t"; return 0; }
	done
	[ -x /lib/systemd/systemd ] || { echo "no /lib/systemd/systemd"; return 0; }
	[ -n "$(cgroup2_root)" ] || { echo "no cgroup2 hierarchy"; return 0; }
	as_user unshare --user true 2>/dev/null ||
	    { echo "no unprivileged user namespaces"; return 0; }
	as_user test -x "$CARDAGENT_BIN/cardagent" ||
	    { echo "nobody cannot run $CARDAGENT_BIN/cardagent"; return 0; }
	return 1
}
stop_manager() {
	local i d
	if [ -n "$MGR_PID" ]; then
		as_user env XDG_RUNTIME_DIR="$U/run" systemctl --user exit \
		    >/dev/null 2>&1 || true
		for i in $(seq 1 100); do
			kill -0 "$MGR_PID" 2>/dev/null || break
			sleep 0.1
		done
	fi
	# Whatever is left in the test's cgroup is the test's own.
	if [ -n "$MGR_CG" ] && [ -d "$MGR_CG" ]; then
		for i in $(seq 1 50); do
			grep -q 'populated 0' "$MGR_CG/cgroup.events" && break
			while read -r d; do
				xargs -r kill -KILL <"$d/cgroup.procs" 2>/dev/null || true
			done < <(find "$MGR_CG" -type d)
			sleep 0.1
		done
		find "$MGR_CG" -depth -type d -exec rmdir {} + 2>/dev/null || true
	fi
	[ -z "$MGR_PID" ] || wait "$MGR_PID" 2>/dev/null || true
	MGR_PID=
	[ -z "$U" ] || rm -rf "$U"
}
trap 'rc=$?; set +e; stop_manager; (exit $rc); cleanup' EXIT

if why=$(manager_skip); then
	echo "# skipped the systemd --user part: $why"
else
	MGR_CG=$(cgroup2_root)/cardagent-test.$$
	# The user's world: runtime directory, home, config, SoftHSM tokens.
	U=$(mktemp -d /tmp/cardagent-units.XXXXXX)
	mkdir -m 700 "$U/run" "$U/home" "$U/pinentry"
	mkdir -p -m 700 "$U/home/.local/state/cardagent"
	make_units "$U/config/systemd/user" "$CARDAGENT_BIN"
	# The drop-in docs/install.md has SoftHSM users write (SoftHSM writes
	# its tokens), plus the fake pinentry's files; and, with no journald
	# here, the agent's log in a file (opened by the manager).
	mkdir -p "$U/config/systemd/user/cardagent.service.d"
	printf '[Service]\nReadWritePaths=%s %s\nStandardError=append:%s\n' \
	    "$U/tokens" "$U/pinentry" "$U/agent.log" \
	    >"$U/config/systemd/user/cardagent.service.d/test.conf"
	cp -a "$T/tokens" "$U/tokens"
	sed "s|$T/tokens|$U/tokens|" "$SOFTHSM2_CONF" >"$U/softhsm2.conf"
	cp "$FAKE_PINENTRY" "$U/fake-pinentry.sh"
	# The pinentry the service runs: notes what the sandbox allows it,
	# then is the fake pinentry.
	cat >"$U/probe-pinentry.sh" <<'SH'
#!/bin/bash
{
	grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status
	python3 - "$PROBE_RO" <<'PY'
import mmap, socket, sys
def tryit(name, f):
    try:
        f()
        print(name, "allowed")
    except OSError as e:
        print(name, "denied", e.errno)
tryit("AF_UNIX", lambda: socket.socket(socket.AF_UNIX).close())
tryit("AF_INET", lambda: socket.socket(socket.AF_INET).close())
tryit("AF_NETLINK", lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW).close())
tryit("WX-mapping", lambda: mmap.mmap(-1, 4096,
    prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC))
tryit("write-outside", lambda: open(sys.argv[1], "w").close())
PY
	if command -v pinentry-curses >/dev/null; then
		printf 'GETINFO version\nBYE\n' | pinentry-curses 2>&1 |
		    grep -q '^D ' && echo "pinentry-curses runs" ||
		    echo "pinentry-curses fails"
	fi
} >>"$PROBE_OUT" 2>&1
exec "$FAKE_PINENTRY"
SH
	chmod 755 "$U/probe-pinentry.sh"
	opensc=/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so
	mkdir -p "$U/config/cardagent"
	# A restricted socket and an audit log where docs/forwarding.md puts
	# them: the places the unit itself leaves writable.
	{
		printf 'module %s\n' "$FIXTURE_MODULE"
		[ ! -e "$opensc" ] || printf 'module %s\n' "$opensc"
		printf 'pinentry %s\n' "$U/probe-pinentry.sh"
		printf 'restricted-socket /run/user/%s/cardagent/restricted.sock ops=sign\n' "$MUID"
		printf 'audit %s\n' "$U/home/.local/state/cardagent/audit.log"
	} >"$U/config/cardagent/cardagent.conf"
	chown -R "$MUID:$MGID" "$U"
	# Set up as PID 1 and a login (pam_systemd) would have: the nodes
	# services' sandboxes hide paths with, the staging directory for a
	# service's root, and /run/user/UID (here: $U/run).
	cat >"$T/manager.sh" <<'SH'
set -e
uid=$1 gid=$2 u=$3
mount -t cgroup2 none /sys/fs/cgroup
# /run is a tmpfs on a booted system; where it is not even a mount point
# (a container), systemd would give each service an empty one.
mountpoint -q /run || mount --bind /run /run
if [ -d /run/systemd ]; then
	mount -t tmpfs -o mode=755 none /run/systemd
else
	mount -t tmpfs -o mode=755 none /run
fi
d=/run/systemd/inaccessible
mkdir -p /run/systemd/system $d
: >$d/reg
mkdir $d/dir
mkfifo $d/fifo
mknod $d/chr c 0 0
mknod $d/blk b 0 0
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' $d/sock
chmod 0000 $d/*
mkdir -m 0700 /run/systemd/unit-root
mkdir -p /run/user
mount -t tmpfs -o mode=755 none /run/user
mkdir -m 0700 /run/user/$uid
mount --bind "$u/run" /run/user/$uid
exec setpriv --reuid="$uid" --regid="$gid" --clear-groups env -i \
    PATH="$PATH" HOME="$u/home" XDG_RUNTIME_DIR=/run/user/$uid \
    XDG_CONFIG_HOME="$u/config" /lib/systemd/systemd --user
SH
	mkdir "$MGR_CG"
	chown "$MUID:$MGID" "$MGR_CG" "$MGR_CG/cgroup.procs" \
	    "$MGR_CG/cgroup.subtree_control" "$MGR_CG/cgroup.threads"
	# Into the new cgroup first, then a cgroup namespace rooted there.
	(
		echo "$BASHPID" >"$MGR_CG/cgroup.procs"
		exec unshare --mount --cgroup --propagation private \
		    bash "$T/manager.sh" "$MUID" "$MGID" "$U"
	) >"$T/manager.log" 2>&1 &
	MGR_PID=$!
	for i in $(seq 1 100); do
		[ -S "$U/run/systemd/private" ] && break
		sleep 0.1
	done
	usr() { as_user env XDG_RUNTIME_DIR="$U/run" systemctl --user "$@"; }
	check "systemd --user runs as nobody (systemctl --user reaches it)" \
	    usr show -p Version
	# LeakSanitizer stops the world with ptrace, which the service's
	# system call filter denies: no leak check for a sanitized agent here.
	usr set-environment SOFTHSM2_CONF="$U/softhsm2.conf" \
	    FAKE_PINENTRY_LOG="$U/pinentry/log" FAKE_PINENTRY_PIN="$U/pinentry/pin" \
	    FAKE_PINENTRY="$U/fake-pinentry.sh" PROBE_OUT="$U/pinentry/probe.out" \
	    PROBE_RO="$U/ro-probe" ASAN_OPTIONS=detect_leaks=0 \
	    UBSAN_OPTIONS="${UBSAN_OPTIONS:-}"
	check "systemctl --user start cardagent.socket" \
	    usr start cardagent.socket
	sock=$U/run/cardagent/agent.sock
	check "the socket is listening" \
	    test "$(usr is-active cardagent.socket)" = active
	check "its file is \$XDG_RUNTIME_DIR/cardagent/agent.sock, the user's, mode 0600" \
	    test "$(stat -c %u:%a "$sock")" = "$MUID:600"
	check "in a directory of mode 0700" \
	    test "$(stat -c %a "$U/run/cardagent")" = 700
	check "the service waits for a client" \
	    test "$(usr is-active cardagent.service)" = inactive
	# Clients as in the user's session: XDG_RUNTIME_DIR, no CARDAGENT_SOCK.
	uclient() {
		as_user env -u CARDAGENT_SOCK XDG_RUNTIME_DIR="$U/run" "$@"
	}
	served() { uclient cardsign status | grep -q alice; }
	check "the first client starts it and is served" served
	check "the service is running" \
	    test "$(usr is-active cardagent.service)" = active
	pid=$(usr show -p MainPID --value cardagent.service || true)
	host=$(cat /proc/"$pid"/task/*/children 2>/dev/null | awk '{print $1}' ||
	    true)
	for p in "$pid" "$host"; do
		check "agent process $p: no new privileges, seccomp filter" bash -c "
		    grep -q '^NoNewPrivs:[[:space:]]*1' /proc/$p/status &&
		    grep -q '^Seccomp:[[:space:]]*2' /proc/$p/status"
	done
	check "the agent has a user namespace of its own, mapping only the user" \
	    bash -c "[ \"\$(readlink /proc/$pid/ns/user)\" != \"\$(readlink /proc/self/ns/user)\" ] &&
	    [ \"\$(awk '{print \$1\":\"\$3}' /proc/$pid/uid_map)\" = '$MUID:1' ]"
	check "its /usr is read-only (ProtectSystem=strict)" bash -c \
	    "! nsenter -t $pid -m touch /usr/.cardagent-probe 2>/dev/null"
	check "and so is /root (ProtectHome=read-only)" bash -c \
	    "! nsenter -t $pid -m touch /root/.cardagent-probe 2>/dev/null"
	rm -f /usr/.cardagent-probe /root/.cardagent-probe
	check "its restricted socket is there (the socket directory is writable)" \
	    test -S "$U/run/cardagent/restricted.sock"
	alice=$(uclient cardsign status --json | python3 -c \
	    'import json,sys; print([t["id"] for t in json.load(sys.stdin) if t["label"]=="alice"][0])' ||
	    true)
	login() {
		printf '%s\n' "$FIXTURE_ALICE_PIN" |
		    uclient cardsign login --token "$alice" --pin-stdin
	}
	check "login (--pin-stdin)" login
	echo "signed under systemd" >"$U/msg"
	check "cardsign sign (rsa2048-sign)" uclient cardsign sign \
	    --key 'pkcs11:token=alice;object=rsa2048-sign' \
	    --certfile "$PKI/intermediate.pem" "$U/msg" -o "$U/msg.p7s"
	check "openssl cms -verify accepts the signature" openssl cms -verify \
	    -binary -inform DER -in "$U/msg.p7s" -content "$U/msg" \
	    -CAfile "$PKI/root.pem" -out /dev/null
	check "and so through the restricted socket" uclient cardsign \
	    --socket "$U/run/cardagent/restricted.sock" sign \
	    --key 'pkcs11:token=alice;object=p256-sign' \
	    --certfile "$PKI/intermediate.pem" "$U/msg" -o "$U/msg-r.p7s"
	check "the audit log (~/.local/state/cardagent) has both signatures" \
	    test "$(grep -c 'op=sign .*result=ok' \
	    "$U/home/.local/state/cardagent/audit.log" 2>/dev/null)" = 2
	printf '%s\n' "$FIXTURE_ALICE_PIN" >"$U/pinentry/pin"
	chown "$MUID:$MGID" "$U/pinentry/pin"
	check "a key wanting its PIN at each use: the pinentry asks, in the sandbox" \
	    uclient cardsign sign --key 'pkcs11:token=alice;object=p256-sign-aa' \
	    --certfile "$PKI/intermediate.pem" "$U/msg" -o "$U/msg-aa.p7s"
	check "and the signature verifies" openssl cms -verify -binary \
	    -inform DER -in "$U/msg-aa.p7s" -content "$U/msg" \
	    -CAfile "$PKI/root.pem" -out /dev/null
	check "the pinentry was asked once" \
	    test "$(grep -c '^GETPIN' "$U/pinentry/log" 2>/dev/null)" = 1
	probe() { grep -qx "$1" "$U/pinentry/probe.out"; }
	check "pinentry: no new privileges, seccomp filter" bash -c \
	    "grep -q '^NoNewPrivs:[[:space:]]*1' $U/pinentry/probe.out &&
	     grep -q '^Seccomp:[[:space:]]*2' $U/pinentry/probe.out"
	check "pinentry: AF_UNIX sockets allowed (display, D-Bus)" probe "AF_UNIX allowed"
	check "pinentry: AF_INET denied (RestrictAddressFamilies)" probe "AF_INET denied 97"
	check "pinentry: AF_NETLINK denied" probe "AF_NETLINK denied 97"
	check "pinentry: a writable executable mapping denied (MemoryDenyWriteExecute)" \
	    probe "WX-mapping denied 1"
	check "pinentry: no writing outside ReadWritePaths" \
	    probe "write-outside denied 30"
	if command -v pinentry-curses >/dev/null; then
		check "pinentry-curses starts and answers in the sandbox" \
		    probe "pinentry-curses runs"
	fi
	if [ -e "$opensc" ]; then
		check "OpenSC's module loads and initialises in the sandbox" \
		    grep -q 'token host for .*opensc-pkcs11.so: ' "$U/agent.log"
	fi
	reloaded() {
		usr reload cardagent.service || return 1
		for i in $(seq 1 50); do
			grep -q 'SIGHUP' "$U/agent.log" && return 0
			sleep 0.1
		done
		return 1
	}
	check "systemctl --user reload: the agent re-reads its tokens (SIGHUP)" \
	    reloaded
	check "systemctl --user stop cardagent.service" \
	    usr stop cardagent.service
	check "the agent shut down on SIGTERM" \
	    grep -q 'signal 15: shutting down' "$U/agent.log"
	check "the socket stays, owned by systemd" test -S "$sock"
	check "the next client starts the agent again" served
	check "a new agent process" test \
	    "$(usr show -p MainPID --value cardagent.service)" != "$pid"
	# systemd's own judgement of the sandbox, for the record.
	as_user env XDG_RUNTIME_DIR="$U/run" systemd-analyze --user security \
	    cardagent.service --no-pager 2>/dev/null |
	    sed -n 's/^.*Overall exposure level/# overall exposure level/p' || true
	check "systemctl --user stop cardagent.socket" \
	    usr stop cardagent.socket cardagent.service
	check "removes the socket file (RemoveOnStop)" test ! -e "$sock"
	sanitizer_log=$(grep -E 'ERROR: AddressSanitizer|runtime error:' \
	    "$U/agent.log" || true)
	check "no sanitizer report from the sandboxed agent" test -z "$sanitizer_log"
	if [ "$nfail" -gt 0 ]; then
		sed 's/^/    agent: /' "$U/agent.log" 2>/dev/null || true
		sed 's/^/    manager: /' "$T/manager.log" 2>/dev/null || true
	fi
	cg=$MGR_CG
	stop_manager
	check "the manager and everything it ran are gone" test ! -d "$cg"
fi

# ---- 4. udev rules ----
CHECK_RULES=$SRC/udev/check-rules.py
check "70-cardagent.rules: every line parses, and it only adds" \
    python3 "$CHECK_RULES" --additive "$RULES"
printf 'SUBSYSTEM=="usb" TAG+="uaccess"\nATTR{idVendor}=="1050", MODE="0666"\nATTR{idVendor}=="20A0", TAG+="uaccess", GOTO="nowhere"\n' \
    >"$T/bad.rules"
expect_exit 1 "the static check rejects a missing comma, MODE, upper-case hex, a lost GOTO" \
    python3 "$CHECK_RULES" --additive "$T/bad.rules"
check "  and names each" bash -c "
    grep -q 'bad.rules:1: a comma' $T/out &&
    grep -q 'bad.rules:2: MODE set' $T/out &&
    grep -q 'bad.rules:3: ATTR{idVendor}' $T/out &&
    grep -q 'bad.rules:3: GOTO nowhere' $T/out"

udev_skip() {
	command -v udevadm >/dev/null || { echo "no udevadm"; return 0; }
	[ -d /etc/udev/rules.d ] || { echo "no /etc/udev/rules.d"; return 0; }
	command -v unshare >/dev/null || { echo "no unshare"; return 0; }
	if [ "$(id -u)" = 0 ]; then
		UNSHARE=(unshare --mount --propagation private)
	elif unshare -rm true 2>/dev/null; then
		UNSHARE=(unshare -r --mount --propagation private)
	else
		echo "neither root nor user namespaces"
		return 0
	fi
	return 1
}
if why=$(udev_skip); then
	echo "# skipped udevadm test: $why"
else
	udev_skip >/dev/null || true
	# Synthetic USB devices: name vendor product interfaces. udevadm
	# test runs the real rules (Debian's and ours) on each, with sysfs,
	# /dev and /run/udev replaced by tmpfs in a private mount namespace.
	cat >"$T/devices" <<'EOF'
ccid-generic 1234 5678 0b0000
iccd-token 1234 5679 0b0001
yubikey-otp-fido-ccid 1050 0407 030101,030000,0b0000
yubikey-otp-only 1050 0010 030101
nitrokey-pro 20a0 4108 0b0000
nitrokey-start-vendor-class 20a0 4211 ff0000
feitian-epass-vendor-class 096e 0807 ff0000
gemalto-vendor-class 08e6 3438 ff0000
omnikey-vendor-class 076b 3021 ff0000
identiv-vendor-class 04e6 5816 ff0000
other-20a0-product 20a0 41e5 ff0000
scm-storage-adapter 04e6 0101 080650
vendor-class-nic 0bda 8153 ff0000
keyboard 046d c31c 030101
EOF
	cat >"$T/udev-inner.sh" <<'SH'
set -e
rules=$1 out=$2 devices=$3
mount -t tmpfs none /sys
mount -t tmpfs none /dev
if [ -d /run/udev ]; then
	mount -t tmpfs none /run/udev
else
	mount -t tmpfs none /run
	mkdir /run/udev
fi
mkdir -p /sys/bus/usb
n=0
while read -r name vid pid ifs; do
	n=$((n + 1))
	d=/sys/devices/pci0000:00/0000:00:14.0/usb1/1-$n
	mkdir -p "$d"
	ln -s ../../../../bus/usb "$d/subsystem"
	printf 'MAJOR=189\nMINOR=%d\nDEVNAME=bus/usb/001/%03d\nDEVTYPE=usb_device\nPRODUCT=%s/%s/100\nTYPE=0/0/0\nBUSNUM=001\nDEVNUM=%03d\n' \
	    "$n" "$n" "$vid" "$pid" "$n" >"$d/uevent"
	echo "$vid" >"$d/idVendor"
	echo "$pid" >"$d/idProduct"
	echo 0100 >"$d/bcdDevice"
	echo 00 >"$d/bDeviceClass"
	echo "$name" >"$d/product"
	# The descriptors file usb_id reads: device, configuration, then
	# one interface (with an endpoint) per class.
	python3 - "$d/descriptors" "$vid" "$pid" "$ifs" <<'PY'
import sys
path, vid, pid, ifs = sys.argv[1], int(sys.argv[2], 16), int(sys.argv[3], 16), sys.argv[4].split(",")
b = bytes([18, 1, 0, 2, 0, 0, 0, 64, vid & 255, vid >> 8, pid & 255, pid >> 8, 0, 1, 1, 2, 3, 1])
b += bytes([9, 2, 9 + 16 * len(ifs), 0, len(ifs), 1, 0, 0x80, 50])
for i, cls in enumerate(ifs):
    c = bytes.fromhex(cls)
    b += bytes([9, 4, i, 0, 1, c[0], c[1], c[2], 0]) + bytes([7, 5, 0x81 + i, 2, 64, 0, 0])
open(path, "wb").write(b)
PY
done <"$devices"
mount --bind "$rules" /etc/udev/rules.d
n=0
while read -r name vid pid ifs; do
	n=$((n + 1))
	SYSTEMD_DEVICE_VERIFY_SYSFS=0 udevadm test --action=add \
	    /sys/devices/pci0000:00/0000:00:14.0/usb1/1-$n >"$out.$name" 2>&1 || true
done <"$devices"
SH
	mkdir "$T/rules.with" "$T/rules.without" "$T/rules.bad"
	cp "$RULES" "$T/rules.with/"
	{ cat "$T/bad.rules"; echo 'FOO=="bar", TAG+="uaccess"'; } \
	    >"$T/rules.bad/70-cardagent.rules"
	echo 'checked-rules-file 1234 5678 0b0000' >"$T/one-device"
	for set in with without; do
		"${UNSHARE[@]}" bash "$T/udev-inner.sh" "$T/rules.$set" \
		    "$T/udev.$set" "$T/devices" >"$T/udev-$set.log" 2>&1 || true
	done
	"${UNSHARE[@]}" bash "$T/udev-inner.sh" "$T/rules.bad" "$T/udev.bad" \
	    "$T/one-device" >/dev/null 2>&1 || true
	w=$T/udev.with.ccid-generic
	check "udevadm test reads /etc/udev/rules.d/70-cardagent.rules" \
	    grep -q 'Reading rules file: /etc/udev/rules.d/70-cardagent.rules' "$w"
	check "and reports nothing about any line of it" bash -c \
	    "! grep '^/etc/udev/rules.d/70-cardagent.rules' $w"
	check "while a broken copy draws complaints (the check can fail)" \
	    grep -q "^/etc/udev/rules.d/70-cardagent.rules:[0-9]*:* Invalid key 'FOO'" \
	    "$T/udev.bad.checked-rules-file"
	tagged() { grep -q '^TAGS=.*:uaccess:' "$1"; }
	while read -r name vid pid ifs; do
		case $name in
		ccid-* | iccd-* | yubikey-otp-fido-ccid | nitrokey-pro)
			want=both ;;
		nitrokey-start-* | *-vendor-class | yubikey-otp-only)
			want=ours ;;
		*)	want=none ;;
		esac
		f=$T/udev.with.$name
		g=$T/udev.without.$name
		if ! grep -q '^ID_USB_INTERFACES=' "$f"; then
			failed "$name: udevadm test did not run on it"
			sed 's/^/    /' "$f" | tail -n 20
			continue
		fi
		case $want in
		both)
			check "$name ($vid:$pid, $ifs): uaccess (Debian's rules tag it too)" \
			    bash -c "$(declare -f tagged); tagged $f && tagged $g" ;;
		ours)
			check "$name ($vid:$pid, $ifs): uaccess, from these rules only" \
			    bash -c "$(declare -f tagged); tagged $f && ! tagged $g" ;;
		none)
			check "$name ($vid:$pid, $ifs): no uaccess" \
			    bash -c "$(declare -f tagged); ! tagged $f" ;;
		esac
	done <"$T/devices"
	check "no MODE, GROUP or OWNER of ours on a reader's node" bash -c \
	    "! grep -E '70-cardagent.rules:[0-9]+ (MODE|GROUP|OWNER)' $T/udev.with.*"
fi

finish
