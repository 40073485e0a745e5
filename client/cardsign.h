/*
 * cardsign.h: what cardsign's command files share: options, exit codes,
 * and the helpers for talking to the agent and for files.
 */
#ifndef CARDAGENT_CARDSIGN_H
#define CARDAGENT_CARDSIGN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cardagent.h"

/* Exit codes: distinct per failure class so scripts can tell them apart. */
enum {
	EX_OK = 0,
	EX_FAIL = 1,
	EX_USAGE = 2,
	EX_NOAGENT = 3,
	EX_NOKEY = 4,
	EX_PIN_INCORRECT = 5,
	EX_PIN_LOCKED = 6,
	EX_TOKEN_ABSENT = 7,
	EX_NOT_ALLOWED = 8,
	EX_CANCELLED = 9,
	EX_TOKEN_FAILED = 10,
	EX_BAD_SIGNATURE = 11,
	EX_UNTRUSTED = 12,
};

/* The command line, parsed once. */
struct cs_opts {
	const char *socket;
	int json;
	int watch;		/* status: again at every change */
	const char *token;
	int pin_stdin;
	const char *key, *in, *out, *hash, *oaep, *peer;
	int pss;
	int pem;		/* sign: PEM instead of DER */
	const char *ca_file;	/* verify: trusted CAs */
	const char *certfile;	/* sign: more certificates to include */
	char **args;		/* operands after the options */
	int nargs;
	/* smime */
	int opaque;		/* sign: application/pkcs7-mime signed-data */
	int entity;		/* sign: input is a bare MIME entity */
	const char **to;	/* encrypt: recipients (cert files or e-mail) */
	int nto;
	const char *cipher;	/* encrypt: aes-256-cbc, aes-128-gcm, ... */
	int no_self;		/* encrypt: not to one's own key too */
	const char *ca_dir;	/* verify: directory of hashed CA certs */
	const char *crl_file;	/* verify: CRLs to check */
	int no_system_ca;	/* verify: trust only --ca-file/--ca-dir */
	int verify_inner;	/* decrypt: verify a signed inner message */
	const char *certdir;	/* recipients' certificates by e-mail */
};

/* The exit code for a CA_* status or CAC_E_* error. */
int cs_exit_code(int status);

