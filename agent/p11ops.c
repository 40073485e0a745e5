/*
 * p11ops.c: sign, decrypt and derive on a token's session.
 */
#define _GNU_SOURCE
/* RSA_padding_check_PKCS1_OAEP_mgf1: the one OpenSSL 3 call that removes
 * OAEP padding from a block decrypted elsewhere. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "p11.h"
#include "p11err.h"
#include "p11int.h"
#include "secret.h"

/*
 * C_Sign's output: an 8192-bit RSA signature fits. Asking for the length
 * first would put one more call between a context login and C_Sign.
 */
#define SIG_MAX 1024

/*
 * Per enum ca_hash: the PKCS#11 hash and MGF1 types, and the DER
 * DigestInfo up to the digest itself (RFC 8017 section 9.2, note 1).
 */
static const struct {
	CK_MECHANISM_TYPE mech;
	CK_RSA_PKCS_MGF_TYPE mgf;
	uint8_t dilen;
	uint8_t di[19];
} hashes[] = {
	[CA_HASH_SHA1] = { CKM_SHA_1, CKG_MGF1_SHA1, 15, { 0x30, 0x21,
	    0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00,
	    0x04, 0x14 } },
	[CA_HASH_SHA224] = { CKM_SHA224, CKG_MGF1_SHA224, 19, { 0x30, 0x2d,
	    0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04,
	    0x02, 0x04, 0x05, 0x00, 0x04, 0x1c } },
	[CA_HASH_SHA256] = { CKM_SHA256, CKG_MGF1_SHA256, 19, { 0x30, 0x31,
	    0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04,
	    0x02, 0x01, 0x05, 0x00, 0x04, 0x20 } },
	[CA_HASH_SHA384] = { CKM_SHA384, CKG_MGF1_SHA384, 19, { 0x30, 0x41,
	    0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04,
	    0x02, 0x02, 0x05, 0x00, 0x04, 0x30 } },
	[CA_HASH_SHA512] = { CKM_SHA512, CKG_MGF1_SHA512, 19, { 0x30, 0x51,
	    0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04,
	    0x02, 0x03, 0x05, 0x00, 0x04, 0x40 } },
};

static int
hash_ok(uint8_t h)
{
	return h != CA_HASH_NONE && ca_hash_len(h) != 0;
}

/* MGF1 over the named hash; none named means the message hash's. */
static CK_RSA_PKCS_MGF_TYPE
mgf_type(uint8_t mgf, uint8_t hash)
{
	return hashes[mgf != CA_HASH_NONE ? mgf : hash].mgf;
}

static const char *
alg_name(uint8_t alg)
{
	switch (alg) {
	case CA_ALG_RSA_PKCS1:
		return "RSA PKCS#1 v1.5";
	case CA_ALG_RSA_PSS:
		return "RSA-PSS";
	case CA_ALG_ECDSA:
		return "ECDSA";
	case CA_ALG_RSA_OAEP:
		return "RSA-OAEP";
	case CA_ALG_ECDH:
		return "ECDH";
	}
	return NULL;
}

