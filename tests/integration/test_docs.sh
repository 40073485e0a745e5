#!/usr/bin/env bash
# The manual pages and the bash completion: every page lints clean with
# mandoc; the options of `cardagent --help`, the commands and options of
# `cardsign --help` and the keywords the config parser accepts are the
# ones the pages document, both ways; the completion offers commands,
# subcommands, each command's options and the agent's key ids.
. "$(dirname "$0")/lib.sh"

SRC=$(cd "$TESTS_SRC/.." && pwd)
MAN=$SRC/docs/man
COMP=$SRC/client/completion
BASH_COMPLETION=/usr/share/bash-completion/bash_completion
for tool in mandoc python3; do
	if ! command -v "$tool" >/dev/null; then
		echo "FAIL - $tool not installed (run scripts/install-deps.sh)"
		exit 1
	fi
done

# lint PAGE: mandoc has nothing to say at warning level or above.
lint() {
	local out rc=0
	out=$(mandoc -T lint -W warning "$1" 2>&1) || rc=$?
	[ -n "$out" ] && printf '%s\n' "$out"
	[ "$rc" -eq 0 ] && [ -z "$out" ]
}
for page in cardagent.1 cardsign.1 cardagent.conf.5 cardagent-pkcs11.8; do
	check "$page is there" test -s "$MAN/$page"
done
for page in "$MAN"/*.[1-9]; do
	check "mandoc -T lint -W warning: ${page##*/}" lint "$page"
