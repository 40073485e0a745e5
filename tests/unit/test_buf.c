/*
 * test_buf.c: the bounded reader and the capped writer in proto/buf.c.
 *
 * Every reader test feeds a heap copy of exactly the bytes under test, so
 * ASan reports any read past the end even when the getter's answer looks
 * right.
 */
#define _DEFAULT_SOURCE

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../proto/buf.h"
#include "../../proto/secret.h"

#define U32(v) (uint8_t)((uint32_t)(v) >> 24), (uint8_t)((uint32_t)(v) >> 16), \
	(uint8_t)((uint32_t)(v) >> 8), (uint8_t)(v)

/*
 * A heap copy of exactly len bytes; the reader borrows it. A zero-length
 * copy is still a distinct allocation so ASan flags a one-byte over-read.
 */
static uint8_t *
exact(const void *p, size_t len)
{
	uint8_t *d = malloc(len ? len : 1);

	assert_non_null(d);
	if (len)
		memcpy(d, p, len);
	return d;
}

static int
all_zero(const void *p, size_t len)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i] != 0)
			return 0;
	return 1;
}

/* ---- reader: fixed-width getters ---- */

static void
test_rd_u8_exact(void **state)
{
	static const uint8_t in[] = { 0xa5 };
	uint8_t *b = exact(in, sizeof(in)), v = 0;
	struct ca_rd r;

	(void)state;
	ca_rd_init(&r, b, sizeof(in));
	assert_int_equal(ca_rd_u8(&r, &v), CA_PE_OK);
	assert_int_equal(v, 0xa5);
	assert_int_equal(r.off, 1);
	assert_int_equal(ca_rd_end(&r), CA_PE_OK);
	/* Past the end: an error, the value and offset untouched. */
	v = 0x11;
	assert_int_equal(ca_rd_u8(&r, &v), CA_PE_TRUNCATED);
	assert_int_equal(v, 0x11);
	assert_int_equal(r.off, 1);
	free(b);
}

static void
test_rd_u8_empty(void **state)
{
	uint8_t *b = exact(NULL, 0), v = 0x22;
	struct ca_rd r;

	(void)state;
	ca_rd_init(&r, b, 0);
	assert_int_equal(ca_rd_u8(&r, &v), CA_PE_TRUNCATED);
	assert_int_equal(v, 0x22);
	assert_int_equal(r.off, 0);
	assert_int_equal(ca_rd_end(&r), CA_PE_OK);
	free(b);
}

static void
test_rd_u16_exact(void **state)
{
	static const uint8_t in[] = { 0xbe, 0xef };
	uint8_t *b = exact(in, sizeof(in));
	uint16_t v = 0;
	struct ca_rd r;

	(void)state;
	ca_rd_init(&r, b, sizeof(in));
	assert_int_equal(ca_rd_u16(&r, &v), CA_PE_OK);
	assert_int_equal(v, 0xbeef);
	assert_int_equal(ca_rd_end(&r), CA_PE_OK);
	free(b);
}

static void
test_rd_u16_short(void **state)
{
	static const uint8_t in[] = { 0xbe };
	uint8_t *b = exact(in, sizeof(in));
	uint16_t v = 7;
	struct ca_rd r;

	(void)state;
	ca_rd_init(&r, b, sizeof(in));
	assert_int_equal(ca_rd_u16(&r, &v), CA_PE_TRUNCATED);
	assert_int_equal(v, 7);
	assert_int_equal(r.off, 0);
	/* The byte that was there is still readable. */
	assert_int_equal(ca_rd_end(&r), CA_PE_TRAILING);
	free(b);
}