int
p11_check(const struct p11_token *t, const struct ca_key *k,
    const struct ca_msg *m, struct p11_fail *f)
{
	const uint8_t alg = m->u.op.alg, hash = m->u.op.hash, mgf = m->u.op.mgf;
	const size_t len = m->u.op.len, hlen = ca_hash_len(hash);
	/* Modulus bytes for RSA, field bytes for EC; 0 when unknown. */
	const size_t nbytes = (k->bits + 7) / 8;
	const char *verb;
	uint32_t op;
	int ok;

	memset(f, 0, sizeof(*f));
	switch (m->type) {
	case CA_MSG_SIGN:
		op = CA_OP_SIGN;
		verb = "sign";
		ok = alg == CA_ALG_RSA_PKCS1 || alg == CA_ALG_RSA_PSS ||
		    alg == CA_ALG_ECDSA;
		break;
	case CA_MSG_DECRYPT:
		op = CA_OP_DECRYPT;
		verb = "decrypt";
		ok = alg == CA_ALG_RSA_PKCS1 || alg == CA_ALG_RSA_OAEP;
		break;
	case CA_MSG_DERIVE:
		op = CA_OP_DERIVE;
		verb = "derive";
		ok = alg == CA_ALG_ECDH;
		break;
	default:
		return p11_refuse(f, CA_E_INTERNAL, "not an operation");
	}
	if (alg_name(alg) == NULL)
		return p11_refuse(f, CA_E_UNSUPPORTED, "unknown algorithm %u", alg);
	if (!ok)
		return p11_refuse(f, CA_E_UNSUPPORTED, "%s cannot %s",
		    alg_name(alg), verb);
	if (!(k->ops & op))
		return p11_refuse(f, CA_E_NOT_ALLOWED, "the key may not %s", verb);
	if ((k->type == CA_KEY_EC) != (alg == CA_ALG_ECDSA ||
	    alg == CA_ALG_ECDH))
		return p11_refuse(f, CA_E_NOT_ALLOWED, "%s needs %s key",
		    alg_name(alg), k->type == CA_KEY_EC ? "an RSA" : "an EC");
	if ((alg == CA_ALG_RSA_PSS || alg == CA_ALG_RSA_OAEP ||
	    (alg == CA_ALG_RSA_PKCS1 && op == CA_OP_SIGN &&
	    hash != CA_HASH_NONE)) && !hash_ok(hash))
		return p11_refuse(f, CA_E_UNSUPPORTED, "unsupported hash %u", hash);
	if ((alg == CA_ALG_RSA_PSS || alg == CA_ALG_RSA_OAEP) &&
	    mgf != CA_HASH_NONE && !hash_ok(mgf))
		return p11_refuse(f, CA_E_UNSUPPORTED, "unsupported MGF1 hash %u",
		    mgf);
	if (op == CA_OP_DECRYPT) {
		if (len == 0 || (nbytes != 0 && len != nbytes))
			return p11_refuse(f, CA_E_BAD_INPUT, "the ciphertext is "
			    "%zu bytes, the key needs %zu", len, nbytes);
	} else if (alg == CA_ALG_ECDSA) {
		if (len == 0 || len > 64)
			return p11_refuse(f, CA_E_BAD_INPUT, "a digest of %zu "
			    "bytes cannot be signed", len);
	} else if (alg == CA_ALG_ECDH) {
		if (nbytes == 0)
			return p11_refuse(f, CA_E_UNSUPPORTED, "the key's curve is "
			    "unknown");
		if (len != 1 + 2 * nbytes || m->u.op.data[0] != 0x04)
			return p11_refuse(f, CA_E_BAD_INPUT, "the peer key must be "
			    "an uncompressed point of %zu bytes",
			    1 + 2 * nbytes);
	} else if (hash == CA_HASH_NONE) {
		/* A DigestInfo built by the caller, padded by the token. */
		if (len == 0 || (nbytes != 0 && len + 11 > nbytes))
			return p11_refuse(f, CA_E_BAD_INPUT, "%zu bytes do not fit "
			    "a %u-bit key", len, k->bits);
	} else if (len != hlen) {
		return p11_refuse(f, CA_E_BAD_INPUT, "the digest is %zu bytes, "
		    "%s needs %zu", len, ca_hash_name(hash), hlen);
	} else if (alg == CA_ALG_RSA_PSS && k->bits != 0 &&
	    hlen + m->u.op.salt + 2 > (k->bits + 6) / 8) {
		/* RFC 8017 9.1.1: emLen = ceil((modBits - 1) / 8) must be at
		 * least hLen + sLen + 2. */
		return p11_refuse(f, CA_E_BAD_INPUT, "a salt of %u bytes does not "
		    "fit a %u-bit key", m->u.op.salt, k->bits);
	}
	/* A PIN pad asks for the PIN itself. */
	if (k->always_auth && m->u.op.pin == NULL &&
	    !(t->tflags & CKF_PROTECTED_AUTHENTICATION_PATH))
		return p11_refuse(f, CA_E_PIN_REQUIRED, "the key needs the PIN for "
		    "every use");
	return 0;
}

