/*
 * smime_decrypt.c: cardsign smime decrypt: opens S/MIME enveloped and
 * authEnveloped messages with whichever of the agent's key-management
 * keys they were encrypted to, the key transport or agreement done by
 * the agent through the provider, and with --verify checks a signed
 * message inside.
 *
 * The plaintext is collected in memory and written only once everything
 * has succeeded: AES-GCM's tag is checked at the end of the content, so
 * nothing of a forged message ever reaches the output.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
/* pem.h first: cms.h declares its PEM functions only after it. */
#include <openssl/pem.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "cardsign.h"
#include "smime.h"

/* OpenSSL's reason when it gave one, else ours. */
static const char *
why(const char *fallback)
{
	return ERR_peek_last_error() != 0 ? cs_ossl_reason() : fallback;
}

/* The enveloped or authEnveloped message in p, or NULL. */
static CMS_ContentInfo *
read_envelope(const char *p, size_t n, size_t hlen)
{
	CMS_ContentInfo *cms = NULL;
	BIO *b;
	int t;

	/* smime_read_input() keeps n within an int. */
	if (n == 0)
		return NULL;
	/*
	 * A header means MIME: application/pkcs7-mime or the legacy
	 * x-pkcs7-mime. DER, PEM and base64 never start with a field.
	 */
	if (hlen == 0)
		cms = cs_read_cms(p, n);
	else if ((b = BIO_new_mem_buf(p, (int)n)) != NULL) {
		cms = SMIME_read_CMS(b, NULL);
		BIO_free(b);
	}
	if (cms == NULL)
		return NULL;
	t = OBJ_obj2nid(CMS_get0_type(cms));
	if (t != NID_pkcs7_enveloped &&
	    t != NID_id_smime_ct_authEnvelopedData) {
		CMS_ContentInfo_free(cms);
		ERR_raise(ERR_LIB_CMS, CMS_R_CONTENT_TYPE_NOT_ENVELOPED_DATA);
		return NULL;
	}
	return cms;
}

/*
 * Whether the message is encrypted to cert: by issuer and serial number or
 * by subject key identifier, for key transport and key agreement alike.
 */
static int
is_recipient(CMS_ContentInfo *cms, X509 *cert)
{
	STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);
	STACK_OF(CMS_RecipientEncryptedKey) *reks;
	CMS_RecipientInfo *ri;
	int i, j;

	for (i = 0; i < sk_CMS_RecipientInfo_num(ris); i++) {
		ri = sk_CMS_RecipientInfo_value(ris, i);
		switch (CMS_RecipientInfo_type(ri)) {
		case CMS_RECIPINFO_TRANS:
			if (CMS_RecipientInfo_ktri_cert_cmp(ri, cert) == 0)
				return 1;
			break;
		case CMS_RECIPINFO_AGREE:
			reks = CMS_RecipientInfo_kari_get0_reks(ri);
			for (j = 0; j < sk_CMS_RecipientEncryptedKey_num(reks);
			    j++)
				if (CMS_RecipientEncryptedKey_cert_cmp(
				    sk_CMS_RecipientEncryptedKey_value(reks, j),
				    cert) == 0)
					return 1;
			break;
		}
	}
	return 0;
}

/* Whether k's token is logged in, so that using it asks for no PIN. */
static int
unlocked(const struct ca_key *k, const struct ca_token *t, size_t nt)
{
	size_t i;

	for (i = 0; i < nt; i++)
		if (strcmp(t[i].id, k->token_id) == 0)
			return (t[i].flags & CA_TOK_LOGGED_IN) != 0;
	return 0;
}

/*
 * The agent's keys the message is encrypted to, among all key-management
 * keys of every token (retired ones too), or only --key's: those on
 * unlocked tokens first, so that a second card's PIN is asked for only
 * when the first cannot open the message. Fills cand (n entries at most).
 */
static int
find_recipients(const struct cs_opts *o, CMS_ContentInfo *cms,
    const struct ca_key *k, size_t n, const struct ca_token *t, size_t nt,
    size_t *cand, size_t *ncand)
{
	size_t i, only = 0;
	int pass, r;
	X509 *cert;

	*ncand = 0;
	if (o->key != NULL && (r = smime_select_km(k, n, o->key, &only)) !=
	    EX_OK)
		return r;
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < n; i++) {
			if ((o->key != NULL && i != only) ||
			    !smime_is_km(&k[i]) ||
			    unlocked(&k[i], t, nt) != (pass == 0) ||
			    (cert = cs_key_cert(&k[i])) == NULL)
				continue;
			if (is_recipient(cms, cert))
				cand[(*ncand)++] = i;
			X509_free(cert);
		}
	}
	if (*ncand > 0)
		return EX_OK;
	return cs_fail(CA_E_NO_KEY, "the message is not encrypted to any of "
	    "your keys%s", o->key != NULL ? " (only --key was tried)" : "");
}

