/*
 * p11.h: the token host's PKCS#11 layer.
 *
 * Loads one module, reads a token into the protocol's ca_token/ca_key
 * index, and performs the protocol's operations on one token's session.
 * Nothing here knows about threads or the channel: tokenhost.c gives each
 * token to one thread and calls these functions from it only.
 */
#ifndef CARDAGENT_P11_H
#define CARDAGENT_P11_H

#include <stddef.h>
#include <stdint.h>

#include <p11-kit/pkcs11.h>

#include "msg.h"

struct ca_secret;

struct p11_module {
	void *dl;
	CK_FUNCTION_LIST_PTR f;
	char *path;
};

/* dlopen()s path and initialises it; logs and returns -1 on failure. */
int p11_module_load(struct p11_module *mod, const char *path);
/* Finalises the module (it stays mapped until the process exits); no
 * session of the module may be in use. */
void p11_module_unload(struct p11_module *mod);
/* The slots that hold a token, in a new array the caller frees. */
CK_RV p11_slots(const struct p11_module *mod, CK_SLOT_ID **slots,
    size_t *nslots);

/*
 * A private key's handle, found once: searching costs more than signing on
 * some modules (SoftHSM re-reads every object file).
 */
#define P11_HCACHE 32
struct p11_hkey {
	uint8_t ckaid[64];
	size_t len;
	CK_OBJECT_HANDLE h;
};

/* One slot and the session the host keeps on it. */
struct p11_token {
	const struct p11_module *mod;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE session;
	int open;		/* session is usable; cleared when it is lost */
	CK_FLAGS tflags;	/* CK_TOKEN_INFO flags when last read */
	/* valid for the current session and login only */
	struct p11_hkey hcache[P11_HCACHE];
	size_t nhcache;
};

/* Why a request failed: what to tell the user, and what to log. */
struct p11_fail {
	enum ca_status status;
	CK_RV rv;		/* CKR_OK when refused before the module ran */
	const char *fn;		/* the PKCS#11 function that failed */
	char why[160];		/* user-readable detail; empty: the status */
	int ctx_login;		/* a context-specific login failed */
};

/*
 * Reads the token in t's slot into a new token entry and key list (opening
 * the session when it is closed). On failure nothing is returned;
 * CKR_TOKEN_NOT_PRESENT means the slot is empty.
 */
CK_RV p11_read_index(struct p11_token *t, struct ca_token *tok,
    struct ca_key **keys, size_t *nkeys);
/* The CA_TOK_* flags as they are now. */
CK_RV p11_read_flags(struct p11_token *t, uint32_t *flags);
/* Whether the slot holds a token, asking the slot only. */
int p11_present(struct p11_token *t);
/*
 * Whether the open session (if any) still works: a card pulled and put
 * back between two looks leaves it invalid, and it is then marked closed.
 */
int p11_session_alive(struct p11_token *t);

/* C_Login as the user; pin NULL uses the reader's PIN pad. */
int p11_login(struct p11_token *t, const struct ca_secret *pin,
    struct p11_fail *f);
int p11_logout(struct p11_token *t, struct p11_fail *f);

/*
 * Checks a SIGN, DECRYPT or DERIVE request against key k without calling
 * the module: algorithm, key type and usage, lengths, PIN presence.
 */
int p11_check(const struct p11_token *t, const struct ca_key *k,
    const struct ca_msg *m, struct p11_fail *f);

/* Perform a request that passed p11_check(). Return 0 or -1 with f set. */
int p11_sign(struct p11_token *t, const struct ca_key *k,
    const struct ca_msg *m, uint8_t **sig, size_t *siglen,
    struct p11_fail *f);
int p11_decrypt(struct p11_token *t, const struct ca_key *k,
    const struct ca_msg *m, struct ca_secret **out, struct p11_fail *f);
int p11_derive(struct p11_token *t, const struct ca_key *k,
    const struct ca_msg *m, struct ca_secret **out, struct p11_fail *f);

#endif
