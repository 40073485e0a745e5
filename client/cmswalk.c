/*
 * cmswalk.c: walking a CMS message's outer layers as a stream.
 *
 *   ContentInfo ::= SEQUENCE { contentType, [0] EXPLICIT content }
 *   SignedData, EnvelopedData, AuthEnvelopedData ::= SEQUENCE {
 *       fields before ("before"),
 *       content info SEQUENCE { its fields ("head"), [0] content },
 *       fields after ("after") }
 *
 * The content info is the data's first universal SEQUENCE in all three.
 */
#include <errno.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>

#include "cmswalk.h"

/* Tag and length octets: ASN1_get_object reads no more than this. */
#define HDR_MAX 16

enum { CI, EXPLICIT0, DATA, INFO };

static int
fail(struct cmswalk *w, const char *why)
{
	if (w->why == NULL)
		w->why = why;
	return -1;
}

/* Buffers up to n bytes (fewer only at the end): how many, or -1. */
static ssize_t
fill(struct cmswalk *w, size_t n)
{
	ssize_t r;

	if (w->len - w->off >= n || w->eof)
		return (ssize_t)(w->len - w->off);
	memmove(w->buf, w->buf + w->off, w->len - w->off);
	w->len -= w->off;
	w->off = 0;
	while (w->len < n && !w->eof) {
		r = msgin_read(w->in, w->buf + w->len, sizeof(w->buf) - w->len);
		if (r == -1)
			return fail(w, errno == EBADMSG ? "bad base64" :
			    "cannot read the message");
		if (r == 0)
			w->eof = 1;
		w->len += (size_t)r;
	}
	return (ssize_t)w->len;
}

/* Parses the next header into t without using it: its length, or -1. */
static ssize_t
peek(struct cmswalk *w, const struct cmswalk_tlv *parent,
    struct cmswalk_tlv *t)
{
	const unsigned char *p, *q;
	ssize_t avail;
	long len;
	int r;

	if ((avail = fill(w, HDR_MAX)) == -1)
		return -1;
	if (avail == 0)
		return fail(w, "truncated");
	p = q = w->buf + w->off;
	/* A content longer than what is buffered is the normal case here,
	 * not the error ASN1_get_object queues for it. */
	ERR_set_mark();
	r = ASN1_get_object(&q, &len, &t->tag, &t->cls, (long)avail);
	ERR_pop_to_mark();
	if (q == p || len < 0)
		return fail(w, avail < HDR_MAX ? "truncated" : "malformed");
	t->cons = (r & V_ASN1_CONSTRUCTED) != 0;
	t->indef = t->cons && (r & 1) != 0;
	t->end = w->pos + (uint64_t)(q - p) + (uint64_t)len;
	if (parent != NULL && !parent->indef && (t->indef ? w->pos :
	    t->end) > parent->end)
		return fail(w, "an element overruns what holds it");
	return q - p;
}

static int
keep(struct cmswalk *w, BUF_MEM *to, const unsigned char *p, size_t n)
{
	size_t at = to->length;

	if (n > CMSWALK_MAX_SKELETON - w->kept)
		return fail(w, "too large besides its content (too many "
		    "recipients or certificates)");
	if (BUF_MEM_grow(to, at + n) == 0)
		return fail(w, "out of memory");
	memcpy(to->data + at, p, n);
	w->kept += n;
	return 0;
}

/* Uses the next header, kept in to unless NULL: 0, or -1. */
static int
header(struct cmswalk *w, const struct cmswalk_tlv *parent,
    struct cmswalk_tlv *t, BUF_MEM *to)
{
	ssize_t n;

	if ((n = peek(w, parent, t)) == -1 ||
	    (to != NULL && keep(w, to, w->buf + w->off, (size_t)n) == -1))
		return -1;
	w->off += (size_t)n;
	w->pos += (uint64_t)n;
	return 0;
}

static int
is_eoc(const struct cmswalk_tlv *t, uint64_t pos)
{
	return t->tag == V_ASN1_EOC && t->cls == V_ASN1_UNIVERSAL &&
	    !t->cons && t->end == pos;
}