/* Decrypts with agent key k into a new memory BIO, or NULL. */
static BIO *
open_envelope(CMS_ContentInfo *cms, const struct ca_key *k, X509 *cert)
{
	EVP_PKEY *pk;
	BIO *plain;

	if ((pk = cs_load_pkey(k)) == NULL)
		return NULL;
	ERR_clear_error();
	if ((plain = BIO_new(BIO_s_mem())) != NULL &&
	    (!CMS_decrypt_set1_pkey_and_peer(cms, pk, cert, NULL) ||
	    !CMS_decrypt(cms, NULL, NULL, NULL, plain, CMS_BINARY))) {
		BIO_free(plain);
		plain = NULL;
	}
	EVP_PKEY_free(pk);
	return plain;
}

/* Connects to the agent and decrypts with a key the message names. */
static int
decrypt_with_agent(const struct cs_opts *o, CMS_ContentInfo *cms,
    BIO **plain)
{
	struct ca_token *t = NULL;
	struct ca_key *k = NULL;
	size_t n = 0, nt = 0, *cand = NULL, ncand = 0, i;
	struct cac *c;
	X509 *cert;
	int r;

	if ((r = cs_connect(o, &c)) != EX_OK)
		return r;
	if ((r = cac_status(c, &t, &nt)) != CA_OK ||
	    (r = cac_list_keys(c, &k, &n)) != CA_OK) {
		r = cs_fail(r, "keys: %s", cac_errmsg(c));
		goto out;
	}
	if ((cand = calloc(n ? n : 1, sizeof(*cand))) == NULL) {
		r = cs_fail(CA_E_INTERNAL, "out of memory");
		goto out;
	}
	if ((r = find_recipients(o, cms, k, n, t, nt, cand, &ncand)) != EX_OK)
		goto out;
	for (i = 0; i < ncand && *plain == NULL; i++) {
		if ((cert = cs_key_cert(&k[cand[i]])) == NULL)
			continue;
		*plain = open_envelope(cms, &k[cand[i]], cert);
		X509_free(cert);
	}
	if (*plain == NULL) {
		/* A failed GCM tag or CBC padding leaves no error queued. */
		r = cs_fail(CA_E_BAD_INPUT, "decryption with %s failed: %s",
		    k[cand[ncand - 1]].label,
		    why("the content is corrupt or was changed"));
		goto out;
	}
	r = EX_OK;
 out:
	free(cand);
	cac_keys_free(k, n);
	cac_tokens_free(t, nt);
	cac_close(c);
	return r;
}

static int
is_signed(const char *p, size_t hlen)
{
	return smime_field_has(p, hlen, "Content-Type", "multipart/signed") ||
	    smime_field_has(p, hlen, "Content-Type", "signed-data");
}

static void
print_signers(CMS_ContentInfo *cms)
{
	STACK_OF(X509) *signers = CMS_get0_signers(cms);
	char name[512];
	int i;

	for (i = 0; i < sk_X509_num(signers); i++) {
		X509_NAME_oneline(X509_get_subject_name(sk_X509_value(signers,
		    i)), name, sizeof(name));
		fprintf(stderr, "Good signature from %s\n", name);
	}
	sk_X509_free(signers);
}

/*
 * Verifies the signed message in *plain and replaces it with the signed
 * content. On failure nothing is to be written: a forged inner message
 * must not pass for the sender's.
 */
