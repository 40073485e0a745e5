/*
 * keys.c: key management for agent keys (RSA and EC). The private half
 * stays on the token; the public half is an EVP_PKEY of another provider
 * that answers parameter queries and exports, so that OpenSSL can compare
 * an agent key with a certificate, verify and encrypt.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/asn1t.h>
#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/x509.h>

#include "keys.h"

/*
 * SubjectPublicKeyInfo (RFC 5280) and RSAPublicKey (RFC 8017) as plain
 * ASN.1 templates: parsing them needs no OSSL_DECODER, which OpenSSL 3.0
 * sets up from every decoder of every provider, 0.5-0.8 ms in the
 * provider's own library context, the first time.
 */
typedef struct {
	X509_ALGOR *alg;
	ASN1_BIT_STRING *key;
} CAP_SPKI;

typedef struct {
	ASN1_INTEGER *n;
	ASN1_INTEGER *e;
} CAP_RSA_PUB;

ASN1_SEQUENCE(CAP_SPKI) = {
	ASN1_SIMPLE(CAP_SPKI, alg, X509_ALGOR),
	ASN1_SIMPLE(CAP_SPKI, key, ASN1_BIT_STRING)
} static_ASN1_SEQUENCE_END(CAP_SPKI)

ASN1_SEQUENCE(CAP_RSA_PUB) = {
	ASN1_SIMPLE(CAP_RSA_PUB, n, ASN1_INTEGER),
	ASN1_SIMPLE(CAP_RSA_PUB, e, ASN1_INTEGER)
} static_ASN1_SEQUENCE_END(CAP_RSA_PUB)

/* One whole DER structure of item it, or NULL. */
static void *
der_whole(const ASN1_ITEM *it, const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	ASN1_VALUE *v;

	if (len > LONG_MAX ||
	    (v = ASN1_item_d2i(NULL, &p, (long)len, it)) == NULL)
		return NULL;
	if (p != der + len) {
		ASN1_item_free(v, it);
		return NULL;
	}
	return v;
}

/* The RSA public key in an RSAPublicKey's bytes as parameters. */
static OSSL_PARAM *
rsa_pub_params(const ASN1_BIT_STRING *key)
{
	CAP_RSA_PUB *rp;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	BIGNUM *n = NULL, *e = NULL;

	if ((rp = der_whole(ASN1_ITEM_rptr(CAP_RSA_PUB), key->data,
	    (size_t)key->length)) == NULL)
		return NULL;
	if (rp->n->type == V_ASN1_INTEGER && rp->e->type == V_ASN1_INTEGER &&
	    (n = ASN1_INTEGER_to_BN(rp->n, NULL)) != NULL &&
	    (e = ASN1_INTEGER_to_BN(rp->e, NULL)) != NULL &&
	    (bld = OSSL_PARAM_BLD_new()) != NULL &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
		params = OSSL_PARAM_BLD_to_param(bld);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	ASN1_item_free((ASN1_VALUE *)rp, ASN1_ITEM_rptr(CAP_RSA_PUB));
	return params;
}

/* A point on a named curve as parameters. */
static OSSL_PARAM *
ec_pub_params(const X509_ALGOR *alg, const ASN1_BIT_STRING *key)
{
	OSSL_PARAM_BLD *bld;
	OSSL_PARAM *params = NULL;
	const char *group;
	const void *curve;
	int ptype;

	X509_ALGOR_get0(NULL, &ptype, &curve, alg);
	if (ptype != V_ASN1_OBJECT ||
	    (group = OBJ_nid2sn(OBJ_obj2nid(curve))) == NULL ||
	    (bld = OSSL_PARAM_BLD_new()) == NULL)
		return NULL;
	if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	    group, 0) &&
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
	    key->data, (size_t)key->length))
		params = OSSL_PARAM_BLD_to_param(bld);
	OSSL_PARAM_BLD_free(bld);
	return params;
}

/*
 * The public half from the agent's SubjectPublicKeyInfo: RSA keys and EC
 * keys on named curves by their parameters, anything else (and anything
 * that fails so) through d2i_PUBKEY_ex. NULL if it does not parse.
 */
