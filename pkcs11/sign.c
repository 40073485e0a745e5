/*
 * sign.c: C_SignInit, C_Sign, C_SignUpdate and C_SignFinal. The digest
 * is the caller's (CKM_RSA_PKCS, CKM_RSA_PKCS_PSS, CKM_ECDSA) or made
 * here with OpenSSL (the CKM_SHA*_ and CKM_ECDSA_SHA* variants); the
 * agent signs it. ECDSA signatures come from the agent as DER and leave
 * as PKCS#11's r || s.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>

#include "module.h"

/* Fills op's PSS hash, MGF1 hash and salt from the mechanism parameter. */
static CK_RV
pss_params(const CK_MECHANISM *mech, const struct cp_mech *cm,
    struct cp_op *op)
{
	const CK_RSA_PKCS_PSS_PARAMS *p = mech->pParameter;
	int hash, mgf;

	if (p == NULL || mech->ulParameterLen != sizeof(*p) ||
	    (hash = cp_hash_from_ckm(p->hashAlg)) < 0 ||
	    (mgf = cp_hash_from_mgf(p->mgf)) < 0)
		return CKR_MECHANISM_PARAM_INVALID;
	/* A hashing variant hashes with the hash its parameters name. */
	if (cm->hash != CA_HASH_NONE && hash != cm->hash)
		return CKR_MECHANISM_PARAM_INVALID;
	/* RFC 8017 9.1.1: the salt must leave room for the hash. */
	if (p->sLen > op->nbytes ||
	    ca_hash_len((uint8_t)hash) + p->sLen + 2 > op->nbytes)
		return CKR_MECHANISM_PARAM_INVALID;
	op->hash = (uint8_t)hash;
	op->mgf = (uint8_t)mgf;
	op->salt = (uint32_t)p->sLen;
	return CKR_OK;
}

static CK_RV
sign_init(struct cp_mod *m, struct cp_session *s, const CK_MECHANISM *mech,
    CK_OBJECT_HANDLE key)
{
	const struct cp_mech *cm;
	struct cp_op op;
	const EVP_MD *md;
	CK_RV rv;

	if ((rv = cp_op_begin(m, s, mech, key, CP_OP_SIGN, &op)) != CKR_OK)
		return rv;
	cm = op.mech;
	op.outlen = cm->key_type == CA_KEY_EC ? 2 * op.nbytes : op.nbytes;
	op.hash = cm->hash;
	if (cm->alg == CA_ALG_RSA_PSS &&
	    (rv = pss_params(mech, cm, &op)) != CKR_OK) {
		cp_op_clear(&op);
		return rv;
	}
	if (cm->hash != CA_HASH_NONE &&
	    ((md = cp_hash_md(cm->hash)) == NULL ||
	    (op.md = EVP_MD_CTX_new()) == NULL ||
	    !EVP_DigestInit_ex(op.md, md, NULL))) {
		cp_op_clear(&op);
		return CKR_HOST_MEMORY;
	}
	s->op = op;
	return CKR_OK;
}

CK_RV
C_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
	return cp_op_init(h, mech, key, sign_init);
}

/*
 * A length query (out NULL) or a buffer too small answers the call and
 * leaves the operation active (PKCS#11 2.40, 5.2). Returns 1 then, with
 * *rv set; 0 when the signature fits.
 */
static int
length_only(const struct cp_op *op, CK_BYTE_PTR out, CK_ULONG_PTR outlen,
    CK_RV *rv)
{
	if (out != NULL && *outlen >= op->outlen)
		return 0;
	*rv = out == NULL ? CKR_OK : CKR_BUFFER_TOO_SMALL;
	*outlen = op->outlen;
	return 1;
}

/* DER ECDSA-Sig-Value to r || s, each half bytes. */
static CK_RV
ecdsa_raw(const uint8_t *der, size_t len, uint8_t *out, size_t half)
{
	const unsigned char *p = der;
	const BIGNUM *r, *s;
	ECDSA_SIG *es;
	CK_RV rv = CKR_DEVICE_ERROR;

	if (len > LONG_MAX ||
	    (es = d2i_ECDSA_SIG(NULL, &p, (long)len)) == NULL)
		return CKR_DEVICE_ERROR;
	ECDSA_SIG_get0(es, &r, &s);
	if (p == der + len && half <= INT_MAX &&
	    BN_bn2binpad(r, out, (int)half) == (int)half &&
	    BN_bn2binpad(s, out + half, (int)half) == (int)half)
		rv = CKR_OK;
	ECDSA_SIG_free(es);
	return rv;
}

struct sign_req {
	const char *key_id;
	struct cac_sign_params p;
	const uint8_t *digest;
	size_t len;
	uint8_t *sig;
	size_t siglen;
};

static int
sign_fn(struct cac *c, void *arg)
{
	struct sign_req *q = arg;

	return cac_sign(c, q->key_id, &q->p, q->digest, q->len, &q->sig,
	    &q->siglen);
}

/*
 * Has the agent sign digest with op's key, and writes the signature
 * (op->outlen bytes, which out has room for) to out.
 */