/* Passes the next n bytes to sink, or keeps them in to. */
static int
take(struct cmswalk *w, uint64_t n, BUF_MEM *to, cmswalk_sink sink,
    void *arg)
{
	size_t k;

	if (to != NULL && n > CMSWALK_MAX_SKELETON - w->kept)
		return fail(w, "too large besides its content (too many "
		    "recipients or certificates)");
	while (n > 0) {
		if (w->off == w->len && fill(w, 1) <= 0)
			return fail(w, "truncated");
		k = w->len - w->off;
		if (k > n)
			k = (size_t)n;
		if (to != NULL ? keep(w, to, w->buf + w->off, k) == -1 :
		    sink(arg, w->buf + w->off, k) == -1)
			return fail(w, "cannot write the content");
		w->off += k;
		w->pos += k;
		n -= k;
	}
	return 0;
}

/* Whether t, open, holds another element: 1, 0, or -1. */
static int
more(struct cmswalk *w, const struct cmswalk_tlv *t)
{
	ssize_t avail;

	if (!t->indef)
		return w->pos < t->end;
	if ((avail = fill(w, 2)) == -1)
		return -1;
	if (avail < 2)
		return fail(w, "truncated");
	return w->buf[w->off] != 0 || w->buf[w->off + 1] != 0;
}

/* Uses t's end: its end-of-contents, kept in to unless NULL. */
static int
close_tlv(struct cmswalk *w, const struct cmswalk_tlv *t, BUF_MEM *to)
{
	struct cmswalk_tlv eoc;

	if (!t->indef)
		return w->pos == t->end ? 0 : fail(w, "an element overruns "
		    "what holds it");
	if (header(w, t, &eoc, to) == -1)
		return -1;
	return is_eoc(&eoc, w->pos) ? 0 : fail(w, "malformed");
}

/* Keeps the next element whole, nested BER and all. */
static int
keep_element(struct cmswalk *w, const struct cmswalk_tlv *parent,
    BUF_MEM *to, int depth)
{
	struct cmswalk_tlv t;
	int r;

	if (depth > CMSWALK_MAX_DEPTH)
		return fail(w, "nested too deeply");
	if (header(w, parent, &t, to) == -1)
		return -1;
	if (is_eoc(&t, w->pos))
		return fail(w, "malformed");
	if (!t.indef)
		return take(w, t.end - w->pos, to, NULL, NULL);
	while ((r = more(w, &t)) == 1)
		if (keep_element(w, &t, to, depth + 1) == -1)
			return -1;
	return r == -1 ? -1 : close_tlv(w, &t, to);
}

/* Opens the next element, which must be constructed with this tag. */
static int
enter(struct cmswalk *w, const struct cmswalk_tlv *parent,
    struct cmswalk_tlv *t, int tag, int cls)
{
	if (header(w, parent, t, NULL) == -1)
		return -1;
	if (t->tag != tag || t->cls != cls || !t->cons)
		return fail(w, "not a CMS message");
	return 0;
}

static int
read_type(struct cmswalk *w)
{
	struct cmswalk_tlv t;
	const unsigned char *p;
	ASN1_OBJECT *obj;

	if (peek(w, &w->open[CI], &t) == -1)
		return -1;
	if (t.tag != V_ASN1_OBJECT || t.cls != V_ASN1_UNIVERSAL || t.cons ||
	    t.end - w->pos > 64)
		return fail(w, "not a CMS message");
	if (fill(w, (size_t)(t.end - w->pos)) < (ssize_t)(t.end - w->pos))
		return fail(w, "truncated");
	p = w->buf + w->off;
	if ((obj = d2i_ASN1_OBJECT(NULL, &p, (long)(t.end - w->pos))) ==
	    NULL)
		return fail(w, "not a CMS message");
	w->type = OBJ_obj2nid(obj);
	ASN1_OBJECT_free(obj);
	return take(w, t.end - w->pos, w->oid, NULL, NULL);
}

