/*
 * attrs.c: the PKCS#11 objects of an agent key, and attribute lists.
 * Every DER value (subject, issuer, serial number, EC parameters and
 * point) is cut from the agent's certificate and SubjectPublicKeyInfo by
 * OpenSSL, never by hand.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/asn1.h>
#include <openssl/core_names.h>
#include <openssl/x509.h>

#include "module.h"
#include "secret.h"

/* Values the private key has and never shows. */
static const CK_ATTRIBUTE_TYPE rsa_secret[] = {
	CKA_PRIVATE_EXPONENT, CKA_PRIME_1, CKA_PRIME_2, CKA_EXPONENT_1,
	CKA_EXPONENT_2, CKA_COEFFICIENT,
};
static const CK_ATTRIBUTE_TYPE ec_secret[] = { CKA_VALUE };

static struct cp_attr *
attr_new(struct cp_obj *o, CK_ATTRIBUTE_TYPE type)
{
	struct cp_attr *a;

	if ((a = realloc(o->attrs, (o->nattrs + 1) * sizeof(*a))) == NULL)
		return NULL;
	o->attrs = a;
	a = &o->attrs[o->nattrs];
	memset(a, 0, sizeof(*a));
	a->type = type;
	return a;
}

int
cp_attr_add(struct cp_obj *o, CK_ATTRIBUTE_TYPE type, const void *val,
    size_t len)
{
	struct cp_attr *a;
	void *copy = NULL;

	if (len > 0 && (copy = malloc(len)) == NULL)
		return -1;
	if ((a = attr_new(o, type)) == NULL) {
		free(copy);
		return -1;
	}
	if (len > 0)
		memcpy(copy, val, len);
	a->val = copy;
	a->len = len;
	o->nattrs++;
	return 0;
}

int
cp_attr_bool(struct cp_obj *o, CK_ATTRIBUTE_TYPE type, int v)
{
	CK_BBOOL b = v ? CK_TRUE : CK_FALSE;

	return cp_attr_add(o, type, &b, sizeof(b));
}

int
cp_attr_ulong(struct cp_obj *o, CK_ATTRIBUTE_TYPE type, CK_ULONG v)
{
	return cp_attr_add(o, type, &v, sizeof(v));
}

int
cp_attr_secret(struct cp_obj *o, CK_ATTRIBUTE_TYPE type,
    struct ca_secret *s, int sensitive)
{
	struct cp_attr *a;

	if ((a = attr_new(o, type)) == NULL) {
		ca_secret_free(s);
		return -1;
	}
	a->secret = s;
	a->val = s->data;
	a->len = s->len;
	a->sensitive = sensitive;
	o->nattrs++;
	return 0;
}

static int
attr_sensitive(struct cp_obj *o, CK_ATTRIBUTE_TYPE type)
{
	struct cp_attr *a;

	if ((a = attr_new(o, type)) == NULL)
		return -1;
	a->sensitive = 1;
	o->nattrs++;
	return 0;
}

const struct cp_attr *
cp_attr_find(const struct cp_obj *o, CK_ATTRIBUTE_TYPE type)
{
	size_t i;

	for (i = 0; i < o->nattrs; i++)
		if (o->attrs[i].type == type)
			return &o->attrs[i];
	return NULL;
}

void
cp_obj_free(struct cp_obj *o)
{
	size_t i;

	if (o == NULL)
		return;
	for (i = 0; i < o->nattrs; i++) {
		if (o->attrs[i].secret != NULL)
			ca_secret_free(o->attrs[i].secret);
		else
			free(o->attrs[i].val);
	}
	free(o->attrs);
	free(o->key_id);
	free(o);
}

/* Adds the DER of v, an OpenSSL value of type it. */
static int
attr_der(struct cp_obj *o, CK_ATTRIBUTE_TYPE type, const ASN1_ITEM *it,
    const void *v)
{
	unsigned char *der = NULL;
	int n, r;

	if ((n = ASN1_item_i2d((const ASN1_VALUE *)v, &der, it)) <= 0)
		return -1;
	r = cp_attr_add(o, type, der, (size_t)n);
	OPENSSL_free(der);
	return r;
}

