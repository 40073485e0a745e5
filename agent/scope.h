/*
 * scope.h: what a client of a restricted socket may do (restricted-socket
 * in cardagent.conf(5)).
 *
 * A restricted socket is meant to be handed to something less trusted
 * than the user's own shell: a remote host through `ssh -R`, or a mail
 * client. Its clients may use the keys the scope names for the operations
 * it names, at a bounded rate, and nothing else: no LOCK, no PIN sent by
 * the client (a remote guessing PINs would lock the card), no key outside
 * the scope, not even listed.
 */
#ifndef CARDAGENT_SCOPE_H
#define CARDAGENT_SCOPE_H

#include <sys/types.h>

#include "config.h"
#include "msg.h"

/*
 * Whether request m may be made on a socket with scope s (NULL: the full
 * socket, which may make any). Returns CA_OK, or CA_E_DENIED with the
 * reason in *why. The key is checked separately (scope_key_allowed).
 */
uint32_t scope_check(const struct scope *s, const struct ca_msg *m,
    const char **why);

/* Whether the scope lets its clients see and use key k. */
int scope_key_allowed(const struct scope *s, const struct ca_key *k);

/*
 * Leaves in a KEYS_REPLY only the keys the scope allows, their ops
 * narrowed to the scope's.
 */
void scope_filter_keys(const struct scope *s, struct ca_msg *reply);

/*
 * Takes one operation from the allowance of client process pid on scope
 * s: a bucket of s->rate operations, refilled at s->rate a minute.
 * Returns 0, or -1 when the client has used it up.
 */
int scope_rate_take(const struct scope *s, pid_t pid, uint64_t now_ms);

#endif
