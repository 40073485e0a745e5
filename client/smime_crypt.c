/*
 * smime_crypt.c: cardsign smime encrypt: S/MIME enveloped-data, or
 * authEnveloped-data for AES-GCM (RFC 8551, 5083, 5084), made with
 * OpenSSL's CMS to the recipients' certificates and, unless --no-self, to
 * the sender's own key-management certificate. Encryption needs only
 * public keys: the agent is asked for the sender's certificate alone.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/bio.h>
/* pem.h first: cms.h declares its PEM functions only after it. */
#include <openssl/pem.h>
#include <openssl/cms.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cardsign.h"
#include "msgin.h"
#include "output.h"
#include "smime.h"

/* The content ciphers offered: CBC gives enveloped-data, GCM authEnveloped. */
static const EVP_CIPHER *
content_cipher(const char *name)
{
	static const char *const ok[] = {
		"aes-128-cbc", "aes-192-cbc", "aes-256-cbc",
		"aes-128-gcm", "aes-192-gcm", "aes-256-gcm",
	};
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcasecmp(name, ok[i]) == 0)
			return EVP_get_cipherbyname(ok[i]);
	return NULL;
}

/* One certificate from a PEM or DER file. */
static X509 *
load_cert(const char *path)
{
	X509 *x;
	BIO *b;

	if ((b = BIO_new_file(path, "rb")) == NULL)
		return NULL;
	if ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL) {
		ERR_clear_error();
		(void)BIO_reset(b);
		x = d2i_X509_bio(b, NULL);
	}
	BIO_free(b);
	return x;
}

/*
 * How well x suits encryption: key usage that allows key transport or
 * agreement counts most, being valid now next. A certificate without a
 * keyUsage extension allows both.
 */
static int
cert_score(X509 *x)
{
	int s = 0;

	if (X509_get_key_usage(x) & (KU_KEY_ENCIPHERMENT | KU_KEY_AGREEMENT))
		s += 2;
	if (X509_cmp_current_time(X509_get0_notBefore(x)) < 0 &&
	    X509_cmp_current_time(X509_get0_notAfter(x)) > 0)
		s += 1;
	return s;
}

/* Keeps the better of *best and the certificates in path for addr. */
static void
consider_file(const char *path, const char *addr, X509 **best, int *score)
{
	STACK_OF(X509) *sk;
	X509 *x;
	int i, s;

	if ((sk = cs_load_certs(path)) == NULL) {
		/* A .crt is often DER. */
		if ((x = load_cert(path)) == NULL ||
		    (sk = sk_X509_new_null()) == NULL || !sk_X509_push(sk, x)) {
			X509_free(x);
			sk_X509_free(sk);
			ERR_clear_error();
			return;
		}
	}
	for (i = 0; i < sk_X509_num(sk); i++) {
		x = sk_X509_value(sk, i);
		if (X509_check_email(x, addr, 0, 0) != 1 ||
		    (s = cert_score(x)) <= *score || !X509_up_ref(x))
			continue;
		X509_free(*best);
		*best = x;
		*score = s;
	}
	sk_X509_pop_free(sk, X509_free);
}

static int
has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && strcasecmp(s + n - m, suffix) == 0;
}

/* The user's directory of recipients' certificates. */
static int
certdir_path(const struct cs_opts *o, char *buf, size_t len)
{
	const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	int n;

	if (o->certdir != NULL)
		n = snprintf(buf, len, "%s", o->certdir);
	else if (xdg != NULL && *xdg != '\0')
		n = snprintf(buf, len, "%s/cardagent/certs", xdg);
	else if (home != NULL)
		n = snprintf(buf, len, "%s/.local/share/cardagent/certs", home);
	else
		return -1;
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* The best certificate for addr among the *.pem and *.crt files in dir. */
static X509 *
cert_by_email(const char *dir, const char *addr)
{
	char path[4096];
	struct dirent *de;
	X509 *best = NULL;
	int score = -1;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return NULL;
	while ((de = readdir(d)) != NULL) {
		if (!has_suffix(de->d_name, ".pem") &&
		    !has_suffix(de->d_name, ".crt"))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >=
		    (int)sizeof(path))
			continue;
		consider_file(path, addr, &best, &score);
	}
	closedir(d);
	return best;
}

