#define _GNU_SOURCE
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "hosts.h"
#include "log.h"
#include "loop.h"
#include "requests.h"

#define MAX_CLIENTS 4096
#define MAX_LISTENERS (1 + CONFIG_MAX_SCOPES)	/* and the socket */

static struct {
	struct loop *loop;
	int listen_fd[MAX_LISTENERS];
	size_t nlisten;
	struct client *all;
	size_t n;
	int closing;		/* shutting down: no new requests */
	size_t nwatch;		/* clients watching */
	uint8_t *seen;		/* the status watchers saw last, encoded */
	size_t seen_len;
} C;

static void client_io(struct loop *l, int fd, int ev, void *arg);

static void
client_close(struct client *c)
{
	struct client **pp;

	for (pp = &C.all; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	if (c->req != NULL)
		request_orphan(c->req);
	if (c->watching && --C.nwatch == 0) {
		free(C.seen);
		C.seen = NULL;
		C.seen_len = 0;
	}
	loop_unwatch(C.loop, c->ch.fd);
	chan_free(&c->ch);
	free(c);
	C.n--;
}

/* Reads while the connection is idle; writes while output is queued. */
static void
update_events(struct client *c)
{
	int ev = 0;

	if (c->req == NULL && hosts_settled() && !C.closing)
		ev |= LOOP_READ;
	if (chan_pending(&c->ch))
		ev |= LOOP_WRITE;
	loop_set_events(C.loop, c->ch.fd, ev);
}

static int
send_now(struct client *c, const struct ca_msg *m)
{
	if (chan_send(&c->ch, m) != CA_PE_OK)
		return -1;
	return chan_flush(&c->ch) == -1 ? -1 : 0;
}

void
client_reply(struct client *c, uint32_t id, struct ca_msg *reply)
{
	reply->id = id;
	if (send_now(c, reply) == -1) {
		/* Closed from the loop, once it reads the end of file: the
		 * caller may still hold c. */
		ca_wr_reset(&c->ch.out);
		(void)shutdown(c->ch.fd, SHUT_RDWR);
	}
	update_events(c);
}

static void
error_msg(struct ca_msg *e, uint32_t status, char *text)
{
	memset(e, 0, sizeof(*e));
	e->type = CA_MSG_ERROR;
	e->u.error.code = status;
	e->u.error.text = text;
}

void
client_error(struct client *c, uint32_t id, uint32_t status,
    const char *fmt, ...)
{
	struct ca_msg e;
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	error_msg(&e, status, text);
	client_reply(c, id, &e);
}

/* A protocol violation ends the connection, after saying why. */
static void
client_abort(struct client *c, const char *why)
{
	struct ca_msg e;
	char text[256];

	log_info("client pid %ld: %s", (long)c->pid, why);
	snprintf(text, sizeof(text), "%s", why);
	error_msg(&e, CA_E_PROTOCOL, text);
	(void)send_now(c, &e);
	client_close(c);
}

static void
hello(struct client *c, struct ca_msg *m)
{
	struct ca_msg r;
	char agent[] = "cardagent " CARDAGENT_VERSION;

	if (m->u.hello.vmin > CA_PROTO_VERSION ||
	    m->u.hello.vmax < CA_PROTO_VERSION) {
		client_error(c, m->id, CA_E_VERSION, "agent speaks version %u "
		    "only", CA_PROTO_VERSION);
		return;
	}
	c->hello = 1;
	memset(&r, 0, sizeof(r));
	r.type = CA_MSG_HELLO_REPLY;
	r.u.hello_reply.version = CA_PROTO_VERSION;
	r.u.hello_reply.agent = agent;
	client_reply(c, m->id, &r);
}

static int
is_request(uint8_t type)
{
	return type >= CA_MSG_HELLO && type <= CA_MSG_WATCH;
}

/* Sends the status snap to a watching client, under its WATCH id. */
static void
watch_send(struct client *c, struct ca_msg *snap)
{
	snap->id = c->watch_id;
	if (send_now(c, snap) == -1) {
		/* A watcher that does not read is dropped, not buffered for. */
		ca_wr_reset(&c->ch.out);
		(void)shutdown(c->ch.fd, SHUT_RDWR);
	}
	update_events(c);
}

/*
 * The tokens' status now, encoded with id 0 into *enc (the caller frees
 * it) to compare with what watchers saw. -1 on no memory.
 */
static int
status_now(struct ca_msg *snap, uint8_t **enc, size_t *len)
{
	struct ca_wr w;

	memset(snap, 0, sizeof(*snap));
	snap->type = CA_MSG_STATUS_REPLY;
	ca_wr_init(&w, CA_FRAME_HDR + CA_FRAME_MAX);
	if (hosts_snapshot(snap, 1, 0) != CA_PE_OK ||
	    ca_msg_encode(snap, &w) != CA_PE_OK ||
	    (*enc = malloc(w.len)) == NULL) {
		ca_wr_free(&w);
		ca_msg_clear(snap);
		return -1;
	}
	memcpy(*enc, w.p, w.len);
	*len = w.len;
	ca_wr_free(&w);
	return 0;
}

/* WATCH: the status now, then at every change (clients_tokens_changed). */
static void
start_watch(struct client *c, uint32_t id)
{
	struct ca_msg snap;
	uint8_t *enc;
	size_t len;

	if (status_now(&snap, &enc, &len) == -1) {
		client_error(c, id, CA_E_INTERNAL, "out of memory");
		return;
	}
	free(C.seen);
	C.seen = enc;
	C.seen_len = len;
	c->watching = 1;
	c->watch_id = id;
	C.nwatch++;
	watch_send(c, &snap);
	ca_msg_clear(&snap);
}

void
clients_tokens_changed(void)
{
	struct client *c, *next;
	struct ca_msg snap;
	uint8_t *enc;
	size_t len;

	if (C.nwatch == 0 || status_now(&snap, &enc, &len) == -1)
		return;
	if (len == C.seen_len && memcmp(enc, C.seen, len) == 0) {
		free(enc);
		ca_msg_clear(&snap);
		return;
	}
	free(C.seen);
	C.seen = enc;
	C.seen_len = len;
	for (c = C.all; c != NULL; c = next) {
		next = c->next;
		if (c->watching)
			watch_send(c, &snap);
	}
	ca_msg_clear(&snap);
}

/* Handles buffered frames until one starts a request that must wait. */
static void
drain(struct client *c)
{
	struct ca_msg m;
	enum ca_perr e;

	while (c->req == NULL && hosts_settled() && !C.closing) {
		e = chan_next(&c->ch, &m);
		if (e == CA_PE_INCOMPLETE)
			break;
		if (e != CA_PE_OK) {
			client_abort(c, ca_perr_str(e));
			return;
		}
		if (!is_request(m.type) || c->watching) {
			ca_msg_clear(&m);
			client_abort(c, c->watching ? "a watching connection "
			    "carries nothing else" : "not a request");
			return;
		}
		if (m.type == CA_MSG_HELLO) {
			hello(c, &m);
			ca_msg_clear(&m);
			continue;
		}
		if (!c->hello) {
			ca_msg_clear(&m);
			client_abort(c, "HELLO must come first");
			return;
		}
		if (m.type == CA_MSG_WATCH)
			start_watch(c, m.id);
		else
			request_start(c, &m);
		ca_msg_clear(&m);
	}
	update_events(c);
}

static void
client_io(struct loop *l, int fd, int ev, void *arg)
{
	struct client *c = arg;

	(void)l;
	(void)fd;
	if (ev & LOOP_WRITE) {
		if (chan_flush(&c->ch) == -1) {
			client_close(c);
			return;
		}
	}
	if ((ev & (LOOP_READ | LOOP_HUP)) && c->req == NULL) {
		if (chan_read(&c->ch) <= 0) {
			client_close(c);
			return;
		}
		drain(c);
		return;
	}
	update_events(c);
}

static void
refuse(int fd, const char *why)
{
	struct ca_wr w;
	struct ca_msg e;
	char text[128];

	snprintf(text, sizeof(text), "%s", why);
	error_msg(&e, CA_E_DENIED, text);
	ca_wr_init(&w, 1024);
	if (ca_msg_encode(&e, &w) == CA_PE_OK)
		(void)send(fd, w.p, w.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	ca_wr_free(&w);
	close(fd);
}

/* For the audit log and confirmation dialogs: who is asking. */
static void
peer_exe(struct client *c)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%ld/exe", (long)c->pid);
	if ((n = readlink(path, c->exe, sizeof(c->exe) - 1)) <= 0)
		snprintf(c->exe, sizeof(c->exe), "?");
	else
		c->exe[n] = '\0';
}

/*
 * A descriptor held in reserve: when accept(2) fails for want of one, it
 * is given up to take the waiting connection and refuse it. Left in the
 * listen queue, the connection would keep the socket readable and the
 * loop spinning on accept.
 */
static int spare_fd = -1;

static void
refuse_unaccepted(int lfd)
{
	static uint64_t logged;
	int fd;

	if (logged == 0 || loop_now_ms() - logged >= 10000) {
		log_warn("out of file descriptors: refusing new connections");
		logged = loop_now_ms();
	}
	if (spare_fd == -1)
		return;
	close(spare_fd);
	if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) != -1)
		refuse(fd, "too many connections");
	spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void
