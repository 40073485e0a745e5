/*
 * msgin.c: reading an S/MIME message as a stream: header fields into
 * memory, the body by lines or decoded through OpenSSL's base64 decoder.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cardsign.h"
#include "msgin.h"
#include "smime.h"

/* Reads more input behind what is buffered: bytes read, 0 at EOF, -1. */
static ssize_t
fill(struct msgin *m)
{
	ssize_t n;

	if (m->eof)
		return 0;
	if (m->off > 0) {
		memmove(m->buf, m->buf + m->off, m->len - m->off);
		m->len -= m->off;
		m->off = 0;
	}
	if (m->len == sizeof(m->buf))
		return 1;
	do
		n = read(m->fd, m->buf + m->len, sizeof(m->buf) - m->len);
	while (n == -1 && errno == EINTR);
	if (n == 0)
		m->eof = 1;
	if (n > 0)
		m->len += (size_t)n;
	return n;
}

ssize_t
msgin_line(struct msgin *m, const char **p)
{
	const unsigned char *nl;
	size_t n;

	for (;;) {
		nl = memchr(m->buf + m->off, '\n', m->len - m->off);
		if (nl != NULL || m->eof ||
		    (m->off == 0 && m->len == sizeof(m->buf)))
			break;
		if (fill(m) == -1)
			return -1;
	}
	n = nl != NULL ? (size_t)(nl - (m->buf + m->off)) + 1 :
	    m->len - m->off;
	*p = (const char *)m->buf + m->off;
	m->off += n;
	m->raw += n;
	return (ssize_t)n;
}

/* Gives back the line just taken: the header ended before it. */
static void
unread_line(struct msgin *m, size_t n)
{
	m->off -= n;
	m->raw -= n;
}

static int
is_blank(const char *p, size_t n)
{
	return (n == 1 && p[0] == '\n') || (n == 2 && p[0] == '\r' &&
	    p[1] == '\n');
}

/* Reads the fields up to the blank line; a first line that is not a
 * field means no header and is left for the body. */
static int
read_header(struct msgin *m)
{
	size_t cap = 0, hlen = 0, flen, body;
	const char *p;
	ssize_t n;
	char *h;

	while ((n = msgin_line(m, &p)) > 0) {
		if (hlen == 0) {
			m->crlf = smime_is_crlf(p, (size_t)n);
			smime_split(p, (size_t)n, &flen, &body);
			if (flen == 0 && !is_blank(p, (size_t)n)) {
				unread_line(m, (size_t)n);
				return 0;
			}
		}
		if (is_blank(p, (size_t)n))
			break;
		if (hlen + (size_t)n > MSGIN_MAX_HEADER) {
			errno = EFBIG;
			return -1;
		}
		if (hlen + (size_t)n > cap) {
			cap = cap == 0 ? 4096 : cap * 2;
			while (cap < hlen + (size_t)n)
				cap *= 2;
			if ((h = realloc(m->hdr, cap)) == NULL)
				return -1;
			m->hdr = h;
		}
		memcpy(m->hdr + hlen, p, (size_t)n);
		hlen += (size_t)n;
	}
	m->hlen = hlen;
	return n == -1 ? -1 : 0;
}

int
msgin_open_fd(struct msgin *m, int fd, int own)
{
	int saved;

	memset(m, 0, sizeof(*m));
	m->fd = fd;
	m->own = own;
	if (read_header(m) == -1) {
		saved = errno;
		msgin_close(m);
		errno = saved;
		return -1;
	}
	return 0;
}

int
msgin_open(struct msgin *m, const char *path)
{
	int fd;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	if (path == NULL || strcmp(path, "-") == 0)
		return msgin_open_fd(m, STDIN_FILENO, 0);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	return msgin_open_fd(m, fd, 1);
}

void
msgin_close(struct msgin *m)
{
	if (m->own && m->fd >= 0)
		(void)close(m->fd);
	m->fd = -1;
	free(m->hdr);
	m->hdr = NULL;
	EVP_ENCODE_CTX_free(m->b64);
	m->b64 = NULL;
}

int
msgin_at_end(struct msgin *m)
{
	while (m->off == m->len && !m->eof)
		if (fill(m) == -1)
			return -1;
	return m->off == m->len;
}

/* Whether the buffered body starts with s, blank lines skipped. */
static int
body_starts(struct msgin *m, const char *s)
{
	size_t i, n = strlen(s);

	while (m->len - m->off < n + 256 && !m->eof && fill(m) > 0)
		;
	for (i = m->off; i < m->len && (m->buf[i] == '\r' ||
	    m->buf[i] == '\n'); i++)
		;
	return m->len - i >= n && memcmp(m->buf + i, s, n) == 0;
}

int
msgin_decode_body(struct msgin *m)
{
	const char *p;
	int b64;

	if (smime_field_has(m->hdr, m->hlen, "Content-Transfer-Encoding",
	    "base64"))
		b64 = 1;
	else if (smime_field_has(m->hdr, m->hlen,
	    "Content-Transfer-Encoding", "binary"))
		b64 = 0;
	else if (body_starts(m, "\x30"))
		b64 = 0;
	else {
		b64 = 1;
		/* PEM: the BEGIN line is not base64; its END line stops the
		 * decoder like the end of the input. */
		if (body_starts(m, "-----BEGIN ")) {
			while (msgin_line(m, &p) > 0 && strncmp(p,
			    "-----BEGIN ", 11) != 0)
				;
		}
	}
	if (!b64)
		return 0;
	if ((m->b64 = EVP_ENCODE_CTX_new()) == NULL)
		return -1;
	EVP_DecodeInit(m->b64);
	return 0;
}

/*
 * At most this much base64 per decoder call: what it gives, 3/4 of it
 * plus up to 48 bytes the decoder carried over, fits MSGIN_READ_MIN.
 */
#define B64_IN_MAX ((MSGIN_READ_MIN - 96) / 3 * 4)

static ssize_t
read_b64(struct msgin *m, unsigned char *out)
{
	size_t in;
	int outl = 0, fin, r = 0;

	while (outl == 0 && !m->b64end) {
		if (m->off == m->len && fill(m) == -1)
			return -1;
		if (m->off == m->len) {
			m->b64end = 1;
			r = EVP_DecodeFinal(m->b64, out, &outl);
			break;
		}
		in = m->len - m->off;
		if (in > B64_IN_MAX)
			in = B64_IN_MAX;
		r = EVP_DecodeUpdate(m->b64, out, &outl, m->buf + m->off,
		    (int)in);
		m->off += in;
		m->raw += in;
		/* 0: the decoder saw the padding or a '-' line: the end. */
		if (r == 0) {
			m->b64end = 1;
			r = EVP_DecodeFinal(m->b64, out + outl, &fin);
			outl += fin;
		}
		if (r == -1)
			break;
	}
	if (r == -1) {
		errno = EBADMSG;
		return -1;
	}
	return outl;
}

ssize_t
msgin_read(struct msgin *m, void *p, size_t n)
{
	size_t k;

	if (m->b64 != NULL) {
		if (n < MSGIN_READ_MIN) {
			errno = EINVAL;
			return -1;
		}
		return read_b64(m, p);
	}
	if (m->off == m->len && fill(m) == -1)
		return -1;
	k = m->len - m->off;
	if (k > n)
		k = n;
	memcpy(p, m->buf + m->off, k);
	m->off += k;
	m->raw += k;
	return (ssize_t)k;
}
