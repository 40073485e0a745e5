/*
 * store.c: an OSSL_STORE loader for agent keys. "cardagent:SEL" names a key
 * by anything cac_select_key() takes (a key id, an e-mail address);
 * "pkcs11:..." is an RFC 7512 URI matched against the agent's keys. A load
 * yields the key, then its certificate if the agent has one. A program
 * that has listed the agent's keys already passes the list
 * (CAC_STORE_PARAM_KEYS), and the store selects from it without asking
 * the agent again; it may pass its connection too (CAC_STORE_PARAM_FD).
 * The connection the store used goes on with the key, for its first
 * operation.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/params.h>
#include <openssl/store.h>

#include "keys.h"

#define SCHEME "cardagent:"

struct cas {
	struct cap_ctx *pc;
	char *sel;
	int expect;		/* OSSL_STORE_INFO_*, 0 = anything */
	int state;		/* 0: key next, 1: certificate next, 2: done */
	struct cak *key;
	struct ca_msg given;	/* the caller's key list, if type is set */
	struct cac *conn;	/* the caller's connection, or the store's */
};

static void *
st_open(void *provctx, const char *uri)
{
	struct cap_ctx *pc = provctx;
	struct cas *st;
	const char *sel = uri;

	if (strncmp(uri, SCHEME, strlen(SCHEME)) == 0)
		sel = uri + strlen(SCHEME);
	else if (strncmp(uri, "pkcs11:", strlen("pkcs11:")) != 0)
		return NULL;
	if (*sel == '\0')
		return NULL;
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return NULL;
	st->pc = pc;
	if ((st->sel = strdup(sel)) == NULL) {
		free(st);
		return NULL;
	}
	return st;
}

static const OSSL_PARAM settable[] = {
	OSSL_PARAM_int(OSSL_STORE_PARAM_EXPECT, NULL),
	OSSL_PARAM_octet_string(CAC_STORE_PARAM_KEYS, NULL, 0),
	OSSL_PARAM_int(CAC_STORE_PARAM_FD, NULL),
	OSSL_PARAM_END
};

static const OSSL_PARAM *
st_settable_ctx_params(void *provctx)
{
	(void)provctx;
	return settable;
}

/*
 * Takes the caller's key list: a KEYS_REPLY frame, decoded as strictly as
 * one from the agent.
 */
static int
set_given_keys(struct cas *st, const OSSL_PARAM *p)
{
	const void *frame;
	size_t len, body;
	enum ca_perr e;

	if (!OSSL_PARAM_get_octet_string_ptr(p, &frame, &len))
		return 0;
	ca_msg_clear(&st->given);
	if ((e = ca_frame_check(frame, len, &body)) == CA_PE_OK &&
	    CA_FRAME_HDR + body != len)
		e = CA_PE_TRAILING;
	if (e == CA_PE_OK)
		e = ca_msg_decode((const uint8_t *)frame + CA_FRAME_HDR, body,
		    &st->given);
	if (e == CA_PE_OK && st->given.type != CA_MSG_KEYS_REPLY) {
		ca_msg_clear(&st->given);
		e = CA_PE_BAD_VALUE;
	}
	if (e != CA_PE_OK) {
		cap_error(st->pc, CAP_R_BAD_PARAM, "%s: %s",
		    CAC_STORE_PARAM_KEYS, ca_perr_str(e));
		return 0;
	}
	return 1;
}

/* Takes a duplicate of the caller's connection to the agent. */
static int
set_given_fd(struct cas *st, const OSSL_PARAM *p)
{
	int fd;

	if (!OSSL_PARAM_get_int(p, &fd))
		return 0;
	if ((fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1) {
		cap_error(st->pc, CAP_R_BAD_PARAM, "%s: %s", CAC_STORE_PARAM_FD,
		    strerror(errno));
		return 0;
	}
	cac_close(st->conn);
	if (cac_from_fd(fd, &st->conn) != CA_OK) {
		close(fd);
		cap_error(st->pc, CAP_R_AGENT, "out of memory");
		return 0;
	}
	return 1;
}

static int
st_set_ctx_params(void *loaderctx, const OSSL_PARAM params[])
{
	struct cas *st = loaderctx;
	const OSSL_PARAM *p;

	p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_EXPECT);
	if (p != NULL && !OSSL_PARAM_get_int(p, &st->expect))
		return 0;
	p = OSSL_PARAM_locate_const(params, CAC_STORE_PARAM_KEYS);
	if (p != NULL && !set_given_keys(st, p))
		return 0;
	p = OSSL_PARAM_locate_const(params, CAC_STORE_PARAM_FD);
	if (p != NULL && !set_given_fd(st, p))
		return 0;
	return 1;
}

