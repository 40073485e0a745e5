# shellcheck shell=bash
# agent.sh: what the tests of the agent on virtual cards share, after
# tests/integration/lib.sh and tests/cards/lib.sh: the message and digest
# to sign ($T/msg, $T/d), and lookups through cardsign.

echo "card test" >"$T/msg"
openssl dgst -sha256 -binary "$T/msg" >"$T/d"

# role_key HOLDER ROLE: the id of the key with that role (cardsign keys
# --json, "role" starting with ROLE) on HOLDER's card.
role_key() {
	cardsign keys --json | python3 -c '
import json, subprocess, sys
toks = {t["id"]: t["label"] for t in json.loads(subprocess.run(
    ["cardsign", "status", "--json"], capture_output=True).stdout)}
for k in json.load(sys.stdin):
    if toks.get(k["token"]) == sys.argv[1] and k["role"].startswith(sys.argv[2]):
        print(k["id"]); break
else:
    sys.exit("no %s key on %s" % (sys.argv[2], sys.argv[1]))' "$1" "$2"
}

# tok HOLDER: the agent's id for HOLDER's card (through OpenSC).
tok() { token_id "$1" opensc; }

# state TOKEN: "present|absent in|out up|down".
state() {
	cardsign status --json | python3 -c '
import json, sys
t = [t for t in json.load(sys.stdin) if t["id"] == sys.argv[1]][0]
print("present" if t["present"] else "absent",
      "in" if t["logged_in"] else "out",
      "down" if t["module_down"] else "up")' "$1"
}

# wait_state TOKEN WANT SECONDS: until the token's state is WANT.
wait_state() {
	local n
	for ((n = $3 * 10; n > 0; n--)); do
		[ "$(state "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	echo "state: $(state "$1"), wanted $2" >&2
	return 1
}

# sign_ok KEY CERT: a signature of the digest that CERT's key verifies.
sign_ok() {
	cardsign sign-digest --key "$1" --hash sha256 --in "$T/d" -o "$T/sig" &&
	    openssl dgst -sha256 -verify <(openssl x509 -in "$2" -pubkey -noout) \
	    -signature "$T/sig" "$T/msg" >/dev/null
}

# unwrap_ok KEY CERT [oaep]: a new random key, wrapped to CERT (PKCS#1
# v1.5, or OAEP with SHA-256), comes back whole from the agent's KEY.
unwrap_ok() {
	local enc=() unwrap=()
	if [ "${3:-}" = oaep ]; then
		enc=(-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256
		    -pkeyopt rsa_mgf1_md:sha256)
		unwrap=(--oaep sha256)
	fi
	head -c 32 /dev/urandom >"$T/key" &&
	    openssl pkeyutl -encrypt -certin -inkey "$2" -in "$T/key" \
	    "${enc[@]}" -out "$T/wrapped" &&
	    cardsign unwrap --key "$1" "${unwrap[@]}" --in "$T/wrapped" \
	    -o "$T/key.out" && cmp "$T/key" "$T/key.out"
}

# login HOLDER: logs in to HOLDER's card with the cards' PIN.
login() {
	printf '%s\n' "$CARDS_PIN" |
		cardsign login --token "$(tok "$1")" --pin-stdin
}
