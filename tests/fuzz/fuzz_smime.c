/*
 * fuzz_smime.c: how cardsign takes apart an S/MIME message it is given to
 * verify or decrypt, read as a stream the way the commands read it: the
 * header and body reader (client/msgin.c) with the field helpers
 * (smime_mime.c), the multipart/signed reader (multipart.c) and
 * cs_read_cms() on its signature part, and the CMS walker (cmswalk.c)
 * with the skeleton it hands to OpenSSL.
 *
 * OpenSSL itself is not built with coverage here, so libFuzzer is guided
 * only by cardsign's code; OpenSSL's parsers still run under ASan on every
 * input.
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>

#include "cmswalk.h"
#include "msgin.h"
#include "multipart.h"
#include "smime.h"

#include "fuzz.h"

/* Copies the header's fields as each command does. */
static void
fields(const char *hdr, size_t hlen, const char *eol)
{
	static const enum smime_fields which[] = {
		SMIME_F_CONTENT, SMIME_F_OUTER, SMIME_F_ENTITY,
	};
	char *out;
	size_t i, total = 0;
	long len;
	BIO *b;

	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return;
	for (i = 0; i < sizeof(which) / sizeof(which[0]); i++) {
		(void)BIO_reset(b);
		FUZZ_CHECK(smime_put_fields(b, hdr, hlen, which[i], eol) == 0);
		len = BIO_get_mem_data(b, &out);
		/* CONTENT and OUTER split the fields ENTITY copies. */
		if (which[i] == SMIME_F_ENTITY)
			FUZZ_CHECK((size_t)len == total);
		else
			total += (size_t)len;
	}
	BIO_free(b);
}

/* The input as a file to read from its start. */
static int
open_input(int fd, struct msgin *m)
{
	FUZZ_CHECK(lseek(fd, 0, SEEK_SET) == 0);
	return msgin_open_fd(m, fd, 0);
}

/* The header, and the entity as smime sign and encrypt write it. */
static void
entity(int fd)
{
	struct msgin m;
	BIO *b;

	if (open_input(fd, &m) == -1)
		return;
	FUZZ_CHECK(m.hlen <= MSGIN_MAX_HEADER);
	fields(m.hdr, m.hlen, "\r\n");
	fields(m.hdr, m.hlen, "\n");
	if ((b = BIO_new(BIO_s_mem())) != NULL) {
		(void)smime_put_entity(&m, SMIME_F_CONTENT, b);
		BIO_free(b);
	}
	msgin_close(&m);
}

/* A multipart/signed, as smime verify reads one. */
static void
multipart(int fd, FILE *sink)
{
	CMS_ContentInfo *cms;
	char boundary[128];
	const char *why = NULL;
	size_t hlen, body;
	struct msgin m;
	BUF_MEM *sig;

	if (open_input(fd, &m) == -1)
		return;
	if (smime_field_param(m.hdr, m.hlen, "Content-Type", "boundary",
	    boundary, sizeof(boundary)) && (sig = BUF_MEM_new()) != NULL) {
		if (multipart_signed_read(&m, boundary, sink, sig, &why) == 0) {
			FUZZ_CHECK(sig->length <= MULTIPART_SIG_MAX);
			smime_split(sig->data, sig->length, &hlen, &body);
			FUZZ_CHECK(hlen <= body && body <= sig->length);
			if ((cms = cs_read_cms(sig->data + body,
			    sig->length - body)) != NULL)
				CMS_ContentInfo_free(cms);
		} else
			FUZZ_CHECK(why != NULL);
		BUF_MEM_free(sig);
	}
	msgin_close(&m);
}

static int
count(void *arg, const unsigned char *p, size_t n)
{
	(void)p;
	*(size_t *)arg += n;
	return 0;
}

/* Signed or encrypted data, as smime verify and decrypt walk it. */
static void
walk(int fd)
{
	static struct cmswalk w;
	const unsigned char *p;
	CMS_ContentInfo *cms;
	struct msgin m;
	size_t n = 0, len;

	if (open_input(fd, &m) == -1)
		return;
	if (msgin_decode_body(&m) == 0 && cmswalk_open(&w, &m) == 0) {
		FUZZ_CHECK(w.kept <= CMSWALK_MAX_SKELETON);
		if ((cms = cmswalk_cms(&w, NULL, 0)) != NULL)
			CMS_ContentInfo_free(cms);
		if (cmswalk_content(&w, count, &n) >= 0 &&
		    cmswalk_finish(&w) == 0) {
			(void)cmswalk_after_field(&w, V_ASN1_OCTET_STRING,
			    V_ASN1_UNIVERSAL, &p, &len);
			if ((cms = cmswalk_cms(&w, NULL, 0)) != NULL)
				CMS_ContentInfo_free(cms);
		} else
			FUZZ_CHECK(w.why != NULL);
		FUZZ_CHECK(w.kept <= CMSWALK_MAX_SKELETON);
	}
	cmswalk_free(&w);
	msgin_close(&m);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *sink;
	size_t hlen, body;
	int fd;

	smime_split((const char *)data, size, &hlen, &body);
	FUZZ_CHECK(hlen <= body && body <= size);
	if (sink == NULL)
		FUZZ_CHECK((sink = fopen("/dev/null", "w")) != NULL);
	FUZZ_CHECK((fd = memfd_create("fuzz_smime", MFD_CLOEXEC)) != -1);
	FUZZ_CHECK(write(fd, data, size) == (ssize_t)size);
	entity(fd);
	multipart(fd, sink);
	walk(fd);
	close(fd);
	ERR_clear_error();
	return 0;
}
