#include "scope.h"

#include <string.h>

/*
 * Rate buckets for the clients of restricted sockets. A fixed table: a
 * client that could make the agent allocate per process would turn the
 * limit into a memory exhaustion. When full, the bucket unused longest is
 * reused. (A forwarded socket's clients are all one process, the local
 * ssh, so the limit is per forwarding.)
 */
#define RATE_BUCKETS 128
#define MINUTE_MS 60000u

static struct bucket {
	const struct scope *s;	/* NULL: free */
	pid_t pid;
	uint64_t credit_ms;	/* a minute's worth at most */
	uint64_t last_ms;
} buckets[RATE_BUCKETS];

static uint32_t
msg_op(uint8_t type)
{
	switch (type) {
	case CA_MSG_SIGN:
		return CA_OP_SIGN;
	case CA_MSG_DECRYPT:
		return CA_OP_DECRYPT;
	case CA_MSG_DERIVE:
		return CA_OP_DERIVE;
	default:
		return 0;
	}
}

uint32_t
scope_check(const struct scope *s, const struct ca_msg *m, const char **why)
{
	uint32_t op;

	if (s == NULL)
		return CA_OK;
	switch (m->type) {
	case CA_MSG_LOCK:
		*why = "LOCK is not allowed on a restricted socket";
		return CA_E_DENIED;
	case CA_MSG_LOGIN:
		if (m->u.login.pin != NULL) {
			*why = "a restricted socket does not take PINs; the "
			    "agent asks the user";
			return CA_E_DENIED;
		}
		return CA_OK;
	case CA_MSG_SIGN:
	case CA_MSG_DECRYPT:
	case CA_MSG_DERIVE:
		op = msg_op(m->type);
		if (!(s->ops & op)) {
			*why = op == CA_OP_SIGN ? "this socket may not sign" :
			    "this socket may not decrypt or derive";
			return CA_E_DENIED;
		}
		if (m->u.op.pin != NULL) {
			*why = "a restricted socket does not take PINs; the "
			    "agent asks the user";
			return CA_E_DENIED;
		}
		return CA_OK;
	default:
		return CA_OK;
	}
}

int
scope_key_allowed(const struct scope *s, const struct ca_key *k)
{
	size_t i;

	if (s == NULL)
		return 1;
	if (!(k->ops & s->ops))
		return 0;
	if (s->nkeys == 0)
		return 1;
	for (i = 0; i < s->nkeys; i++)
		if (strcmp(s->keys[i], k->id) == 0 ||
		    strcmp(s->keys[i], k->label) == 0)
			return 1;
	return 0;
}

void
scope_filter_keys(const struct scope *s, struct ca_msg *reply)
{
	size_t i, n = 0;

	if (s == NULL)
		return;
	for (i = 0; i < reply->u.list.nkeys; i++) {
		if (!scope_key_allowed(s, &reply->u.list.keys[i])) {
			ca_key_clear(&reply->u.list.keys[i]);
			continue;
		}
		reply->u.list.keys[i].ops &= s->ops;
		if (n != i)
			reply->u.list.keys[n] = reply->u.list.keys[i];
		n++;
	}
	reply->u.list.nkeys = n;
}

int
scope_rate_take(const struct scope *s, pid_t pid, uint64_t now_ms)
{
	struct bucket *b = NULL, *victim = NULL, *x;
	uint64_t cost = MINUTE_MS / s->rate;
	size_t i;

	for (i = 0; i < RATE_BUCKETS && b == NULL; i++) {
		x = &buckets[i];
		if (x->s == s && x->pid == pid)
			b = x;
		else if (victim == NULL || (victim->s != NULL &&
		    (x->s == NULL || x->last_ms < victim->last_ms)))
			victim = x;
	}
	if (b == NULL) {
		b = victim;
		b->s = s;
		b->pid = pid;
		b->credit_ms = MINUTE_MS;
		b->last_ms = now_ms;
	}
	b->credit_ms += now_ms - b->last_ms;
	if (b->credit_ms > MINUTE_MS)
		b->credit_ms = MINUTE_MS;
	b->last_ms = now_ms;
	if (b->credit_ms < cost)
		return -1;
	b->credit_ms -= cost;
	return 0;
}
