/*
 * smime_sign.c: cardsign smime sign: S/MIME signed messages (RFC 8551)
 * made with an agent key through OpenSSL's CMS.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/asn1t.h>
#include <openssl/bio.h>
/* pem.h first: cms.h declares its PEM functions only after it. */
#include <openssl/pem.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cardsign.h"
#include "msgin.h"
#include "output.h"
#include "smime.h"

/*
 * SMIMEEncryptionKeyPreference (RFC 8551 2.5.3), the one alternative we
 * make: [0] IMPLICIT IssuerAndSerialNumber. OpenSSL keeps its own
 * IssuerAndSerialNumber private, so the templates live here.
 */
typedef struct {
	X509_NAME *issuer;
	ASN1_INTEGER *serial;
} EKP_ISSUER_SERIAL;

typedef struct {
	int type;
	union {
		EKP_ISSUER_SERIAL *ias;
	} d;
} EKP;

ASN1_SEQUENCE(EKP_ISSUER_SERIAL) = {
	ASN1_SIMPLE(EKP_ISSUER_SERIAL, issuer, X509_NAME),
	ASN1_SIMPLE(EKP_ISSUER_SERIAL, serial, ASN1_INTEGER)
} static_ASN1_SEQUENCE_END(EKP_ISSUER_SERIAL)

ASN1_CHOICE(EKP) = {
	ASN1_IMP(EKP, d.ias, EKP_ISSUER_SERIAL, 0)
} static_ASN1_CHOICE_END(EKP)

/* The message to sign: its header in memory, its entity in a file. */
struct smime_msg {
	struct msgin in;	/* the message, its header read */
	FILE *entity;		/* the entity to sign, canonical CRLF ends */
	BIO *data;		/* reads entity */
};

/*
 * Reads the message: Content-* fields go into the signed entity in the
 * canonical CRLF form S/MIME signs, MIME-Version is dropped (SMIME_write_CMS
 * writes its own), the rest stays outside. With --entity all of it is the
 * entity, as mutt passes it. The entity goes to a scratch file, so a
 * message of any size is signed in the same memory.
 */
static int
read_message(const struct cs_opts *o, struct smime_msg *m)
{
	static const char deftype[] =
	    "Content-Type: text/plain; charset=us-ascii\r\n";
	const char *path = o->in != NULL ? o->in : "-";
	struct msgin *in = &m->in;
	BIO *b;
	int r = -1;

	if (msgin_open(in, o->in) == -1)
		return cs_fail(CA_E_BAD_INPUT, "%s: %s", path, strerror(errno));
	if (in->hlen == 0 && msgin_at_end(in) == 1)
		return cs_fail(CA_E_BAD_INPUT, "%s: empty message", path);
	if (in->hlen == 0 && !o->entity)
		return cs_fail(CA_E_BAD_INPUT, "%s: not an RFC 5322 message",
		    path);
	if ((m->entity = cs_scratch()) == NULL ||
	    (m->data = BIO_new_fp(m->entity, BIO_NOCLOSE)) == NULL)
		return cs_fail(CA_E_INTERNAL, "cannot make a scratch file: %s",
		    strerror(errno));
	b = m->data;
	if (o->entity) {
		if (smime_put_fields(b, in->hdr, in->hlen, SMIME_F_ALL,
		    "\r\n") == 0 && (in->hlen == 0 || BIO_puts(b, "\r\n") == 2))
			r = smime_put_body(in, b);
	} else if (smime_put_fields(b, in->hdr, in->hlen, SMIME_F_CONTENT,
	    "\r\n") == 0 && (smime_field_has(in->hdr, in->hlen,
	    "Content-Type", "") || BIO_puts(b, deftype) > 0) &&
	    BIO_puts(b, "\r\n") == 2)
		r = smime_put_body(in, b);
	if (r == -1)
		return cs_fail(CA_E_BAD_INPUT, "%s: %s", path, strerror(errno));
	return EX_OK;
}

