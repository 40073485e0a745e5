/*
 * osslutil.c: cardsign's small OpenSSL helpers: error text, certificate
 * and CMS files, the store of trusted CAs, and memory BIOs to files.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include <openssl/buffer.h>
/* pem.h first: cms.h declares its PEM functions only after it. */
#include <openssl/pem.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "cardsign.h"

/* OpenSSL's reasons, for the user: the newest error on the queue. */
const char *
cs_ossl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = ERR_reason_error_string(e);

	return r != NULL ? r : "unknown OpenSSL error";
}

/* Every certificate in a PEM file, or NULL if there is none. */
STACK_OF(X509) *
cs_load_certs(const char *path)
{
	STACK_OF(X509) *sk;
	X509 *x;
	BIO *b;

	if ((b = BIO_new_file(path, "r")) == NULL)
		return NULL;
	if ((sk = sk_X509_new_null()) != NULL) {
		while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
			if (!sk_X509_push(sk, x))
				X509_free(x);
		ERR_clear_error();
	}
	BIO_free(b);
	if (sk != NULL && sk_X509_num(sk) == 0) {
		sk_X509_free(sk);
		sk = NULL;
	}
	return sk;
}

/*
 * Adds the CAs to trust: --ca-file, --ca-dir and, unless --no-system-ca,
 * the system's: its hashed directory and, given bundle, its bundle file,
 * which takes milliseconds to parse.
 */
static int
add_cas(X509_STORE *st, const struct cs_opts *o, int bundle)
{
	X509_LOOKUP *lu;

	if ((o->ca_file != NULL && !X509_STORE_load_file(st, o->ca_file)) ||
	    (o->ca_dir != NULL && !X509_STORE_load_path(st, o->ca_dir)))
		return 0;
	if (o->no_system_ca)
		return 1;
	if (bundle)
		return X509_STORE_set_default_paths(st);
	return (lu = X509_STORE_add_lookup(st, X509_LOOKUP_hash_dir())) !=
	    NULL && X509_LOOKUP_add_dir(lu, NULL, X509_FILETYPE_DEFAULT);
}

X509_STORE *
cs_trust_store(const struct cs_opts *o)
{
	X509_STORE *st;

	if ((st = X509_STORE_new()) == NULL)
		return NULL;
	if (!add_cas(st, o, 1) || (o->crl_file != NULL &&
	    !X509_STORE_load_file(st, o->crl_file))) {
		X509_STORE_free(st);
		return NULL;
	}
	if (o->crl_file != NULL)
		X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK);
	/* S/MIME signers are checked for the e-mail protection purpose. */
	X509_STORE_set_purpose(st, X509_PURPOSE_SMIME_SIGN);
	return st;
}

STACK_OF(X509) *
cs_signer_chain(const struct cs_opts *o, X509 *cert)
{
	STACK_OF(X509) *chain = NULL;
	X509_STORE *st;

	ERR_set_mark();
	if ((st = X509_STORE_new()) != NULL && add_cas(st, o, 0) &&
	    (chain = X509_build_chain(cert, NULL, st, 0, NULL, NULL)) != NULL)
		/* It starts with cert itself, which CMS adds anyway. */
		X509_free(sk_X509_shift(chain));
	if (chain != NULL && sk_X509_num(chain) == 0) {
		sk_X509_free(chain);
		chain = NULL;
	}
	ERR_pop_to_mark();
	X509_STORE_free(st);
	return chain;
}

int
cs_write_bio(const char *path, BIO *mem, int secret)
{
	BUF_MEM *bm;

	BIO_get_mem_ptr(mem, &bm);
	if (cs_write_file(path != NULL ? path : "-",
	    (const uint8_t *)bm->data, bm->length, secret) == -1)
		return cs_fail(CA_E_INTERNAL, "%s: %s",
		    path != NULL ? path : "stdout", strerror(errno));
	return EX_OK;
}

/* DER, PEM, then bare base64, as .p7m files and pastes come. */
CMS_ContentInfo *
cs_read_cms(const char *p, size_t n)
{
	CMS_ContentInfo *cms = NULL;
	BIO *b, *b64;
	int i;

	for (i = 0; i < 3 && cms == NULL; i++) {
		ERR_clear_error();
		if ((b = BIO_new_mem_buf(p, (int)n)) == NULL)
			return NULL;
		if (i == 0)
			cms = d2i_CMS_bio(b, NULL);
		else if (i == 1)
			cms = PEM_read_bio_CMS(b, NULL, NULL, NULL);
		else if ((b64 = BIO_new(BIO_f_base64())) != NULL) {
			b = BIO_push(b64, b);
			cms = d2i_CMS_bio(b, NULL);
		}
		BIO_free_all(b);
	}
	return cms;
}