static int
verify_inner(const struct cs_opts *o, BIO **plain)
{
	CMS_ContentInfo *cms = NULL;
	X509_STORE *st = NULL;
	BIO *in = NULL, *bcont = NULL, *out = NULL;
	const char *p;
	size_t n;
	int r;

	n = smime_bio_data(*plain, &p);
	ERR_clear_error();
	if ((in = BIO_new_mem_buf(p, (int)n)) == NULL ||
	    (cms = SMIME_read_CMS(in, &bcont)) == NULL ||
	    OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
		fprintf(stderr, "cardsign: BAD signature: the signed message "
		    "inside is malformed: %s\n", cs_ossl_reason());
		r = EX_BAD_SIGNATURE;
		goto out;
	}
	if ((st = cs_trust_store(o)) == NULL ||
	    (out = BIO_new(BIO_s_mem())) == NULL) {
		r = cs_fail(CA_E_BAD_INPUT, "cannot load the trusted CAs: %s",
		    cs_ossl_reason());
		goto out;
	}
	if (!CMS_verify(cms, NULL, st, bcont, out, 0)) {
		r = ERR_GET_REASON(ERR_peek_error()) ==
		    CMS_R_CERTIFICATE_VERIFY_ERROR ? EX_UNTRUSTED :
		    EX_BAD_SIGNATURE;
		fprintf(stderr, "cardsign: %s: %s\n", r == EX_UNTRUSTED ?
		    "signer not trusted" : "BAD signature", cs_ossl_reason());
		goto out;
	}
	print_signers(cms);
	BIO_free(*plain);
	*plain = out;
	out = NULL;
	r = EX_OK;
 out:
	BIO_free(out);
	X509_STORE_free(st);
	CMS_ContentInfo_free(cms);
	BIO_free(bcont);
	BIO_free(in);
	return r;
}

/*
 * The readable message: the outer fields but the S/MIME Content-* ones,
 * then the decrypted entity, with the input's line ends. Without an outer
 * header (a .p7m file) the plaintext is written as it is.
 */
static int
write_plain(const struct cs_opts *o, const char *msg, size_t mhlen,
    const char *eol, BIO *plain)
{
	const char *p;
	BIO *out = NULL;
	size_t n, hlen, body;
	int r;

	if (mhlen == 0)
		return cs_write_bio(o->out, plain, 1);
	n = smime_bio_data(plain, &p);
	smime_split(p, n, &hlen, &body);
	if ((out = BIO_new(BIO_s_mem())) == NULL ||
	    smime_put_fields_unless(out, msg, mhlen, SMIME_F_OUTER, eol, p,
	    hlen) == -1 ||
	    BIO_printf(out, "MIME-Version: 1.0%s", eol) <= 0 ||
	    smime_put_fields(out, p, hlen, SMIME_F_ENTITY, eol) == -1 ||
	    BIO_puts(out, eol) <= 0 ||
	    smime_put_text(out, p + body, n - body, eol) == -1)
		r = cs_fail(CA_E_INTERNAL, "out of memory");
	else
		r = cs_write_bio(o->out, out, 1);
	BIO_free(out);
	return r;
}

/* With --verify, checks a signed message inside; else only says so. */
static int
check_inner(const struct cs_opts *o, BIO **plain)
{
	const char *p;
	size_t n, hlen, body;

	n = smime_bio_data(*plain, &p);
	smime_split(p, n, &hlen, &body);
	if (!is_signed(p, hlen)) {
		if (o->verify_inner)
			fprintf(stderr, "cardsign: the message is not "
			    "signed\n");
		return EX_OK;
	}
	if (!o->verify_inner) {
		fprintf(stderr, "cardsign: the message inside is signed; "
		    "--verify checks the signature\n");
		return EX_OK;
	}
	return verify_inner(o, plain);
}

int
cmd_smime_decrypt(const struct cs_opts *o)
{
	CMS_ContentInfo *cms = NULL;
	BIO *in = NULL, *plain = NULL;
	const char *p;
	size_t n, hlen, body;
	int r;

	if (o->nargs != 0)
		return cs_usage_fail("smime decrypt takes no operands");
	if ((in = smime_read_input(o->in)) == NULL)
		return cs_fail(CA_E_BAD_INPUT, "%s: %s", o->in ? o->in :
		    "stdin", strerror(errno));
	n = smime_bio_data(in, &p);
	smime_split(p, n, &hlen, &body);
	if ((cms = read_envelope(p, n, hlen)) == NULL) {
		r = cs_fail(CA_E_BAD_INPUT, "not an S/MIME encrypted message: "
		    "%s", why(n == 0 ? "empty input" : "unreadable"));
		goto out;
	}
	/* The provider makes agent keys EVP_PKEYs; unloaded last. */
	if ((r = cs_load_providers(o)) != EX_OK)
		goto out;
	if ((r = decrypt_with_agent(o, cms, &plain)) == EX_OK &&
	    (r = check_inner(o, &plain)) == EX_OK)
		r = write_plain(o, p, hlen, smime_is_crlf(p, n) ? "\r\n" :
		    "\n", plain);
 out:
	BIO_free(plain);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	cs_unload_providers();
	return r;
}
