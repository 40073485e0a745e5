/*
 * smime_verify.c: cardsign smime verify: S/MIME signed messages, either
 * form, checked against a trust store at the time they were signed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
/* pem.h first: cms.h declares its PEM functions only after it. */
#include <openssl/pem.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "cardsign.h"
#include "smime.h"

/*
 * The signed message: S/MIME (either form, CRLF or LF), else DER or PEM
 * CMS as clients save .p7m files. *cont gets a multipart's content.
 */
static CMS_ContentInfo *
parse_signed(const uint8_t *buf, size_t len, BIO **cont)
{
	CMS_ContentInfo *cms = NULL;
	BIO *b;

	*cont = NULL;
	if ((b = BIO_new_mem_buf(buf, (int)len)) != NULL &&
	    (cms = SMIME_read_CMS(b, cont)) == NULL)
		cms = cs_read_cms((const char *)buf, len);
	BIO_free(b);
	if (cms != NULL && OBJ_obj2nid(CMS_get0_type(cms)) !=
	    NID_pkcs7_signed) {
		CMS_ContentInfo_free(cms);
		BIO_free(*cont);
		*cont = NULL;
		cms = NULL;
	}
	return cms;
}

/* --ca-file, --ca-dir, the system's CAs unless --no-system-ca, CRLs. */
static X509_STORE *
verify_store(const struct cs_opts *o)
{
	X509_STORE *st;

	if ((st = X509_STORE_new()) == NULL)
		return NULL;
	if ((o->ca_file != NULL && !X509_STORE_load_file(st, o->ca_file)) ||
	    (o->ca_dir != NULL && !X509_STORE_load_path(st, o->ca_dir)) ||
	    (!o->no_system_ca && !X509_STORE_set_default_paths(st)) ||
	    (o->crl_file != NULL && !X509_STORE_load_file(st, o->crl_file))) {
		X509_STORE_free(st);
		return NULL;
	}
	if (o->crl_file != NULL)
		X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK);
	X509_STORE_set_purpose(st, X509_PURPOSE_SMIME_SIGN);
	return st;
}

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
		fprintf(stderr, "cardsign: signer not trusted: %s\n",
		    X509_verify_cert_error_string(
		    X509_STORE_CTX_get_error(ctx)));
 out:
	X509_STORE_CTX_free(ctx);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	sk_X509_pop_free(certs, X509_free);
	return ok;
}

static void
print_name(const char *what, const X509_NAME *name)
{
	char buf[512];

	X509_NAME_oneline(name, buf, sizeof(buf));
	printf("%s%s\n", what, buf);
}

/* Who signed, with what key, when, and through which CAs. */
static void
print_signer(X509 *x, const ASN1_TIME *t, STACK_OF(X509) *chain)
{
	STACK_OF(OPENSSL_STRING) *em = X509_get1_email(x);
	EVP_PKEY *pk = X509_get0_pubkey(x);
	char group[64];
	BIO *b;
	int i;

	print_name("Good signature from ", X509_get_subject_name(x));
	for (i = 0; i < sk_OPENSSL_STRING_num(em); i++)
		printf("  e-mail: %s\n", sk_OPENSSL_STRING_value(em, i));
	X509_email_free(em);
	if (pk != NULL) {
		if (!EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL))
			group[0] = '\0';
		printf("  key: %s %d%s%s\n", EVP_PKEY_get0_type_name(pk),
		    EVP_PKEY_get_bits(pk), group[0] ? " " : "", group);
	}
	fflush(stdout);
	if (t != NULL && (b = BIO_new_fp(stdout, BIO_NOCLOSE)) != NULL) {
		BIO_puts(b, "  signed: ");
		ASN1_TIME_print(b, t);
		BIO_puts(b, "\n");
		BIO_free(b);
	}
	for (i = 0; i < sk_X509_num(chain); i++)
		print_name("  chain: ", X509_get_subject_name(sk_X509_value(
		    chain, i)));
	ERR_clear_error();
}

/* Checks every signer's chain at its signing time; prints each. */
static int
check_signers(const struct cs_opts *o, CMS_ContentInfo *cms)
{
	STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);
	STACK_OF(X509) *chain;
	CMS_SignerInfo *si;
	const ASN1_TIME *t;
	X509_STORE *st;
	X509 *x;
	int i, r = EX_OK;

	if ((st = verify_store(o)) == NULL)
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
		else
			print_signer(x, t, chain);
		sk_X509_pop_free(chain, X509_free);
	}
	X509_STORE_free(st);
	return r;
}

/* The signatures and digests alone; the signers' chains come after. */
static int
check_signature(CMS_ContentInfo *cms, BIO *cont, BIO *out)
{
	unsigned long e;
	int r;

	ERR_clear_error();
	if (CMS_verify(cms, NULL, NULL, cont, out,
	    CMS_NO_SIGNER_CERT_VERIFY))
		return EX_OK;
	e = ERR_peek_last_error();
	r = ERR_GET_REASON(e) == CMS_R_SIGNER_CERTIFICATE_NOT_FOUND ?
	    EX_UNTRUSTED : EX_BAD_SIGNATURE;
	fprintf(stderr, "cardsign: %s: %s\n", r == EX_UNTRUSTED ?
	    "signer not trusted" : "BAD signature", cs_ossl_reason());
	return r;
}

int
cmd_smime_verify(const struct cs_opts *o)
{
	const char *path = o->in != NULL ? o->in : "-";
	CMS_ContentInfo *cms = NULL;
	BIO *cont = NULL, *out = NULL;
	uint8_t *buf = NULL;
	size_t len;
	int r;

	if (o->nargs != 0)
		return cs_usage_fail("smime verify takes no operands");
	if (cs_read_file(path, &buf, &len, SMIME_MAX_MSG) == -1) {
		r = cs_fail(CA_E_BAD_INPUT, "%s: %s", path, strerror(errno));
		goto out;
	}
	if ((cms = parse_signed(buf, len, &cont)) == NULL) {
		r = cs_fail(CA_E_BAD_INPUT, "%s: not an S/MIME signed message",
		    path);
		goto out;
	}
	if ((out = BIO_new(BIO_s_mem())) == NULL) {
		r = cs_fail(CA_E_INTERNAL, "out of memory");
		goto out;
	}
	if ((r = check_signature(cms, cont, out)) != EX_OK ||
	    (r = check_signers(o, cms)) != EX_OK)
		goto out;
	if (o->out != NULL)
		r = cs_write_bio(o->out, out, 0);
 out:
	BIO_free(out);
	BIO_free(cont);
	CMS_ContentInfo_free(cms);
	free(buf);
	return r;
}