static void
test_rd_u32_exact(void **state)
{
	static const uint8_t in[] = { 0xde, 0xad, 0xbe, 0xef, 0x00, 0x00,
	    0x00, 0x01 };
	uint8_t *b = exact(in, sizeof(in));
	uint32_t v = 0;
	struct ca_rd r;

	(void)state;
	ca_rd_init(&r, b, sizeof(in));
	assert_int_equal(ca_rd_u32(&r, &v), CA_PE_OK);
	assert_int_equal(v, 0xdeadbeefu);
	assert_int_equal(ca_rd_u32(&r, &v), CA_PE_OK);
	assert_int_equal(v, 1);
	assert_int_equal(ca_rd_end(&r), CA_PE_OK);
	free(b);
}

static void
test_rd_u32_short(void **state)
{
	static const uint8_t in[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
	    0x07 };
	uint8_t *b;
	uint32_t v;
	struct ca_rd r;
	size_t n;

	(void)state;
	/* Every length from 0 to 3 is one short of a u32. */
	for (n = 0; n < 4; n++) {
		b = exact(in, n);
		ca_rd_init(&r, b, n);
		v = 42;
		assert_int_equal(ca_rd_u32(&r, &v), CA_PE_TRUNCATED);
		assert_int_equal(v, 42);
		assert_int_equal(r.off, 0);
		free(b);
	}
	/* A short read after a good one leaves the offset at the boundary. */
	b = exact(in, sizeof(in));
	ca_rd_init(&r, b, sizeof(in));
	assert_int_equal(ca_rd_u32(&r, &v), CA_PE_OK);
	assert_int_equal(ca_rd_u32(&r, &v), CA_PE_TRUNCATED);
	assert_int_equal(r.off, 4);
	free(b);
}

/* ---- reader: ca_rd_bytes and its copying variants ---- */

static void
test_rd_bytes_exact(void **state)
{
	static const uint8_t in[] = { U32(3), 'a', 'b', 'c' };
	uint8_t *b = exact(in, sizeof(in));
	const uint8_t *p = NULL;
	size_t len = 99;
	struct ca_rd r;

	(void)state;
	ca_rd_init(&r, b, sizeof(in));
	assert_int_equal(ca_rd_bytes(&r, &p, &len, 3), CA_PE_OK);
	assert_int_equal(len, 3);
	/* No copy: the result points into the reader's memory. */
	assert_ptr_equal(p, b + 4);
	assert_memory_equal(p, "abc", 3);
	assert_int_equal(ca_rd_end(&r), CA_PE_OK);
	free(b);
}

static void
test_rd_bytes_empty(void **state)
{
	static const uint8_t in[] = { U32(0) };
	uint8_t *b = exact(in, sizeof(in));
	const uint8_t *p = NULL;
	size_t len = 99;
	struct ca_rd r;

	(void)state;
	ca_rd_init(&r, b, sizeof(in));
	assert_int_equal(ca_rd_bytes(&r, &p, &len, 0), CA_PE_OK);
	assert_int_equal(len, 0);
	assert_int_equal(ca_rd_end(&r), CA_PE_OK);
	free(b);
}

static void
test_rd_bytes_too_long(void **state)
{
	static const uint8_t in[] = { U32(4), 'a', 'b', 'c', 'd' };
	static const uint8_t huge[] = { U32(0xffffffffu), 'a' };
	uint8_t *b = exact(in, sizeof(in));
	const uint8_t *p = NULL;
	size_t len = 99;
	struct ca_rd r;

	(void)state;
	/* The bytes are all there, but the cap is checked first. */
	ca_rd_init(&r, b, sizeof(in));
	assert_int_equal(ca_rd_bytes(&r, &p, &len, 3), CA_PE_TOO_LONG);
	assert_int_equal(r.off, 0);
	assert_null(p);
	assert_int_equal(len, 99);
	/* The same input is fine once the cap allows it: nothing consumed. */
	assert_int_equal(ca_rd_bytes(&r, &p, &len, 4), CA_PE_OK);
	assert_int_equal(len, 4);
	free(b);

	/* A length of 2^32-1 must not wrap any sum. */
	b = exact(huge, sizeof(huge));
	ca_rd_init(&r, b, sizeof(huge));
	assert_int_equal(ca_rd_bytes(&r, &p, &len, 16), CA_PE_TOO_LONG);
	assert_int_equal(r.off, 0);
	assert_int_equal(ca_rd_bytes(&r, &p, &len, SIZE_MAX),
	    CA_PE_TRUNCATED);
	assert_int_equal(r.off, 0);
	free(b);
}

