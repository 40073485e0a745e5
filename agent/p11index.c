/*
 * p11index.c: reads a token into the protocol's token and key index.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <p11-kit/uri.h>

#include "p11.h"
#include "p11int.h"

/* CK_TOKEN_INFO strings are fixed-size, padded with blanks (or NULs). */
static char *
padstr(const CK_UTF8CHAR *p, size_t len)
{
	size_t n = strnlen((const char *)p, len);

	while (n > 0 && p[n - 1] == ' ')
		n--;
	return strndup((const char *)p, n);
}

/*
 * The first 8 bytes of SHA-256 over parts joined by NUL bytes, in hex:
 * short enough to type, and made only of what the token says about
 * itself, so the same token gets the same id after re-insertion.
 */
static char *
short_id(const void *const *parts, const size_t *lens, size_t nparts)
{
	static const uint8_t nul;
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	EVP_MD_CTX *ctx;
	char *hex;
	size_t i;
	int ok;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return NULL;
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (i = 0; ok && i < nparts; i++) {
		if (i > 0)
			ok = EVP_DigestUpdate(ctx, &nul, 1);
		if (ok && lens[i] > 0)
			ok = EVP_DigestUpdate(ctx, parts[i], lens[i]);
	}
	if (ok)
		ok = EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	if (!ok || (hex = malloc(17)) == NULL)
		return NULL;
	ca_hex(hex, md, 8, 0);
	return hex;
}

/*
 * The token's id: what it says about itself and, since some cards all
 * carry one serial number (libcacard's CACs do), what its public
 * certificates hold (certs, SHA-256 of them).
 */
static char *
token_id(const struct ca_token *tok, const uint8_t *certs)
{
	const void *parts[] = { tok->module, tok->manufacturer, tok->model,
	    tok->serial, tok->label, certs };
	size_t lens[] = { strlen(tok->module), strlen(tok->manufacturer),
	    strlen(tok->model), strlen(tok->serial), strlen(tok->label),
	    certs != NULL ? SHA256_DIGEST_LENGTH : 0 };

	return short_id(parts, lens, 6);
}

static char *
key_id(const char *tokid, const uint8_t *ckaid, size_t ckaid_len)
{
	const void *parts[] = { tokid, ckaid };
	size_t lens[] = { strlen(tokid), ckaid_len };

	return short_id(parts, lens, 2);
}

/* The token's URI, or with k the URI of k's private key on it. */
static char *
make_uri(const CK_TOKEN_INFO *ti, const struct ca_key *k)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE a;
	P11KitUri *uri;
	char *s = NULL;
	int ok = 1;

	if ((uri = p11_kit_uri_new()) == NULL)
		return NULL;
	memcpy(p11_kit_uri_get_token_info(uri), ti, sizeof(*ti));
	if (k != NULL) {
		a = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof(cls) };
		ok = p11_kit_uri_set_attribute(uri, &a) == P11_KIT_URI_OK;
		a = (CK_ATTRIBUTE){ CKA_ID, k->ckaid, k->ckaid_len };
		if (ok)
			ok = p11_kit_uri_set_attribute(uri, &a) ==
			    P11_KIT_URI_OK;
		a = (CK_ATTRIBUTE){ CKA_LABEL, k->label, strlen(k->label) };
		if (ok && *k->label != '\0')
			ok = p11_kit_uri_set_attribute(uri, &a) ==
			    P11_KIT_URI_OK;
	}
	if (!ok || p11_kit_uri_format(uri, k != NULL ?
	    P11_KIT_URI_FOR_OBJECT_ON_TOKEN : P11_KIT_URI_FOR_TOKEN,
	    &s) != P11_KIT_URI_OK)
		s = NULL;
	p11_kit_uri_free(uri);
	return s;
}

/* A token's private key, certificate and public key share a CKA_ID. */
enum { G_PRIV, G_CERT, G_PUB, G_N };

struct group {
	uint8_t *ckaid;
	size_t ckaid_len;
	CK_OBJECT_HANDLE obj[G_N];
	int has[G_N];
};

