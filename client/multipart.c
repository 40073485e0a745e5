/*
 * multipart.c: a multipart/signed message's two parts, read as a stream.
 */
#include <errno.h>
#include <string.h>

#include "multipart.h"

/* Where a multipart/signed is in its reading. */
enum part_state { PREAMBLE, SIGNED, SIGNATURE, EPILOGUE };

struct multipart {
	const char *boundary;
	size_t blen;
	enum part_state state;
	FILE *data;		/* the first part, canonical */
	int pending;		/* a line end is owed before more of it */
	BUF_MEM *sig;		/* the second part, whole */
};

/* Whether line p (a whole line) is a boundary; *last for the closing one. */
static int
is_boundary(const struct multipart *mp, const char *p, size_t n, int *last)
{
	size_t i;

	if (n < mp->blen + 2 || p[0] != '-' || p[1] != '-' ||
	    memcmp(p + 2, mp->boundary, mp->blen) != 0)
		return 0;
	i = mp->blen + 2;
	*last = n >= i + 2 && p[i] == '-' && p[i + 1] == '-';
	if (*last)
		i += 2;
	/* Only white space may follow it (RFC 2046 5.1.1). */
	for (; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
			return 0;
	return 1;
}

/*
 * A piece of the signed part in its canonical form: CRLF line ends, and
 * trailing CRs and LFs of a line dropped, as OpenSSL's S/MIME reader does.
 */
static int
put_signed(struct multipart *mp, const char *p, size_t n)
{
	int eol = n > 0 && p[n - 1] == '\n';

	if (mp->pending && fputs("\r\n", mp->data) == EOF)
		return -1;
	mp->pending = 0;
	if (eol) {
		while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r'))
			n--;
		mp->pending = 1;
	}
	return fwrite(p, 1, n, mp->data) == n ? 0 : -1;
}

static int
keep_sig(struct multipart *mp, const char *p, size_t n)
{
	size_t at = mp->sig->length;

	if (n > MULTIPART_SIG_MAX - at || BUF_MEM_grow(mp->sig, at + n) == 0)
		return -1;
	memcpy(mp->sig->data + at, p, n);
	return 0;
}

int
multipart_signed_read(struct msgin *m, const char *boundary, FILE *data,
    BUF_MEM *sig, const char **why)
{
	struct multipart mp = {
		.boundary = boundary, .blen = strlen(boundary), .data = data,
		.sig = sig,
	};
	int start = 1, last;
	const char *p;
	ssize_t n = 0;

	while (mp.state != EPILOGUE && (n = msgin_line(m, &p)) > 0) {
		if (start && is_boundary(&mp, p, (size_t)n, &last)) {
			if (mp.state == SIGNATURE && !last) {
				*why = "it has more than two parts";
				return -1;
			}
			mp.state = last ? EPILOGUE : mp.state + 1;
			continue;
		}
		start = p[n - 1] == '\n';
		if (mp.state == SIGNED && put_signed(&mp, p, (size_t)n) == -1) {
			*why = "cannot keep the signed part";
			return -1;
		}
		if (mp.state == SIGNATURE && keep_sig(&mp, p, (size_t)n) == -1) {
			*why = "the signature part is too large";
			return -1;
		}
	}
	if (n == -1) {
		*why = "cannot read it";
		return -1;
	}
	/* A lost closing boundary leaves a signature that will not parse. */
	if (mp.state < SIGNATURE || sig->length == 0) {
		*why = "it has no signature part";
		return -1;
	}
	return 0;
}
