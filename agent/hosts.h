/*
 * hosts.h: the agent's side of the token hosts (see tokenhost.h).
 *
 * One host per module. This file spawns them, keeps the last token and key
 * index each sent, forwards calls with a watchdog deadline, and restarts a
 * host that crashed or hung, failing only the calls that were in it.
 */
#ifndef CARDAGENT_HOSTS_H
#define CARDAGENT_HOSTS_H

#include <stddef.h>

#include "msg.h"

struct loop;
struct host;

/*
 * Called exactly once per call, on the loop thread, with the host's reply
 * (OK, ERROR, SIGNATURE, SECRET, HOST_INDEX), or with an ERROR made up here
 * when the host timed out or died. The reply is freed after the callback
 * returns; take what must live longer (ca_msg fields may be stolen by
 * setting them to NULL).
 */
typedef void (*host_cb)(void *arg, struct ca_msg *reply);

/* Called once every host has sent its first index or failed to. */
typedef void (*hosts_settled_cb)(void);

/*
 * Starts a host for each module. self_exe is the agent binary re-executed
 * as `--token-host`; timeout_ms bounds every call into a host. Returns 0,
 * or -1 on allocation failure.
 */
int hosts_start(struct loop *l, char *const *modules, size_t n,
    const char *self_exe, unsigned timeout_ms, hosts_settled_cb settled);

/*
 * cb runs (on the loop thread) whenever a host's tokens may have changed:
 * a new index (cards, logins, PIN state) or a host gone down.
 */
void hosts_on_change(void (*cb)(void));

/* Kills every host and frees everything; pending calls are failed. */
void hosts_stop(void);

/* Asks every running host to re-read its slots and tokens (SIGHUP). */
void hosts_refresh(void);

/* Whether every host has indexed (or failed) at least once. */
int hosts_settled(void);

/* Finds a key or token in the cached indexes; the pointer is valid until
 * the loop next runs. NULL if unknown. */
const struct ca_key *hosts_find_key(const char *key_id, struct host **h);
const struct ca_token *hosts_find_token(const char *token_id,
    struct host **h);

/*
 * Visits every cached token; a token whose host is down carries
 * CA_TOK_HOST_DOWN. Stops early when fn returns non-zero.
 */
void hosts_each_token(int (*fn)(void *arg, struct host *h,
    const struct ca_token *t), void *arg);

/* Fills reply's list with deep copies of the cached tokens and/or keys.
 * Returns CA_PE_OK or CA_PE_NOMEM. */
enum ca_perr hosts_snapshot(struct ca_msg *reply, int tokens, int keys);

/*
 * Sends req to h (req->id is set here; req is only read). cb runs later,
 * never from inside this call.
 */
void host_call(struct host *h, struct ca_msg *req, host_cb cb, void *arg);

#endif