int
cmswalk_open(struct cmswalk *w, struct msgin *in)
{
	struct cmswalk_tlv t;
	int r;

	memset(w, 0, sizeof(*w));
	w->in = in;
	if ((w->oid = BUF_MEM_new()) == NULL ||
	    (w->before = BUF_MEM_new()) == NULL ||
	    (w->head = BUF_MEM_new()) == NULL ||
	    (w->after = BUF_MEM_new()) == NULL)
		return fail(w, "out of memory");
	if (enter(w, NULL, &w->open[CI], V_ASN1_SEQUENCE,
	    V_ASN1_UNIVERSAL) == -1 || read_type(w) == -1)
		return -1;
	if (w->type != NID_pkcs7_signed && w->type != NID_pkcs7_enveloped &&
	    w->type != NID_id_smime_ct_authEnvelopedData)
		return fail(w, "neither signed nor encrypted data");
	if (enter(w, &w->open[CI], &w->open[EXPLICIT0], 0,
	    V_ASN1_CONTEXT_SPECIFIC) == -1 ||
	    enter(w, &w->open[EXPLICIT0], &w->open[DATA], V_ASN1_SEQUENCE,
	    V_ASN1_UNIVERSAL) == -1)
		return -1;
	/* The fields before the content info, kept whole. */
	for (;;) {
		if ((r = more(w, &w->open[DATA])) != 1)
			return r == -1 ? -1 : fail(w, "no content info");
		if (peek(w, &w->open[DATA], &t) == -1)
			return -1;
		if (t.tag == V_ASN1_SEQUENCE && t.cls == V_ASN1_UNIVERSAL)
			break;
		if (keep_element(w, &w->open[DATA], w->before, 0) == -1)
			return -1;
	}
	if (enter(w, &w->open[DATA], &w->open[INFO], V_ASN1_SEQUENCE,
	    V_ASN1_UNIVERSAL) == -1)
		return -1;
	/* Its type and (encrypted) algorithm, up to the [0] content. */
	while ((r = more(w, &w->open[INFO])) == 1) {
		if (peek(w, &w->open[INFO], &t) == -1)
			return -1;
		if (t.tag == 0 && t.cls == V_ASN1_CONTEXT_SPECIFIC)
			break;
		if (keep_element(w, &w->open[INFO], w->head, 0) == -1)
			return -1;
	}
	return r == -1 ? -1 : 0;
}

/* Streams an OCTET STRING's contents, primitive or constructed. */
static int
octets(struct cmswalk *w, const struct cmswalk_tlv *t, cmswalk_sink sink,
    void *arg, int depth)
{
	struct cmswalk_tlv c;
	int r;

	if (!t->cons)
		return take(w, t->end - w->pos, NULL, sink, arg);
	if (depth > CMSWALK_MAX_DEPTH)
		return fail(w, "nested too deeply");
	while ((r = more(w, t)) == 1) {
		if (header(w, t, &c, NULL) == -1)
			return -1;
		if (c.tag != V_ASN1_OCTET_STRING || c.cls != V_ASN1_UNIVERSAL)
			return fail(w, "malformed content");
		if (octets(w, &c, sink, arg, depth + 1) == -1)
			return -1;
	}
	return r == -1 ? -1 : close_tlv(w, t, NULL);
}

int
cmswalk_content(struct cmswalk *w, cmswalk_sink sink, void *arg)
{
	struct cmswalk_tlv t, os;
	int r;

	if ((r = more(w, &w->open[INFO])) != 1)
		return r == -1 ? -1 : close_tlv(w, &w->open[INFO], NULL);
	if (header(w, &w->open[INFO], &t, NULL) == -1)
		return -1;
	/* Signed data's eContent is [0] EXPLICIT OCTET STRING; encrypted
	 * content is [0] IMPLICIT OCTET STRING. */
	if (w->type == NID_pkcs7_signed) {
		if (!t.cons || header(w, &t, &os, NULL) == -1)
			return fail(w, "malformed content");
		if (os.tag != V_ASN1_OCTET_STRING ||
		    os.cls != V_ASN1_UNIVERSAL)
			return fail(w, "malformed content");
		if (octets(w, &os, sink, arg, 0) == -1 ||
		    close_tlv(w, &t, NULL) == -1)
			return -1;
	} else if (octets(w, &t, sink, arg, 0) == -1)
		return -1;
	if ((r = more(w, &w->open[INFO])) != 0)
		return r == -1 ? -1 : fail(w, "malformed content info");
	return close_tlv(w, &w->open[INFO], NULL) == -1 ? -1 : 1;
}

