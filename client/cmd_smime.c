/*
 * cmd_smime.c: cardsign smime SUBCOMMAND: S/MIME messages (RFC 8551) made
 * and read with OpenSSL's CMS, the private-key steps done by the agent.
 */
#include <stdio.h>
#include <string.h>

#include "cardsign.h"

int
cmd_smime(const struct cs_opts *o)
{
	static const struct {
		const char *name;
		int (*fn)(const struct cs_opts *);
	} subs[] = {
		{ "sign", cmd_smime_sign },
		{ "verify", cmd_smime_verify },
		{ "encrypt", cmd_smime_encrypt },
		{ "decrypt", cmd_smime_decrypt },
	};
	struct cs_opts sub;
	size_t i;

	if (o->nargs < 1)
		return cs_usage_fail("smime needs sign, verify, encrypt or "
		    "decrypt");
	sub = *o;
	sub.args++;
	sub.nargs--;
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (strcmp(o->args[0], subs[i].name) == 0)
			return subs[i].fn(&sub);
	return cs_usage_fail("unknown smime command '%s'", o->args[0]);
}
