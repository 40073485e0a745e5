#define _DEFAULT_SOURCE
#include "msg.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "secret.h"

const char *
ca_status_str(uint32_t s)
{
	switch (s) {
	case CA_OK:
		return "success";
	case CA_E_PROTOCOL:
		return "protocol error";
	case CA_E_VERSION:
		return "no common protocol version";
	case CA_E_UNSUPPORTED:
		return "not supported";
	case CA_E_NO_KEY:
		return "no such key or token";
	case CA_E_NOT_ALLOWED:
		return "operation not allowed by the key";
	case CA_E_PIN_INCORRECT:
		return "PIN incorrect";
	case CA_E_PIN_LOCKED:
		return "PIN locked";
	case CA_E_PIN_REQUIRED:
		return "PIN required";
	case CA_E_CANCELLED:
		return "cancelled";
	case CA_E_TOKEN_ABSENT:
		return "token not present";
	case CA_E_TOKEN_TIMEOUT:
		return "token did not answer in time";
	case CA_E_TOKEN_FAILED:
		return "token failed";
	case CA_E_BAD_INPUT:
		return "invalid input";
	case CA_E_BUSY:
		return "agent busy";
	case CA_E_INTERNAL:
		return "internal error";
	case CA_E_DENIED:
		return "request denied";
	}
	return "unknown error";
}

static const struct {
	const char *name;
	size_t len;
} hashes[] = {
	[CA_HASH_NONE] = { "none", 0 },
	[CA_HASH_SHA1] = { "sha1", 20 },
	[CA_HASH_SHA224] = { "sha224", 28 },
	[CA_HASH_SHA256] = { "sha256", 32 },
	[CA_HASH_SHA384] = { "sha384", 48 },
	[CA_HASH_SHA512] = { "sha512", 64 },
};

size_t
ca_hash_len(uint8_t h)
{
	return h < sizeof(hashes) / sizeof(hashes[0]) ? hashes[h].len : 0;
}

const char *
ca_hash_name(uint8_t h)
{
	return h < sizeof(hashes) / sizeof(hashes[0]) ? hashes[h].name : NULL;
}

int
ca_hash_from_name(const char *s)
{
	size_t i;

	if (s == NULL)
		return -1;
	for (i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++)
		if (strcasecmp(s, hashes[i].name) == 0)
			return (int)i;
	return -1;
}

enum ca_perr
ca_frame_check(const uint8_t *buf, size_t avail, size_t *body_len)
{
	struct ca_rd r;
	uint32_t n;

	if (avail < CA_FRAME_HDR)
		return CA_PE_INCOMPLETE;
	ca_rd_init(&r, buf, CA_FRAME_HDR);
	(void)ca_rd_u32(&r, &n);
	if (n == 0 || n > CA_FRAME_MAX)
		return CA_PE_TOO_LONG;
	if (avail - CA_FRAME_HDR < n)
		return CA_PE_INCOMPLETE;
	*body_len = n;
	return CA_PE_OK;
}

/*
 * The encoder holds itself to the decoder's caps, so that oversized data
 * fails where it was made rather than as a protocol error at the peer.
 */
static void
put_cap_fail(struct ca_wr *w, enum ca_perr e)
{
	if (w->err == CA_PE_OK)
		w->err = e;
}

static void
put_blob(struct ca_wr *w, const void *p, size_t n, size_t max)
{
	if (n > max)
		put_cap_fail(w, CA_PE_TOO_LONG);
	else
		ca_wr_bytes(w, p, n);
}

static void
put_str(struct ca_wr *w, const char *s)
{
	put_blob(w, s, s != NULL ? strlen(s) : 0, CA_STR_MAX);
}

static void
put_secret(struct ca_wr *w, const struct ca_secret *s, size_t max)
{
	if (s != NULL && s->len > max)
		put_cap_fail(w, CA_PE_TOO_LONG);
	else
		ca_wr_secret(w, s);
}

