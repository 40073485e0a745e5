/*
 * derive.c: C_DeriveKey with CKM_ECDH1_DERIVE and CKD_NULL. The agent
 * computes the raw shared secret; it becomes a session object of type
 * CKK_GENERIC_SECRET that the caller reads as CKA_VALUE, unless its
 * template made it sensitive or unextractable: NSS, libp11 and
 * pkcs11-tool all run their KDF on the value they read.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>

#include "module.h"
#include "secret.h"

/*
 * The boolean attributes a derived secret may be given, with what it has
 * when the template does not say: readable by default, as NSS expects.
 */
static const struct {
	CK_ATTRIBUTE_TYPE type;
	CK_BBOOL dflt;
} bools[] = {
	{ CKA_PRIVATE, CK_FALSE },
	{ CKA_MODIFIABLE, CK_FALSE },
	{ CKA_COPYABLE, CK_FALSE },
	{ CKA_DESTROYABLE, CK_TRUE },
	{ CKA_SENSITIVE, CK_FALSE },
	{ CKA_EXTRACTABLE, CK_TRUE },
	{ CKA_ENCRYPT, CK_FALSE },
	{ CKA_DECRYPT, CK_FALSE },
	{ CKA_SIGN, CK_FALSE },
	{ CKA_VERIFY, CK_FALSE },
	{ CKA_WRAP, CK_FALSE },
	{ CKA_UNWRAP, CK_FALSE },
	{ CKA_DERIVE, CK_FALSE },
};

#define NBOOLS (sizeof(bools) / sizeof(bools[0]))
#define SENSITIVE 4	/* bools[] indexes */
#define EXTRACTABLE 5

/* What the caller's template asks of the secret. */
struct want {
	CK_BBOOL b[NBOOLS];
	CK_ULONG value_len;	/* 0: the whole secret */
	const CK_ATTRIBUTE *label, *id;
};

static CK_RV
want_ulong(const CK_ATTRIBUTE *a, CK_ULONG *v)
{
	if (a->pValue == NULL || a->ulValueLen != sizeof(CK_ULONG))
		return CKR_ATTRIBUTE_VALUE_INVALID;
	memcpy(v, a->pValue, sizeof(*v));
	return CKR_OK;
}

/* Reads one template attribute into w. */
static CK_RV
want_attr(const CK_ATTRIBUTE *a, size_t nbytes, struct want *w)
{
	CK_ULONG v;
	CK_BBOOL b;
	size_t i;
	CK_RV rv;

	for (i = 0; i < NBOOLS && bools[i].type != a->type; i++)
		continue;
	if (i < NBOOLS) {
		if (a->pValue == NULL || a->ulValueLen != sizeof(CK_BBOOL))
			return CKR_ATTRIBUTE_VALUE_INVALID;
		memcpy(&b, a->pValue, sizeof(b));
		w->b[i] = b ? CK_TRUE : CK_FALSE;
		return CKR_OK;
	}
	switch (a->type) {
	case CKA_CLASS:
		if ((rv = want_ulong(a, &v)) != CKR_OK)
			return rv;
		return v == CKO_SECRET_KEY ? CKR_OK : CKR_TEMPLATE_INCONSISTENT;
	case CKA_KEY_TYPE:
		if ((rv = want_ulong(a, &v)) != CKR_OK)
			return rv;
		return v == CKK_GENERIC_SECRET ? CKR_OK :
		    CKR_TEMPLATE_INCONSISTENT;
	case CKA_TOKEN:
		/* The module writes nothing to tokens. */
		if (a->pValue == NULL || a->ulValueLen != sizeof(CK_BBOOL))
			return CKR_ATTRIBUTE_VALUE_INVALID;
		return *(CK_BBOOL *)a->pValue ? CKR_TEMPLATE_INCONSISTENT :
		    CKR_OK;
	case CKA_VALUE_LEN:
		if ((rv = want_ulong(a, &w->value_len)) != CKR_OK)
			return rv;
		return w->value_len <= nbytes ? CKR_OK :
		    CKR_ATTRIBUTE_VALUE_INVALID;
	case CKA_LABEL:
	case CKA_ID:
		if ((a->pValue == NULL && a->ulValueLen > 0) ||
		    a->ulValueLen > CA_STR_MAX)
			return CKR_ATTRIBUTE_VALUE_INVALID;
		if (a->type == CKA_LABEL)
			w->label = a;
		else
			w->id = a;
		return CKR_OK;
	}
	return CKR_ATTRIBUTE_TYPE_INVALID;
}

