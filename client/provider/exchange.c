/*
 * exchange.c: ECDH by the agent. The agent returns the raw shared secret
 * Z; when a KDF is asked for (CMS key agreement asks for the X9.63 KDF),
 * it runs here with another provider's implementation.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "secret.h"
#include "keys.h"
#include "params.h"

struct caecdh {
	struct cap_ctx *pc;
	struct cak *key;
	struct cak *peer;
	int kdf;		/* X9.63 KDF wanted */
	int kdf_hash;
	size_t kdf_outlen;
	unsigned char *ukm;
	size_t ukm_len;
};

static void *
ex_newctx(void *provctx)
{
	struct caecdh *ctx;

	if ((ctx = calloc(1, sizeof(*ctx))) == NULL)
		return NULL;
	ctx->pc = provctx;
	return ctx;
}

static void
ex_freectx(void *vctx)
{
	struct caecdh *ctx = vctx;

	if (ctx == NULL)
		return;
	cak_free(ctx->key);
	cak_free(ctx->peer);
	OPENSSL_free(ctx->ukm);
	free(ctx);
}

static void *
ex_dupctx(void *vctx)
{
	struct caecdh *src = vctx, *dst;

	if ((dst = malloc(sizeof(*dst))) == NULL)
		return NULL;
	*dst = *src;
	if (src->ukm != NULL &&
	    (dst->ukm = OPENSSL_memdup(src->ukm, src->ukm_len)) == NULL) {
		free(dst);
		return NULL;
	}
	if (dst->key != NULL)
		cak_up_ref(dst->key);
	if (dst->peer != NULL)
		cak_up_ref(dst->peer);
	return dst;
}

static int ex_set_ctx_params(void *vctx, const OSSL_PARAM params[]);

static int
ex_init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
	struct caecdh *ctx = vctx;
	struct cak *key = provkey;

	if (!cak_is_private(key) || (key->k.ops & CA_OP_DERIVE) == 0) {
		cap_error(ctx->pc, CAP_R_NOT_PRIVATE,
		    "the key cannot derive through cardagent");
		return 0;
	}
	cak_up_ref(key);
	cak_free(ctx->key);
	ctx->key = key;
	return ex_set_ctx_params(ctx, params);
}

static int
ex_set_peer(void *vctx, void *provkey)
{
	struct caecdh *ctx = vctx;
	struct cak *peer = provkey;

	if (peer == NULL || peer->pub == NULL)
		return 0;
	cak_up_ref(peer);
	cak_free(ctx->peer);
	ctx->peer = peer;
	return 1;
}

/* A DERIVE request, for cak_call(). */
struct derive_req {
	const char *key_id;
	const unsigned char *point;
	size_t len;
	struct ca_secret *z;
};

static int
derive_req(struct cac *c, void *arg)
{
	struct derive_req *q = arg;

	return cac_derive(c, q->key_id, q->point, q->len, &q->z);
}

/* Z, the field-sized raw secret, from the agent. */
static struct ca_secret *
agent_derive(struct caecdh *ctx)
{
	struct derive_req q = { ctx->key->k.id, NULL, 0, NULL };
	unsigned char *point = NULL;
	char err[512];
	int r;

	q.len = EVP_PKEY_get1_encoded_public_key(ctx->peer->pub, &point);
	if (q.len == 0) {
		cap_error(ctx->pc, CAP_R_OPENSSL, "cannot encode the peer key");
		return NULL;
	}
	q.point = point;
	if ((r = cak_call(ctx->key, derive_req, &q, err, sizeof(err))) !=
	    CA_OK)
		cap_error(ctx->pc, r == CAC_E_NO_AGENT ? CAP_R_NO_AGENT :
		    CAP_R_AGENT, "deriving with %s: %s", ctx->key->k.label,
		    err);
	OPENSSL_free(point);
	return q.z;
}

static int
x963_kdf(struct caecdh *ctx, const struct ca_secret *z, unsigned char *out,
    size_t outlen)
{
	OSSL_PARAM p[4], *q = p;
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	int ok = 0;

	*q++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
	    (char *)ca_hash_name((uint8_t)ctx->kdf_hash), 0);
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
	    z->data, z->len);
	if (ctx->ukm != NULL)
		*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
		    ctx->ukm, ctx->ukm_len);
	*q = OSSL_PARAM_construct_end();
	if ((kdf = EVP_KDF_fetch(ctx->pc->libctx, OSSL_KDF_NAME_X963KDF,
	    CAP_PROPQ)) == NULL ||
	    (kctx = EVP_KDF_CTX_new(kdf)) == NULL ||
	    EVP_KDF_derive(kctx, out, outlen, p) <= 0)
		cap_error(ctx->pc, CAP_R_OPENSSL, "X9.63 KDF failed");
	else
		ok = 1;
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return ok;
}

static int
ex_derive(void *vctx, unsigned char *secret, size_t *secretlen,
    size_t outlen)
{
	struct caecdh *ctx = vctx;
	struct ca_secret *z;
	size_t need;
	int ok = 0;

	need = ctx->kdf ? ctx->kdf_outlen : (ctx->key->k.bits + 7) / 8;
	if (secret == NULL) {
		*secretlen = need;
		return 1;
	}
	if (ctx->peer == NULL || outlen < need || need == 0 ||
	    (ctx->kdf && ctx->kdf_hash == CA_HASH_NONE)) {
		cap_error(ctx->pc, CAP_R_BAD_PARAM, "no peer key, no KDF "
		    "digest or no room for the secret");
		return 0;
	}
	if ((z = agent_derive(ctx)) == NULL)
		return 0;
	if (ctx->kdf)
		ok = x963_kdf(ctx, z, secret, need);
	else if (z->len <= outlen) {
		memcpy(secret, z->data, z->len);
		need = z->len;
		ok = 1;
	}
	if (ok)
		*secretlen = need;
	ca_secret_free(z);
	return ok;
}

