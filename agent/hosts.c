#define _GNU_SOURCE
#include "hosts.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chan.h"
#include "log.h"
#include "loop.h"

/* Restart back-off: a host that keeps dying is not respawned in a storm. */
#define BACKOFF_MIN_MS 100u
#define BACKOFF_MAX_MS 30000u
#define HEALTHY_MS 60000u
#define HOST_CHAN_FD 3
/*
 * At shutdown an idle host is told to finish by the end of its channel:
 * it closes its sessions and finalises its module (which a card may want,
 * and without which valgrind cannot check it). One that has not exited
 * after this long is killed; one busy at a card is killed at once.
 */
#define EXIT_GRACE_MS 2000u

/*
 * While a call to a host that answers within this many microseconds is in
 * flight, the loop polls without sleeping: on a small machine the wake-up
 * of a sleeping process costs as much as a fast token's signature. Slow
 * tokens (real cards take hundreds of milliseconds) are waited for asleep.
 */
#define SPIN_MAX_US 2000u

/*
 * How often each host looks for card events (HOST_POLL): a pulled card
 * shows within a second, pcscd's own 400 ms reader poll included.
 */
#define POLL_MS 500u

struct call {
	uint32_t id;
	uint64_t timer;
	uint64_t sent_us;	/* 0 when never sent */
	host_cb cb;
	void *arg;
	struct host *h;
	struct call *next;
};

struct host {
	char *module;
	pid_t pid;		/* 0: not running */
	struct chan ch;
	int up;			/* index received since the last start */
	int ever;		/* indexed or failed at least once */
	int reaped;		/* exited by itself at shutdown */
	struct ca_msg index;	/* last HOST_INDEX (tokens and keys) */
	struct call *calls;
	uint32_t next_id;
	uint64_t start_timer;
	uint64_t restart_timer;
	uint64_t started_at;
	uint64_t poll_timer;
	int polling;		/* a HOST_POLL is in flight */
	unsigned backoff_ms;
	unsigned avg_us;	/* moving average of answered calls */
};

static struct {
	struct loop *loop;
	struct host *v;
	size_t n;
	char *self_exe;
	unsigned timeout_ms;
	hosts_settled_cb settled_cb;
	void (*change_cb)(void);
	int settled;
	int stopping;
	pid_t *zombies;
	size_t nzombies;
	uint64_t reap_timer;
} H;

static void host_spawn(struct host *h);
static void host_down(struct host *h, uint32_t status, const char *why);

static void
reap(struct loop *l, void *arg)
{
	size_t i = 0;
	int st;

	(void)arg;
	H.reap_timer = 0;
	while (i < H.nzombies) {
		if (waitpid(H.zombies[i], &st, WNOHANG) != 0)
			H.zombies[i] = H.zombies[--H.nzombies];
		else
			i++;
	}
	if (H.nzombies > 0)
		H.reap_timer = loop_timer(l, 100, reap, NULL);
}

/* A killed host is reaped without blocking the loop: one stuck in an
 * uninterruptible driver call may take a moment to die. */
static void
bury(pid_t pid)
{
	pid_t *z;

	(void)kill(pid, SIGKILL);
	if (waitpid(pid, NULL, WNOHANG) == pid)
		return;
	z = reallocarray(H.zombies, H.nzombies + 1, sizeof(*z));
	if (z == NULL) {
		(void)waitpid(pid, NULL, 0);
		return;
	}
	H.zombies = z;
	H.zombies[H.nzombies++] = pid;
	if (H.reap_timer == 0)
		H.reap_timer = loop_timer(H.loop, 100, reap, NULL);
}

static void
check_settled(void)
{
	size_t i;

	if (H.settled)
		return;
	for (i = 0; i < H.n; i++)
		if (!H.v[i].ever)
			return;
	H.settled = 1;
	if (H.settled_cb != NULL)
		H.settled_cb();
}