/* Prints "cardsign: ..." to stderr; returns the exit code for status. */
int cs_fail(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Likewise for a misused command line; returns EX_USAGE. */
int cs_usage_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "cardsign: ..." to stderr, for a failure whose exit code the
 * caller has. */
void cs_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The last message the three above printed, without "cardsign: "; "" if
 * none. */
const char *cs_last_error(void);
/* Writes s (NULL: "") to f as a JSON string. */
void cs_json_str(FILE *f, const char *s);

/* Connects to the agent; EX_OK or an exit code, the reason printed. */
int cs_connect(const struct cs_opts *o, struct cac **c);

/*
 * Connects, lists the keys and resolves sel to one able to do need.
 * On EX_OK the caller frees *k (cac_keys_free) and closes *c.
 */
int cs_find_key(const struct cs_opts *o, const char *sel, uint32_t need,
    struct cac **c, struct ca_key **k, size_t *n, size_t *idx);

/* Reads a whole file ("-": stdin) of at most max bytes into a new buffer
 * the caller frees. Returns 0, or -1 with errno set. */
int cs_read_file(const char *path, uint8_t **buf, size_t *len, size_t max);

/*
 * Writes len bytes to path ("-": stdout) atomically, through a temporary
 * file renamed into place; secret outputs are created mode 0600.
 * Returns 0, or -1 with errno set.
 */
int cs_write_file(const char *path, const uint8_t *p, size_t len,
    int secret);

struct evp_pkey_st;
struct x509_st;

/* Loads OpenSSL's default provider and the cardagent provider, which finds
 * the agent at o->socket. EX_OK or an exit code, the reason printed. */
int cs_load_providers(const struct cs_opts *o);
/* Unloads them again; every key from cs_load_pkey() must be freed first. */
void cs_unload_providers(void);
/*
 * The agent key k as an EVP_PKEY (the caller frees), or NULL. The
 * provider's store is given k, so it does not list the keys again.
 */
struct evp_pkey_st *cs_load_pkey(const struct ca_key *k);
/* The certificate stored with k (the caller frees), or NULL. */
struct x509_st *cs_key_cert(const struct ca_key *k);

/* The reason of the newest OpenSSL error, for messages; never NULL. */
const char *cs_ossl_reason(void);

/* Every certificate in a PEM file (the caller frees with
 * sk_X509_pop_free(.., X509_free)), or NULL if there is none. */
struct stack_st_X509 *cs_load_certs(const char *path);

/*
 * The trusted CAs for verification: --ca-file, --ca-dir and the system's
 * unless --no-system-ca, --crl-file's CRLs (then checked), with the S/MIME
 * signing purpose. The caller frees it; NULL on failure.
 */
struct x509_store_st *cs_trust_store(const struct cs_opts *o);
/*
 * The chain a signature by cert carries when no --certfile gives it: its
 * CA certificates up to (not including) a root among --ca-file, --ca-dir
 * and the system's CA directory. NULL when none leads to a trusted root:
 * the signature then carries cert alone. The caller frees the stack.
 */
struct stack_st_X509 *cs_signer_chain(const struct cs_opts *o,
    struct x509_st *cert);

struct bio_st;

/*
 * Writes a memory BIO's bytes to path (NULL or "-": stdout) with
 * cs_write_file(). EX_OK, or an exit code with the reason printed.
 */
int cs_write_bio(const char *path, struct bio_st *mem, int secret);

struct CMS_ContentInfo_st;

/* A CMS structure in DER, PEM or bare base64 (as clients save .p7m and
 * .p7s files), or NULL. The caller frees it. */
struct CMS_ContentInfo_st *cs_read_cms(const char *p, size_t n);

/*
 * verify --json and smime verify --json: the outcome as one line of JSON
 * on f. valid: the signatures match the content; trusted: every signer's
 * chain leads to a trusted CA; signers: those whose certificate cms holds
 * (cms may be NULL); error: the last message printed, unless r is EX_OK.
 */
void cs_verify_json(FILE *f, struct CMS_ContentInfo_st *cms, int valid,
    int trusted, int r);

/* An agent key ready to sign with OpenSSL, and what it came with. */
struct cs_signer {
	struct ca_key *keys;	/* the agent's keys; keys[idx] signs */
	size_t nkeys, idx;
	struct x509_st *cert;
	struct evp_pkey_st *pk;
	struct stack_st_X509 *chain;	/* --certfile's, or NULL */
};

/*
 * Loads the providers, resolves o->key to a signing key with a certificate
 * and reads --certfile's chain. EX_OK, or an exit code with the reason
 * printed and nothing left to close.
 */
int cs_signer_open(const struct cs_opts *o, struct cs_signer *s);
/* Frees it all and unloads the providers. */
void cs_signer_close(struct cs_signer *s);

struct evp_md_st;

/*
 * A detached CMS signature whose signed attributes carry dig, the digest
 * by md of the signed bytes: s's key signs them through the agent, and
 * the signature carries s's certificate and chain (cmd_file.c). The
 * caller frees it; NULL on failure, the reason on OpenSSL's error queue.
 */
struct CMS_ContentInfo_st *cs_sign_digest(const struct cs_signer *s,
    const struct evp_md_st *md, const unsigned char *dig, unsigned int dlen);

/* The commands; each returns the process exit code. */
int cmd_status(const struct cs_opts *o);
int cmd_keys(const struct cs_opts *o);
int cmd_login(const struct cs_opts *o);
int cmd_lock(const struct cs_opts *o);
int cmd_sign_digest(const struct cs_opts *o);
int cmd_unwrap(const struct cs_opts *o);
int cmd_derive(const struct cs_opts *o);
int cmd_sign_file(const struct cs_opts *o);
int cmd_verify_file(const struct cs_opts *o);
/* smime dispatches on its first operand to the four below. */
int cmd_smime(const struct cs_opts *o);
int cmd_smime_sign(const struct cs_opts *o);
int cmd_smime_verify(const struct cs_opts *o);
int cmd_smime_encrypt(const struct cs_opts *o);
int cmd_smime_decrypt(const struct cs_opts *o);

/*
 * git's gpg.x509.program (cmd_git.c): cs_git_called() tells git's gpgsm
 * calling convention (--status-fd, no cardsign option) from a cardsign
 * command line; cmd_git() then signs or verifies as gpgsm would and
 * returns the exit code.
 */
int cs_git_called(int argc, char **argv);
int cmd_git(int argc, char **argv);

#endif
