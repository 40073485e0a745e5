/*
 * provider.h: what the parts of the cardagent OpenSSL provider share: the
 * provider context, error reporting, agent connections and the dispatch
 * tables each operation file exports to provider.c.
 */
#ifndef CARDAGENT_PROVIDER_H
#define CARDAGENT_PROVIDER_H

#include <openssl/core.h>
#include <openssl/core_dispatch.h>

#include "cardagent.h"

#define CAP_NAME "cardagent"
/*
 * The property query for the provider's own fetches (digests, KDFs, public
 * key parsing): they must not come back here, where an import would
 * recurse and keys have no private half.
 */
#define CAP_PROPQ "provider!=" CAP_NAME

/* Reasons for errors raised by the provider (see cap_error()). */
#define CAP_R_AGENT 1		/* the agent refused or failed */
#define CAP_R_NO_AGENT 2	/* the agent cannot be reached */
#define CAP_R_BAD_PARAM 3	/* an unsupported parameter value */
#define CAP_R_NOT_PRIVATE 4	/* a public key where the agent's is needed */
#define CAP_R_OPENSSL 5		/* an OpenSSL call inside the provider */
#define CAP_R_BAD_URI 6		/* a store URI names no usable key */

/*
 * One per loaded provider. There is no agent connection here: each key
 * keeps one between its operations (keys.h), which a forked child does
 * not use and one thread at a time takes.
 */
struct cap_ctx {
	const OSSL_CORE_HANDLE *handle;
	/* A child of the application's library context, for digests, KDFs
	 * and parsing public keys with the other loaded providers. */
	OSSL_LIB_CTX *libctx;
	OSSL_FUNC_core_new_error_fn *new_error;
	OSSL_FUNC_core_set_error_debug_fn *set_error_debug;
	OSSL_FUNC_core_vset_error_fn *vset_error;
};

/* Raises an OpenSSL error with reason and a formatted description. */
void cap_error_at(struct cap_ctx *pc, const char *file, int line,
    const char *func, int reason, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
#define cap_error(pc, reason, ...) \
	cap_error_at((pc), __FILE__, __LINE__, __func__, (reason), __VA_ARGS__)

/*
 * Connects to the agent ($CARDAGENT_SOCK or libcardagent's default). Returns
 * 1 with *c set, to be closed with cac_close(), or 0 with an error raised.
 */
int cap_connect(struct cap_ctx *pc, struct cac **c);

/* The ca_hash for an OpenSSL digest name, or CA_HASH_NONE if unknown. */
int cap_hash_from_name(struct cap_ctx *pc, const char *name);

extern const OSSL_DISPATCH cap_rsa_keymgmt[];
extern const OSSL_DISPATCH cap_ec_keymgmt[];
extern const OSSL_DISPATCH cap_rsa_signature[];
extern const OSSL_DISPATCH cap_ecdsa_signature[];
extern const OSSL_DISPATCH cap_rsa_cipher[];
extern const OSSL_DISPATCH cap_ecdh_exchange[];
extern const OSSL_DISPATCH cap_store[];

#endif