done
if command -v man >/dev/null && command -v groff >/dev/null; then
	check "man --warnings finds nothing either" bash -c '
	    for p in "$1"/*.[1-9]; do
		MANWIDTH=80 man --warnings -l "$p" 2>&1 >/dev/null
	    done | { ! grep .; }' _ "$MAN"
fi

cardagent --help >"$T/cardagent.help"
cardsign --help >"$T/cardsign.help"
check "cardagent -h is --help" bash -c \
    "cardagent -h | cmp - '$T/cardagent.help'"
check "cardsign -h is --help" bash -c "cardsign -h | cmp - '$T/cardsign.help'"

# mancheck.py WHAT FILES...: compares what --help or the code says with
# what a page documents, printing the differences. The pages are read as
# mdoc: a list item's head (.It, or .It Xo up to .Xc) with Fl arguments
# documents options; a head starting with Cm, a command or keyword.
cat >"$T/mancheck.py" <<'PY'
import re
import sys

OPT = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")
MACRO = re.compile(r"^(%[A-Z]|[A-Z][a-z][a-z]?)$")
CAS = ["--ca-file", "--ca-dir", "--crl-file", "--no-system-ca"]


def heads(path):
    """The heads of every .It of an mdoc page, as lists of words."""
    out, cur = [], None
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if not line.startswith("."):
            continue
        words = line[1:].split()
        if cur is not None:
            if words[:1] == ["Xc"]:
                out.append(cur)
                cur = None
            else:
                cur += words
            continue
        if words[:1] == ["It"]:
            if words[1:2] == ["Xo"]:
                cur = []
            else:
                out.append(words[1:])
    return out


def flags(words):
    """The options that Fl macros in words name."""
    found, on = [], False
    for w in words:
        if w == "Fl":
            on = True
        elif MACRO.match(w) or not re.match(r"^(\\-|-)?[\w-]+$", w):
            on = False
        elif on:
            found.append("-" + w.replace("\\-", "-"))
    return found


def commands(path):
    """{command: options} for every head that starts with Cm."""
    cmds = {}
    for h in heads(path):
        if h[:1] != ["Cm"]:
            continue
        name = [h[1]]
        if h[1] == "smime" and len(h) > 2 and not MACRO.match(h[2]):
            name.append(h[2])
        cmds[" ".join(name)] = set(flags(h))
    return cmds


def all_flags(path):
    return {f for h in heads(path) for f in flags(h)}


def help_commands(text):
    """{command: options} from cardsign --help's commands: block."""
    cmds, cur = {}, None
    block = text.split("commands:\n", 1)[1].split("\n\n", 1)[0]
    for line in block.splitlines():
        if re.match(r"^  \S", line):
            words = line.split()
            name = words[0]
            if name == "smime":
                name += " " + words[1]
            cur = cmds.setdefault(name, set())
        if cur is None:
            continue
        cur |= set(OPT.findall(line))
        if "[CAS]" in line:
            cur |= set(CAS)
    return cmds


def agent_help(path):
    """The options of cardagent --help's table: "  -f, --foreground  ..."."""
    opts = set()
    for line in open(path):
        m = re.match(r"^\s+(-.*?)(?:\s{2,}|$)", line)
        if m:
            opts |= set(OPT.findall(m.group(1)))
    return opts


def report(what, a, an, b, bn):
    bad = 0
    for x in sorted(a - b):
        print("%s: %s is in %s but not in %s" % (what, x, an, bn))
        bad = 1
    for x in sorted(b - a):
        print("%s: %s is in %s but not in %s" % (what, x, bn, an))
        bad = 1
    return bad


def main(what, *args):
    if what == "agent-options":
        helptext, page = args
        return report("option", agent_help(helptext), "--help",
                      all_flags(page), page)
    if what == "help-agent-options":
        for o in sorted(agent_help(args[0])):
            print(o)
        return 0
    if what == "cardsign-commands":
        helptext, page = args
        h = help_commands(open(helptext).read())
        return report("command", set(h), "--help", set(commands(page)), page)
    if what == "cardsign-options":
        helptext, page = args
        return report("option", set(OPT.findall(open(helptext).read())),
                      "--help", all_flags(page), page)
    if what == "cardsign-command-options":
        helptext, page = args
        h = help_commands(open(helptext).read())
        m = commands(page)
        bad = 0
        for c in sorted(set(h) & set(m)):
            bad |= report("option of " + c, h[c], "--help", m[c], page)
        return bad
    if what == "conf-keywords":
        config_c, page = args
        src = open(config_c).read()
        body = src.split("\napply(", 1)[1].split("\n}\n", 1)[0]
        keys = set(re.findall(r'strcmp\(key, "([\w-]+)"\)', body))
        doc = {h[1] for h in heads(page) if h[:1] == ["Cm"] and
               h[2:3] != ["Ns"]}
        return report("keyword", keys, "apply()", doc, page)
    if what == "conf-scope-options":
        config_c, page = args
        src = open(config_c).read()
        body = src.split("\nscope_option(", 1)[1].split("\n}\n", 1)[0]
        opts = set(re.findall(r'strncmp\(opt, "([\w-]+)=", \d+\)', body))
        doc = {h[1] for h in heads(page) if h[:1] == ["Cm"] and
               h[2:3] == ["Ns"]}
        return report("restricted-socket option", opts, "scope_option()",
                      doc, page)
    if what == "help-commands":
        # The commands of cardsign --help, one a line.
        for c in sorted(help_commands(open(args[0]).read())):
            print(c)
        return 0
    if what == "help-command-options":
        # The options of one command of cardsign --help, one a line.
        for o in sorted(help_commands(open(args[0]).read())[args[1]]):
            print(o)
        return 0
    sys.exit("mancheck.py: unknown check " + what)


sys.exit(main(*sys.argv[1:]))
PY
mancheck() { python3 "$T/mancheck.py" "$@"; }

check "cardagent --help's options are cardagent.1's, both ways" \
    mancheck agent-options "$T/cardagent.help" "$MAN/cardagent.1"
check "cardsign --help's commands are cardsign.1's, both ways" \
    mancheck cardsign-commands "$T/cardsign.help" "$MAN/cardsign.1"
check "cardsign --help's options are cardsign.1's, both ways" \
    mancheck cardsign-options "$T/cardsign.help" "$MAN/cardsign.1"
check "each cardsign command has the same options in both" \
    mancheck cardsign-command-options "$T/cardsign.help" "$MAN/cardsign.1"
check "the config parser's keywords are cardagent.conf.5's, both ways" \
    mancheck conf-keywords "$SRC/agent/config.c" "$MAN/cardagent.conf.5"
check "restricted-socket's options too" \
    mancheck conf-scope-options "$SRC/agent/config.c" "$MAN/cardagent.conf.5"
check "the help has the 13 commands" \
    test "$(mancheck help-commands "$T/cardsign.help" | wc -l)" -eq 13

# The checks can fail: pages with an option, a command or a keyword
# missing, and a help with one more option, are caught.
sed '/^\.It Fl \\-watch/d; /^\.Op Fl \\-watch/d' "$MAN/cardsign.1" \
    >"$T/nowatch.1"
expect_exit 1 "a page without --watch fails the check" \
    mancheck cardsign-options "$T/cardsign.help" "$T/nowatch.1"
check "  naming it" grep -q -- '--watch is in --help but not in' "$T/out"
sed 's/^\.Cm derive$/.Cm derived/' "$MAN/cardsign.1" >"$T/noderive.1"
expect_exit 1 "a page without derive fails the check" \
    mancheck cardsign-commands "$T/cardsign.help" "$T/noderive.1"
sed 's/\.Op Fl \\-pss$/.Op Fl \\-pem/' "$MAN/cardsign.1" >"$T/pss.1"
expect_exit 1 "an option documented for the wrong command fails" \
    mancheck cardsign-command-options "$T/cardsign.help" "$T/pss.1"
sed 's/^\.It Cm idle-lock /.It Cm idle-logout /' "$MAN/cardagent.conf.5" \
    >"$T/noidle.5"
expect_exit 1 "a page without idle-lock fails the check" \
    mancheck conf-keywords "$SRC/agent/config.c" "$T/noidle.5"
{ cat "$T/cardagent.help"; echo "  -x, --extra           not documented"; } \
    >"$T/extra.help"
expect_exit 1 "an option only in --help fails the check" \
    mancheck agent-options "$T/extra.help" "$MAN/cardagent.1"

# ---- bash completion ----
start_agent
printf 'x\n' >"$T/release.tar"
printf 'x\n' >"$T/module.so"

# completions WITH SCRIPT LINE: what completing LINE (the cursor at its end)
# offers, one a line, sorted; WITH is "bc" to load bash-completion first,
# else the script's own fallbacks are used.
completions() {
	bash -c '
	    [ "$1" = bc ] && . "$4"
	    . "$2"
	    line=$3
	    read -ra COMP_WORDS <<<"$line"
	    [[ $line == *" " ]] && COMP_WORDS+=("")
	    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	    COMP_LINE=$line
	    COMP_POINT=${#line}
	    fn=$(complete -p "${COMP_WORDS[0]}" | sed "s/.*-F \([^ ]*\) .*/\1/")
	    "$fn" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" \
		"${COMP_WORDS[COMP_CWORD - 1]}"
	    printf "%s\n" "${COMPREPLY[@]}"' _ "$@" "$BASH_COMPLETION" |
	    sed '/^$/d' | sort
}

