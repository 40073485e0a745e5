/*
 * cmd_file.c: cardsign sign and verify: detached CMS signatures of files,
 * for documents, releases and logs, and of MIME entities for mail clients
 * that assemble multipart/signed themselves (mutt). The file is streamed through the
 * digest, so memory stays flat whatever its size; only the digest goes to
 * the agent.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
/* pem.h first: cms.h declares its PEM functions only after it. */
#include <openssl/pem.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "cardsign.h"

/* Writes the signature, DER or PEM; an exit code. */
static int
write_cms(const struct cs_opts *o, CMS_ContentInfo *cms, const char *out)
{
	BIO *mem;
	int r;

	if ((mem = BIO_new(BIO_s_mem())) == NULL)
		return cs_fail(CA_E_INTERNAL, "out of memory");
	if (o->pem ? PEM_write_bio_CMS(mem, cms) : i2d_CMS_bio(mem, cms))
		r = cs_write_bio(out, mem, 0);
	else
		r = cs_fail(CA_E_INTERNAL, "cannot encode the signature: %s",
		    cs_ossl_reason());
	BIO_free(mem);
	return r;
}

/*
 * Hashes a file in large reads: CMS_final would pass it through its BIO
 * chain a few kilobytes at a time. *len gets the digest's length.
 */
static int
digest_file(const char *path, const EVP_MD *md, unsigned char *out,
    unsigned int *len)
{
	static unsigned char buf[1 << 20];
	EVP_MD_CTX *ctx;
	FILE *f;
	size_t n;
	int ok;

	if ((f = fopen(path, "rbe")) == NULL)
		return -1;
	ok = (ctx = EVP_MD_CTX_new()) != NULL &&
	    EVP_DigestInit_ex(ctx, md, NULL);
	while (ok && (n = fread(buf, 1, sizeof(buf), f)) > 0)
		ok = EVP_DigestUpdate(ctx, buf, n);
	ok = ok && !ferror(f) && EVP_DigestFinal_ex(ctx, out, len);
	EVP_MD_CTX_free(ctx);
	fclose(f);
	return ok ? 0 : -1;
}

/*
 * A file's detached signature: the signer's attributes carry the file's
 * digest, computed here, and the agent signs those attributes. Shared
 * with git's signing interface (cmd_git.c); see cardsign.h.
 */
CMS_ContentInfo *
cs_sign_digest(const struct cs_signer *s, const EVP_MD *md,
    const unsigned char *dig, unsigned int dlen)
{
	const unsigned flags = CMS_DETACHED | CMS_BINARY | CMS_PARTIAL;
	CMS_ContentInfo *cms;
	CMS_SignerInfo *si;

	if ((cms = CMS_sign(NULL, NULL, s->chain, NULL, flags)) == NULL)
		return NULL;
	if ((si = CMS_add1_signer(cms, s->cert, s->pk, md, flags)) == NULL ||
	    !CMS_signed_add1_attr_by_NID(si, NID_pkcs9_contentType,
	    V_ASN1_OBJECT, CMS_get0_eContentType(cms), -1) ||
	    !CMS_signed_add1_attr_by_NID(si, NID_pkcs9_messageDigest,
	    V_ASN1_OCTET_STRING, dig, (int)dlen) ||
	    !CMS_SignerInfo_sign(si)) {
		CMS_ContentInfo_free(cms);
		return NULL;
	}
	return cms;
}

/* --entity: a MIME entity as mutt writes it, signed in the canonical CRLF
 * form every S/MIME reader checks, which CMS makes as it copies. */
static CMS_ContentInfo *
sign_entity(const struct cs_signer *s, const EVP_MD *md, const char *path)
{
	const unsigned flags = CMS_DETACHED | CMS_PARTIAL;
	CMS_ContentInfo *cms = NULL;
	BIO *in;

	if ((in = BIO_new_file(path, "rb")) == NULL)
		return NULL;
	if ((cms = CMS_sign(NULL, NULL, s->chain, NULL, flags)) != NULL &&
	    (CMS_add1_signer(cms, s->cert, s->pk, md, flags) == NULL ||
	    !CMS_final(cms, in, NULL, flags))) {
		CMS_ContentInfo_free(cms);
		cms = NULL;
	}
	BIO_free(in);
	return cms;
}

