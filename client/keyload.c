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
#include <openssl/params.h>
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
	/* Beside the executable: a build tree's lib/, or the installed
	 * layout wherever it was unpacked (DESTDIR, dpkg -x). */
	static const char *const rel[] = { "lib", CARDAGENT_PROVIDER_REL_DIR };
	const char *env = getenv("CARDAGENT_PROVIDER_DIR");
	char exe[PATH_MAX], probe[PATH_MAX + 128], *dir;
	ssize_t n;
	size_t i;

	if (env != NULL && env[0] != '\0')
		return snprintf(buf, len, "%s", env) < (int)len ? 0 : -1;
	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) > 0) {
		exe[n] = '\0';
		dir = dirname(exe);
		for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
			snprintf(probe, sizeof(probe), "%s/../%s/cardagent.so",
			    dir, rel[i]);
			if (access(probe, R_OK) == 0)
				return snprintf(buf, len, "%s/../%s", dir,
				    rel[i]) < (int)len ? 0 : -1;
		}
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

/*
 * The agent key k through the provider's store, which gets k as the
 * agent described it (CAC_STORE_PARAM_KEYS), so that it need not connect
 * and list the keys a second time, and c's socket, if c is not NULL, for
 * the key's operations (CAC_STORE_PARAM_FD).
 */
static EVP_PKEY *
load_pkey(const struct ca_key *k, struct cac *c)
{
	struct ca_msg m;
	struct ca_wr w;
	OSSL_PARAM params[3], *p = params;
	OSSL_STORE_CTX *st;
	OSSL_STORE_INFO *info;
	EVP_PKEY *pk = NULL;
	char uri[256];
	int fd;

	memset(&m, 0, sizeof(m));
	m.type = CA_MSG_KEYS_REPLY;
	m.u.list.keys = (struct ca_key *)k;
	m.u.list.nkeys = 1;
	ca_wr_init(&w, CA_FRAME_HDR + CA_FRAME_MAX);
	if (ca_msg_encode(&m, &w) != CA_PE_OK) {
		ca_wr_free(&w);
		return NULL;
	}
	*p++ = OSSL_PARAM_construct_octet_string(CAC_STORE_PARAM_KEYS, w.p,
	    w.len);
	if (c != NULL) {
		fd = cac_fd(c);
		*p++ = OSSL_PARAM_construct_int(CAC_STORE_PARAM_FD, &fd);
	}
	*p = OSSL_PARAM_construct_end();
	snprintf(uri, sizeof(uri), "cardagent:%s", k->id);
	st = OSSL_STORE_open_ex(uri, NULL, NULL, NULL, NULL, params, NULL,
	    NULL);
	ca_wr_free(&w);
	if (st == NULL)
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

EVP_PKEY *
cs_load_pkey(const struct ca_key *k)
{
	return load_pkey(k, NULL);
}

X509 *
cs_key_cert(const struct ca_key *k)
{
	const unsigned char *p = k->cert;

	if (k->cert_len == 0)
		return NULL;
	return d2i_X509(NULL, &p, (long)k->cert_len);
}

/*
 * The connection that listed the keys goes to the key for its signature,
 * and cardsign closes its own: one connection to the agent, one request
 * at a time on it.
 */
int
cs_signer_open(const struct cs_opts *o, struct cs_signer *s)
{
	struct cac *c;
	int r;

	memset(s, 0, sizeof(*s));
	if ((r = cs_load_providers(o)) != EX_OK)
		return r;
	if ((r = cs_find_key(o, o->key, CA_OP_SIGN, &c, &s->keys,
	    &s->nkeys, &s->idx)) != EX_OK) {
		cs_unload_providers();
		return r;
	}
	if ((s->cert = cs_key_cert(&s->keys[s->idx])) == NULL)
		r = cs_fail(CA_E_NOT_ALLOWED, "key %s has no certificate to "
		    "sign with", s->keys[s->idx].label);
	else if ((s->pk = load_pkey(&s->keys[s->idx], c)) == NULL)
		r = cs_fail(CA_E_INTERNAL, "cannot load key %s: %s",
		    s->keys[s->idx].label, cs_ossl_reason());
	else if (o->certfile != NULL &&
	    (s->chain = cs_load_certs(o->certfile)) == NULL)
		r = cs_fail(CA_E_BAD_INPUT, "%s: no certificates: %s",
		    o->certfile, cs_ossl_reason());
	else if (o->certfile == NULL)
		s->chain = cs_signer_chain(o, s->cert);
	cac_close(c);
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
	cs_unload_providers();
	memset(s, 0, sizeof(*s));
}
