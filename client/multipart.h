/*
 * multipart.h: reading a multipart/signed message (RFC 1847, RFC 8551
 * 3.5.3) as a stream: its first part, the signed entity, goes to a file
 * in the canonical form its signature covers; the second, the signature,
 * is kept in memory, bounded.
 */
#ifndef CARDAGENT_MULTIPART_H
#define CARDAGENT_MULTIPART_H

#include <stdio.h>

#include <openssl/buffer.h>

#include "msgin.h"

/* A signature part bigger than this is not one. */
#define MULTIPART_SIG_MAX (1024 * 1024)

/*
 * Reads the body of m (its header read) whose boundary is boundary: the
 * first part to data with CRLF line ends, the line end before the next
 * boundary left out (it belongs to the boundary); the second part, its
 * header and body as they are, into sig. 0, or -1 with *why saying what
 * is wrong (a static string).
 */
int multipart_signed_read(struct msgin *m, const char *boundary,
    FILE *data, BUF_MEM *sig, const char **why);

#endif