int
cmd_sign_file(const struct cs_opts *o)
{
	unsigned char dig[EVP_MAX_MD_SIZE];
	unsigned int dlen;
	char out[4096];
	CMS_ContentInfo *cms = NULL;
	struct cs_signer s;
	const EVP_MD *md;
	int r;

	if (o->key == NULL || o->nargs != 1)
		return cs_usage_fail("sign needs --key and one FILE");
	if ((md = EVP_get_digestbyname(o->hash ? o->hash : "sha256")) == NULL)
		return cs_usage_fail("unknown hash '%s'", o->hash);
	snprintf(out, sizeof(out), "%s%s", o->out ? o->out : o->args[0],
	    o->out ? "" : ".p7s");
	if (access(o->args[0], R_OK) == -1)
		return cs_fail(CA_E_BAD_INPUT, "%s: %s", o->args[0],
		    strerror(errno));
	if ((r = cs_signer_open(o, &s)) != EX_OK)
		return r;
	ERR_clear_error();
	errno = 0;
	if (!o->entity && digest_file(o->args[0], md, dig, &dlen) == -1)
		r = cs_fail(CA_E_BAD_INPUT, "%s: %s", o->args[0],
		    errno ? strerror(errno) : cs_ossl_reason());
	else if ((cms = o->entity ? sign_entity(&s, md, o->args[0]) :
	    cs_sign_digest(&s, md, dig, dlen)) == NULL)
		r = cs_fail(CA_E_TOKEN_FAILED, "signing %s failed: %s",
		    o->args[0], cs_ossl_reason());
	else
		r = write_cms(o, cms, out);
	CMS_ContentInfo_free(cms);
	cs_signer_close(&s);
	return r;
}

/* A detached signature file: DER or PEM (signatures are small). */
static CMS_ContentInfo *
read_cms(const char *path)
{
	CMS_ContentInfo *cms;
	uint8_t *buf;
	size_t len;

	if (cs_read_file(path, &buf, &len, 16u * 1024 * 1024) == -1)
		return NULL;
	cms = cs_read_cms((const char *)buf, len);
	free(buf);
	return cms;
}

/*
 * Whether the signature matches the file, its signer's chain aside: for
 * --json's "valid" when CMS_verify() stopped at the chain.
 */
static int
intact(CMS_ContentInfo *cms, BIO *data, int entity)
{
	int ok;

	ok = BIO_reset(data) == 0 && CMS_verify(cms, NULL, NULL, data, NULL,
	    CMS_DETACHED | CMS_NO_SIGNER_CERT_VERIFY |
	    (entity ? 0 : CMS_BINARY));
	ERR_clear_error();
	return ok;
}

int
cmd_verify_file(const struct cs_opts *o)
{
	STACK_OF(X509) *signers = NULL;
	CMS_ContentInfo *cms = NULL;
	X509_STORE *st = NULL;
	unsigned long e;
	char name[512];
	BIO *data = NULL;
	int r, i, valid = 0;

	if (o->nargs != 2)
		return cs_usage_fail("verify needs SIGNATURE.p7s and FILE");
	if ((cms = read_cms(o->args[0])) == NULL) {
		r = cs_fail(CA_E_BAD_INPUT, "%s: not a CMS signature: %s",
		    o->args[0], cs_ossl_reason());
		goto out;
	}
	if ((data = BIO_new_file(o->args[1], "rb")) == NULL) {
		r = cs_fail(CA_E_BAD_INPUT, "%s: %s", o->args[1],
		    strerror(errno));
		goto out;
	}
	if ((st = cs_trust_store(o)) == NULL) {
		r = cs_fail(CA_E_BAD_INPUT, "cannot load the trusted CAs: %s",
		    cs_ossl_reason());
		goto out;
	}
	if (!CMS_verify(cms, NULL, st, data, NULL, CMS_DETACHED |
	    (o->entity ? 0 : CMS_BINARY))) {
		e = ERR_peek_error();
		r = ERR_GET_REASON(e) == CMS_R_CERTIFICATE_VERIFY_ERROR ?
		    EX_UNTRUSTED : EX_BAD_SIGNATURE;
		cs_say("%s: %s", r == EX_UNTRUSTED ? "signer not trusted" :
		    "BAD signature", cs_ossl_reason());
		if (o->json && r == EX_UNTRUSTED)
			valid = intact(cms, data, o->entity);
		goto out;
	}
	valid = 1;
	r = EX_OK;
	if (o->json)
		goto out;
	signers = CMS_get0_signers(cms);
	for (i = 0; i < sk_X509_num(signers); i++) {
		X509_NAME_oneline(X509_get_subject_name(sk_X509_value(signers,
		    i)), name, sizeof(name));
		printf("Good signature from %s\n", name);
	}
 out:
	if (o->json)
		cs_verify_json(stdout, cms, valid, r == EX_OK, r);
	sk_X509_free(signers);
	X509_STORE_free(st);
	BIO_free(data);
	CMS_ContentInfo_free(cms);
	return r;
}