/* Whether a and b share an e-mail address. */
static int
same_email(X509 *a, X509 *b)
{
	STACK_OF(OPENSSL_STRING) *ea = X509_get1_email(a);
	STACK_OF(OPENSSL_STRING) *eb = X509_get1_email(b);
	int i, j, found = 0;

	for (i = 0; !found && i < sk_OPENSSL_STRING_num(ea); i++)
		for (j = 0; !found && j < sk_OPENSSL_STRING_num(eb); j++)
			found = strcasecmp(sk_OPENSSL_STRING_value(ea, i),
			    sk_OPENSSL_STRING_value(eb, j)) == 0;
	X509_email_free(ea);
	X509_email_free(eb);
	return found;
}

/*
 * How well agent key k suits as the key-management key of signer key s:
 * the signer's key type, then also its size (a PIV card's 9C and 9D keys
 * usually match). -1 if k cannot decrypt or derive or has no certificate.
 */
static int
km_score(const struct ca_key *k, const struct ca_key *s)
{
	if ((k->ops & (CA_OP_DECRYPT | CA_OP_DERIVE)) == 0 || k->cert_len == 0)
		return -1;
	return 2 * (k->type == s->type) + (k->type == s->type &&
	    k->bits == s->bits);
}

/*
 * The user's key-management certificate: of the agent keys that decrypt
 * or derive, the best suited (km_score) whose certificate has the
 * signer's e-mail address, the first in the agent's order among equals.
 * Candidates are tried best first, so that usually one certificate is
 * parsed: each parse costs OpenSSL 3.0 a decoder set-up (0.1-0.2 ms).
 * NULL if there is none.
 */
static X509 *
find_km_cert(const struct ca_key *k, size_t n, size_t idx, X509 *signer)
{
	STACK_OF(OPENSSL_STRING) *emails;
	X509 *x = NULL;
	size_t i;
	int score;

	/* A signer without an address names no key-management key. */
	emails = X509_get1_email(signer);
	score = sk_OPENSSL_STRING_num(emails) > 0 ? 3 : -1;
	X509_email_free(emails);
	for (; x == NULL && score >= 0; score--) {
		for (i = 0; x == NULL && i < n; i++) {
			if (km_score(&k[i], &k[idx]) != score ||
			    (x = cs_key_cert(&k[i])) == NULL)
				continue;
			if (!same_email(x, signer)) {
				X509_free(x);
				x = NULL;
			}
		}
	}
	ERR_clear_error();
	return x;
}

/*
 * The attribute's value is the whole [0] encoding, tag included: an
 * ASN1_TYPE of V_ASN1_OTHER, which X509_ATTRIBUTE_create takes as it is.
 */
static int
add_encoded_attr(CMS_SignerInfo *si, int nid, const unsigned char *der,
    int len)
{
	X509_ATTRIBUTE *attr;
	ASN1_STRING *s;
	int ok;

	if ((s = ASN1_STRING_type_new(V_ASN1_SEQUENCE)) == NULL)
		return 0;
	if (!ASN1_STRING_set(s, der, len) ||
	    (attr = X509_ATTRIBUTE_create(nid, V_ASN1_OTHER, s)) == NULL) {
		ASN1_STRING_free(s);
		return 0;
	}
	ok = CMS_signed_add1_attr(si, attr);
	X509_ATTRIBUTE_free(attr);
	return ok;
}

/* Adds SMIMEEncryptionKeyPreference naming km. */
static int
add_key_pref(CMS_SignerInfo *si, X509 *km)
{
	EKP *ekp;
	unsigned char *der = NULL;
	int len, ok = 0;

	if ((ekp = (EKP *)ASN1_item_new(ASN1_ITEM_rptr(EKP))) == NULL)
		return 0;
	ekp->type = 0;
	if ((ekp->d.ias = (EKP_ISSUER_SERIAL *)ASN1_item_new(
	    ASN1_ITEM_rptr(EKP_ISSUER_SERIAL))) == NULL ||
	    !X509_NAME_set(&ekp->d.ias->issuer, X509_get_issuer_name(km)) ||
	    !ASN1_STRING_copy(ekp->d.ias->serial,
	    X509_get0_serialNumber(km)))
		goto out;
	if ((len = ASN1_item_i2d((ASN1_VALUE *)ekp, &der,
	    ASN1_ITEM_rptr(EKP))) <= 0)
		goto out;
	ok = add_encoded_attr(si, NID_id_smime_aa_encrypKeyPref, der, len);
 out:
	OPENSSL_free(der);
	ASN1_item_free((ASN1_VALUE *)ekp, ASN1_ITEM_rptr(EKP));
	return ok;
}

