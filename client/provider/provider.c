/*
 * provider.c: the cardagent OpenSSL 3 provider's entry point: the
 * algorithm tables, provider parameters, error strings and the helpers
 * the operation files share.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "provider.h"

#define CAP_PROPS "provider=" CAP_NAME

static const OSSL_ALGORITHM keymgmt_algs[] = {
	{ "RSA:rsaEncryption:1.2.840.113549.1.1.1", CAP_PROPS,
	    cap_rsa_keymgmt, "cardagent RSA keys" },
	{ "EC:id-ecPublicKey:1.2.840.10045.2.1", CAP_PROPS, cap_ec_keymgmt,
	    "cardagent EC keys" },
	{ NULL, NULL, NULL, NULL }
};

static const OSSL_ALGORITHM signature_algs[] = {
	{ "RSA:rsaEncryption:1.2.840.113549.1.1.1", CAP_PROPS,
	    cap_rsa_signature, "cardagent RSA signatures" },
	{ "ECDSA", CAP_PROPS, cap_ecdsa_signature, "cardagent ECDSA" },
	{ NULL, NULL, NULL, NULL }
};

static const OSSL_ALGORITHM cipher_algs[] = {
	{ "RSA:rsaEncryption:1.2.840.113549.1.1.1", CAP_PROPS,
	    cap_rsa_cipher, "cardagent RSA decryption" },
	{ NULL, NULL, NULL, NULL }
};

static const OSSL_ALGORITHM exchange_algs[] = {
	{ "ECDH", CAP_PROPS, cap_ecdh_exchange, "cardagent ECDH" },
	{ NULL, NULL, NULL, NULL }
};

static const OSSL_ALGORITHM store_algs[] = {
	{ "cardagent", CAP_PROPS, cap_store, "cardagent key ids" },
	{ "pkcs11", CAP_PROPS, cap_store, "PKCS#11 URIs of agent keys" },
	{ NULL, NULL, NULL, NULL }
};

static const OSSL_ITEM reason_strings[] = {
	{ CAP_R_AGENT, "cardagent failed" },
	{ CAP_R_NO_AGENT, "cardagent is not reachable" },
	{ CAP_R_BAD_PARAM, "unsupported parameter" },
	{ CAP_R_NOT_PRIVATE, "not a cardagent private key" },
	{ CAP_R_OPENSSL, "OpenSSL call failed" },
	{ CAP_R_BAD_URI, "no such cardagent key" },
	{ 0, NULL }
};

static const OSSL_PARAM gettable_params[] = {
	OSSL_PARAM_DEFN(OSSL_PROV_PARAM_NAME, OSSL_PARAM_UTF8_PTR, NULL, 0),
	OSSL_PARAM_DEFN(OSSL_PROV_PARAM_VERSION, OSSL_PARAM_UTF8_PTR, NULL, 0),
	OSSL_PARAM_DEFN(OSSL_PROV_PARAM_BUILDINFO, OSSL_PARAM_UTF8_PTR,
	    NULL, 0),
	OSSL_PARAM_DEFN(OSSL_PROV_PARAM_STATUS, OSSL_PARAM_INTEGER, NULL, 0),
	OSSL_PARAM_END
};

void
cap_error_at(struct cap_ctx *pc, const char *file, int line,
    const char *func, int reason, const char *fmt, ...)
{
	va_list ap;

	if (pc == NULL || pc->new_error == NULL || pc->vset_error == NULL)
		return;
	pc->new_error(pc->handle);
	if (pc->set_error_debug != NULL)
		pc->set_error_debug(pc->handle, file, line, func);
	va_start(ap, fmt);
	pc->vset_error(pc->handle, reason, fmt, ap);
	va_end(ap);
}

int
cap_connect(struct cap_ctx *pc, struct cac **c)
{
	char err[256];

	if (cac_connect(NULL, c, err, sizeof(err)) != CA_OK) {
		cap_error(pc, CAP_R_NO_AGENT, "%s", err);
		return 0;
	}
	return 1;
}

int
cap_hash_from_name(struct cap_ctx *pc, const char *name)
{
	EVP_MD *md;
	int h, found = CA_HASH_NONE;

	/* Fetching resolves every alias ("SHA2-256", "sha256", OIDs). */
	if ((md = EVP_MD_fetch(pc->libctx, name, CAP_PROPQ)) == NULL)
		return CA_HASH_NONE;
	for (h = CA_HASH_SHA1; h <= CA_HASH_SHA512; h++) {
		if (EVP_MD_is_a(md, ca_hash_name((uint8_t)h))) {
			found = h;
			break;
		}
	}
	EVP_MD_free(md);
	return found;
}

