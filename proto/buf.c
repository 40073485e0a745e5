#define _DEFAULT_SOURCE
#include "buf.h"

#include <stdlib.h>
#include <string.h>

#include "secret.h"

const char *
ca_perr_str(enum ca_perr e)
{
	switch (e) {
	case CA_PE_OK:
		return "success";
	case CA_PE_INCOMPLETE:
		return "incomplete frame";
	case CA_PE_TRUNCATED:
		return "truncated message";
	case CA_PE_TOO_LONG:
		return "length exceeds limit";
	case CA_PE_BAD_VALUE:
		return "invalid field value";
	case CA_PE_TRAILING:
		return "trailing bytes after message";
	case CA_PE_NOMEM:
		return "out of memory";
	}
	return "unknown codec error";
}

void
ca_rd_init(struct ca_rd *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
}

/* The single place where a read is checked against the end. */
static enum ca_perr
rd_take(struct ca_rd *r, size_t n, const uint8_t **p)
{
	if (n > r->len - r->off)
		return CA_PE_TRUNCATED;
	*p = r->p + r->off;
	r->off += n;
	return CA_PE_OK;
}

enum ca_perr
ca_rd_u8(struct ca_rd *r, uint8_t *v)
{
	const uint8_t *p;
	enum ca_perr e;

	if ((e = rd_take(r, 1, &p)) != CA_PE_OK)
		return e;
	*v = p[0];
	return CA_PE_OK;
}

enum ca_perr
ca_rd_u16(struct ca_rd *r, uint16_t *v)
{
	const uint8_t *p;
	enum ca_perr e;

	if ((e = rd_take(r, 2, &p)) != CA_PE_OK)
		return e;
	*v = (uint16_t)((p[0] << 8) | p[1]);
	return CA_PE_OK;
}

enum ca_perr
ca_rd_u32(struct ca_rd *r, uint32_t *v)
{
	const uint8_t *p;
	enum ca_perr e;

	if ((e = rd_take(r, 4, &p)) != CA_PE_OK)
		return e;
	*v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
	return CA_PE_OK;
}

enum ca_perr
ca_rd_bytes(struct ca_rd *r, const uint8_t **p, size_t *len, size_t max)
{
	uint32_t n;
	enum ca_perr e;
	size_t save = r->off;

	if ((e = ca_rd_u32(r, &n)) != CA_PE_OK)
		return e;
	if (n > max) {
		r->off = save;
		return CA_PE_TOO_LONG;
	}
	if ((e = rd_take(r, n, p)) != CA_PE_OK) {
		r->off = save;
		return e;
	}
	*len = n;
	return CA_PE_OK;
}

enum ca_perr
ca_rd_bytes_dup(struct ca_rd *r, uint8_t **out, size_t *len, size_t max)
{
	const uint8_t *p;
	size_t n, save = r->off;
	enum ca_perr e;

	if ((e = ca_rd_bytes(r, &p, &n, max)) != CA_PE_OK)
		return e;
	if ((*out = malloc(n ? n : 1)) == NULL) {
		r->off = save;
		return CA_PE_NOMEM;
	}
	if (n)
		memcpy(*out, p, n);
	*len = n;
	return CA_PE_OK;
}

enum ca_perr
ca_rd_str(struct ca_rd *r, char **s, size_t max)
{
	const uint8_t *p;
	size_t n, save = r->off;
	enum ca_perr e;

	if ((e = ca_rd_bytes(r, &p, &n, max)) != CA_PE_OK)
		return e;
	if (memchr(p, '\0', n) != NULL) {
		r->off = save;
		return CA_PE_BAD_VALUE;
	}
	if ((*s = malloc(n + 1)) == NULL) {
		r->off = save;
		return CA_PE_NOMEM;
	}
	memcpy(*s, p, n);
	(*s)[n] = '\0';
	return CA_PE_OK;
}

enum ca_perr
ca_rd_secret(struct ca_rd *r, struct ca_secret **s, size_t max)
{
	const uint8_t *p;
	size_t n, save = r->off;
	enum ca_perr e;

	*s = NULL;
	if ((e = ca_rd_bytes(r, &p, &n, max)) != CA_PE_OK)
		return e;
	if (n == 0)
		return CA_PE_OK;
	if ((*s = ca_secret_dup(p, n)) == NULL) {
		r->off = save;
		return CA_PE_NOMEM;
	}
	return CA_PE_OK;
}

