/*
 * smime.h: what the smime commands share: messages' header fields and
 * canonical entities, verification, and the agent's key-management keys.
 */
#ifndef CARDAGENT_SMIME_H
#define CARDAGENT_SMIME_H

#include <stddef.h>
#include <stdio.h>

#include <openssl/bio.h>

#include "cardsign.h"

/* Which header fields smime_put_fields() copies. */
enum smime_fields {
	SMIME_F_CONTENT,	/* Content-*: those of the MIME entity */
	SMIME_F_OUTER,		/* the rest, without MIME-Version */
	SMIME_F_ENTITY,		/* all but MIME-Version */
	SMIME_F_ALL,		/* every one */
};

/* Whether the message's first line ends in CRLF. */
int smime_is_crlf(const char *p, size_t n);
/*
 * Splits a message into *hlen bytes of header fields and the body from
 * offset *body. Without a header (the first line is not a field) *hlen is 0.
 */
void smime_split(const char *p, size_t n, size_t *hlen, size_t *body);
/* Copies p with every line ending turned into eol. 0, or -1. */
int smime_put_text(BIO *b, const char *p, size_t n, const char *eol);
/* Copies the fields of the header p (hlen bytes) that which selects. */
int smime_put_fields(BIO *b, const char *p, size_t hlen,
    enum smime_fields which, const char *eol);
/* The same, leaving out fields the header skip (skiplen bytes) has: an
 * encrypted message's own From or Subject wins over the outer copy. */
int smime_put_fields_unless(BIO *b, const char *p, size_t hlen,
    enum smime_fields which, const char *eol, const char *skip,
    size_t skiplen);
struct msgin;

/*
 * Writes the rest of m (its header read) to b as a MIME entity in the
 * canonical form S/MIME signs and encrypts (RFC 8551 3.1.1): the header
 * fields which selects, a blank line, then the body, every line ending
 * CRLF. 0, or -1 on a read or write error (errno set).
 */
int smime_put_entity(struct msgin *m, enum smime_fields which, BIO *b);
/* The same for the body alone: the rest of m, every line ending CRLF. */
int smime_put_body(struct msgin *m, BIO *b);

/* Whether field name's value in the header p contains word (any case). */
int smime_field_has(const char *p, size_t hlen, const char *name,
    const char *word);

/*
 * Copies parameter param of field name in the header p (the boundary of
 * a Content-Type) into val, vlen bytes with its NUL: 1, or 0 when there
 * is no such parameter or it does not fit.
 */
int smime_field_param(const char *p, size_t hlen, const char *name,
    const char *param, char *val, size_t vlen);

/*
 * Verifies the signed message m (its header read): either form, the
 * signature and every signer's chain at its signing time. The signed
 * content goes to content unless NULL (the caller releases it only on
 * EX_OK); who signed goes to report. EX_OK, or the exit code with the
 * reason printed.
 */
int smime_verify_msg(const struct cs_opts *o, struct msgin *m,
    FILE *content, FILE *report);

/* Whether k is a key-management key with a certificate. */
int smime_is_km(const struct ca_key *k);
/* Resolves sel among keys to a key-management key: EX_OK or the exit
 * code, the reason printed. */
int smime_select_km(const struct ca_key *keys, size_t n, const char *sel,
    size_t *idx);

#endif
