/*
 * policy.c: pin-cache, idle-lock and confirm, applied on the agent's loop.
 */
#define _GNU_SOURCE
#include "policy.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "hosts.h"
#include "log.h"
#include "loop.h"
#include "secret.h"

/* What the policy holds for one token: a kept PIN and its timers. */
struct tokpol {
	char *token_id;
	struct ca_secret *pin;	/* pin-cache ttl only */
	uint64_t ttl_timer;	/* forgets the PIN and logs out */
	uint64_t idle_timer;	/* logs out an unused token */
	struct tokpol *next;
};

static struct {
	struct loop *loop;
	const struct config *cfg;
	struct tokpol *all;
} P;

static struct tokpol *
find(const char *token_id, int create)
{
	struct tokpol *tp;

	for (tp = P.all; tp != NULL; tp = tp->next)
		if (strcmp(tp->token_id, token_id) == 0)
			return tp;
	if (!create || (tp = calloc(1, sizeof(*tp))) == NULL)
		return NULL;
	if ((tp->token_id = strdup(token_id)) == NULL) {
		free(tp);
		return NULL;
	}
	tp->next = P.all;
	P.all = tp;
	return tp;
}

static void
drop_pin(struct tokpol *tp)
{
	ca_secret_free(tp->pin);
	tp->pin = NULL;
	if (tp->ttl_timer) {
		loop_timer_cancel(P.loop, tp->ttl_timer);
		tp->ttl_timer = 0;
	}
}

static void
lock_reply(void *arg, struct ca_msg *reply)
{
	(void)arg;
	if (reply->type == CA_MSG_ERROR)
		log_warn("logging out on policy: %s", reply->u.error.text ?
		    reply->u.error.text : ca_status_str(reply->u.error.code));
}

/* Logs the token out, if it is logged in, and forgets its PIN. */
static void
lock(struct tokpol *tp, const char *why)
{
	const struct ca_token *t;
	struct ca_msg m;
	struct host *h;

	drop_pin(tp);
	if ((t = hosts_find_token(tp->token_id, &h)) == NULL ||
	    !(t->flags & CA_TOK_LOGGED_IN) || (t->flags & CA_TOK_HOST_DOWN))
		return;
	log_info("logging out of token '%s': %s", t->label, why);
	memset(&m, 0, sizeof(m));
	m.type = CA_MSG_LOCK;
	m.u.login.token_id = tp->token_id;
	host_call(h, &m, lock_reply, NULL);
}

static void
ttl_fire(struct loop *l, void *arg)
{
	struct tokpol *tp = arg;

	(void)l;
	tp->ttl_timer = 0;
	lock(tp, "its PIN's time is up (pin-cache ttl)");
}

static void
idle_fire(struct loop *l, void *arg)
{
	struct tokpol *tp = arg;

	(void)l;
	tp->idle_timer = 0;
	lock(tp, "unused (idle-lock)");
}

void
policy_init(struct loop *l, const struct config *cfg)
{
	P.loop = l;
	P.cfg = cfg;
}

void
policy_stop(void)
{
	struct tokpol *tp;

	while ((tp = P.all) != NULL) {
		P.all = tp->next;
		drop_pin(tp);
		if (tp->idle_timer)
			loop_timer_cancel(P.loop, tp->idle_timer);
		free(tp->token_id);
		free(tp);
	}
}

/* Whether the token's PIN state allows trying a kept PIN at all. */
static int
pin_state_ok(const struct ca_token *t)
{
	return (t->flags & CA_TOK_PRESENT) && (t->flags & CA_TOK_LOGGED_IN) &&
	    !(t->flags & (CA_TOK_PIN_COUNT_LOW | CA_TOK_PIN_FINAL_TRY |
	    CA_TOK_PIN_LOCKED | CA_TOK_HOST_DOWN));
}

struct ca_secret *
policy_pin(const struct ca_token *t)
{
	struct tokpol *tp;

	if ((tp = find(t->id, 0)) == NULL || tp->pin == NULL)
		return NULL;
	if (!pin_state_ok(t)) {
		drop_pin(tp);
		return NULL;
	}
	return ca_secret_dup(tp->pin->data, tp->pin->len);
}

void
policy_pin_worked(const char *token_id, const struct ca_secret *pin)
{
	struct tokpol *tp;

	if (P.cfg == NULL || P.cfg->pin_cache != PIN_CACHE_TTL || pin == NULL ||
	    (tp = find(token_id, 1)) == NULL)
		return;
	/* The time runs from when the PIN was typed, not from its last use. */
	if (tp->pin != NULL)
		return;
	if ((tp->pin = ca_secret_dup(pin->data, pin->len)) == NULL)
		return;
	tp->ttl_timer = loop_timer(P.loop, (uint64_t)P.cfg->pin_ttl_s * 1000,
	    ttl_fire, tp);
}

void
policy_forget(const char *token_id)
{
	struct tokpol *tp;

	if ((tp = find(token_id, 0)) != NULL)
		drop_pin(tp);
}

void
policy_used(const char *token_id)
{
	struct tokpol *tp;

	/* Nothing to track per token unless one of the two is set. */
	if (P.cfg == NULL || (P.cfg->pin_cache != PIN_CACHE_NONE &&
	    P.cfg->idle_lock_s == 0) || (tp = find(token_id, 1)) == NULL)
		return;
	if (P.cfg->pin_cache == PIN_CACHE_NONE) {
		lock(tp, "pin-cache none");
		return;
	}
	if (tp->idle_timer)
		loop_timer_cancel(P.loop, tp->idle_timer);
	tp->idle_timer = loop_timer(P.loop, (uint64_t)P.cfg->idle_lock_s *
	    1000, idle_fire, tp);
}

int
policy_confirm(uint8_t type, const struct ca_token *t)
{
	uint32_t op = type == CA_MSG_SIGN ? CA_OP_SIGN : type ==
	    CA_MSG_DECRYPT ? CA_OP_DECRYPT : CA_OP_DERIVE;

	return P.cfg != NULL &&
	    (config_confirm_ops(P.cfg, t->label) & op) != 0;
}

void
policy_tokens_changed(void)
{
	const struct ca_token *t;
	struct tokpol *tp;
	struct host *h;

	for (tp = P.all; tp != NULL; tp = tp->next)
		if (tp->pin != NULL && ((t = hosts_find_token(tp->token_id,
		    &h)) == NULL || !pin_state_ok(t)))
			drop_pin(tp);
}