static const OSSL_ALGORITHM *
cap_query(void *provctx, int operation_id, int *no_cache)
{
	(void)provctx;
	*no_cache = 0;
	switch (operation_id) {
	case OSSL_OP_KEYMGMT:
		return keymgmt_algs;
	case OSSL_OP_SIGNATURE:
		return signature_algs;
	case OSSL_OP_ASYM_CIPHER:
		return cipher_algs;
	case OSSL_OP_KEYEXCH:
		return exchange_algs;
	case OSSL_OP_STORE:
		return store_algs;
	}
	return NULL;
}

static const OSSL_PARAM *
cap_gettable_params(void *provctx)
{
	(void)provctx;
	return gettable_params;
}

static int
cap_get_params(void *provctx, OSSL_PARAM params[])
{
	OSSL_PARAM *p;

	(void)provctx;
	if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME)) != NULL &&
	    !OSSL_PARAM_set_utf8_ptr(p, "cardagent provider"))
		return 0;
	if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_VERSION)) != NULL &&
	    !OSSL_PARAM_set_utf8_ptr(p, CARDAGENT_VERSION))
		return 0;
	if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_BUILDINFO)) !=
	    NULL && !OSSL_PARAM_set_utf8_ptr(p, CARDAGENT_VERSION))
		return 0;
	if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS)) != NULL &&
	    !OSSL_PARAM_set_int(p, 1))
		return 0;
	return 1;
}

static const OSSL_ITEM *
cap_reason_strings(void *provctx)
{
	(void)provctx;
	return reason_strings;
}

static void
cap_teardown(void *provctx)
{
	struct cap_ctx *pc = provctx;

	if (pc == NULL)
		return;
	OSSL_LIB_CTX_free(pc->libctx);
	free(pc);
}

static const OSSL_DISPATCH provider_functions[] = {
	{ OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))cap_teardown },
	{ OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))cap_query },
	{ OSSL_FUNC_PROVIDER_GETTABLE_PARAMS,
	    (void (*)(void))cap_gettable_params },
	{ OSSL_FUNC_PROVIDER_GET_PARAMS, (void (*)(void))cap_get_params },
	{ OSSL_FUNC_PROVIDER_GET_REASON_STRINGS,
	    (void (*)(void))cap_reason_strings },
	{ 0, NULL }
};

/* The module's one exported symbol; everything else stays hidden. */
__attribute__((visibility("default"))) int
OSSL_provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
    const OSSL_DISPATCH **out, void **provctx)
{
	struct cap_ctx *pc;
	const OSSL_DISPATCH *d;

	if ((pc = calloc(1, sizeof(*pc))) == NULL)
		return 0;
	pc->handle = handle;
	for (d = in; d->function_id != 0; d++) {
		switch (d->function_id) {
		case OSSL_FUNC_CORE_NEW_ERROR:
			pc->new_error = OSSL_FUNC_core_new_error(d);
			break;
		case OSSL_FUNC_CORE_SET_ERROR_DEBUG:
			pc->set_error_debug = OSSL_FUNC_core_set_error_debug(d);
			break;
		case OSSL_FUNC_CORE_VSET_ERROR:
			pc->vset_error = OSSL_FUNC_core_vset_error(d);
			break;
		}
	}
	if ((pc->libctx = OSSL_LIB_CTX_new_child(handle, in)) == NULL) {
		cap_teardown(pc);
		return 0;
	}
	*out = provider_functions;
	*provctx = pc;
	return 1;
}