static void
test_rd_bytes_truncated(void **state)
{
	static const uint8_t in[] = { U32(5), 'a', 'b', 'c', 'd' };
	uint8_t *b = exact(in, sizeof(in));
	const uint8_t *p = NULL;
	size_t len = 99, n;
	struct ca_rd r;

	(void)state;
	ca_rd_init(&r, b, sizeof(in));
	assert_int_equal(ca_rd_bytes(&r, &p, &len, 100), CA_PE_TRUNCATED);
	/* The length prefix was read, yet the offset is rewound to it. */
	assert_int_equal(r.off, 0);
	assert_null(p);
	assert_int_equal(len, 99);
	free(b);

	/* Short in the length prefix itself. */
	for (n = 0; n < 4; n++) {
		b = exact(in, n);
		ca_rd_init(&r, b, n);
		assert_int_equal(ca_rd_bytes(&r, &p, &len, 100),
		    CA_PE_TRUNCATED);
		assert_int_equal(r.off, 0);
		free(b);
	}
}

static void
test_rd_bytes_offset_kept_midway(void **state)
{
	static const uint8_t in[] = { 0x07, U32(9), 'x' };
	uint8_t *b = exact(in, sizeof(in)), v;
	const uint8_t *p;
	size_t len;
	struct ca_rd r;

	(void)state;
	/* A failure after earlier reads rewinds to where it began, not 0. */
	ca_rd_init(&r, b, sizeof(in));
	assert_int_equal(ca_rd_u8(&r, &v), CA_PE_OK);
	assert_int_equal(ca_rd_bytes(&r, &p, &len, 8), CA_PE_TOO_LONG);
	assert_int_equal(r.off, 1);
	assert_int_equal(ca_rd_bytes(&r, &p, &len, 100), CA_PE_TRUNCATED);
	assert_int_equal(r.off, 1);
	free(b);
}

static void
test_rd_bytes_dup(void **state)
{
	static const uint8_t in[] = { U32(2), 0x00, 0xff, U32(0) };
	uint8_t *b = exact(in, sizeof(in)), *p = NULL;
	size_t len = 99;
	struct ca_rd r;

	(void)state;
	ca_rd_init(&r, b, sizeof(in));
	assert_int_equal(ca_rd_bytes_dup(&r, &p, &len, 2), CA_PE_OK);
	assert_int_equal(len, 2);
	assert_ptr_not_equal(p, b + 4);
	assert_memory_equal(p, "\x00\xff", 2);
	free(p);
	/* An empty field still yields a pointer the caller can free. */
	p = NULL;
	assert_int_equal(ca_rd_bytes_dup(&r, &p, &len, 2), CA_PE_OK);
	assert_int_equal(len, 0);
	assert_non_null(p);
	free(p);
	assert_int_equal(ca_rd_end(&r), CA_PE_OK);
	free(b);
}

static void
test_rd_bytes_dup_errors(void **state)
{
	static const uint8_t in[] = { U32(3), 'a', 'b' };
	uint8_t *b = exact(in, sizeof(in)), *p = NULL;
	size_t len = 99;
	struct ca_rd r;

	(void)state;
	ca_rd_init(&r, b, sizeof(in));
	assert_int_equal(ca_rd_bytes_dup(&r, &p, &len, 2), CA_PE_TOO_LONG);
	assert_null(p);
	assert_int_equal(ca_rd_bytes_dup(&r, &p, &len, 3), CA_PE_TRUNCATED);
	assert_null(p);
	assert_int_equal(len, 99);
	assert_int_equal(r.off, 0);
	free(b);
}

