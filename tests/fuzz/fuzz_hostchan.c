/*
 * fuzz_hostchan.c: the agent's side of the token-host channel. A token host
 * runs a PKCS#11 module, which may be buggy or hostile, so every byte it
 * sends the agent is untrusted: its HOST_INDEX of tokens and keys, its
 * replies, their ids, and where its writes happen to split the stream.
 *
 * The real agent/hosts.c and agent/chan.c run here as in the agent: hosts.c
 * spawns its hosts, watches their sockets and reads them through chan.c from
 * its host_io() callback. Only what lies around them is replaced:
 *  - the event loop (loop.h) is this file's, with a clock of its own, so
 *    that the input decides when a socket is read and which timer fires,
 *    and a crash replays exactly;
 *  - hosts.c is compiled with fork, kill, waitpid, socketpair and execl
 *    renamed to the fuzz_ functions below (see CMakeLists.txt): a "host" is
 *    the far end of a real socketpair that this file writes, and nothing is
 *    ever forked, exec'd, signalled or reaped; a host that hosts_stop()
 *    waits for exits once it reads the end of its channel, unless it is
 *    stalled or has closed its end, and usleep() (hosts.c's only caller)
 *    moves the clock instead of sleeping;
 *  - the log (log.h) formats every line and drops it (FUZZ_HOSTCHAN_LOG=1
 *    prints them).
 *
 * The input is a setup byte, then operations, each followed by one turn of
 * the loop (poll the sockets, run the callbacks, fire due timers):
 *
 *	setup	bit 0: two modules (else one); bits 1-2: how far the clock
 *		moves at each look (0, 1, 100, 1000 us); bit 3: the first
 *		fork fails; bit 4: killed hosts take a while to be reaped;
 *		bit 5: the host side starts off not reading the agent
 *	0 SEND	len:u16 bytes: the current host writes these bytes; the
 *		input's SEND boundaries are where the agent's reads split
 *		the stream (as far as its buffer lets them)
 *	1 HOST	n: later SENDs come from host n (mod the number of modules)
 *	2 CALL	kind how pick dlen: the agent calls a host as requests.c
 *		does (kind: sign, decrypt, derive, login, lock, refresh; key
 *		or token number pick of the cached index; dlen * 33 bytes of
 *		data; how, bit 0: the callback steals the reply's fields,
 *		bit 1: it makes a follow-up call, which behaves as bits 3
 *		and up say, bit 2: the request carries a PIN)
 *	3 TIME	n: the clock moves to pending timer n (mod their number)
 *	4 CLOSE	n: the current host closes its end (n odd) or stops writing
 *	5 STALL	the host side stops or resumes reading what the agent sends
 *	6 FAIL	n: the next fork (bit 0), socketpair (1) or loop_watch (2)
 *		fails; bit 3 toggles slow reaping
 *	7 STOP	hosts_stop() at once, without letting the loop settle
 *	8	one more turn of the loop
 *	9 ECHO	n: the current host writes again the bytes of SEND n (mod
 *		the number of SENDs so far), whichever host sent them: two
 *		hosts sending one index is one operation away
 *	10-15	one more turn of the loop
 *
 * Checks beyond the sanitizers:
 *  - a callback runs exactly once per call, never from inside host_call(),
 *    with the call's id; the host sees only well-formed requests, with
 *    the ids the agent gave them;
 *  - a readable socket is always read from or dropped: a host cannot make
 *    the agent spin;
 *  - the cached index stays readable through every lookup, and the tokens
 *    of a host that is down are marked so;
 *  - a host runs vendor code, so its index is vetted (hosts.c's
 *    vet_index()): at every moment, no token id and no key id is held
 *    twice, by one host or by two; every key's token is a token of the
 *    key's own host; every token's module is its host's module path, and
 *    a host that has indexed since it was started has no token marked
 *    down;
 *  - each change the agent reports is one host taking an index or one
 *    host going down: when a host takes an index, every other host's
 *    tokens and keys are as they were, and the new index holds none of
 *    their ids (the first holder keeps an id); when a host goes down,
 *    ids and fields stay as they were but for its flags;
 *  - however the stream was split: a host dropped while its socket is
 *    read sent a bad frame; once the loop has settled, a host whose stream
 *    held a bad frame is down, and one that is up holds exactly what
 *    vetting leaves of the last HOST_INDEX it sent, against the ids the
 *    other hosts held when it arrived: each token and key that no other
 *    host held and the index did not list before, tokens with that
 *    host's module path and without CA_TOK_HOST_DOWN, keys only of
 *    tokens kept; and it takes one more index sent after them, with ids
 *    of its own, the same way (the agent has not lost its place in the
 *    stream);
 *  - after hosts_stop() nothing is left on the loop, every call has been
 *    answered, every child killed, or exited by itself, and reaped, none
 *    signalled once reaped, every socket closed.
 */
#define _GNU_SOURCE
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "hosts.h"
#include "log.h"
#include "loop.h"
#include "msg.h"
#include "secret.h"

#include "fuzz.h"

/* What hosts.c calls instead of the system (CMakeLists.txt renames them). */
pid_t fuzz_fork(void);
int fuzz_kill(pid_t pid, int sig);
pid_t fuzz_waitpid(pid_t pid, int *status, int options);
int fuzz_socketpair(int domain, int type, int protocol, int sv[2]);
int fuzz_execl(const char *path, const char *arg, ...);

#define MAX_HOSTS 2
#define MAX_CHILDREN 64
#define MAX_CALLS 256
#define MAX_WATCHES 8
/* Far more turns than any input needs: every turn reads or drops. */
#define MAX_SETTLE 200000
#define MAX_TIMER_RUN 100000
#define DATA_MAX (255u * 33u)
#define MAX_SENDS 64

enum op {
	OP_SEND, OP_HOST, OP_CALL, OP_TIME, OP_CLOSE, OP_STALL, OP_FAIL,
	OP_STOP, OP_TURN, OP_ECHO
};

enum kind { K_SIGN, K_DECRYPT, K_DERIVE, K_LOGIN, K_LOCK, K_REFRESH, K_N };

/* How a call's callback behaves. */
#define HOW_STEAL 0x01	/* takes the reply's fields, as hosts.h allows */
#define HOW_CHAIN 0x02	/* calls the host again, as login-then-sign does */
#define HOW_PIN 0x04	/* the request carries a PIN */

struct loop {
	struct {
		int fd;		/* -1: free */
		int events;
		loop_fd_cb cb;
		void *arg;
	} w[MAX_WATCHES];
	struct {
		uint64_t id, when;
		loop_timer_cb cb;
		void *arg;
	} *t;
	size_t nt, capt;
	uint64_t next_id;
};

