/*
 * smime_mime.c: the small parts of RFC 5322 and MIME that the smime
 * commands need: splitting off a header, copying fields and line ends,
 * writing canonical entities; and choosing a key-management key.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/buffer.h>

#include "cardsign.h"
#include "msgin.h"
#include "smime.h"

/* The offset just past the line starting at i. */
static size_t
line_end(const char *p, size_t n, size_t i)
{
	const char *nl = memchr(p + i, '\n', n - i);

	return nl != NULL ? (size_t)(nl - p) + 1 : n;
}

/* The offset just past the field starting at i, folded lines included. */
static size_t
field_end(const char *p, size_t n, size_t i)
{
	do
		i = line_end(p, n, i);
	while (i < n && (p[i] == ' ' || p[i] == '\t'));
	return i;
}

int
smime_is_crlf(const char *p, size_t n)
{
	size_t e = line_end(p, n, 0);

	return e >= 2 && p[e - 1] == '\n' && p[e - 2] == '\r';
}

/* Whether a line starts a field: a printable name, then a colon. */
static int
is_field_start(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && p[i] > ' ' && p[i] < 127 && p[i] != ':'; i++)
		;
	return i > 0 && i < n && p[i] == ':';
}

void
smime_split(const char *p, size_t n, size_t *hlen, size_t *body)
{
	size_t i = 0;

	*hlen = *body = 0;
	while (i < n) {
		if (p[i] == '\n' || (p[i] == '\r' && i + 1 < n &&
		    p[i + 1] == '\n')) {
			*hlen = i;
			*body = i + (p[i] == '\r' ? 2 : 1);
			return;
		}
		if (i == 0 && !is_field_start(p, n))
			return;
		i = line_end(p, n, i);
	}
	*hlen = *body = n;
}

int
smime_put_text(BIO *b, const char *p, size_t n, const char *eol)
{
	size_t i = 0, j, k;

	while (i < n) {
		j = line_end(p, n, i);
		k = j;
		if (k > i && p[k - 1] == '\n') {
			k--;
			if (k > i && p[k - 1] == '\r')
				k--;
		}
		if (k > i && BIO_write(b, p + i, (int)(k - i)) != (int)(k - i))
			return -1;
		if (p[j - 1] == '\n' && BIO_puts(b, eol) <= 0)
			return -1;
		i = j;
	}
	return 0;
}

static int
field_wanted(const char *f, size_t len, enum smime_fields which)
{
	int content = len >= 8 && strncasecmp(f, "Content-", 8) == 0;
	int mimever = len >= 13 && strncasecmp(f, "MIME-Version:", 13) == 0;

	switch (which) {
	case SMIME_F_CONTENT:
		return content;
	case SMIME_F_OUTER:
		return !content && !mimever;
	case SMIME_F_ENTITY:
		return !mimever;
	default:
		return 1;
	}
}

/* Whether the header skip (skiplen bytes) has the field that starts f. */
static int
in_header(const char *f, size_t flen, const char *skip, size_t skiplen)
{
	char name[256];
	const char *colon = memchr(f, ':', flen);
	size_t n = colon != NULL ? (size_t)(colon - f) : 0;

	if (skip == NULL || n == 0 || n >= sizeof(name))
		return 0;
	memcpy(name, f, n);
	name[n] = '\0';
	return smime_field_has(skip, skiplen, name, "");
}

int
smime_put_fields(BIO *b, const char *p, size_t hlen, enum smime_fields which,
    const char *eol)
{
	return smime_put_fields_unless(b, p, hlen, which, eol, NULL, 0);
}

int
smime_put_fields_unless(BIO *b, const char *p, size_t hlen,
    enum smime_fields which, const char *eol, const char *skip,
    size_t skiplen)
{
	size_t i, j;

	for (i = 0; i < hlen; i = j) {
		j = field_end(p, hlen, i);
		if (!field_wanted(p + i, j - i, which) ||
		    in_header(p + i, j - i, skip, skiplen))
			continue;
		if (smime_put_text(b, p + i, j - i, eol) == -1)
			return -1;
		/* A header without a blank line after it may lack the end. */
		if (p[j - 1] != '\n' && BIO_puts(b, eol) <= 0)
			return -1;
	}
	return 0;
}