static CK_RV
agent_sign(const struct cp_op *op, const uint8_t *digest, size_t len,
    CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
	struct sign_req q;
	CK_RV rv;
	int r;

	memset(&q, 0, sizeof(q));
	q.key_id = op->key_id;
	q.p.alg = op->mech->alg;
	q.p.hash = op->hash;
	q.p.mgf = op->mgf;
	q.p.salt = op->salt;
	q.digest = digest;
	q.len = len;
	if ((r = cp_agent(sign_fn, &q, CP_REUSE)) != CA_OK)
		return cp_rv(r, CP_FOR_SIGN);
	if (op->mech->alg == CA_ALG_ECDSA)
		rv = ecdsa_raw(q.sig, q.siglen, out, op->nbytes);
	else if (q.siglen == op->outlen) {
		memcpy(out, q.sig, q.siglen);
		rv = CKR_OK;
	} else
		rv = CKR_DEVICE_ERROR;
	if (rv == CKR_OK)
		*outlen = op->outlen;
	free(q.sig);
	return rv;
}

/* Signs what the caller gave as the digest, checked against op's mechanism. */
static CK_RV
sign_given(const struct cp_op *op, const uint8_t *data, size_t len,
    CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
	switch (op->mech->alg) {
	case CA_ALG_RSA_PKCS1:
		/* A DigestInfo, padded by the card: RFC 8017 9.2 step 3. */
		if (len == 0 || len + 11 > op->nbytes)
			return CKR_DATA_LEN_RANGE;
		break;
	case CA_ALG_RSA_PSS:
		if (len != ca_hash_len(op->hash))
			return CKR_DATA_LEN_RANGE;
		break;
	case CA_ALG_ECDSA:
		/* ECDSA signs the leftmost bits of a longer hash. */
		if (len == 0)
			return CKR_DATA_LEN_RANGE;
		if (len > op->nbytes)
			len = op->nbytes;
		break;
	}
	return agent_sign(op, data, len, out, outlen);
}

/* Finishes op's digest and signs it. */
static CK_RV
sign_hashed(const struct cp_op *op, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
	uint8_t d[EVP_MAX_MD_SIZE];
	unsigned int dlen;

	if (!EVP_DigestFinal_ex(op->md, d, &dlen))
		return CKR_GENERAL_ERROR;
	return agent_sign(op, d, dlen, out, outlen);
}

CK_RV
C_Sign(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig,
    CK_ULONG_PTR siglen)
{
	struct cp_session *s;
	struct cp_mod *m;
	struct cp_op op;
	CK_RV rv;

	if ((rv = cp_enter_session(h, &m, &s)) != CKR_OK)
		return rv;
	if (siglen == NULL || (data == NULL && len > 0))
		rv = CKR_ARGUMENTS_BAD;
	else if (s->op.kind != CP_OP_SIGN)
		rv = CKR_OPERATION_NOT_INITIALIZED;
	else if (s->op.updated)
		rv = CKR_OPERATION_ACTIVE;
	if (rv != CKR_OK || length_only(&s->op, sig, siglen, &rv)) {
		cp_leave();
		return rv;
	}
	/* From here the call ends the operation, whatever happens. */
	op = s->op;
	memset(&s->op, 0, sizeof(s->op));
	cp_leave();
	if (op.md == NULL)
		rv = sign_given(&op, data, len, sig, siglen);
	else if (!EVP_DigestUpdate(op.md, data, len))
		rv = CKR_GENERAL_ERROR;
	else
		rv = sign_hashed(&op, sig, siglen);
	cp_op_clear(&op);
	return rv;
}

/* Multi-part signing is for the mechanisms that hash here. */
CK_RV
C_SignUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR part, CK_ULONG len)
{
	struct cp_session *s;
	struct cp_mod *m;
	CK_RV rv;

	if ((rv = cp_enter_session(h, &m, &s)) != CKR_OK)
		return rv;
	if (part == NULL && len > 0)
		rv = CKR_ARGUMENTS_BAD;
	else if (s->op.kind != CP_OP_SIGN)
		rv = CKR_OPERATION_NOT_INITIALIZED;
	else if (s->op.md == NULL)
		rv = CKR_FUNCTION_NOT_SUPPORTED;
	else if (!EVP_DigestUpdate(s->op.md, part, len))
		rv = CKR_GENERAL_ERROR;
	else
		s->op.updated = 1;
	if (rv != CKR_OK && s->op.kind == CP_OP_SIGN)
		cp_op_clear(&s->op);
	cp_leave();
	return rv;
}

CK_RV
C_SignFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG_PTR siglen)
{
	struct cp_session *s;
	struct cp_mod *m;
	struct cp_op op;
	CK_RV rv;

	if ((rv = cp_enter_session(h, &m, &s)) != CKR_OK)
		return rv;
	if (siglen == NULL)
		rv = CKR_ARGUMENTS_BAD;
	else if (s->op.kind != CP_OP_SIGN)
		rv = CKR_OPERATION_NOT_INITIALIZED;
	else if (s->op.md == NULL) {
		cp_op_clear(&s->op);
		rv = CKR_FUNCTION_NOT_SUPPORTED;
	}
	if (rv != CKR_OK || length_only(&s->op, sig, siglen, &rv)) {
		cp_leave();
		return rv;
	}
	op = s->op;
	memset(&s->op, 0, sizeof(s->op));
	cp_leave();
	rv = sign_hashed(&op, sig, siglen);
	cp_op_clear(&op);
	return rv;
}