static void
finish_call(struct call *c, struct ca_msg *reply)
{
	struct call **pp;
	uint64_t took;

	if (c->sent_us != 0 && reply->type != CA_MSG_ERROR) {
		took = loop_now_us() - c->sent_us;
		if (took > 10 * SPIN_MAX_US)
			took = 10 * SPIN_MAX_US;
		c->h->avg_us = c->h->avg_us == 0 ? (unsigned)took :
		    (unsigned)((7 * (uint64_t)c->h->avg_us + took) / 8);
	}

	for (pp = &c->h->calls; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	if (c->timer)
		loop_timer_cancel(H.loop, c->timer);
	c->cb(c->arg, reply);
	free(c);
}

static void
fail_call(struct call *c, uint32_t status, const char *text)
{
	struct ca_msg err;

	memset(&err, 0, sizeof(err));
	err.type = CA_MSG_ERROR;
	err.id = c->id;
	err.u.error.code = status;
	err.u.error.text = strdup(text);
	finish_call(c, &err);
	ca_msg_clear(&err);
}

static void
call_timeout(struct loop *l, void *arg)
{
	struct call *c = arg;
	struct host *h = c->h;
	char why[512];

	(void)l;
	c->timer = 0;
	snprintf(why, sizeof(why), "token module %s did not answer within "
	    "%u ms; its host was restarted", h->module, H.timeout_ms);
	log_err("%s", why);
	fail_call(c, CA_E_TOKEN_TIMEOUT, why);
	host_down(h, CA_E_TOKEN_FAILED,
	    "token host restarted after another request hung");
}

static void
start_timeout(struct loop *l, void *arg)
{
	struct host *h = arg;

	(void)l;
	h->start_timer = 0;
	log_err("token module %s did not finish start-up within %u ms",
	    h->module, H.timeout_ms);
	host_down(h, CA_E_TOKEN_TIMEOUT, "token host did not start");
}

static void
restart(struct loop *l, void *arg)
{
	struct host *h = arg;

	(void)l;
	h->restart_timer = 0;
	host_spawn(h);
}

/*
 * Everything a dead or hung host had in hand fails with status; its tokens
 * stay listed, marked down, until the restarted host reports again.
 */
static void
host_down(struct host *h, uint32_t status, const char *why)
{
	size_t i;
	unsigned delay;

	if (h->pid == 0)
		return;
	loop_unwatch(H.loop, h->ch.fd);
	chan_free(&h->ch);
	/* A reaped pid may be another process's already. */
	if (!h->reaped)
		bury(h->pid);
	h->pid = 0;
	h->up = 0;
	if (h->start_timer) {
		loop_timer_cancel(H.loop, h->start_timer);
		h->start_timer = 0;
	}
	if (h->poll_timer) {
		loop_timer_cancel(H.loop, h->poll_timer);
		h->poll_timer = 0;
	}
	for (i = 0; i < h->index.u.list.ntokens; i++) {
		h->index.u.list.tokens[i].flags |= CA_TOK_HOST_DOWN;
		h->index.u.list.tokens[i].flags &= ~CA_TOK_LOGGED_IN;
	}
	while (h->calls != NULL)
		fail_call(h->calls, status, why);
	h->ever = 1;
	if (H.stopping)
		return;
	if (loop_now_ms() - h->started_at > HEALTHY_MS)
		h->backoff_ms = 0;
	delay = h->backoff_ms;
	h->backoff_ms = h->backoff_ms ? h->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (h->backoff_ms > BACKOFF_MAX_MS)
		h->backoff_ms = BACKOFF_MAX_MS;
	log_warn("restarting token host for %s in %u ms", h->module, delay);
	h->restart_timer = loop_timer(H.loop, delay, restart, h);
	check_settled();
	if (H.change_cb != NULL)
		H.change_cb();
}

static void poll_fire(struct loop *l, void *arg);

static void
poll_reply(void *arg, struct ca_msg *reply)
{
	struct host *h = arg;

	(void)reply;
	/* A poll that timed out has brought the host down already. */
	h->polling = 0;
}

/* Asks h to look for card events, unless it is still at the last look. */
static void
poll_fire(struct loop *l, void *arg)
{
	struct ca_msg m = { .type = CA_MSG_HOST_POLL };
	struct host *h = arg;

	h->poll_timer = loop_timer(l, POLL_MS, poll_fire, h);
	if (h->pid == 0 || !h->up || h->polling)
		return;
	h->polling = 1;
	host_call(h, &m, poll_reply, h);
}

/* Whether a host other than h lists a token (keys: 0) or key with id. */
static int
claimed_elsewhere(const struct host *h, const char *id, int keys)
{
	const struct ca_msg *x;
	size_t i, j;

	for (i = 0; i < H.n; i++) {
		if (&H.v[i] == h)
			continue;
		x = &H.v[i].index;
		for (j = 0; j < (keys ? x->u.list.nkeys : x->u.list.ntokens);
		    j++)
			if (strcmp(id, keys ? x->u.list.keys[j].id :
			    x->u.list.tokens[j].id) == 0)
				return 1;
	}
	return 0;
}

static int
token_listed(const struct ca_msg *m, size_t n, const char *id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(m->u.list.tokens[i].id, id) == 0)
			return 1;
	return 0;
}