int
smime_field_has(const char *p, size_t hlen, const char *name,
    const char *word)
{
	size_t i, j, len, nl = strlen(name);
	char v[1024];

	for (i = 0; i < hlen; i = j) {
		j = field_end(p, hlen, i);
		if (j - i <= nl || strncasecmp(p + i, name, nl) != 0 ||
		    p[i + nl] != ':')
			continue;
		len = j - i - nl - 1;
		if (len >= sizeof(v))
			len = sizeof(v) - 1;
		memcpy(v, p + i + nl + 1, len);
		v[len] = '\0';
		return strcasestr(v, word) != NULL;
	}
	return 0;
}

int
smime_field_param(const char *p, size_t hlen, const char *name,
    const char *param, char *val, size_t vlen)
{
	size_t i, j, k, nl = strlen(name), pl = strlen(param);
	const char *v;

	for (i = 0; i < hlen; i = j) {
		j = field_end(p, hlen, i);
		if (j - i > nl && strncasecmp(p + i, name, nl) == 0 &&
		    p[i + nl] == ':')
			break;
	}
	if (i >= hlen)
		return 0;
	/* A parameter follows a ';', with folding white space around. */
	for (v = p + i + nl + 1; v < p + j; v++) {
		if (*v != ';')
			continue;
		while (++v < p + j && (*v == ' ' || *v == '\t' || *v == '\r' ||
		    *v == '\n'))
			;
		if ((size_t)(p + j - v) <= pl || strncasecmp(v, param, pl) != 0 ||
		    v[pl] != '=')
			continue;
		v += pl + 1;
		k = 0;
		if (v < p + j && *v == '"') {
			for (v++; v < p + j && *v != '"'; v++) {
				if (*v == '\r' || *v == '\n')
					continue;
				if (k + 1 >= vlen)
					return 0;
				val[k++] = *v;
			}
		} else {
			for (; v < p + j && *v != ';' && *v > ' ' && *v < 127;
			    v++) {
				if (k + 1 >= vlen)
					return 0;
				val[k++] = *v;
			}
		}
		val[k] = '\0';
		return k > 0;
	}
	return 0;
}

int
smime_put_entity(struct msgin *m, enum smime_fields which, BIO *b)
{
	if (smime_put_fields(b, m->hdr, m->hlen, which, "\r\n") == -1 ||
	    BIO_puts(b, "\r\n") != 2)
		return -1;
	return smime_put_body(m, b);
}

int
smime_put_body(struct msgin *m, BIO *b)
{
	const char *p;
	ssize_t n;

	while ((n = msgin_line(m, &p)) > 0)
		if (smime_put_text(b, p, (size_t)n, "\r\n") == -1)
			return -1;
	return n == 0 && BIO_flush(b) == 1 ? 0 : -1;
}

int
smime_is_km(const struct ca_key *k)
{
	return (k->ops & (CA_OP_DECRYPT | CA_OP_DERIVE)) != 0 &&
	    k->cert_len > 0;
}

int
smime_select_km(const struct ca_key *keys, size_t n, const char *sel,
    size_t *idx)
{
	char err[512], err2[512];
	int r;

	/* RSA keys decrypt, EC keys derive: either serves. */
	if ((r = cac_select_key(keys, n, sel, CA_OP_DECRYPT, idx, err,
	    sizeof(err))) != CA_OK && cac_select_key(keys, n, sel,
	    CA_OP_DERIVE, idx, err2, sizeof(err2)) == CA_OK)
		r = CA_OK;
	if (r != CA_OK)
		return cs_fail(r, "%s", err);
	if (keys[*idx].cert_len == 0)
		return cs_fail(CA_E_NOT_ALLOWED, "key %s has no certificate",
		    keys[*idx].label);
	return EX_OK;
}
