/*
 * cardagent.h: libcardagent, the client side of the cardagent protocol.
 *
 * A connection carries one request at a time; the calls block until the
 * agent answers (which may include the user typing a PIN). Functions return
 * CA_OK (0) or an error: a protocol status from msg.h (CA_E_*), or one of
 * the client-side codes below. cac_errmsg() then holds a readable reason.
 * A connection is not thread-safe; use one per thread.
 */
#ifndef CARDAGENT_CLIENT_H
#define CARDAGENT_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"

/* Client-side errors, beyond the protocol's own. */
#define CAC_E_NO_AGENT 100	/* no agent at the socket */
#define CAC_E_IO 101		/* the connection broke */

struct cac;
struct ca_secret;

/*
 * Connects to the agent at path, or at $CARDAGENT_SOCK, or at the default
 * $XDG_RUNTIME_DIR/cardagent/agent.sock, and does the version handshake.
 * On success *out is a connection the caller closes with cac_close().
 * On failure *out is NULL and err (if not NULL) gets the reason.
 */
int cac_connect(const char *path, struct cac **out, char *err,
    size_t errlen);

/*
 * cac_connect() and cac_list_keys() in one round trip: the handshake and
 * the request go out together. On success the caller frees *keys with
 * cac_keys_free() and closes *out.
 */
int cac_connect_list(const char *path, struct cac **out, struct ca_key **keys,
    size_t *n, char *err, size_t errlen);

void cac_close(struct cac *c);

/*
 * A connection over fd, a socket to the agent whose version handshake is
 * done: a duplicate of another connection's, for a second client in the
 * same process (see CAC_STORE_PARAM_FD). On success *out owns fd.
 */
int cac_from_fd(int fd, struct cac **out);

/*
 * The socket under c. Two connections on one socket must take turns: one
 * request and its reply at a time.
 */
int cac_fd(const struct cac *c);

/* The reason for the last failure on c; valid until the next call. */
const char *cac_errmsg(const struct cac *c);

/* The agent's tokens; the caller frees with cac_tokens_free(). */
int cac_status(struct cac *c, struct ca_token **tokens, size_t *n);
/*
 * Subscribes to token events: cb gets the tokens now and again at every
 * change (a card inserted or pulled, a login or logout, a PIN state, a
 * module host down or back), until it returns non-zero. The array is
 * freed when cb returns. Returns CA_OK when cb ended it, otherwise the
 * error (CAC_E_IO: the agent went away); c serves nothing else after.
 */
int cac_watch(struct cac *c, int (*cb)(void *arg, const struct ca_token *t,
    size_t n), void *arg);

void cac_tokens_free(struct ca_token *tokens, size_t n);

/* The agent's keys; the caller frees with cac_keys_free(). */
int cac_list_keys(struct cac *c, struct ca_key **keys, size_t *n);
void cac_keys_free(struct ca_key *keys, size_t n);

struct cac_sign_params {
	uint8_t alg;	/* CA_ALG_RSA_PKCS1, CA_ALG_RSA_PSS, CA_ALG_ECDSA */
	uint8_t hash;	/* the hash that made the digest */
	uint8_t mgf;	/* PSS: MGF1 hash, 0 = same as hash */
	uint32_t salt;	/* PSS: salt length, 0xffffffff = digest length */
};

/*
 * Signs a digest. RSA signatures are exactly the modulus length; ECDSA
 * signatures are DER ECDSA-Sig-Value. *sig is malloc()ed; caller frees.
 */
int cac_sign(struct cac *c, const char *key_id,
    const struct cac_sign_params *p, const uint8_t *digest, size_t len,
    uint8_t **sig, size_t *siglen);

struct cac_decrypt_params {
	uint8_t alg;	/* CA_ALG_RSA_PKCS1 or CA_ALG_RSA_OAEP */
	uint8_t hash;	/* OAEP hash */
	uint8_t mgf;	/* OAEP MGF1 hash, 0 = same as hash */
	const uint8_t *label;
	size_t label_len;
};

/* Decrypts (unwraps) with an RSA key; *out is locked memory the caller
 * frees with ca_secret_free(). */
int cac_decrypt(struct cac *c, const char *key_id,
    const struct cac_decrypt_params *p, const uint8_t *in, size_t len,
    struct ca_secret **out);

/* ECDH with an EC key and the peer's uncompressed point; *out is the raw
 * shared secret in locked memory, freed with ca_secret_free(). */
int cac_derive(struct cac *c, const char *key_id, const uint8_t *point,
    size_t len, struct ca_secret **out);

/*
 * Logs in to a token (token_id NULL or "": the one token that needs it).
 * pin NULL lets the agent ask through pinentry.
 */
int cac_login(struct cac *c, const char *token_id,
    const struct ca_secret *pin);

/* Logs out of one token, or of all with token_id NULL or "". */
int cac_lock(struct cac *c, const char *token_id);

/*
 * Picks the key that sel names among keys: a key id, a PKCS#11 URI (RFC
 * 7512, matched with p11-kit), or an e-mail address in the key's
 * certificate. need (CA_OP_*) narrows the choice, e.g. an address names
 * both a signing and a decryption key. Returns CA_OK with *idx set;
 * CA_E_NO_KEY when none or several keys match; CA_E_NOT_ALLOWED when keys
 * match but none can do need. err then holds the reason.
 */
int cac_select_key(const struct ca_key *keys, size_t n, const char *sel,
    uint32_t need, size_t *idx, char *err, size_t errlen);

/*
 * An OSSL_STORE parameter of the cardagent OpenSSL provider (octet
 * string): the agent's key list as one KEYS_REPLY frame, for a program
 * that has listed the keys already. The store selects from it instead of
 * asking the agent again.
 */
#define CAC_STORE_PARAM_KEYS "cardagent-keys"
/*
 * Another (int): a socket to the agent, its handshake done (cac_fd()),
 * for the loaded key's requests instead of a new connection. The store
 * takes a duplicate; the caller closes its own or leaves it alone while
 * the key may be in use.
 */
#define CAC_STORE_PARAM_FD "cardagent-fd"

#endif
