/*
 * msgin.h: an S/MIME message read as a stream. Its header fields are
 * held in memory (bounded); its body is handed out a buffer at a time,
 * raw by lines or decoded from base64, PEM or binary DER, so that memory
 * stays the same whatever the size of the message.
 */
#ifndef CARDAGENT_MSGIN_H
#define CARDAGENT_MSGIN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The most header a message may have before its body. */
#define MSGIN_MAX_HEADER (256 * 1024)
/* Raw input buffer: also the longest line msgin_line() hands out whole. */
#define MSGIN_BUF (64 * 1024)

struct evp_Encode_Ctx_st;

struct msgin {
	int fd;
	int own;			/* close fd when done */
	unsigned char buf[MSGIN_BUF];	/* raw input not yet used */
	size_t off, len;
	int eof;
	char *hdr;			/* the header fields, hlen bytes */
	size_t hlen;			/* 0: the message has no header */
	int crlf;			/* the first line ends in CRLF */
	struct evp_Encode_Ctx_st *b64;	/* body is base64: its decoder */
	int b64end;			/* the decoder saw the end */
	uint64_t raw;			/* raw bytes used so far */
};

/*
 * Opens path ("-" or NULL: stdin) and reads the header, if the message
 * has one (a first line that is not a field means none: a .p7m file, PEM
 * or bare base64). 0, or -1 with errno set: EFBIG for a header over
 * MSGIN_MAX_HEADER.
 */
int msgin_open(struct msgin *m, const char *path);
/* The same for an open descriptor, read from its current offset; own
 * says whether msgin_close() closes it. */
int msgin_open_fd(struct msgin *m, int fd, int own);
/* Whether the input has nothing after what was used: 1, 0, or -1 on a
 * read error. */
int msgin_at_end(struct msgin *m);
/* Frees the header and decoder; closes the file if it is ours. */
void msgin_close(struct msgin *m);

/*
 * Sets up decoding of the body: base64 when the header says so, binary
 * when it says binary, otherwise by what the body starts with (a DER
 * SEQUENCE, a PEM BEGIN line, else base64). 0, or -1 on no memory.
 */
int msgin_decode_body(struct msgin *m);
/* Decoded bytes msgin_read() must have room for: base64 comes in blocks. */
#define MSGIN_READ_MIN (16 * 1024)

/*
 * Up to n (>= MSGIN_READ_MIN) decoded body bytes into p: their number, 0
 * at the end, -1 on a read error (errno set) or bad base64 (EBADMSG).
 */
ssize_t msgin_read(struct msgin *m, void *p, size_t n);

/*
 * The next raw line, its end included, in *p (valid until the next call):
 * its length, 0 at the end of input, -1 on a read error. A line longer
 * than MSGIN_BUF comes in pieces, each but the last without a newline.
 */
ssize_t msgin_line(struct msgin *m, const char **p);

#endif
