/*
 * module.h: what the parts of cardagent-pkcs11.so share.
 *
 * The module is a PKCS#11 front for the agent: slots are the agent's
 * tokens, objects its keys, and every private-key operation, login and
 * logout is a request to the agent over libcardagent. All state lives in
 * one struct cp_mod behind one lock (module.c); no agent request is ever
 * made with the lock held, since a request may wait for the user to type
 * a PIN.
 */
#ifndef CARDAGENT_PKCS11_MODULE_H
#define CARDAGENT_PKCS11_MODULE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>

#include "cardagent.h"

/* Idle agent connections kept for the next request. */
#define CP_POOL_MAX 4
/* Bounds on what the module keeps, whatever the agent says. */
#define CP_SLOTS_MAX CA_LIST_MAX
#define CP_SESSIONS_MAX 1024
#define CP_OBJECTS_MAX 16384

/* One attribute of an object, as PKCS#11 hands it out. */
struct cp_attr {
	CK_ATTRIBUTE_TYPE type;
	void *val;		/* owned, NULL when len is 0 */
	CK_ULONG len;
	int sensitive;		/* exists, but is never revealed */
	struct ca_secret *secret; /* when set, val points into it */
};

/*
 * An object: one of the three an agent key makes (certificate, public
 * key, private key), or a secret a session derived. Handles stay the same
 * for a key while the module is initialised.
 */
struct cp_obj {
	CK_OBJECT_HANDLE h;
	CK_SLOT_ID slot;
	CK_OBJECT_CLASS cls;
	/* Token objects: listed by the agent at its last look. */
	int live;
	/* Session objects: the session that made it; 0 for token objects. */
	CK_SESSION_HANDLE owner;
	char *key_id;		/* token objects: the agent's key id */
	uint8_t key_type;	/* CA_KEY_* */
	uint32_t ops;		/* CA_OP_* */
	size_t nbytes;		/* RSA modulus or EC field bytes */
	struct cp_attr *attrs;
	size_t nattrs;
};

/* A slot holds one agent token for the module's life. */
struct cp_slot {
	struct ca_token tok;	/* as the agent last described it */
	int present;		/* listed by the agent, and its card is in */
	int event;		/* presence changed, not yet reported */
	int login;		/* this application logged in (C_Login) */
};

/* A mechanism the module offers (mech.c). */
struct cp_mech {
	CK_MECHANISM_TYPE type;
	uint8_t key_type;	/* CA_KEY_* */
	CK_FLAGS flags;		/* CKF_SIGN, CKF_DECRYPT or CKF_DERIVE */
	uint8_t alg;		/* CA_ALG_* */
	uint8_t hash;		/* hashed here; CA_HASH_NONE: the caller's */
};

enum cp_op_kind {
	CP_OP_NONE,
	CP_OP_SIGN,
	CP_OP_DECRYPT,
};

/* A session's sign or decrypt operation, from its Init to its end. */
struct cp_op {
	enum cp_op_kind kind;
	const struct cp_mech *mech;
	char *key_id;
	size_t nbytes;		/* RSA modulus or EC field bytes */
	size_t outlen;		/* the signature's or the plaintext's bound */
	uint8_t hash;		/* of the digest the agent signs; OAEP hash */
	uint8_t mgf;		/* PSS and OAEP MGF1 hash */
	uint32_t salt;		/* PSS */
	uint8_t *label;		/* OAEP */
	size_t label_len;
	EVP_MD_CTX *md;		/* mechanisms that hash here */
	int updated;		/* C_SignUpdate was called */
	/* A plaintext that did not fit the caller's buffer, kept for the
	 * call that brings a bigger one instead of decrypting again. */
	struct ca_secret *result;
};

struct cp_session {
	CK_SESSION_HANDLE h;
	CK_SLOT_ID slot;
	CK_FLAGS flags;
	struct cp_op op;
	int finding;		/* between C_FindObjectsInit and Final */
	CK_OBJECT_HANDLE *found; /* what C_FindObjectsInit matched */
	size_t nfound, next;	/* next: the first not handed out yet */
};

/* A thread blocked in C_WaitForSlotEvent, on its own WATCH connection. */
struct cp_waiter {
	int fd;			/* -1 until connected */
	struct cp_waiter *next;
};

