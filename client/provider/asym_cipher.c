/*
 * asym_cipher.c: RSA decryption (PKCS#1 v1.5 and OAEP) by the agent.
 * Encryption needs no private key and is left to the other providers.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/rsa.h>

#include "secret.h"
#include "keys.h"
#include "params.h"

struct cadec {
	struct cap_ctx *pc;
	struct cak *key;
	int pad;	/* RSA_PKCS1_PADDING or RSA_PKCS1_OAEP_PADDING */
	int hash;	/* OAEP hash */
	int mgf;	/* OAEP MGF1 hash; NONE: the same as hash */
	unsigned char *label;
	size_t label_len;
};

static void *
dec_newctx(void *provctx)
{
	struct cadec *ctx;

	if ((ctx = calloc(1, sizeof(*ctx))) == NULL)
		return NULL;
	ctx->pc = provctx;
	ctx->pad = RSA_PKCS1_PADDING;
	ctx->hash = CA_HASH_SHA1;	/* RFC 8017's default */
	return ctx;
}

static void
dec_freectx(void *vctx)
{
	struct cadec *ctx = vctx;

	if (ctx == NULL)
		return;
	cak_free(ctx->key);
	OPENSSL_free(ctx->label);
	free(ctx);
}

static void *
dec_dupctx(void *vctx)
{
	struct cadec *src = vctx, *dst;

	if ((dst = malloc(sizeof(*dst))) == NULL)
		return NULL;
	*dst = *src;
	if (src->label != NULL &&
	    (dst->label = OPENSSL_memdup(src->label, src->label_len)) == NULL) {
		free(dst);
		return NULL;
	}
	if (dst->key != NULL)
		cak_up_ref(dst->key);
	return dst;
}

static int dec_set_ctx_params(void *vctx, const OSSL_PARAM params[]);

static int
dec_init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
	struct cadec *ctx = vctx;
	struct cak *key = provkey;

	if (!cak_is_private(key) || (key->k.ops & CA_OP_DECRYPT) == 0) {
		cap_error(ctx->pc, CAP_R_NOT_PRIVATE,
		    "the key cannot decrypt through cardagent");
		return 0;
	}
	cak_up_ref(key);
	cak_free(ctx->key);
	ctx->key = key;
	return dec_set_ctx_params(ctx, params);
}

/* A DECRYPT request, for cak_call(). */
struct decrypt_req {
	const char *key_id;
	const struct cac_decrypt_params *p;
	const unsigned char *in;
	size_t inlen;
	struct ca_secret *out;
};

static int
decrypt_req(struct cac *c, void *arg)
{
	struct decrypt_req *q = arg;

	return cac_decrypt(c, q->key_id, q->p, q->in, q->inlen, &q->out);
}

static int
dec_decrypt(void *vctx, unsigned char *out, size_t *outlen, size_t outsize,
    const unsigned char *in, size_t inlen)
{
	struct cadec *ctx = vctx;
	struct cac_decrypt_params p = { 0 };
	struct decrypt_req q = { ctx->key->k.id, &p, in, inlen, NULL };
	char err[512];
	int r, ok = 0;

	if (out == NULL) {
		*outlen = cak_size(ctx->key);
		return 1;
	}
	if (ctx->pad == RSA_PKCS1_OAEP_PADDING) {
		p.alg = CA_ALG_RSA_OAEP;
		p.hash = (uint8_t)ctx->hash;
		p.mgf = (uint8_t)ctx->mgf;
		p.label = ctx->label;
		p.label_len = ctx->label_len;
	} else
		p.alg = CA_ALG_RSA_PKCS1;
	if ((r = cak_call(ctx->key, decrypt_req, &q, err, sizeof(err))) !=
	    CA_OK) {
		cap_error(ctx->pc, r == CAC_E_NO_AGENT ? CAP_R_NO_AGENT :
		    CAP_R_AGENT, "decrypting with %s: %s", ctx->key->k.label,
		    err);
		return 0;
	}
	if (q.out->len > outsize) {
		cap_error(ctx->pc, CAP_R_AGENT, "plaintext of %zu bytes does "
		    "not fit in %zu", q.out->len, outsize);
		goto out;
	}
	memcpy(out, q.out->data, q.out->len);
	*outlen = q.out->len;
	ok = 1;
out:
	ca_secret_free(q.out);
	return ok;
}