/* One spawn of a host: what hosts.c believes is a child process. */
struct child {
	pid_t pid;
	int killed, reaped, waits;
	int peer;		/* the host's end of the socketpair; -1: closed */
	int afd;		/* the agent's end, once watched */
	struct host *h;
	unsigned takes;		/* indexes the agent took from it */
	int alive;		/* watched, and neither unwatched nor killed */
	int exited;		/* by itself, at the end of its channel */
	int eof;		/* the host closed or shut its end */
	uint8_t *stream;	/* what the host wrote, or will: [off, len) */
	size_t len, off, cap;
	uint8_t *rx;		/* what the agent sent, not yet a whole frame */
	size_t rxlen, rxcap;
};

struct fcall {
	struct host *h;
	uint8_t kind;
	uint8_t how;
	uint32_t id;		/* as sent; 0 if never sent */
	int done;
};

static struct {
	struct loop loop;
	uint64_t now_us, tick_us;
	const char *modules[MAX_HOSTS];
	size_t nhosts;
	struct host *hosts[MAX_HOSTS];	/* in the order hosts.c spawned them */
	int mod[MAX_HOSTS];	/* hosts[i]'s index in modules[]; -1: unknown */
	size_t npairs;		/* socketpair() calls so far */
	int starting;		/* inside hosts_start() */
	/* Each host's tokens and keys, as hosts.c held them at the last
	 * change it reported. */
	struct ca_msg rec[MAX_HOSTS];
	/* The ids the other hosts held when a host's last index came. */
	struct ca_msg others[MAX_HOSTS];
	size_t cur;
	struct child kids[MAX_CHILDREN];
	size_t nkids;
	int spare_peer;		/* the last socketpair's far end */
	pid_t next_pid;
	int fail_fork, fail_pair, fail_watch, slow_reap;
	int stalled;
	int in_call;		/* inside host_call() or hosts_refresh() */
	int stopping;		/* inside hosts_stop() */
	int reading;		/* the fd whose callback runs, or -1 */
	int settled_calls;
	int was_settled;
	struct fcall calls[MAX_CALLS];
	size_t ncalls;
	struct {
		const uint8_t *p;	/* in the input */
		size_t n;
	} sends[MAX_SENDS];
	size_t nsends;
	uint8_t data[DATA_MAX];
} F;

static int verbose = -1;

/* ---- the log ---- */

void
log_msg(enum log_level lvl, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	/* Formatted always: a bad argument must reach the sanitizers. */
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (verbose == -1)
		verbose = getenv("FUZZ_HOSTCHAN_LOG") != NULL;
	if (verbose)
		fprintf(stderr, "hosts[%d]: %s\n", (int)lvl, line);
}

int
log_uses_stderr(void)
{
	return 1;
}

/* ---- the loop: loop.h over a clock that only the input moves ---- */

uint64_t
loop_now_us(void)
{
	F.now_us += F.tick_us;
	return F.now_us;
}

uint64_t
loop_now_ms(void)
{
	return loop_now_us() / 1000u;
}

void
loop_spin(struct loop *l, unsigned us)
{
	(void)l;
	(void)us;
}

static int
find_watch(int fd)
{
	int i;

	for (i = 0; i < MAX_WATCHES; i++)
		if (F.loop.w[i].fd == fd)
			return i;
	return -1;
}

static struct child *
kid_by_pid(pid_t pid)
{
	size_t i;

	for (i = 0; i < F.nkids; i++)
		if (F.kids[i].pid == pid)
			return &F.kids[i];
	return NULL;
}

static int model(const struct child *k, struct ca_msg *last, size_t *tail);

/* The host process is gone: its end of the socket goes with it. */
static void
kid_gone(struct child *k)
{
	struct ca_msg last;

	/*
	 * Dropped while the agent read its socket, and not because the host
	 * closed it: the host must have sent a bad frame, whatever the
	 * splits. A good stream dropped here is a framing bug.
	 */
	if (k->alive && F.reading == k->afd && !k->eof) {
		FUZZ_CHECK(model(k, &last, NULL) == -1);
		ca_msg_clear(&last);
	}
	k->alive = 0;
	if (k->peer != -1) {
		close(k->peer);
		k->peer = -1;
	}
}

int
loop_watch(struct loop *l, int fd, int events, loop_fd_cb cb, void *arg)
{
	struct child *k;
	size_t i;
	int w;

	FUZZ_CHECK(l == &F.loop && fd >= 0);
	if (F.fail_watch) {
		F.fail_watch = 0;
		return -1;
	}
	if ((w = find_watch(fd)) == -1)
		w = find_watch(-1);
	FUZZ_CHECK(w != -1);
	F.loop.w[w].fd = fd;
	F.loop.w[w].events = events;
	F.loop.w[w].cb = cb;
	F.loop.w[w].arg = arg;

	/* hosts.c watches the socket of the child it has just forked. */
	FUZZ_CHECK(F.nkids > 0);
	k = &F.kids[F.nkids - 1];
	FUZZ_CHECK(k->afd == -1 && !k->killed);
	k->afd = fd;
	k->h = arg;
	k->alive = 1;
	for (i = 0; i < F.nhosts && F.hosts[i] != NULL; i++)
		if (F.hosts[i] == arg)
			break;
	FUZZ_CHECK(i < F.nhosts);
	if (F.hosts[i] == NULL) {
		F.hosts[i] = arg;
		/*
		 * hosts_start() spawns one host per module, in order, each
		 * beginning with a socketpair(); at most one of those spawns
		 * fails, and a host first seen later is the other module's.
		 */
		if (F.starting)
			F.mod[i] = (int)F.npairs - 1;
		else if (F.nhosts == 1)
			F.mod[i] = 0;
		else {
			FUZZ_CHECK(i == 1 && F.mod[0] != -1);
			F.mod[i] = 1 - F.mod[0];
		}
		FUZZ_CHECK(F.mod[i] >= 0 && (size_t)F.mod[i] < F.nhosts);
	}
	return 0;
}

void
loop_set_events(struct loop *l, int fd, int events)
{
	int w = find_watch(fd);

	(void)l;
	if (w != -1)
		F.loop.w[w].events = events;
}

void
loop_unwatch(struct loop *l, int fd)
{
	int w = find_watch(fd);
	size_t i;

	(void)l;
	if (w == -1)
		return;
	F.loop.w[w].fd = -1;
	for (i = 0; i < F.nkids; i++)
		if (F.kids[i].alive && F.kids[i].afd == fd)
			kid_gone(&F.kids[i]);
}

uint64_t
loop_timer(struct loop *l, uint64_t ms, loop_timer_cb cb, void *arg)
{
	void *nt;

	FUZZ_CHECK(l == &F.loop);
	if (l->nt == l->capt) {
		nt = reallocarray(l->t, l->capt ? l->capt * 2 : 16,
		    sizeof(*l->t));
		FUZZ_CHECK(nt != NULL);
		l->t = nt;
		l->capt = l->capt ? l->capt * 2 : 16;
	}
	l->t[l->nt].id = ++l->next_id;
	l->t[l->nt].when = loop_now_ms() + ms;
	l->t[l->nt].cb = cb;
	l->t[l->nt].arg = arg;
	return l->t[l->nt++].id;
}

