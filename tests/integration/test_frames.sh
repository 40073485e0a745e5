#!/usr/bin/env bash
# Malformed, oversized, truncated and half-sent frames from hostile clients.
. "$(dirname "$0")/lib.sh"

start_agent
rc=0
python3 "$(dirname "$0")/frames.py" "$CARDAGENT_SOCK" || rc=$?
check "agent process survived" kill -0 "$AGENT_PID"
check "agent still serves cardsign" cardsign status
[ $rc -eq 0 ] || failed "frames.py reported failures"
finish
