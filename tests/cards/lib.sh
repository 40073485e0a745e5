# shellcheck shell=bash
# lib.sh: a private PC/SC stack with virtual PIV cards, for tests.
#
#   consumer (pkcs11-tool, the agent) -> opensc-pkcs11.so -> libpcsclite
#     -> unix socket -> pcscd -> vpcd driver -> TCP -> vpiv.py (a PIV card)
#
# pcscd runs in its own network namespace (vpcd listens on 0.0.0.0:35963 and
# :35964, invisible from outside) and its own mount namespace, where our
# directory $CARDS_DIR/run is bound over /run: pcscd's fixed socket path
# /run/pcscd/pcscd.comm is then $CARDS_DIR/run/pcscd/pcscd.comm for everyone
# else. Nothing on the host is touched, and any process of ours reaches this
# pcscd with PCSCLITE_CSOCK_NAME set to that path (libpcsclite honours it),
# without entering a namespace. The cards run in pcscd's network namespace
# (nsenter --net=/proc/PID/ns/net) and connect to vpcd on its loopback.
#
# Use (as root; without root or namespaces a test exits 77, a ctest SKIP),
# from the test's own shell, not a subshell: pcscd and the cards end when
# the shell that started them does.
#
#   . tests/cards/lib.sh
#   cards_start                 # pcscd; the variables below; an EXIT trap
#   cards_insert alice 0        # a card for alice in reader 0 (port 35963)
#   cards_insert bob 1          # another card in reader 1 (port 35964)
#   pkcs11-tool --module "$CARDS_MODULE" -L
#   cards_pull alice            # removed: returns once the reader is empty
#   cards_insert alice          # the same card again, same reader
#   cards_stop                  # also run on exit
#
# The environment of a PKCS#11 consumer, exported: OPENSC_CONF (OpenSC with
# file caching off, so that a re-inserted or another card is read afresh)
# and PCSCLITE_CSOCK_NAME. Also exported, for tests: CARDS_MODULE
# (opensc-pkcs11.so), CARDS_CA (the test CA's certificate, PEM), CARDS_PIN,
# CARDS_WRONG_PIN, CARDS_DIR. A card's certificates are
# "$(cards_state NAME)"/9a.pem ... 83.pem; its log "$CARDS_DIR"/NAME.log.
#
# CARDS_VERBOSE=1 logs every APDU in $CARDS_DIR/<card>.log and pcscd's debug
# output in $CARDS_DIR/pcscd.log; CARDS_KEEP=1 keeps $CARDS_DIR.
#
# CAC cards (vcac, built from vcac.c where libcacard is found: its path in
# CARDS_VCAC, which ctest sets), with the same semantics:
#
#   cards_require_cac           # before cards_start: skips (77) without vcac
#   cards_insert_cac carol 0    # a CAC card for carol in reader 0
#   cards_pull carol            # pull and insert as for a PIV card
#   cards_insert carol
#
# A CAC card's certificates are "$(cards_state NAME)"/id.pem, sign.pem and
# encrypt.pem, issued by the same test CA as the PIV cards'; its keys live
# in the NSS database "$(cards_state NAME)"/db, whose password is the PIN.

CARDS_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CARDS_PYTHON=/usr/bin/python3 # Debian's, which has python3-cryptography
CARDS_VPCD=/usr/lib/pcsc/drivers/serial/libifdvpcd.so
export CARDS_PIN=123456 CARDS_WRONG_PIN=654321 CARDS_DIR='' CARDS_CA=''
CARDS_PCSCD_PID=
declare -gA CARDS_PID=() CARDS_READER=()
# The virtual CAC card; ctest passes the one it built.
: "${CARDS_VCAC:=$CARDS_SRC/../../build/tests/vcac}"

# cards_skip REASON: ends the test as skipped (77); in an interactive shell
# only returns 77.
cards_skip() {
	echo "SKIP: $*"
	[[ $- == *i* ]] && return 77
	exit 77
}

