/*
 * policy.h: what the user chose for PINs, logins and confirmations
 * (cardagent.conf: pin-cache, idle-lock, confirm): when a token is logged
 * out on the agent's own initiative, whether the PIN of a key that wants
 * it at every use may be reused, and which operations the user must allow
 * one by one. Kept PINs live in locked memory (secret.h) and are wiped when
 * their time is up, when the card goes, when it is locked, and as soon as
 * the token reports a PIN failure or few tries left: a kept PIN is never
 * tried where a wrong one could bring a card closer to locking.
 */
#ifndef CARDAGENT_POLICY_H
#define CARDAGENT_POLICY_H

#include "msg.h"

struct loop;
struct config;
struct ca_secret;

/* Starts applying cfg (which must outlive the agent's loop). */
void policy_init(struct loop *l, const struct config *cfg);
/* Wipes every kept PIN and stops the timers. */
void policy_stop(void);

/*
 * The kept PIN for token t's always-authenticate keys, as a new secret the
 * caller owns; NULL when none is kept or t's PIN state forbids using one.
 */
struct ca_secret *policy_pin(const struct ca_token *t);
/*
 * pin has just worked on the token token_id (a login, or an operation of
 * an always-authenticate key): with pin-cache ttl it is kept (copied) and
 * the token's time starts.
 */
void policy_pin_worked(const char *token_id, const struct ca_secret *pin);
/* A PIN failed on token_id, or it was locked: forget its PIN. */
void policy_forget(const char *token_id);
/* An operation on token_id finished: idle-lock starts counting again, and
 * with pin-cache none the token is logged out. */
void policy_used(const char *token_id);
/* Whether a request of this type (SIGN, DECRYPT, DERIVE) on token t needs
 * the user to allow it first (confirm). */
int policy_confirm(uint8_t type, const struct ca_token *t);
/* The tokens may have changed (hosts_on_change): PINs of tokens gone,
 * logged out or short of tries are forgotten. */
void policy_tokens_changed(void);

#endif
