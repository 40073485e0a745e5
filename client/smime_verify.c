/*
 * smime_verify.c: cardsign smime verify: S/MIME signed messages, either
 * form, checked against a trust store at the time they were signed.
 *
 * The message is read as a stream: a multipart/signed's first part, or
 * signed-data's content, goes to a scratch file as it comes; only the
 * signature (certificates and signer infos) is held in memory.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/buffer.h>
/* pem.h first: cms.h declares its PEM functions only after it. */
#include <openssl/pem.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "cardsign.h"
#include "cmswalk.h"
#include "msgin.h"
#include "multipart.h"
#include "output.h"
#include "smime.h"

/* The signingTime attribute, or NULL. */
static const ASN1_TIME *
signing_time(CMS_SignerInfo *si)
{
	const ASN1_OBJECT *obj = OBJ_nid2obj(NID_pkcs9_signingTime);
	const ASN1_TIME *t;

	if ((t = CMS_signed_get0_data_by_OBJ(si, obj, -3,
	    V_ASN1_UTCTIME)) == NULL)
		t = CMS_signed_get0_data_by_OBJ(si, obj, -3,
		    V_ASN1_GENERALIZEDTIME);
	return t;
}

/*
 * A CRL issued after the signing time is still news of revocations, not
 * a reason to refuse the chain.
 */
static int
verify_cb(int ok, X509_STORE_CTX *ctx)
{
	if (!ok && X509_STORE_CTX_get_error(ctx) ==
	    X509_V_ERR_CRL_NOT_YET_VALID)
		return 1;
	return ok;
}

/*
 * Verifies x's chain at time t (now if NULL), with the S/MIME signing
 * purpose: keyUsage digitalSignature or nonRepudiation, and an extended
 * key usage, if any, with emailProtection. *chain gets the chain.
 */
static int
verify_chain(X509_STORE *st, CMS_ContentInfo *cms, X509 *x,
    const ASN1_TIME *t, STACK_OF(X509) **chain)
{
	STACK_OF(X509) *certs = CMS_get1_certs(cms);
	STACK_OF(X509_CRL) *crls = CMS_get1_crls(cms);
	X509_STORE_CTX *ctx;
	struct tm tm;
	int ok = 0;

	if ((ctx = X509_STORE_CTX_new()) == NULL ||
	    !X509_STORE_CTX_init(ctx, st, x, certs) ||
	    !X509_STORE_CTX_set_default(ctx, "smime_sign"))
		goto out;
	X509_STORE_CTX_set0_crls(ctx, crls);
	X509_STORE_CTX_set_verify_cb(ctx, verify_cb);
	if (t != NULL) {
		if (!ASN1_TIME_to_tm(t, &tm))
			goto out;
		X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx),
		    timegm(&tm));
	}
	if ((ok = X509_verify_cert(ctx) == 1))
		*chain = X509_STORE_CTX_get1_chain(ctx);
	else
		cs_say("signer not trusted: %s", X509_verify_cert_error_string(
		    X509_STORE_CTX_get_error(ctx)));
 out:
	X509_STORE_CTX_free(ctx);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	sk_X509_pop_free(certs, X509_free);
	return ok;
}

static void
print_name(FILE *f, const char *what, const X509_NAME *name)
{
	char buf[512];

	X509_NAME_oneline(name, buf, sizeof(buf));
	fprintf(f, "%s%s\n", what, buf);
}

