/*
 * params.h: parameter codecs the RSA operations share. OpenSSL passes a
 * padding mode or salt length as a number or as its name, depending on
 * the caller, and asks for them back either way.
 */
#ifndef CARDAGENT_PROVIDER_PARAMS_H
#define CARDAGENT_PROVIDER_PARAMS_H

#include <openssl/params.h>

#include "provider.h"

/* Reads an RSA padding mode (RSA_*_PADDING) given as number or name. */
int cap_get_pad(const OSSL_PARAM *p, int *pad);
/* Returns pad in p as a number or a name, whichever p asks for. */
int cap_set_pad(OSSL_PARAM *p, int pad);

/* Reads a PSS salt length: a number or "digest", "max", "auto". */
int cap_get_saltlen(const OSSL_PARAM *p, int *saltlen);
int cap_set_saltlen(OSSL_PARAM *p, int saltlen);

/* Reads a digest name into a ca_hash; 0 with an error if unsupported. */
int cap_get_hash(struct cap_ctx *pc, const OSSL_PARAM *p, int *hash);
/* Returns hash's OpenSSL name. */
int cap_set_hash(OSSL_PARAM *p, int hash);

#endif