static void
put_token(struct ca_wr *w, const struct ca_token *t)
{
	put_str(w, t->id);
	put_str(w, t->label);
	put_str(w, t->manufacturer);
	put_str(w, t->model);
	put_str(w, t->serial);
	put_str(w, t->uri);
	put_str(w, t->module);
	ca_wr_u32(w, t->flags);
}

static void
put_key(struct ca_wr *w, const struct ca_key *k)
{
	if (k->type != CA_KEY_RSA && k->type != CA_KEY_EC)
		put_cap_fail(w, CA_PE_BAD_VALUE);
	put_str(w, k->id);
	put_str(w, k->token_id);
	put_str(w, k->label);
	put_str(w, k->uri);
	ca_wr_u8(w, k->type);
	ca_wr_u32(w, k->bits);
	ca_wr_u32(w, k->ops);
	ca_wr_u8(w, k->always_auth);
	put_blob(w, k->ckaid, k->ckaid_len, CA_STR_MAX);
	put_blob(w, k->cert, k->cert_len, CA_CERT_MAX);
	put_blob(w, k->spki, k->spki_len, CA_CERT_MAX);
}

static void
put_list(struct ca_wr *w, const struct ca_msg *m, int tokens, int keys)
{
	size_t i;

	if ((tokens && m->u.list.ntokens > CA_LIST_MAX) ||
	    (keys && m->u.list.nkeys > CA_LIST_MAX))
		put_cap_fail(w, CA_PE_TOO_LONG);
	if (tokens) {
		ca_wr_u32(w, (uint32_t)m->u.list.ntokens);
		for (i = 0; i < m->u.list.ntokens; i++)
			put_token(w, &m->u.list.tokens[i]);
	}
	if (keys) {
		ca_wr_u32(w, (uint32_t)m->u.list.nkeys);
		for (i = 0; i < m->u.list.nkeys; i++)
			put_key(w, &m->u.list.keys[i]);
	}
}

enum ca_perr
ca_msg_encode(const struct ca_msg *m, struct ca_wr *w)
{
	size_t start = w->len, body;
	enum ca_perr e;

	if (w->err != CA_PE_OK)
		return w->err;
	ca_wr_u32(w, 0);
	ca_wr_u8(w, m->type);
	ca_wr_u32(w, m->id);
	switch (m->type) {
	case CA_MSG_HELLO:
		ca_wr_u32(w, m->u.hello.vmin);
		ca_wr_u32(w, m->u.hello.vmax);
		put_str(w, m->u.hello.name);
		break;
	case CA_MSG_HELLO_REPLY:
		ca_wr_u32(w, m->u.hello_reply.version);
		put_str(w, m->u.hello_reply.agent);
		break;
	case CA_MSG_ERROR:
		ca_wr_u32(w, m->u.error.code);
		put_str(w, m->u.error.text);
		break;
	case CA_MSG_SIGN:
	case CA_MSG_DECRYPT:
	case CA_MSG_DERIVE:
		put_str(w, m->u.op.key_id);
		ca_wr_u8(w, m->u.op.alg);
		ca_wr_u8(w, m->u.op.hash);
		ca_wr_u8(w, m->u.op.mgf);
		ca_wr_u32(w, m->u.op.salt);
		put_blob(w, m->u.op.label, m->u.op.label_len, CA_DATA_MAX);
		put_blob(w, m->u.op.data, m->u.op.len, CA_DATA_MAX);
		put_secret(w, m->u.op.pin, CA_PIN_MAX);
		break;
	case CA_MSG_LOGIN:
		put_str(w, m->u.login.token_id);
		put_secret(w, m->u.login.pin, CA_PIN_MAX);
		break;
	case CA_MSG_LOCK:
		put_str(w, m->u.login.token_id);
		break;
	case CA_MSG_STATUS_REPLY:
		put_list(w, m, 1, 0);
		break;
	case CA_MSG_KEYS_REPLY:
		put_list(w, m, 0, 1);
		break;
	case CA_MSG_HOST_INDEX:
		put_list(w, m, 1, 1);
		break;
	case CA_MSG_SIGNATURE:
		put_blob(w, m->u.sig.data, m->u.sig.len, CA_DATA_MAX);
		break;
	case CA_MSG_SECRET:
		put_secret(w, m->u.secret, CA_DATA_MAX);
		break;
	case CA_MSG_STATUS:
	case CA_MSG_LIST_KEYS:
	case CA_MSG_HOST_REFRESH:
	case CA_MSG_HOST_POLL:
	case CA_MSG_WATCH:
	case CA_MSG_OK:
		break;
	default:
		put_cap_fail(w, CA_PE_BAD_VALUE);
		break;
	}
	body = w->len - start - CA_FRAME_HDR;
	if (w->err == CA_PE_OK && body > CA_FRAME_MAX)
		w->err = CA_PE_TOO_LONG;
	if ((e = w->err) != CA_PE_OK) {
		/* Undo the partial frame so the writer stays usable. */
		if (w->len > start)
			explicit_bzero(w->p + start, w->len - start);
		w->len = start;
		w->err = CA_PE_OK;
		return e;
	}
	ca_wr_u32_at(w, start, (uint32_t)body);
	return CA_PE_OK;
}

