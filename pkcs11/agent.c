/*
 * agent.c: requests to the agent. A connection carries one request at a
 * time, so each request takes an idle connection from a small pool (or
 * makes one) and gives it back when the agent has answered.
 */
#include <stdlib.h>

#include "module.h"

/*
 * An idle connection of this initialisation (with want), or NULL; *gen
 * says which initialisation a connection made now would belong to.
 */
static struct cac *
pool_take(uint64_t *gen, int want)
{
	struct cp_mod *m;
	struct cac *c = NULL;

	*gen = 0;
	if (cp_enter(&m) != CKR_OK)
		return NULL;
	*gen = m->gen;
	if (want && m->npool > 0)
		c = m->pool[--m->npool];
	cp_leave();
	return c;
}

/*
 * Keeps c for the next request, unless the module was finalised (or
 * initialised again) meanwhile or the pool is full.
 */
static void
pool_give(struct cac *c, uint64_t gen)
{
	struct cp_mod *m;

	if (cp_enter(&m) == CKR_OK) {
		if (m->gen == gen && m->npool < CP_POOL_MAX) {
			m->pool[m->npool++] = c;
			c = NULL;
		}
		cp_leave();
	}
	cac_close(c);
}

/* After a broken idle connection the others are stale too. */
static void
pool_flush(void)
{
	struct cp_mod *m;

	if (cp_enter(&m) != CKR_OK)
		return;
	cp_pool_close(m);
	cp_leave();
}

void
cp_pool_close(struct cp_mod *m)
{
	while (m->npool > 0)
		cac_close(m->pool[--m->npool]);
}

/*
 * The agent answers a refused request with ERROR and goes on serving the
 * connection; a broken frame (PROTOCOL) or a broken socket ends it.
 */
static int
conn_usable(int r)
{
	return r != CAC_E_IO && r != CAC_E_NO_AGENT && r != CA_E_PROTOCOL;
}

int
cp_agent(int (*fn)(struct cac *, void *), void *arg, enum cp_conn how)
{
	struct cac *c;
	uint64_t gen;
	char err[256];
	int r, reused;

	for (;;) {
		c = pool_take(&gen, how == CP_REUSE);
		reused = c != NULL;
		if (c == NULL &&
		    (r = cac_connect(NULL, &c, err, sizeof(err))) != CA_OK)
			return r;
		r = fn(c, arg);
		if (conn_usable(r))
			pool_give(c, gen);
		else
			cac_close(c);
		if (r != CAC_E_IO || !reused)
			return r;
		pool_flush();
	}
}