/* A --to operand: a certificate file, or an address to look up. */
static int
recipient_cert(const struct cs_opts *o, const char *to, X509 **x)
{
	char dir[4096];

	if (strchr(to, '@') == NULL || access(to, F_OK) == 0) {
		if ((*x = load_cert(to)) == NULL)
			return cs_fail(CA_E_BAD_INPUT, "%s: not a certificate: "
			    "%s", to, cs_ossl_reason());
		return EX_OK;
	}
	if (certdir_path(o, dir, sizeof(dir)) == -1)
		return cs_fail(CA_E_BAD_INPUT, "no certificate directory for "
		    "%s: give --certdir", to);
	if ((*x = cert_by_email(dir, to)) == NULL)
		return cs_fail(CA_E_NO_KEY, "no certificate for %s in %s", to,
		    dir);
	return EX_OK;
}

/*
 * The sender's own key-management certificate, *x NULL when the agent has
 * none: --key names the key, otherwise it must be the only one.
 */
static int
self_cert(const struct cs_opts *o, X509 **x)
{
	struct ca_key *k = NULL;
	struct cac *c;
	size_t n = 0, i, idx = 0, found = 0;
	int r;

	*x = NULL;
	if ((r = cs_connect(o, &c)) != EX_OK)
		return r;
	if ((r = cac_list_keys(c, &k, &n)) != CA_OK) {
		r = cs_fail(r, "keys: %s", cac_errmsg(c));
		goto out;
	}
	if (o->key != NULL) {
		if ((r = smime_select_km(k, n, o->key, &idx)) != EX_OK)
			goto out;
		found = 1;
	} else {
		for (i = 0; i < n; i++)
			if (smime_is_km(&k[i]) && found++ == 0)
				idx = i;
	}
	if (found > 1) {
		r = cs_usage_fail("the agent has %zu key-management keys: name "
		    "yours with --key, or give --no-self", found);
		goto out;
	}
	if (found == 1 && (*x = cs_key_cert(&k[idx])) == NULL) {
		r = cs_fail(CA_E_INTERNAL, "key %s: bad certificate: %s",
		    k[idx].label, cs_ossl_reason());
		goto out;
	}
	r = EX_OK;
 out:
	cac_keys_free(k, n);
	cac_close(c);
	return r;
}

/*
 * Refuses a certificate nobody should encrypt to: outside its validity
 * period, or whose key usage or extended key usage rules out S/MIME
 * encryption (RSA needs keyEncipherment, EC keyAgreement). Like gpgsm, and
 * unlike `openssl cms -encrypt`, which takes any certificate.
 */
static int
check_recipient(X509 *x)
{
	EVP_PKEY *pk = X509_get0_pubkey(x);
	uint32_t need, flags = X509_get_extension_flags(x);
	char name[256];
	const char *why = NULL;

	need = pk != NULL && EVP_PKEY_is_a(pk, "EC") ? KU_KEY_AGREEMENT :
	    KU_KEY_ENCIPHERMENT;
	if (X509_cmp_current_time(X509_get0_notBefore(x)) >= 0)
		why = "is not valid yet";
	else if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0)
		why = "has expired";
	else if ((flags & EXFLAG_KUSAGE) && !(X509_get_key_usage(x) & need))
		why = need == KU_KEY_AGREEMENT ? "does not allow key agreement" :
		    "does not allow key encipherment";
	else if ((flags & EXFLAG_XKUSAGE) &&
	    !(X509_get_extended_key_usage(x) & XKU_SMIME))
		why = "is not for e-mail protection";
	if (why == NULL)
		return EX_OK;
	X509_NAME_oneline(X509_get_subject_name(x), name, sizeof(name));
	return cs_fail(CA_E_BAD_INPUT, "cannot encrypt to %s: the certificate "
	    "%s", name, why);
}

