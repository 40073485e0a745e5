#define _GNU_SOURCE
#include "cardagent.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <p11-kit/uri.h>

/* Matches a pkcs:// selector against the key's own URI, both parsed by
 * p11-kit, so that every spelling RFC 7512 allows compares equal. */
static int
uri_matches(P11KitUri *sel, const struct ca_key *k)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE attrs[3];
	P11KitUri *ku;
	CK_TOKEN_INFO *ti;
	int ok = 0;

	if ((ku = p11_kit_uri_new()) == NULL)
		return 0;
	if (p11_kit_uri_parse(k->uri, P11_KIT_URI_FOR_OBJECT_ON_TOKEN, ku) !=
	    P11_KIT_URI_OK)
		goto out;
	ti = p11_kit_uri_get_token_info(ku);
	if (!p11_kit_uri_match_token_info(sel, ti))
		goto out;
	attrs[0].type = CKA_CLASS;
	attrs[0].pValue = &cls;
	attrs[0].ulValueLen = sizeof(cls);
	attrs[1].type = CKA_ID;
	attrs[1].pValue = k->ckaid;
	attrs[1].ulValueLen = k->ckaid_len;
	attrs[2].type = CKA_LABEL;
	attrs[2].pValue = k->label;
	attrs[2].ulValueLen = strlen(k->label);
	ok = p11_kit_uri_match_attributes(sel, attrs, 3);
out:
	p11_kit_uri_free(ku);
	return ok;
}

static int
email_matches(const struct ca_key *k, const char *addr)
{
	const unsigned char *p = k->cert;
	STACK_OF(OPENSSL_STRING) *emails;
	X509 *x;
	int i, ok = 0;

	if (k->cert_len == 0 ||
	    (x = d2i_X509(NULL, &p, (long)k->cert_len)) == NULL)
		return 0;
	emails = X509_get1_email(x);
	for (i = 0; i < sk_OPENSSL_STRING_num(emails) && !ok; i++)
		ok = strcasecmp(sk_OPENSSL_STRING_value(emails, i), addr) == 0;
	X509_email_free(emails);
	X509_free(x);
	return ok;
}

int
cac_select_key(const struct ca_key *keys, size_t n, const char *sel,
    uint32_t need, size_t *idx, char *err, size_t errlen)
{
	P11KitUri *uri = NULL;
	size_t i, found = 0, any = 0;
	int m;

	if (strncmp(sel, "pkcs11:", 7) == 0) {
		if ((uri = p11_kit_uri_new()) == NULL ||
		    p11_kit_uri_parse(sel, P11_KIT_URI_FOR_OBJECT_ON_TOKEN,
		    uri) != P11_KIT_URI_OK) {
			snprintf(err, errlen, "invalid PKCS#11 URI: %s", sel);
			p11_kit_uri_free(uri);
			return CA_E_NO_KEY;
		}
	}
	for (i = 0; i < n; i++) {
		if (uri != NULL)
			m = uri_matches(uri, &keys[i]);
		else if (strchr(sel, '@') != NULL)
			m = email_matches(&keys[i], sel);
		else
			m = strcmp(keys[i].id, sel) == 0;
		if (!m)
			continue;
		any++;
		if ((keys[i].ops & need) != need)
			continue;
		if (found++ == 0)
			*idx = i;
	}
	p11_kit_uri_free(uri);
	if (found == 1)
		return CA_OK;
	if (found > 1)
		snprintf(err, errlen, "%zu keys match '%s'; name one by id or "
		    "URI (see 'cardsign keys')", found, sel);
	else if (any > 0)
		snprintf(err, errlen, "no key matching '%s' can do this "
		    "operation", sel);
	else
		snprintf(err, errlen, "no key matches '%s'", sel);
	return any > 0 && found == 0 ? CA_E_NOT_ALLOWED : CA_E_NO_KEY;
}