static EVP_PKEY *
pub_from_spki(struct cap_ctx *pc, const struct ca_key *k)
{
	const unsigned char *p = k->spki;
	const ASN1_OBJECT *oid;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pub = NULL;
	OSSL_PARAM *params = NULL;
	CAP_SPKI *spki;
	int nid;

	ERR_set_mark();
	/* The key is a whole number of bytes: no unused bits. */
	if ((spki = der_whole(ASN1_ITEM_rptr(CAP_SPKI), k->spki,
	    k->spki_len)) != NULL &&
	    ((spki->key->flags & ASN1_STRING_FLAG_BITS_LEFT) == 0 ||
	    (spki->key->flags & 0x07) == 0)) {
		X509_ALGOR_get0(&oid, NULL, NULL, spki->alg);
		nid = OBJ_obj2nid(oid);
		if (k->type == CA_KEY_RSA && nid == NID_rsaEncryption)
			params = rsa_pub_params(spki->key);
		else if (k->type == CA_KEY_EC &&
		    nid == NID_X9_62_id_ecPublicKey)
			params = ec_pub_params(spki->alg, spki->key);
	}
	if (params != NULL && (ctx = EVP_PKEY_CTX_new_from_name(pc->libctx,
	    k->type == CA_KEY_RSA ? "RSA" : "EC", CAP_PROPQ)) != NULL &&
	    EVP_PKEY_fromdata_init(ctx) > 0)
		(void)EVP_PKEY_fromdata(ctx, &pub, EVP_PKEY_PUBLIC_KEY, params);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	ASN1_item_free((ASN1_VALUE *)spki, ASN1_ITEM_rptr(CAP_SPKI));
	/* The fallback reports its own errors. */
	ERR_pop_to_mark();
	if (pub == NULL && k->spki_len <= LONG_MAX)
		pub = d2i_PUBKEY_ex(NULL, &p, (long)k->spki_len, pc->libctx,
		    CAP_PROPQ);
	return pub;
}

struct cak *
cak_from_agent(struct cap_ctx *pc, const struct ca_key *k)
{
	struct cak *key;

	if ((key = calloc(1, sizeof(*key))) == NULL)
		return NULL;
	atomic_init(&key->refs, 1);
	atomic_init(&key->conn, NULL);
	atomic_init(&key->conn_pid, 0);
	key->pc = pc;
	if (ca_key_copy(&key->k, k) != CA_PE_OK) {
		free(key);
		return NULL;
	}
	if ((key->pub = pub_from_spki(pc, k)) == NULL) {
		cap_error(pc, CAP_R_OPENSSL, "cannot parse the public key of %s",
		    k->label);
		cak_free(key);
		return NULL;
	}
	return key;
}

/* The key's idle connection, if it belongs to this process. */
static struct cac *
conn_take(struct cak *key)
{
	struct cac *c = atomic_exchange(&key->conn, NULL);

	/* A forked child closes its copy; the parent's stays open. */
	if (c != NULL && atomic_load(&key->conn_pid) != (int)getpid()) {
		cac_close(c);
		c = NULL;
	}
	return c;
}

void
cak_give_conn(struct cak *key, struct cac *c)
{
	struct cac *none = NULL;

	if (c == NULL)
		return;
	/*
	 * The owner is set only once the slot is ours, so that a connection
	 * inherited from a parent is never labelled as this process's. A
	 * thread that takes c in between may see an older owner and close
	 * it: a reconnection, nothing worse.
	 */
	if (atomic_compare_exchange_strong(&key->conn, &none, c))
		atomic_store(&key->conn_pid, (int)getpid());
	else
		cac_close(c);
}

int
cak_call(struct cak *key, int (*fn)(struct cac *, void *), void *arg,
    char *err, size_t errlen)
{
	struct cac *c;
	int r, reused;

	do {
		reused = (c = conn_take(key)) != NULL;
		if (!reused && (r = cac_connect(NULL, &c, err, errlen)) !=
		    CA_OK)
			return r;
		if ((r = fn(c, arg)) == CA_OK) {
			cak_give_conn(key, c);
			return CA_OK;
		}
		snprintf(err, errlen, "%s", cac_errmsg(c));
		cac_close(c);
	} while (r == CAC_E_IO && reused);
	return r;
}

void
cak_up_ref(struct cak *key)
{
	atomic_fetch_add(&key->refs, 1);
}

void
cak_free(struct cak *key)
{
	if (key == NULL || atomic_fetch_sub(&key->refs, 1) > 1)
		return;
	cac_close(atomic_load(&key->conn));
	ca_key_clear(&key->k);
	EVP_PKEY_free(key->pub);
	free(key);
}

int
cak_is_private(const struct cak *key)
{
	return key != NULL && key->k.id != NULL && key->pub != NULL;
}

size_t
cak_size(const struct cak *key)
{
	int n = key->pub != NULL ? EVP_PKEY_get_size(key->pub) : 0;

	return n > 0 ? (size_t)n : 0;
}

static void *
km_new(void *provctx)
{
	struct cak *key;

	if ((key = calloc(1, sizeof(*key))) == NULL)
		return NULL;
	atomic_init(&key->refs, 1);
	atomic_init(&key->conn, NULL);
	atomic_init(&key->conn_pid, 0);
	key->pc = provctx;
	return key;
}

static void
km_free(void *keydata)
{
	cak_free(keydata);
}

static int
km_has(const void *keydata, int selection)
{
	const struct cak *key = keydata;

	if (key == NULL || key->pub == NULL)
		return 0;
	if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 &&
	    !cak_is_private(key))
		return 0;
	return 1;
}

static int
km_match(const void *keydata1, const void *keydata2, int selection)
{
	const struct cak *a = keydata1, *b = keydata2;

	if (a->pub == NULL || b->pub == NULL)
		return 0;
	/* Two agent keys are one key exactly when they have one id. */
	if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 &&
	    cak_is_private(a) && cak_is_private(b))
		return strcmp(a->k.id, b->k.id) == 0;
	return EVP_PKEY_eq(a->pub, b->pub) == 1;
}