static int
attr_bn(struct cp_obj *o, CK_ATTRIBUTE_TYPE type, const EVP_PKEY *pkey,
    const char *param)
{
	BIGNUM *bn = NULL;
	unsigned char *buf = NULL;
	int n, r = -1;

	if (EVP_PKEY_get_bn_param(pkey, param, &bn) && (n = BN_num_bytes(bn))
	    > 0 && (buf = malloc((size_t)n)) != NULL &&
	    BN_bn2bin(bn, buf) == n)
		r = cp_attr_add(o, type, buf, (size_t)n);
	free(buf);
	BN_free(bn);
	return r;
}

/* What the agent said about a key, and what OpenSSL made of its DER. */
struct parsed {
	const struct ca_key *k;
	X509_PUBKEY *xpk;
	EVP_PKEY *pkey;		/* owned by xpk */
	X509 *cert;		/* NULL when the key has none */
	CK_KEY_TYPE ckk;
	size_t nbytes;
};

static struct cp_obj *
obj_new(const struct parsed *p, CK_SLOT_ID slot, CK_OBJECT_CLASS cls)
{
	const struct ca_key *k = p->k;
	struct cp_obj *o;

	if ((o = calloc(1, sizeof(*o))) == NULL)
		return NULL;
	o->slot = slot;
	o->cls = cls;
	o->live = 1;
	o->key_type = k->type;
	o->ops = k->ops;
	o->nbytes = p->nbytes;
	if ((o->key_id = strdup(k->id)) == NULL ||
	    cp_attr_ulong(o, CKA_CLASS, cls) != 0 ||
	    cp_attr_bool(o, CKA_TOKEN, 1) != 0 ||
	    cp_attr_bool(o, CKA_PRIVATE, cls == CKO_PRIVATE_KEY) != 0 ||
	    cp_attr_bool(o, CKA_MODIFIABLE, 0) != 0 ||
	    cp_attr_bool(o, CKA_COPYABLE, 0) != 0 ||
	    cp_attr_bool(o, CKA_DESTROYABLE, 0) != 0 ||
	    cp_attr_add(o, CKA_LABEL, k->label, strlen(k->label)) != 0 ||
	    cp_attr_add(o, CKA_ID, k->ckaid, k->ckaid_len) != 0) {
		cp_obj_free(o);
		return NULL;
	}
	return o;
}

static struct cp_obj *
cert_obj(const struct parsed *p, CK_SLOT_ID slot)
{
	struct cp_obj *o;

	if ((o = obj_new(p, slot, CKO_CERTIFICATE)) == NULL)
		return NULL;
	if (cp_attr_ulong(o, CKA_CERTIFICATE_TYPE, CKC_X_509) != 0 ||
	    cp_attr_bool(o, CKA_TRUSTED, 0) != 0 ||
	    /* 1: the token user's own certificate. */
	    cp_attr_ulong(o, CKA_CERTIFICATE_CATEGORY, 1) != 0 ||
	    cp_attr_add(o, CKA_VALUE, p->k->cert, p->k->cert_len) != 0 ||
	    attr_der(o, CKA_SUBJECT, ASN1_ITEM_rptr(X509_NAME),
	    X509_get_subject_name(p->cert)) != 0 ||
	    attr_der(o, CKA_ISSUER, ASN1_ITEM_rptr(X509_NAME),
	    X509_get_issuer_name(p->cert)) != 0 ||
	    attr_der(o, CKA_SERIAL_NUMBER, ASN1_ITEM_rptr(ASN1_INTEGER),
	    X509_get0_serialNumber(p->cert)) != 0 ||
	    cp_attr_add(o, CKA_PUBLIC_KEY_INFO, p->k->spki,
	    p->k->spki_len) != 0) {
		cp_obj_free(o);
		return NULL;
	}
	return o;
}