/*
 * Finds the key the selector names among the caller's list, else among
 * the agent's. A selector may name several keys (an address names its
 * signing and its decryption key): the first that can sign wins, then one
 * that can decrypt, then one that can derive.
 */
static int
find_key(struct cas *st)
{
	static const uint32_t needs[] = {
		CA_OP_SIGN, CA_OP_DECRYPT, CA_OP_DERIVE
	};
	struct ca_msg listed;
	const struct ca_msg *keys = &st->given;
	char err[256] = "";
	size_t i, idx;
	int r = CA_E_NO_KEY;

	memset(&listed, 0, sizeof(listed));
	if (st->given.type != CA_MSG_KEYS_REPLY) {
		if (st->conn == NULL && !cap_connect(st->pc, &st->conn))
			return 0;
		if ((r = cac_list_keys(st->conn, &listed.u.list.keys,
		    &listed.u.list.nkeys)) != CA_OK) {
			cap_error(st->pc, CAP_R_AGENT, "listing keys: %s",
			    cac_errmsg(st->conn));
			return 0;
		}
		listed.type = CA_MSG_KEYS_REPLY;
		keys = &listed;
	}
	for (i = 0; i < sizeof(needs) / sizeof(needs[0]); i++) {
		r = cac_select_key(keys->u.list.keys, keys->u.list.nkeys,
		    st->sel, needs[i], &idx, err, sizeof(err));
		if (r != CA_E_NOT_ALLOWED)
			break;
	}
	if (r != CA_OK)
		cap_error(st->pc, CAP_R_BAD_URI, "%s: %s", st->sel, err);
	else if ((st->key = cak_from_agent(st->pc,
	    &keys->u.list.keys[idx])) != NULL) {
		cak_give_conn(st->key, st->conn);
		st->conn = NULL;
	}
	ca_msg_clear(&listed);
	return st->key != NULL;
}

static int
yield_key(struct cas *st, OSSL_CALLBACK *cb, void *cbarg)
{
	OSSL_PARAM p[4];
	int type = OSSL_OBJECT_PKEY;
	struct cak *key = st->key;

	p[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &type);
	p[1] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE,
	    key->k.type == CA_KEY_RSA ? (char *)"RSA" : (char *)"EC", 0);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_REFERENCE,
	    &key, sizeof(key));
	p[3] = OSSL_PARAM_construct_end();
	return cb(p, cbarg);
}

static int
yield_cert(struct cas *st, OSSL_CALLBACK *cb, void *cbarg)
{
	OSSL_PARAM p[3];
	int type = OSSL_OBJECT_CERT;

	p[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &type);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_DATA,
	    st->key->k.cert, st->key->k.cert_len);
	p[2] = OSSL_PARAM_construct_end();
	return cb(p, cbarg);
}

static int
st_load(void *loaderctx, OSSL_CALLBACK *object_cb, void *object_cbarg,
    OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
	struct cas *st = loaderctx;

	/* The agent asks for PINs itself. */
	(void)pw_cb;
	(void)pw_cbarg;
	if (st->key == NULL && !find_key(st)) {
		st->state = 2;
		return 0;
	}
	if (st->state == 0) {
		st->state = 1;
		if (st->expect == 0 || st->expect == OSSL_STORE_INFO_PKEY ||
		    st->expect == OSSL_STORE_INFO_PUBKEY)
			return yield_key(st, object_cb, object_cbarg);
	}
	if (st->state == 1) {
		st->state = 2;
		if (st->key->k.cert_len > 0 && (st->expect == 0 ||
		    st->expect == OSSL_STORE_INFO_CERT))
			return yield_cert(st, object_cb, object_cbarg);
	}
	return 0;
}

static int
st_eof(void *loaderctx)
{
	struct cas *st = loaderctx;

	return st->state == 2 || (st->state == 1 &&
	    (st->key->k.cert_len == 0 || (st->expect != 0 &&
	    st->expect != OSSL_STORE_INFO_CERT)));
}

static int
st_close(void *loaderctx)
{
	struct cas *st = loaderctx;

	cak_free(st->key);
	cac_close(st->conn);
	ca_msg_clear(&st->given);
	free(st->sel);
	free(st);
	return 1;
}

const OSSL_DISPATCH cap_store[] = {
	{ OSSL_FUNC_STORE_OPEN, (void (*)(void))st_open },
	{ OSSL_FUNC_STORE_SETTABLE_CTX_PARAMS,
	    (void (*)(void))st_settable_ctx_params },
	{ OSSL_FUNC_STORE_SET_CTX_PARAMS, (void (*)(void))st_set_ctx_params },
	{ OSSL_FUNC_STORE_LOAD, (void (*)(void))st_load },
	{ OSSL_FUNC_STORE_EOF, (void (*)(void))st_eof },
	{ OSSL_FUNC_STORE_CLOSE, (void (*)(void))st_close },
	{ 0, NULL }
};
