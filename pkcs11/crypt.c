/*
 * crypt.c: C_DecryptInit and C_Decrypt with CKM_RSA_PKCS and
 * CKM_RSA_PKCS_OAEP: the agent decrypts (RSA decryption is single-part).
 * A plaintext that does not fit the caller's buffer is kept, so the call
 * that brings a bigger one does not decrypt, and maybe ask for a PIN,
 * again.
 */
#include <stdlib.h>
#include <string.h>

#include "module.h"
#include "secret.h"

/* Fills op's OAEP hash, MGF1 hash and label from the parameter. */
static CK_RV
oaep_params(const CK_MECHANISM *mech, struct cp_op *op)
{
	const CK_RSA_PKCS_OAEP_PARAMS *p = mech->pParameter;
	int hash, mgf;

	if (p == NULL || mech->ulParameterLen != sizeof(*p) ||
	    (hash = cp_hash_from_ckm(p->hashAlg)) < 0 ||
	    (mgf = cp_hash_from_mgf(p->mgf)) < 0)
		return CKR_MECHANISM_PARAM_INVALID;
	/* Some callers leave source 0 when they have no label. */
	if (p->source != CKZ_DATA_SPECIFIED && p->source != 0)
		return CKR_MECHANISM_PARAM_INVALID;
	if (p->ulSourceDataLen > 0) {
		if (p->pSourceData == NULL || p->ulSourceDataLen > CA_DATA_MAX)
			return CKR_MECHANISM_PARAM_INVALID;
		if ((op->label = malloc(p->ulSourceDataLen)) == NULL)
			return CKR_HOST_MEMORY;
		memcpy(op->label, p->pSourceData, p->ulSourceDataLen);
		op->label_len = p->ulSourceDataLen;
	}
	op->hash = (uint8_t)hash;
	op->mgf = (uint8_t)mgf;
	/* RFC 8017 7.1.2: k - 2hLen - 2 bytes at most. */
	if (op->nbytes < 2 * ca_hash_len(op->hash) + 2)
		return CKR_MECHANISM_PARAM_INVALID;
	op->outlen = op->nbytes - 2 * ca_hash_len(op->hash) - 2;
	return CKR_OK;
}

static CK_RV
decrypt_init(struct cp_mod *m, struct cp_session *s, const CK_MECHANISM *mech,
    CK_OBJECT_HANDLE key)
{
	struct cp_op op;
	CK_RV rv;

	if ((rv = cp_op_begin(m, s, mech, key, CP_OP_DECRYPT, &op)) !=
	    CKR_OK)
		return rv;
	/* RFC 8017 7.2.2: k - 11 bytes at most. */
	op.outlen = op.nbytes > 11 ? op.nbytes - 11 : 0;
	if (op.mech->alg == CA_ALG_RSA_OAEP &&
	    (rv = oaep_params(mech, &op)) != CKR_OK) {
		cp_op_clear(&op);
		return rv;
	}
	s->op = op;
	return CKR_OK;
}

CK_RV
C_DecryptInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech,
    CK_OBJECT_HANDLE key)
{
	return cp_op_init(h, mech, key, decrypt_init);
}

/* Copies a plaintext out by PKCS#11's length rules. */
static CK_RV
give(const struct ca_secret *pt, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
	CK_RV rv = CKR_OK;

	if (out != NULL && *outlen < pt->len)
		rv = CKR_BUFFER_TOO_SMALL;
	else if (out != NULL && pt->len > 0)
		memcpy(out, pt->data, pt->len);
	*outlen = pt->len;
	return rv;
}

struct decrypt_req {
	const char *key_id;
	struct cac_decrypt_params p;
	const uint8_t *in;
	size_t len;
	struct ca_secret *out;
};

static int
decrypt_fn(struct cac *c, void *arg)
{
	struct decrypt_req *q = arg;

	return cac_decrypt(c, q->key_id, &q->p, q->in, q->len, &q->out);
}

/*
 * Has the agent decrypt in with op's key and gives out the plaintext;
 * one too big for out goes back into session h's operation.
 */
static CK_RV
agent_decrypt(CK_SESSION_HANDLE h, struct cp_op *op, const uint8_t *in,
    size_t len, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
	struct decrypt_req q;
	struct cp_session *s;
	struct cp_mod *m;
	CK_RV rv;
	int r;

	memset(&q, 0, sizeof(q));
	q.key_id = op->key_id;
	q.p.alg = op->mech->alg;
	q.p.hash = op->hash;
	q.p.mgf = op->mgf;
	q.p.label = op->label;
	q.p.label_len = op->label_len;
	q.in = in;
	q.len = len;
	if ((r = cp_agent(decrypt_fn, &q, CP_REUSE)) != CA_OK)
		return cp_rv(r, CP_FOR_DECRYPT);
	if ((rv = give(q.out, out, outlen)) == CKR_BUFFER_TOO_SMALL &&
	    cp_enter_session(h, &m, &s) == CKR_OK) {
		/* Unless the session began something else meanwhile. */
		if (s->op.kind == CP_OP_NONE) {
			op->result = q.out;
			q.out = NULL;
			s->op = *op;
			memset(op, 0, sizeof(*op));
		}
		cp_leave();
	}
	ca_secret_free(q.out);
	return rv;
}

CK_RV
C_Decrypt(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG len, CK_BYTE_PTR out,
    CK_ULONG_PTR outlen)
{
	struct cp_session *s;
	struct cp_mod *m;
	struct cp_op op;
	CK_RV rv;

	if ((rv = cp_enter_session(h, &m, &s)) != CKR_OK)
		return rv;
	if (outlen == NULL || (in == NULL && len > 0))
		rv = CKR_ARGUMENTS_BAD;
	else if (s->op.kind != CP_OP_DECRYPT)
		rv = CKR_OPERATION_NOT_INITIALIZED;
	else if (s->op.result != NULL) {
		/* The plaintext an earlier call had no room for. */
		rv = give(s->op.result, out, outlen);
		if (rv == CKR_OK && out != NULL)
			cp_op_clear(&s->op);
	} else if (len != s->op.nbytes) {
		cp_op_clear(&s->op);
		rv = CKR_ENCRYPTED_DATA_LEN_RANGE;
	} else if (out == NULL) {
		*outlen = s->op.outlen;
	} else {
		/* From here the call ends the operation, unless the
		 * plaintext does not fit. */
		op = s->op;
		memset(&s->op, 0, sizeof(s->op));
		cp_leave();
		rv = agent_decrypt(h, &op, in, len, out, outlen);
		cp_op_clear(&op);
		return rv;
	}
	cp_leave();
	return rv;
}