static int
find_private(struct p11_token *t, const struct ca_key *k,
    CK_OBJECT_HANDLE *h, struct p11_fail *f)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, k->ckaid, k->ckaid_len },
	};
	CK_OBJECT_HANDLE *objs;
	struct p11_hkey *c;
	CK_STATE state;
	size_t n, i;
	CK_RV rv;

	for (i = 0; t->open && i < t->nhcache; i++) {
		c = &t->hcache[i];
		if (c->len == k->ckaid_len &&
		    memcmp(c->ckaid, k->ckaid, c->len) == 0) {
			*h = c->h;
			return 0;
		}
	}
	if ((rv = p11_find_objects(t, tmpl, 2, &objs, &n)) != CKR_OK)
		return p11_fail_rv(f, "C_FindObjects", rv);
	if (n > 0)
		*h = objs[0];
	free(objs);
	if (n > 0) {
		if (t->nhcache < P11_HCACHE &&
		    k->ckaid_len <= sizeof(c->ckaid)) {
			c = &t->hcache[t->nhcache++];
			memcpy(c->ckaid, k->ckaid, k->ckaid_len);
			c->len = k->ckaid_len;
			c->h = *h;
		}
		return 0;
	}
	/* The index may predate a lost login; private keys hide then. */
	if ((t->tflags & CKF_LOGIN_REQUIRED) &&
	    p11_session_state(t, &state) == CKR_OK &&
	    state != CKS_RO_USER_FUNCTIONS && state != CKS_RW_USER_FUNCTIONS)
		return p11_refuse(f, CA_E_PIN_REQUIRED, "not logged in");
	return p11_refuse(f, CA_E_NO_KEY, "the private key is not on the token");
}

/*
 * A cached handle can outlive its object (a key deleted, a module that
 * renumbers on login): forget the cache and let the caller search again.
 */
static int
handle_stale(struct p11_token *t, CK_RV rv)
{
	if (rv != CKR_KEY_HANDLE_INVALID && rv != CKR_OBJECT_HANDLE_INVALID)
		return 0;
	t->nhcache = 0;
	return 1;
}

/*
 * Must come right between the operation's init and the operation itself:
 * any call in between (OpenSC sends APDUs for most) can cost the card's
 * PIN-always state.
 */
static int
context_login(struct p11_token *t, const struct ca_secret *pin,
    struct p11_fail *f)
{
	CK_RV rv;

	rv = p11_track(t, F(t)->C_Login(t->session, CKU_CONTEXT_SPECIFIC,
	    pin != NULL ? pin->data : NULL, pin != NULL ? pin->len : 0));
	if (rv == CKR_OK)
		return 0;
	f->ctx_login = 1;
	return p11_fail_rv(f, "C_Login", rv);
}

/*
 * The protocol promises an RSA signature of exactly the modulus length;
 * some modules drop leading zero bytes, a few add one.
 */
static int
rsa_sig(const uint8_t *sig, size_t len, const struct ca_key *k,
    uint8_t **out, size_t *outlen, struct p11_fail *f)
{
	size_t mb = (k->bits + 7) / 8, skip = 0;

	if (mb == 0)
		mb = len;
	while (len - skip > mb && sig[skip] == 0)
		skip++;
	if (len == 0 || len - skip > mb)
		return p11_refuse(f, CA_E_TOKEN_FAILED, "the token returned a "
		    "signature of %zu bytes", len);
	if ((*out = calloc(1, mb)) == NULL)
		return p11_refuse(f, CA_E_INTERNAL, "out of memory");
	memcpy(*out + mb - (len - skip), sig + skip, len - skip);
	*outlen = mb;
	return 0;
}

/* PKCS#11 gives r || s; X.509 and TLS want DER ECDSA-Sig-Value. */
static int
ecdsa_sig(const uint8_t *rs, size_t len, uint8_t **out, size_t *outlen,
    struct p11_fail *f)
{
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *s = NULL;
	unsigned char *q;
	int n, ret = -1;