static int
key_listed(const struct ca_msg *m, size_t n, const char *id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(m->u.list.keys[i].id, id) == 0)
			return 1;
	return 0;
}

/*
 * A host runs vendor code, so its index is vetted before the agent trusts
 * it: a token or key whose id another host already lists (or this index
 * lists twice), or a key of a token not in this index, is dropped, or
 * requests and PINs meant for one module's token could be steered to
 * another module. The module path and the host-down flag are the
 * agent's to say, not the host's.
 */
static void
vet_index(struct host *h, struct ca_msg *m)
{
	struct ca_token *t;
	struct ca_key *k;
	size_t i, n;
	char *mod;

	for (i = n = 0; i < m->u.list.ntokens; i++) {
		t = &m->u.list.tokens[i];
		if (token_listed(m, n, t->id) || claimed_elsewhere(h, t->id, 0) ||
		    (mod = strdup(h->module)) == NULL) {
			log_warn("token host for %s: dropped token '%s' (id %s "
			    "taken)", h->module, t->label, t->id);
			ca_token_clear(t);
			continue;
		}
		free(t->module);
		t->module = mod;
		t->flags &= ~CA_TOK_HOST_DOWN;
		m->u.list.tokens[n++] = *t;
	}
	m->u.list.ntokens = n;
	for (i = n = 0; i < m->u.list.nkeys; i++) {
		k = &m->u.list.keys[i];
		if (key_listed(m, n, k->id) || claimed_elsewhere(h, k->id, 1) ||
		    !token_listed(m, m->u.list.ntokens, k->token_id)) {
			log_warn("token host for %s: dropped key '%s' (id %s "
			    "taken, or no such token)", h->module, k->label,
			    k->id);
			ca_key_clear(k);
			continue;
		}
		m->u.list.keys[n++] = *k;
	}
	m->u.list.nkeys = n;
}

static void
take_index(struct host *h, struct ca_msg *m)
{
	vet_index(h, m);
	ca_msg_clear(&h->index);
	h->index = *m;
	memset(m, 0, sizeof(*m));
	if (!h->up) {
		h->up = 1;
		h->poll_timer = loop_timer(H.loop, POLL_MS, poll_fire, h);
		if (h->start_timer) {
			loop_timer_cancel(H.loop, h->start_timer);
			h->start_timer = 0;
		}
		log_info("token host for %s: %zu token(s), %zu key(s)",
		    h->module, h->index.u.list.ntokens,
		    h->index.u.list.nkeys);
	}
	h->ever = 1;
	check_settled();
	if (H.change_cb != NULL)
		H.change_cb();
}

void
hosts_on_change(void (*cb)(void))
{
	H.change_cb = cb;
}

static void
host_io(struct loop *l, int fd, int ev, void *arg)
{
	struct host *h = arg;
	struct ca_msg m;
	struct call *c;
	enum ca_perr e;

	(void)fd;
	if (ev & LOOP_WRITE) {
		if (chan_flush(&h->ch) == -1) {
			host_down(h, CA_E_TOKEN_FAILED, "token host died");
			return;
		}
		loop_set_events(l, h->ch.fd,
		    LOOP_READ | (chan_pending(&h->ch) ? LOOP_WRITE : 0));
	}
	if (!(ev & (LOOP_READ | LOOP_HUP)))
		return;
	if (chan_read(&h->ch) <= 0) {
		log_err("token host for %s exited", h->module);
		host_down(h, CA_E_TOKEN_FAILED,
		    "the token module crashed; its host was restarted");
		return;
	}
	while ((e = chan_next(&h->ch, &m)) == CA_PE_OK) {
		if (m.type == CA_MSG_HOST_INDEX && m.id == 0) {
			take_index(h, &m);
			continue;
		}
		for (c = h->calls; c != NULL && c->id != m.id; c = c->next)
			;
		if (c != NULL)
			finish_call(c, &m);
		ca_msg_clear(&m);
		/* The callback may have brought the host down. */
		if (h->pid == 0)
			return;
	}
	if (e != CA_PE_INCOMPLETE) {
		log_err("token host for %s broke the protocol: %s", h->module,
		    ca_perr_str(e));
		host_down(h, CA_E_TOKEN_FAILED, "token host protocol error");
	}
}

