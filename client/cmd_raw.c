/*
 * cmd_raw.c: cardsign sign-digest, unwrap and derive: one key operation on
 * bytes the caller prepared, for scripts and for checking a token.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "cardsign.h"
#include "secret.h"

int
cmd_sign_digest(const struct cs_opts *a)
{
	struct cac_sign_params p = { 0 };
	uint8_t *digest = NULL, *sig = NULL;
	size_t dlen, slen, n, idx;
	struct ca_key *k;
	struct cac *c;
	int h, r;

	if (a->key == NULL || a->in == NULL || a->out == NULL ||
	    a->hash == NULL)
		return cs_usage_fail("sign-digest needs --key, --hash, "
		    "--in and -o");
	if ((h = ca_hash_from_name(a->hash)) <= 0)
		return cs_usage_fail("unknown hash '%s'", a->hash);
	if (cs_read_file(a->in, &digest, &dlen, CA_DATA_MAX) == -1)
		return cs_fail(CA_E_BAD_INPUT, "%s: %s", a->in, strerror(errno));
	if (dlen != ca_hash_len((uint8_t)h)) {
		free(digest);
		return cs_fail(CA_E_BAD_INPUT, "%s holds %zu bytes; a %s digest "
		    "has %zu", a->in, dlen, a->hash,
		    ca_hash_len((uint8_t)h));
	}
	if ((r = cs_find_key(a, a->key, CA_OP_SIGN, &c, &k, &n, &idx)) != EX_OK) {
		free(digest);
		return r;
	}
	p.hash = (uint8_t)h;
	if (k[idx].type == CA_KEY_EC)
		p.alg = CA_ALG_ECDSA;
	else if (a->pss) {
		p.alg = CA_ALG_RSA_PSS;
		p.salt = UINT32_MAX;
	} else
		p.alg = CA_ALG_RSA_PKCS1;
	r = cac_sign(c, k[idx].id, &p, digest, dlen, &sig, &slen);
	if (r != CA_OK)
		r = cs_fail(r, "signing with %s failed: %s", k[idx].label,
		    cac_errmsg(c));
	else if (cs_write_file(a->out, sig, slen, 0) == -1)
		r = cs_fail(CA_E_INTERNAL, "%s: %s", a->out, strerror(errno));
	free(sig);
	free(digest);
	cac_keys_free(k, n);
	cac_close(c);
	return r;
}

int
cmd_unwrap(const struct cs_opts *a)
{
	struct cac_decrypt_params p = { 0 };
	struct ca_secret *key = NULL;
	uint8_t *in = NULL;
	size_t len, n, idx;
	struct ca_key *k;
	struct cac *c;
	int h, r;

	if (a->key == NULL || a->in == NULL || a->out == NULL)
		return cs_usage_fail("unwrap needs --key, --in and -o");
	p.alg = CA_ALG_RSA_PKCS1;
	if (a->oaep != NULL) {
		if ((h = ca_hash_from_name(a->oaep)) <= 0)
			return cs_usage_fail("unknown hash '%s'",
			    a->oaep);
		p.alg = CA_ALG_RSA_OAEP;
		p.hash = (uint8_t)h;
	}
	if (cs_read_file(a->in, &in, &len, CA_DATA_MAX) == -1)
		return cs_fail(CA_E_BAD_INPUT, "%s: %s", a->in, strerror(errno));
	if ((r = cs_find_key(a, a->key, CA_OP_DECRYPT, &c, &k, &n, &idx)) != EX_OK) {
		free(in);
		return r;
	}
	r = cac_decrypt(c, k[idx].id, &p, in, len, &key);
	if (r != CA_OK)
		r = cs_fail(r, "unwrapping with %s failed: %s", k[idx].label,
		    cac_errmsg(c));
	else if (cs_write_file(a->out, key->data, key->len, 1) == -1)
		r = cs_fail(CA_E_INTERNAL, "%s: %s", a->out, strerror(errno));
	ca_secret_free(key);
	free(in);
	cac_keys_free(k, n);
	cac_close(c);
	return r;
}

/* The peer's public point, uncompressed, as the token wants it. */
static int
peer_point(const char *path, uint8_t *buf, size_t cap, size_t *len)
{
	EVP_PKEY *pk = NULL;
	FILE *f;
	int ok;

	if ((f = fopen(path, "re")) == NULL)
		return -1;
	pk = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	if (pk == NULL)
		return -1;
	ok = EVP_PKEY_is_a(pk, "EC") &&
	    EVP_PKEY_get_octet_string_param(pk,
	    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, buf, cap, len) == 1;
	EVP_PKEY_free(pk);
	return ok ? 0 : -1;
}

int
cmd_derive(const struct cs_opts *a)
{
	struct ca_secret *z = NULL;
	uint8_t point[256];
	size_t plen, n, idx;
	struct ca_key *k;
	struct cac *c;
	int r;

	if (a->key == NULL || a->peer == NULL || a->out == NULL)
		return cs_usage_fail("derive needs --key, --peer and "
		    "-o");
	if (peer_point(a->peer, point, sizeof(point), &plen) == -1)
		return cs_fail(CA_E_BAD_INPUT, "%s: not an EC public key in PEM",
		    a->peer);
	if ((r = cs_find_key(a, a->key, CA_OP_DERIVE, &c, &k, &n, &idx)) != EX_OK)
		return r;
	r = cac_derive(c, k[idx].id, point, plen, &z);
	if (r != CA_OK)
		r = cs_fail(r, "deriving with %s failed: %s", k[idx].label,
		    cac_errmsg(c));
	else if (cs_write_file(a->out, z->data, z->len, 1) == -1)
		r = cs_fail(CA_E_INTERNAL, "%s: %s", a->out, strerror(errno));
	ca_secret_free(z);
	cac_keys_free(k, n);
	cac_close(c);
	return r;
}
