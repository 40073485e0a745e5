/*
 * fuzz_smime.c: how cardsign takes apart an S/MIME message it is given
 * to verify or decrypt: its own header and body splitting
 * (client/smime_mime.c), then the CMS readers (cs_read_cms() in
 * client/osslutil.c, and OpenSSL's SMIME_read_CMS() as cmd_smime uses it).
 *
 * OpenSSL itself is not built with coverage here, so libFuzzer is guided
 * only by cardsign's code; OpenSSL's parsers still run under ASan on every
 * input.
 */
#include <string.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>

#include "smime.h"

#include "fuzz.h"

/* Copies the header's fields as each command does, then the body. */
static void
fields(const char *hdr, size_t hlen, const char *body, size_t blen,
    const char *eol)
{
	static const enum smime_fields which[] = {
		SMIME_F_CONTENT, SMIME_F_OUTER, SMIME_F_ENTITY,
	};
	const char *out;
	size_t i, total = 0, len;
	BIO *b;

	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return;
	for (i = 0; i < sizeof(which) / sizeof(which[0]); i++) {
		(void)BIO_reset(b);
		FUZZ_CHECK(smime_put_fields(b, hdr, hlen, which[i], eol) == 0);
		len = smime_bio_data(b, &out);
		/* CONTENT and OUTER split the fields ENTITY copies. */
		if (which[i] == SMIME_F_ENTITY)
			FUZZ_CHECK(len == total);
		else
			total += len;
	}
	(void)BIO_reset(b);
	FUZZ_CHECK(smime_put_text(b, body, blen, eol) == 0);
	BIO_free(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	CMS_ContentInfo *cms;
	size_t hlen, body;
	BIO *in, *bcont = NULL;

	smime_split(p, size, &hlen, &body);
	FUZZ_CHECK(hlen <= body && body <= size);
	(void)smime_is_crlf(p, size);
	fields(p, hlen, p + body, size - body, "\r\n");
	fields(p, hlen, p + body, size - body, "\n");
	/* What cmd_smime asks of a header. */
	(void)smime_field_has(p, hlen, "Content-Type", "multipart/signed");
	(void)smime_field_has(p, hlen, "Content-Type", "application/pkcs7-mime");
	(void)smime_field_has(p, hlen, "Content-Type",
	    "smime-type=enveloped-data");
	(void)smime_field_has(p, hlen, "Content-Type", "signed-data");
	(void)smime_field_has(p, hlen, "MIME-Version", "1.0");

	if ((cms = cs_read_cms(p, size)) != NULL)
		CMS_ContentInfo_free(cms);

	if ((in = BIO_new_mem_buf(data, (int)size)) != NULL) {
		if ((cms = SMIME_read_CMS(in, &bcont)) != NULL) {
			(void)CMS_get0_type(cms);
			CMS_ContentInfo_free(cms);
		}
		BIO_free(bcont);
		BIO_free(in);
	}
	ERR_clear_error();
	return 0;
}