static int
dec_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
	struct cadec *ctx = vctx;
	OSSL_PARAM *p;

	if ((p = OSSL_PARAM_locate(params,
	    OSSL_ASYM_CIPHER_PARAM_PAD_MODE)) != NULL &&
	    !cap_set_pad(p, ctx->pad))
		return 0;
	if ((p = OSSL_PARAM_locate(params,
	    OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST)) != NULL &&
	    !cap_set_hash(p, ctx->hash))
		return 0;
	if ((p = OSSL_PARAM_locate(params,
	    OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST)) != NULL &&
	    !cap_set_hash(p, ctx->mgf != CA_HASH_NONE ? ctx->mgf : ctx->hash))
		return 0;
	if ((p = OSSL_PARAM_locate(params,
	    OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL)) != NULL &&
	    !OSSL_PARAM_set_octet_ptr(p, ctx->label, ctx->label_len))
		return 0;
	return 1;
}

static int
dec_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
	struct cadec *ctx = vctx;
	const OSSL_PARAM *p;
	void *label = NULL;
	size_t len = 0;
	int pad;

	if (params == NULL)
		return 1;
	if ((p = OSSL_PARAM_locate_const(params,
	    OSSL_ASYM_CIPHER_PARAM_PAD_MODE)) != NULL) {
		if (!cap_get_pad(p, &pad) || (pad != RSA_PKCS1_PADDING &&
		    pad != RSA_PKCS1_OAEP_PADDING)) {
			cap_error(ctx->pc, CAP_R_BAD_PARAM,
			    "unsupported padding mode");
			return 0;
		}
		ctx->pad = pad;
	}
	if ((p = OSSL_PARAM_locate_const(params,
	    OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST)) != NULL &&
	    !cap_get_hash(ctx->pc, p, &ctx->hash))
		return 0;
	if ((p = OSSL_PARAM_locate_const(params,
	    OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST)) != NULL &&
	    !cap_get_hash(ctx->pc, p, &ctx->mgf))
		return 0;
	if ((p = OSSL_PARAM_locate_const(params,
	    OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL)) != NULL) {
		if (!OSSL_PARAM_get_octet_string(p, &label, 0, &len))
			return 0;
		OPENSSL_free(ctx->label);
		ctx->label = label;
		ctx->label_len = len;
	}
	return 1;
}

static const OSSL_PARAM gettable[] = {
	OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, NULL, 0),
	OSSL_PARAM_octet_ptr(OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM settable[] = {
	OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST_PROPS,
	    NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM *
dec_gettable_ctx_params(void *vctx, void *provctx)
{
	(void)vctx;
	(void)provctx;
	return gettable;
}

static const OSSL_PARAM *
dec_settable_ctx_params(void *vctx, void *provctx)
{
	(void)vctx;
	(void)provctx;
	return settable;
}

const OSSL_DISPATCH cap_rsa_cipher[] = {
	{ OSSL_FUNC_ASYM_CIPHER_NEWCTX, (void (*)(void))dec_newctx },
	{ OSSL_FUNC_ASYM_CIPHER_FREECTX, (void (*)(void))dec_freectx },
	{ OSSL_FUNC_ASYM_CIPHER_DUPCTX, (void (*)(void))dec_dupctx },
	{ OSSL_FUNC_ASYM_CIPHER_DECRYPT_INIT, (void (*)(void))dec_init },
	{ OSSL_FUNC_ASYM_CIPHER_DECRYPT, (void (*)(void))dec_decrypt },
	{ OSSL_FUNC_ASYM_CIPHER_GET_CTX_PARAMS,
	    (void (*)(void))dec_get_ctx_params },
	{ OSSL_FUNC_ASYM_CIPHER_GETTABLE_CTX_PARAMS,
	    (void (*)(void))dec_gettable_ctx_params },
	{ OSSL_FUNC_ASYM_CIPHER_SET_CTX_PARAMS,
	    (void (*)(void))dec_set_ctx_params },
	{ OSSL_FUNC_ASYM_CIPHER_SETTABLE_CTX_PARAMS,
	    (void (*)(void))dec_settable_ctx_params },
	{ 0, NULL }
};