void
loop_timer_cancel(struct loop *l, uint64_t id)
{
	size_t i;

	for (i = 0; i < l->nt; i++) {
		if (l->t[i].id == id) {
			l->t[i] = l->t[--l->nt];
			return;
		}
	}
}

/* As loop.c: every timer due at the start, one at a time. */
static void
run_timers(void)
{
	uint64_t now = loop_now_ms();
	loop_timer_cb cb;
	void *arg;
	size_t i;
	unsigned n;

	for (n = 0;; n++) {
		FUZZ_CHECK(n < MAX_TIMER_RUN);
		for (i = 0; i < F.loop.nt; i++)
			if (F.loop.t[i].when <= now)
				break;
		if (i == F.loop.nt)
			return;
		cb = F.loop.t[i].cb;
		arg = F.loop.t[i].arg;
		F.loop.t[i] = F.loop.t[--F.loop.nt];
		cb(&F.loop, arg);
	}
}

/* ---- processes: what hosts.c's spawn, kill and reap reach ---- */

int
fuzz_socketpair(int domain, int type, int protocol, int sv[2])
{
	int small = 1;

	F.npairs++;
	if (F.fail_pair) {
		F.fail_pair = 0;
		errno = EMFILE;
		return -1;
	}
	if (socketpair(domain, type, protocol, sv) == -1)
		return -1;
	/*
	 * The host's end outlives hosts.c's close of sv[1]. The agent's end
	 * gets the smallest send buffer, so that a request or two fill it
	 * and the agent has to finish writing from the loop.
	 */
	FUZZ_CHECK(F.spare_peer == -1);
	F.spare_peer = fcntl(sv[1], F_DUPFD_CLOEXEC, 0);
	FUZZ_CHECK(F.spare_peer != -1);
	FUZZ_CHECK(fcntl(F.spare_peer, F_SETFL, O_NONBLOCK) == 0);
	(void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	return 0;
}

pid_t
fuzz_fork(void)
{
	struct child *k;

	if (F.fail_fork || F.nkids == MAX_CHILDREN) {
		F.fail_fork = 0;
		close(F.spare_peer);
		F.spare_peer = -1;
		errno = EAGAIN;
		return -1;
	}
	FUZZ_CHECK(F.spare_peer != -1);
	k = &F.kids[F.nkids++];
	memset(k, 0, sizeof(*k));
	k->pid = F.next_pid++;
	k->peer = F.spare_peer;
	k->afd = -1;
	F.spare_peer = -1;
	return k->pid;
}

int
fuzz_execl(const char *path, const char *arg, ...)
{
	(void)path;
	(void)arg;
	/* Only a child runs this, and fuzz_fork() never makes one. */
	FUZZ_CHECK(!"execl reached");
	return -1;
}

int
fuzz_kill(pid_t pid, int sig)
{
	struct child *k;

	/* kill(0) or kill(-1) would hit far more than one host. */
	FUZZ_CHECK(pid > 0 && sig == SIGKILL);
	FUZZ_CHECK((k = kid_by_pid(pid)) != NULL);
	FUZZ_CHECK(!k->reaped);
	k->killed = 1;
	kid_gone(k);
	return 0;
}

static void pull(struct child *k);

pid_t
fuzz_waitpid(pid_t pid, int *status, int options)
{
	struct child *k;
	char c;

	FUZZ_CHECK(pid > 0);
	FUZZ_CHECK((k = kid_by_pid(pid)) != NULL);
	FUZZ_CHECK(!k->reaped);
	if (!k->killed) {
		/*
		 * Only at shutdown, and without blocking: an idle host's
		 * channel is ended, and a host that reads it exits.
		 */
		FUZZ_CHECK(F.stopping && (options & WNOHANG));
		if (F.stalled || k->peer == -1)
			return 0;
		pull(k);
		if (recv(k->peer, &c, 1, MSG_PEEK | MSG_DONTWAIT) != 0)
			return 0;
		if (verbose == 1)
			fprintf(stderr, "host pid %ld: exits at the end of its "
			    "channel\n", (long)pid);
		k->exited = k->reaped = 1;
		close(k->peer);
		k->peer = -1;
		if (status != NULL)
			*status = 0;
		return pid;
	}
	if ((options & WNOHANG) && F.slow_reap && k->waits++ < 2)
		return 0;
	k->reaped = 1;
	if (status != NULL)
		*status = SIGKILL;
	return pid;
}

/* hosts_stop() waits for its hosts to exit: time passes, at once. */
int
usleep(useconds_t us)
{
	F.now_us += us;
	return 0;
}

/* ---- the state hosts.c keeps, looked at as its callers do ---- */

static int
host_slot(const struct host *h)
{
	size_t i;

	for (i = 0; i < F.nhosts; i++)
		if (F.hosts[i] == h)
			return (int)i;
	return -1;
}

static struct child *
live_kid(const struct host *h)
{
	size_t i;

	for (i = 0; i < F.nkids; i++)
		if (F.kids[i].alive && F.kids[i].h == h)
			return &F.kids[i];
	return NULL;
}

static int
look_token(void *arg, struct host *h, const struct ca_token *t)
{
	size_t *n = arg;
	struct host *fh;
	struct child *k;
	int s;

	FUZZ_CHECK((s = host_slot(h)) != -1 && F.mod[s] != -1);
	FUZZ_CHECK(t->id != NULL && t->label != NULL &&
	    t->manufacturer != NULL && t->model != NULL &&
	    t->serial != NULL && t->uri != NULL && t->module != NULL);
	/* The module is the agent's to say, not the host's. */
	FUZZ_CHECK(strcmp(t->module, F.modules[F.mod[s]]) == 0);
	/* hosts.h: a token whose host is down carries CA_TOK_HOST_DOWN. */
	if ((k = live_kid(h)) == NULL) {
		FUZZ_CHECK(t->flags & CA_TOK_HOST_DOWN);
		FUZZ_CHECK(!(t->flags & CA_TOK_LOGGED_IN));
	} else if (k->takes > 0) {
		/* Nor can a host say that it is down. */
		FUZZ_CHECK(!(t->flags & CA_TOK_HOST_DOWN));
	}
	FUZZ_CHECK(hosts_find_token(t->id, &fh) == t && fh == h);
	(*n)++;
	return 0;
}

/*
 * No id is held twice: two hosts listing one token or key id would let a
 * host take requests, and PINs, meant for another module's token.
 */
static void
check_ids(const struct ca_msg *m)
{
	size_t i, j;

	for (i = 0; i < m->u.list.ntokens; i++)
		for (j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(m->u.list.tokens[i].id,
			    m->u.list.tokens[j].id) != 0);
	for (i = 0; i < m->u.list.nkeys; i++)
		for (j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(m->u.list.keys[i].id,
			    m->u.list.keys[j].id) != 0);
}

static void
check_state(void)
{
	struct ca_msg snap;
	const struct ca_key *k;
	const struct ca_token *t;
	struct host *h, *th;
	size_t i, ntok = 0;

	memset(&snap, 0, sizeof(snap));
	snap.type = CA_MSG_STATUS_REPLY;
	FUZZ_CHECK(hosts_snapshot(&snap, 1, 1) == CA_PE_OK);
	check_ids(&snap);
	hosts_each_token(look_token, &ntok);
	FUZZ_CHECK(snap.u.list.ntokens == ntok);
	for (i = 0; i < snap.u.list.nkeys; i++) {
		FUZZ_CHECK(snap.u.list.keys[i].id != NULL &&
		    snap.u.list.keys[i].token_id != NULL &&
		    snap.u.list.keys[i].label != NULL &&
		    snap.u.list.keys[i].uri != NULL);
		k = hosts_find_key(snap.u.list.keys[i].id, &h);
		FUZZ_CHECK(k != NULL && host_slot(h) != -1);
		FUZZ_CHECK(strcmp(k->id, snap.u.list.keys[i].id) == 0);
		/* A key's token is one of its own host's, never another's. */
		t = hosts_find_token(k->token_id, &th);
		FUZZ_CHECK(t != NULL && th == h);
	}
	ca_msg_clear(&snap);

	/* Settled once, for good, and said so exactly once. */
	FUZZ_CHECK(F.settled_calls <= 1);
	FUZZ_CHECK(hosts_settled() == (F.settled_calls == 1));
	if (F.was_settled)
		FUZZ_CHECK(hosts_settled());
	F.was_settled = hosts_settled();
}

static void
settled(void)
{
	F.settled_calls++;
}

static void
list_init(struct ca_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->type = CA_MSG_HOST_INDEX;
}

static void
add_token(struct ca_msg *m, const struct ca_token *t)
{
	void *nv;

	FUZZ_CHECK((nv = reallocarray(m->u.list.tokens, m->u.list.ntokens + 1,
	    sizeof(*m->u.list.tokens))) != NULL);
	m->u.list.tokens = nv;
	FUZZ_CHECK(ca_token_copy(&m->u.list.tokens[m->u.list.ntokens], t) ==
	    CA_PE_OK);
	m->u.list.ntokens++;
}

static void
add_key(struct ca_msg *m, const struct ca_key *k)
{
	void *nv;

	FUZZ_CHECK((nv = reallocarray(m->u.list.keys, m->u.list.nkeys + 1,
	    sizeof(*m->u.list.keys))) != NULL);
	m->u.list.keys = nv;
	FUZZ_CHECK(ca_key_copy(&m->u.list.keys[m->u.list.nkeys], k) ==
	    CA_PE_OK);
	m->u.list.nkeys++;
}

static int
has_token(const struct ca_msg *m, const char *id)
{
	size_t i;

	for (i = 0; i < m->u.list.ntokens; i++)
		if (strcmp(m->u.list.tokens[i].id, id) == 0)
			return 1;
	return 0;
}

static int
has_key(const struct ca_msg *m, const char *id)
{
	size_t i;

	for (i = 0; i < m->u.list.nkeys; i++)
		if (strcmp(m->u.list.keys[i].id, id) == 0)
			return 1;
	return 0;
}

/*
 * The agent's tokens and keys by host, in hosts.c's order: cur[s] gets
 * those of F.hosts[s]. hosts_find_*() name the host of an id only as long
 * as no id is held twice, which check_state() has made sure of.
 */
static void
held(struct ca_msg cur[MAX_HOSTS])
{
	struct ca_msg snap;
	struct host *h;
	size_t i, s;
	int slot;

	memset(&snap, 0, sizeof(snap));
	snap.type = CA_MSG_STATUS_REPLY;
	FUZZ_CHECK(hosts_snapshot(&snap, 1, 1) == CA_PE_OK);
	for (s = 0; s < MAX_HOSTS; s++) {
		list_init(&cur[s]);
		FUZZ_CHECK((cur[s].u.list.tokens = calloc(snap.u.list.ntokens +
		    1, sizeof(struct ca_token))) != NULL);
		FUZZ_CHECK((cur[s].u.list.keys = calloc(snap.u.list.nkeys + 1,
		    sizeof(struct ca_key))) != NULL);
	}
	for (i = 0; i < snap.u.list.ntokens; i++) {
		FUZZ_CHECK(hosts_find_token(snap.u.list.tokens[i].id, &h) !=
		    NULL && (slot = host_slot(h)) != -1);
		cur[slot].u.list.tokens[cur[slot].u.list.ntokens++] =
		    snap.u.list.tokens[i];
	}
	for (i = 0; i < snap.u.list.nkeys; i++) {
		FUZZ_CHECK(hosts_find_key(snap.u.list.keys[i].id, &h) !=
		    NULL && (slot = host_slot(h)) != -1);
		cur[slot].u.list.keys[cur[slot].u.list.nkeys++] =
		    snap.u.list.keys[i];
	}
	/* The fields moved to cur. */
	free(snap.u.list.tokens);
	free(snap.u.list.keys);
}

static int encode_same(const struct ca_msg *a, const struct ca_msg *b);

/*
 * F.hosts[e] has just taken an index. Nothing else changed: the other
 * hosts hold what they held, fields and all. The ids they held are noted
 * for check_model(), and the new index has none of them: when two hosts
 * send the same id, the first to arrive keeps it.
 */
static void
check_take(size_t e, const struct ca_msg cur[MAX_HOSTS])
{
	struct ca_msg *o = &F.others[e];
	size_t i, s;

	ca_msg_clear(o);
	list_init(o);
	for (s = 0; s < F.nhosts; s++) {
		if (s == e)
			continue;
		FUZZ_CHECK(encode_same(&cur[s], &F.rec[s]));
		for (i = 0; i < cur[s].u.list.ntokens; i++)
			add_token(o, &cur[s].u.list.tokens[i]);
		for (i = 0; i < cur[s].u.list.nkeys; i++)
			add_key(o, &cur[s].u.list.keys[i]);
	}
	for (i = 0; i < cur[e].u.list.ntokens; i++) {
		FUZZ_CHECK(!has_token(o, cur[e].u.list.tokens[i].id));
		FUZZ_CHECK(!(cur[e].u.list.tokens[i].flags & CA_TOK_HOST_DOWN));
	}
	for (i = 0; i < cur[e].u.list.nkeys; i++) {
		FUZZ_CHECK(!has_key(o, cur[e].u.list.keys[i].id));
		FUZZ_CHECK(has_token(&cur[e], cur[e].u.list.keys[i].token_id));
	}
}

/*
 * A host went down: no id came or went. Its tokens are marked down and
 * logged out, the rest of them as they were; every other host's tokens
 * are as they were (one down already is marked so already).
 */
static void
check_down(struct ca_msg cur[MAX_HOSTS])
{
	size_t i, s;

	for (s = 0; s < F.nhosts; s++) {
		if (F.hosts[s] != NULL && live_kid(F.hosts[s]) == NULL) {
			for (i = 0; i < F.rec[s].u.list.ntokens; i++) {
				F.rec[s].u.list.tokens[i].flags |=
				    CA_TOK_HOST_DOWN;
				F.rec[s].u.list.tokens[i].flags &=
				    ~CA_TOK_LOGGED_IN;
			}
		}
		FUZZ_CHECK(encode_same(&cur[s], &F.rec[s]));
	}
}

/*
 * hosts.c reports a change after a host takes an index, which it does only
 * while it reads that host's socket, and after it brings a host down,
 * which is no longer alive here by then.
 */
static void
changed(void)
{
	struct ca_msg cur[MAX_HOSTS];
	struct child *k = NULL;
	size_t i, s;

	check_state();
	held(cur);
	for (i = 0; i < F.nkids && F.reading != -1; i++)
		if (F.kids[i].alive && F.kids[i].afd == F.reading)
			k = &F.kids[i];
	if (k != NULL) {
		FUZZ_CHECK(host_slot(k->h) != -1);
		k->takes++;
		check_take((size_t)host_slot(k->h), cur);
	} else
		check_down(cur);
	if (verbose == 1)
		for (s = 0; s < F.nhosts; s++)
			fprintf(stderr, "change: host %zu%s: %zu token(s), "
			    "%zu key(s)\n", s, k != NULL && k->h == F.hosts[s] ?
			    " took an index" : "", cur[s].u.list.ntokens,
			    cur[s].u.list.nkeys);
	for (s = 0; s < MAX_HOSTS; s++) {
		ca_msg_clear(&F.rec[s]);
		F.rec[s] = cur[s];
	}
}

/* ---- calls into the hosts ---- */

static void call_done(void *arg, struct ca_msg *reply);

/* Makes a call as requests.c does: by key or token id from the index. */
static void
issue(uint8_t kind, uint8_t how, uint8_t pick, uint8_t dlen,
    struct host *to)
{
	struct ca_msg snap, req;
	struct fcall *fc;
	struct host *h = to;
	const char *id = "";

	kind %= K_N;
	if (kind == K_REFRESH) {
		F.in_call = 1;
		hosts_refresh();
		F.in_call = 0;
		return;
	}
	if (F.ncalls == MAX_CALLS)
		return;

	memset(&snap, 0, sizeof(snap));
	snap.type = CA_MSG_STATUS_REPLY;
	FUZZ_CHECK(hosts_snapshot(&snap, 1, 1) == CA_PE_OK);
	if (kind <= K_DERIVE && snap.u.list.nkeys > 0) {
		id = snap.u.list.keys[pick % snap.u.list.nkeys].id;
		if (h == NULL)
			FUZZ_CHECK(hosts_find_key(id, &h) != NULL);
	} else if (kind > K_DERIVE && snap.u.list.ntokens > 0) {
		id = snap.u.list.tokens[pick % snap.u.list.ntokens].id;
		if (h == NULL)
			FUZZ_CHECK(hosts_find_token(id, &h) != NULL);
	}
	if (h == NULL)
		h = F.hosts[F.cur];
	if (h == NULL) {
		ca_msg_clear(&snap);
		return;
	}

	memset(&req, 0, sizeof(req));
	switch (kind) {
	case K_SIGN:
	case K_DECRYPT:
	case K_DERIVE:
		req.type = kind == K_SIGN ? CA_MSG_SIGN :
		    kind == K_DECRYPT ? CA_MSG_DECRYPT : CA_MSG_DERIVE;
		req.u.op.key_id = (char *)id;
		req.u.op.alg = kind == K_SIGN ? CA_ALG_RSA_PKCS1 :
		    kind == K_DECRYPT ? CA_ALG_RSA_OAEP : CA_ALG_ECDH;
		req.u.op.hash = CA_HASH_SHA256;
		req.u.op.data = F.data;
		/* Past CA_DATA_MAX the request cannot be encoded. */
		req.u.op.len = (size_t)dlen * 33u;
		if (how & HOW_PIN)
			req.u.op.pin = ca_secret_dup("123456", 6);
		break;
	default:
		req.type = kind == K_LOGIN ? CA_MSG_LOGIN : CA_MSG_LOCK;
		req.u.login.token_id = (char *)id;
		if (kind == K_LOGIN && (how & HOW_PIN))
			req.u.login.pin = ca_secret_dup("123456", 6);
		break;
	}

	fc = &F.calls[F.ncalls++];
	memset(fc, 0, sizeof(*fc));
	fc->h = h;
	fc->kind = kind;
	fc->how = how;
	F.in_call = 1;
	host_call(h, &req, call_done, fc);
	F.in_call = 0;
	/* host_call() numbers the request only if the host is up. */
	fc->id = req.id;

	if (req.type == CA_MSG_LOGIN)
		ca_secret_free(req.u.login.pin);
	else if (req.type != CA_MSG_LOCK)
		ca_secret_free(req.u.op.pin);
	ca_msg_clear(&snap);
}

/* Takes what a callback may take: hosts.c must free only the rest. */
static void
steal(struct ca_msg *m)
{
	size_t i;

	switch (m->type) {
	case CA_MSG_ERROR:
		free(m->u.error.text);
		m->u.error.text = NULL;
		break;
	case CA_MSG_SIGNATURE:
		free(m->u.sig.data);
		m->u.sig.data = NULL;
		m->u.sig.len = 0;
		break;
	case CA_MSG_SECRET:
		ca_secret_free(m->u.secret);
		m->u.secret = NULL;
		break;
	case CA_MSG_HOST_INDEX:
	case CA_MSG_STATUS_REPLY:
	case CA_MSG_KEYS_REPLY:
		for (i = 0; i < m->u.list.ntokens; i++)
			ca_token_clear(&m->u.list.tokens[i]);
		for (i = 0; i < m->u.list.nkeys; i++)
			ca_key_clear(&m->u.list.keys[i]);
		free(m->u.list.tokens);
		free(m->u.list.keys);
		m->u.list.tokens = NULL;
		m->u.list.keys = NULL;
		m->u.list.ntokens = m->u.list.nkeys = 0;
		break;
	default:
		break;
	}
}

static void
call_done(void *arg, struct ca_msg *reply)
{
	struct fcall *fc = arg;
	struct host *h;

	FUZZ_CHECK(fc >= F.calls && fc < F.calls + F.ncalls);
	/* hosts.h: "cb runs later, never from inside this call". */
	FUZZ_CHECK(!F.in_call);
	FUZZ_CHECK(fc->done == 0);
	fc->done = 1;
	FUZZ_CHECK(reply != NULL);
	if (verbose == 1)
		fprintf(stderr, "call %zu (kind %u, id %u): reply 0x%02x id %u\n",
		    (size_t)(fc - F.calls), fc->kind, fc->id, reply->type,
		    reply->id);
	if (fc->id != 0)
		FUZZ_CHECK(reply->id == fc->id);
	if (reply->type == CA_MSG_ERROR) {
		FUZZ_CHECK(reply->u.error.text != NULL);
		FUZZ_CHECK(ca_status_str(reply->u.error.code) != NULL);
	}
	/* What op_reply() and login_reply() look at. */
	if (reply->type == CA_MSG_HOST_INDEX && reply->u.list.nkeys > 0)
		(void)hosts_find_key(reply->u.list.keys[0].id, &h);
	check_state();
	if (fc->how & HOW_STEAL)
		steal(reply);
	/* A login that worked goes on with the operation it was for. */
	if ((fc->how & HOW_CHAIN) && reply->type != CA_MSG_ERROR)
		issue(fc->kind, (uint8_t)(fc->how >> 3), 0, 1, fc->h);
}

/* ---- the host side ---- */

static void
queue(struct child *k, const uint8_t *p, size_t n)
{
	size_t ncap;
	void *np;

	if (k->eof || n == 0)
		return;
	if (k->len + n > k->cap) {
		ncap = k->cap ? k->cap : 4096;
		while (ncap < k->len + n)
			ncap *= 2;
		FUZZ_CHECK((np = realloc(k->stream, ncap)) != NULL);
		k->stream = np;
		k->cap = ncap;
	}
	memcpy(k->stream + k->len, p, n);
	k->len += n;
}

/* Writes what the socket takes; the rest waits for the next turn. */
static void
push(struct child *k)
{
	ssize_t r;

	while (k->peer != -1 && !k->eof && k->off < k->len) {
		r = send(k->peer, k->stream + k->off, k->len - k->off,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r <= 0)
			return;
		k->off += (size_t)r;
	}
}

static int
sent_request(const struct child *k, uint32_t id, uint8_t type)
{
	size_t i;

	for (i = 0; i < F.ncalls; i++)
		if (F.calls[i].h == k->h && F.calls[i].id == id)
			return F.calls[i].kind <= K_DERIVE ?
			    type == CA_MSG_SIGN || type == CA_MSG_DECRYPT ||
			    type == CA_MSG_DERIVE :
			    type == CA_MSG_LOGIN || type == CA_MSG_LOCK;
	return 0;
}

/* Reads and checks what the agent sent this host. */
static void
pull(struct child *k)
{
	struct ca_msg m;
	size_t blen, used = 0;
	enum ca_perr e;
	ssize_t r;
	void *np;

	for (;;) {
		if (k->rxcap - k->rxlen < 4096) {
			FUZZ_CHECK((np = realloc(k->rx, k->rxcap + 65536))
			    != NULL);
			k->rx = np;
			k->rxcap += 65536;
		}
		r = recv(k->peer, k->rx + k->rxlen, k->rxcap - k->rxlen,
		    MSG_DONTWAIT);
		if (r <= 0)
			break;
		k->rxlen += (size_t)r;
	}
	while ((e = ca_frame_check(k->rx + used, k->rxlen - used, &blen)) ==
	    CA_PE_OK) {
		FUZZ_CHECK(ca_msg_decode(k->rx + used + CA_FRAME_HDR, blen,
		    &m) == CA_PE_OK);
		FUZZ_CHECK(m.id != 0);
		if (verbose == 1)
			fprintf(stderr, "host pid %ld: request 0x%02x id %u\n",
			    (long)k->pid, m.type, m.id);
		switch (m.type) {
		case CA_MSG_HOST_POLL:
		case CA_MSG_HOST_REFRESH:
			break;
		default:
			/* Only the calls made here, with their own ids. */
			FUZZ_CHECK(sent_request(k, m.id, m.type));
			break;
		}
		ca_msg_clear(&m);
		used += CA_FRAME_HDR + blen;
	}
	FUZZ_CHECK(e == CA_PE_INCOMPLETE);
	memmove(k->rx, k->rx + used, k->rxlen - used);
	k->rxlen -= used;
}

/* ---- turns of the loop ---- */

static int
unread(int fd)
{
	int n = 0;

	FUZZ_CHECK(ioctl(fd, FIONREAD, &n) == 0);
	return n;
}

/* As loop_run(), one turn, without sleeping. */
static int
turn(void)
{
	struct pollfd pfd[MAX_WATCHES];
	size_t i, n = 0;
	int r, w, ev, before, busy = 0;
	loop_fd_cb cb;
	void *arg;

	for (i = 0; i < F.nkids; i++)
		push(&F.kids[i]);
	for (w = 0; w < MAX_WATCHES; w++) {
		if (F.loop.w[w].fd == -1)
			continue;
		pfd[n].fd = F.loop.w[w].fd;
		pfd[n].events = (short)(
		    ((F.loop.w[w].events & LOOP_READ) ? POLLIN : 0) |
		    ((F.loop.w[w].events & LOOP_WRITE) ? POLLOUT : 0));
		pfd[n].revents = 0;
		n++;
	}
	r = poll(pfd, n, 0);
	FUZZ_CHECK(r >= 0);
	for (i = 0; r > 0 && i < n; i++) {
		if (pfd[i].revents == 0)
			continue;
		/* A callback may have unwatched or replaced this fd. */
		if ((w = find_watch(pfd[i].fd)) == -1)
			continue;
		ev = ((pfd[i].revents & POLLIN) ? LOOP_READ : 0) |
		    ((pfd[i].revents & POLLOUT) ? LOOP_WRITE : 0) |
		    ((pfd[i].revents & (POLLHUP | POLLERR | POLLNVAL)) ?
		    LOOP_HUP : 0);
		cb = F.loop.w[w].cb;
		arg = F.loop.w[w].arg;
		before = (ev & (LOOP_READ | LOOP_HUP)) ? unread(pfd[i].fd) : 0;
		busy = 1;
		F.reading = pfd[i].fd;
		cb(&F.loop, pfd[i].fd, ev, arg);
		F.reading = -1;
		/*
		 * A readable channel is read from or dropped: anything else
		 * has the loop spin on it for ever.
		 */
		if ((ev & (LOOP_READ | LOOP_HUP)) &&
		    (w = find_watch(pfd[i].fd)) != -1 &&
		    F.loop.w[w].cb == cb && F.loop.w[w].arg == arg)
			FUZZ_CHECK(unread(pfd[i].fd) < before);
	}
	for (i = 0; i < F.loop.nt && !busy; i++)
		if (F.loop.t[i].when <= F.now_us / 1000u)
			busy = 1;
	run_timers();
	for (i = 0; i < F.nkids; i++) {
		if (F.kids[i].peer == -1)
			continue;
		if (F.kids[i].off < F.kids[i].len && !F.kids[i].eof)
			busy = 1;
		if (!F.stalled)
			pull(&F.kids[i]);
	}
	check_state();
	return busy;
}

/* Turns the loop until nothing is left to read, write or fire. */
static void
settle(void)
{
	unsigned i;

	for (i = 0; i < MAX_SETTLE; i++)
		if (!turn())
			return;
	FUZZ_CHECK(!"the loop never settled");
}

/* ---- the model: what a host's stream should have left behind ---- */

static int
encode_same(const struct ca_msg *a, const struct ca_msg *b)
{
	struct ca_wr wa, wb;
	int same;

	ca_wr_init(&wa, CA_FRAME_HDR + CA_FRAME_MAX);
	ca_wr_init(&wb, CA_FRAME_HDR + CA_FRAME_MAX);
	(void)ca_msg_encode(a, &wa);
	(void)ca_msg_encode(b, &wb);
	same = ca_wr_err(&wa) == ca_wr_err(&wb) && wa.len == wb.len &&
	    (wa.len == 0 || memcmp(wa.p, wb.p, wa.len) == 0);
	ca_wr_free(&wa);
	ca_wr_free(&wb);
	return same;
}

/*
 * Decodes the host's whole stream as chan.c should have, whatever the
 * splits: the last HOST_INDEX with id 0 in *last, and in *tail the bytes
 * of an unfinished last frame. Returns -1 if a frame is bad, 1 if the
 * stream is good but *last cannot be predicted (no index yet, or a later
 * HOST_INDEX that may have answered a refresh), else 0.
 */
static int
model(const struct child *k, struct ca_msg *last, size_t *tail)
{
	struct ca_msg m;
	size_t blen, used = 0;
	enum ca_perr e = CA_PE_INCOMPLETE;
	int rc = 1;

	memset(last, 0, sizeof(*last));
	while (used < k->off && (e = ca_frame_check(k->stream + used,
	    k->off - used, &blen)) == CA_PE_OK) {
		if (ca_msg_decode(k->stream + used + CA_FRAME_HDR, blen, &m) !=
		    CA_PE_OK) {
			ca_msg_clear(last);
			return -1;
		}
		if (m.type == CA_MSG_HOST_INDEX && m.id == 0) {
			ca_msg_clear(last);
			*last = m;
			rc = 0;
		} else {
			if (m.type == CA_MSG_HOST_INDEX)
				rc = 1;
			ca_msg_clear(&m);
		}
		used += CA_FRAME_HDR + blen;
	}
	/* CA_PE_OK: the stream ends where a frame does. */
	if (e != CA_PE_OK && e != CA_PE_INCOMPLETE) {
		ca_msg_clear(last);
		return -1;
	}
	if (tail != NULL)
		*tail = k->off - used;
	if (rc != 0)
		ca_msg_clear(last);
	return rc;
}

/*
 * What the agent should keep of an index sent by the host of module
 * module, while the other hosts held the ids in others: each token whose
 * id the index did not list before and no other host held, with the
 * module path and the down flag the agent's to say; each key whose id no
 * key kept before and no other host held, of a token kept.
 */
static void
vet(const struct ca_msg *sent, const char *module,
    const struct ca_msg *others, struct ca_msg *want)
{
	const struct ca_token *t;
	const struct ca_key *k;
	struct ca_token *w;
	size_t i;

	list_init(want);
	for (i = 0; i < sent->u.list.ntokens; i++) {
		t = &sent->u.list.tokens[i];
		if (has_token(want, t->id) || has_token(others, t->id))
			continue;
		add_token(want, t);
		w = &want->u.list.tokens[want->u.list.ntokens - 1];
		free(w->module);
		FUZZ_CHECK((w->module = strdup(module)) != NULL);
		w->flags &= ~CA_TOK_HOST_DOWN;
	}
	for (i = 0; i < sent->u.list.nkeys; i++) {
		k = &sent->u.list.keys[i];
		if (has_key(want, k->id) || has_key(others, k->id) ||
		    !has_token(want, k->token_id))
			continue;
		add_key(want, k);
	}
}

/*
 * A host in sync with the agent sends one more index: if the agent has
 * lost its place in the stream (a byte dropped or kept at a split, a
 * phantom frame it still waits for), this index is not the one it holds.
 * Its ids name the host, so that no other probe takes them first; it
 * says the token is down, which vetting undoes, and lists a key of a
 * token it does not have, which vetting drops.
 */
static void
probe(void)
{
	char tid[32], kid[32], sid[32], stid[32];
	struct ca_token t = {
		.label = "probe", .manufacturer = "m", .model = "m",
		.serial = "1", .uri = "pkcs11:token=probe",
		.module = "/usr/lib/fuzz/probe.so",
		.flags = CA_TOK_PRESENT | CA_TOK_HOST_DOWN,
	};
	struct ca_key key[2] = {
		{ .label = "k", .uri = "pkcs11:object=k", .type = CA_KEY_EC,
		    .bits = 256, .ops = CA_OP_SIGN },
		{ .label = "stray", .uri = "pkcs11:object=s",
		    .type = CA_KEY_EC, .bits = 256, .ops = CA_OP_SIGN },
	};
	struct ca_msg m, last;
	struct ca_wr w;
	struct child *k;
	size_t i, tail;
	int s;

	memset(&m, 0, sizeof(m));
	m.type = CA_MSG_HOST_INDEX;
	m.u.list.tokens = &t;
	m.u.list.ntokens = 1;
	m.u.list.keys = key;
	m.u.list.nkeys = 2;
	t.id = tid;
	key[0].id = kid;
	key[0].token_id = tid;
	key[1].id = sid;
	key[1].token_id = stid;
	for (i = 0; i < F.nkids; i++) {
		k = &F.kids[i];
		if (!k->alive || k->eof || k->peer == -1)
			continue;
		if (model(k, &last, &tail) == -1 || tail != 0) {
			ca_msg_clear(&last);
			continue;
		}
		ca_msg_clear(&last);
		FUZZ_CHECK((s = host_slot(k->h)) != -1);
		snprintf(tid, sizeof(tid), "probe-token-%d", s);
		snprintf(kid, sizeof(kid), "probe-key-%d", s);
		snprintf(sid, sizeof(sid), "probe-stray-%d", s);
		snprintf(stid, sizeof(stid), "probe-nothing-%d", s);
		ca_wr_init(&w, CA_FRAME_HDR + CA_FRAME_MAX);
		FUZZ_CHECK(ca_msg_encode(&m, &w) == CA_PE_OK);
		queue(k, w.p, w.len);
		ca_wr_free(&w);
	}
}

static void
check_model(void)
{
	struct ca_msg cur[MAX_HOSTS], last, want;
	struct child *k;
	size_t i, s;
	int rc;

	check_state();
	held(cur);
	for (i = 0; i < F.nkids; i++) {
		k = &F.kids[i];
		if (k->alive) {
			/* Settled: the agent has read all the host wrote. */
			FUZZ_CHECK(k->off == k->len || k->eof);
			FUZZ_CHECK(unread(k->afd) == 0);
		}
		if (!k->alive || k->eof) {
			/* Where a stream was cut or dropped is not known. */
			continue;
		}
		rc = model(k, &last, NULL);
		/* A host that sent a bad frame has been dropped. */
		FUZZ_CHECK(rc != -1);
		if (rc != 0)
			continue;
		/*
		 * The agent took that index last, and holds for this host
		 * what vetting it against the ids the others held then
		 * leaves of it: nothing more, nothing less, in its order.
		 */
		FUZZ_CHECK(k->takes > 0);
		s = (size_t)host_slot(k->h);
		vet(&last, F.modules[F.mod[s]], &F.others[s], &want);
		FUZZ_CHECK(encode_same(&want, &cur[s]));
		ca_msg_clear(&want);
		ca_msg_clear(&last);
	}
	for (s = 0; s < MAX_HOSTS; s++)
		ca_msg_clear(&cur[s]);
}

/* ---- one input ---- */

static uint8_t
take8(const uint8_t **p, size_t *left)
{
	uint8_t v = 0;

	if (*left > 0) {
		v = **p;
		(*p)++;
		(*left)--;
	}
	return v;
}

static void
op_send(const uint8_t **p, size_t *left)
{
	struct child *k;
	size_t n;

	n = (size_t)take8(p, left) << 8;
	n |= take8(p, left);
	if (n > *left)
		n = *left;
	if (F.hosts[F.cur] != NULL && (k = live_kid(F.hosts[F.cur])) != NULL)
		queue(k, *p, n);
	if (F.nsends < MAX_SENDS) {
		F.sends[F.nsends].p = *p;
		F.sends[F.nsends++].n = n;
	}
	*p += n;
	*left -= n;
}

static void
op_echo(uint8_t n)
{
	struct child *k;

	if (F.nsends > 0 && F.hosts[F.cur] != NULL &&
	    (k = live_kid(F.hosts[F.cur])) != NULL)
		queue(k, F.sends[n % F.nsends].p, F.sends[n % F.nsends].n);
}

static void
op_close(uint8_t how)
{
	struct child *k;

	if (F.hosts[F.cur] == NULL || (k = live_kid(F.hosts[F.cur])) == NULL ||
	    k->eof)
		return;
	/* Whatever the socket did not take is never written. */
	k->len = k->off;
	k->eof = 1;
	if (how & 1) {
		close(k->peer);
		k->peer = -1;
	} else
		(void)shutdown(k->peer, SHUT_WR);
}

static void
op_time(uint8_t n)
{
	uint64_t when;

	if (F.loop.nt == 0)
		return;
	when = F.loop.t[n % F.loop.nt].when;
	if (when * 1000u > F.now_us)
		F.now_us = when * 1000u;
}

static void
setup(uint8_t b)
{
	static const uint64_t ticks[] = { 0, 1, 100, 1000 };
	size_t i;

	memset(&F, 0, sizeof(F));
	for (i = 0; i < MAX_WATCHES; i++)
		F.loop.w[i].fd = -1;
	for (i = 0; i < MAX_HOSTS; i++) {
		F.mod[i] = -1;
		list_init(&F.rec[i]);
		list_init(&F.others[i]);
	}
	F.spare_peer = -1;
	F.reading = -1;
	F.next_pid = 4000000;
	/* Not 0: hosts.c subtracts start times from now. */
	F.now_us = 1000000000u;
	F.tick_us = ticks[(b >> 1) & 3];
	F.fail_fork = (b >> 3) & 1;
	F.slow_reap = (b >> 4) & 1;
	F.stalled = (b >> 5) & 1;
	F.nhosts = (b & 1) ? 2 : 1;
	F.modules[0] = "/usr/lib/fuzz/first-pkcs11.so";
	F.modules[1] = "/usr/lib/fuzz/second-pkcs11.so";
	for (i = 0; i < DATA_MAX; i++)
		F.data[i] = (uint8_t)i;
}

static void
teardown(void)
{
	struct child *k;
	size_t i;

	F.stopping = 1;
	hosts_stop();
	F.stopping = 0;

	/* hosts.h: "Kills every host and frees everything; pending calls
	 * are failed." An idle host may exit by itself first, and a pid
	 * reaped is never signalled (fuzz_kill() checks). */
	FUZZ_CHECK(F.loop.nt == 0);
	for (i = 0; i < MAX_WATCHES; i++)
		FUZZ_CHECK(F.loop.w[i].fd == -1);
	for (i = 0; i < F.ncalls; i++)
		FUZZ_CHECK(F.calls[i].done == 1);
	for (i = 0; i < F.nkids; i++) {
		k = &F.kids[i];
		FUZZ_CHECK((k->killed || k->exited) && k->reaped && !k->alive);
		FUZZ_CHECK(k->peer == -1);
		/* chan_free() closed the agent's end. */
		if (k->afd != -1)
			FUZZ_CHECK(fcntl(k->afd, F_GETFD) == -1 &&
			    errno == EBADF);
		free(k->stream);
		free(k->rx);
	}
	FUZZ_CHECK(F.spare_peer == -1);
	for (i = 0; i < MAX_HOSTS; i++) {
		ca_msg_clear(&F.rec[i]);
		ca_msg_clear(&F.others[i]);
	}
	free(F.loop.t);
	memset(&F, 0, sizeof(F));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data;
	size_t left = size;
	uint8_t op, a, b, c, d;
	int stop = 0;

	setup(take8(&p, &left));
	F.starting = 1;
	FUZZ_CHECK(hosts_start(&F.loop, (char *const *)F.modules, F.nhosts,
	    "/nonexistent/cardagent", 30000, settled) == 0);
	F.starting = 0;
	hosts_on_change(changed);

	while (left > 0 && !stop) {
		op = take8(&p, &left);
		switch (op & 0x0f) {
		case OP_SEND:
			op_send(&p, &left);
			break;
		case OP_HOST:
			F.cur = take8(&p, &left) % F.nhosts;
			break;
		case OP_CALL:
			a = take8(&p, &left);
			b = take8(&p, &left);
			c = take8(&p, &left);
			d = take8(&p, &left);
			issue(a, b, c, d, NULL);
			break;
		case OP_TIME:
			op_time(take8(&p, &left));
			break;
		case OP_CLOSE:
			op_close(take8(&p, &left));
			break;
		case OP_STALL:
			F.stalled = !F.stalled;
			break;
		case OP_FAIL:
			a = take8(&p, &left);
			F.fail_fork |= a & 1;
			F.fail_pair |= (a >> 1) & 1;
			F.fail_watch |= (a >> 2) & 1;
			if (a & 8)
				F.slow_reap = !F.slow_reap;
			break;
		case OP_STOP:
			stop = 1;
			break;
		case OP_ECHO:
			op_echo(take8(&p, &left));
			break;
		default:
			break;
		}
		if (!stop)
			(void)turn();
	}
	if (!stop) {
		settle();
		check_model();
		probe();
		settle();
		check_model();
	}
	teardown();
	return 0;
}
