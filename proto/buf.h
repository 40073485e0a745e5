/*
 * buf.h: the one bounded reader and writer for untrusted bytes.
 *
 * Every length read from the wire is checked here and nowhere else: a getter
 * either returns a value that lies wholly inside the buffer or an error, and
 * never reads past the end. Writers grow to a hard maximum and wipe what they
 * held, since frames may carry PINs.
 */
#ifndef CARDAGENT_BUF_H
#define CARDAGENT_BUF_H

#include <stddef.h>
#include <stdint.h>

struct ca_secret;

/* Codec errors: what went wrong with the bytes, never with a token. */
enum ca_perr {
	CA_PE_OK = 0,
	CA_PE_INCOMPLETE,	/* more bytes needed (frames only) */
	CA_PE_TRUNCATED,	/* a field runs past the end */
	CA_PE_TOO_LONG,		/* a length exceeds its cap */
	CA_PE_BAD_VALUE,	/* a field holds a value it may not */
	CA_PE_TRAILING,		/* bytes left after the last field */
	CA_PE_NOMEM,
};

/* Returns a static description of e. */
const char *ca_perr_str(enum ca_perr e);

/* A read cursor over borrowed memory; it never owns p. */
struct ca_rd {
	const uint8_t *p;
	size_t len;
	size_t off;
};

void ca_rd_init(struct ca_rd *r, const void *p, size_t len);
enum ca_perr ca_rd_u8(struct ca_rd *r, uint8_t *v);
enum ca_perr ca_rd_u16(struct ca_rd *r, uint16_t *v);
enum ca_perr ca_rd_u32(struct ca_rd *r, uint32_t *v);

/*
 * Reads a u32 length then that many bytes; *p points into the reader's
 * memory (no copy). Lengths above max give CA_PE_TOO_LONG.
 */
enum ca_perr ca_rd_bytes(struct ca_rd *r, const uint8_t **p, size_t *len,
    size_t max);

/* As ca_rd_bytes, but copies into a new heap buffer the caller frees. */
enum ca_perr ca_rd_bytes_dup(struct ca_rd *r, uint8_t **p, size_t *len,
    size_t max);

/*
 * Reads a length-prefixed UTF-8 string into a new NUL-terminated heap copy
 * the caller frees. Embedded NULs give CA_PE_BAD_VALUE.
 */
enum ca_perr ca_rd_str(struct ca_rd *r, char **s, size_t max);

/*
 * Reads a length-prefixed secret into locked memory (*s, caller frees with
 * ca_secret_free). A zero length yields *s == NULL: "no secret given".
 */
enum ca_perr ca_rd_secret(struct ca_rd *r, struct ca_secret **s, size_t max);

/* On any failure the getters above leave the read offset where it was. */

/* CA_PE_TRAILING unless every byte has been read. */
enum ca_perr ca_rd_end(const struct ca_rd *r);

/*
 * A growing output buffer with a sticky error: after the first failure every
 * put is a no-op and ca_wr_err() reports it, so encoders read as a plain
 * column of puts with one check at the end.
 */
struct ca_wr {
	uint8_t *p;
	size_t len;
	size_t cap;
	size_t max;
	enum ca_perr err;
};

/* Starts an empty writer that refuses to grow past max bytes. */
void ca_wr_init(struct ca_wr *w, size_t max);
/* Wipes and frees the contents; the writer may be initialised again. */
void ca_wr_free(struct ca_wr *w);
/* Empties the writer, wiping what it held, keeping its memory. */
void ca_wr_reset(struct ca_wr *w);
void ca_wr_u8(struct ca_wr *w, uint8_t v);
void ca_wr_u16(struct ca_wr *w, uint16_t v);
void ca_wr_u32(struct ca_wr *w, uint32_t v);
/* Overwrites 4 bytes at off, which must already be written. */
void ca_wr_u32_at(struct ca_wr *w, size_t off, uint32_t v);
void ca_wr_raw(struct ca_wr *w, const void *p, size_t len);
/* Writes a u32 length then the bytes; p may be NULL when len is 0. */
void ca_wr_bytes(struct ca_wr *w, const void *p, size_t len);
/* Writes a string as bytes; NULL is written as the empty string. */
void ca_wr_str(struct ca_wr *w, const char *s);
/* Writes a secret as bytes; NULL is written as empty. */
void ca_wr_secret(struct ca_wr *w, const struct ca_secret *s);
/* Drops the first n bytes, wiping the freed tail; a stored error stays. */
void ca_wr_consume(struct ca_wr *w, size_t n);
enum ca_perr ca_wr_err(const struct ca_wr *w);

/*
 * Writes the n bytes at p as 2n hex digits (upper case if upper) and a
 * NUL to out, which must hold 2n + 1 bytes: ids, digests, fingerprints.
 */
void ca_hex(char *out, const uint8_t *p, size_t n, int upper);

#endif