static int
ex_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
	struct caecdh *ctx = vctx;
	const OSSL_PARAM *p;
	const char *s = NULL;
	void *ukm = NULL;
	size_t len = 0;
	int mode;

	if (params == NULL)
		return 1;
	if ((p = OSSL_PARAM_locate_const(params,
	    OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE)) != NULL) {
		/* Prime curves have cofactor 1: both modes are one. */
		if (!OSSL_PARAM_get_int(p, &mode))
			return 0;
	}
	if ((p = OSSL_PARAM_locate_const(params,
	    OSSL_EXCHANGE_PARAM_KDF_TYPE)) != NULL) {
		if (!OSSL_PARAM_get_utf8_string_ptr(p, &s))
			return 0;
		if (*s == '\0')
			ctx->kdf = 0;
		else if (strcasecmp(s, OSSL_KDF_NAME_X963KDF) == 0)
			ctx->kdf = 1;
		else {
			cap_error(ctx->pc, CAP_R_BAD_PARAM, "KDF %s is not "
			    "supported", s);
			return 0;
		}
	}
	if ((p = OSSL_PARAM_locate_const(params,
	    OSSL_EXCHANGE_PARAM_KDF_DIGEST)) != NULL &&
	    !cap_get_hash(ctx->pc, p, &ctx->kdf_hash))
		return 0;
	if ((p = OSSL_PARAM_locate_const(params,
	    OSSL_EXCHANGE_PARAM_KDF_OUTLEN)) != NULL &&
	    !OSSL_PARAM_get_size_t(p, &ctx->kdf_outlen))
		return 0;
	if ((p = OSSL_PARAM_locate_const(params,
	    OSSL_EXCHANGE_PARAM_KDF_UKM)) != NULL) {
		if (!OSSL_PARAM_get_octet_string(p, &ukm, 0, &len))
			return 0;
		OPENSSL_free(ctx->ukm);
		ctx->ukm = ukm;
		ctx->ukm_len = len;
	}
	return 1;
}

static int
ex_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
	struct caecdh *ctx = vctx;
	OSSL_PARAM *p;

	if ((p = OSSL_PARAM_locate(params,
	    OSSL_EXCHANGE_PARAM_KDF_TYPE)) != NULL &&
	    !OSSL_PARAM_set_utf8_string(p, ctx->kdf ?
	    OSSL_KDF_NAME_X963KDF : ""))
		return 0;
	if ((p = OSSL_PARAM_locate(params,
	    OSSL_EXCHANGE_PARAM_KDF_DIGEST)) != NULL &&
	    ctx->kdf_hash != CA_HASH_NONE && !cap_set_hash(p, ctx->kdf_hash))
		return 0;
	if ((p = OSSL_PARAM_locate(params,
	    OSSL_EXCHANGE_PARAM_KDF_OUTLEN)) != NULL &&
	    !OSSL_PARAM_set_size_t(p, ctx->kdf_outlen))
		return 0;
	return 1;
}

static const OSSL_PARAM settable[] = {
	OSSL_PARAM_int(OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE, NULL),
	OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_TYPE, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST, NULL, 0),
	OSSL_PARAM_size_t(OSSL_EXCHANGE_PARAM_KDF_OUTLEN, NULL),
	OSSL_PARAM_octet_string(OSSL_EXCHANGE_PARAM_KDF_UKM, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM gettable[] = {
	OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_TYPE, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST, NULL, 0),
	OSSL_PARAM_size_t(OSSL_EXCHANGE_PARAM_KDF_OUTLEN, NULL),
	OSSL_PARAM_END
};

static const OSSL_PARAM *
ex_settable_ctx_params(void *vctx, void *provctx)
{
	(void)vctx;
	(void)provctx;
	return settable;
}

static const OSSL_PARAM *
ex_gettable_ctx_params(void *vctx, void *provctx)
{
	(void)vctx;
	(void)provctx;
	return gettable;
}

const OSSL_DISPATCH cap_ecdh_exchange[] = {
	{ OSSL_FUNC_KEYEXCH_NEWCTX, (void (*)(void))ex_newctx },
	{ OSSL_FUNC_KEYEXCH_FREECTX, (void (*)(void))ex_freectx },
	{ OSSL_FUNC_KEYEXCH_DUPCTX, (void (*)(void))ex_dupctx },
	{ OSSL_FUNC_KEYEXCH_INIT, (void (*)(void))ex_init },
	{ OSSL_FUNC_KEYEXCH_SET_PEER, (void (*)(void))ex_set_peer },
	{ OSSL_FUNC_KEYEXCH_DERIVE, (void (*)(void))ex_derive },
	{ OSSL_FUNC_KEYEXCH_SET_CTX_PARAMS,
	    (void (*)(void))ex_set_ctx_params },
	{ OSSL_FUNC_KEYEXCH_SETTABLE_CTX_PARAMS,
	    (void (*)(void))ex_settable_ctx_params },
	{ OSSL_FUNC_KEYEXCH_GET_CTX_PARAMS,
	    (void (*)(void))ex_get_ctx_params },
	{ OSSL_FUNC_KEYEXCH_GETTABLE_CTX_PARAMS,
	    (void (*)(void))ex_gettable_ctx_params },
	{ 0, NULL }
};