/* Adds the sender's own certificate, if the agent has one, once. */
static int
add_self(const struct cs_opts *o, STACK_OF(X509) *sk)
{
	X509 *x;
	int i, r;

	if ((r = self_cert(o, &x)) != EX_OK || x == NULL)
		return r;
	if ((r = check_recipient(x)) != EX_OK) {
		X509_free(x);
		return r;
	}
	/* Once is enough when the sender also named themself. */
	for (i = 0; i < sk_X509_num(sk); i++)
		if (X509_cmp(sk_X509_value(sk, i), x) == 0)
			break;
	if (i < sk_X509_num(sk)) {
		X509_free(x);
		return EX_OK;
	}
	if (!sk_X509_push(sk, x)) {
		X509_free(x);
		return cs_fail(CA_E_INTERNAL, "out of memory");
	}
	return EX_OK;
}

/* Every recipient's certificate, the sender's own last. */
static int
recipients(const struct cs_opts *o, STACK_OF(X509) **sk)
{
	X509 *x = NULL;
	int i, r = EX_OK;

	if ((*sk = sk_X509_new_null()) == NULL)
		return cs_fail(CA_E_INTERNAL, "out of memory");
	for (i = 0; i < o->nto && r == EX_OK; i++) {
		if ((r = recipient_cert(o, o->to[i], &x)) != EX_OK)
			break;
		if ((r = check_recipient(x)) != EX_OK || !sk_X509_push(*sk, x)) {
			X509_free(x);
			if (r == EX_OK)
				r = cs_fail(CA_E_INTERNAL, "out of memory");
		}
	}
	if (r == EX_OK && !o->no_self)
		r = add_self(o, *sk);
	if (r != EX_OK) {
		sk_X509_pop_free(*sk, X509_free);
		*sk = NULL;
	}
	return r;
}

/*
 * Adds x: RSA with PKCS#1 v1.5 or, given oaep, RSAES-OAEP with that hash
 * for both OAEP and MGF1; EC with ECDH and the X9.63 KDF over SHA-256
 * (OpenSSL's default would be SHA-1), the key wrapped with the AES key wrap
 * of the content key's size, which is OpenSSL's choice.
 */
static int
add_recipient(CMS_ContentInfo *cms, X509 *x, const EVP_MD *oaep)
{
	EVP_PKEY *pk = X509_get0_pubkey(x);
	CMS_RecipientInfo *ri;
	EVP_PKEY_CTX *pctx;
	int rsa, ec;

	if (pk == NULL)
		return -1;
	rsa = EVP_PKEY_is_a(pk, "RSA");
	ec = EVP_PKEY_is_a(pk, "EC");
	if (!rsa && !ec) {
		ERR_raise(ERR_LIB_CMS, CMS_R_NOT_SUPPORTED_FOR_THIS_KEY_TYPE);
		return -1;
	}
	if ((ri = CMS_add1_recipient_cert(cms, x, rsa && oaep != NULL ?
	    CMS_KEY_PARAM : 0)) == NULL)
		return -1;
	if (!ec && oaep == NULL)
		return 0;
	if ((pctx = CMS_RecipientInfo_get0_pkey_ctx(ri)) == NULL)
		return -1;
	if (ec)
		return EVP_PKEY_CTX_set_ecdh_kdf_md(pctx, EVP_sha256()) > 0 ?
		    0 : -1;
	if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(pctx, oaep) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, oaep) <= 0)
		return -1;
	return 0;
}

/*
 * The enveloped (or, with an AEAD cipher, authEnveloped) message, its
 * content to come: SMIME_write_CMS() encrypts it as it writes it out.
 */
static CMS_ContentInfo *
envelope(STACK_OF(X509) *rcpts, const EVP_CIPHER *ciph, const EVP_MD *oaep)
{
	CMS_ContentInfo *cms;
	char name[256];
	X509 *x;
	int i;

	ERR_clear_error();
	if ((cms = CMS_encrypt(NULL, NULL, ciph, CMS_BINARY | CMS_PARTIAL |
	    CMS_STREAM)) == NULL)
		return NULL;
	for (i = 0; i < sk_X509_num(rcpts); i++) {
		x = sk_X509_value(rcpts, i);
		if (add_recipient(cms, x, oaep) == -1) {
			X509_NAME_oneline(X509_get_subject_name(x), name,
			    sizeof(name));
			fprintf(stderr, "cardsign: cannot encrypt to %s: %s\n",
			    name, cs_ossl_reason());
			CMS_ContentInfo_free(cms);
			return NULL;
		}
	}
	return cms;
}