/*
 * smimeCapabilities: what cardsign smime encrypt offers, strongest
 * first, rather than OpenSSL's list that still has DES and RC2.
 */
static int
add_caps(CMS_SignerInfo *si)
{
	static const int nids[] = { NID_aes_256_gcm, NID_aes_128_gcm,
		NID_aes_256_cbc, NID_aes_128_cbc };
	STACK_OF(X509_ALGOR) *caps = NULL;
	size_t i;
	int ok;

	for (i = 0; i < sizeof(nids) / sizeof(nids[0]); i++)
		if (!CMS_add_simple_smimecap(&caps, nids[i], -1))
			break;
	ok = i == sizeof(nids) / sizeof(nids[0]) && CMS_add_smimecap(si, caps);
	sk_X509_ALGOR_pop_free(caps, X509_ALGOR_free);
	return ok;
}

/* RSA-PSS with a salt as long as the digest (RFC 4056). */
static int
set_pss(CMS_SignerInfo *si)
{
	EVP_PKEY_CTX *pctx = CMS_SignerInfo_get0_pkey_ctx(si);

	return pctx != NULL &&
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0;
}

/*
 * Signs m's entity. ESS signingCertificateV2 comes from CMS_CADES; the
 * signature is made by CMS_final, after the attributes are in place.
 */
/*
 * Whether the content streams into the signed-data as it is written, the
 * signature made at its end (--opaque), or is signed first. OpenSSL 3.0
 * cannot stream RSA-PSS signed-data (`openssl cms -sign -stream -keyopt
 * rsa_padding_mode:pss` fails alike: "illegal zero content"), so an
 * opaque PSS signature holds its content in memory.
 */
static int
streams(const struct cs_opts *o)
{
	return o->opaque && !o->pss;
}

/* The signed-data: signed now, or set up for streaming. */
static CMS_ContentInfo *
sign_entity(const struct cs_opts *o, struct smime_msg *m, X509 *cert,
    EVP_PKEY *pk, STACK_OF(X509) *chain, X509 *km)
{
	const unsigned flags = CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP |
	    CMS_CADES | (o->opaque ? 0 : CMS_DETACHED) |
	    (streams(o) ? CMS_STREAM : 0) | (o->pss ? CMS_KEY_PARAM : 0);
	CMS_ContentInfo *cms = NULL;
	CMS_SignerInfo *si;
	const EVP_MD *md;

	if ((md = EVP_get_digestbyname(o->hash ? o->hash : "sha256")) == NULL ||
	    (cms = CMS_sign(NULL, NULL, chain, NULL, flags)) == NULL)
		return NULL;
	if ((si = CMS_add1_signer(cms, cert, pk, md, flags)) == NULL ||
	    !add_caps(si) || (km != NULL && !add_key_pref(si, km)) ||
	    (o->pss && !set_pss(si)) || (!streams(o) &&
	    (BIO_seek(m->data, 0) != 0 || !CMS_final(cms, m->data, NULL,
	    flags)))) {
		CMS_ContentInfo_free(cms);
		cms = NULL;
	}
	return cms;
}

/*
 * The canonical entity with LF line ends, for a message that came with
 * them: every CRLF in it ends a line (a lone CR does not).
 */
static FILE *
lf_copy(FILE *from)
{
	char buf[64 * 1024];
	size_t n, i, k, cr = 0;
	FILE *to;

	if ((to = cs_scratch()) == NULL || fflush(from) != 0 ||
	    fseeko(from, 0, SEEK_SET) == -1)
		goto fail;
	while ((n = fread(buf, 1, sizeof(buf), from)) > 0) {
		/* A CR that ended the last buffer is kept unless LF follows. */
		if (cr && buf[0] != '\n' && fputc('\r', to) == EOF)
			goto fail;
		cr = buf[n - 1] == '\r';
		for (i = k = 0; i < n - cr; i++)
			if (buf[i] != '\r' || i + 1 == n || buf[i + 1] != '\n')
				buf[k++] = buf[i];
		if (fwrite(buf, 1, k, to) != k)
			goto fail;
	}
	if (ferror(from) || (cr && fputc('\r', to) == EOF) ||
	    fflush(to) != 0 || fseeko(to, 0, SEEK_SET) == -1)
		goto fail;
	return to;
 fail:
	if (to != NULL)
		fclose(to);
	return NULL;
}

