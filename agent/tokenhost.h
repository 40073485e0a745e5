/*
 * tokenhost.h: the token host, the only process that calls PKCS#11.
 *
 * The agent runs one host per module: a re-exec of the cardagent binary
 * (`cardagent --token-host MODULE`) whose fd 3 is a socketpair to the agent.
 * The host speaks proto/msg.h over that channel:
 *  - on start, and whenever its view of tokens or login state changes, it
 *    sends CA_MSG_HOST_INDEX with id 0 (before any reply the change caused);
 *  - it answers HOST_REFRESH (with HOST_INDEX), LOGIN, LOCK, SIGN, DECRYPT
 *    and DERIVE with the request's id, in any order across tokens.
 * A vendor library that crashes or hangs takes only its host with it; the
 * agent's watchdog kills and restarts it.
 */
#ifndef CARDAGENT_TOKENHOST_H
#define CARDAGENT_TOKENHOST_H

/*
 * Runs the host for module on channel fd until the channel closes; returns
 * the process exit status. Logs go to syslog when use_syslog is set (the
 * agent is detached), else to stderr.
 */
int tokenhost_main(const char *module, int fd, int use_syslog);

#endif