/* Decoders read as a column of getters; the first failure ends the message. */
#define GET(x) do { if ((e = (x)) != CA_PE_OK) return e; } while (0)

static enum ca_perr
get_token(struct ca_rd *r, struct ca_token *t)
{
	enum ca_perr e;

	GET(ca_rd_str(r, &t->id, CA_STR_MAX));
	GET(ca_rd_str(r, &t->label, CA_STR_MAX));
	GET(ca_rd_str(r, &t->manufacturer, CA_STR_MAX));
	GET(ca_rd_str(r, &t->model, CA_STR_MAX));
	GET(ca_rd_str(r, &t->serial, CA_STR_MAX));
	GET(ca_rd_str(r, &t->uri, CA_STR_MAX));
	GET(ca_rd_str(r, &t->module, CA_STR_MAX));
	GET(ca_rd_u32(r, &t->flags));
	return CA_PE_OK;
}

static enum ca_perr
get_key(struct ca_rd *r, struct ca_key *k)
{
	enum ca_perr e;

	GET(ca_rd_str(r, &k->id, CA_STR_MAX));
	GET(ca_rd_str(r, &k->token_id, CA_STR_MAX));
	GET(ca_rd_str(r, &k->label, CA_STR_MAX));
	GET(ca_rd_str(r, &k->uri, CA_STR_MAX));
	GET(ca_rd_u8(r, &k->type));
	GET(ca_rd_u32(r, &k->bits));
	GET(ca_rd_u32(r, &k->ops));
	GET(ca_rd_u8(r, &k->always_auth));
	GET(ca_rd_bytes_dup(r, &k->ckaid, &k->ckaid_len, CA_STR_MAX));
	GET(ca_rd_bytes_dup(r, &k->cert, &k->cert_len, CA_CERT_MAX));
	GET(ca_rd_bytes_dup(r, &k->spki, &k->spki_len, CA_CERT_MAX));
	if (k->type != CA_KEY_RSA && k->type != CA_KEY_EC)
		return CA_PE_BAD_VALUE;
	return CA_PE_OK;
}

/*
 * Counts are checked against what the remaining bytes could possibly hold
 * before anything is allocated, so a forged count costs nothing.
 */
static enum ca_perr
get_count(struct ca_rd *r, size_t min_item, size_t *n)
{
	uint32_t v;
	enum ca_perr e;

	GET(ca_rd_u32(r, &v));
	if (v > CA_LIST_MAX)
		return CA_PE_TOO_LONG;
	if ((size_t)v * min_item > r->len - r->off)
		return CA_PE_TRUNCATED;
	*n = v;
	return CA_PE_OK;
}

