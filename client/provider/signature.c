/*
 * signature.c: RSA (PKCS#1 v1.5, PSS) and ECDSA signatures by the agent.
 * Digests are computed here with another provider's implementation; the
 * agent signs the digest. Verification goes to another provider with the
 * public key: OpenSSL may pick this provider to verify with a public key
 * it imported here (ECDH peers need the import).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "keys.h"
#include "params.h"

struct casig {
	struct cap_ctx *pc;
	struct cak *key;
	int pad;	/* RSA_PKCS1_PADDING or RSA_PKCS1_PSS_PADDING */
	int hash;	/* CA_HASH_*; NONE: guessed from the digest length */
	int mgf;	/* CA_HASH_*; NONE: the same as hash */
	int saltlen;	/* bytes, or RSA_PSS_SALTLEN_* */
	EVP_MD_CTX *mdctx;	/* digest_sign only */
	EVP_PKEY_CTX *vpctx;	/* verify: the other provider's context */
	EVP_MD_CTX *vmdctx;	/* digest_verify: the same, with a digest */
};

static void *
sig_newctx(void *provctx, const char *propq)
{
	struct casig *ctx;

	(void)propq;
	if ((ctx = calloc(1, sizeof(*ctx))) == NULL)
		return NULL;
	ctx->pc = provctx;
	ctx->pad = RSA_PKCS1_PADDING;
	ctx->saltlen = RSA_PSS_SALTLEN_DIGEST;
	return ctx;
}

static void
sig_freectx(void *vctx)
{
	struct casig *ctx = vctx;

	if (ctx == NULL)
		return;
	cak_free(ctx->key);
	EVP_MD_CTX_free(ctx->mdctx);
	EVP_PKEY_CTX_free(ctx->vpctx);
	EVP_MD_CTX_free(ctx->vmdctx);
	free(ctx);
}

/* The verify context in use, if the context verifies. */
static EVP_PKEY_CTX *
verify_pctx(const struct casig *ctx)
{
	if (ctx->vmdctx != NULL)
		return EVP_MD_CTX_get_pkey_ctx(ctx->vmdctx);
	return ctx->vpctx;
}

/* Starts a new operation: nothing of the previous one may leak into it. */
static void
sig_reset(struct casig *ctx)
{
	EVP_MD_CTX_free(ctx->mdctx);
	EVP_PKEY_CTX_free(ctx->vpctx);
	EVP_MD_CTX_free(ctx->vmdctx);
	ctx->mdctx = ctx->vmdctx = NULL;
	ctx->vpctx = NULL;
}

static void *
sig_dupctx(void *vctx)
{
	struct casig *src = vctx, *dst;

	if ((dst = malloc(sizeof(*dst))) == NULL)
		return NULL;
	*dst = *src;
	dst->mdctx = dst->vmdctx = NULL;
	dst->vpctx = NULL;
	if (dst->key != NULL)
		cak_up_ref(dst->key);
	if ((src->mdctx != NULL && ((dst->mdctx = EVP_MD_CTX_new()) == NULL ||
	    !EVP_MD_CTX_copy_ex(dst->mdctx, src->mdctx))) ||
	    (src->vmdctx != NULL &&
	    ((dst->vmdctx = EVP_MD_CTX_new()) == NULL ||
	    !EVP_MD_CTX_copy_ex(dst->vmdctx, src->vmdctx))) ||
	    (src->vpctx != NULL &&
	    (dst->vpctx = EVP_PKEY_CTX_dup(src->vpctx)) == NULL)) {
		sig_freectx(dst);
		return NULL;
	}
	return dst;
}

static int sig_set_ctx_params(void *vctx, const OSSL_PARAM params[]);

static int
sig_init(struct casig *ctx, void *provkey, const OSSL_PARAM params[])
{
	struct cak *key = provkey;

	if (!cak_is_private(key) || (key->k.ops & CA_OP_SIGN) == 0) {
		cap_error(ctx->pc, CAP_R_NOT_PRIVATE,
		    "the key cannot sign through cardagent");
		return 0;
	}
	sig_reset(ctx);
	cak_up_ref(key);
	cak_free(ctx->key);
	ctx->key = key;
	return sig_set_ctx_params(ctx, params);
}

static int
sig_sign_init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
	return sig_init(vctx, provkey, params);
}

/*
 * The PSS salt length in bytes: "max" and "auto" (which a signer cannot
 * detect) are the largest salt the modulus leaves room for.
 */
