#!/bin/bash
# fake-pinentry.sh: a scripted pinentry speaking just enough Assuan for tests.
#
# Environment:
#   FAKE_PINENTRY_LOG     if set, GETPIN and CONFIRM append one line each:
#                         "GETPIN <desc>" / "CONFIRM <desc>", where <desc> is
#                         the last SETDESC argument exactly as received (still
#                         percent-escaped, so it always fits on one line).
#                         SETOK and SETCANCEL are logged as received too, as
#                         "SETOK <label>" / "SETCANCEL <label>", each when it
#                         arrives (so before the GETPIN or CONFIRM line).
#   FAKE_PINENTRY_PIN     file whose first line is the PIN; read at every
#                         GETPIN, so a test may change it between prompts.
#   FAKE_PINENTRY_CANCEL  when the PIN file is absent, "1" makes the cancel
#                         reply carry pinentry's source tag, as real ones do.
#   FAKE_PINENTRY_WAIT    file holding seconds to wait before answering
#                         GETPIN or CONFIRM, like a user who has not typed
#                         or clicked yet.
#   FAKE_PINENTRY_CONFIRM file whose first line answers CONFIRM, read at every
#                         CONFIRM: "yes" allows (OK), "no" denies as pinentry
#                         does ("ERR 83886194 Not confirmed <Pinentry>",
#                         GPG_ERR_NOT_CONFIRMED), "cancel" is the Cancel
#                         button or Escape ("ERR 83886179 Operation cancelled
#                         <Pinentry>", GPG_ERR_CANCELED); anything else is an
#                         error that is no cancel (GPG_ERR_GENERAL), so a
#                         typo in a test shows.  No file: allowed.
# Without a PIN file GETPIN is answered as if the user pressed Cancel.

set -u

desc=

log() {
	if [[ -n ${FAKE_PINENTRY_LOG:-} ]]; then
		printf '%s\n' "$1" >>"$FAKE_PINENTRY_LOG"
	fi
}

# A user who takes their time: the file holds seconds to wait.
user_wait() {
	if [[ -n ${FAKE_PINENTRY_WAIT:-} && -f $FAKE_PINENTRY_WAIT ]]; then
		sleep "$(cat "$FAKE_PINENTRY_WAIT")"
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
	SETOK | SETCANCEL)
		log "${cmd^^} $arg"
		echo OK
		;;
	GETPIN)
		log "GETPIN $desc"
		user_wait
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
		user_wait
		answer=yes
		file=${FAKE_PINENTRY_CONFIRM:-}
		if [[ -n $file && -f $file ]]; then
			answer=
			IFS= read -r answer <"$file" || true
		fi
		case $answer in
		yes) echo OK ;;
		no) echo "ERR 83886194 Not confirmed <Pinentry>" ;;
		cancel) echo "ERR 83886179 Operation cancelled <Pinentry>" ;;
		*) echo "ERR 83886081 Bad FAKE_PINENTRY_CONFIRM <Pinentry>" ;;
		esac
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
