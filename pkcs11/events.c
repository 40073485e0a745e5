/*
 * events.c: C_WaitForSlotEvent. An event is a slot whose token came or
 * went since the module last looked (slots.c marks them). Without
 * CKF_DONT_BLOCK the caller's thread subscribes to the agent's token
 * events (WATCH) on a connection of its own, which C_Finalize shuts down
 * to let it go; while there is no agent it looks for one every second.
 */
#include <errno.h>
#include <time.h>

#include "module.h"

/* Seconds between two tries to reach an agent that is not there. */
#define RETRY_SECONDS 1

/* The slot of an event not yet reported, which it now is; 0 if none. */
static CK_SLOT_ID
take_event(struct cp_mod *m)
{
	size_t i;

	for (i = 0; i < m->nslots; i++) {
		if (m->slots[i].event) {
			m->slots[i].event = 0;
			return i + 1;
		}
	}
	return 0;
}

static int
have_event(const struct cp_mod *m)
{
	size_t i;

	for (i = 0; i < m->nslots; i++)
		if (m->slots[i].event)
			return 1;
	return 0;
}

/* Each STATUS_REPLY of the subscription; a non-zero return ends it. */
static int
watch_cb(void *arg, const struct ca_token *tokens, size_t n)
{
	struct cp_mod *m = arg;
	int stop = 1;

	pthread_mutex_lock(cp_lock());
	if (cp_current(m)) {
		cp_slots_update(m, tokens, n);
		stop = have_event(m);
	}
	pthread_mutex_unlock(cp_lock());
	return stop;
}

/*
 * One subscription, from connecting to its end; called and returns with
 * the lock held. Returns CA_OK when an event ended it (or C_Finalize),
 * else why the agent could not be watched.
 */
static int
watch_once(struct cp_mod *m, struct cp_waiter *w)
{
	struct cac *c;
	char err[256];
	int r;

	pthread_mutex_unlock(cp_lock());
	r = cac_connect(NULL, &c, err, sizeof(err));
	pthread_mutex_lock(cp_lock());
	if (r != CA_OK)
		return r;
	if (!cp_current(m)) {
		cac_close(c);
		return CA_OK;
	}
	/* From here C_Finalize can end the wait by shutting the socket. */
	w->fd = cac_fd(c);
	pthread_mutex_unlock(cp_lock());
	r = cac_watch(c, watch_cb, m);
	pthread_mutex_lock(cp_lock());
	w->fd = -1;
	cac_close(c);
	return r;
}

static CK_RV
wait_blocking(CK_SLOT_ID *slot)
{
	struct cp_waiter w = { -1, NULL }, **pw;
	struct timespec until;
	struct cp_mod *m;
	CK_RV rv;
	int r;

	if ((rv = cp_enter(&m)) != CKR_OK)
		return rv;
	w.next = m->waiters;
	m->waiters = &w;
	for (;;) {
		if (!cp_current(m)) {
			rv = CKR_CRYPTOKI_NOT_INITIALIZED;
			break;
		}
		if ((*slot = take_event(m)) != 0)
			break;
		if ((r = watch_once(m, &w)) == CA_OK || !cp_current(m))
			continue;
		/* No agent, no tokens. */
		if (r == CAC_E_NO_AGENT || r == CAC_E_IO)
			cp_slots_update(m, NULL, 0);
		if (have_event(m))
			continue;
		(void)clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += RETRY_SECONDS;
		while (cp_current(m) && pthread_cond_timedwait(&m->cv,
		    cp_lock(), &until) != ETIMEDOUT)
			continue;
	}
	for (pw = &m->waiters; *pw != &w; pw = &(*pw)->next)
		continue;
	*pw = w.next;
	/* C_Finalize waits for the last waiter to leave. */
	pthread_cond_broadcast(&m->cv);
	cp_leave();
	return rv;
}

CK_RV
C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR slot, CK_VOID_PTR reserved)
{
	struct cp_mod *m;
	CK_RV rv;

	if ((rv = cp_enter(&m)) != CKR_OK)
		return rv;
	if (slot == NULL || reserved != NULL) {
		cp_leave();
		return CKR_ARGUMENTS_BAD;
	}
	*slot = take_event(m);
	cp_leave();
	if (*slot != 0)
		return CKR_OK;
	if (!(flags & CKF_DONT_BLOCK))
		return wait_blocking(slot);
	/* The agent answers STATUS from what it knows: one quick look. */
	cp_slots_refresh();
	if ((rv = cp_enter(&m)) != CKR_OK)
		return rv;
	*slot = take_event(m);
	cp_leave();
	return *slot != 0 ? CKR_OK : CKR_NO_EVENT;
}
