#define _GNU_SOURCE
#include "chan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Output is bounded too: a peer that stops reading is cut off. */
#define CHAN_OUT_MAX (4u * (CA_FRAME_HDR + CA_FRAME_MAX))

void
chan_init(struct chan *c, int fd)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	ca_wr_init(&c->out, CHAN_OUT_MAX);
}

/*
 * Only the first inlen bytes of the input buffer ever hold what the peer
 * sent (chan_next wipes what it consumes), so only they are wiped: a
 * client that announces a frame at the cap and sends a byte of it must
 * not make the agent touch the whole buffer.
 */
void
chan_free(struct chan *c)
{
	if (c->in != NULL) {
		explicit_bzero(c->in, c->inlen);
		free(c->in);
	}
	ca_wr_free(&c->out);
	if (c->fd != -1)
		close(c->fd);
	c->in = NULL;
	c->inlen = c->incap = 0;
	c->fd = -1;
}

/* How many bytes the buffer must be able to hold for the frame under way. */
static size_t
want_bytes(const struct chan *c)
{
	size_t body;
	enum ca_perr e = ca_frame_check(c->in, c->inlen, &body);

	if (e == CA_PE_OK)
		return CA_FRAME_HDR + body;
	if (c->inlen >= CA_FRAME_HDR && e == CA_PE_INCOMPLETE) {
		body = (size_t)c->in[0] << 24 | (size_t)c->in[1] << 16 |
		    (size_t)c->in[2] << 8 | c->in[3];
		return CA_FRAME_HDR + body;
	}
	return CA_FRAME_HDR + 4096;
}

static int
grow(struct chan *c, size_t need)
{
	size_t ncap = c->incap ? c->incap : 4096;
	uint8_t *n;

	while (ncap < need)
		ncap *= 2;
	if (ncap > CA_FRAME_HDR + CA_FRAME_MAX)
		ncap = CA_FRAME_HDR + CA_FRAME_MAX;
	if (ncap <= c->incap)
		return 0;
	if ((n = malloc(ncap)) == NULL)
		return -1;
	if (c->in != NULL) {
		memcpy(n, c->in, c->inlen);
		explicit_bzero(c->in, c->inlen);
		free(c->in);
	}
	c->in = n;
	c->incap = ncap;
	return 0;
}

int
chan_read(struct chan *c)
{
	ssize_t r;
	size_t want;

	want = want_bytes(c);
	if (want > CA_FRAME_HDR + CA_FRAME_MAX)
		return 1; /* oversized: chan_next reports it */
	if (want > c->incap && grow(c, want) == -1)
		return -1;
	if (c->inlen == c->incap)
		return 1;
	r = read(c->fd, c->in + c->inlen, c->incap - c->inlen);
	if (r == 0)
		return 0;
	if (r < 0)
		return (errno == EAGAIN || errno == EINTR) ? 1 : -1;
	c->inlen += (size_t)r;
	return 1;
}

enum ca_perr
chan_next(struct chan *c, struct ca_msg *m)
{
	size_t body, total;
	enum ca_perr e;

	if ((e = ca_frame_check(c->in, c->inlen, &body)) != CA_PE_OK)
		return e;
	e = ca_msg_decode(c->in + CA_FRAME_HDR, body, m);
	total = CA_FRAME_HDR + body;
	memmove(c->in, c->in + total, c->inlen - total);
	explicit_bzero(c->in + c->inlen - total, total);
	c->inlen -= total;
	return e;
}

enum ca_perr
chan_send(struct chan *c, const struct ca_msg *m)
{
	return ca_msg_encode(m, &c->out);
}

int
chan_flush(struct chan *c)
{
	ssize_t r;

	while (c->out.len > 0) {
		r = send(c->fd, c->out.p, c->out.len, MSG_NOSIGNAL);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 1;
			return -1;
		}
		ca_wr_consume(&c->out, (size_t)r);
	}
	return 0;
}

int
chan_pending(const struct chan *c)
{
	return c->out.len > 0;
}