int
cmswalk_finish(struct cmswalk *w)
{
	int r;

	while ((r = more(w, &w->open[DATA])) == 1)
		if (keep_element(w, &w->open[DATA], w->after, 0) == -1)
			return -1;
	if (r == -1 || close_tlv(w, &w->open[DATA], NULL) == -1 ||
	    close_tlv(w, &w->open[EXPLICIT0], NULL) == -1 ||
	    close_tlv(w, &w->open[CI], NULL) == -1)
		return -1;
	return 0;
}

/* Appends what b holds (an empty BUF_MEM has no data at all). */
static void
put_kept(unsigned char **p, const BUF_MEM *b)
{
	if (b->length > 0) {
		memcpy(*p, b->data, b->length);
		*p += b->length;
	}
}

/* An indefinite-length constructed header, as BER allows. */
static void
put_open(unsigned char **p, int tag, int cls)
{
	ASN1_put_object(p, 2, 0, tag, cls);
}

CMS_ContentInfo *
cmswalk_cms(struct cmswalk *w, const unsigned char *after, size_t alen)
{
	const unsigned char *q;
	CMS_ContentInfo *cms;
	unsigned char *der, *p;
	size_t n;

	if (after == NULL) {
		after = (const unsigned char *)w->after->data;
		alen = w->after->length;
	}
	/*
	 * The layers that held the content are written anew with
	 * indefinite lengths: their old lengths counted it.
	 */
	n = w->oid->length + w->before->length + w->head->length + alen +
	    4 * HDR_MAX;
	if ((der = OPENSSL_malloc(n)) == NULL)
		return NULL;
	p = der;
	put_open(&p, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
	put_kept(&p, w->oid);
	put_open(&p, 0, V_ASN1_CONTEXT_SPECIFIC);
	put_open(&p, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
	put_kept(&p, w->before);
	put_open(&p, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
	put_kept(&p, w->head);
	ASN1_put_eoc(&p);
	if (alen > 0) {
		memcpy(p, after, alen);
		p += alen;
	}
	ASN1_put_eoc(&p);
	ASN1_put_eoc(&p);
	ASN1_put_eoc(&p);
	q = der;
	cms = d2i_CMS_ContentInfo(NULL, &q, (long)(p - der));
	OPENSSL_free(der);
	return cms;
}

int
cmswalk_after_field(const struct cmswalk *w, int tag, int cls,
    const unsigned char **p, size_t *len)
{
	const unsigned char *q = (const unsigned char *)w->after->data;
	const unsigned char *end, *at;
	long l;
	int t, c, r;

	if (w->after->length == 0)
		return 0;
	end = q + w->after->length;

	/* The fields were walked once already: they are well formed, but
	 * the indefinite ones are skipped element by element. */
	while (q < end) {
		at = q;
		r = ASN1_get_object(&q, &l, &t, &c, end - q);
		if (q == at || (r & 0x80) != 0)
			return 0;
		if (t == tag && c == cls) {
			*p = q;
			*len = (size_t)l;
			return 1;
		}
		if ((r & 1) != 0)
			return 0;
		q += l;
	}
	return 0;
}

void
cmswalk_free(struct cmswalk *w)
{
	BUF_MEM_free(w->oid);
	BUF_MEM_free(w->before);
	BUF_MEM_free(w->head);
	BUF_MEM_free(w->after);
	w->oid = w->before = w->head = w->after = NULL;
}