static void
test_rd_str(void **state)
{
	static const uint8_t in[] = { U32(5), 'h', 'e', 'l', 'l', 'o',
	    U32(0) };
	uint8_t *b = exact(in, sizeof(in));
	char *s = NULL;
	struct ca_rd r;

	(void)state;
	ca_rd_init(&r, b, sizeof(in));
	assert_int_equal(ca_rd_str(&r, &s, 5), CA_PE_OK);
	assert_string_equal(s, "hello");
	free(s);
	s = NULL;
	assert_int_equal(ca_rd_str(&r, &s, 5), CA_PE_OK);
	assert_string_equal(s, "");
	free(s);
	assert_int_equal(ca_rd_end(&r), CA_PE_OK);
	free(b);
}

static void
test_rd_str_errors(void **state)
{
	static const uint8_t longer[] = { U32(6), 'h', 'e', 'l', 'l', 'o',
	    '!' };
	static const uint8_t shorter[] = { U32(6), 'h', 'e', 'l' };
	uint8_t *b;
	char *s = NULL;
	struct ca_rd r;

	(void)state;
	b = exact(longer, sizeof(longer));
	ca_rd_init(&r, b, sizeof(longer));
	assert_int_equal(ca_rd_str(&r, &s, 5), CA_PE_TOO_LONG);
	assert_null(s);
	assert_int_equal(r.off, 0);
	free(b);

	b = exact(shorter, sizeof(shorter));
	ca_rd_init(&r, b, sizeof(shorter));
	assert_int_equal(ca_rd_str(&r, &s, 100), CA_PE_TRUNCATED);
	assert_null(s);
	assert_int_equal(r.off, 0);
	free(b);
}

static void
test_rd_str_embedded_nul(void **state)
{
	/* NUL in the middle, at the start and at the end: all refused. */
	static const uint8_t mid[] = { U32(3), 'a', 0, 'b' };
	static const uint8_t first[] = { U32(2), 0, 'b' };
	static const uint8_t last[] = { U32(2), 'a', 0 };
	static const struct {
		const uint8_t *p;
		size_t len;
	} cases[] = {
		{ mid, sizeof(mid) },
		{ first, sizeof(first) },
		{ last, sizeof(last) },
	};
	uint8_t *b;
	char *s;
	struct ca_rd r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		b = exact(cases[i].p, cases[i].len);
		ca_rd_init(&r, b, cases[i].len);
		s = NULL;
		assert_int_equal(ca_rd_str(&r, &s, 100), CA_PE_BAD_VALUE);
		/* Nothing was allocated for the caller to leak. */
		assert_null(s);
		free(b);
	}
}

static void
test_rd_secret(void **state)
{
	static const uint8_t in[] = { U32(4), '1', '2', '3', '4' };
	uint8_t *b = exact(in, sizeof(in));
	struct ca_secret *s = NULL;
	struct ca_rd r;

	(void)state;
	ca_rd_init(&r, b, sizeof(in));
	assert_int_equal(ca_rd_secret(&r, &s, 4), CA_PE_OK);
	assert_non_null(s);
	assert_int_equal(s->len, 4);
	assert_memory_equal(s->data, "1234", 4);
	/* A copy into locked memory, not a pointer into the frame. */
	assert_ptr_not_equal(s->data, b + 4);
	ca_secret_free(s);
	assert_int_equal(ca_rd_end(&r), CA_PE_OK);
	free(b);
}

static void
test_rd_secret_empty(void **state)
{
	static const uint8_t in[] = { U32(0) };
	uint8_t *b = exact(in, sizeof(in));
	struct ca_secret *s = (struct ca_secret *)&s; /* poison */
	struct ca_rd r;

	(void)state;
	/* Zero length means "no PIN given": NULL, not an empty secret. */
	ca_rd_init(&r, b, sizeof(in));
	assert_int_equal(ca_rd_secret(&r, &s, 8), CA_PE_OK);
	assert_null(s);
	assert_int_equal(ca_rd_end(&r), CA_PE_OK);
	free(b);
}