enum ca_perr
ca_rd_end(const struct ca_rd *r)
{
	return r->off == r->len ? CA_PE_OK : CA_PE_TRAILING;
}

void
ca_wr_init(struct ca_wr *w, size_t max)
{
	memset(w, 0, sizeof(*w));
	w->max = max;
}

void
ca_wr_free(struct ca_wr *w)
{
	if (w->p != NULL) {
		explicit_bzero(w->p, w->cap);
		free(w->p);
	}
	w->p = NULL;
	w->len = w->cap = 0;
	w->err = CA_PE_OK;
}

void
ca_wr_reset(struct ca_wr *w)
{
	if (w->p != NULL)
		explicit_bzero(w->p, w->len);
	w->len = 0;
	w->err = CA_PE_OK;
}

/*
 * Grows by hand rather than with realloc(), which could leave a copy of a
 * PIN behind in freed memory.
 */
static uint8_t *
wr_reserve(struct ca_wr *w, size_t n)
{
	size_t want, ncap;
	uint8_t *np;

	if (w->err != CA_PE_OK)
		return NULL;
	if (n > w->max - w->len) {
		w->err = CA_PE_TOO_LONG;
		return NULL;
	}
	want = w->len + n;
	if (want > w->cap) {
		ncap = w->cap ? w->cap : 256;
		while (ncap < want)
			ncap *= 2;
		if (ncap > w->max)
			ncap = w->max;
		if ((np = malloc(ncap)) == NULL) {
			w->err = CA_PE_NOMEM;
			return NULL;
		}
		if (w->p != NULL) {
			memcpy(np, w->p, w->len);
			explicit_bzero(w->p, w->cap);
			free(w->p);
		}
		w->p = np;
		w->cap = ncap;
	}
	np = w->p + w->len;
	w->len += n;
	return np;
}

void
ca_wr_u8(struct ca_wr *w, uint8_t v)
{
	uint8_t *p = wr_reserve(w, 1);

	if (p != NULL)
		p[0] = v;
}

void
ca_wr_u16(struct ca_wr *w, uint16_t v)
{
	uint8_t *p = wr_reserve(w, 2);

	if (p != NULL) {
		p[0] = (uint8_t)(v >> 8);
		p[1] = (uint8_t)v;
	}
}

static void
put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void
ca_wr_u32(struct ca_wr *w, uint32_t v)
{
	uint8_t *p = wr_reserve(w, 4);

	if (p != NULL)
		put_u32(p, v);
}

void
ca_wr_u32_at(struct ca_wr *w, size_t off, uint32_t v)
{
	if (w->err == CA_PE_OK && w->len >= 4 && off <= w->len - 4)
		put_u32(w->p + off, v);
}

void
ca_wr_raw(struct ca_wr *w, const void *p, size_t len)
{
	uint8_t *d;

	if (len == 0)
		return;
	if ((d = wr_reserve(w, len)) != NULL)
		memcpy(d, p, len);
}

void
ca_wr_bytes(struct ca_wr *w, const void *p, size_t len)
{
	if (len > UINT32_MAX) {
		if (w->err == CA_PE_OK)
			w->err = CA_PE_TOO_LONG;
		return;
	}
	ca_wr_u32(w, (uint32_t)len);
	ca_wr_raw(w, p, len);
}

void
ca_wr_str(struct ca_wr *w, const char *s)
{
	ca_wr_bytes(w, s, s != NULL ? strlen(s) : 0);
}

void
ca_wr_secret(struct ca_wr *w, const struct ca_secret *s)
{
	if (s == NULL)
		ca_wr_bytes(w, NULL, 0);
	else
		ca_wr_bytes(w, s->data, s->len);
}

void
ca_wr_consume(struct ca_wr *w, size_t n)
{
	if (n >= w->len) {
		if (w->p != NULL)
			explicit_bzero(w->p, w->len);
		w->len = 0;
		return;
	}
	memmove(w->p, w->p + n, w->len - n);
	explicit_bzero(w->p + w->len - n, n);
	w->len -= n;
}

enum ca_perr
ca_wr_err(const struct ca_wr *w)
{
	return w->err;
}

void
ca_hex(char *out, const uint8_t *p, size_t n, int upper)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0xf];
	}
	out[2 * n] = '\0';
}