static void
groups_free(struct group *g, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(g[i].ckaid);
	free(g);
}

/* Files object o of class c under its CKA_ID, which it takes. */
static int
group_add(struct group **gp, size_t *np, uint8_t *ckaid, size_t len,
    int c, CK_OBJECT_HANDLE o)
{
	struct group *g;
	size_t i;

	for (i = 0; i < *np; i++) {
		g = &(*gp)[i];
		if (g->ckaid_len == len &&
		    (len == 0 || memcmp(g->ckaid, ckaid, len) == 0))
			break;
	}
	if (i == *np) {
		if ((g = reallocarray(*gp, *np + 1, sizeof(*g))) == NULL) {
			free(ckaid);
			return -1;
		}
		*gp = g;
		g = &g[(*np)++];
		memset(g, 0, sizeof(*g));
		g->ckaid = ckaid;
		g->ckaid_len = len;
	} else
		free(ckaid);
	/* Two keys under one CKA_ID cannot be told apart: the first wins. */
	if (!g->has[c]) {
		g->obj[c] = o;
		g->has[c] = 1;
	}
	return 0;
}

static CK_RV
collect(struct p11_token *t, struct group **gp, size_t *ngp)
{
	static const CK_OBJECT_CLASS classes[G_N] = {
		[G_PRIV] = CKO_PRIVATE_KEY,
		[G_CERT] = CKO_CERTIFICATE,
		[G_PUB] = CKO_PUBLIC_KEY,
	};
	CK_OBJECT_CLASS cls;
	CK_CERTIFICATE_TYPE ctype = CKC_X_509;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_CERTIFICATE_TYPE, &ctype, sizeof(ctype) },
	};
	CK_OBJECT_HANDLE *objs = NULL;
	struct group *g = NULL;
	size_t nobjs, ng = 0, i;
	uint8_t *ckaid;
	size_t len;
	CK_RV rv = CKR_OK;
	int c;

	for (c = 0; c < G_N; c++) {
		cls = classes[c];
		rv = p11_find_objects(t, tmpl, c == G_CERT ? 2 : 1, &objs, &nobjs);
		if (rv != CKR_OK)
			goto out;
		for (i = 0; i < nobjs; i++) {
			rv = p11_attr_get(t, objs[i], CKA_ID, &ckaid, &len);
			if (rv != CKR_OK && !t->open)
				goto out;
			if (rv != CKR_OK)
				continue;
			if (group_add(&g, &ng, ckaid, len, c, objs[i]) != 0) {
				rv = CKR_HOST_MEMORY;
				goto out;
			}
		}
		free(objs);
		objs = NULL;
	}
	rv = CKR_OK;
 out:
	free(objs);
	if (rv != CKR_OK) {
		groups_free(g, ng);
		return rv;
	}
	*gp = g;
	*ngp = ng;
	return CKR_OK;
}

/* CKA_LABEL of the private key, else of the certificate or public key. */
static char *
object_label(struct p11_token *t, const struct group *g)
{
	uint8_t *p;
	size_t len;
	char *s;
	int c;

	for (c = 0; c < G_N; c++) {
		if (!g->has[c] ||
		    p11_attr_get(t, g->obj[c], CKA_LABEL, &p, &len) != CKR_OK)
			continue;
		if (len == 0)
			continue;
		s = strndup((char *)p, len < CA_STR_MAX ? len : CA_STR_MAX);
		free(p);
		return s;
	}
	return strdup("");
}

static EVP_PKEY *
pkey_fromdata(const char *alg, OSSL_PARAM_BLD *bld)
{
	EVP_PKEY_CTX *ctx = NULL;
	OSSL_PARAM *prm = NULL;
	EVP_PKEY *pk = NULL;

	if ((prm = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, alg, NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, prm) <= 0)
		pk = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(prm);
	return pk;
}

