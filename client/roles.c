/*
 * roles.c: PIV and CAC key roles.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "roles.h"

/* OpenSC's emulations name themselves in the token's manufacturer. */
static int
is_piv(const struct ca_token *t)
{
	return strcasestr(t->manufacturer, "piv") != NULL ||
	    strcasestr(t->model, "piv") != NULL;
}

static int
is_cac(const struct ca_token *t)
{
	return strcasestr(t->manufacturer, "Common Access Card") != NULL ||
	    strcasestr(t->model, "CAC") != NULL;
}

static int
piv_role(const struct ca_key *k, char *buf, size_t len)
{
	static const char *const named[] = {
		NULL, "PIV Authentication (9A)", "Digital Signature (9C)",
		"Key Management (9D)", "Card Authentication (9E)",
	};
	unsigned id;

	/* OpenSC's PIV ids are one byte: 01-04 the named slots, 05-18 the
	 * twenty retired key-management slots 82-95. */
	if (k->ckaid_len != 1)
		return 0;
	id = k->ckaid[0];
	if (id >= 1 && id <= 4)
		snprintf(buf, len, "%s", named[id]);
	else if (id >= 5 && id <= 0x18)
		snprintf(buf, len, "Retired Key Management %u (%02X)", id - 4,
		    0x82 + id - 5);
	else
		return 0;
	return 1;
}

static int
cac_role(const struct ca_key *k, char *buf, size_t len)
{
	static const char *const roles[][2] = {
		{ "Email Signature", "CAC Email Signature" },
		{ "Email Encryption", "CAC Email Encryption" },
		{ "ID", "CAC ID (authentication)" },
	};
	size_t i;

	for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcasestr(k->label, roles[i][0]) != NULL) {
			snprintf(buf, len, "%s", roles[i][1]);
			return 1;
		}
	return 0;
}

int
cs_key_role(const struct ca_key *k, const struct ca_token *t, char *buf,
    size_t len)
{
	buf[0] = '\0';
	if (t == NULL)
		return 0;
	if (is_piv(t))
		return piv_role(k, buf, len);
	if (is_cac(t))
		return cac_role(k, buf, len);
	return 0;
}