static uint32_t
pss_salt(const struct casig *ctx, size_t hlen)
{
	size_t emlen = (ctx->key->k.bits - 1 + 7) / 8;

	if (ctx->saltlen >= 0)
		return (uint32_t)ctx->saltlen;
	if (ctx->saltlen == RSA_PSS_SALTLEN_DIGEST)
		return (uint32_t)hlen;
	return emlen >= hlen + 2 ? (uint32_t)(emlen - hlen - 2) : 0;
}

/* A SIGN request, for cak_call(). */
struct sign_req {
	const char *key_id;
	const struct cac_sign_params *p;
	const unsigned char *tbs;
	size_t tbslen;
	uint8_t *sig;
	size_t siglen;
};

static int
sign_req(struct cac *c, void *arg)
{
	struct sign_req *q = arg;

	return cac_sign(c, q->key_id, q->p, q->tbs, q->tbslen, &q->sig,
	    &q->siglen);
}

static int
agent_sign(struct casig *ctx, unsigned char *sig, size_t *siglen,
    size_t sigsize, const unsigned char *tbs, size_t tbslen)
{
	struct cac_sign_params p = { 0 };
	struct sign_req q = { ctx->key->k.id, &p, tbs, tbslen, NULL, 0 };
	char err[512];
	int h, r, ok = 0;

	if ((h = ctx->hash) == CA_HASH_NONE) {
		/* A bare digest: its length says which hash made it. */
		for (h = CA_HASH_SHA1; h <= CA_HASH_SHA512; h++)
			if (ca_hash_len((uint8_t)h) == tbslen)
				break;
	}
	if (h > CA_HASH_SHA512 || ca_hash_len((uint8_t)h) != tbslen) {
		cap_error(ctx->pc, CAP_R_BAD_PARAM, "input of %zu bytes is "
		    "not a digest of a supported hash", tbslen);
		return 0;
	}
	p.hash = (uint8_t)h;
	if (ctx->key->k.type == CA_KEY_EC)
		p.alg = CA_ALG_ECDSA;
	else if (ctx->pad == RSA_PKCS1_PSS_PADDING) {
		p.alg = CA_ALG_RSA_PSS;
		p.mgf = (uint8_t)ctx->mgf;
		p.salt = pss_salt(ctx, tbslen);
	} else
		p.alg = CA_ALG_RSA_PKCS1;
	if ((r = cak_call(ctx->key, sign_req, &q, err, sizeof(err))) !=
	    CA_OK) {
		cap_error(ctx->pc, r == CAC_E_NO_AGENT ? CAP_R_NO_AGENT :
		    CAP_R_AGENT, "signing with %s: %s", ctx->key->k.label, err);
		return 0;
	}
	if (q.siglen > sigsize) {
		cap_error(ctx->pc, CAP_R_AGENT, "signature of %zu bytes does "
		    "not fit in %zu", q.siglen, sigsize);
		goto out;
	}
	memcpy(sig, q.sig, q.siglen);
	*siglen = q.siglen;
	ok = 1;
out:
	free(q.sig);
	return ok;
}

static int
sig_sign(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize,
    const unsigned char *tbs, size_t tbslen)
{
	struct casig *ctx = vctx;

	if (sig == NULL) {
		*siglen = cak_size(ctx->key);
		return 1;
	}
	return agent_sign(ctx, sig, siglen, sigsize, tbs, tbslen);
}

static int
sig_digest_sign_init(void *vctx, const char *mdname, void *provkey,
    const OSSL_PARAM params[])
{
	struct casig *ctx = vctx;
	EVP_MD *md = NULL;
	int ok = 0;

	if (!sig_init(ctx, provkey, params))
		return 0;
	if (mdname == NULL || *mdname == '\0')
		mdname = "SHA256";
	if ((ctx->hash = cap_hash_from_name(ctx->pc, mdname)) ==
	    CA_HASH_NONE) {
		cap_error(ctx->pc, CAP_R_BAD_PARAM, "digest %s is not "
		    "supported", mdname);
		return 0;
	}
	if ((md = EVP_MD_fetch(ctx->pc->libctx, mdname,
	    CAP_PROPQ)) == NULL ||
	    (ctx->mdctx = EVP_MD_CTX_new()) == NULL ||
	    !EVP_DigestInit_ex2(ctx->mdctx, md, NULL)) {
		cap_error(ctx->pc, CAP_R_OPENSSL, "cannot set up %s", mdname);
		goto out;
	}
	ok = 1;
out:
	EVP_MD_free(md);
	return ok;
}

static int
sig_digest_sign_update(void *vctx, const unsigned char *data, size_t len)
{
	struct casig *ctx = vctx;

	return ctx->mdctx != NULL && EVP_DigestUpdate(ctx->mdctx, data, len);
}