# cards_require: skips the test unless this machine can run the stack.
cards_require() {
	local tool m
	[ "$(id -u)" -eq 0 ] ||
		{ cards_skip "needs root (pcscd in private namespaces)"; return; }
	for tool in pcscd unshare nsenter setpriv ip opensc-tool pkcs11-tool \
	    openssl; do
		command -v "$tool" >/dev/null ||
			{ cards_skip "no $tool (scripts/install-deps.sh)"; return; }
	done
	[ -e "$CARDS_VPCD" ] ||
		{ cards_skip "no $CARDS_VPCD (vsmartcard-vpcd)"; return; }
	"$CARDS_PYTHON" -c 'import cryptography' 2>/dev/null ||
		{ cards_skip "no python3-cryptography"; return; }
	if [ -z "${CARDS_MODULE:-}" ]; then
		for m in /usr/lib/*/opensc-pkcs11.so /usr/lib/opensc-pkcs11.so \
		    /usr/lib64/opensc-pkcs11.so; do
			if [ -e "$m" ]; then
				CARDS_MODULE=$m
				break
			fi
		done
	fi
	[ -n "${CARDS_MODULE:-}" ] ||
		{ cards_skip "no opensc-pkcs11.so (opensc-pkcs11)"; return; }
	export CARDS_MODULE
	unshare --net --mount true 2>/dev/null ||
		cards_skip "cannot create network and mount namespaces here"
}

# cards_wait SECONDS PID CMD...: polls CMD every 50 ms until it succeeds;
# fails after SECONDS, or at once when process PID has gone.
cards_wait() {
	local deadline=$((SECONDS + $1)) pid=$2
	shift 2
	until "$@"; do
		if ! kill -0 "$pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
			return 1
		fi
		sleep 0.05
	done
}

# cards_reader_state N: "Yes" if reader N (0 or 1) holds a card, "No" if
# not, nothing if pcscd does not list it.
cards_reader_state() {
	opensc-tool --list-readers 2>/dev/null |
		awk -v n="$1" '$1 == n && $NF ~ /^[0-9][0-9]$/ { print $2 }'
}

cards_reader_is() { [ "$(cards_reader_state "$1")" = "$2" ]; }

cards_start() {
	cards_require || return
	CARDS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/cards.XXXXXX")
	# On exit: cards_stop, then the EXIT trap the test had (tests/integration
	# has one), which still sees the exit status in $?.
	local prev
	eval "prev=($(trap -p EXIT))" # (trap -- COMMAND EXIT), or ()
	# shellcheck disable=SC2064,SC2154 # expand prev now; cards_rc is set
	trap "cards_rc=\$?; set +e; cards_stop; (exit \$cards_rc); ${prev[2]:-}" EXIT
	mkdir "$CARDS_DIR/run" "$CARDS_DIR/reader.conf.d" "$CARDS_DIR/cards"
	cat >"$CARDS_DIR/reader.conf.d/vpcd" <<-EOF
		FRIENDLYNAME "Virtual PCD"
		DEVICENAME   /dev/null:0x8C7B
		LIBPATH      $CARDS_VPCD
		CHANNELID    0x8C7B
	EOF
	cat >"$CARDS_DIR/opensc.conf" <<-EOF
		app default {
		    framework pkcs15 {
		        use_file_caching = no;
		    }
		}
	EOF
	export OPENSC_CONF=$CARDS_DIR/opensc.conf
	export PCSCLITE_CSOCK_NAME=$CARDS_DIR/run/pcscd/pcscd.comm
	CARDS_CA=$CARDS_DIR/ca/ca.pem

	local debug=()
	if [ "${CARDS_VERBOSE:-0}" = 1 ]; then
		debug=(--debug --apdu)
	fi
	# setpriv, unshare and sh exec: $! is pcscd itself, and it gets SIGTERM
	# when this shell dies, even by SIGKILL (a ctest timeout).
	# shellcheck disable=SC2016 # $1 and $@ are sh's
	setpriv --pdeathsig TERM \
	    unshare --net --mount --propagation private sh -c '
		ip link set lo up && mount --bind "$1" /run && shift &&
		exec pcscd --foreground "$@"' sh "$CARDS_DIR/run" \
	    --config "$CARDS_DIR/reader.conf.d" "${debug[@]}" \
	    >"$CARDS_DIR/pcscd.log" 2>&1 &
	CARDS_PCSCD_PID=$!
	if ! cards_wait 10 "$CARDS_PCSCD_PID" cards_reader_is 1 No; then
		echo "cards_start: pcscd did not come up with vpcd's readers" >&2
		cat "$CARDS_DIR/pcscd.log" >&2
		return 1
	fi
}

# cards_state NAME: the card's state directory (keys, certificates).
cards_state() { echo "$CARDS_DIR/cards/$1"; }

# cards_insert NAME [READER]: puts NAME's card into READER (0 or 1, default
# 0), making the card on first use; a pulled card goes back into its reader.
# Returns once pcscd sees the card.
cards_insert() {
	local name=$1 reader=${2:-0} pid=${CARDS_PID[$1]:-} args=()
	if [ -n "$pid" ]; then
		kill -USR2 "$pid"
	else
		if [ "${CARDS_VERBOSE:-0}" = 1 ]; then
			args=(--verbose)
		fi
		setpriv --pdeathsig TERM \
		    nsenter --net="/proc/$CARDS_PCSCD_PID/ns/net" \
		    "$CARDS_PYTHON" "$CARDS_SRC/vpiv.py" --name "$name" \
		    --state "$(cards_state "$name")" --ca "$CARDS_DIR/ca" \
		    --pin "$CARDS_PIN" --port $((35963 + reader)) "${args[@]}" \
		    >>"$CARDS_DIR/$name.log" 2>&1 &
		CARDS_PID[$name]=$!
		CARDS_READER[$name]=$reader
	fi
	# The first start makes six keys and certificates: allow for a slow
	# machine.
	cards_seen "$name" 60
}

# cards_seen NAME SECONDS: waits until pcscd sees NAME's card in its reader.
cards_seen() {
	local name=$1 reader=${CARDS_READER[$1]}
	if ! cards_wait "$2" "${CARDS_PID[$name]}" cards_reader_is "$reader" Yes
	then
		echo "cards_insert: $name's card not seen in reader $reader" >&2
		cat "$CARDS_DIR/$name.log" >&2
		return 1
	fi
}

# cards_require_cac: skips the test unless this machine can run virtual CAC
# cards too. Call it before cards_start.
cards_require_cac() {
	local tool
	cards_require || return
	[ -x "$CARDS_VCAC" ] || {
		cards_skip "no virtual CAC card $CARDS_VCAC (built only with" \
		    "libcacard-dev, see scripts/install-deps.sh; set CARDS_VCAC)"
		return
	}
	for tool in certutil pk12util; do
		command -v "$tool" >/dev/null ||
			{ cards_skip "no $tool (libnss3-tools)"; return; }
	done
}

# cards_cac_create NAME: makes NAME's CAC card in its state directory: three
# RSA-2048 keys and certificates issued by the test CA (made by vpiv.py's
# own code if no PIV card made it yet), holder NAME, NAME@example.org, in an
# NSS database whose password is the PIN, under the nicknames vcac wants.
cards_cac_create() {
	local name=$1 state role ou ku eku ca=$CARDS_DIR/ca
	state=$(cards_state "$name")
	rm -rf "$state/new" # what a failed attempt left
	mkdir -p "$state/new"
	chmod 700 "$state"
	# -B: no __pycache__ in the source tree.
	"$CARDS_PYTHON" -B -c 'import sys
sys.path.insert(0, sys.argv[1])
import vpiv
vpiv.ca_load_or_create(sys.argv[2])' "$CARDS_SRC" "$ca" || return
	printf '%s\n' "$CARDS_PIN" >"$state/new/pin"
	# One PBKDF2 iteration for the key database: every VERIFY is an NSS
	# login, 8x faster so.
	NSS_MAX_MP_PBE_ITERATION_COUNT=1 certutil -N -d "sql:$state/new" \
	    -f "$state/new/pin" || return
	for role in id sign encrypt; do
		case $role in
		id) ou="CAC ID" ku=digitalSignature eku=clientAuth ;;
		sign)
			ou="Email Signature" ku=digitalSignature,nonRepudiation
			eku=emailProtection
			;;
		encrypt)
			ou="Email Encryption" ku=keyEncipherment
			eku=emailProtection
			;;
		esac
		cat >"$state/new/$role.ext" <<-EOF
			basicConstraints = critical, CA:FALSE
			keyUsage = critical, $ku
			extendedKeyUsage = $eku
			subjectAltName = email:$name@example.org
			subjectKeyIdentifier = hash
			authorityKeyIdentifier = keyid
		EOF
		openssl req -new -newkey rsa:2048 -nodes \
		    -keyout "$state/new/$role.key" -out "$state/new/$role.csr" \
		    -subj "/O=cardagent test/OU=$ou/CN=$name" 2>/dev/null &&
			openssl x509 -req -in "$state/new/$role.csr" \
			    -CA "$ca/ca.pem" -CAkey "$ca/ca.key" -sha256 \
			    -set_serial "0x$(openssl rand -hex 16)" -days 3650 \
			    -extfile "$state/new/$role.ext" \
			    -out "$state/new/$role.pem" 2>/dev/null &&
			openssl pkcs12 -export -name "$role" \
			    -in "$state/new/$role.pem" \
			    -inkey "$state/new/$role.key" -passout pass:vcac \
			    -out "$state/new/$role.p12" &&
			NSS_MAX_MP_PBE_ITERATION_COUNT=1 pk12util -d \
			    "sql:$state/new" -i "$state/new/$role.p12" \
			    -k "$state/new/pin" -W vcac >/dev/null || return
		mv "$state/new/$role.pem" "$state/$role.pem"
	done
	rm -f "$state/new/pin" "$state/new/"*.key "$state/new/"*.p12 \
	    "$state/new/"*.csr "$state/new/"*.ext
	mv "$state/new" "$state/db"
}

# cards_insert_cac NAME [READER]: cards_insert for a CAC card: puts NAME's
# CAC card into READER (0 or 1, default 0), making it on first use; a pulled
# card goes back into its reader. Returns once pcscd sees the card.
cards_insert_cac() {
	local name=$1 reader=${2:-0} args=() state
	if [ -n "${CARDS_PID[$name]:-}" ]; then
		cards_insert "$name"
		return
	fi
	state=$(cards_state "$name")
	if [ ! -d "$state/db" ]; then
		cards_cac_create "$name" >>"$CARDS_DIR/$name.log" 2>&1 || {
			echo "cards_insert_cac: could not make $name's card" >&2
			cat "$CARDS_DIR/$name.log" >&2
			return 1
		}
	fi
	if [ "${CARDS_VERBOSE:-0}" = 1 ]; then
		args=(--verbose)
	fi
	setpriv --pdeathsig TERM \
	    nsenter --net="/proc/$CARDS_PCSCD_PID/ns/net" \
	    "$CARDS_VCAC" --db "$state/db" --name "$name" \
	    --port $((35963 + reader)) "${args[@]}" \
	    >>"$CARDS_DIR/$name.log" 2>&1 &
	CARDS_PID[$name]=$!
	CARDS_READER[$name]=$reader
	cards_seen "$name" 10
}

# cards_pull NAME: removes NAME's card; returns once pcscd sees it gone.
cards_pull() {
	local pid=${CARDS_PID[$1]}
	kill -USR1 "$pid"
	if ! cards_wait 10 "$pid" cards_reader_is "${CARDS_READER[$1]}" No; then
		echo "cards_pull: $1's card still seen in its reader" >&2
		return 1
	fi
}

# cards_stop: stops the cards and pcscd and removes $CARDS_DIR. Safe to call
# twice. cards_start runs it on EXIT, before the EXIT trap the test had then;
# a test that sets its EXIT trap later calls it from there.
cards_stop() {
	local name
	for name in "${!CARDS_PID[@]}"; do
		kill "${CARDS_PID[$name]}" 2>/dev/null || true
		wait "${CARDS_PID[$name]}" 2>/dev/null || true
	done
	CARDS_PID=()
	if [ -n "$CARDS_PCSCD_PID" ]; then
		kill "$CARDS_PCSCD_PID" 2>/dev/null || true
		wait "$CARDS_PCSCD_PID" 2>/dev/null || true
		CARDS_PCSCD_PID=
	fi
	if [ -n "$CARDS_DIR" ] && [ "${CARDS_KEEP:-0}" != 1 ]; then
		rm -rf "$CARDS_DIR"
	fi
	CARDS_DIR=
}