static EVP_PKEY *
rsa_pkey(const uint8_t *mod, size_t modlen, const uint8_t *exp, size_t elen)
{
	OSSL_PARAM_BLD *bld = NULL;
	BIGNUM *n = NULL, *e = NULL;
	EVP_PKEY *pk = NULL;

	if ((n = BN_bin2bn(mod, (int)modlen, NULL)) != NULL &&
	    (e = BN_bin2bn(exp, (int)elen, NULL)) != NULL &&
	    (bld = OSSL_PARAM_BLD_new()) != NULL &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
		pk = pkey_fromdata("RSA", bld);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return pk;
}

/* The named curve of DER ECParameters; cards use no explicit curves. */
static int
curve_nid(const uint8_t *der, size_t len)
{
	const unsigned char *q = der;
	ASN1_OBJECT *obj;
	int nid;

	if ((obj = d2i_ASN1_OBJECT(NULL, &q, (long)len)) == NULL)
		return NID_undef;
	nid = OBJ_obj2nid(obj);
	ASN1_OBJECT_free(obj);
	return nid;
}

static uint32_t
curve_bits(int nid)
{
	EC_GROUP *grp;
	int deg;

	if (nid == NID_undef || (grp = EC_GROUP_new_by_curve_name(nid)) == NULL)
		return 0;
	deg = EC_GROUP_get_degree(grp);
	EC_GROUP_free(grp);
	return deg > 0 ? (uint32_t)deg : 0;
}

static EVP_PKEY *
ec_point_pkey(int nid, const uint8_t *pt, size_t len)
{
	OSSL_PARAM_BLD *bld;
	EVP_PKEY *pk = NULL;

	if ((bld = OSSL_PARAM_BLD_new()) == NULL)
		return NULL;
	if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	    OBJ_nid2sn(nid), 0) &&
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
	    pt, len))
		pk = pkey_fromdata("EC", bld);
	OSSL_PARAM_BLD_free(bld);
	return pk;
}

/*
 * PKCS#11 says CKA_EC_POINT is a DER OCTET STRING holding the point, but
 * some modules give the bare point. The wrapped reading is tried first and
 * kept only if it is a point on the curve; a bare point never parses as a
 * wrapped one of a valid length.
 */
static EVP_PKEY *
ec_pkey(const uint8_t *ecparams, size_t plen, const uint8_t *pt, size_t len)
{
	const unsigned char *q = pt;
	ASN1_OCTET_STRING *os;
	EVP_PKEY *pk = NULL;
	int nid;

	if ((nid = curve_nid(ecparams, plen)) == NID_undef)
		return NULL;
	os = d2i_ASN1_OCTET_STRING(NULL, &q, (long)len);
	if (os != NULL && q == pt + len)
		pk = ec_point_pkey(nid, ASN1_STRING_get0_data(os),
		    (size_t)ASN1_STRING_length(os));
	ASN1_OCTET_STRING_free(os);
	if (pk == NULL)
		pk = ec_point_pkey(nid, pt, len);
	return pk;
}

/* The public key from a key object's own attributes. */
static EVP_PKEY *
object_pkey(struct p11_token *t, CK_OBJECT_HANDLE o, uint8_t type)
{
	uint8_t *a = NULL, *b = NULL;
	size_t alen, blen;
	EVP_PKEY *pk = NULL;

	if (type == CA_KEY_RSA) {
		if (p11_attr_get(t, o, CKA_MODULUS, &a, &alen) == CKR_OK &&
		    p11_attr_get(t, o, CKA_PUBLIC_EXPONENT, &b, &blen) == CKR_OK &&
		    a != NULL && b != NULL)
			pk = rsa_pkey(a, alen, b, blen);
	} else {
		if (p11_attr_get(t, o, CKA_EC_PARAMS, &a, &alen) == CKR_OK &&
		    p11_attr_get(t, o, CKA_EC_POINT, &b, &blen) == CKR_OK &&
		    a != NULL && b != NULL)
			pk = ec_pkey(a, alen, b, blen);
	}
	free(a);
	free(b);
	return pk;
}