/* The outer fields, then the S/MIME entity, in the input's line ends. */
static int
write_signed(const struct cs_opts *o, struct smime_msg *m,
    CMS_ContentInfo *cms)
{
	const char *eol = m->in.crlf ? "\r\n" : "\n";
	struct cs_out w;
	BIO *out = NULL, *lfdata = NULL, *data = m->data;
	FILE *lf = NULL;
	int r = -1;

	/* Streaming signs as it writes: hold stdout until that is done. */
	if (cs_out_open(&w, o->out, streams(o) ? CS_OUT_HOLD : 0) == -1)
		return cs_fail(CA_E_INTERNAL, "%s: %s", o->out != NULL ?
		    o->out : "stdout", strerror(errno));
	if (!o->opaque && !m->in.crlf) {
		if ((lf = lf_copy(m->entity)) == NULL ||
		    (lfdata = BIO_new_fp(lf, BIO_NOCLOSE)) == NULL)
			goto out;
		data = lfdata;
	} else if (BIO_seek(data, 0) != 0)
		goto out;
	ERR_clear_error();
	/* CMS_REUSE_DIGEST: copy the content; it is signed already. */
	if ((out = BIO_new_fp(w.f, BIO_NOCLOSE)) != NULL &&
	    (o->entity || smime_put_fields(out, m->in.hdr, m->in.hlen,
	    SMIME_F_OUTER, eol) == 0) && SMIME_write_CMS(out, cms, data,
	    CMS_BINARY | (streams(o) ? CMS_STREAM : CMS_REUSE_DIGEST) |
	    (o->opaque ? 0 : CMS_DETACHED) | (m->in.crlf ? SMIME_CRLFEOL :
	    0)) &&
	    BIO_flush(out) == 1)
		r = 0;
 out:
	if (r == -1) {
		r = streams(o) ? cs_fail(CA_E_TOKEN_FAILED, "signing failed: %s",
		    cs_ossl_reason()) : cs_fail(CA_E_INTERNAL, "cannot write "
		    "the message: %s", ERR_peek_error() != 0 ?
		    cs_ossl_reason() : strerror(errno));
		cs_out_abort(&w);
	} else if ((r = cs_out_commit(&w)) == -1)
		r = cs_fail(CA_E_INTERNAL, "%s: %s", o->out != NULL ? o->out :
		    "stdout", strerror(errno));
	BIO_free(out);
	BIO_free(lfdata);
	if (lf != NULL)
		fclose(lf);
	return r;
}

/* Reads the message, finds the signer's key-management cert, signs. */
static int
sign_with(const struct cs_opts *o, const struct cs_signer *s)
{
	struct smime_msg m;
	CMS_ContentInfo *cms = NULL;
	X509 *km = NULL;
	int r;

	memset(&m, 0, sizeof(m));
	m.in.fd = -1;
	if ((r = read_message(o, &m)) != EX_OK)
		goto out;
	km = find_km_cert(s->keys, s->nkeys, s->idx, s->cert);
	ERR_clear_error();
	if ((cms = sign_entity(o, &m, s->cert, s->pk, s->chain, km)) == NULL) {
		r = cs_fail(CA_E_TOKEN_FAILED, "signing failed: %s",
		    cs_ossl_reason());
		goto out;
	}
	r = write_signed(o, &m, cms);
 out:
	CMS_ContentInfo_free(cms);
	X509_free(km);
	BIO_free(m.data);
	if (m.entity != NULL)
		fclose(m.entity);
	msgin_close(&m.in);
	return r;
}

int
cmd_smime_sign(const struct cs_opts *o)
{
	struct cs_signer s;
	int r;

	if (o->key == NULL || o->nargs != 0)
		return cs_usage_fail("smime sign needs --key and no operands");
	if (EVP_get_digestbyname(o->hash ? o->hash : "sha256") == NULL)
		return cs_usage_fail("unknown hash '%s'", o->hash);
	if ((r = cs_signer_open(o, &s)) != EX_OK)
		return r;
	if (o->pss && s.keys[s.idx].type != CA_KEY_RSA)
		r = cs_usage_fail("--pss needs an RSA key");
	else
		r = sign_with(o, &s);
	cs_signer_close(&s);
	return r;
}