accept_io(struct loop *l, int lfd, int ev, void *arg)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct client *c;
	int fd;

	(void)ev;
	if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) ==
	    -1) {
		if (errno == EMFILE || errno == ENFILE)
			refuse_unaccepted(lfd);
		else if (errno != EAGAIN && errno != EINTR)
			log_warn("accept: %s", strerror(errno));
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		log_warn("SO_PEERCRED: %s", strerror(errno));
		close(fd);
		return;
	}
	if (cred.uid != geteuid()) {
		log_warn("refused connection from uid %ld pid %ld: not the "
		    "agent's user", (long)cred.uid, (long)cred.pid);
		refuse(fd, "permission denied: the agent serves its own user "
		    "only");
		return;
	}
	if (C.n >= MAX_CLIENTS || (c = calloc(1, sizeof(*c))) == NULL) {
		refuse(fd, "too many connections");
		return;
	}
	chan_init(&c->ch, fd);
	c->uid = cred.uid;
	c->pid = cred.pid;
	c->scope = arg;
	peer_exe(c);
	if (loop_watch(l, fd, LOOP_READ, client_io, c) == -1) {
		chan_free(&c->ch);
		free(c);
		return;
	}
	c->next = C.all;
	C.all = c;
	C.n++;
}

int
clients_listen(struct loop *l, int fd, const struct scope *scope)
{
	if (C.nlisten >= MAX_LISTENERS)
		return -1;
	C.loop = l;
	if (spare_fd == -1)
		spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (loop_watch(l, fd, LOOP_READ, accept_io, (void *)scope) == -1)
		return -1;
	C.listen_fd[C.nlisten++] = fd;
	return 0;
}

static void
stop_accepting(void)
{
	while (C.nlisten > 0)
		loop_unwatch(C.loop, C.listen_fd[--C.nlisten]);
}

void
clients_resume(void)
{
	struct client *c, *next;

	for (c = C.all; c != NULL; c = next) {
		next = c->next;
		drain(c);
	}
}

void
clients_shutdown(void)
{
	struct client *c, *next;

	C.closing = 1;
	stop_accepting();
	for (c = C.all; c != NULL; c = next) {
		next = c->next;
		if (c->req == NULL)
			client_close(c);
	}
}

size_t
clients_busy(void)
{
	struct client *c;
	size_t n = 0;

	for (c = C.all; c != NULL; c = c->next)
		if (c->req != NULL)
			n++;
	return n;
}

void
clients_close_all(void)
{
	struct client *c;

	while ((c = C.all) != NULL) {
		if (c->req != NULL) {
			client_error(c, request_id(c->req), CA_E_CANCELLED,
			    "the agent is shutting down");
		}
		client_close(c);
	}
	stop_accepting();
	if (spare_fd != -1)
		close(spare_fd);
	spare_fd = -1;
}