/* Field size of an EC key without a public point (a lone private key). */
static uint32_t
object_curve_bits(struct p11_token *t, CK_OBJECT_HANDLE o)
{
	uint8_t *p;
	size_t len;
	uint32_t bits = 0;

	if (p11_attr_get(t, o, CKA_EC_PARAMS, &p, &len) == CKR_OK && p != NULL)
		bits = curve_bits(curve_nid(p, len));
	free(p);
	return bits;
}

static int
key_type(struct p11_token *t, const struct group *g, X509 *x)
{
	CK_KEY_TYPE kt;
	int c, id;

	for (c = 0; c < G_N; c++) {
		if (c == G_CERT || !g->has[c])
			continue;
		if (p11_attr_ulong(t, g->obj[c], CKA_KEY_TYPE, &kt) != CKR_OK)
			return -1;
		return kt == CKK_RSA ? CA_KEY_RSA :
		    kt == CKK_EC ? CA_KEY_EC : -1;
	}
	if (x == NULL)
		return -1;
	id = EVP_PKEY_get_base_id(X509_get0_pubkey(x));
	return id == EVP_PKEY_RSA ? CA_KEY_RSA : id == EVP_PKEY_EC ?
	    CA_KEY_EC : -1;
}

/* What a certificate's keyUsage lets the key do. */
static uint32_t
cert_ops(X509 *x, uint8_t type)
{
	/* UINT32_MAX when the certificate has no keyUsage: anything goes. */
	uint32_t ku = X509_get_key_usage(x), ops = 0;

	if (ku & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION))
		ops |= CA_OP_SIGN;
	if (type == CA_KEY_RSA && (ku & KU_KEY_ENCIPHERMENT))
		ops |= CA_OP_DECRYPT;
	if (type == CA_KEY_EC && (ku & KU_KEY_AGREEMENT))
		ops |= CA_OP_DERIVE;
	return ops;
}

/*
 * What the key may do. The private key's flags say so; while it is hidden
 * the public key's mirror-image flags stand in, or else the certificate.
 * A certificate also bounds the flags: tokens set them loosely (SoftHSM
 * allows signing and decryption with every imported key), while relying
 * parties go by keyUsage.
 */
static uint32_t
key_ops(struct p11_token *t, const struct group *g, uint8_t type, X509 *x)
{
	CK_OBJECT_HANDLE o;
	uint32_t ops = 0, allowed;

	allowed = x != NULL ? cert_ops(x, type) :
	    CA_OP_SIGN | CA_OP_DECRYPT | CA_OP_DERIVE;
	if (g->has[G_PRIV]) {
		o = g->obj[G_PRIV];
		if (p11_attr_bool(t, o, CKA_SIGN))
			ops |= CA_OP_SIGN;
		if (type == CA_KEY_RSA && (p11_attr_bool(t, o, CKA_DECRYPT) ||
		    p11_attr_bool(t, o, CKA_UNWRAP)))
			ops |= CA_OP_DECRYPT;
		if (type == CA_KEY_EC && p11_attr_bool(t, o, CKA_DERIVE))
			ops |= CA_OP_DERIVE;
		return ops & allowed;
	}
	if (g->has[G_PUB]) {
		o = g->obj[G_PUB];
		if (p11_attr_bool(t, o, CKA_VERIFY))
			ops |= CA_OP_SIGN;
		if (type == CA_KEY_RSA && (p11_attr_bool(t, o, CKA_ENCRYPT) ||
		    p11_attr_bool(t, o, CKA_WRAP)))
			ops |= CA_OP_DECRYPT;
		if (type == CA_KEY_EC && p11_attr_bool(t, o, CKA_DERIVE))
			ops |= CA_OP_DERIVE;
	}
	if (ops == 0 && x != NULL)
		ops = allowed;
	return ops & allowed;
}

static int
der_pubkey(EVP_PKEY *pk, uint8_t **der, size_t *len)
{
	unsigned char *q;
	int n;

	if ((n = i2d_PUBKEY(pk, NULL)) <= 0 || (*der = malloc(n)) == NULL)
		return -1;
	q = *der;
	if (i2d_PUBKEY(pk, &q) != n) {
		free(*der);
		*der = NULL;
		return -1;
	}
	*len = (size_t)n;
	return 0;
}