static void
test_rd_secret_errors(void **state)
{
	static const uint8_t longer[] = { U32(3), '1', '2', '3' };
	static const uint8_t shorter[] = { U32(3), '1' };
	uint8_t *b;
	struct ca_secret *s;
	struct ca_rd r;

	(void)state;
	/* On failure *s is NULL, so a caller's cleanup path is safe. */
	b = exact(longer, sizeof(longer));
	ca_rd_init(&r, b, sizeof(longer));
	s = (struct ca_secret *)&s;
	assert_int_equal(ca_rd_secret(&r, &s, 2), CA_PE_TOO_LONG);
	assert_null(s);
	assert_int_equal(r.off, 0);
	free(b);

	b = exact(shorter, sizeof(shorter));
	ca_rd_init(&r, b, sizeof(shorter));
	s = (struct ca_secret *)&s;
	assert_int_equal(ca_rd_secret(&r, &s, 8), CA_PE_TRUNCATED);
	assert_null(s);
	assert_int_equal(r.off, 0);
	free(b);
}

static void
test_rd_end(void **state)
{
	static const uint8_t in[] = { 1, 2, 3 };
	uint8_t *b = exact(in, sizeof(in)), v;
	uint16_t w;
	struct ca_rd r;

	(void)state;
	ca_rd_init(&r, b, sizeof(in));
	assert_int_equal(ca_rd_end(&r), CA_PE_TRAILING);
	assert_int_equal(ca_rd_u16(&r, &w), CA_PE_OK);
	assert_int_equal(ca_rd_end(&r), CA_PE_TRAILING);
	assert_int_equal(ca_rd_u8(&r, &v), CA_PE_OK);
	assert_int_equal(ca_rd_end(&r), CA_PE_OK);
	free(b);
}

static void
test_perr_str(void **state)
{
	enum ca_perr e;

	(void)state;
	for (e = CA_PE_OK; e <= CA_PE_NOMEM; e++) {
		assert_non_null(ca_perr_str(e));
		assert_string_not_equal(ca_perr_str(e), "unknown codec error");
	}
	assert_string_equal(ca_perr_str((enum ca_perr)99),
	    "unknown codec error");
}

/* ---- writer ---- */

static void
test_wr_basic(void **state)
{
	static const uint8_t want[] = { 0x01, 0x02, 0x03, 0xde, 0xad, 0xbe,
	    0xef, U32(2), 'h', 'i', U32(0), U32(0), U32(3), 'p', 'i', 'n',
	    'x', 'y' };
	struct ca_secret *pin = ca_secret_dup("pin", 3);
	struct ca_wr w;

	(void)state;
	assert_non_null(pin);
	ca_wr_init(&w, 1024);
	assert_int_equal(w.len, 0);
	ca_wr_u8(&w, 0x01);
	ca_wr_u16(&w, 0x0203);
	ca_wr_u32(&w, 0xdeadbeefu);
	ca_wr_str(&w, "hi");
	ca_wr_str(&w, NULL);
	ca_wr_secret(&w, NULL);
	ca_wr_secret(&w, pin);
	ca_wr_raw(&w, "xy", 2);
	ca_wr_raw(&w, NULL, 0);
	ca_wr_bytes(&w, NULL, 0);
	assert_int_equal(ca_wr_err(&w), CA_PE_OK);
	/* The last bytes(NULL, 0) wrote just its zero length. */
	assert_int_equal(w.len, sizeof(want) + 4);
	assert_memory_equal(w.p, want, sizeof(want));
	assert_true(all_zero(w.p + sizeof(want), 4));
	ca_secret_free(pin);
	ca_wr_free(&w);
	assert_null(w.p);
	assert_int_equal(w.len, 0);
}

