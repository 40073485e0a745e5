/*
 * msg.h: cardagent's wire protocol, the messages and their codec.
 *
 * The same codec serves both channels: client <-> agent over the user's
 * socket, and agent <-> token host over a socketpair. docs/protocol.md is the
 * normative description; this header is its C form. Pure code: nothing here
 * does I/O.
 *
 * A frame is a u32 big-endian body length (1..CA_FRAME_MAX) followed by the
 * body: u8 type, u32 request id, then the type's fields. Integers are
 * big-endian; "bytes" and strings are a u32 length then the data.
 */
#ifndef CARDAGENT_MSG_H
#define CARDAGENT_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define CA_PROTO_VERSION 1
#define CA_FRAME_MAX (1024u * 1024u) /* body bytes; a key list must fit */
#define CA_FRAME_HDR 4
#define CA_STR_MAX 4096		/* labels, URIs, messages */
#define CA_DATA_MAX 8192	/* digests, ciphertexts, points, signatures */
#define CA_CERT_MAX 16384	/* one DER certificate or public key */
#define CA_PIN_MAX 256
#define CA_LIST_MAX 1024	/* tokens or keys in one reply */

enum ca_msg_type {
	/* requests, client -> agent (and agent -> host) */
	CA_MSG_HELLO = 0x01,
	CA_MSG_STATUS = 0x02,
	CA_MSG_LIST_KEYS = 0x03,
	CA_MSG_SIGN = 0x04,
	CA_MSG_DECRYPT = 0x05,
	CA_MSG_DERIVE = 0x06,
	CA_MSG_LOGIN = 0x07,
	CA_MSG_LOCK = 0x08,
	CA_MSG_WATCH = 0x09,		/* STATUS now and at every change */
	/* token host only */
	CA_MSG_HOST_INDEX = 0x40,	/* host -> agent: tokens and keys */
	CA_MSG_HOST_REFRESH = 0x41,	/* agent -> host: re-read tokens */
	CA_MSG_HOST_POLL = 0x42,	/* agent -> host: look for card events */
	/* replies */
	CA_MSG_OK = 0x80,
	CA_MSG_ERROR = 0x81,
	CA_MSG_HELLO_REPLY = 0x82,
	CA_MSG_STATUS_REPLY = 0x83,
	CA_MSG_KEYS_REPLY = 0x84,
	CA_MSG_SIGNATURE = 0x85,
	CA_MSG_SECRET = 0x86,	/* decrypt and derive results */
};

/* The protocol's own error codes; no PKCS#11 value ever crosses the wire. */
enum ca_status {
	CA_OK = 0,
	CA_E_PROTOCOL = 1,	/* malformed or unexpected message */
	CA_E_VERSION = 2,	/* no common protocol version */
	CA_E_UNSUPPORTED = 3,	/* mechanism or request not supported */
	CA_E_NO_KEY = 4,	/* no such key or token */
	CA_E_NOT_ALLOWED = 5,	/* the key may not do this operation */
	CA_E_PIN_INCORRECT = 6,
	CA_E_PIN_LOCKED = 7,
	CA_E_PIN_REQUIRED = 8,	/* no PIN given and none could be asked */
	CA_E_CANCELLED = 9,	/* the user cancelled the prompt */
	CA_E_TOKEN_ABSENT = 10,
	CA_E_TOKEN_TIMEOUT = 11, /* the token did not answer in time */
	CA_E_TOKEN_FAILED = 12,	/* the token or its module failed */
	CA_E_BAD_INPUT = 13,	/* wrong digest length, bad ciphertext, ... */
	CA_E_BUSY = 14,		/* too many requests */
	CA_E_INTERNAL = 15,
	CA_E_DENIED = 16,	/* the caller may not make this request */
};

/* Returns a static, user-readable description of s. */
const char *ca_status_str(uint32_t s);

enum ca_hash {
	CA_HASH_NONE = 0,
	CA_HASH_SHA1 = 1,
	CA_HASH_SHA224 = 2,
	CA_HASH_SHA256 = 3,
	CA_HASH_SHA384 = 4,
	CA_HASH_SHA512 = 5,
};

/* Digest length of h in bytes, 0 for CA_HASH_NONE or unknown values. */
size_t ca_hash_len(uint8_t h);
/* "sha256" etc., or NULL for an unknown value. */
const char *ca_hash_name(uint8_t h);
/* The hash named s, or -1. */
int ca_hash_from_name(const char *s);

enum ca_alg {
	CA_ALG_RSA_PKCS1 = 1,	/* sign: DigestInfo built by the agent */
	CA_ALG_RSA_PSS = 2,
	CA_ALG_ECDSA = 3,	/* signature returned as DER ECDSA-Sig-Value */
	CA_ALG_RSA_OAEP = 4,	/* decrypt */
	CA_ALG_ECDH = 5,	/* derive: raw shared secret (CKD_NULL) */
};