/* Builds the index entry for one CKA_ID; -1 when it is not a usable key. */
static int
key_entry(struct p11_token *t, const CK_TOKEN_INFO *ti,
    const struct ca_token *tok, const struct group *g, struct ca_key *k)
{
	const unsigned char *q;
	EVP_PKEY *pk = NULL;
	X509 *x = NULL;
	int type, ret = -1;

	memset(k, 0, sizeof(*k));
	if (g->ckaid_len > CA_STR_MAX)
		goto out;
	if (g->has[G_CERT] && p11_attr_get(t, g->obj[G_CERT], CKA_VALUE, &k->cert,
	    &k->cert_len) == CKR_OK && k->cert != NULL) {
		q = k->cert;
		if ((x = d2i_X509(NULL, &q, (long)k->cert_len)) == NULL) {
			free(k->cert);
			k->cert = NULL;
			k->cert_len = 0;
		}
	}
	if ((type = key_type(t, g, x)) < 0)
		goto out;
	k->type = (uint8_t)type;
	if (x != NULL)
		pk = X509_get_pubkey(x);
	if (pk == NULL && g->has[G_PUB])
		pk = object_pkey(t, g->obj[G_PUB], k->type);
	if (pk == NULL && g->has[G_PRIV])
		pk = object_pkey(t, g->obj[G_PRIV], k->type);
	if (pk != NULL) {
		k->bits = (uint32_t)EVP_PKEY_get_bits(pk);
		if (der_pubkey(pk, &k->spki, &k->spki_len) != 0)
			goto out;
	} else if (k->type == CA_KEY_EC)
		k->bits = object_curve_bits(t,
		    g->obj[g->has[G_PRIV] ? G_PRIV : G_PUB]);
	/* The agent refuses a frame with an oversized field: drop it. */
	if (k->cert_len > CA_CERT_MAX) {
		free(k->cert);
		k->cert = NULL;
		k->cert_len = 0;
	}
	k->ops = key_ops(t, g, k->type, x);
	k->always_auth = g->has[G_PRIV] &&
	    p11_attr_bool(t, g->obj[G_PRIV], CKA_ALWAYS_AUTHENTICATE);
	if (g->ckaid_len > 0) {
		if ((k->ckaid = malloc(g->ckaid_len)) == NULL)
			goto out;
		memcpy(k->ckaid, g->ckaid, g->ckaid_len);
		k->ckaid_len = g->ckaid_len;
	}
	if ((k->label = object_label(t, g)) == NULL ||
	    (k->token_id = strdup(tok->id)) == NULL ||
	    (k->id = key_id(tok->id, k->ckaid, k->ckaid_len)) == NULL ||
	    (k->uri = make_uri(ti, k)) == NULL || strlen(k->uri) > CA_STR_MAX)
		goto out;
	ret = 0;
 out:
	if (ret != 0)
		ca_key_clear(k);
	EVP_PKEY_free(pk);
	X509_free(x);
	return ret;
}

static int
cmp_digest(const void *a, const void *b)
{
	return memcmp(a, b, SHA256_DIGEST_LENGTH);
}

/*
 * SHA-256 over the SHA-256s, sorted, of the token's public certificates:
 * those visible whether or not the user is logged in, so that the id
 * does not change with a login. 0, or -1 when there is none (or no
 * memory).
 */
static int
certs_digest(struct p11_token *t, const struct group *g, size_t ng,
    uint8_t out[SHA256_DIGEST_LENGTH])
{
	uint8_t (*md)[SHA256_DIGEST_LENGTH];
	uint8_t *der;
	size_t i, n = 0, len;

	if (ng == 0 || (md = calloc(ng, sizeof(*md))) == NULL)
		return -1;
	for (i = 0; i < ng; i++) {
		if (!g[i].has[G_CERT] ||
		    p11_attr_bool(t, g[i].obj[G_CERT], CKA_PRIVATE) ||
		    p11_attr_get(t, g[i].obj[G_CERT], CKA_VALUE, &der,
		    &len) != CKR_OK)
			continue;
		if (der != NULL)
			SHA256(der, len, md[n++]);
		free(der);
	}
	if (n > 0) {
		qsort(md, n, sizeof(*md), cmp_digest);
		SHA256((const uint8_t *)md, n * sizeof(*md), out);
	}
	free(md);
	return n > 0 ? 0 : -1;
}