static int
sig_digest_sign_final(void *vctx, unsigned char *sig, size_t *siglen,
    size_t sigsize)
{
	struct casig *ctx = vctx;
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;

	if (sig == NULL) {
		*siglen = cak_size(ctx->key);
		return 1;
	}
	if (ctx->mdctx == NULL ||
	    !EVP_DigestFinal_ex(ctx->mdctx, digest, &dlen))
		return 0;
	return agent_sign(ctx, sig, siglen, sigsize, digest, dlen);
}

static int
sig_verify_init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
	struct casig *ctx = vctx;
	struct cak *key = provkey;

	if (key == NULL || key->pub == NULL)
		return 0;
	sig_reset(ctx);
	if ((ctx->vpctx = EVP_PKEY_CTX_new_from_pkey(ctx->pc->libctx,
	    key->pub, CAP_PROPQ)) == NULL ||
	    EVP_PKEY_verify_init(ctx->vpctx) <= 0)
		return 0;
	return EVP_PKEY_CTX_set_params(ctx->vpctx, params) > 0;
}

static int
sig_verify(void *vctx, const unsigned char *sig, size_t siglen,
    const unsigned char *tbs, size_t tbslen)
{
	struct casig *ctx = vctx;

	return ctx->vpctx != NULL &&
	    EVP_PKEY_verify(ctx->vpctx, sig, siglen, tbs, tbslen) > 0;
}

static int
sig_digest_verify_init(void *vctx, const char *mdname, void *provkey,
    const OSSL_PARAM params[])
{
	struct casig *ctx = vctx;
	struct cak *key = provkey;

	if (key == NULL || key->pub == NULL)
		return 0;
	sig_reset(ctx);
	if (mdname != NULL && *mdname == '\0')
		mdname = NULL;
	return (ctx->vmdctx = EVP_MD_CTX_new()) != NULL &&
	    EVP_DigestVerifyInit_ex(ctx->vmdctx, NULL, mdname,
	    ctx->pc->libctx, CAP_PROPQ, key->pub, params) > 0;
}

static int
sig_digest_verify_update(void *vctx, const unsigned char *data, size_t len)
{
	struct casig *ctx = vctx;

	return ctx->vmdctx != NULL &&
	    EVP_DigestVerifyUpdate(ctx->vmdctx, data, len) > 0;
}

static int
sig_digest_verify_final(void *vctx, const unsigned char *sig, size_t siglen)
{
	struct casig *ctx = vctx;

	return ctx->vmdctx != NULL &&
	    EVP_DigestVerifyFinal(ctx->vmdctx, sig, siglen) > 0;
}

static const int hash_nids[] = {
	[CA_HASH_SHA1] = NID_sha1,
	[CA_HASH_SHA224] = NID_sha224,
	[CA_HASH_SHA256] = NID_sha256,
	[CA_HASH_SHA384] = NID_sha384,
	[CA_HASH_SHA512] = NID_sha512,
};

/* An AlgorithmIdentifier for hash h; SHA-1, the PSS default, is omitted. */
static int
set_pss_md(X509_ALGOR **alg, int h)
{
	const EVP_MD *md;

	if (h == CA_HASH_SHA1)
		return 1;
	if ((md = EVP_get_digestbynid(hash_nids[h])) == NULL ||
	    (*alg = X509_ALGOR_new()) == NULL)
		return 0;
	X509_ALGOR_set_md(*alg, md);
	return 1;
}

