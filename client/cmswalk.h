/*
 * cmswalk.h: the outer layers of a CMS message (RFC 5652) walked as a
 * stream, so that a message of any size is checked and opened in the
 * same memory. Everything but the content (the recipients, certificates,
 * signer infos: a "skeleton") is kept, bounded, and handed to OpenSSL's
 * CMS code as a message whose content is detached; the content itself is
 * passed through, a buffer at a time, to where the caller wants it.
 *
 * The walk reads BER as senders write it (definite or indefinite lengths,
 * constructed OCTET STRINGs) with OpenSSL's ASN1_get_object; nothing of
 * the message's meaning is decoded here.
 */
#ifndef CARDAGENT_CMSWALK_H
#define CARDAGENT_CMSWALK_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/buffer.h>
#include <openssl/cms.h>

#include "msgin.h"

/* The most a message may hold besides its content. */
#define CMSWALK_MAX_SKELETON (4u * 1024 * 1024)
/* The deepest nesting of BER constructions the walk follows. */
#define CMSWALK_MAX_DEPTH 32

struct cmswalk_tlv {
	int tag, cls, cons, indef;
	uint64_t end;		/* where a definite content ends */
};

struct cmswalk {
	struct msgin *in;
	unsigned char buf[MSGIN_READ_MIN * 4];	/* decoded, not yet used */
	size_t off, len;
	int eof;
	uint64_t pos;			/* decoded bytes used */
	int type;			/* the content type's NID */
	BUF_MEM *oid;			/* its OBJECT IDENTIFIER, encoded */
	BUF_MEM *before;		/* fields before the content info */
	BUF_MEM *head;			/* the content info's own fields */
	BUF_MEM *after;			/* fields after the content info */
	size_t kept;			/* bytes of all four */
	struct cmswalk_tlv open[4];	/* ContentInfo, [0], the data, its
					 * content info */
	const char *why;		/* what went wrong, for a message */
};

/* Where cmswalk_content() sends the content: 0, or -1 to stop. */
typedef int (*cmswalk_sink)(void *arg, const unsigned char *p, size_t n);

/*
 * Starts walking the message whose body in reads (msgin_decode_body()
 * done): reads it up to the content and records its type in w->type
 * (signed, enveloped or authEnveloped data; anything else is refused).
 * 0, or -1 with w->why set. cmswalk_free() frees w either way.
 */
int cmswalk_open(struct cmswalk *w, struct msgin *in);
/*
 * Streams the content to sink: 1 when done, 0 when the message has none
 * (detached), -1 with w->why set.
 */
int cmswalk_content(struct cmswalk *w, cmswalk_sink sink, void *arg);
/* Reads the fields after the content and the ends of the outer layers:
 * 0, or -1 with w->why set. */
int cmswalk_finish(struct cmswalk *w);
/*
 * The skeleton read so far as a CMS_ContentInfo without its content, the
 * fields after it being after (alen bytes, DER) or, when NULL, those
 * cmswalk_finish() read. The caller frees it; NULL on malformed content
 * (OpenSSL's error queue says why) or no memory.
 */
CMS_ContentInfo *cmswalk_cms(struct cmswalk *w, const unsigned char *after,
    size_t alen);
/*
 * Finds the first field after the content with this tag and class (the
 * mac of authEnveloped data): 1 with *p and *len set to its contents, 0
 * if there is none.
 */
int cmswalk_after_field(const struct cmswalk *w, int tag, int cls,
    const unsigned char **p, size_t *len);
void cmswalk_free(struct cmswalk *w);

#endif
