/*
 * unsupported.c: the functions of the PKCS#11 2.40 interface the module
 * does not offer. The agent has no way to write to a token, change a
 * PIN, hash, make random numbers, or verify and encrypt for the caller
 * (public-key operations belong in the application's own crypto), and
 * unwrapping is not done yet; so these only say so, after the
 * initialisation check every function makes.
 */
#include "module.h"

/* The parameters are named for the reader and used by none. */
#pragma GCC diagnostic ignored "-Wunused-parameter"

static CK_RV
answer(CK_RV rv)
{
	struct cp_mod *m;
	CK_RV init;

	if ((init = cp_enter(&m)) != CKR_OK)
		return init;
	cp_leave();
	return rv;
}

#define NOT_SUPPORTED(name, params) \
	CK_RV name params { return answer(CKR_FUNCTION_NOT_SUPPORTED); }
/* The agent offers no random numbers: the token has no CKF_RNG. */
#define NO_RNG(name, params) \
	CK_RV name params { return answer(CKR_RANDOM_NO_RNG); }

NOT_SUPPORTED(C_InitToken, (CK_SLOT_ID slot, CK_UTF8CHAR_PTR pin,
    CK_ULONG pin_len, CK_UTF8CHAR_PTR label))
NOT_SUPPORTED(C_InitPIN, (CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR pin,
    CK_ULONG pin_len))
NOT_SUPPORTED(C_SetPIN, (CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR old,
    CK_ULONG old_len, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len))
NOT_SUPPORTED(C_GetOperationState, (CK_SESSION_HANDLE h, CK_BYTE_PTR state,
    CK_ULONG_PTR len))
NOT_SUPPORTED(C_SetOperationState, (CK_SESSION_HANDLE h, CK_BYTE_PTR state,
    CK_ULONG len, CK_OBJECT_HANDLE enc, CK_OBJECT_HANDLE auth))
NOT_SUPPORTED(C_CreateObject, (CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR tmpl,
    CK_ULONG n, CK_OBJECT_HANDLE_PTR obj))
NOT_SUPPORTED(C_CopyObject, (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj,
    CK_ATTRIBUTE_PTR tmpl, CK_ULONG n, CK_OBJECT_HANDLE_PTR copy))
NOT_SUPPORTED(C_SetAttributeValue, (CK_SESSION_HANDLE h,
    CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n))
NOT_SUPPORTED(C_EncryptInit, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech,
    CK_OBJECT_HANDLE key))
NOT_SUPPORTED(C_Encrypt, (CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG len,
    CK_BYTE_PTR out, CK_ULONG_PTR out_len))
NOT_SUPPORTED(C_EncryptUpdate, (CK_SESSION_HANDLE h, CK_BYTE_PTR in,
    CK_ULONG len, CK_BYTE_PTR out, CK_ULONG_PTR out_len))
NOT_SUPPORTED(C_EncryptFinal, (CK_SESSION_HANDLE h, CK_BYTE_PTR out,
    CK_ULONG_PTR out_len))
/* RSA decryption is single-part. */
NOT_SUPPORTED(C_DecryptUpdate, (CK_SESSION_HANDLE h, CK_BYTE_PTR in,
    CK_ULONG len, CK_BYTE_PTR out, CK_ULONG_PTR out_len))
NOT_SUPPORTED(C_DecryptFinal, (CK_SESSION_HANDLE h, CK_BYTE_PTR out,
    CK_ULONG_PTR out_len))
NOT_SUPPORTED(C_DigestInit, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech))
NOT_SUPPORTED(C_Digest, (CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG len,
    CK_BYTE_PTR out, CK_ULONG_PTR out_len))
NOT_SUPPORTED(C_DigestUpdate, (CK_SESSION_HANDLE h, CK_BYTE_PTR in,
    CK_ULONG len))
NOT_SUPPORTED(C_DigestKey, (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE key))
NOT_SUPPORTED(C_DigestFinal, (CK_SESSION_HANDLE h, CK_BYTE_PTR out,
    CK_ULONG_PTR out_len))