static void
test_wr_roundtrip_reader(void **state)
{
	struct ca_wr w;
	struct ca_rd r;
	uint8_t v8;
	uint16_t v16;
	uint32_t v32;
	char *s;

	(void)state;
	/* The writer and reader agree on every width. */
	ca_wr_init(&w, 64);
	ca_wr_u8(&w, 0xfe);
	ca_wr_u16(&w, 0xfedc);
	ca_wr_u32(&w, 0xfedcba98u);
	ca_wr_str(&w, "ok");
	assert_int_equal(ca_wr_err(&w), CA_PE_OK);
	ca_rd_init(&r, w.p, w.len);
	assert_int_equal(ca_rd_u8(&r, &v8), CA_PE_OK);
	assert_int_equal(v8, 0xfe);
	assert_int_equal(ca_rd_u16(&r, &v16), CA_PE_OK);
	assert_int_equal(v16, 0xfedc);
	assert_int_equal(ca_rd_u32(&r, &v32), CA_PE_OK);
	assert_int_equal(v32, 0xfedcba98u);
	assert_int_equal(ca_rd_str(&r, &s, 2), CA_PE_OK);
	assert_string_equal(s, "ok");
	free(s);
	assert_int_equal(ca_rd_end(&r), CA_PE_OK);
	ca_wr_free(&w);
}

static void
test_wr_grows(void **state)
{
	uint8_t chunk[100];
	struct ca_wr w;
	size_t i, j;

	(void)state;
	/* Several reallocations by hand must keep every earlier byte. */
	ca_wr_init(&w, 5000);
	for (i = 0; i < 50; i++) {
		memset(chunk, (int)i, sizeof(chunk));
		ca_wr_raw(&w, chunk, sizeof(chunk));
	}
	assert_int_equal(ca_wr_err(&w), CA_PE_OK);
	assert_int_equal(w.len, 5000);
	assert_true(w.cap <= w.max);
	for (i = 0; i < 50; i++)
		for (j = 0; j < sizeof(chunk); j++)
			assert_int_equal(w.p[i * 100 + j], i);
	ca_wr_free(&w);
}

static void
test_wr_exact_max(void **state)
{
	struct ca_wr w;

	(void)state;
	/* Filling to exactly max is allowed, and cap never exceeds max. */
	ca_wr_init(&w, 7);
	ca_wr_u32(&w, 1);
	ca_wr_u16(&w, 2);
	ca_wr_u8(&w, 3);
	assert_int_equal(ca_wr_err(&w), CA_PE_OK);
	assert_int_equal(w.len, 7);
	assert_true(w.cap <= 7);
	ca_wr_u8(&w, 4);
	assert_int_equal(ca_wr_err(&w), CA_PE_TOO_LONG);
	assert_int_equal(w.len, 7);
	ca_wr_free(&w);
}

static void
test_wr_sticky_error(void **state)
{
	static const uint8_t want[] = { U32(0x01020304) };
	struct ca_wr w;

	(void)state;
	ca_wr_init(&w, 6);
	ca_wr_u32(&w, 0x01020304);
	assert_int_equal(ca_wr_err(&w), CA_PE_OK);
	/* 4 more would make 8 > 6: refused, nothing partial written. */
	ca_wr_u32(&w, 0xffffffffu);
	assert_int_equal(ca_wr_err(&w), CA_PE_TOO_LONG);
	assert_int_equal(w.len, 4);
	/* These would fit, but the error is sticky: every put is a no-op. */
	ca_wr_u8(&w, 0xaa);
	ca_wr_u16(&w, 0xbbbb);
	ca_wr_raw(&w, "z", 1);
	ca_wr_bytes(&w, NULL, 0);
	ca_wr_str(&w, "");
	ca_wr_secret(&w, NULL);
	assert_int_equal(w.len, 4);
	assert_int_equal(ca_wr_err(&w), CA_PE_TOO_LONG);
	assert_memory_equal(w.p, want, sizeof(want));
	/* u32_at does not write through an error either. */
	ca_wr_u32_at(&w, 0, 0);
	assert_memory_equal(w.p, want, sizeof(want));
	ca_wr_free(&w);
	assert_int_equal(ca_wr_err(&w), CA_PE_OK);
}

