#define _GNU_SOURCE
#include "cardagent.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "secret.h"

struct cac {
	int fd;
	uint32_t next_id;
	struct ca_wr w;
	uint8_t *in;
	size_t incap;
	char err[512];
};

static int
seterr(struct cac *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
seterr(struct cac *c, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return code;
}

const char *
cac_errmsg(const struct cac *c)
{
	return c->err;
}

static int
write_all(int fd, const uint8_t *p, size_t n)
{
	ssize_t r;

	while (n > 0) {
		r = send(fd, p, n, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int
read_all(int fd, uint8_t *p, size_t n)
{
	ssize_t r;

	while (n > 0) {
		r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Reads one reply into m. Replies may carry secrets, so the buffer they
 * pass through is wiped. */
static int
recv_msg(struct cac *c, struct ca_msg *m)
{
	uint8_t hdr[CA_FRAME_HDR];
	size_t body;
	enum ca_perr e;
	uint8_t *n;

	if (read_all(c->fd, hdr, sizeof(hdr)) == -1)
		return seterr(c, CAC_E_IO, "the agent closed the connection");
	e = ca_frame_check(hdr, sizeof(hdr), &body);
	if (e == CA_PE_TOO_LONG)
		return seterr(c, CAC_E_IO, "the agent sent an invalid frame");
	/* The header alone is "incomplete"; its length is what we want. */
	body = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 |
	    (size_t)hdr[2] << 8 | hdr[3];
	if (body > c->incap) {
		if ((n = malloc(body)) == NULL)
			return seterr(c, CAC_E_IO, "out of memory");
		if (c->in != NULL) {
			explicit_bzero(c->in, c->incap);
			free(c->in);
		}
		c->in = n;
		c->incap = body;
	}
	if (read_all(c->fd, c->in, body) == -1)
		return seterr(c, CAC_E_IO, "the agent closed the connection");
	e = ca_msg_decode(c->in, body, m);
	explicit_bzero(c->in, body);
	if (e != CA_PE_OK)
		return seterr(c, CAC_E_IO, "bad reply from the agent: %s",
		    ca_perr_str(e));
	return CA_OK;
}

/* Appends req, with the next id, to the requests waiting to be sent. */
static int
put_req(struct cac *c, struct ca_msg *req)
{
	req->id = ++c->next_id;
	if (ca_msg_encode(req, &c->w) != CA_PE_OK) {
		ca_wr_reset(&c->w);
		return seterr(c, CA_E_BAD_INPUT, "request too large");
	}
	return CA_OK;
}

/* Sends the waiting requests in one write, so one wake-up of the agent
 * serves them all. */
static void
send_reqs(struct cac *c)
{
	/* An agent that refuses us says why and hangs up, perhaps before our
	 * request is written: its reply is still worth reading. */
	(void)write_all(c->fd, c->w.p, c->w.len);
	ca_wr_reset(&c->w);
}

/*
 * Reads the reply to req; an ERROR reply becomes its status code and
 * message. On CA_OK the caller clears *reply, which has the expected type.
 */
static int
get_reply(struct cac *c, const struct ca_msg *req, uint8_t want,
    struct ca_msg *reply)
{
	uint32_t code;
	int r;

	memset(reply, 0, sizeof(*reply));
	if ((r = recv_msg(c, reply)) != CA_OK)
		return r;
	if (reply->type == CA_MSG_ERROR) {
		code = reply->u.error.code;
		seterr(c, (int)code, "%s", reply->u.error.text != NULL &&
		    reply->u.error.text[0] ? reply->u.error.text :
		    ca_status_str(code));
		ca_msg_clear(reply);
		return code == CA_OK ? CA_E_PROTOCOL : (int)code;
	}
	if (reply->type != want || reply->id != req->id) {
		ca_msg_clear(reply);
		return seterr(c, CA_E_PROTOCOL, "unexpected reply from the "
		    "agent");
	}
	return CA_OK;
}

/*
 * Sends req and reads the reply; an ERROR reply becomes its status code and
 * message. On CA_OK the caller clears *reply, which has the expected type.
 */
static int
call(struct cac *c, struct ca_msg *req, uint8_t want, struct ca_msg *reply)
{
	int r;

	memset(reply, 0, sizeof(*reply));
	if ((r = put_req(c, req)) != CA_OK)
		return r;
	send_reqs(c);
	return get_reply(c, req, want, reply);
}

static int
default_path(char *buf, size_t len)
{
	const char *s = getenv("CARDAGENT_SOCK");
	const char *rt = getenv("XDG_RUNTIME_DIR");

	if (s != NULL && s[0] != '\0')
		return snprintf(buf, len, "%s", s) < (int)len ? 0 : -1;
	if (rt != NULL && rt[0] == '/')
		return snprintf(buf, len, "%s/cardagent/agent.sock", rt) <
		    (int)len ? 0 : -1;
	return -1;
}

/* A connected socket, its handshake not yet done. */
static int
open_agent(const char *path, struct cac **out, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	char buf[sizeof(sun.sun_path)];
	struct cac *c;

	*out = NULL;
	if (path == NULL) {
		if (default_path(buf, sizeof(buf)) == -1) {
			snprintf(err, errlen, "no agent: CARDAGENT_SOCK is not "
			    "set");
			return CAC_E_NO_AGENT;
		}
		path = buf;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "socket path too long");
		return CAC_E_NO_AGENT;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return CAC_E_IO;
	}
	ca_wr_init(&c->w, CA_FRAME_HDR + CA_FRAME_MAX);
	if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		snprintf(err, errlen, "no agent at %s: %s", path,
		    strerror(errno));
		cac_close(c);
		return CAC_E_NO_AGENT;
	}
	*out = c;
	return CA_OK;
}

/*
 * Queues the version handshake on a new connection; finish_hello() reads
 * its answer, after anything sent along with it.
 */
static int
put_hello(struct cac *c, struct ca_msg *req)
{
	memset(req, 0, sizeof(*req));
	req->type = CA_MSG_HELLO;
	req->u.hello.vmin = CA_PROTO_VERSION;
	req->u.hello.vmax = CA_PROTO_VERSION;
	req->u.hello.name = (char *)"libcardagent " CARDAGENT_VERSION;
	return put_req(c, req);
}

/* Reads the handshake's answer; on failure c is closed, err says why. */
static int
finish_hello(struct cac *c, const struct ca_msg *req, char *err,
    size_t errlen)
{
	struct ca_msg reply;
	int r;

	if ((r = get_reply(c, req, CA_MSG_HELLO_REPLY, &reply)) != CA_OK) {
		snprintf(err, errlen, "%s", c->err);
		cac_close(c);
		return r == CAC_E_IO ? CAC_E_NO_AGENT : r;
	}
	ca_msg_clear(&reply);
	return CA_OK;
}

/*
 * Connects and, given keys, lists them: the handshake and the request go
 * out in one write, answered in one round trip.
 */
static int
connect_list(const char *path, struct cac **out, struct ca_key **keys,
    size_t *n, char *err, size_t errlen)
{
	struct ca_msg hello, list, reply;
	struct cac *c;
	int r;

	if ((r = open_agent(path, &c, err, errlen)) != CA_OK)
		return r;
	memset(&list, 0, sizeof(list));
	list.type = CA_MSG_LIST_KEYS;
	if ((r = put_hello(c, &hello)) != CA_OK ||
	    (keys != NULL && (r = put_req(c, &list)) != CA_OK)) {
		snprintf(err, errlen, "%s", c->err);
		cac_close(c);
		return r;
	}
	send_reqs(c);
	if ((r = finish_hello(c, &hello, err, errlen)) != CA_OK)
		return r;
	if (keys != NULL) {
		if ((r = get_reply(c, &list, CA_MSG_KEYS_REPLY, &reply)) !=
		    CA_OK) {
			snprintf(err, errlen, "keys: %s", c->err);
			cac_close(c);
			return r;
		}
		*keys = reply.u.list.keys;
		*n = reply.u.list.nkeys;
	}
	*out = c;
	return CA_OK;
}

int
cac_connect(const char *path, struct cac **out, char *err, size_t errlen)
{
	return connect_list(path, out, NULL, NULL, err, errlen);
}

int
cac_connect_list(const char *path, struct cac **out, struct ca_key **keys,
    size_t *n, char *err, size_t errlen)
{
	return connect_list(path, out, keys, n, err, errlen);
}

int
cac_from_fd(int fd, struct cac **out)
{
	struct cac *c;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return CAC_E_IO;
	ca_wr_init(&c->w, CA_FRAME_HDR + CA_FRAME_MAX);
	c->fd = fd;
	*out = c;
	return CA_OK;
}

int
cac_fd(const struct cac *c)
{
	return c->fd;
}

void
cac_close(struct cac *c)
{
	if (c == NULL)
		return;
	if (c->fd != -1)
		close(c->fd);
	ca_wr_free(&c->w);
	if (c->in != NULL) {
		explicit_bzero(c->in, c->incap);
		free(c->in);
	}
	free(c);
}

int
cac_status(struct cac *c, struct ca_token **tokens, size_t *n)
{
	struct ca_msg req = { .type = CA_MSG_STATUS }, reply;
	int r;

	if ((r = call(c, &req, CA_MSG_STATUS_REPLY, &reply)) != CA_OK)
		return r;
	*tokens = reply.u.list.tokens;
	*n = reply.u.list.ntokens;
	return CA_OK;
}

int
cac_watch(struct cac *c, int (*cb)(void *, const struct ca_token *, size_t),
    void *arg)
{
	struct ca_msg req = { .type = CA_MSG_WATCH }, reply;
	int r, stop;

	if ((r = put_req(c, &req)) != CA_OK)
		return r;
	send_reqs(c);
	do {
		if ((r = get_reply(c, &req, CA_MSG_STATUS_REPLY, &reply)) !=
		    CA_OK)
			return r;
		stop = cb(arg, reply.u.list.tokens, reply.u.list.ntokens);
		ca_msg_clear(&reply);
	} while (!stop);
	return CA_OK;
}

void
cac_tokens_free(struct ca_token *t, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		ca_token_clear(&t[i]);
	free(t);
}

int
cac_list_keys(struct cac *c, struct ca_key **keys, size_t *n)
{
	struct ca_msg req = { .type = CA_MSG_LIST_KEYS }, reply;
	int r;

	if ((r = call(c, &req, CA_MSG_KEYS_REPLY, &reply)) != CA_OK)
		return r;
	*keys = reply.u.list.keys;
	*n = reply.u.list.nkeys;
	return CA_OK;
}

void
cac_keys_free(struct ca_key *k, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		ca_key_clear(&k[i]);
	free(k);
}

int
cac_sign(struct cac *c, const char *key_id, const struct cac_sign_params *p,
    const uint8_t *digest, size_t len, uint8_t **sig, size_t *siglen)
{
	struct ca_msg req, reply;
	int r;

	memset(&req, 0, sizeof(req));
	req.type = CA_MSG_SIGN;
	req.u.op.key_id = (char *)key_id;
	req.u.op.alg = p->alg;
	req.u.op.hash = p->hash;
	req.u.op.mgf = p->mgf ? p->mgf : p->hash;
	req.u.op.salt = p->salt == UINT32_MAX ? (uint32_t)len : p->salt;
	req.u.op.data = (uint8_t *)digest;
	req.u.op.len = len;
	if ((r = call(c, &req, CA_MSG_SIGNATURE, &reply)) != CA_OK)
		return r;
	*sig = reply.u.sig.data;
	*siglen = reply.u.sig.len;
	return CA_OK;
}

static int
secret_call(struct cac *c, struct ca_msg *req, struct ca_secret **out)
{
	struct ca_msg reply;
	int r;

	if ((r = call(c, req, CA_MSG_SECRET, &reply)) != CA_OK)
		return r;
	*out = reply.u.secret;
	reply.u.secret = NULL;
	if (*out == NULL)
		return seterr(c, CA_E_PROTOCOL, "empty result from the agent");
	return CA_OK;
}

int
cac_decrypt(struct cac *c, const char *key_id,
    const struct cac_decrypt_params *p, const uint8_t *in, size_t len,
    struct ca_secret **out)
{
	struct ca_msg req;

	memset(&req, 0, sizeof(req));
	req.type = CA_MSG_DECRYPT;
	req.u.op.key_id = (char *)key_id;
	req.u.op.alg = p->alg;
	req.u.op.hash = p->hash;
	req.u.op.mgf = p->mgf ? p->mgf : p->hash;
	req.u.op.label = (uint8_t *)p->label;
	req.u.op.label_len = p->label_len;
	req.u.op.data = (uint8_t *)in;
	req.u.op.len = len;
	return secret_call(c, &req, out);
}

int
cac_derive(struct cac *c, const char *key_id, const uint8_t *point,
    size_t len, struct ca_secret **out)
{
	struct ca_msg req;

	memset(&req, 0, sizeof(req));
	req.type = CA_MSG_DERIVE;
	req.u.op.key_id = (char *)key_id;
	req.u.op.alg = CA_ALG_ECDH;
	req.u.op.data = (uint8_t *)point;
	req.u.op.len = len;
	return secret_call(c, &req, out);
}

int
cac_login(struct cac *c, const char *token_id, const struct ca_secret *pin)
{
	struct ca_msg req, reply;
	int r;

	memset(&req, 0, sizeof(req));
	req.type = CA_MSG_LOGIN;
	req.u.login.token_id = (char *)(token_id ? token_id : "");
	req.u.login.pin = (struct ca_secret *)pin;
	if ((r = call(c, &req, CA_MSG_OK, &reply)) != CA_OK)
		return r;
	ca_msg_clear(&reply);
	return CA_OK;
}

int
cac_lock(struct cac *c, const char *token_id)
{
	struct ca_msg req, reply;
	int r;

	memset(&req, 0, sizeof(req));
	req.type = CA_MSG_LOCK;
	req.u.login.token_id = (char *)(token_id ? token_id : "");
	if ((r = call(c, &req, CA_MSG_OK, &reply)) != CA_OK)
		return r;
	ca_msg_clear(&reply);
	return CA_OK;
}