NOT_SUPPORTED(C_SignRecoverInit, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech,
    CK_OBJECT_HANDLE key))
NOT_SUPPORTED(C_SignRecover, (CK_SESSION_HANDLE h, CK_BYTE_PTR in,
    CK_ULONG len, CK_BYTE_PTR out, CK_ULONG_PTR out_len))
NOT_SUPPORTED(C_VerifyInit, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech,
    CK_OBJECT_HANDLE key))
NOT_SUPPORTED(C_Verify, (CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG len,
    CK_BYTE_PTR sig, CK_ULONG sig_len))
NOT_SUPPORTED(C_VerifyUpdate, (CK_SESSION_HANDLE h, CK_BYTE_PTR in,
    CK_ULONG len))
NOT_SUPPORTED(C_VerifyFinal, (CK_SESSION_HANDLE h, CK_BYTE_PTR sig,
    CK_ULONG sig_len))
NOT_SUPPORTED(C_VerifyRecoverInit, (CK_SESSION_HANDLE h,
    CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key))
NOT_SUPPORTED(C_VerifyRecover, (CK_SESSION_HANDLE h, CK_BYTE_PTR sig,
    CK_ULONG sig_len, CK_BYTE_PTR out, CK_ULONG_PTR out_len))
NOT_SUPPORTED(C_DigestEncryptUpdate, (CK_SESSION_HANDLE h, CK_BYTE_PTR in,
    CK_ULONG len, CK_BYTE_PTR out, CK_ULONG_PTR out_len))
NOT_SUPPORTED(C_DecryptDigestUpdate, (CK_SESSION_HANDLE h, CK_BYTE_PTR in,
    CK_ULONG len, CK_BYTE_PTR out, CK_ULONG_PTR out_len))
NOT_SUPPORTED(C_SignEncryptUpdate, (CK_SESSION_HANDLE h, CK_BYTE_PTR in,
    CK_ULONG len, CK_BYTE_PTR out, CK_ULONG_PTR out_len))
NOT_SUPPORTED(C_DecryptVerifyUpdate, (CK_SESSION_HANDLE h, CK_BYTE_PTR in,
    CK_ULONG len, CK_BYTE_PTR out, CK_ULONG_PTR out_len))
NOT_SUPPORTED(C_GenerateKey, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech,
    CK_ATTRIBUTE_PTR tmpl, CK_ULONG n, CK_OBJECT_HANDLE_PTR key))
NOT_SUPPORTED(C_GenerateKeyPair, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech,
    CK_ATTRIBUTE_PTR pub_tmpl, CK_ULONG npub, CK_ATTRIBUTE_PTR priv_tmpl,
    CK_ULONG npriv, CK_OBJECT_HANDLE_PTR pub, CK_OBJECT_HANDLE_PTR priv))
NOT_SUPPORTED(C_WrapKey, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech,
    CK_OBJECT_HANDLE wrapping, CK_OBJECT_HANDLE key, CK_BYTE_PTR out,
    CK_ULONG_PTR out_len))
NOT_SUPPORTED(C_UnwrapKey, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech,
    CK_OBJECT_HANDLE unwrapping, CK_BYTE_PTR in, CK_ULONG len,
    CK_ATTRIBUTE_PTR tmpl, CK_ULONG n, CK_OBJECT_HANDLE_PTR key))
NO_RNG(C_SeedRandom, (CK_SESSION_HANDLE h, CK_BYTE_PTR seed,
    CK_ULONG len))
NO_RNG(C_GenerateRandom, (CK_SESSION_HANDLE h, CK_BYTE_PTR out,
    CK_ULONG len))

/* Legacy: PKCS#11 2.40 has these answer CKR_FUNCTION_NOT_PARALLEL. */
CK_RV
C_GetFunctionStatus(CK_SESSION_HANDLE h)
{
	return answer(CKR_FUNCTION_NOT_PARALLEL);
}

CK_RV
C_CancelFunction(CK_SESSION_HANDLE h)
{
	return answer(CKR_FUNCTION_NOT_PARALLEL);
}
