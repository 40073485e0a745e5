/*
 * mech.c: the mechanisms the module offers, which are what the agent's
 * SIGN, DECRYPT and DERIVE can do (docs/protocol.md), with the hashing
 * variants hashed here. C_GetMechanismList and C_GetMechanismInfo.
 */
#include <stddef.h>

#include <string.h>

#include "module.h"

#define SIGN_RSA(t, a, h) { t, CA_KEY_RSA, CKF_SIGN, a, h }
#define SIGN_EC(t, h) { t, CA_KEY_EC, CKF_SIGN, CA_ALG_ECDSA, h }

static const struct cp_mech mechs[] = {
	/* Decryption with CKM_RSA_PKCS is the same entry. */
	{ CKM_RSA_PKCS, CA_KEY_RSA, CKF_SIGN | CKF_DECRYPT, CA_ALG_RSA_PKCS1,
	    CA_HASH_NONE },
	SIGN_RSA(CKM_SHA1_RSA_PKCS, CA_ALG_RSA_PKCS1, CA_HASH_SHA1),
	SIGN_RSA(CKM_SHA224_RSA_PKCS, CA_ALG_RSA_PKCS1, CA_HASH_SHA224),
	SIGN_RSA(CKM_SHA256_RSA_PKCS, CA_ALG_RSA_PKCS1, CA_HASH_SHA256),
	SIGN_RSA(CKM_SHA384_RSA_PKCS, CA_ALG_RSA_PKCS1, CA_HASH_SHA384),
	SIGN_RSA(CKM_SHA512_RSA_PKCS, CA_ALG_RSA_PKCS1, CA_HASH_SHA512),
	SIGN_RSA(CKM_RSA_PKCS_PSS, CA_ALG_RSA_PSS, CA_HASH_NONE),
	SIGN_RSA(CKM_SHA1_RSA_PKCS_PSS, CA_ALG_RSA_PSS, CA_HASH_SHA1),
	SIGN_RSA(CKM_SHA224_RSA_PKCS_PSS, CA_ALG_RSA_PSS, CA_HASH_SHA224),
	SIGN_RSA(CKM_SHA256_RSA_PKCS_PSS, CA_ALG_RSA_PSS, CA_HASH_SHA256),
	SIGN_RSA(CKM_SHA384_RSA_PKCS_PSS, CA_ALG_RSA_PSS, CA_HASH_SHA384),
	SIGN_RSA(CKM_SHA512_RSA_PKCS_PSS, CA_ALG_RSA_PSS, CA_HASH_SHA512),
	{ CKM_RSA_PKCS_OAEP, CA_KEY_RSA, CKF_DECRYPT, CA_ALG_RSA_OAEP,
	    CA_HASH_NONE },
	SIGN_EC(CKM_ECDSA, CA_HASH_NONE),
	SIGN_EC(CKM_ECDSA_SHA1, CA_HASH_SHA1),
	SIGN_EC(CKM_ECDSA_SHA224, CA_HASH_SHA224),
	SIGN_EC(CKM_ECDSA_SHA256, CA_HASH_SHA256),
	SIGN_EC(CKM_ECDSA_SHA384, CA_HASH_SHA384),
	SIGN_EC(CKM_ECDSA_SHA512, CA_HASH_SHA512),
	{ CKM_ECDH1_DERIVE, CA_KEY_EC, CKF_DERIVE, CA_ALG_ECDH, CA_HASH_NONE },
};

#define NMECHS (sizeof(mechs) / sizeof(mechs[0]))

/* Key sizes in bits: the agent's replies hold an RSA-8192 signature;
 * P-256 is the smallest curve cards use, P-521 the largest. */
#define RSA_MIN_BITS 1024
#define RSA_MAX_BITS 8192
#define EC_MIN_BITS 256
#define EC_MAX_BITS 521

const struct cp_mech *
cp_mech_find(CK_MECHANISM_TYPE type)
{
	size_t i;

	for (i = 0; i < NMECHS; i++)
		if (mechs[i].type == type)
			return &mechs[i];
	return NULL;
}

int
cp_hash_from_ckm(CK_MECHANISM_TYPE type)
{
	switch (type) {
	case CKM_SHA_1:
		return CA_HASH_SHA1;
	case CKM_SHA224:
		return CA_HASH_SHA224;
	case CKM_SHA256:
		return CA_HASH_SHA256;
	case CKM_SHA384:
		return CA_HASH_SHA384;
	case CKM_SHA512:
		return CA_HASH_SHA512;
	}
	return -1;
}

int
cp_hash_from_mgf(CK_RSA_PKCS_MGF_TYPE mgf)
{
	switch (mgf) {
	case CKG_MGF1_SHA1:
		return CA_HASH_SHA1;
	case CKG_MGF1_SHA224:
		return CA_HASH_SHA224;
	case CKG_MGF1_SHA256:
		return CA_HASH_SHA256;
	case CKG_MGF1_SHA384:
		return CA_HASH_SHA384;
	case CKG_MGF1_SHA512:
		return CA_HASH_SHA512;
	}
	return -1;
}