struct cp_mod {
	pid_t pid;		/* the process that initialised the module */
	uint64_t gen;		/* tells this initialisation from others */
	struct cac *pool[CP_POOL_MAX];
	size_t npool;
	struct cp_slot *slots;	/* slot id i + 1 is slots[i] */
	size_t nslots;
	int looked;		/* slots hold a first answer from the agent */
	struct cp_session **sessions;
	size_t nsessions;
	CK_SESSION_HANDLE next_session;
	struct cp_obj **objs;
	size_t nobjs;
	CK_OBJECT_HANDLE next_obj;
	struct cp_waiter *waiters;
	pthread_cond_t cv;	/* a waiter left, or C_Finalize began */
};

/* module.c */

/*
 * Locks the module and sets *m, or returns CKR_CRYPTOKI_NOT_INITIALIZED
 * (not locked) when it is not initialised in this process: a forked child
 * must call C_Initialize and never touches the parent's connections.
 */
CK_RV cp_enter(struct cp_mod **m);
/* cp_enter() and the session h, or CKR_SESSION_HANDLE_INVALID (not locked). */
CK_RV cp_enter_session(CK_SESSION_HANDLE h, struct cp_mod **m,
    struct cp_session **s);
/* Unlocks what cp_enter() locked. */
void cp_leave(void);
/* Copies s (NULL: nothing) into a blank-padded PKCS#11 text field of size
 * bytes, cutting only between UTF-8 characters. */
void cp_pad(unsigned char *field, size_t size, const char *s);
/*
 * The module's lock, for pthread_cond_wait() on cp_mod.cv, and whether m
 * is still the initialised module (C_Finalize may have run meanwhile).
 */
pthread_mutex_t *cp_lock(void);
int cp_current(const struct cp_mod *m);

/* agent.c */

/* How cp_agent() picks a connection. */
enum cp_conn {
	/* An idle one if any; when the agent has closed it since (it was
	 * restarted), the request goes again on a new one. */
	CP_REUSE,
	/* A new one, and no second try: for a PIN, which must never be
	 * sent twice. */
	CP_FRESH,
};

/*
 * Runs fn(c, arg) on a connection to the agent ($CARDAGENT_SOCK or the
 * default socket, as cac_connect() finds it), then keeps the connection
 * for the next request. Call without the module lock. Returns fn's
 * status: CA_OK, a CA_E_* or CAC_E_* code.
 */
int cp_agent(int (*fn)(struct cac *, void *), void *arg, enum cp_conn how);
/* Closes the idle connections (C_Finalize; a child drops its copies). */
void cp_pool_close(struct cp_mod *m);

/* errors.c */

/* What a request was for: a few statuses mean different things. */
enum cp_what {
	CP_FOR_TOKEN,	/* STATUS, LIST_KEYS, LOGIN, LOCK */
	CP_FOR_SIGN,
	CP_FOR_DECRYPT,
	CP_FOR_DERIVE,
};

/* The CKR_* value for an agent or libcardagent status. */
CK_RV cp_rv(int status, enum cp_what what);

/* slots.c */

/*
 * Brings the slots up to date with tokens (n of them), as the agent
 * listed them; with tokens NULL the agent could not be asked and every
 * token counts as absent. A token that comes or goes gets an event; one
 * that goes closes its sessions. Called with the lock held.
 */
void cp_slots_update(struct cp_mod *m, const struct ca_token *tokens,
    size_t n);
/* Asks the agent for its tokens and updates the slots; without the lock. */
void cp_slots_refresh(void);
/* The slot with id id, or NULL. */
struct cp_slot *cp_slot(struct cp_mod *m, CK_SLOT_ID id);

/* sessions.c */

/* Closes every session on slot (its token went). Lock held. */
void cp_sessions_close_slot(struct cp_mod *m, CK_SLOT_ID slot);
/* Ends an operation and frees what it held. */
void cp_op_clear(struct cp_op *op);
/* Frees a session and its objects; m may be NULL when tearing down. */
void cp_session_free(struct cp_mod *m, struct cp_session *s);

/* objects.c */

/*
 * Asks the agent for its tokens and keys and brings slots and objects up
 * to date. Call without the lock.
 */
void cp_objects_refresh(void);
/*
 * The object h as session s may see it: a live token object on s's slot
 * or a session object of that slot. NULL otherwise.
 */
struct cp_obj *cp_obj_get(struct cp_mod *m, struct cp_session *s,
    CK_OBJECT_HANDLE h);
/*
 * Adds an object made elsewhere (a derived secret) to the table, giving
 * it a handle. Returns CKR_OK, or CKR_HOST_MEMORY when the table is full;
 * then o stays the caller's.
 */
