/*
 * smime_shim.c: the few cardsign symbols that smime_mime.c and osslutil.c
 * refer to but the S/MIME fuzz target never reaches (key selection, and
 * writing results out). Linking them from util.c would drag in
 * libcardagent and the agent connection for nothing; these stand in for
 * them and abort, so that reaching one would be noticed rather than
 * silently fuzzing a stub.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cardsign.h"

static void __attribute__((noreturn))
shim_reached(const char *fn)
{
	fprintf(stderr, "fuzz_smime: %s reached: not part of the target\n", fn);
	abort();
}

int
cs_fail(int status, const char *fmt, ...)
{
	(void)status;
	(void)fmt;
	shim_reached(__func__);
}

int
cs_write_file(const char *path, const uint8_t *p, size_t len, int secret)
{
	(void)path;
	(void)p;
	(void)len;
	(void)secret;
	shim_reached(__func__);
}

int
cac_select_key(const struct ca_key *keys, size_t n, const char *sel,
    uint32_t need, size_t *idx, char *err, size_t errlen)
{
	(void)keys;
	(void)n;
	(void)sel;
	(void)need;
	(void)idx;
	(void)err;
	(void)errlen;
	shim_reached(__func__);
}