const EVP_MD *
cp_hash_md(uint8_t hash)
{
	const char *name = ca_hash_name(hash);

	return name != NULL ? EVP_get_digestbyname(name) : NULL;
}

CK_RV
cp_key_for(struct cp_mod *m, struct cp_session *s, const CK_MECHANISM *mech,
    CK_OBJECT_HANDLE key, CK_FLAGS flag, uint32_t op,
    const struct cp_mech **cm, struct cp_obj **o)
{
	if ((*cm = cp_mech_find(mech->mechanism)) == NULL ||
	    !((*cm)->flags & flag))
		return CKR_MECHANISM_INVALID;
	if ((*o = cp_obj_get(m, s, key)) == NULL)
		return CKR_KEY_HANDLE_INVALID;
	if ((*o)->cls != CKO_PRIVATE_KEY || (*o)->key_type != (*cm)->key_type)
		return CKR_KEY_TYPE_INCONSISTENT;
	if (!((*o)->ops & op))
		return CKR_KEY_FUNCTION_NOT_PERMITTED;
	return CKR_OK;
}

CK_RV
cp_op_begin(struct cp_mod *m, struct cp_session *s, const CK_MECHANISM *mech,
    CK_OBJECT_HANDLE key, enum cp_op_kind kind, struct cp_op *op)
{
	const struct cp_mech *cm;
	struct cp_obj *o;
	CK_RV rv;

	memset(op, 0, sizeof(*op));
	if ((rv = cp_key_for(m, s, mech, key, kind == CP_OP_SIGN ? CKF_SIGN :
	    CKF_DECRYPT, kind == CP_OP_SIGN ? CA_OP_SIGN : CA_OP_DECRYPT, &cm,
	    &o)) != CKR_OK)
		return rv;
	if ((op->key_id = strdup(o->key_id)) == NULL)
		return CKR_HOST_MEMORY;
	op->kind = kind;
	op->mech = cm;
	op->nbytes = o->nbytes;
	return CKR_OK;
}

CK_RV
cp_op_init(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key,
    cp_init_fn init)
{
	struct cp_session *s;
	struct cp_mod *m;
	CK_RV rv;

	if ((rv = cp_enter_session(h, &m, &s)) != CKR_OK)
		return rv;
	if (mech == NULL)
		rv = CKR_ARGUMENTS_BAD;
	else if (s->op.kind != CP_OP_NONE)
		rv = CKR_OPERATION_ACTIVE;
	else
		rv = init(m, s, mech, key);
	cp_leave();
	return rv;
}

/* Every slot offers every mechanism: the agent knows no more per token. */
static CK_RV
check_slot(CK_SLOT_ID id)
{
	struct cp_mod *m;
	CK_RV rv;

	if ((rv = cp_enter(&m)) != CKR_OK)
		return rv;
	if (cp_slot(m, id) == NULL)
		rv = CKR_SLOT_ID_INVALID;
	cp_leave();
	return rv;
}

CK_RV
C_GetMechanismList(CK_SLOT_ID id, CK_MECHANISM_TYPE_PTR list,
    CK_ULONG_PTR count)
{
	size_t i;
	CK_RV rv;

	if ((rv = check_slot(id)) != CKR_OK)
		return rv;
	if (count == NULL)
		return CKR_ARGUMENTS_BAD;
	if (list == NULL) {
		*count = NMECHS;
		return CKR_OK;
	}
	if (*count < NMECHS) {
		*count = NMECHS;
		return CKR_BUFFER_TOO_SMALL;
	}
	for (i = 0; i < NMECHS; i++)
		list[i] = mechs[i].type;
	*count = NMECHS;
	return CKR_OK;
}

CK_RV
C_GetMechanismInfo(CK_SLOT_ID id, CK_MECHANISM_TYPE type,
    CK_MECHANISM_INFO_PTR info)
{
	const struct cp_mech *mech;
	CK_RV rv;

	if ((rv = check_slot(id)) != CKR_OK)
		return rv;
	if (info == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((mech = cp_mech_find(type)) == NULL)
		return CKR_MECHANISM_INVALID;
	/* The private-key operation happens on the card. */
	info->flags = mech->flags | CKF_HW;
	if (mech->key_type == CA_KEY_RSA) {
		info->ulMinKeySize = RSA_MIN_BITS;
		info->ulMaxKeySize = RSA_MAX_BITS;
	} else {
		info->ulMinKeySize = EC_MIN_BITS;
		info->ulMaxKeySize = EC_MAX_BITS;
		info->flags |= CKF_EC_F_P | CKF_EC_NAMEDCURVE |
		    CKF_EC_UNCOMPRESS;
	}
	return CKR_OK;
}