/* RSASSA-PSS-params (RFC 4055) for the context's hash, MGF1 and salt. */
static int
set_pss_algorithm(struct casig *ctx, X509_ALGOR *alg)
{
	RSA_PSS_PARAMS *pss = NULL;
	X509_ALGOR *mgfmd = NULL;
	ASN1_STRING *mgfos = NULL, *os = NULL;
	uint32_t salt;
	int mgf, ok = 0;

	mgf = ctx->mgf != CA_HASH_NONE ? ctx->mgf : ctx->hash;
	salt = pss_salt(ctx, ca_hash_len((uint8_t)ctx->hash));
	if ((pss = RSA_PSS_PARAMS_new()) == NULL ||
	    !set_pss_md(&pss->hashAlgorithm, ctx->hash))
		goto out;
	if (mgf != CA_HASH_SHA1) {
		if ((mgfmd = X509_ALGOR_new()) == NULL)
			goto out;
		X509_ALGOR_set_md(mgfmd, EVP_get_digestbynid(hash_nids[mgf]));
		if (ASN1_item_pack(mgfmd, ASN1_ITEM_rptr(X509_ALGOR),
		    &mgfos) == NULL ||
		    (pss->maskGenAlgorithm = X509_ALGOR_new()) == NULL ||
		    !X509_ALGOR_set0(pss->maskGenAlgorithm, OBJ_nid2obj(NID_mgf1),
		    V_ASN1_SEQUENCE, mgfos))
			goto out;
		mgfos = NULL;
	}
	if (salt != 20 && ((pss->saltLength = ASN1_INTEGER_new()) == NULL ||
	    !ASN1_INTEGER_set(pss->saltLength, (long)salt)))
		goto out;
	if (ASN1_item_pack(pss, ASN1_ITEM_rptr(RSA_PSS_PARAMS), &os) == NULL ||
	    !X509_ALGOR_set0(alg, OBJ_nid2obj(NID_rsassaPss), V_ASN1_SEQUENCE,
	    os))
		goto out;
	os = NULL;
	ok = 1;
out:
	ASN1_STRING_free(os);
	ASN1_STRING_free(mgfos);
	X509_ALGOR_free(mgfmd);
	RSA_PSS_PARAMS_free(pss);
	return ok;
}

/*
 * The signature's AlgorithmIdentifier, for X.509 and CMS. Before a digest
 * is chosen there is none: the parameter is left unset.
 */
static int
set_algorithm_id(struct casig *ctx, OSSL_PARAM *p)
{
	X509_ALGOR *alg = NULL;
	unsigned char *der = NULL;
	int sig_nid, pk_nid, len, ok = 0;

	if (ctx->key == NULL || ctx->hash == CA_HASH_NONE)
		return 1;
	if ((alg = X509_ALGOR_new()) == NULL)
		return 0;
	if (ctx->key->k.type == CA_KEY_RSA &&
	    ctx->pad == RSA_PKCS1_PSS_PADDING) {
		if (!set_pss_algorithm(ctx, alg))
			goto out;
	} else {
		pk_nid = ctx->key->k.type == CA_KEY_RSA ? NID_rsaEncryption :
		    NID_X9_62_id_ecPublicKey;
		if (!OBJ_find_sigid_by_algs(&sig_nid, hash_nids[ctx->hash],
		    pk_nid) ||
		    !X509_ALGOR_set0(alg, OBJ_nid2obj(sig_nid),
		    pk_nid == NID_rsaEncryption ? V_ASN1_NULL : V_ASN1_UNDEF,
		    NULL))
			goto out;
	}
	if ((len = i2d_X509_ALGOR(alg, &der)) <= 0)
		goto out;
	ok = OSSL_PARAM_set_octet_string(p, der, (size_t)len);
out:
	OPENSSL_free(der);
	X509_ALGOR_free(alg);
	return ok;
}

static int
sig_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
	struct casig *ctx = vctx;
	OSSL_PARAM *p;
	int h;

	if (verify_pctx(ctx) != NULL)
		return EVP_PKEY_CTX_get_params(verify_pctx(ctx), params) > 0;
	if ((p = OSSL_PARAM_locate(params,
	    OSSL_SIGNATURE_PARAM_ALGORITHM_ID)) != NULL &&
	    !set_algorithm_id(ctx, p))
		return 0;
	if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST)) !=
	    NULL && ctx->hash != CA_HASH_NONE && !cap_set_hash(p, ctx->hash))
		return 0;
	if ((p = OSSL_PARAM_locate(params,
	    OSSL_SIGNATURE_PARAM_DIGEST_SIZE)) != NULL &&
	    !OSSL_PARAM_set_size_t(p, ca_hash_len((uint8_t)ctx->hash)))
		return 0;
	if (ctx->key != NULL && ctx->key->k.type == CA_KEY_EC)
		return 1;
	if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PAD_MODE)) !=
	    NULL && !cap_set_pad(p, ctx->pad))
		return 0;
	h = ctx->mgf != CA_HASH_NONE ? ctx->mgf : ctx->hash;
	if ((p = OSSL_PARAM_locate(params,
	    OSSL_SIGNATURE_PARAM_MGF1_DIGEST)) != NULL &&
	    h != CA_HASH_NONE && !cap_set_hash(p, h))
		return 0;
	if ((p = OSSL_PARAM_locate(params,
	    OSSL_SIGNATURE_PARAM_PSS_SALTLEN)) != NULL &&
	    !cap_set_saltlen(p, ctx->saltlen))
		return 0;
	return 1;
}

