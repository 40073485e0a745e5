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

/* The parts of a message to sign, each in memory. */
struct smime_msg {
	BIO *outer;	/* header fields that stay outside, LF ends */
	BIO *entity;	/* the entity to sign, canonical CRLF ends */
	int crlf;	/* the input used CRLF: so does the output */
};

/*
 * Reads the message: Content-* fields go into the signed entity in the
 * canonical CRLF form S/MIME signs, MIME-Version is dropped (SMIME_write_CMS
 * writes its own), the rest stays outside. With --entity all of it is the
 * entity, as mutt passes it.
 */
static int
read_message(const struct cs_opts *o, struct smime_msg *m)
{
	static const char deftype[] =
	    "Content-Type: text/plain; charset=us-ascii\r\n";
	const char *path = o->in != NULL ? o->in : "-", *p;
	size_t n, hlen, body;
	BIO *in;
	int r = -1;

	if ((in = smime_read_input(o->in)) == NULL)
		return cs_fail(CA_E_BAD_INPUT, "%s: %s", path, strerror(errno));
	if ((n = smime_bio_data(in, &p)) == 0) {
		BIO_free(in);
		return cs_fail(CA_E_BAD_INPUT, "%s: empty message", path);
	}
	m->crlf = smime_is_crlf(p, n);
	if (o->entity)
		r = smime_put_text(m->entity, p, n, "\r\n");
	else {
		smime_split(p, n, &hlen, &body);
		if (hlen > 0 &&
		    smime_put_fields(m->outer, p, hlen, SMIME_F_OUTER,
		    "\n") == 0 &&
		    smime_put_fields(m->entity, p, hlen, SMIME_F_CONTENT,
		    "\r\n") == 0 &&
		    (smime_field_has(p, hlen, "Content-Type", "") ||
		    BIO_puts(m->entity, deftype) > 0) &&
		    BIO_puts(m->entity, "\r\n") > 0)
			r = smime_put_text(m->entity, p + body, n - body,
			    "\r\n");
	}
	BIO_free(in);
	if (r == -1)
		return cs_fail(CA_E_BAD_INPUT, "%s: not an RFC 5322 message",
		    path);
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
static CMS_ContentInfo *
sign_entity(const struct cs_opts *o, struct smime_msg *m, X509 *cert,
    EVP_PKEY *pk, STACK_OF(X509) *chain, X509 *km)
{
	const unsigned flags = CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP |
	    CMS_CADES | (o->opaque ? 0 : CMS_DETACHED) |
	    (o->pss ? CMS_KEY_PARAM : 0);
	CMS_ContentInfo *cms = NULL;
	CMS_SignerInfo *si;
	const EVP_MD *md;
	BIO *data;
	char *p;
	long n;

	/* A read-only view: reading the BIO itself would consume it. */
	n = BIO_get_mem_data(m->entity, &p);
	if ((data = BIO_new_mem_buf(p, (int)n)) == NULL)
		return NULL;
	if ((md = EVP_get_digestbyname(o->hash ? o->hash : "sha256")) == NULL ||
	    (cms = CMS_sign(NULL, NULL, chain, NULL, flags)) == NULL)
		goto out;
	if ((si = CMS_add1_signer(cms, cert, pk, md, flags)) == NULL ||
	    !add_caps(si) || (km != NULL && !add_key_pref(si, km)) ||
	    (o->pss && !set_pss(si)) || !CMS_final(cms, data, NULL, flags)) {
		CMS_ContentInfo_free(cms);
		cms = NULL;
	}
 out:
	BIO_free(data);
	return cms;
}

/* The outer fields, then the S/MIME entity, in the input's line ends. */
static int
write_signed(const struct cs_opts *o, struct smime_msg *m,
    CMS_ContentInfo *cms)
{
	const char *eol = m->crlf ? "\r\n" : "\n";
	BIO *out, *data = NULL;
	char *p;
	long n;
	int r;

	if ((out = BIO_new(BIO_s_mem())) == NULL)
		return cs_fail(CA_E_INTERNAL, "out of memory");
	n = BIO_get_mem_data(m->outer, &p);
	r = smime_put_text(out, p, (size_t)n, eol);
	if (r == 0 && !o->opaque) {
		n = BIO_get_mem_data(m->entity, &p);
		if ((data = BIO_new(BIO_s_mem())) == NULL ||
		    smime_put_text(data, p, (size_t)n, eol) == -1)
			r = -1;
	}
	/* CMS_REUSE_DIGEST: copy the content; it is signed already. */
	if (r == 0 && !SMIME_write_CMS(out, cms, data, CMS_BINARY |
	    CMS_REUSE_DIGEST | (o->opaque ? 0 : CMS_DETACHED) |
	    (m->crlf ? SMIME_CRLFEOL : 0)))
		r = -1;
	r = r == 0 ? cs_write_bio(o->out, out, 0) :
	    cs_fail(CA_E_INTERNAL, "cannot write the message: %s",
	    cs_ossl_reason());
	BIO_free(data);
	BIO_free(out);
	return r;
}

/* Reads the message, finds the signer's key-management cert, signs. */
static int
sign_with(const struct cs_opts *o, const struct cs_signer *s)
{
	struct smime_msg m = { NULL, NULL, 0 };
	CMS_ContentInfo *cms = NULL;
	X509 *km = NULL;
	int r;

	if ((m.outer = BIO_new(BIO_s_mem())) == NULL ||
	    (m.entity = BIO_new(BIO_s_mem())) == NULL) {
		r = cs_fail(CA_E_INTERNAL, "out of memory");
		goto out;
	}
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
	BIO_free(m.entity);
	BIO_free(m.outer);
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