	if (len == 0 || len % 2 != 0) {
		ret = p11_refuse(f, CA_E_TOKEN_FAILED, "the token returned an "
		    "ECDSA signature of %zu bytes", len);
		goto out;
	}
	if ((es = ECDSA_SIG_new()) == NULL ||
	    (r = BN_bin2bn(rs, (int)(len / 2), NULL)) == NULL ||
	    (s = BN_bin2bn(rs + len / 2, (int)(len / 2), NULL)) == NULL ||
	    !ECDSA_SIG_set0(es, r, s)) {
		ret = p11_refuse(f, CA_E_INTERNAL, "out of memory");
		goto out;
	}
	r = s = NULL;
	if ((n = i2d_ECDSA_SIG(es, NULL)) <= 0 ||
	    (*out = malloc(n)) == NULL) {
		ret = p11_refuse(f, CA_E_INTERNAL, "cannot encode the signature");
		goto out;
	}
	q = *out;
	*outlen = (size_t)i2d_ECDSA_SIG(es, &q);
	ret = 0;
 out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	ERR_clear_error();
	return ret;
}

int
p11_sign(struct p11_token *t, const struct ca_key *k,
    const struct ca_msg *m, uint8_t **sigp, size_t *siglenp,
    struct p11_fail *f)
{
	CK_RSA_PKCS_PSS_PARAMS pss;
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	CK_OBJECT_HANDLE h;
	uint8_t di[sizeof(hashes[0].di) + 64];
	uint8_t *tbs = m->u.op.data, sig[SIG_MAX];
	CK_ULONG tbslen = m->u.op.len, siglen = sizeof(sig);
	const uint8_t hash = m->u.op.hash;
	CK_RV rv;

	memset(f, 0, sizeof(*f));
	*sigp = NULL;
	*siglenp = 0;
	switch (m->u.op.alg) {
	case CA_ALG_RSA_PKCS1:
		mech.mechanism = CKM_RSA_PKCS;
		if (hash == CA_HASH_NONE)
			break;
		memcpy(di, hashes[hash].di, hashes[hash].dilen);
		memcpy(di + hashes[hash].dilen, tbs, tbslen);
		tbs = di;
		tbslen += hashes[hash].dilen;
		break;
	case CA_ALG_RSA_PSS:
		pss.hashAlg = hashes[hash].mech;
		pss.mgf = mgf_type(m->u.op.mgf, hash);
		pss.sLen = m->u.op.salt;
		mech = (CK_MECHANISM){ CKM_RSA_PKCS_PSS, &pss, sizeof(pss) };
		break;
	}
	if (find_private(t, k, &h, f) != 0)
		return -1;
	rv = p11_track(t, F(t)->C_SignInit(t->session, &mech, h));
	if (handle_stale(t, rv)) {
		if (find_private(t, k, &h, f) != 0)
			return -1;
		rv = p11_track(t, F(t)->C_SignInit(t->session, &mech, h));
	}
	if (rv != CKR_OK)
		return p11_fail_rv(f, "C_SignInit", rv);
	if (k->always_auth && context_login(t, m->u.op.pin, f) != 0) {
		/*
		 * The failed login left the operation active, and only
		 * C_Sign ends it; what it returns is of no use.
		 */
		if (t->open)
			(void)p11_track(t, F(t)->C_Sign(t->session, tbs, tbslen,
			    sig, &siglen));
		return -1;
	}
	rv = p11_track(t, F(t)->C_Sign(t->session, tbs, tbslen, sig, &siglen));
	if (rv != CKR_OK)
		return p11_fail_rv(f, "C_Sign", rv);
	if (m->u.op.alg == CA_ALG_ECDSA)
		return ecdsa_sig(sig, siglen, sigp, siglenp, f);
	return rsa_sig(sig, siglen, k, sigp, siglenp, f);
}

/*
 * Removes OAEP padding from a raw RSA block, for tokens that decrypt raw
 * RSA but not OAEP with this hash (SoftHSM 2.6 and PIV cards do SHA-1 at
 * most); OpenSC does the same for PIV. OpenSSL's check runs in constant
 * time and fails with one error for every kind of bad padding.
 */
static int
oaep_unpad(const struct ca_msg *m, size_t modlen, struct ca_secret *block,
    struct ca_secret **outp, struct p11_fail *f)
{
	const EVP_MD *md, *mgf;
	struct ca_secret *out;
	uint8_t mgfh = m->u.op.mgf ? m->u.op.mgf : m->u.op.hash;
	int n;

