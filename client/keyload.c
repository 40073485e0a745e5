/*
 * keyload.c: agent keys as EVP_PKEYs for cardsign, through the cardagent
 * OpenSSL provider, so that all CMS work is OpenSSL's own.
 */
#define _GNU_SOURCE
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/provider.h>
#include <openssl/store.h>
#include <openssl/x509.h>

#include "cardsign.h"

/*
 * The provider module: $CARDAGENT_PROVIDER_DIR, else next to cardsign in a
 * build tree (bin/../lib), else where `cmake --install` puts it.
 */
static int
provider_dir(char *buf, size_t len)
{
	const char *env = getenv("CARDAGENT_PROVIDER_DIR");
	char exe[PATH_MAX], probe[PATH_MAX + 32];
	ssize_t n;

	if (env != NULL && env[0] != '\0')
		return snprintf(buf, len, "%s", env) < (int)len ? 0 : -1;
	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) > 0) {
		exe[n] = '\0';
		snprintf(probe, sizeof(probe), "%s/../lib/cardagent.so",
		    dirname(exe));
		if (access(probe, R_OK) == 0)
			return snprintf(buf, len, "%s/../lib", exe) < (int)len ?
			    0 : -1;
	}
	return snprintf(buf, len, "%s", CARDAGENT_PROVIDER_INSTALL_DIR) <
	    (int)len ? 0 : -1;
}

static OSSL_PROVIDER *prov_cardagent, *prov_default;

int
cs_load_providers(const struct cs_opts *o)
{
	char dir[PATH_MAX];

	/* The provider finds the agent as every client does. */
	if (o->socket != NULL && setenv("CARDAGENT_SOCK", o->socket, 1) == -1)
		return cs_fail(CA_E_INTERNAL, "out of memory");
	/*
	 * cardagent first: OpenSSL 3.0 takes an operation from the first
	 * provider that has it, and the default provider cannot sign with a
	 * key whose private half is on a token.
	 */
	if (provider_dir(dir, sizeof(dir)) == -1 ||
	    !OSSL_PROVIDER_set_default_search_path(NULL, dir) ||
	    (prov_cardagent = OSSL_PROVIDER_load(NULL, "cardagent")) == NULL ||
	    (prov_default = OSSL_PROVIDER_load(NULL, "default")) == NULL)
		return cs_fail(CA_E_INTERNAL, "cannot load the cardagent "
		    "OpenSSL provider from %s", dir);
	return EX_OK;
}

void
cs_unload_providers(void)
{
	if (prov_default != NULL)
		OSSL_PROVIDER_unload(prov_default);
	if (prov_cardagent != NULL)
		OSSL_PROVIDER_unload(prov_cardagent);
	prov_default = prov_cardagent = NULL;
}

EVP_PKEY *
cs_load_pkey(const struct ca_key *k)
{
	OSSL_STORE_CTX *st;
	OSSL_STORE_INFO *info;
	EVP_PKEY *pk = NULL;
	char uri[256];

	snprintf(uri, sizeof(uri), "cardagent:%s", k->id);
	if ((st = OSSL_STORE_open(uri, NULL, NULL, NULL, NULL)) == NULL)
		return NULL;
	(void)OSSL_STORE_expect(st, OSSL_STORE_INFO_PKEY);
	while (pk == NULL && !OSSL_STORE_eof(st)) {
		if ((info = OSSL_STORE_load(st)) == NULL)
			break;
		if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
			pk = OSSL_STORE_INFO_get1_PKEY(info);
		OSSL_STORE_INFO_free(info);
	}
	OSSL_STORE_close(st);
	return pk;
}

X509 *
cs_key_cert(const struct ca_key *k)
{
	const unsigned char *p = k->cert;

	if (k->cert_len == 0)
		return NULL;
	return d2i_X509(NULL, &p, (long)k->cert_len);
}

int
cs_signer_open(const struct cs_opts *o, struct cs_signer *s)
{
	int r;

	memset(s, 0, sizeof(*s));
	if ((r = cs_load_providers(o)) != EX_OK)
		return r;
	if ((r = cs_find_key(o, o->key, CA_OP_SIGN, &s->c, &s->keys,
	    &s->nkeys, &s->idx)) != EX_OK) {
		cs_unload_providers();
		return r;
	}
	if ((s->cert = cs_key_cert(&s->keys[s->idx])) == NULL)
		r = cs_fail(CA_E_NOT_ALLOWED, "key %s has no certificate to "
		    "sign with", s->keys[s->idx].label);
	else if ((s->pk = cs_load_pkey(&s->keys[s->idx])) == NULL)
		r = cs_fail(CA_E_INTERNAL, "cannot load key %s: %s",
		    s->keys[s->idx].label, cs_ossl_reason());
	else if (o->certfile != NULL &&
	    (s->chain = cs_load_certs(o->certfile)) == NULL)
		r = cs_fail(CA_E_BAD_INPUT, "%s: no certificates: %s",
		    o->certfile, cs_ossl_reason());
	if (r != EX_OK)
		cs_signer_close(s);
	return r;
}

void
cs_signer_close(struct cs_signer *s)
{
	sk_X509_pop_free(s->chain, X509_free);
	EVP_PKEY_free(s->pk);
	X509_free(s->cert);
	if (s->keys != NULL)
		cac_keys_free(s->keys, s->nkeys);
	cac_close(s->c);
	cs_unload_providers();
	memset(s, 0, sizeof(*s));
}
