/*
 * keys.h: the provider's key object. An agent key carries the agent's
 * description of it and its public half as an ordinary EVP_PKEY from
 * another provider, which does everything that needs no private key
 * (parameters, export, comparison). A key without an id is a public key
 * imported for a peer (ECDH).
 */
#ifndef CARDAGENT_PROVIDER_KEYS_H
#define CARDAGENT_PROVIDER_KEYS_H

#include <stdatomic.h>

#include <openssl/evp.h>

#include "provider.h"

struct cak {
	atomic_int refs;
	struct cap_ctx *pc;
	struct ca_key k;	/* k.id is NULL for an imported public key */
	EVP_PKEY *pub;
	/*
	 * An idle connection to the agent for the key's next request, and
	 * the process that made it: a forked child must not share it.
	 */
	_Atomic(struct cac *) conn;
	atomic_int conn_pid;
};

/*
 * Makes a key object from the agent's description of a key. Returns it
 * with one reference, or NULL with an error raised.
 */
struct cak *cak_from_agent(struct cap_ctx *pc, const struct ca_key *k);

/* Take and drop a reference; the last cak_free() releases the key. */
void cak_up_ref(struct cak *key);
void cak_free(struct cak *key);

/* Keeps c for key's next request, or closes it if key has one already. */
void cak_give_conn(struct cak *key, struct cac *c);

/*
 * One request to the agent about key: fn(c, arg) on the key's idle
 * connection, else on a new one, which stays with the key when fn
 * succeeds. An idle connection the agent has dropped since (it was
 * restarted) is replaced once. Returns fn's result: CA_OK, or an error
 * with the reason in err.
 */
int cak_call(struct cak *key, int (*fn)(struct cac *, void *), void *arg,
    char *err, size_t errlen);

/* Does key live in the agent (so that private operations can use it)? */
int cak_is_private(const struct cak *key);

/* The signature or ciphertext size in bytes, i.e. EVP_PKEY_get_size(). */
size_t cak_size(const struct cak *key);

#endif
