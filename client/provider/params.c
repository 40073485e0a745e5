/*
 * params.c: parameter codecs for padding modes, salt lengths and digests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/rsa.h>

#include "provider.h"
#include "params.h"

static const struct {
	int id;
	const char *name;
} pads[] = {
	{ RSA_PKCS1_PADDING, OSSL_PKEY_RSA_PAD_MODE_PKCSV15 },
	{ RSA_PKCS1_OAEP_PADDING, OSSL_PKEY_RSA_PAD_MODE_OAEP },
	{ RSA_PKCS1_PSS_PADDING, OSSL_PKEY_RSA_PAD_MODE_PSS },
	{ RSA_NO_PADDING, OSSL_PKEY_RSA_PAD_MODE_NONE },
}, salts[] = {
	{ RSA_PSS_SALTLEN_DIGEST, OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST },
	{ RSA_PSS_SALTLEN_MAX, OSSL_PKEY_RSA_PSS_SALT_LEN_MAX },
	{ RSA_PSS_SALTLEN_AUTO, OSSL_PKEY_RSA_PSS_SALT_LEN_AUTO },
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

int
cap_get_pad(const OSSL_PARAM *p, int *pad)
{
	size_t i;

	if (p->data_type != OSSL_PARAM_UTF8_STRING)
		return OSSL_PARAM_get_int(p, pad);
	for (i = 0; i < NELEM(pads); i++) {
		if (strcmp(p->data, pads[i].name) == 0) {
			*pad = pads[i].id;
			return 1;
		}
	}
	return 0;
}

int
cap_set_pad(OSSL_PARAM *p, int pad)
{
	size_t i;

	if (p->data_type != OSSL_PARAM_UTF8_STRING)
		return OSSL_PARAM_set_int(p, pad);
	for (i = 0; i < NELEM(pads); i++) {
		if (pads[i].id == pad)
			return OSSL_PARAM_set_utf8_string(p, pads[i].name);
	}
	return 0;
}

int
cap_get_saltlen(const OSSL_PARAM *p, int *saltlen)
{
	const char *s;
	char *ep;
	size_t i;
	long v;

	if (p->data_type != OSSL_PARAM_UTF8_STRING)
		return OSSL_PARAM_get_int(p, saltlen);
	s = p->data;
	for (i = 0; i < NELEM(salts); i++) {
		if (strcmp(s, salts[i].name) == 0) {
			*saltlen = salts[i].id;
			return 1;
		}
	}
	v = strtol(s, &ep, 10);
	if (*s == '\0' || *ep != '\0' || v < 0 || v > 1024)
		return 0;
	*saltlen = (int)v;
	return 1;
}

int
cap_set_saltlen(OSSL_PARAM *p, int saltlen)
{
	char buf[16];
	size_t i;

	if (p->data_type != OSSL_PARAM_UTF8_STRING)
		return OSSL_PARAM_set_int(p, saltlen);
	for (i = 0; i < NELEM(salts); i++) {
		if (salts[i].id == saltlen)
			return OSSL_PARAM_set_utf8_string(p, salts[i].name);
	}
	snprintf(buf, sizeof(buf), "%d", saltlen);
	return OSSL_PARAM_set_utf8_string(p, buf);
}

int
cap_get_hash(struct cap_ctx *pc, const OSSL_PARAM *p, int *hash)
{
	const char *name = NULL;
	int h;

	if (!OSSL_PARAM_get_utf8_string_ptr(p, &name))
		return 0;
	if ((h = cap_hash_from_name(pc, name)) == CA_HASH_NONE) {
		cap_error(pc, CAP_R_BAD_PARAM, "digest %s is not supported",
		    name);
		return 0;
	}
	*hash = h;
	return 1;
}

int
cap_set_hash(OSSL_PARAM *p, int hash)
{
	const char *name = ca_hash_name((uint8_t)hash);

	return name != NULL && OSSL_PARAM_set_utf8_string(p, name);
}