/*
 * The entity to encrypt, in a scratch file: the message's Content-* fields
 * and its body, canonical, with CRLF line ends (RFC 8551 3.1.1).
 */
static BIO *
inner_entity(struct msgin *m, FILE **f)
{
	BIO *b;

	if ((*f = cs_scratch()) == NULL)
		return NULL;
	if ((b = BIO_new_fp(*f, BIO_NOCLOSE)) == NULL ||
	    smime_put_entity(m, SMIME_F_CONTENT, b) == -1 ||
	    BIO_seek(b, 0) != 0) {
		BIO_free(b);
		return NULL;
	}
	return b;
}

/* The outer fields, then the application/pkcs7-mime part, the content
 * encrypted from entity as it is written. */
static int
write_message(const struct cs_opts *o, const struct msgin *m,
    CMS_ContentInfo *cms, BIO *entity)
{
	struct cs_out w;
	BIO *out = NULL;
	int r;

	if (cs_out_open(&w, o->out, 0) == -1)
		return cs_fail(CA_E_INTERNAL, "%s: %s", o->out, strerror(errno));
	if ((out = BIO_new_fp(w.f, BIO_NOCLOSE)) == NULL ||
	    smime_put_fields(out, m->hdr, m->hlen, SMIME_F_OUTER, m->crlf ?
	    "\r\n" : "\n") == -1 || !SMIME_write_CMS(out, cms, entity,
	    CMS_BINARY | CMS_STREAM | (m->crlf ? CMS_CRLFEOL : 0)) ||
	    BIO_flush(out) != 1) {
		r = cs_fail(CA_E_INTERNAL, "cannot write the message: %s",
		    cs_ossl_reason());
		cs_out_abort(&w);
	} else if ((r = cs_out_commit(&w)) == -1)
		r = cs_fail(CA_E_INTERNAL, "%s: %s", o->out != NULL ? o->out :
		    "stdout", strerror(errno));
	BIO_free(out);
	return r;
}

static int
encrypt_options(const struct cs_opts *o, const EVP_CIPHER **ciph,
    const EVP_MD **oaep)
{
	if (o->nargs != 0)
		return cs_usage_fail("smime encrypt takes no operands");
	if (o->nto == 0)
		return cs_usage_fail("smime encrypt needs --to CERT_OR_EMAIL");
	if ((*ciph = content_cipher(o->cipher ? o->cipher : "aes-256-cbc")) ==
	    NULL)
		return cs_usage_fail("unknown cipher '%s': use aes-128-cbc, "
		    "aes-256-cbc, aes-128-gcm or aes-256-gcm", o->cipher);
	*oaep = NULL;
	if (o->oaep != NULL && (*oaep = EVP_get_digestbyname(o->oaep)) ==
	    NULL)
		return cs_usage_fail("unknown OAEP hash '%s'", o->oaep);
	return EX_OK;
}

int
cmd_smime_encrypt(const struct cs_opts *o)
{
	STACK_OF(X509) *rcpts = NULL;
	CMS_ContentInfo *cms = NULL;
	const EVP_CIPHER *ciph = NULL;
	const EVP_MD *oaep = NULL;
	BIO *entity = NULL;
	FILE *f = NULL;
	struct msgin m;
	int r;

	if ((r = encrypt_options(o, &ciph, &oaep)) != EX_OK)
		return r;
	if (msgin_open(&m, o->in) == -1)
		return cs_fail(CA_E_BAD_INPUT, "%s: %s", o->in ? o->in :
		    "stdin", strerror(errno));
	if ((r = recipients(o, &rcpts)) != EX_OK)
		goto out;
	if ((entity = inner_entity(&m, &f)) == NULL) {
		r = cs_fail(CA_E_BAD_INPUT, "cannot read the message: %s",
		    strerror(errno));
		goto out;
	}
	if ((cms = envelope(rcpts, ciph, oaep)) == NULL) {
		r = cs_fail(CA_E_INTERNAL, "encryption failed: %s",
		    cs_ossl_reason());
		goto out;
	}
	r = write_message(o, &m, cms, entity);
 out:
	CMS_ContentInfo_free(cms);
	sk_X509_pop_free(rcpts, X509_free);
	BIO_free(entity);
	if (f != NULL)
		fclose(f);
	msgin_close(&m);
	return r;
}