CK_RV cp_obj_add(struct cp_mod *m, struct cp_obj *o);
/* Drops and frees the session objects of session h. */
void cp_objs_drop_session(struct cp_mod *m, CK_SESSION_HANDLE h);

/* attrs.c */

/*
 * Builds the objects of agent key k on slot: the certificate (when k has
 * one), the public key and the private key, in out[0..*n). Parses k's DER
 * with OpenSSL. Returns CKR_OK with the objects the caller now owns, or
 * with none CKR_HOST_MEMORY, or CKR_GENERAL_ERROR for a certificate or
 * public key that does not parse.
 */
CK_RV cp_key_objects(const struct ca_key *k, CK_SLOT_ID slot,
    struct cp_obj *out[3], size_t *n);
/*
 * Appends an attribute with a copy of len bytes at val. Returns 0, or -1
 * when out of memory.
 */
int cp_attr_add(struct cp_obj *o, CK_ATTRIBUTE_TYPE type, const void *val,
    size_t len);
/* The same for a CK_BBOOL and a CK_ULONG value. */
int cp_attr_bool(struct cp_obj *o, CK_ATTRIBUTE_TYPE type, int v);
int cp_attr_ulong(struct cp_obj *o, CK_ATTRIBUTE_TYPE type, CK_ULONG v);
/*
 * Appends an attribute whose value is the secret s, which the object owns
 * from then on (also when this fails: then s is freed). A sensitive one
 * is never read out.
 */
int cp_attr_secret(struct cp_obj *o, CK_ATTRIBUTE_TYPE type,
    struct ca_secret *s, int sensitive);
/* The attribute type of o, or NULL. */
const struct cp_attr *cp_attr_find(const struct cp_obj *o,
    CK_ATTRIBUTE_TYPE type);
/* Frees an object and its attributes; NULL is allowed. */
void cp_obj_free(struct cp_obj *o);

/* mech.c */

/* The mechanism type, or NULL when the module does not offer it. */
const struct cp_mech *cp_mech_find(CK_MECHANISM_TYPE type);
/*
 * The mechanism of mech, which must allow flag (CKF_SIGN, ...), in *cm,
 * and the private key key of session s, which must suit it and do op
 * (CA_OP_*), in *o; the lock held. CKR_OK, else CKR_MECHANISM_INVALID,
 * CKR_KEY_HANDLE_INVALID, CKR_KEY_TYPE_INCONSISTENT (not a private key of
 * the mechanism's type) or CKR_KEY_FUNCTION_NOT_PERMITTED (the agent says
 * the key may not).
 */
CK_RV cp_key_for(struct cp_mod *m, struct cp_session *s,
    const CK_MECHANISM *mech, CK_OBJECT_HANDLE key, CK_FLAGS flag,
    uint32_t op, const struct cp_mech **cm, struct cp_obj **o);
/*
 * The common start of a sign (kind CP_OP_SIGN) or decrypt operation: the
 * mechanism and key as cp_key_for() checks them, and op zeroed, then
 * given its kind, mechanism, the key's size and id (which
 * cp_op_clear() frees). CKR_OK, or cp_key_for()'s error or
 * CKR_HOST_MEMORY, with nothing in op to free.
 */
CK_RV cp_op_begin(struct cp_mod *m, struct cp_session *s,
    const CK_MECHANISM *mech, CK_OBJECT_HANDLE key, enum cp_op_kind kind,
    struct cp_op *op);
/* Sets up an operation on session s, the lock held. */
typedef CK_RV (*cp_init_fn)(struct cp_mod *m, struct cp_session *s,
    const CK_MECHANISM *mech, CK_OBJECT_HANDLE key);
/* C_SignInit and C_DecryptInit: the session entered, its arguments and
 * that no operation is active checked, then init. */
CK_RV cp_op_init(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech,
    CK_OBJECT_HANDLE key, cp_init_fn init);
/* The ca_hash for a CKM_SHA* type, or -1. */
int cp_hash_from_ckm(CK_MECHANISM_TYPE type);
/* The ca_hash for a CKG_MGF1_* type, or -1. */
int cp_hash_from_mgf(CK_RSA_PKCS_MGF_TYPE mgf);
/* OpenSSL's digest for a ca_hash, or NULL. */
const EVP_MD *cp_hash_md(uint8_t hash);

#endif
