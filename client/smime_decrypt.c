/*
 * smime_decrypt.c: cardsign smime decrypt: opens S/MIME enveloped and
 * authEnveloped messages with whichever of the agent's key-management
 * keys they were encrypted to, the key transport or agreement done by
 * the agent through the provider, and with --verify checks a signed
 * message inside.
 *
 * The message is read as a stream (cmswalk.c): the recipients first, so
 * the content key is unwrapped before the content arrives, then the
 * content decrypted a buffer at a time into a scratch file. Nothing is
 * written out until the padding or AES-GCM's tag, which follows the
 * content, has checked: nothing of a forged message reaches the output.
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
#include "cmswalk.h"
#include "msgin.h"
#include "output.h"
#include "smime.h"

/* OpenSSL's reason when it gave one, else ours. */
static const char *
why(const char *fallback)
{
	return ERR_peek_last_error() != 0 ? cs_ossl_reason() : fallback;
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

/* Unwraps the content key with agent key k: 1, or 0. */
static int
unwrap_with(CMS_ContentInfo *cms, const struct ca_key *k, X509 *cert)
{
	EVP_PKEY *pk;
	int ok;

	if ((pk = cs_load_pkey(k)) == NULL)
		return 0;
	ERR_clear_error();
	ok = CMS_decrypt_set1_pkey_and_peer(cms, pk, cert, NULL) == 1;
	EVP_PKEY_free(pk);
	return ok;
}

/* Connects to the agent and unwraps the content key with a key the
 * message names. */
static int
unwrap_with_agent(const struct cs_opts *o, CMS_ContentInfo *cms)
{
	int done = 0;
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
	for (i = 0; i < ncand && !done; i++) {
		if ((cert = cs_key_cert(&k[cand[i]])) == NULL)
			continue;
		done = unwrap_with(cms, &k[cand[i]], cert);
		X509_free(cert);
	}
	if (!done) {
		r = cs_fail(CA_E_BAD_INPUT, "decryption with %s failed: %s",
		    k[cand[ncand - 1]].label, why("the key does not open it"));
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

/* The GCM tag length RFC 5084 allows: no shorter, or forging gets easy. */
#define MAC_MIN 12
#define MAC_MAX 16

static int
to_bio(void *arg, const unsigned char *p, size_t n)
{
	return BIO_write(arg, p, (int)n) == (int)n ? 0 : -1;
}

/*
 * Decrypts the content as it streams into plain, then checks the padding
 * or, for AuthEnvelopedData, the mac that follows the content.
 */
static int
decrypt_content(struct cmswalk *w, CMS_ContentInfo *cms, FILE *plain)
{
	const unsigned char *mac, *attrs;
	BIO *out, *chain = NULL;
	EVP_CIPHER_CTX *ctx;
	size_t maclen;
	int r;

	if ((out = BIO_new_fp(plain, BIO_NOCLOSE)) == NULL ||
	    (chain = CMS_dataInit(cms, out)) == NULL) {
		r = cs_fail(CA_E_BAD_INPUT, "cannot decrypt: %s",
		    cs_ossl_reason());
		if (chain == NULL)
			BIO_free(out);
		return r;
	}
	if ((r = cmswalk_content(w, to_bio, chain)) != 1 ||
	    cmswalk_finish(w) == -1) {
		r = cs_fail(CA_E_BAD_INPUT, "%s", r == 0 ? "the message has no "
		    "content" : w->why);
		goto out;
	}
	if (w->type == NID_id_smime_ct_authEnvelopedData) {
		/* OpenSSL authenticates no attributes: refuse, not ignore. */
		if (cmswalk_after_field(w, 1, V_ASN1_CONTEXT_SPECIFIC, &attrs,
		    &maclen)) {
			r = cs_fail(CA_E_BAD_INPUT, "authenticated attributes "
			    "are not supported");
			goto out;
		}
		if (!cmswalk_after_field(w, V_ASN1_OCTET_STRING,
		    V_ASN1_UNIVERSAL, &mac, &maclen) || maclen < MAC_MIN ||
		    maclen > MAC_MAX) {
			r = cs_fail(CA_E_BAD_INPUT, "the message has no valid "
			    "authentication tag");
			goto out;
		}
		if (BIO_get_cipher_ctx(chain, &ctx) != 1 ||
		    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, (int)maclen,
		    (void *)mac) <= 0) {
			r = cs_fail(CA_E_INTERNAL, "cannot check the tag: %s",
			    cs_ossl_reason());
			goto out;
		}
	}
	/* The final block: CBC's padding or GCM's tag is checked here. */
	ERR_clear_error();
	if (BIO_flush(chain) != 1 || !BIO_get_cipher_status(chain)) {
		r = cs_fail(CA_E_BAD_INPUT, "decryption failed: %s",
		    why("the content is corrupt or was changed"));
		goto out;
	}
	r = EX_OK;
 out:
	BIO_free_all(chain);
	return r;
}

/*
 * The early skeleton needs a mac where AuthEnvelopedData has one; the real
 * one, after the content, replaces it before the tag is checked.
 */
static CMS_ContentInfo *
skeleton(struct cmswalk *w)
{
	static const unsigned char placeholder[2 + MAC_MAX] = {
		V_ASN1_OCTET_STRING, MAC_MAX
	};

	if (w->type == NID_id_smime_ct_authEnvelopedData)
		return cmswalk_cms(w, placeholder, sizeof(placeholder));
	return cmswalk_cms(w, placeholder, 0);
}

static int
is_signed(const char *p, size_t hlen)
{
	return smime_field_has(p, hlen, "Content-Type", "multipart/signed") ||
	    smime_field_has(p, hlen, "Content-Type", "signed-data");
}

/* Reads back the header of the decrypted entity in *plain. */
static int
open_plain(FILE *plain, struct msgin *pm)
{
	if (fflush(plain) != 0 || lseek(fileno(plain), 0, SEEK_SET) == -1 ||
	    msgin_open_fd(pm, fileno(plain), 0) == -1)
		return cs_fail(CA_E_INTERNAL, "cannot read back the plaintext: "
		    "%s", strerror(errno));
	return EX_OK;
}

/*
 * With --verify, checks a signed message inside and replaces *plain with
 * what it signed; else only says that it is signed. On failure nothing is
 * to be written: a forged inner message must not pass for the sender's.
 */
static int
check_inner(const struct cs_opts *o, FILE **plain)
{
	struct msgin pm;
	FILE *content;
	int r, sig;

	if ((r = open_plain(*plain, &pm)) != EX_OK)
		return r;
	sig = is_signed(pm.hdr, pm.hlen);
	if (!sig || !o->verify_inner) {
		if (sig)
			fprintf(stderr, "cardsign: the message inside is "
			    "signed; --verify checks the signature\n");
		else if (o->verify_inner)
			fprintf(stderr, "cardsign: the message is not "
			    "signed\n");
		msgin_close(&pm);
		return EX_OK;
	}
	if ((content = cs_scratch()) == NULL) {
		msgin_close(&pm);
		return cs_fail(CA_E_INTERNAL, "cannot make a scratch file: %s",
		    strerror(errno));
	}
	if ((r = smime_verify_msg(o, &pm, content, stderr)) == EX_OK) {
		fclose(*plain);
		*plain = content;
	} else
		fclose(content);
	msgin_close(&pm);
	return r;
}

/*
 * The readable message: the outer fields but the S/MIME Content-* ones,
 * then the decrypted entity, with the input's line ends. Without an outer
 * header (a .p7m file) the plaintext is written as it is.
 */
static int
put_plain(const struct msgin *m, FILE *plain, FILE *to)
{
	const char *eol = m->crlf ? "\r\n" : "\n", *p;
	struct msgin pm;
	BIO *b = NULL;
	ssize_t n;
	int r;

	if (m->hlen == 0)
		return cs_copy_file(plain, to) == 0 ? EX_OK :
		    cs_fail(CA_E_INTERNAL, "cannot write: %s", strerror(errno));
	if ((r = open_plain(plain, &pm)) != EX_OK)
		return r;
	if ((b = BIO_new_fp(to, BIO_NOCLOSE)) == NULL ||
	    smime_put_fields_unless(b, m->hdr, m->hlen, SMIME_F_OUTER, eol,
	    pm.hdr, pm.hlen) == -1 ||
	    BIO_printf(b, "MIME-Version: 1.0%s", eol) <= 0 ||
	    smime_put_fields(b, pm.hdr, pm.hlen, SMIME_F_ENTITY, eol) == -1 ||
	    BIO_puts(b, eol) <= 0)
		n = -1;
	else
		while ((n = msgin_line(&pm, &p)) > 0 &&
		    smime_put_text(b, p, (size_t)n, eol) == 0)
			;
	if (n != 0 || BIO_flush(b) != 1)
		r = cs_fail(CA_E_INTERNAL, "cannot write: %s", strerror(errno));
	BIO_free(b);
	msgin_close(&pm);
	return r;
}

/* Writes the plaintext atomically to -o, or to stdout. */
static int
write_plain(const struct cs_opts *o, const struct msgin *m, FILE *plain)
{
	struct cs_out w;
	int r;

	if (cs_out_open(&w, o->out, CS_OUT_SECRET) == -1)
		return cs_fail(CA_E_INTERNAL, "%s: %s", o->out, strerror(errno));
	if ((r = put_plain(m, plain, w.f)) != EX_OK)
		cs_out_abort(&w);
	else if (cs_out_commit(&w) == -1)
		r = cs_fail(CA_E_INTERNAL, "%s: %s", o->out != NULL ? o->out :
		    "stdout", strerror(errno));
	return r;
}

/* Reads the message up to its content: an enveloped or authEnveloped
 * one, or the reason it is not. */
static int
open_message(struct msgin *m, struct cmswalk *w)
{
	if (m->hlen > 0 && !smime_field_has(m->hdr, m->hlen, "Content-Type",
	    "pkcs7-mime"))
		return cs_fail(CA_E_BAD_INPUT, "not an S/MIME encrypted "
		    "message: it is not application/pkcs7-mime");
	if (msgin_decode_body(m) == -1)
		return cs_fail(CA_E_INTERNAL, "out of memory");
	if (cmswalk_open(w, m) == -1)
		return cs_fail(CA_E_BAD_INPUT, "not an S/MIME encrypted message: "
		    "%s", m->raw == 0 && w->pos == 0 ? "empty input" : w->why);
	if (w->type != NID_pkcs7_enveloped &&
	    w->type != NID_id_smime_ct_authEnvelopedData)
		return cs_fail(CA_E_BAD_INPUT, "not an S/MIME encrypted message: "
		    "the data is signed, not encrypted");
	return EX_OK;
}

int
cmd_smime_decrypt(const struct cs_opts *o)
{
	CMS_ContentInfo *cms = NULL;
	struct cmswalk *w = NULL;
	FILE *plain = NULL;
	struct msgin m;
	int r;

	if (o->nargs != 0)
		return cs_usage_fail("smime decrypt takes no operands");
	if (msgin_open(&m, o->in) == -1)
		return cs_fail(CA_E_BAD_INPUT, "%s: %s", o->in ? o->in :
		    "stdin", strerror(errno));
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		r = cs_fail(CA_E_INTERNAL, "out of memory");
		goto out;
	}
	if ((r = open_message(&m, w)) != EX_OK)
		goto out;
	if ((cms = skeleton(w)) == NULL) {
		r = cs_fail(CA_E_BAD_INPUT, "not an S/MIME encrypted message: "
		    "%s", cs_ossl_reason());
		goto out;
	}
	if ((plain = cs_scratch()) == NULL) {
		r = cs_fail(CA_E_INTERNAL, "cannot make a scratch file: %s",
		    strerror(errno));
		goto out;
	}
	/* The provider makes agent keys EVP_PKEYs; unloaded last. */
	if ((r = cs_load_providers(o)) != EX_OK ||
	    (r = unwrap_with_agent(o, cms)) != EX_OK ||
	    (r = decrypt_content(w, cms, plain)) != EX_OK ||
	    (r = check_inner(o, &plain)) != EX_OK)
		goto out;
	r = write_plain(o, &m, plain);
 out:
	if (plain != NULL)
		fclose(plain);
	CMS_ContentInfo_free(cms);
	if (w != NULL)
		cmswalk_free(w);
	free(w);
	msgin_close(&m);
	cs_unload_providers();
	return r;
}