static void
test_wr_max_zero(void **state)
{
	struct ca_wr w;

	(void)state;
	ca_wr_init(&w, 0);
	ca_wr_raw(&w, NULL, 0);
	assert_int_equal(ca_wr_err(&w), CA_PE_OK);
	ca_wr_u8(&w, 1);
	assert_int_equal(ca_wr_err(&w), CA_PE_TOO_LONG);
	assert_int_equal(w.len, 0);
	ca_wr_free(&w);
}

static void
test_wr_bytes_over_max(void **state)
{
	static const uint8_t data[16];
	struct ca_wr w;

	(void)state;
	/* The length prefix fits but the data does not: still an error. */
	ca_wr_init(&w, 10);
	ca_wr_bytes(&w, data, sizeof(data));
	assert_int_equal(ca_wr_err(&w), CA_PE_TOO_LONG);
	assert_int_equal(w.len, 4);
	ca_wr_free(&w);
}

static void
test_wr_u32_at(void **state)
{
	static const uint8_t want[] = { 0xaa, U32(0x11223344), 0xbb };
	static const uint8_t same[] = { 0xaa, U32(0x11223344), 0xbb };
	struct ca_wr w;

	(void)state;
	ca_wr_init(&w, 64);
	ca_wr_u8(&w, 0xaa);
	ca_wr_u32(&w, 0);	/* placeholder, as encoders do for lengths */
	ca_wr_u8(&w, 0xbb);
	ca_wr_u32_at(&w, 1, 0x11223344);
	assert_int_equal(ca_wr_err(&w), CA_PE_OK);
	assert_int_equal(w.len, sizeof(want));
	assert_memory_equal(w.p, want, sizeof(want));
	/* Not yet written bytes (off + 4 > len) are never touched. */
	ca_wr_u32_at(&w, 3, 0xffffffffu);
	ca_wr_u32_at(&w, 6, 0xffffffffu);
	ca_wr_u32_at(&w, 100, 0xffffffffu);
	assert_int_equal(w.len, sizeof(same));
	assert_memory_equal(w.p, same, sizeof(same));
	/* The last whole slot is writable. */
	ca_wr_u32_at(&w, 2, 0x01020304);
	assert_memory_equal(w.p, "\xaa\x11\x01\x02\x03\x04", 6);
	ca_wr_free(&w);
}

static void
test_wr_consume(void **state)
{
	struct ca_wr w;
	uint8_t *p;
	size_t cap;

	(void)state;
	ca_wr_init(&w, 64);
	ca_wr_raw(&w, "abcdefgh", 8);
	p = w.p;
	cap = w.cap;
	ca_wr_consume(&w, 0);
	assert_int_equal(w.len, 8);
	assert_memory_equal(w.p, "abcdefgh", 8);
	ca_wr_consume(&w, 3);
	assert_int_equal(w.len, 5);
	assert_memory_equal(w.p, "defgh", 5);
	/* The vacated tail is wiped, so no stale frame bytes linger. */
	assert_true(all_zero(w.p + 5, 3));
	/* Appending after a consume continues at the new end. */
	ca_wr_raw(&w, "ij", 2);
	assert_memory_equal(w.p, "defghij", 7);
	ca_wr_consume(&w, 7);
	assert_int_equal(w.len, 0);
	assert_true(all_zero(w.p, 8));
	/* Consuming more than is there just empties it. */
	ca_wr_raw(&w, "xyz", 3);
	ca_wr_consume(&w, 100);
	assert_int_equal(w.len, 0);
	assert_true(all_zero(w.p, 3));
	/* Memory is kept for reuse. */
	assert_ptr_equal(w.p, p);
	assert_int_equal(w.cap, cap);
	ca_wr_free(&w);

	/* On a writer that never allocated it is a harmless no-op. */
	ca_wr_init(&w, 64);
	ca_wr_consume(&w, 0);
	ca_wr_consume(&w, 5);
	assert_int_equal(w.len, 0);
	assert_null(w.p);
	ca_wr_free(&w);
}