# offers WITH SCRIPT LINE WANT...: completing LINE offers exactly WANT.
offers() {
	local with=$1 script=$2 line=$3 got want
	shift 3
	got=$(completions "$with" "$script" "$line")
	want=$(printf '%s\n' "$@" | sort)
	if [ "$got" != "$want" ]; then
		printf 'completing "%s":\n  got:  %s\n  want: %s\n' "$line" \
		    "$(tr '\n' ' ' <<<"$got")" "$(tr '\n' ' ' <<<"$want")"
		return 1
	fi
}

# offers_all WITH SCRIPT LINE WANT...: completing LINE offers WANT, and
# maybe more.
offers_all() {
	local with=$1 script=$2 line=$3 got w
	shift 3
	got=$(completions "$with" "$script" "$line")
	for w in "$@"; do
		if ! grep -qxF -- "$w" <<<"$got"; then
			printf 'completing "%s" does not offer %s; got:\n%s\n' \
			    "$line" "$w" "$got"
			return 1
		fi
	done
}

# command_options WITH CMD: completing "cardsign CMD -" offers each option
# cardsign --help lists for CMD, and nothing that no command of CMD takes.
command_options() {
	local with=$1 cmd=$2 got help o
	got=$(completions "$with" "$COMP/cardsign" "cardsign $cmd -")
	help=$(mancheck help-command-options "$T/cardsign.help" "$cmd")
	for o in $help; do
		if ! grep -qxF -- "$o" <<<"$got"; then
			echo "cardsign $cmd: $o is not offered"
			return 1
		fi
	done
	for o in $got; do
		case $o in
		-s | --socket | -h | --help | --in | --out) continue ;;
		esac
		if ! grep -qxF -- "$o" <<<"$help"; then
			echo "cardsign $cmd: $o is offered, but --help has not it"
			return 1
		fi
	done
}

