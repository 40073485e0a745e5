#!/bin/bash
# fake-pinentry.sh: a scripted pinentry speaking just enough Assuan for tests.
#
# Environment:
#   FAKE_PINENTRY_LOG     if set, GETPIN and CONFIRM append one line each:
#                         "GETPIN <desc>" / "CONFIRM <desc>", where <desc> is
#                         the last SETDESC argument exactly as received (still
#                         percent-escaped, so it always fits on one line).
#   FAKE_PINENTRY_PIN     file whose first line is the PIN; read at every
#                         GETPIN, so a test may change it between prompts.
#   FAKE_PINENTRY_CANCEL  when the PIN file is absent, "1" makes the cancel
#                         reply carry pinentry's source tag, as real ones do.
#   FAKE_PINENTRY_WAIT    file holding seconds to wait before answering
#                         GETPIN, like a user who has not typed yet.
# Without a PIN file GETPIN is answered as if the user pressed Cancel.

set -u

desc=

log() {
	if [[ -n ${FAKE_PINENTRY_LOG:-} ]]; then
		printf '%s\n' "$1" >>"$FAKE_PINENTRY_LOG"
	fi
}

# Sends $1 percent-escaped in D lines, split as libassuan does so that no
# line exceeds Assuan's 1000 bytes and no escape is cut in two.
send_data() {
	local s=$1 n
	s=${s//%/%25}
	s=${s//$'\r'/%0D}
	s=${s//$'\n'/%0A}
	while [[ -n $s ]]; do
		n=990
		if ((${#s} > n)); then
			if [[ ${s:n-1:1} == % ]]; then
				n=$((n - 1))
			elif [[ ${s:n-2:1} == % ]]; then
				n=$((n - 2))
			fi
		fi
		printf 'D %s\n' "${s:0:n}"
		s=${s:n}
	done
}

echo "OK Pleased to meet you"
while IFS= read -r line; do
	cmd=${line%% *}
	arg=
	if [[ $line == *' '* ]]; then
		arg=${line#* }
	fi
	case ${cmd^^} in
	'' | '#'*)
		# Assuan servers ignore empty and comment lines.
		;;
	SETDESC)
		desc=$arg
		echo OK
		;;
	GETPIN)
		log "GETPIN $desc"
		# A user who takes their time: the file holds seconds to wait.
		if [[ -n ${FAKE_PINENTRY_WAIT:-} && -f $FAKE_PINENTRY_WAIT ]]; then
			sleep "$(cat "$FAKE_PINENTRY_WAIT")"
		fi
		if [[ -n ${FAKE_PINENTRY_PIN:-} && -f $FAKE_PINENTRY_PIN ]]; then
			pin=
			IFS= read -r pin <"$FAKE_PINENTRY_PIN" || true
			send_data "$pin"
			echo OK
		elif [[ ${FAKE_PINENTRY_CANCEL:-} == 1 ]]; then
			echo "ERR 83886179 Operation cancelled <Pinentry>"
		else
			echo "ERR 83886179 Operation cancelled"
		fi
		;;
	CONFIRM)
		log "CONFIRM $desc"
		echo OK
		;;
	BYE)
		echo "OK closing connection"
		exit 0
		;;
	*)
		echo OK
		;;
	esac
done
exit 0