static void
test_wr_reset(void **state)
{
	struct ca_wr w;
	uint8_t *p;
	size_t cap;

	(void)state;
	ca_wr_init(&w, 8);
	ca_wr_raw(&w, "secret!!", 8);
	ca_wr_u8(&w, 0);
	assert_int_equal(ca_wr_err(&w), CA_PE_TOO_LONG);
	p = w.p;
	cap = w.cap;
	ca_wr_reset(&w);
	/* Empty, error cleared, same memory, old contents wiped. */
	assert_int_equal(w.len, 0);
	assert_int_equal(ca_wr_err(&w), CA_PE_OK);
	assert_ptr_equal(w.p, p);
	assert_int_equal(w.cap, cap);
	assert_int_equal(w.max, 8);
	assert_true(all_zero(w.p, 8));
	ca_wr_raw(&w, "again", 5);
	assert_int_equal(ca_wr_err(&w), CA_PE_OK);
	assert_memory_equal(w.p, "again", 5);
	ca_wr_free(&w);

	/* Reset of a never-used writer is fine. */
	ca_wr_init(&w, 8);
	ca_wr_reset(&w);
	assert_int_equal(w.len, 0);
	ca_wr_free(&w);
}

static void
test_wr_free_reinit(void **state)
{
	struct ca_wr w;

	(void)state;
	ca_wr_init(&w, 16);
	ca_wr_u32(&w, 5);
	ca_wr_free(&w);
	ca_wr_free(&w);		/* twice is harmless */
	ca_wr_init(&w, 16);
	ca_wr_u32(&w, 6);
	assert_int_equal(ca_wr_err(&w), CA_PE_OK);
	assert_int_equal(w.len, 4);
	ca_wr_free(&w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rd_u8_exact),
		cmocka_unit_test(test_rd_u8_empty),
		cmocka_unit_test(test_rd_u16_exact),
		cmocka_unit_test(test_rd_u16_short),
		cmocka_unit_test(test_rd_u32_exact),
		cmocka_unit_test(test_rd_u32_short),
		cmocka_unit_test(test_rd_bytes_exact),
		cmocka_unit_test(test_rd_bytes_empty),
		cmocka_unit_test(test_rd_bytes_too_long),
		cmocka_unit_test(test_rd_bytes_truncated),
		cmocka_unit_test(test_rd_bytes_offset_kept_midway),
		cmocka_unit_test(test_rd_bytes_dup),
		cmocka_unit_test(test_rd_bytes_dup_errors),
		cmocka_unit_test(test_rd_str),
		cmocka_unit_test(test_rd_str_errors),
		cmocka_unit_test(test_rd_str_embedded_nul),
		cmocka_unit_test(test_rd_secret),
		cmocka_unit_test(test_rd_secret_empty),
		cmocka_unit_test(test_rd_secret_errors),
		cmocka_unit_test(test_rd_end),
		cmocka_unit_test(test_perr_str),
		cmocka_unit_test(test_wr_basic),
		cmocka_unit_test(test_wr_roundtrip_reader),
		cmocka_unit_test(test_wr_grows),
		cmocka_unit_test(test_wr_exact_max),
		cmocka_unit_test(test_wr_sticky_error),
		cmocka_unit_test(test_wr_max_zero),
		cmocka_unit_test(test_wr_bytes_over_max),
		cmocka_unit_test(test_wr_u32_at),
		cmocka_unit_test(test_wr_consume),
		cmocka_unit_test(test_wr_reset),
		cmocka_unit_test(test_wr_free_reinit),
	};

	return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