static enum ca_perr
get_list(struct ca_rd *r, struct ca_msg *m, int tokens, int keys)
{
	enum ca_perr e;
	size_t i, n;

	if (tokens) {
		GET(get_count(r, 7 * 4 + 4, &n));
		if (n && (m->u.list.tokens = calloc(n, sizeof(struct ca_token))) == NULL)
			return CA_PE_NOMEM;
		for (i = 0; i < n; i++) {
			m->u.list.ntokens = i + 1;
			GET(get_token(r, &m->u.list.tokens[i]));
		}
	}
	if (keys) {
		GET(get_count(r, 7 * 4 + 1 + 4 + 4 + 1, &n));
		if (n && (m->u.list.keys = calloc(n, sizeof(struct ca_key))) == NULL)
			return CA_PE_NOMEM;
		for (i = 0; i < n; i++) {
			m->u.list.nkeys = i + 1;
			GET(get_key(r, &m->u.list.keys[i]));
		}
	}
	return CA_PE_OK;
}

static enum ca_perr
decode_body(struct ca_rd *r, struct ca_msg *m)
{
	enum ca_perr e;

	GET(ca_rd_u8(r, &m->type));
	GET(ca_rd_u32(r, &m->id));
	switch (m->type) {
	case CA_MSG_HELLO:
		GET(ca_rd_u32(r, &m->u.hello.vmin));
		GET(ca_rd_u32(r, &m->u.hello.vmax));
		GET(ca_rd_str(r, &m->u.hello.name, CA_STR_MAX));
		break;
	case CA_MSG_HELLO_REPLY:
		GET(ca_rd_u32(r, &m->u.hello_reply.version));
		GET(ca_rd_str(r, &m->u.hello_reply.agent, CA_STR_MAX));
		break;
	case CA_MSG_ERROR:
		GET(ca_rd_u32(r, &m->u.error.code));
		GET(ca_rd_str(r, &m->u.error.text, CA_STR_MAX));
		break;
	case CA_MSG_SIGN:
	case CA_MSG_DECRYPT:
	case CA_MSG_DERIVE:
		GET(ca_rd_str(r, &m->u.op.key_id, CA_STR_MAX));
		GET(ca_rd_u8(r, &m->u.op.alg));
		GET(ca_rd_u8(r, &m->u.op.hash));
		GET(ca_rd_u8(r, &m->u.op.mgf));
		GET(ca_rd_u32(r, &m->u.op.salt));
		GET(ca_rd_bytes_dup(r, &m->u.op.label, &m->u.op.label_len,
		    CA_DATA_MAX));
		GET(ca_rd_bytes_dup(r, &m->u.op.data, &m->u.op.len,
		    CA_DATA_MAX));
		GET(ca_rd_secret(r, &m->u.op.pin, CA_PIN_MAX));
		break;
	case CA_MSG_LOGIN:
		GET(ca_rd_str(r, &m->u.login.token_id, CA_STR_MAX));
		GET(ca_rd_secret(r, &m->u.login.pin, CA_PIN_MAX));
		break;
	case CA_MSG_LOCK:
		GET(ca_rd_str(r, &m->u.login.token_id, CA_STR_MAX));
		break;
	case CA_MSG_STATUS_REPLY:
		GET(get_list(r, m, 1, 0));
		break;
	case CA_MSG_KEYS_REPLY:
		GET(get_list(r, m, 0, 1));
		break;
	case CA_MSG_HOST_INDEX:
		GET(get_list(r, m, 1, 1));
		break;
	case CA_MSG_SIGNATURE:
		GET(ca_rd_bytes_dup(r, &m->u.sig.data, &m->u.sig.len,
		    CA_DATA_MAX));
		break;
	case CA_MSG_SECRET:
		GET(ca_rd_secret(r, &m->u.secret, CA_DATA_MAX));
		break;
	case CA_MSG_STATUS:
	case CA_MSG_LIST_KEYS:
	case CA_MSG_HOST_REFRESH:
	case CA_MSG_HOST_POLL:
	case CA_MSG_WATCH:
	case CA_MSG_OK:
		break;
	default:
		return CA_PE_BAD_VALUE;
	}
	return ca_rd_end(r);
}

#undef GET

enum ca_perr
ca_msg_decode(const uint8_t *body, size_t len, struct ca_msg *m)
{
	struct ca_rd r;
	enum ca_perr e;

	memset(m, 0, sizeof(*m));
	ca_rd_init(&r, body, len);
	if ((e = decode_body(&r, m)) != CA_PE_OK)
		ca_msg_clear(m);
	return e;
}