static CK_RV
token_entry(struct p11_token *t, const CK_TOKEN_INFO *ti, CK_STATE state,
    const uint8_t *certs, struct ca_token *tok)
{
	memset(tok, 0, sizeof(*tok));
	tok->flags = p11_token_flags(ti->flags, state);
	if ((tok->label = padstr(ti->label, sizeof(ti->label))) == NULL ||
	    (tok->manufacturer = padstr(ti->manufacturerID,
	    sizeof(ti->manufacturerID))) == NULL ||
	    (tok->model = padstr(ti->model, sizeof(ti->model))) == NULL ||
	    (tok->serial = padstr(ti->serialNumber,
	    sizeof(ti->serialNumber))) == NULL ||
	    (tok->module = strdup(t->mod->path)) == NULL ||
	    (tok->id = token_id(tok, certs)) == NULL ||
	    (tok->uri = make_uri(ti, NULL)) == NULL) {
		ca_token_clear(tok);
		return CKR_HOST_MEMORY;
	}
	return CKR_OK;
}

CK_RV
p11_read_index(struct p11_token *t, struct ca_token *tok,
    struct ca_key **keysp, size_t *nkeysp)
{
	CK_TOKEN_INFO ti;
	CK_STATE state;
	struct group *g = NULL;
	struct ca_key *keys = NULL;
	size_t ng = 0, nk = 0, i;
	uint8_t certs[SHA256_DIGEST_LENGTH];
	int hidden, has_certs;
	CK_RV rv;

	memset(tok, 0, sizeof(*tok));
	*keysp = NULL;
	*nkeysp = 0;
	if ((rv = p11_track(t, F(t)->C_GetTokenInfo(t->slot, &ti))) != CKR_OK)
		return rv;
	t->tflags = ti.flags;
	/* A blank token (SoftHSM keeps one spare) holds nothing to serve. */
	if (!(ti.flags & CKF_TOKEN_INITIALIZED))
		return CKR_TOKEN_NOT_RECOGNIZED;
	if ((rv = p11_session_state(t, &state)) != CKR_OK)
		return rv;
	if ((rv = collect(t, &g, &ng)) != CKR_OK)
		return rv;
	has_certs = certs_digest(t, g, ng, certs) == 0;
	if ((rv = token_entry(t, &ti, state, has_certs ? certs : NULL,
	    tok)) != CKR_OK)
		goto out;
	if (ng > 0 && (keys = calloc(ng, sizeof(*keys))) == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	/*
	 * Tokens hide private keys until login (SoftHSM all of them, OpenSC's
	 * PIV all but the PIN-less 9E); until then the certificates and
	 * public keys show which keys there are, under the ids they will
	 * have once visible.
	 */
	hidden = (tok->flags & CA_TOK_LOGIN_REQUIRED) &&
	    !(tok->flags & CA_TOK_LOGGED_IN);
	for (i = 0; i < ng; i++)
		if ((g[i].has[G_PRIV] || hidden) &&
		    key_entry(t, &ti, tok, &g[i], &keys[nk]) == 0)
			nk++;
	/* A session lost halfway leaves entries half read. */
	rv = t->open ? CKR_OK : CKR_SESSION_HANDLE_INVALID;
 out:
	groups_free(g, ng);
	ERR_clear_error();
	if (rv != CKR_OK) {
		for (i = 0; i < nk; i++)
			ca_key_clear(&keys[i]);
		free(keys);
		ca_token_clear(tok);
		return rv;
	}
	*keysp = keys;
	*nkeysp = nk;
	return CKR_OK;
}