/* CKA_EC_POINT: the point as a DER OCTET STRING (PKCS#11 2.40, 2.3.3). */
static int
attr_ec_point(struct cp_obj *o, const X509_PUBKEY *xpk)
{
	const unsigned char *pt;
	ASN1_OCTET_STRING *os;
	int len, r = -1;

	if (!X509_PUBKEY_get0_param(NULL, &pt, &len, NULL, xpk) ||
	    (os = ASN1_OCTET_STRING_new()) == NULL)
		return -1;
	if (ASN1_OCTET_STRING_set(os, pt, len))
		r = attr_der(o, CKA_EC_POINT,
		    ASN1_ITEM_rptr(ASN1_OCTET_STRING), os);
	ASN1_OCTET_STRING_free(os);
	return r;
}

/* CKA_EC_PARAMS: the SubjectPublicKeyInfo's parameters, as they are. */
static int
attr_ec_params(struct cp_obj *o, const X509_PUBKEY *xpk)
{
	X509_ALGOR *alg;

	if (!X509_PUBKEY_get0_param(NULL, NULL, NULL, &alg, xpk) ||
	    alg->parameter == NULL)
		return -1;
	return attr_der(o, CKA_EC_PARAMS, ASN1_ITEM_rptr(ASN1_ANY),
	    alg->parameter);
}

/* What public and private key objects share. */
static int
key_common(struct cp_obj *o, const struct parsed *p)
{
	/* A key's subject is its certificate's; empty without one. */
	if (p->cert != NULL ? attr_der(o, CKA_SUBJECT,
	    ASN1_ITEM_rptr(X509_NAME), X509_get_subject_name(p->cert)) != 0 :
	    cp_attr_add(o, CKA_SUBJECT, NULL, 0) != 0)
		return -1;
	/* Whether the card made the key, the agent does not say. */
	if (cp_attr_ulong(o, CKA_KEY_TYPE, p->ckk) != 0 ||
	    cp_attr_bool(o, CKA_LOCAL, 0) != 0 ||
	    cp_attr_bool(o, CKA_DERIVE, o->cls == CKO_PRIVATE_KEY &&
	    (p->k->ops & CA_OP_DERIVE)) != 0 ||
	    cp_attr_add(o, CKA_PUBLIC_KEY_INFO, p->k->spki,
	    p->k->spki_len) != 0)
		return -1;
	if (p->ckk != CKK_RSA)
		return attr_ec_params(o, p->xpk);
	if (attr_bn(o, CKA_MODULUS, p->pkey, OSSL_PKEY_PARAM_RSA_N) != 0 ||
	    attr_bn(o, CKA_PUBLIC_EXPONENT, p->pkey,
	    OSSL_PKEY_PARAM_RSA_E) != 0 ||
	    cp_attr_ulong(o, CKA_MODULUS_BITS,
	    (CK_ULONG)EVP_PKEY_get_bits(p->pkey)) != 0)
		return -1;
	return 0;
}

static struct cp_obj *
pub_obj(const struct parsed *p, CK_SLOT_ID slot)
{
	const uint32_t ops = p->k->ops;
	const int rsa = p->ckk == CKK_RSA;
	struct cp_obj *o;

	if ((o = obj_new(p, slot, CKO_PUBLIC_KEY)) == NULL)
		return NULL;
	if (key_common(o, p) != 0 ||
	    (!rsa && attr_ec_point(o, p->xpk) != 0) ||
	    cp_attr_bool(o, CKA_VERIFY, ops & CA_OP_SIGN) != 0 ||
	    cp_attr_bool(o, CKA_VERIFY_RECOVER, 0) != 0 ||
	    cp_attr_bool(o, CKA_ENCRYPT, rsa && (ops & CA_OP_DECRYPT)) != 0 ||
	    cp_attr_bool(o, CKA_WRAP, rsa && (ops & CA_OP_DECRYPT)) != 0 ||
	    cp_attr_bool(o, CKA_TRUSTED, 0) != 0) {
		cp_obj_free(o);
		return NULL;
	}
	return o;
}

/*
 * The private key stays on the card: sensitive, never extractable. It
 * never wants a context-specific login, since the agent gets the PIN of a
 * key that needs one at every use by itself.
 */