	if (block->len < modlen) {
		memmove(block->data + modlen - block->len, block->data,
		    block->len);
		memset(block->data, 0, modlen - block->len);
		block->len = modlen;
	}
	md = EVP_get_digestbyname(ca_hash_name(m->u.op.hash));
	mgf = EVP_get_digestbyname(ca_hash_name(mgfh));
	if (md == NULL || mgf == NULL || block->len != modlen)
		return p11_refuse(f, CA_E_UNSUPPORTED, "OAEP with this hash is "
		    "not available");
	if ((out = ca_secret_new(modlen)) == NULL)
		return p11_refuse(f, CA_E_INTERNAL, "out of memory");
	n = RSA_padding_check_PKCS1_OAEP_mgf1(out->data, (int)modlen,
	    block->data, (int)modlen, (int)modlen, m->u.op.label,
	    (int)m->u.op.label_len, md, mgf);
	ERR_clear_error();
	if (n < 0) {
		ca_secret_free(out);
		return p11_refuse(f, CA_E_BAD_INPUT, "decryption failed");
	}
	out->len = (size_t)n;
	*outp = out;
	return 0;
}

/*
 * A client that can tell one failed decryption from another has a padding
 * oracle (Bleichenbacher, and the Marvin attack on PKCS#1 v1.5): SoftHSM
 * answers bad padding with CKR_GENERAL_ERROR, other tokens with
 * CKR_ENCRYPTED_DATA_INVALID or CKR_DATA_LEN_RANGE, depending on where the
 * padding broke. Every failure the ciphertext could have caused reads the
 * same; only what it cannot cause (the card gone, the login lost, a
 * cancelled PIN pad) stays distinct. The PKCS#11 value is kept for the
 * local log and for telling a pulled card from a failure.
 */
static void
decrypt_failed_alike(struct p11_fail *f)
{
	switch (f->status) {
	case CA_E_BAD_INPUT:
	case CA_E_TOKEN_FAILED:
	case CA_E_NOT_ALLOWED:
	case CA_E_UNSUPPORTED:
		f->status = CA_E_BAD_INPUT;
		snprintf(f->why, sizeof(f->why), "decryption failed");
		break;
	default:
		break;
	}
}

/* Tokens say this when they know OAEP but not with these parameters. */
static int
oaep_params_refused(CK_RV rv)
{
	return rv == CKR_ARGUMENTS_BAD || rv == CKR_MECHANISM_PARAM_INVALID ||
	    rv == CKR_MECHANISM_INVALID;
}

int
p11_decrypt(struct p11_token *t, const struct ca_key *k,
    const struct ca_msg *m, struct ca_secret **outp, struct p11_fail *f)
{
	CK_RSA_PKCS_OAEP_PARAMS oaep;
	CK_MECHANISM mech = { CKM_RSA_PKCS, NULL, 0 };
	CK_OBJECT_HANDLE h;
	struct ca_secret *out = NULL;
	CK_ULONG outlen;
	CK_RV rv;
	int ret = -1, raw = 0;

	memset(f, 0, sizeof(*f));
	*outp = NULL;
	if (m->u.op.alg == CA_ALG_RSA_OAEP) {
		oaep.hashAlg = hashes[m->u.op.hash].mech;
		oaep.mgf = mgf_type(m->u.op.mgf, m->u.op.hash);
		oaep.source = CKZ_DATA_SPECIFIED;
		oaep.pSourceData = m->u.op.label;
		oaep.ulSourceDataLen = m->u.op.label_len;
		mech = (CK_MECHANISM){ CKM_RSA_PKCS_OAEP, &oaep, sizeof(oaep) };
	}
	if (find_private(t, k, &h, f) != 0)
		return -1;
	/* The plaintext is never longer than the ciphertext. */
	if ((out = ca_secret_new(m->u.op.len)) == NULL)
		return p11_refuse(f, CA_E_INTERNAL, "out of memory");
	outlen = out->cap;
	rv = p11_track(t, F(t)->C_DecryptInit(t->session, &mech, h));
	if (handle_stale(t, rv)) {
		if (find_private(t, k, &h, f) != 0)
			goto out;
		rv = p11_track(t, F(t)->C_DecryptInit(t->session, &mech, h));
	}
	if (rv != CKR_OK && m->u.op.alg == CA_ALG_RSA_OAEP &&
	    oaep_params_refused(rv)) {
		mech = (CK_MECHANISM){ CKM_RSA_X_509, NULL, 0 };
		raw = 1;
		rv = p11_track(t, F(t)->C_DecryptInit(t->session, &mech, h));
	}
	if (rv != CKR_OK) {
		ret = p11_fail_rv(f, "C_DecryptInit", rv);
		goto out;
	}
	if (k->always_auth && context_login(t, m->u.op.pin, f) != 0) {
		/* As in p11_sign(): only C_Decrypt ends the operation. */
		if (t->open)
			(void)p11_track(t, F(t)->C_Decrypt(t->session,
			    m->u.op.data, m->u.op.len, out->data, &outlen));
		goto out;
	}
	rv = p11_track(t, F(t)->C_Decrypt(t->session, m->u.op.data,
	    m->u.op.len, out->data, &outlen));
	if (rv != CKR_OK) {
		ret = p11_fail_rv(f, "C_Decrypt", rv);
		decrypt_failed_alike(f);
		goto out;
	}
	out->len = outlen;
	if (raw) {
		ret = oaep_unpad(m, m->u.op.len, out, outp, f);
		goto out;
	}
	*outp = out;
	out = NULL;
	ret = 0;
 out:
	ca_secret_free(out);
	return ret;
}