/* Who signed, with what key, when, and through which CAs. */
static void
print_signer(FILE *f, X509 *x, const ASN1_TIME *t, STACK_OF(X509) *chain)
{
	STACK_OF(OPENSSL_STRING) *em = X509_get1_email(x);
	EVP_PKEY *pk = X509_get0_pubkey(x);
	char group[64];
	BIO *b;
	int i;

	print_name(f, "Good signature from ", X509_get_subject_name(x));
	for (i = 0; i < sk_OPENSSL_STRING_num(em); i++)
		fprintf(f, "  e-mail: %s\n", sk_OPENSSL_STRING_value(em, i));
	X509_email_free(em);
	if (pk != NULL) {
		if (!EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL))
			group[0] = '\0';
		fprintf(f, "  key: %s %d%s%s\n", EVP_PKEY_get0_type_name(pk),
		    EVP_PKEY_get_bits(pk), group[0] ? " " : "", group);
	}
	fflush(f);
	if (t != NULL && (b = BIO_new_fp(f, BIO_NOCLOSE)) != NULL) {
		BIO_puts(b, "  signed: ");
		ASN1_TIME_print(b, t);
		BIO_puts(b, "\n");
		BIO_free(b);
	}
	for (i = 0; i < sk_X509_num(chain); i++)
		print_name(f, "  chain: ", X509_get_subject_name(
		    sk_X509_value(chain, i)));
	ERR_clear_error();
}

/* Checks every signer's chain at its signing time; prints each to f. */
static int
check_signers(const struct cs_opts *o, CMS_ContentInfo *cms, FILE *f)
{
	STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);
	STACK_OF(X509) *chain;
	CMS_SignerInfo *si;
	const ASN1_TIME *t;
	X509_STORE *st;
	X509 *x;
	int i, r = EX_OK;

	if ((st = cs_trust_store(o)) == NULL)
		return cs_fail(CA_E_BAD_INPUT, "cannot load the trusted CAs: "
		    "%s", cs_ossl_reason());
	for (i = 0; r == EX_OK && i < sk_CMS_SignerInfo_num(sis); i++) {
		si = sk_CMS_SignerInfo_value(sis, i);
		CMS_SignerInfo_get0_algs(si, NULL, &x, NULL, NULL);
		t = signing_time(si);
		chain = NULL;
		/* CMS_verify found every signer's certificate, or failed. */
		if (x == NULL || !verify_chain(st, cms, x, t, &chain))
			r = EX_UNTRUSTED;
		else if (!o->json)
			print_signer(f, x, t, chain);
		sk_X509_pop_free(chain, X509_free);
	}
	X509_STORE_free(st);
	return r;
}

/*
 * The signatures and digests alone, over the signed data in data; the
 * signers' chains come after. The signed bytes are already canonical, so
 * they are hashed as they are (CMS_BINARY), and copied to content.
 */
static int
check_signature(CMS_ContentInfo *cms, FILE *data, FILE *content)
{
	BIO *in = NULL, *out = NULL;
	unsigned long e;
	int r;

	ERR_clear_error();
	if (fflush(data) != 0 || fseeko(data, 0, SEEK_SET) == -1 ||
	    (in = BIO_new_fp(data, BIO_NOCLOSE)) == NULL || (content != NULL &&
	    (out = BIO_new_fp(content, BIO_NOCLOSE)) == NULL)) {
		r = cs_fail(CA_E_INTERNAL, "cannot read back the signed data: "
		    "%s", strerror(errno));
		goto out;
	}
	if (CMS_verify(cms, NULL, NULL, in, out, CMS_NO_SIGNER_CERT_VERIFY |
	    CMS_BINARY) && (out == NULL || BIO_flush(out) == 1)) {
		r = EX_OK;
		goto out;
	}
	e = ERR_peek_last_error();
	r = ERR_GET_REASON(e) == CMS_R_SIGNER_CERTIFICATE_NOT_FOUND ?
	    EX_UNTRUSTED : EX_BAD_SIGNATURE;
	cs_say("%s: %s", r == EX_UNTRUSTED ? "signer not trusted" :
	    "BAD signature", cs_ossl_reason());
 out:
	BIO_free(out);
	BIO_free(in);
	return r;
}

/* The certificate's SHA-256 fingerprint in hex, as sha256sum prints the
 * DER's: a script compares it without reformatting. */
static void
json_fingerprint(FILE *f, X509 *x)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	unsigned int n;

	if (!X509_digest(x, EVP_sha256(), md, &n)) {
		fputs("null", f);
		return;
	}
	ca_hex(hex, md, n, 0);
	fprintf(f, "\"%s\"", hex);
}

