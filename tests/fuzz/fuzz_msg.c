/*
 * fuzz_msg.c: the wire codec (proto/), the first code to see the bytes a
 * client, or a compromised token host, sends the agent.
 *
 * The input is treated as a stream of frames, as the agent's reader sees
 * its buffer: ca_frame_check() splits it and ca_msg_decode() decodes each
 * body. Every body that decodes must re-encode to exactly the same bytes
 * (the format has one encoding per message and the decoder takes nothing
 * the encoder could not produce), and the re-encoding must decode and
 * encode again to the same frame.
 */
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "msg.h"

#include "fuzz.h"

static int
all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i] != 0)
			return 0;
	return 1;
}

static void
one_body(const uint8_t *body, size_t len)
{
	struct ca_msg m, m2;
	struct ca_wr w, w2;
	size_t blen;
	enum ca_perr e;

	if ((e = ca_msg_decode(body, len, &m)) != CA_PE_OK) {
		/* msg.h: "on error m holds nothing to free". */
		FUZZ_CHECK(all_zero(&m, sizeof(m)));
		FUZZ_CHECK(ca_perr_str(e) != NULL);
		return;
	}

	ca_wr_init(&w, CA_FRAME_HDR + CA_FRAME_MAX);
	e = ca_msg_encode(&m, &w);
	FUZZ_CHECK(e == CA_PE_OK);
	FUZZ_CHECK(w.len == CA_FRAME_HDR + len);
	FUZZ_CHECK(memcmp(w.p + CA_FRAME_HDR, body, len) == 0);
	FUZZ_CHECK(ca_frame_check(w.p, w.len, &blen) == CA_PE_OK);
	FUZZ_CHECK(blen == len);

	/* The second generation must equal the first. */
	FUZZ_CHECK(ca_msg_decode(w.p + CA_FRAME_HDR, blen, &m2) == CA_PE_OK);
	FUZZ_CHECK(m2.type == m.type && m2.id == m.id);
	ca_wr_init(&w2, CA_FRAME_HDR + CA_FRAME_MAX);
	FUZZ_CHECK(ca_msg_encode(&m2, &w2) == CA_PE_OK);
	FUZZ_CHECK(w2.len == w.len && memcmp(w2.p, w.p, w.len) == 0);

	ca_msg_clear(&m2);
	FUZZ_CHECK(all_zero(&m2, sizeof(m2)));
	ca_msg_clear(&m);
	ca_wr_free(&w2);
	ca_wr_free(&w);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data;
	size_t left = size, blen, n;
	enum ca_perr e;

	while ((e = ca_frame_check(p, left, &blen)) == CA_PE_OK) {
		FUZZ_CHECK(blen > 0 && blen <= CA_FRAME_MAX);
		FUZZ_CHECK(blen <= left - CA_FRAME_HDR);
		one_body(p + CA_FRAME_HDR, blen);
		p += CA_FRAME_HDR + blen;
		left -= CA_FRAME_HDR + blen;
	}
	FUZZ_CHECK(e == CA_PE_INCOMPLETE || e == CA_PE_TOO_LONG);

	/*
	 * A mutated length field would hide most bodies from the decoder:
	 * when not even the first frame is whole, decode what follows the
	 * header anyway.
	 */
	if (p == data && size > CA_FRAME_HDR) {
		n = size - CA_FRAME_HDR;
		one_body(data + CA_FRAME_HDR, n < CA_FRAME_MAX ? n : CA_FRAME_MAX);
	}
	return 0;
}