static CK_RV
want_parse(const CK_ATTRIBUTE *tmpl, CK_ULONG n, size_t nbytes,
    struct want *w)
{
	CK_ULONG i;
	CK_RV rv;

	memset(w, 0, sizeof(*w));
	for (i = 0; i < NBOOLS; i++)
		w->b[i] = bools[i].dflt;
	if (tmpl == NULL && n > 0)
		return CKR_ARGUMENTS_BAD;
	for (i = 0; i < n; i++)
		if ((rv = want_attr(&tmpl[i], nbytes, w)) != CKR_OK)
			return rv;
	return CKR_OK;
}

/*
 * The peer's point, uncompressed: PKCS#11 passes it raw, but some callers
 * (older NSS, pkcs11-tool --derive-pass-der) wrap it in a DER OCTET
 * STRING. Returns a malloc()ed copy, or NULL.
 */
static uint8_t *
peer_point(const CK_ECDH1_DERIVE_PARAMS *p, size_t nbytes, size_t *len)
{
	const unsigned char *der = p->pPublicData;
	ASN1_OCTET_STRING *os = NULL;
	const uint8_t *pt = p->pPublicData;
	size_t want = 1 + 2 * nbytes;
	uint8_t *copy = NULL;

	if (pt == NULL)
		return NULL;
	if (p->ulPublicDataLen != want || pt[0] != 0x04) {
		if (p->ulPublicDataLen > LONG_MAX ||
		    (os = d2i_ASN1_OCTET_STRING(NULL, &der,
		    (long)p->ulPublicDataLen)) == NULL ||
		    der != pt + p->ulPublicDataLen)
			goto out;
		pt = ASN1_STRING_get0_data(os);
		if ((size_t)ASN1_STRING_length(os) != want || pt[0] != 0x04)
			goto out;
	}
	if ((copy = malloc(want)) != NULL) {
		memcpy(copy, pt, want);
		*len = want;
	}
out:
	ASN1_OCTET_STRING_free(os);
	return copy;
}

/* The secret as a session object of session s; takes secret. */
static struct cp_obj *
secret_obj(const struct cp_session *s, const struct want *w,
    struct ca_secret *secret)
{
	const CK_BBOOL *b = w->b;
	struct cp_obj *o;
	size_t i;

	if ((o = calloc(1, sizeof(*o))) == NULL) {
		ca_secret_free(secret);
		return NULL;
	}
	o->slot = s->slot;
	o->cls = CKO_SECRET_KEY;
	o->owner = s->h;
	o->live = 1;
	for (i = 0; i < NBOOLS; i++)
		if (cp_attr_bool(o, bools[i].type, b[i]) != 0)
			goto fail;
	if (cp_attr_ulong(o, CKA_CLASS, CKO_SECRET_KEY) != 0 ||
	    cp_attr_ulong(o, CKA_KEY_TYPE, CKK_GENERIC_SECRET) != 0 ||
	    cp_attr_bool(o, CKA_TOKEN, 0) != 0 ||
	    cp_attr_bool(o, CKA_LOCAL, 0) != 0 ||
	    cp_attr_bool(o, CKA_ALWAYS_SENSITIVE, b[SENSITIVE]) != 0 ||
	    cp_attr_bool(o, CKA_NEVER_EXTRACTABLE, !b[EXTRACTABLE]) != 0 ||
	    cp_attr_add(o, CKA_LABEL, w->label ? w->label->pValue : NULL,
	    w->label ? w->label->ulValueLen : 0) != 0 ||
	    cp_attr_add(o, CKA_ID, w->id ? w->id->pValue : NULL,
	    w->id ? w->id->ulValueLen : 0) != 0 ||
	    cp_attr_ulong(o, CKA_VALUE_LEN, secret->len) != 0)
		goto fail;
	if (cp_attr_secret(o, CKA_VALUE, secret,
	    b[SENSITIVE] || !b[EXTRACTABLE]) != 0) {
		cp_obj_free(o);
		return NULL;
	}
	return o;
fail:
	ca_secret_free(secret);
	cp_obj_free(o);
	return NULL;
}