static void
host_spawn(struct host *h)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		log_err("socketpair: %s", strerror(errno));
		goto fail;
	}
	if ((pid = fork()) == -1) {
		log_err("fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		goto fail;
	}
	if (pid == 0) {
		/* dup2 clears close-on-exec on the copy. */
		if (dup2(sv[1], HOST_CHAN_FD) == -1)
			_exit(127);
		execl(H.self_exe, "cardagent", "--token-host", h->module,
		    log_uses_stderr() ? NULL : "--syslog", (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	(void)fcntl(sv[0], F_SETFL, O_NONBLOCK);
	chan_init(&h->ch, sv[0]);
	h->pid = pid;
	h->up = 0;
	h->started_at = loop_now_ms();
	if (loop_watch(H.loop, sv[0], LOOP_READ, host_io, h) == -1) {
		host_down(h, CA_E_INTERNAL, "out of memory");
		return;
	}
	h->start_timer = loop_timer(H.loop, H.timeout_ms, start_timeout, h);
	log_debug("token host for %s started, pid %ld", h->module, (long)pid);
	return;
fail:
	h->ever = 1;
	h->restart_timer = loop_timer(H.loop, BACKOFF_MAX_MS, restart, h);
	check_settled();
}

int
hosts_start(struct loop *l, char *const *modules, size_t n,
    const char *self_exe, unsigned timeout_ms, hosts_settled_cb settled)
{
	size_t i;

	H.loop = l;
	H.timeout_ms = timeout_ms;
	H.settled_cb = settled;
	if ((H.self_exe = strdup(self_exe)) == NULL)
		return -1;
	if (n && (H.v = calloc(n, sizeof(*H.v))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		if ((H.v[i].module = strdup(modules[i])) == NULL)
			return -1;
		H.v[i].ch.fd = -1;
		H.n = i + 1;
	}
	for (i = 0; i < n; i++)
		host_spawn(&H.v[i]);
	check_settled();
	return 0;
}

void
hosts_stop(void)
{
	size_t i;
	struct host *h;
	uint64_t deadline;

	H.stopping = 1;
	for (i = 0; i < H.n; i++)
		if (H.v[i].pid != 0 && H.v[i].calls == NULL)
			(void)shutdown(H.v[i].ch.fd, SHUT_WR);
	deadline = loop_now_ms() + EXIT_GRACE_MS;
	for (i = 0; i < H.n; i++) {
		h = &H.v[i];
		if (h->pid == 0 || h->calls != NULL)
			continue;
		while (!(h->reaped = waitpid(h->pid, NULL, WNOHANG) == h->pid) &&
		    loop_now_ms() < deadline)
			(void)usleep(10000);
	}
	for (i = 0; i < H.n; i++) {
		h = &H.v[i];
		if (h->restart_timer)
			loop_timer_cancel(H.loop, h->restart_timer);
		host_down(h, CA_E_TOKEN_FAILED, "agent shutting down");
		ca_msg_clear(&h->index);
		free(h->module);
	}
	for (i = 0; i < H.nzombies; i++)
		(void)waitpid(H.zombies[i], NULL, 0);
	if (H.reap_timer)
		loop_timer_cancel(H.loop, H.reap_timer);
	free(H.zombies);
	free(H.v);
	free(H.self_exe);
	memset(&H, 0, sizeof(H));
}

static void
refresh_reply(void *arg, struct ca_msg *reply)
{
	struct host *h = arg;

	if (reply->type == CA_MSG_HOST_INDEX)
		take_index(h, reply);
	else
		log_warn("token host for %s could not refresh", h->module);
}

void
hosts_refresh(void)
{
	struct ca_msg m = { .type = CA_MSG_HOST_REFRESH };
	size_t i;

	for (i = 0; i < H.n; i++)
		if (H.v[i].up)
			host_call(&H.v[i], &m, refresh_reply, &H.v[i]);
}

int
hosts_settled(void)
{
	return H.settled;
}

const struct ca_key *
hosts_find_key(const char *key_id, struct host **hp)
{
	size_t i, j;
	struct host *h;

	for (i = 0; i < H.n; i++) {
		h = &H.v[i];
		for (j = 0; j < h->index.u.list.nkeys; j++) {
			if (strcmp(h->index.u.list.keys[j].id, key_id) == 0) {
				*hp = h;
				return &h->index.u.list.keys[j];
			}
		}
	}
	return NULL;
}

const struct ca_token *
hosts_find_token(const char *token_id, struct host **hp)
{
	size_t i, j;
	struct host *h;

	for (i = 0; i < H.n; i++) {
		h = &H.v[i];
		for (j = 0; j < h->index.u.list.ntokens; j++) {
			if (strcmp(h->index.u.list.tokens[j].id,
			    token_id) == 0) {
				*hp = h;
				return &h->index.u.list.tokens[j];
			}
		}
	}
	return NULL;
}

void
hosts_each_token(int (*fn)(void *, struct host *, const struct ca_token *),
    void *arg)
{
	size_t i, j;

	for (i = 0; i < H.n; i++)
		for (j = 0; j < H.v[i].index.u.list.ntokens; j++)
			if (fn(arg, &H.v[i], &H.v[i].index.u.list.tokens[j]))
				return;
}

enum ca_perr
hosts_snapshot(struct ca_msg *r, int tokens, int keys)
{
	size_t i, j, nt = 0, nk = 0;

	for (i = 0; i < H.n; i++) {
		nt += H.v[i].index.u.list.ntokens;
		nk += H.v[i].index.u.list.nkeys;
	}
	if (tokens && nt &&
	    (r->u.list.tokens = calloc(nt, sizeof(struct ca_token))) == NULL)
		return CA_PE_NOMEM;
	if (keys && nk &&
	    (r->u.list.keys = calloc(nk, sizeof(struct ca_key))) == NULL)
		return CA_PE_NOMEM;
	for (i = 0; i < H.n; i++) {
		for (j = 0; tokens && j < H.v[i].index.u.list.ntokens; j++) {
			if (ca_token_copy(&r->u.list.tokens[r->u.list.ntokens],
			    &H.v[i].index.u.list.tokens[j]) != CA_PE_OK)
				return CA_PE_NOMEM;
			r->u.list.ntokens++;
		}
		for (j = 0; keys && j < H.v[i].index.u.list.nkeys; j++) {
			if (ca_key_copy(&r->u.list.keys[r->u.list.nkeys],
			    &H.v[i].index.u.list.keys[j]) != CA_PE_OK)
				return CA_PE_NOMEM;
			r->u.list.nkeys++;
		}
	}
	return CA_PE_OK;
}

static void
deferred_fail(struct loop *l, void *arg)
{
	(void)l;
	fail_call(arg, CA_E_TOKEN_FAILED, "token host not running");
}

void
host_call(struct host *h, struct ca_msg *req, host_cb cb, void *arg)
{
	struct call *c;
	struct ca_msg err;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		memset(&err, 0, sizeof(err));
		err.type = CA_MSG_ERROR;
		err.u.error.code = CA_E_INTERNAL;
		cb(arg, &err);
		return;
	}
	c->h = h;
	c->cb = cb;
	c->arg = arg;
	c->id = ++h->next_id ? h->next_id : ++h->next_id;
	c->next = h->calls;
	h->calls = c;
	if (h->pid == 0 || !h->up) {
		c->timer = loop_timer(H.loop, 0, deferred_fail, c);
		return;
	}
	req->id = c->id;
	if (chan_send(&h->ch, req) != CA_PE_OK) {
		c->timer = loop_timer(H.loop, 0, deferred_fail, c);
		return;
	}
	c->timer = loop_timer(H.loop, H.timeout_ms, call_timeout, c);
	/* Polls neither count in the average nor deserve a spin. */
	if (req->type != CA_MSG_HOST_POLL) {
		c->sent_us = loop_now_us();
		if (h->avg_us > 0 && h->avg_us < SPIN_MAX_US)
			loop_spin(H.loop, 2 * h->avg_us + 50);
	}
	/* Try at once: the common case needs no extra trip through poll. */
	if (chan_flush(&h->ch) == 1)
		loop_set_events(H.loop, h->ch.fd, LOOP_READ | LOOP_WRITE);
}