static int
sig_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
	struct casig *ctx = vctx;
	const OSSL_PARAM *p;
	int pad;

	if (params == NULL)
		return 1;
	if (verify_pctx(ctx) != NULL)
		return EVP_PKEY_CTX_set_params(verify_pctx(ctx),
		    (OSSL_PARAM *)params) > 0;
	if ((p = OSSL_PARAM_locate_const(params,
	    OSSL_SIGNATURE_PARAM_DIGEST)) != NULL &&
	    !cap_get_hash(ctx->pc, p, &ctx->hash))
		return 0;
	if ((p = OSSL_PARAM_locate_const(params,
	    OSSL_SIGNATURE_PARAM_PAD_MODE)) != NULL) {
		if (!cap_get_pad(p, &pad) || (pad != RSA_PKCS1_PADDING &&
		    pad != RSA_PKCS1_PSS_PADDING)) {
			cap_error(ctx->pc, CAP_R_BAD_PARAM,
			    "unsupported padding mode");
			return 0;
		}
		ctx->pad = pad;
	}
	if ((p = OSSL_PARAM_locate_const(params,
	    OSSL_SIGNATURE_PARAM_MGF1_DIGEST)) != NULL &&
	    !cap_get_hash(ctx->pc, p, &ctx->mgf))
		return 0;
	if ((p = OSSL_PARAM_locate_const(params,
	    OSSL_SIGNATURE_PARAM_PSS_SALTLEN)) != NULL &&
	    !cap_get_saltlen(p, &ctx->saltlen)) {
		cap_error(ctx->pc, CAP_R_BAD_PARAM, "bad PSS salt length");
		return 0;
	}
	return 1;
}

static const OSSL_PARAM rsa_gettable[] = {
	OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
	OSSL_PARAM_size_t(OSSL_SIGNATURE_PARAM_DIGEST_SIZE, NULL),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM rsa_settable[] = {
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM ec_gettable[] = {
	OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
	OSSL_PARAM_size_t(OSSL_SIGNATURE_PARAM_DIGEST_SIZE, NULL),
	OSSL_PARAM_END
};

static const OSSL_PARAM ec_settable[] = {
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM *
rsa_gettable_ctx_params(void *vctx, void *provctx)
{
	(void)vctx;
	(void)provctx;
	return rsa_gettable;
}

static const OSSL_PARAM *
rsa_settable_ctx_params(void *vctx, void *provctx)
{
	(void)vctx;
	(void)provctx;
	return rsa_settable;
}

static const OSSL_PARAM *
ec_gettable_ctx_params(void *vctx, void *provctx)
{
	(void)vctx;
	(void)provctx;
	return ec_gettable;
}

static const OSSL_PARAM *
ec_settable_ctx_params(void *vctx, void *provctx)
{
	(void)vctx;
	(void)provctx;
	return ec_settable;
}

#define SIG_COMMON \
	{ OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))sig_newctx }, \
	{ OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))sig_freectx }, \
	{ OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))sig_dupctx }, \
	{ OSSL_FUNC_SIGNATURE_SIGN_INIT, (void (*)(void))sig_sign_init }, \
	{ OSSL_FUNC_SIGNATURE_SIGN, (void (*)(void))sig_sign }, \
	{ OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, \
	    (void (*)(void))sig_digest_sign_init }, \
	{ OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, \
	    (void (*)(void))sig_digest_sign_update }, \
	{ OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, \
	    (void (*)(void))sig_digest_sign_final }, \
	{ OSSL_FUNC_SIGNATURE_VERIFY_INIT, (void (*)(void))sig_verify_init }, \
	{ OSSL_FUNC_SIGNATURE_VERIFY, (void (*)(void))sig_verify }, \
	{ OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT, \
	    (void (*)(void))sig_digest_verify_init }, \
	{ OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE, \
	    (void (*)(void))sig_digest_verify_update }, \
	{ OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_FINAL, \
	    (void (*)(void))sig_digest_verify_final }, \
	{ OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, \
	    (void (*)(void))sig_get_ctx_params }, \
	{ OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, \
	    (void (*)(void))sig_set_ctx_params }

const OSSL_DISPATCH cap_rsa_signature[] = {
	SIG_COMMON,
	{ OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS,
	    (void (*)(void))rsa_gettable_ctx_params },
	{ OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS,
	    (void (*)(void))rsa_settable_ctx_params },
	{ 0, NULL }
};

const OSSL_DISPATCH cap_ecdsa_signature[] = {
	SIG_COMMON,
	{ OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS,
	    (void (*)(void))ec_gettable_ctx_params },
	{ OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS,
	    (void (*)(void))ec_settable_ctx_params },
	{ 0, NULL }
};