static int
km_get_params(void *keydata, OSSL_PARAM params[])
{
	struct cak *key = keydata;

	if (key->pub == NULL)
		return 0;
	return EVP_PKEY_get_params(key->pub, params);
}

static const OSSL_PARAM rsa_gettable[] = {
	OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM ec_gettable[] = {
	OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM rsa_public[] = {
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM ec_public[] = {
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM *
rsa_gettable_params(void *provctx)
{
	(void)provctx;
	return rsa_gettable;
}

static const OSSL_PARAM *
ec_gettable_params(void *provctx)
{
	(void)provctx;
	return ec_gettable;
}

/* Only the public half exists here; a wider selection exports that. */
static int
km_export(void *keydata, int selection, OSSL_CALLBACK *cb, void *cbarg)
{
	struct cak *key = keydata;

	selection &= OSSL_KEYMGMT_SELECT_PUBLIC_KEY |
	    OSSL_KEYMGMT_SELECT_ALL_PARAMETERS;
	if (key->pub == NULL || selection == 0)
		return 0;
	return EVP_PKEY_export(key->pub, selection, cb, cbarg);
}

static const OSSL_PARAM *
rsa_export_types(int selection)
{
	return (selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0 ?
	    rsa_public : NULL;
}

static const OSSL_PARAM *
ec_export_types(int selection)
{
	return (selection & (OSSL_KEYMGMT_SELECT_PUBLIC_KEY |
	    OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS)) != 0 ? ec_public : NULL;
}

/*
 * EC peers for ECDH arrive here, as a public key or (CMS key agreement) as
 * domain parameters that ec_set_params() then gives a public point. A
 * private key is refused: this provider cannot use one, and refusing
 * sends OpenSSL to a provider that can.
 */
static int
ec_import(void *keydata, int selection, const OSSL_PARAM params[])
{
	struct cak *key = keydata;
	struct cap_ctx *pc = key->pc;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pub = NULL;
	int what, ok = 0;

	if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0)
		what = EVP_PKEY_PUBLIC_KEY;
	else if ((selection & OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS) != 0)
		what = EVP_PKEY_KEY_PARAMETERS;
	else
		return 0;
	if (key->pub != NULL || key->k.id != NULL ||
	    OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_PRIV_KEY) != NULL)
		return 0;
	if ((ctx = EVP_PKEY_CTX_new_from_name(pc->libctx, "EC",
	    CAP_PROPQ)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pub, what, (OSSL_PARAM *)params) <= 0)
		goto out;
	key->pub = pub;
	ok = 1;
out:
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

/* Only imported peers change; an agent key is what the token holds. */
static int
ec_set_params(void *keydata, const OSSL_PARAM params[])
{
	struct cak *key = keydata;

	if (key->pub == NULL || key->k.id != NULL)
		return 0;
	return EVP_PKEY_set_params(key->pub, (OSSL_PARAM *)params);
}

static const OSSL_PARAM ec_settable[] = {
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM *
ec_settable_params(void *provctx)
{
	(void)provctx;
	return ec_settable;
}

/* A reference is a struct cak pointer made by our store (store.c). */
static void *
km_load(const void *reference, size_t reference_sz)
{
	struct cak *key;

	if (reference == NULL || reference_sz != sizeof(key))
		return NULL;
	memcpy(&key, reference, sizeof(key));
	cak_up_ref(key);
	return key;
}

static const char *
rsa_query_operation_name(int operation_id)
{
	(void)operation_id;
	return "RSA";
}

static const char *
ec_query_operation_name(int operation_id)
{
	switch (operation_id) {
	case OSSL_OP_SIGNATURE:
		return "ECDSA";
	case OSSL_OP_KEYEXCH:
		return "ECDH";
	}
	return NULL;
}

#define KM_COMMON \
	{ OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))km_new }, \
	{ OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))km_free }, \
	{ OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))km_has }, \
	{ OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))km_match }, \
	{ OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))km_get_params }, \
	{ OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))km_export }, \
	{ OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))km_load }

const OSSL_DISPATCH cap_rsa_keymgmt[] = {
	KM_COMMON,
	{ OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS,
	    (void (*)(void))rsa_gettable_params },
	{ OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))rsa_export_types },
	{ OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME,
	    (void (*)(void))rsa_query_operation_name },
	{ 0, NULL }
};

const OSSL_DISPATCH cap_ec_keymgmt[] = {
	KM_COMMON,
	{ OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS,
	    (void (*)(void))ec_gettable_params },
	{ OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))ec_export_types },
	{ OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))ec_import },
	{ OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))ec_export_types },
	{ OSSL_FUNC_KEYMGMT_SET_PARAMS, (void (*)(void))ec_set_params },
	{ OSSL_FUNC_KEYMGMT_SETTABLE_PARAMS,
	    (void (*)(void))ec_settable_params },
	{ OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME,
	    (void (*)(void))ec_query_operation_name },
	{ 0, NULL }
};
