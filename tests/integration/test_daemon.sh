#!/usr/bin/env bash
# Starting the agent the ways users do: detached with eval (like ssh-agent),
# under systemd socket activation, from a config file, and with the modules
# p11-kit has registered.
. "$(dirname "$0")/lib.sh"

run=$T/run
mkdir -m 700 "$run"
out=$(XDG_RUNTIME_DIR=$run "$CARDAGENT_BIN/cardagent" --module "$FIXTURE_MODULE" \
    --pinentry "$FAKE_PINENTRY")
check "prints sh commands for eval" grep -q '^CARDAGENT_SOCK=.*; export CARDAGENT_SOCK;$' <<<"$out"
eval "$out" >/dev/null
check "default socket is in XDG_RUNTIME_DIR/cardagent" \
    test "$CARDAGENT_SOCK" = "$run/cardagent/agent.sock"
check "socket directory is private (0700)" test "$(stat -c %a "$run/cardagent")" = 700
check "socket is not group/world accessible" test "$(stat -c %a "$CARDAGENT_SOCK")" = 600
check "detached agent serves" cardsign status
expect_exit 1 "a second agent refuses to steal a live socket" \
    "$CARDAGENT_BIN/cardagent" --foreground --module "$FIXTURE_MODULE" --socket "$CARDAGENT_SOCK"
check "the refusal says why" grep -q 'already listening' "$T/out"
check "detached agent stops on SIGTERM" kill "$CARDAGENT_PID"
for i in $(seq 1 50); do
	kill -0 "$CARDAGENT_PID" 2>/dev/null || break
	sleep 0.1
done
check "the agent has exited" bash -c "! kill -0 $CARDAGENT_PID 2>/dev/null"
check "its socket is removed" test ! -e "$CARDAGENT_SOCK"

export CARDAGENT_SOCK=$T/agent.sock
expect_exit 3 "no agent: distinct exit code" cardsign status

# systemd socket activation: the agent takes the socket it is given.
systemd-socket-activate -l "$T/sa.sock" "$CARDAGENT_BIN/cardagent" \
    --module "$FIXTURE_MODULE" --pinentry "$FAKE_PINENTRY" 2>"$T/agent.log" &
AGENT_PID=$!
for i in $(seq 1 100); do [ -S "$T/sa.sock" ] && break; sleep 0.05; done
check "socket-activated agent serves" cardsign --socket "$T/sa.sock" status
check "it logged that it was activated" grep -q 'socket activation' "$T/agent.log"
stop_agent

# Modules from the config file when the command line names none.
printf 'module %s\npinentry %s\n' "$FIXTURE_MODULE" "$FAKE_PINENTRY" >"$T/c.conf"
"$CARDAGENT_BIN/cardagent" --foreground --config "$T/c.conf" \
    --socket "$CARDAGENT_SOCK" 2>"$T/agent.log" >/dev/null &
AGENT_PID=$!
for i in $(seq 1 100); do [ -S "$CARDAGENT_SOCK" ] && break; sleep 0.05; done
check "config file modules are served" bash -c \
    "cardsign status | grep alice >/dev/null"
stop_agent
printf 'frobnicate yes\n' >"$T/bad.conf"
expect_exit 1 "an unknown config keyword is an error" \
    "$CARDAGENT_BIN/cardagent" --foreground --config "$T/bad.conf"
check "the error names file and line" grep -q 'bad.conf:1: frobnicate' "$T/out"

# With neither, the modules registered with p11-kit (Debian registers SoftHSM).
XDG_CONFIG_HOME=$T/noconf "$CARDAGENT_BIN/cardagent" --foreground \
    --socket "$CARDAGENT_SOCK" --pinentry "$FAKE_PINENTRY" 2>"$T/agent.log" >/dev/null &
AGENT_PID=$!
for i in $(seq 1 100); do [ -S "$CARDAGENT_SOCK" ] && break; sleep 0.05; done
check "p11-kit's registered SoftHSM module is served" bash -c \
    "cardsign status --json | grep -q 'libsofthsm2.so'"
check "the trust-policy module is left out" bash -c \
    "! cardsign status --json | grep -q 'p11-kit-trust'"
stop_agent
finish