void
ca_token_clear(struct ca_token *t)
{
	free(t->id);
	free(t->label);
	free(t->manufacturer);
	free(t->model);
	free(t->serial);
	free(t->uri);
	free(t->module);
	memset(t, 0, sizeof(*t));
}

void
ca_key_clear(struct ca_key *k)
{
	free(k->id);
	free(k->token_id);
	free(k->label);
	free(k->uri);
	free(k->ckaid);
	free(k->cert);
	free(k->spki);
	memset(k, 0, sizeof(*k));
}

void
ca_msg_clear(struct ca_msg *m)
{
	size_t i;

	switch (m->type) {
	case CA_MSG_HELLO:
		free(m->u.hello.name);
		break;
	case CA_MSG_HELLO_REPLY:
		free(m->u.hello_reply.agent);
		break;
	case CA_MSG_ERROR:
		free(m->u.error.text);
		break;
	case CA_MSG_SIGN:
	case CA_MSG_DECRYPT:
	case CA_MSG_DERIVE:
		free(m->u.op.key_id);
		free(m->u.op.label);
		if (m->u.op.data != NULL)
			explicit_bzero(m->u.op.data, m->u.op.len);
		free(m->u.op.data);
		ca_secret_free(m->u.op.pin);
		break;
	case CA_MSG_LOGIN:
	case CA_MSG_LOCK:
		free(m->u.login.token_id);
		ca_secret_free(m->u.login.pin);
		break;
	case CA_MSG_STATUS_REPLY:
	case CA_MSG_KEYS_REPLY:
	case CA_MSG_HOST_INDEX:
		for (i = 0; i < m->u.list.ntokens; i++)
			ca_token_clear(&m->u.list.tokens[i]);
		for (i = 0; i < m->u.list.nkeys; i++)
			ca_key_clear(&m->u.list.keys[i]);
		free(m->u.list.tokens);
		free(m->u.list.keys);
		break;
	case CA_MSG_SIGNATURE:
		free(m->u.sig.data);
		break;
	case CA_MSG_SECRET:
		ca_secret_free(m->u.secret);
		break;
	default:
		break;
	}
	memset(m, 0, sizeof(*m));
}

static char *
dupstr(const char *s, int *fail)
{
	char *d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		*fail = 1;
	return d;
}

static uint8_t *
dupmem(const uint8_t *p, size_t n, int *fail)
{
	uint8_t *d;

	if (p == NULL || n == 0)
		return NULL;
	if ((d = malloc(n)) == NULL) {
		*fail = 1;
		return NULL;
	}
	memcpy(d, p, n);
	return d;
}

enum ca_perr
ca_token_copy(struct ca_token *d, const struct ca_token *s)
{
	int fail = 0;

	d->id = dupstr(s->id, &fail);
	d->label = dupstr(s->label, &fail);
	d->manufacturer = dupstr(s->manufacturer, &fail);
	d->model = dupstr(s->model, &fail);
	d->serial = dupstr(s->serial, &fail);
	d->uri = dupstr(s->uri, &fail);
	d->module = dupstr(s->module, &fail);
	d->flags = s->flags;
	if (fail) {
		ca_token_clear(d);
		return CA_PE_NOMEM;
	}
	return CA_PE_OK;
}

enum ca_perr
ca_key_copy(struct ca_key *d, const struct ca_key *s)
{
	int fail = 0;

	*d = *s;
	d->id = dupstr(s->id, &fail);
	d->token_id = dupstr(s->token_id, &fail);
	d->label = dupstr(s->label, &fail);
	d->uri = dupstr(s->uri, &fail);
	d->ckaid = dupmem(s->ckaid, s->ckaid_len, &fail);
	d->cert = dupmem(s->cert, s->cert_len, &fail);
	d->spki = dupmem(s->spki, s->spki_len, &fail);
	if (fail) {
		ca_key_clear(d);
		return CA_PE_NOMEM;
	}
	return CA_PE_OK;
}