# without_agent CMD...: CMD with CARDAGENT_SOCK naming no agent.
without_agent() { (export CARDAGENT_SOCK=$T/none.sock; "$@"); }

alice_key=$(key_id alice rsa2048-sign)
alice_tok=$(token_id alice)
withs=(plain)
if [ -r "$BASH_COMPLETION" ]; then
	withs+=(bc)
	check "bash-completion's helpers load for the bc checks" bash -c \
	    '. "$1" && declare -F _init_completion _filedir' _ "$BASH_COMPLETION"
else
	echo "# bash-completion is not installed: its helpers go untested"
fi
for w in "${withs[@]}"; do
	C=$COMP/cardsign
	check "$w: cardsign sm<TAB> is smime" offers "$w" "$C" "cardsign sm" smime
	check "$w: cardsign <TAB> lists the 10 commands" offers "$w" "$C" \
	    "cardsign " status keys login lock sign-digest unwrap derive sign \
	    verify smime
	check "$w: cardsign smime <TAB> lists the four" offers "$w" "$C" \
	    "cardsign smime " sign verify encrypt decrypt
	check "$w: cardsign sign --k<TAB> is --key" offers "$w" "$C" \
	    "cardsign sign --k" --key
	check "$w: options before the command count" offers "$w" "$C" \
	    "cardsign -s $CARDAGENT_SOCK smime decrypt --ver" --verify
	check "$w: cardsign verify --j<TAB> is --json" offers "$w" "$C" \
	    "cardsign verify --j" --json
	check "$w: hashes" offers "$w" "$C" "cardsign sign --hash sha5" sha512
	check "$w: ciphers" offers "$w" "$C" \
	    "cardsign smime encrypt --cipher aes-256-" aes-256-cbc aes-256-gcm
	check "$w: files for -i" offers "$w" "$C" \
	    "cardsign smime sign -i $T/release.t" "$T/release.tar"
	check "$w: files for sign's operand" offers "$w" "$C" \
	    "cardsign sign --key $alice_key $T/rel" "$T/release.tar"
	check "$w: key ids and addresses from the agent" offers_all "$w" "$C" \
	    "cardsign sign --key " "$alice_key" alice@example.org
	check "$w: token ids from the agent" offers_all "$w" "$C" \
	    "cardsign login --token " "$alice_tok"
	check "$w: the agent named with -s" without_agent offers_all "$w" \
	    "$C" "cardsign -s $CARDAGENT_SOCK sign --key " "$alice_key"
	check "$w: no key ids without an agent" without_agent offers "$w" \
	    "$C" "cardsign sign --key "
	while read -r cmd; do
		check "$w: cardsign $cmd's options are --help's" \
		    command_options "$w" "$cmd"
	done < <(mancheck help-commands "$T/cardsign.help")

	C=$COMP/cardagent
	check "$w: cardagent --f<TAB> is --foreground" offers "$w" "$C" \
	    "cardagent --f" --foreground
	# shellcheck disable=SC2046
	check "$w: cardagent offers every option of its --help" offers "$w" \
	    "$C" "cardagent -" $(mancheck help-agent-options "$T/cardagent.help")
	check "$w: cardagent -m offers shared objects" offers_all "$w" "$C" \
	    "cardagent -m $T/mod" "$T/module.so"
done

# An agent that accepts and never answers costs the completion a second.
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(8)
conns = []
while True:
    conns.append(s.accept()[0])
' "$T/hung.sock" &
HUNG=$!
for _ in $(seq 1 100); do
	[ -S "$T/hung.sock" ] && break
	sleep 0.05
done
start=$(date +%s%N)
(export CARDAGENT_SOCK=$T/hung.sock
completions plain "$COMP/cardsign" "cardsign sign --key " >"$T/hung.out")
ms=$((($(date +%s%N) - start) / 1000000))
kill "$HUNG"
wait "$HUNG" 2>/dev/null || true
check "a hung agent: no keys offered" test ! -s "$T/hung.out"
check "  after at most 3 s (took $ms ms)" test "$ms" -lt 3000
finish