enum ca_key_type {
	CA_KEY_RSA = 1,
	CA_KEY_EC = 2,
};

/* Operations a key allows (ca_key.ops). */
#define CA_OP_SIGN 0x01u
#define CA_OP_DECRYPT 0x02u
#define CA_OP_DERIVE 0x04u

/* Token state (ca_token.flags). */
#define CA_TOK_PRESENT 0x0001u
#define CA_TOK_LOGGED_IN 0x0002u
#define CA_TOK_LOGIN_REQUIRED 0x0004u
#define CA_TOK_PROTECTED_PATH 0x0008u	/* PIN pad: the reader asks */
#define CA_TOK_PIN_COUNT_LOW 0x0010u
#define CA_TOK_PIN_FINAL_TRY 0x0020u
#define CA_TOK_PIN_LOCKED 0x0040u
#define CA_TOK_HOST_DOWN 0x0080u	/* its module host is restarting */

struct ca_token {
	char *id;	/* stable: the same token gets the same id */
	char *label;
	char *manufacturer;
	char *model;
	char *serial;
	char *uri;	/* RFC 7512 token URI */
	char *module;	/* module path */
	uint32_t flags;
};

struct ca_key {
	char *id;	/* stable, derived from token and CKA_ID */
	char *token_id;
	char *label;
	char *uri;	/* RFC 7512 URI of the private key */
	uint8_t type;	/* enum ca_key_type */
	uint32_t bits;
	uint32_t ops;	/* CA_OP_* */
	uint8_t always_auth;
	uint8_t *ckaid;
	size_t ckaid_len;
	uint8_t *cert;	/* DER certificate, may be empty */
	size_t cert_len;
	uint8_t *spki;	/* DER SubjectPublicKeyInfo */
	size_t spki_len;
};

/*
 * One decoded message. Pointers are owned by the message and released by
 * ca_msg_clear(); secrets live in locked memory.
 */
struct ca_msg {
	uint8_t type;
	uint32_t id;
	union {
		struct {
			uint32_t vmin, vmax;
			char *name;
		} hello;
		struct {
			uint32_t version;
			char *agent;
		} hello_reply;
		struct {
			uint32_t code;
			char *text;
		} error;
		/* SIGN, DECRYPT, DERIVE */
		struct {
			char *key_id;
			uint8_t alg;	/* enum ca_alg */
			uint8_t hash;	/* digest (SIGN), OAEP hash */
			uint8_t mgf;	/* MGF1 hash for PSS and OAEP */
			uint32_t salt;	/* PSS salt length */
			uint8_t *label;	/* OAEP label */
			size_t label_len;
			uint8_t *data;	/* digest, ciphertext or peer point */
			size_t len;
			struct ca_secret *pin;	/* context PIN, NULL if none */
		} op;
		/* LOGIN, LOCK; an empty token_id means every token */
		struct {
			char *token_id;
			struct ca_secret *pin;	/* NULL: the agent asks */
		} login;
		/* STATUS_REPLY, KEYS_REPLY, HOST_INDEX */
		struct {
			struct ca_token *tokens;
			size_t ntokens;
			struct ca_key *keys;
			size_t nkeys;
		} list;
		struct {
			uint8_t *data;
			size_t len;
		} sig;
		struct ca_secret *secret;
	} u;
};

/*
 * Looks at buffered input: when a whole frame is present, stores its body
 * length in *body_len and returns CA_PE_OK (the body starts CA_FRAME_HDR
 * bytes in). Returns CA_PE_INCOMPLETE when more bytes are needed, and
 * CA_PE_TOO_LONG for a zero or oversized length, which the reader must
 * treat as fatal for the connection.
 */
enum ca_perr ca_frame_check(const uint8_t *buf, size_t avail,
    size_t *body_len);

/*
 * Appends m as one complete frame to w. On error w is left as it was before
 * the call.
 */
enum ca_perr ca_msg_encode(const struct ca_msg *m, struct ca_wr *w);

/*
 * Decodes one frame body into m (which the caller provides; its previous
 * contents are not freed). On error m holds nothing to free.
 */
enum ca_perr ca_msg_decode(const uint8_t *body, size_t len, struct ca_msg *m);

/* Frees everything m owns, wiping secrets, and zeroes it. */
void ca_msg_clear(struct ca_msg *m);

/* Frees the members of a token or a key (not the struct itself). */
void ca_token_clear(struct ca_token *t);
void ca_key_clear(struct ca_key *k);

/* Deep copies; return CA_PE_NOMEM on failure, leaving dst empty. */
enum ca_perr ca_token_copy(struct ca_token *dst, const struct ca_token *src);
enum ca_perr ca_key_copy(struct ca_key *dst, const struct ca_key *src);

#endif