int
p11_derive(struct p11_token *t, const struct ca_key *k,
    const struct ca_msg *m, struct ca_secret **outp, struct p11_fail *f)
{
	CK_ECDH1_DERIVE_PARAMS ecdh = { CKD_NULL, 0, NULL, m->u.op.len,
	    m->u.op.data };
	CK_MECHANISM mech = { CKM_ECDH1_DERIVE, &ecdh, sizeof(ecdh) };
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_BBOOL no = CK_FALSE, yes = CK_TRUE;
	CK_ULONG fb = (k->bits + 7) / 8;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_TOKEN, &no, sizeof(no) },
		{ CKA_SENSITIVE, &no, sizeof(no) },
		{ CKA_EXTRACTABLE, &yes, sizeof(yes) },
		{ CKA_VALUE_LEN, &fb, sizeof(fb) },
	};
	CK_ATTRIBUTE val;
	CK_OBJECT_HANDLE h, dk;
	struct ca_secret *out;
	CK_RV rv;
	int ret = 0;

	memset(f, 0, sizeof(*f));
	*outp = NULL;
	if (find_private(t, k, &h, f) != 0)
		return -1;
	/*
	 * Derivation has no init step. Some modules (SoftHSM) tie a context
	 * login to one and answer CKR_OPERATION_NOT_INITIALIZED: they do not
	 * want the PIN for a derivation, so it goes ahead without.
	 */
	if (k->always_auth && context_login(t, m->u.op.pin, f) != 0 &&
	    f->rv != CKR_OPERATION_NOT_INITIALIZED)
		return -1;
	memset(f, 0, sizeof(*f));
	rv = p11_track(t, F(t)->C_DeriveKey(t->session, &mech, h, tmpl,
	    sizeof(tmpl) / sizeof(tmpl[0]), &dk));
	/* A context login was spent on the stale handle: only retry without. */
	if (handle_stale(t, rv) && !k->always_auth) {
		if (find_private(t, k, &h, f) != 0)
			return -1;
		rv = p11_track(t, F(t)->C_DeriveKey(t->session, &mech, h,
		    tmpl, sizeof(tmpl) / sizeof(tmpl[0]), &dk));
	}
	if (rv != CKR_OK)
		return p11_fail_rv(f, "C_DeriveKey", rv);
	if ((out = ca_secret_new(fb)) == NULL)
		ret = p11_refuse(f, CA_E_INTERNAL, "out of memory");
	else {
		val = (CK_ATTRIBUTE){ CKA_VALUE, out->data, out->cap };
		rv = p11_track(t, F(t)->C_GetAttributeValue(t->session, dk,
		    &val, 1));
		if (rv != CKR_OK)
			ret = p11_fail_rv(f, "C_GetAttributeValue", rv);
	}
	/* The session object holds the secret too; it goes either way. */
	(void)p11_track(t, F(t)->C_DestroyObject(t->session, dk));
	if (ret == 0) {
		out->len = val.ulValueLen;
		*outp = out;
	} else
		ca_secret_free(out);
	return ret;
}