/* A time as ISO 8601 UTC, or null. */
static void
json_time(FILE *f, const ASN1_TIME *t)
{
	char buf[32];
	struct tm tm;

	if (t == NULL || !ASN1_TIME_to_tm(t, &tm) ||
	    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		fputs("null", f);
	else
		fprintf(f, "\"%s\"", buf);
}

static void
json_signer(FILE *f, X509 *x, const ASN1_TIME *t)
{
	STACK_OF(OPENSSL_STRING) *em = X509_get1_email(x);
	char name[512];

	X509_NAME_oneline(X509_get_subject_name(x), name, sizeof(name));
	fputs("{\"subject\":", f);
	cs_json_str(f, name);
	fputs(",\"email\":", f);
	cs_json_str(f, sk_OPENSSL_STRING_num(em) > 0 ?
	    sk_OPENSSL_STRING_value(em, 0) : "");
	X509_email_free(em);
	fputs(",\"fingerprint_sha256\":", f);
	json_fingerprint(f, x);
	fputs(",\"signing_time\":", f);
	json_time(f, t);
	putc('}', f);
}

void
cs_verify_json(FILE *f, CMS_ContentInfo *cms, int valid, int trusted, int r)
{
	STACK_OF(CMS_SignerInfo) *sis = NULL;
	CMS_SignerInfo *si;
	const char *why;
	X509 *x;
	int i, n = 0;

	if (cms != NULL && OBJ_obj2nid(CMS_get0_type(cms)) == NID_pkcs7_signed)
		sis = CMS_get0_SignerInfos(cms);
	fprintf(f, "{\"valid\":%s,\"trusted\":%s,\"signers\":[",
	    valid ? "true" : "false", trusted ? "true" : "false");
	for (i = 0; i < sk_CMS_SignerInfo_num(sis); i++) {
		si = sk_CMS_SignerInfo_value(sis, i);
		CMS_SignerInfo_get0_algs(si, NULL, &x, NULL, NULL);
		/* Only a certificate found in the message names a signer. */
		if (x == NULL)
			continue;
		if (n++ > 0)
			putc(',', f);
		json_signer(f, x, signing_time(si));
	}
	fputs("],\"error\":", f);
	why = cs_last_error();
	if (r == EX_OK)
		fputs("null", f);
	else
		cs_json_str(f, why[0] != '\0' ? why : r == EX_UNTRUSTED ?
		    "signer not trusted" : r == EX_BAD_SIGNATURE ?
		    "BAD signature" : "verification failed");
	fputs("}\n", f);
	fflush(f);
	ERR_clear_error();
}

/* A multipart/signed: the first part streamed to data, the second parsed. */
static int
read_multipart(struct msgin *m, const char *boundary, FILE *data,
    CMS_ContentInfo **cms)
{
	const char *why;
	size_t hlen, body;
	BUF_MEM *sig;
	int r = EX_OK;

	if ((sig = BUF_MEM_new()) == NULL)
		return cs_fail(CA_E_INTERNAL, "out of memory");
	if (multipart_signed_read(m, boundary, data, sig, &why) == -1) {
		r = cs_fail(CA_E_BAD_INPUT, "not an S/MIME signed message: %s",
		    why);
		goto out;
	}
	smime_split(sig->data, sig->length, &hlen, &body);
	if ((*cms = cs_read_cms(sig->data + body, sig->length - body)) ==
	    NULL || OBJ_obj2nid(CMS_get0_type(*cms)) != NID_pkcs7_signed)
		r = cs_fail(CA_E_BAD_INPUT, "not an S/MIME signed message: the "
		    "signature part is not CMS signed data");
 out:
	BUF_MEM_free(sig);
	return r;
}

static int
to_file(void *arg, const unsigned char *p, size_t n)
{
	return fwrite(p, 1, n, arg) == n ? 0 : -1;
}

/* application/pkcs7-mime signed-data, DER, PEM or base64: the content
 * streamed to data, the rest parsed. */
static int
read_opaque(struct msgin *m, FILE *data, CMS_ContentInfo **cms)
{
	struct cmswalk *w;
	int r;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return cs_fail(CA_E_INTERNAL, "out of memory");
	if (msgin_decode_body(m) == -1 || cmswalk_open(w, m) == -1 ||
	    w->type != NID_pkcs7_signed) {
		r = cs_fail(CA_E_BAD_INPUT, "not an S/MIME signed message: %s",
		    w->why != NULL ? w->why : "the data is not signed");
		goto out;
	}
	if ((r = cmswalk_content(w, to_file, data)) != 1 ||
	    cmswalk_finish(w) == -1) {
		r = r == 0 ? cs_fail(CA_E_BAD_INPUT, "the signature is detached: "
		    "cardsign verify SIG FILE checks it with its file") :
		    cs_fail(CA_E_BAD_INPUT, "not an S/MIME signed message: %s",
		    w->why);
		goto out;
	}
	if ((*cms = cmswalk_cms(w, NULL, 0)) == NULL) {
		r = cs_fail(CA_E_BAD_INPUT, "not an S/MIME signed message: %s",
		    cs_ossl_reason());
		goto out;
	}
	r = EX_OK;
 out:
	cmswalk_free(w);
	free(w);
	return r;
}

int
smime_verify_msg(const struct cs_opts *o, struct msgin *m, FILE *content,
    FILE *report)
{
	CMS_ContentInfo *cms = NULL;
	char boundary[128];
	FILE *data;
	int r, valid = 0, trusted = 0;

	if ((data = cs_scratch()) == NULL) {
		r = cs_fail(CA_E_INTERNAL, "cannot make a scratch file: %s",
		    strerror(errno));
		if (o->json)
			cs_verify_json(report, NULL, 0, 0, r);
		return r;
	}
	if (smime_field_has(m->hdr, m->hlen, "Content-Type",
	    "multipart/signed")) {
		if (!smime_field_param(m->hdr, m->hlen, "Content-Type",
		    "boundary", boundary, sizeof(boundary)))
			r = cs_fail(CA_E_BAD_INPUT, "not an S/MIME signed "
			    "message: the multipart has no boundary");
		else
			r = read_multipart(m, boundary, data, &cms);
	} else if (m->hlen > 0 && !smime_field_has(m->hdr, m->hlen,
	    "Content-Type", "pkcs7-mime"))
		r = cs_fail(CA_E_BAD_INPUT, "not an S/MIME signed message");
	else
		r = read_opaque(m, data, &cms);
	if (r == EX_OK && (r = check_signature(cms, data, content)) == EX_OK) {
		valid = 1;
		trusted = (r = check_signers(o, cms, report)) == EX_OK;
	}
	if (o->json)
		cs_verify_json(report, cms, valid, trusted, r);
	CMS_ContentInfo_free(cms);
	fclose(data);
	return r;
}

int
cmd_smime_verify(const struct cs_opts *o)
{
	struct msgin m;
	struct cs_out w;
	int r;

	if (o->nargs != 0)
		return cs_usage_fail("smime verify takes no operands");
	if (msgin_open(&m, o->in) == -1) {
		r = cs_fail(CA_E_BAD_INPUT, "%s: %s", o->in != NULL ?
		    o->in : "stdin", strerror(errno));
		if (o->json)
			cs_verify_json(stdout, NULL, 0, 0, r);
		return r;
	}
	if (o->out != NULL && cs_out_open(&w, o->out, 0) == -1) {
		r = cs_fail(CA_E_INTERNAL, "%s: %s", o->out, strerror(errno));
		if (o->json)
			cs_verify_json(stdout, NULL, 0, 0, r);
		goto out;
	}
	/* The content is renamed into place only once it is known good. */
	r = smime_verify_msg(o, &m, o->out != NULL ? w.f : NULL, stdout);
	if (o->out != NULL) {
		if (r != EX_OK)
			cs_out_abort(&w);
		else if (cs_out_commit(&w) == -1)
			r = cs_fail(CA_E_INTERNAL, "%s: %s", o->out,
			    strerror(errno));
	}
 out:
	msgin_close(&m);
	return r;
}