static struct cp_obj *
priv_obj(const struct parsed *p, CK_SLOT_ID slot)
{
	const uint32_t ops = p->k->ops;
	const CK_ATTRIBUTE_TYPE *hidden = p->ckk == CKK_RSA ? rsa_secret :
	    ec_secret;
	size_t i, nhidden = p->ckk == CKK_RSA ?
	    sizeof(rsa_secret) / sizeof(rsa_secret[0]) : 1;
	struct cp_obj *o;

	if ((o = obj_new(p, slot, CKO_PRIVATE_KEY)) == NULL)
		return NULL;
	if (key_common(o, p) != 0 ||
	    cp_attr_bool(o, CKA_SENSITIVE, 1) != 0 ||
	    cp_attr_bool(o, CKA_ALWAYS_SENSITIVE, 1) != 0 ||
	    cp_attr_bool(o, CKA_EXTRACTABLE, 0) != 0 ||
	    cp_attr_bool(o, CKA_NEVER_EXTRACTABLE, 1) != 0 ||
	    cp_attr_bool(o, CKA_ALWAYS_AUTHENTICATE, 0) != 0 ||
	    cp_attr_bool(o, CKA_WRAP_WITH_TRUSTED, 0) != 0 ||
	    cp_attr_bool(o, CKA_SIGN, ops & CA_OP_SIGN) != 0 ||
	    cp_attr_bool(o, CKA_SIGN_RECOVER, 0) != 0 ||
	    cp_attr_bool(o, CKA_DECRYPT, ops & CA_OP_DECRYPT) != 0 ||
	    /* Unwrapping is decryption the module does not offer. */
	    cp_attr_bool(o, CKA_UNWRAP, 0) != 0)
		goto fail;
	for (i = 0; i < nhidden; i++)
		if (attr_sensitive(o, hidden[i]) != 0)
			goto fail;
	return o;
fail:
	cp_obj_free(o);
	return NULL;
}

/* Parses k's DER; 0, or -1 when it does not describe a usable key. */
static int
parse(const struct ca_key *k, struct parsed *p)
{
	const unsigned char *der;
	int bits;

	memset(p, 0, sizeof(*p));
	p->k = k;
	der = k->spki;
	if (k->spki_len > LONG_MAX || (p->xpk = d2i_X509_PUBKEY(NULL, &der,
	    (long)k->spki_len)) == NULL || der != k->spki + k->spki_len ||
	    (p->pkey = X509_PUBKEY_get0(p->xpk)) == NULL)
		return -1;
	if (k->type == CA_KEY_RSA && EVP_PKEY_is_a(p->pkey, "RSA"))
		p->ckk = CKK_RSA;
	else if (k->type == CA_KEY_EC && EVP_PKEY_is_a(p->pkey, "EC"))
		p->ckk = CKK_EC;
	else
		return -1;
	if ((bits = EVP_PKEY_get_bits(p->pkey)) <= 0)
		return -1;
	p->nbytes = ((size_t)bits + 7) / 8;
	if (k->cert_len > 0) {
		der = k->cert;
		if (k->cert_len > LONG_MAX || (p->cert = d2i_X509(NULL, &der,
		    (long)k->cert_len)) == NULL || der != k->cert + k->cert_len)
			return -1;
	}
	return 0;
}

CK_RV
cp_key_objects(const struct ca_key *k, CK_SLOT_ID slot,
    struct cp_obj *out[3], size_t *n)
{
	struct parsed p;
	CK_RV rv = CKR_OK;
	size_t i;

	*n = 0;
	if (parse(k, &p) != 0) {
		rv = CKR_GENERAL_ERROR;
		goto out;
	}
	if (p.cert != NULL && (out[(*n)++] = cert_obj(&p, slot)) == NULL)
		rv = CKR_HOST_MEMORY;
	if (rv == CKR_OK && (out[(*n)++] = pub_obj(&p, slot)) == NULL)
		rv = CKR_HOST_MEMORY;
	if (rv == CKR_OK && (out[(*n)++] = priv_obj(&p, slot)) == NULL)
		rv = CKR_HOST_MEMORY;
	if (rv != CKR_OK) {
		for (i = 0; i < *n; i++)
			cp_obj_free(out[i]);
		*n = 0;
	}
out:
	X509_PUBKEY_free(p.xpk);
	X509_free(p.cert);
	return rv;
}