struct derive_req {
	char *key_id;
	uint8_t *point;
	size_t len;
	struct ca_secret *out;
};

static int
derive_fn(struct cac *c, void *arg)
{
	struct derive_req *q = arg;

	return cac_derive(c, q->key_id, q->point, q->len, &q->out);
}

/* Checks the call and fills q and w, the lock held. */
static CK_RV
derive_check(struct cp_mod *m, struct cp_session *s, const CK_MECHANISM *mech,
    CK_OBJECT_HANDLE base, const CK_ATTRIBUTE *tmpl, CK_ULONG n,
    struct derive_req *q, struct want *w)
{
	const CK_ECDH1_DERIVE_PARAMS *p;
	const struct cp_mech *cm;
	struct cp_obj *o;
	CK_RV rv;

	if ((rv = cp_key_for(m, s, mech, base, CKF_DERIVE, CA_OP_DERIVE, &cm,
	    &o)) != CKR_OK)
		return rv;
	/* CKD_NULL: the caller runs its KDF on the value. */
	p = mech->pParameter;
	if (p == NULL || mech->ulParameterLen != sizeof(*p) ||
	    p->kdf != CKD_NULL || p->ulSharedDataLen != 0 ||
	    (q->point = peer_point(p, o->nbytes, &q->len)) == NULL)
		return CKR_MECHANISM_PARAM_INVALID;
	if ((rv = want_parse(tmpl, n, o->nbytes, w)) != CKR_OK)
		return rv;
	if ((q->key_id = strdup(o->key_id)) == NULL)
		return CKR_HOST_MEMORY;
	return CKR_OK;
}

CK_RV
C_DeriveKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE base,
    CK_ATTRIBUTE_PTR tmpl, CK_ULONG n, CK_OBJECT_HANDLE_PTR out)
{
	struct derive_req q = { NULL, NULL, 0, NULL };
	struct cp_session *s;
	struct cp_obj *o;
	struct cp_mod *m;
	struct want w;
	CK_RV rv;
	int r;

	if ((rv = cp_enter_session(h, &m, &s)) != CKR_OK)
		return rv;
	if (mech == NULL || out == NULL)
		rv = CKR_ARGUMENTS_BAD;
	else
		rv = derive_check(m, s, mech, base, tmpl, n, &q, &w);
	cp_leave();
	if (rv != CKR_OK)
		goto out;
	if ((r = cp_agent(derive_fn, &q, CP_REUSE)) != CA_OK) {
		rv = cp_rv(r, CP_FOR_DERIVE);
		goto out;
	}
	/* A shorter key keeps the secret's last bytes, as SoftHSM does. */
	if (w.value_len > 0 && w.value_len < q.out->len) {
		memmove(q.out->data, q.out->data + q.out->len - w.value_len,
		    w.value_len);
		q.out->len = w.value_len;
	}
	if ((rv = cp_enter_session(h, &m, &s)) != CKR_OK)
		goto out;
	if ((o = secret_obj(s, &w, q.out)) == NULL)
		rv = CKR_HOST_MEMORY;
	else if ((rv = cp_obj_add(m, o)) != CKR_OK)
		cp_obj_free(o);
	else
		*out = o->h;
	q.out = NULL;
	cp_leave();
out:
	ca_secret_free(q.out);
	free(q.key_id);
	free(q.point);
	return rv;
}
