/*
 * test_msg.c: the message codec in proto/msg.c.
 *
 * Three parts: every message type survives encode -> frame check -> decode
 * with every field intact; tables of malformed frames and bodies, each row
 * run as its own named test so a failure names the input; and the edges
 * (every strict prefix, caps at exactly their limit, encoder failures that
 * must leave the writer as it was).
 *
 * Bodies are always decoded from a heap copy of exactly their length so
 * ASan catches any read past the end, and LSan catches anything a failed
 * decode forgets to free.
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
#include "../../proto/msg.h"
#include "../../proto/secret.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ---- */

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

/*
 * Under ASan the allocator reports every allocation to hooks, which lets a
 * test prove a forged count allocated nothing large: the decoder would
 * fail either way, so only the allocation size tells the difference.
 * Without ASan the bound is simply not checked.
 */
#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ALLOC_HOOKS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ALLOC_HOOKS 1
#endif
#endif

#ifdef HAVE_ALLOC_HOOKS
/* From <sanitizer/allocator_interface.h>, which gcc does not install. */
int __sanitizer_install_malloc_and_free_hooks(
    void (*malloc_hook)(const volatile void *, size_t),
    void (*free_hook)(const volatile void *));

static int watching;
static size_t biggest;

static void
on_malloc(const volatile void *p, size_t n)
{
	(void)p;
	if (watching && n > biggest)
		biggest = n;
}

static void
on_free(const volatile void *p)
{
	(void)p;
}
#endif

static void
watch_install(void)
{
#ifdef HAVE_ALLOC_HOOKS
	(void)__sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
#endif
}

static void
watch_start(void)
{
#ifdef HAVE_ALLOC_HOOKS
	biggest = 0;
	watching = 1;
#endif
}

/* The largest single allocation since watch_start(); 0 without hooks. */
static size_t
watch_stop(void)
{
#ifdef HAVE_ALLOC_HOOKS
	watching = 0;
	return biggest;
#else
	return 0;
#endif
}

/* A writer big enough for any legal frame. */
static void
wr_frame(struct ca_wr *w)
{
	ca_wr_init(w, CA_FRAME_HDR + CA_FRAME_MAX);
}

/* The encoder writes NULL strings as empty; the decoder always allocates. */
static void
check_str(const char *want, const char *got)
{
	assert_non_null(got);
	assert_string_equal(want != NULL ? want : "", got);
}

static void
check_bytes(const uint8_t *want, size_t wlen, const uint8_t *got,
    size_t glen)
{
	assert_int_equal(glen, wlen);
	if (wlen)
		assert_memory_equal(got, want, wlen);
}

/* An absent or empty secret goes on the wire as "none" and comes back NULL. */
static void
check_secret(const struct ca_secret *want, const struct ca_secret *got)
{
	if (want == NULL || want->len == 0) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_int_equal(got->len, want->len);
	assert_memory_equal(got->data, want->data, want->len);
}

static void
check_token(const struct ca_token *a, const struct ca_token *b)
{
	check_str(a->id, b->id);
	check_str(a->label, b->label);
	check_str(a->manufacturer, b->manufacturer);
	check_str(a->model, b->model);
	check_str(a->serial, b->serial);
	check_str(a->uri, b->uri);
	check_str(a->module, b->module);
	assert_int_equal(a->flags, b->flags);
}

static void
check_key(const struct ca_key *a, const struct ca_key *b)
{
	check_str(a->id, b->id);
	check_str(a->token_id, b->token_id);
	check_str(a->label, b->label);
	check_str(a->uri, b->uri);
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->bits, b->bits);
	assert_int_equal(a->ops, b->ops);
	assert_int_equal(a->always_auth, b->always_auth);
	check_bytes(a->ckaid, a->ckaid_len, b->ckaid, b->ckaid_len);
	check_bytes(a->cert, a->cert_len, b->cert, b->cert_len);
	check_bytes(a->spki, a->spki_len, b->spki, b->spki_len);
}

/* Compares every field the type carries; the union's other arms are noise. */
static void
check_msg(const struct ca_msg *a, const struct ca_msg *b)
{
	size_t i;

	assert_int_equal(a->type, b->type);
	assert_int_equal(a->id, b->id);
	switch (a->type) {
	case CA_MSG_HELLO:
		assert_int_equal(a->u.hello.vmin, b->u.hello.vmin);
		assert_int_equal(a->u.hello.vmax, b->u.hello.vmax);
		check_str(a->u.hello.name, b->u.hello.name);
		break;
	case CA_MSG_HELLO_REPLY:
		assert_int_equal(a->u.hello_reply.version,
		    b->u.hello_reply.version);
		check_str(a->u.hello_reply.agent, b->u.hello_reply.agent);
		break;
	case CA_MSG_ERROR:
		assert_int_equal(a->u.error.code, b->u.error.code);
		check_str(a->u.error.text, b->u.error.text);
		break;
	case CA_MSG_SIGN:
	case CA_MSG_DECRYPT:
	case CA_MSG_DERIVE:
		check_str(a->u.op.key_id, b->u.op.key_id);
		assert_int_equal(a->u.op.alg, b->u.op.alg);
		assert_int_equal(a->u.op.hash, b->u.op.hash);
		assert_int_equal(a->u.op.mgf, b->u.op.mgf);
		assert_int_equal(a->u.op.salt, b->u.op.salt);
		check_bytes(a->u.op.label, a->u.op.label_len, b->u.op.label,
		    b->u.op.label_len);
		check_bytes(a->u.op.data, a->u.op.len, b->u.op.data,
		    b->u.op.len);
		check_secret(a->u.op.pin, b->u.op.pin);
		break;
	case CA_MSG_LOGIN:
		check_str(a->u.login.token_id, b->u.login.token_id);
		check_secret(a->u.login.pin, b->u.login.pin);
		break;
	case CA_MSG_LOCK:
		check_str(a->u.login.token_id, b->u.login.token_id);
		/* LOCK carries no PIN on the wire. */
		assert_null(b->u.login.pin);
		break;
	case CA_MSG_STATUS_REPLY:
	case CA_MSG_KEYS_REPLY:
	case CA_MSG_HOST_INDEX:
		assert_int_equal(a->u.list.ntokens, b->u.list.ntokens);
		assert_int_equal(a->u.list.nkeys, b->u.list.nkeys);
		for (i = 0; i < a->u.list.ntokens; i++)
			check_token(&a->u.list.tokens[i], &b->u.list.tokens[i]);
		for (i = 0; i < a->u.list.nkeys; i++)
			check_key(&a->u.list.keys[i], &b->u.list.keys[i]);
		break;
	case CA_MSG_SIGNATURE:
		check_bytes(a->u.sig.data, a->u.sig.len, b->u.sig.data,
		    b->u.sig.len);
		break;
	case CA_MSG_SECRET:
		check_secret(a->u.secret, b->u.secret);
		break;
	case CA_MSG_STATUS:
	case CA_MSG_LIST_KEYS:
	case CA_MSG_HOST_REFRESH:
	case CA_MSG_HOST_POLL:
	case CA_MSG_WATCH:
	case CA_MSG_OK:
		break;
	default:
		fail_msg("unexpected type 0x%02x", a->type);
	}
}

/*
 * Encodes m, checks the frame header, decodes the body into *out and checks
 * every field. Re-encoding the decoded message must give the same bytes:
 * the encoding is canonical, so a relay (agent -> host) cannot alter it.
 */
static void
roundtrip(const struct ca_msg *m, struct ca_msg *out)
{
	struct ca_wr w, w2;
	size_t blen = 0, dummy = 12345;
	uint8_t *body;

	wr_frame(&w);
	assert_int_equal(ca_msg_encode(m, &w), CA_PE_OK);
	assert_true(w.len > CA_FRAME_HDR);
	assert_int_equal(ca_frame_check(w.p, w.len, &blen), CA_PE_OK);
	assert_int_equal(blen, w.len - CA_FRAME_HDR);
	/* One byte short of the frame is not yet a frame. */
	assert_int_equal(ca_frame_check(w.p, w.len - 1, &dummy),
	    CA_PE_INCOMPLETE);
	assert_int_equal(dummy, 12345);

	body = exact(w.p + CA_FRAME_HDR, blen);
	memset(out, 0xa5, sizeof(*out));
	assert_int_equal(ca_msg_decode(body, blen, out), CA_PE_OK);
	free(body);
	check_msg(m, out);

	wr_frame(&w2);
	assert_int_equal(ca_msg_encode(out, &w2), CA_PE_OK);
	assert_int_equal(w2.len, w.len);
	assert_memory_equal(w2.p, w.p, w.len);
	ca_wr_free(&w2);
	ca_wr_free(&w);
}

static void
roundtrip_clear(const struct ca_msg *m)
{
	struct ca_msg out;

	roundtrip(m, &out);
	ca_msg_clear(&out);
	assert_true(all_zero(&out, sizeof(out)));
}

/* Sample lists: full fields in one entry, empties in the other. */
static uint8_t ckaid1[] = { 0x01, 0x02 };
static uint8_t cert1[] = { 0x30, 0x82, 0x01, 0x00, 0xaa };
static uint8_t spki1[] = { 0x30, 0x59, 0x30, 0x13 };
static uint8_t ckaid2[] = { 0x03 };
static uint8_t spki2[] = { 0x30, 0x82, 0x01, 0x22, 0x30, 0x0d };

static struct ca_token tokens2[2] = {
	{ "tok-a", "PIV Card", "Yubico", "YubiKey 5", "1234567",
	    "pkcs11:token=PIV%20Card", "/usr/lib/opensc-pkcs11.so",
	    CA_TOK_PRESENT | CA_TOK_LOGIN_REQUIRED | CA_TOK_PIN_COUNT_LOW },
	{ "tok-b", "", NULL, "", NULL, "pkcs11:token=b", "",
	    CA_TOK_HOST_DOWN },
};

static struct ca_key keys2[2] = {
	{ "key-1", "tok-a", "PIV AUTH key", "pkcs11:id=%01%02;type=private",
	    CA_KEY_EC, 256, CA_OP_SIGN | CA_OP_DERIVE, 0,
	    ckaid1, sizeof(ckaid1), cert1, sizeof(cert1),
	    spki1, sizeof(spki1) },
	/* No certificate: cert NULL, length 0. */
	{ "key-2", "tok-b", "", "pkcs11:id=%03;type=private",
	    CA_KEY_RSA, 2048, CA_OP_SIGN | CA_OP_DECRYPT, 1,
	    ckaid2, sizeof(ckaid2), NULL, 0, spki2, sizeof(spki2) },
};

/* ---- round trips, one per message type ---- */

static void
test_rt_hello(void **state)
{
	struct ca_msg m = { .type = CA_MSG_HELLO, .id = 0x01020304 };

	(void)state;
	m.u.hello.vmin = 1;
	m.u.hello.vmax = 3;
	m.u.hello.name = "cardagent-test/1.0";
	roundtrip_clear(&m);
	/* A NULL name is sent as the empty string. */
	m.u.hello.name = NULL;
	roundtrip_clear(&m);
}

static void
test_rt_hello_reply(void **state)
{
	struct ca_msg m = { .type = CA_MSG_HELLO_REPLY, .id = 1 };

	(void)state;
	m.u.hello_reply.version = CA_PROTO_VERSION;
	m.u.hello_reply.agent = "cardagent 0.1";
	roundtrip_clear(&m);
}

static void
test_rt_error(void **state)
{
	struct ca_msg m = { .type = CA_MSG_ERROR, .id = 0xffffffffu };

	(void)state;
	m.u.error.code = CA_E_PIN_LOCKED;
	m.u.error.text = "PIN locked: 0 tries left";
	roundtrip_clear(&m);
}

static void
test_rt_empty_bodies(void **state)
{
	static const uint8_t types[] = { CA_MSG_STATUS, CA_MSG_LIST_KEYS,
	    CA_MSG_HOST_REFRESH, CA_MSG_HOST_POLL, CA_MSG_WATCH, CA_MSG_OK };
	struct ca_msg m;
	struct ca_wr w;
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(types); i++) {
		memset(&m, 0, sizeof(m));
		m.type = types[i];
		m.id = (uint32_t)(0x10 + i);
		roundtrip_clear(&m);
		/* Type and id only: a 5-byte body. */
		wr_frame(&w);
		assert_int_equal(ca_msg_encode(&m, &w), CA_PE_OK);
		assert_int_equal(w.len, CA_FRAME_HDR + 5);
		ca_wr_free(&w);
	}
}

static void
test_rt_sign_pin_label(void **state)
{
	uint8_t digest[32], label[] = "context";
	struct ca_msg m = { .type = CA_MSG_SIGN, .id = 42 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(digest); i++)
		digest[i] = (uint8_t)(i * 7);
	m.u.op.key_id = "key-1";
	m.u.op.alg = CA_ALG_RSA_PSS;
	m.u.op.hash = CA_HASH_SHA256;
	m.u.op.mgf = CA_HASH_SHA256;
	m.u.op.salt = 32;
	m.u.op.label = label;
	m.u.op.label_len = sizeof(label) - 1;
	m.u.op.data = digest;
	m.u.op.len = sizeof(digest);
	m.u.op.pin = ca_secret_dup("123456", 6);
	assert_non_null(m.u.op.pin);
	roundtrip_clear(&m);
	ca_secret_free(m.u.op.pin);
}

static void
test_rt_sign_no_pin(void **state)
{
	uint8_t digest[48];
	struct ca_msg m = { .type = CA_MSG_SIGN, .id = 43 };
	struct ca_msg out;

	(void)state;
	memset(digest, 0x5c, sizeof(digest));
	m.u.op.key_id = "key-2";
	m.u.op.alg = CA_ALG_ECDSA;
	m.u.op.hash = CA_HASH_SHA384;
	m.u.op.data = digest;
	m.u.op.len = sizeof(digest);
	roundtrip(&m, &out);
	assert_null(out.u.op.pin);
	assert_int_equal(out.u.op.label_len, 0);
	ca_msg_clear(&out);
	/* An empty, non-NULL secret also means "no PIN". */
	m.u.op.pin = ca_secret_new(8);
	assert_non_null(m.u.op.pin);
	roundtrip(&m, &out);
	assert_null(out.u.op.pin);
	ca_msg_clear(&out);
	ca_secret_free(m.u.op.pin);
}

static void
test_rt_decrypt(void **state)
{
	uint8_t ct[256], label[] = { 0x00, 0x01, 0xff };
	struct ca_msg m = { .type = CA_MSG_DECRYPT, .id = 7 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ct); i++)
		ct[i] = (uint8_t)(255 - i);
	m.u.op.key_id = "key-2";
	m.u.op.alg = CA_ALG_RSA_OAEP;
	m.u.op.hash = CA_HASH_SHA1;
	m.u.op.mgf = CA_HASH_SHA1;
	m.u.op.label = label;
	m.u.op.label_len = sizeof(label);
	m.u.op.data = ct;
	m.u.op.len = sizeof(ct);
	m.u.op.pin = ca_secret_dup("0000", 4);
	assert_non_null(m.u.op.pin);
	roundtrip_clear(&m);
	ca_secret_free(m.u.op.pin);
}

static void
test_rt_derive(void **state)
{
	uint8_t point[65];
	struct ca_msg m = { .type = CA_MSG_DERIVE, .id = 8 };

	(void)state;
	memset(point, 0x11, sizeof(point));
	point[0] = 0x04;
	m.u.op.key_id = "key-1";
	m.u.op.alg = CA_ALG_ECDH;
	m.u.op.data = point;
	m.u.op.len = sizeof(point);
	roundtrip_clear(&m);
}

static void
test_rt_login(void **state)
{
	struct ca_msg m = { .type = CA_MSG_LOGIN, .id = 9 };

	(void)state;
	m.u.login.token_id = "tok-a";
	m.u.login.pin = ca_secret_dup("12345678", 8);
	assert_non_null(m.u.login.pin);
	roundtrip_clear(&m);
	ca_secret_free(m.u.login.pin);
}

static void
test_rt_login_no_pin(void **state)
{
	struct ca_msg m = { .type = CA_MSG_LOGIN, .id = 10 };
	struct ca_msg out;

	(void)state;
	/* Empty token id (every token) and no PIN (the agent asks). */
	m.u.login.token_id = "";
	roundtrip(&m, &out);
	assert_string_equal(out.u.login.token_id, "");
	assert_null(out.u.login.pin);
	ca_msg_clear(&out);
}

static void
test_rt_lock(void **state)
{
	struct ca_msg m = { .type = CA_MSG_LOCK, .id = 11 };

	(void)state;
	m.u.login.token_id = "tok-b";
	roundtrip_clear(&m);
	m.u.login.token_id = NULL;
	roundtrip_clear(&m);
}

static void
test_rt_status_reply(void **state)
{
	struct ca_msg m = { .type = CA_MSG_STATUS_REPLY, .id = 12 };

	(void)state;
	m.u.list.tokens = tokens2;
	m.u.list.ntokens = 2;
	roundtrip_clear(&m);
	/* No tokens at all is a valid reply. */
	m.u.list.tokens = NULL;
	m.u.list.ntokens = 0;
	roundtrip_clear(&m);
}

static void
test_rt_keys_reply(void **state)
{
	struct ca_msg m = { .type = CA_MSG_KEYS_REPLY, .id = 13 };
	struct ca_msg out;

	(void)state;
	m.u.list.keys = keys2;
	m.u.list.nkeys = 2;
	roundtrip(&m, &out);
	/* KEYS_REPLY has no token half: it stays empty after decode. */
	assert_int_equal(out.u.list.ntokens, 0);
	assert_null(out.u.list.tokens);
	assert_int_equal(out.u.list.keys[1].cert_len, 0);
	ca_msg_clear(&out);
}

static void
test_rt_host_index(void **state)
{
	struct ca_msg m = { .type = CA_MSG_HOST_INDEX, .id = 14 };

	(void)state;
	m.u.list.tokens = tokens2;
	m.u.list.ntokens = 2;
	m.u.list.keys = keys2;
	m.u.list.nkeys = 2;
	roundtrip_clear(&m);
	/* Tokens without keys, as right after a token is inserted. */
	m.u.list.keys = NULL;
	m.u.list.nkeys = 0;
	roundtrip_clear(&m);
}

static void
test_rt_signature(void **state)
{
	uint8_t sig[72];
	struct ca_msg m = { .type = CA_MSG_SIGNATURE, .id = 15 };

	(void)state;
	memset(sig, 0x30, sizeof(sig));
	m.u.sig.data = sig;
	m.u.sig.len = sizeof(sig);
	roundtrip_clear(&m);
}

static void
test_rt_secret(void **state)
{
	uint8_t shared[32];
	struct ca_msg m = { .type = CA_MSG_SECRET, .id = 16 };

	(void)state;
	memset(shared, 0xee, sizeof(shared));
	m.u.secret = ca_secret_dup(shared, sizeof(shared));
	assert_non_null(m.u.secret);
	roundtrip_clear(&m);
	ca_secret_free(m.u.secret);
	m.u.secret = NULL;
	roundtrip_clear(&m);
}

/* ---- limits: fields at exactly their cap are accepted ---- */

static void
test_limits_exact(void **state)
{
	struct ca_msg m = { .type = CA_MSG_SIGN, .id = 1 };
	char *kid = malloc(CA_STR_MAX + 1);
	uint8_t *data = calloc(1, CA_DATA_MAX), pin[CA_PIN_MAX];

	(void)state;
	assert_non_null(kid);
	assert_non_null(data);
	memset(kid, 'k', CA_STR_MAX);
	kid[CA_STR_MAX] = '\0';
	memset(pin, '9', sizeof(pin));
	m.u.op.key_id = kid;
	m.u.op.label = data;
	m.u.op.label_len = CA_DATA_MAX;
	m.u.op.data = data;
	m.u.op.len = CA_DATA_MAX;
	m.u.op.pin = ca_secret_dup(pin, sizeof(pin));
	assert_non_null(m.u.op.pin);
	roundtrip_clear(&m);
	ca_secret_free(m.u.op.pin);

	memset(&m, 0, sizeof(m));
	m.type = CA_MSG_SECRET;
	m.u.secret = ca_secret_dup(data, CA_DATA_MAX);
	assert_non_null(m.u.secret);
	roundtrip_clear(&m);
	ca_secret_free(m.u.secret);

	memset(&m, 0, sizeof(m));
	m.type = CA_MSG_SIGNATURE;
	m.u.sig.data = data;
	m.u.sig.len = CA_DATA_MAX;
	roundtrip_clear(&m);
	free(data);
	free(kid);
}

static void
test_limits_list_max(void **state)
{
	struct ca_msg m = { .type = CA_MSG_HOST_INDEX, .id = 2 };
	struct ca_token *t = calloc(CA_LIST_MAX, sizeof(*t));
	struct ca_key *k = calloc(CA_LIST_MAX, sizeof(*k));
	size_t i;

	(void)state;
	assert_non_null(t);
	assert_non_null(k);
	/* Minimal entries: the count check's per-item minimum is exact. */
	for (i = 0; i < CA_LIST_MAX; i++) {
		t[i].flags = (uint32_t)i;
		k[i].type = CA_KEY_EC;
		k[i].bits = (uint32_t)i;
	}
	m.u.list.tokens = t;
	m.u.list.ntokens = CA_LIST_MAX;
	m.u.list.keys = k;
	m.u.list.nkeys = CA_LIST_MAX;
	roundtrip_clear(&m);
	free(t);
	free(k);
}

static void
test_frame_check_max(void **state)
{
	uint8_t *b = calloc(1, CA_FRAME_HDR + CA_FRAME_MAX + 1);
	size_t blen = 0;

	(void)state;
	assert_non_null(b);
	b[0] = (uint8_t)(CA_FRAME_MAX >> 24);
	b[1] = (uint8_t)(CA_FRAME_MAX >> 16);
	b[2] = (uint8_t)(CA_FRAME_MAX >> 8);
	b[3] = (uint8_t)CA_FRAME_MAX;
	assert_int_equal(ca_frame_check(b, CA_FRAME_HDR + CA_FRAME_MAX - 1,
	    &blen), CA_PE_INCOMPLETE);
	assert_int_equal(ca_frame_check(b, CA_FRAME_HDR + CA_FRAME_MAX,
	    &blen), CA_PE_OK);
	assert_int_equal(blen, CA_FRAME_MAX);
	/* Bytes of a following frame do not change the answer. */
	blen = 0;
	assert_int_equal(ca_frame_check(b, CA_FRAME_HDR + CA_FRAME_MAX + 1,
	    &blen), CA_PE_OK);
	assert_int_equal(blen, CA_FRAME_MAX);
	free(b);
}

/* Several frames in one buffer, as a socket read delivers them. */
static void
test_pipelined_frames(void **state)
{
	uint8_t digest[20] = { 0 };
	struct ca_msg in[3], out;
	struct ca_wr w;
	size_t blen, i;
	uint8_t *body;

	(void)state;
	memset(in, 0, sizeof(in));
	in[0].type = CA_MSG_HELLO;
	in[0].id = 1;
	in[0].u.hello.vmin = in[0].u.hello.vmax = 1;
	in[0].u.hello.name = "c";
	in[1].type = CA_MSG_SIGN;
	in[1].id = 2;
	in[1].u.op.key_id = "k";
	in[1].u.op.alg = CA_ALG_RSA_PKCS1;
	in[1].u.op.hash = CA_HASH_SHA1;
	in[1].u.op.data = digest;
	in[1].u.op.len = sizeof(digest);
	in[2].type = CA_MSG_OK;
	in[2].id = 3;

	wr_frame(&w);
	for (i = 0; i < 3; i++)
		assert_int_equal(ca_msg_encode(&in[i], &w), CA_PE_OK);
	for (i = 0; i < 3; i++) {
		assert_int_equal(ca_frame_check(w.p, w.len, &blen), CA_PE_OK);
		body = exact(w.p + CA_FRAME_HDR, blen);
		assert_int_equal(ca_msg_decode(body, blen, &out), CA_PE_OK);
		free(body);
		check_msg(&in[i], &out);
		ca_msg_clear(&out);
		ca_wr_consume(&w, CA_FRAME_HDR + blen);
	}
	assert_int_equal(w.len, 0);
	assert_int_equal(ca_frame_check(w.p, w.len, &blen), CA_PE_INCOMPLETE);
	ca_wr_free(&w);
}

/* ---- encoder failures leave the writer as it was ---- */

static void
test_encode_over_writer_max(void **state)
{
	uint8_t *big = calloc(1, 2048), *before;
	struct ca_msg ok = { .type = CA_MSG_OK, .id = 1 };
	struct ca_msg m = { .type = CA_MSG_SIGN, .id = 2 };
	struct ca_wr w;
	size_t len;

	(void)state;
	assert_non_null(big);
	m.u.op.key_id = "key";
	m.u.op.data = big;
	m.u.op.len = 2048;
	ca_wr_init(&w, 1024);
	/* A frame already queued must survive the failed encode intact. */
	assert_int_equal(ca_msg_encode(&ok, &w), CA_PE_OK);
	len = w.len;
	before = exact(w.p, len);
	assert_int_equal(ca_msg_encode(&m, &w), CA_PE_TOO_LONG);
	assert_int_equal(w.len, len);
	assert_memory_equal(w.p, before, len);
	/*
	 * The partial frame was wiped, not just forgotten: header 4, type 1,
	 * id 4, key id 4+3, alg/hash/mgf 3, salt 4, label 4, data length 4
	 * were written before the data itself did not fit.
	 */
	assert_true(all_zero(w.p + len, 31));
	/* The error is not left sticky: the writer is still usable. */
	assert_int_equal(ca_wr_err(&w), CA_PE_OK);
	assert_int_equal(ca_msg_encode(&ok, &w), CA_PE_OK);
	assert_int_equal(w.len, 2 * len);
	free(before);
	ca_wr_free(&w);
	free(big);
}

static void
test_encode_over_frame_max(void **state)
{
	/*
	 * Every field is within its own cap, yet the whole would not fit a
	 * frame: a KEYS_REPLY of keys with empty strings, each
	 * 4 * 4 (strings) + 1 + 4 + 4 + 1 + 3 * 4 (blobs) = 38 bytes plus its
	 * certificate, after type 1 + id 4 + count 4 = 9 bytes.
	 */
	const size_t fixed = 9, per_key = 38, nkeys = 64;
	struct ca_msg m = { .type = CA_MSG_KEYS_REPLY, .id = 3 };
	struct ca_key *keys = calloc(nkeys, sizeof(*keys));
	uint8_t *cert = calloc(1, CA_CERT_MAX);
	size_t used, blen, i;
	struct ca_wr w;

	(void)state;
	assert_non_null(keys);
	assert_non_null(cert);
	for (i = 0; i < nkeys; i++) {
		keys[i].type = CA_KEY_RSA;
		keys[i].cert = cert;
		keys[i].cert_len = CA_CERT_MAX;
	}
	used = fixed + (nkeys - 1) * (per_key + CA_CERT_MAX);
	keys[nkeys - 1].cert_len = CA_FRAME_MAX - used - per_key;
	m.u.list.keys = keys;
	m.u.list.nkeys = nkeys;
	/* The writer would allow more; the frame cap must still hold. */
	ca_wr_init(&w, 4 * (size_t)CA_FRAME_MAX);
	assert_int_equal(ca_msg_encode(&m, &w), CA_PE_OK);
	assert_int_equal(ca_frame_check(w.p, w.len, &blen), CA_PE_OK);
	assert_int_equal(blen, CA_FRAME_MAX);
	ca_wr_reset(&w);
	keys[nkeys - 1].spki = cert;
	keys[nkeys - 1].spki_len = 1;
	assert_int_equal(ca_msg_encode(&m, &w), CA_PE_TOO_LONG);
	assert_int_equal(w.len, 0);
	assert_int_equal(ca_wr_err(&w), CA_PE_OK);
	ca_wr_free(&w);
	free(cert);
	free(keys);
}

static void
test_encode_bad_type(void **state)
{
	static const uint8_t bad[] = { 0x00, 0x0a, 0x43, 0x87, 0xff };
	struct ca_msg m;
	struct ca_wr w;
	size_t i;

	(void)state;
	wr_frame(&w);
	for (i = 0; i < NELEM(bad); i++) {
		memset(&m, 0, sizeof(m));
		m.type = bad[i];
		assert_int_equal(ca_msg_encode(&m, &w), CA_PE_BAD_VALUE);
		assert_int_equal(w.len, 0);
		assert_int_equal(ca_wr_err(&w), CA_PE_OK);
	}
	ca_wr_free(&w);
}

static void
test_encode_sticky_writer(void **state)
{
	struct ca_msg m = { .type = CA_MSG_OK, .id = 1 };
	struct ca_wr w;

	(void)state;
	/* A writer already in error refuses, reporting its own error. */
	ca_wr_init(&w, 2);
	ca_wr_u32(&w, 0);
	assert_int_equal(ca_wr_err(&w), CA_PE_TOO_LONG);
	assert_int_equal(ca_msg_encode(&m, &w), CA_PE_TOO_LONG);
	assert_int_equal(w.len, 0);
	ca_wr_free(&w);
}

/* ---- every strict prefix of a valid body fails cleanly ---- */

/*
 * Each prefix is decoded from its own exact-size heap copy; each must fail
 * as truncated, and leave m all zeroes with nothing allocated. One byte
 * too many must fail as trailing.
 */
static void
check_prefixes(const struct ca_msg *m)
{
	struct ca_msg out;
	struct ca_wr w;
	size_t blen, n;
	uint8_t *b;
	enum ca_perr e;

	wr_frame(&w);
	assert_int_equal(ca_msg_encode(m, &w), CA_PE_OK);
	blen = w.len - CA_FRAME_HDR;
	for (n = 0; n < blen; n++) {
		b = exact(w.p + CA_FRAME_HDR, n);
		memset(&out, 0xa5, sizeof(out));
		e = ca_msg_decode(b, n, &out);
		free(b);
		if (e != CA_PE_TRUNCATED)
			fail_msg("type 0x%02x: prefix %zu of %zu: got \"%s\"",
			    m->type, n, blen, ca_perr_str(e));
		assert_int_equal(out.type, 0);
		assert_true(all_zero(&out, sizeof(out)));
	}
	ca_wr_u8(&w, 0);
	b = exact(w.p + CA_FRAME_HDR, blen + 1);
	ca_wr_free(&w);
	memset(&out, 0xa5, sizeof(out));
	e = ca_msg_decode(b, blen + 1, &out);
	free(b);
	assert_int_equal(e, CA_PE_TRAILING);
	assert_true(all_zero(&out, sizeof(out)));
}

static void
test_prefixes_sign(void **state)
{
	uint8_t digest[32], label[] = { 'l', 'b' };
	struct ca_msg m = { .type = CA_MSG_SIGN, .id = 0x0a0b0c0d };

	(void)state;
	memset(digest, 0x77, sizeof(digest));
	m.u.op.key_id = "key-1";
	m.u.op.alg = CA_ALG_RSA_PSS;
	m.u.op.hash = CA_HASH_SHA256;
	m.u.op.mgf = CA_HASH_SHA256;
	m.u.op.salt = 32;
	m.u.op.label = label;
	m.u.op.label_len = sizeof(label);
	m.u.op.data = digest;
	m.u.op.len = sizeof(digest);
	m.u.op.pin = ca_secret_dup("2468", 4);
	assert_non_null(m.u.op.pin);
	check_prefixes(&m);
	ca_secret_free(m.u.op.pin);
}

/* The other types too: list prefixes stop inside partly built arrays. */
static void
test_prefixes_all_types(void **state)
{
	uint8_t data[4] = { 1, 2, 3, 4 };
	struct ca_secret *s = ca_secret_dup("pin", 3);
	struct ca_msg m;

	(void)state;
	assert_non_null(s);
#define P(t, ...) do { \
		memset(&m, 0, sizeof(m)); \
		m.type = (t); \
		m.id = 5; \
		__VA_ARGS__; \
		check_prefixes(&m); \
	} while (0)
	P(CA_MSG_HELLO, m.u.hello.name = "n");
	P(CA_MSG_HELLO_REPLY, m.u.hello_reply.agent = "a");
	P(CA_MSG_ERROR, m.u.error.text = "t");
	P(CA_MSG_STATUS);
	P(CA_MSG_LIST_KEYS);
	P(CA_MSG_DECRYPT, m.u.op.data = data; m.u.op.len = 4; m.u.op.pin = s);
	P(CA_MSG_DERIVE, m.u.op.data = data; m.u.op.len = 4);
	P(CA_MSG_LOGIN, m.u.login.token_id = "t"; m.u.login.pin = s);
	P(CA_MSG_LOCK, m.u.login.token_id = "t");
	P(CA_MSG_HOST_REFRESH);
	P(CA_MSG_HOST_POLL);
	P(CA_MSG_WATCH);
	P(CA_MSG_OK);
	P(CA_MSG_STATUS_REPLY, m.u.list.tokens = tokens2;
	    m.u.list.ntokens = 2);
	P(CA_MSG_KEYS_REPLY, m.u.list.keys = keys2; m.u.list.nkeys = 2);
	P(CA_MSG_HOST_INDEX, m.u.list.tokens = tokens2; m.u.list.ntokens = 2;
	    m.u.list.keys = keys2; m.u.list.nkeys = 2);
	P(CA_MSG_SIGNATURE, m.u.sig.data = data; m.u.sig.len = 4);
	P(CA_MSG_SECRET, m.u.secret = s);
#undef P
	ca_secret_free(s);
}

/* ---- malformed input tables ---- */

struct row {
	const char *name;
	const uint8_t *bytes;
	size_t len;
	enum ca_perr want;
};

#define U32(v) (uint8_t)((uint32_t)(v) >> 24), (uint8_t)((uint32_t)(v) >> 16), \
	(uint8_t)((uint32_t)(v) >> 8), (uint8_t)(v)
#define ROW(n, w, ...) { n, (const uint8_t[]){ __VA_ARGS__ }, \
	sizeof((const uint8_t[]){ __VA_ARGS__ }), w }
#define E U32(0)			/* an empty string or bytes field */
#define S1 U32(1), 'x'			/* a one-byte string */
#define HDR(t) (t), U32(7)		/* type and request id */
#define TOKEN_MIN E, E, E, E, E, E, E, U32(0)		/* 32 bytes */
#define KEY_MIN(t) E, E, E, E, (t), U32(256), U32(1), 0, E, E, E /* 38 */
#define SIGN_HEAD HDR(CA_MSG_SIGN), S1, CA_ALG_ECDSA, CA_HASH_SHA256, 0, \
	U32(0)

/* Whole frames (header included), as ca_frame_check sees them. */
static struct row frame_rows[] = {
	{ "frame: no bytes", NULL, 0, CA_PE_INCOMPLETE },
	ROW("frame: partial header", CA_PE_INCOMPLETE, 0, 0, 0),
	ROW("frame: length 0", CA_PE_TOO_LONG, U32(0)),
	ROW("frame: length 0, bytes follow", CA_PE_TOO_LONG,
	    U32(0), HDR(CA_MSG_OK)),
	ROW("frame: length CA_FRAME_MAX+1", CA_PE_TOO_LONG,
	    U32(CA_FRAME_MAX + 1)),
	ROW("frame: length 0x80000000", CA_PE_TOO_LONG, U32(0x80000000u)),
	ROW("frame: length 0xffffffff", CA_PE_TOO_LONG, U32(0xffffffffu)),
	ROW("frame: header only", CA_PE_INCOMPLETE, U32(5)),
	ROW("frame: partial body", CA_PE_INCOMPLETE, U32(5), CA_MSG_OK, 0, 0),
	ROW("frame: body one byte short", CA_PE_INCOMPLETE,
	    U32(5), CA_MSG_OK, 0, 0, 0),
	ROW("frame: length CA_FRAME_MAX, body short", CA_PE_INCOMPLETE,
	    U32(CA_FRAME_MAX), HDR(CA_MSG_OK)),
};

/* Frame bodies, as ca_msg_decode sees them. */
static struct row body_rows[] = {
	/* truncated in each field kind */
	{ "trunc u8: empty body (type)", NULL, 0, CA_PE_TRUNCATED },
	ROW("trunc u32: request id", CA_PE_TRUNCATED, CA_MSG_OK, 0, 0, 0),
	ROW("trunc u32: HELLO vmin missing", CA_PE_TRUNCATED,
	    HDR(CA_MSG_HELLO)),
	ROW("trunc u32: HELLO vmax partial", CA_PE_TRUNCATED,
	    HDR(CA_MSG_HELLO), U32(1), 0, 0, 0),
	ROW("trunc u32: ERROR code partial", CA_PE_TRUNCATED,
	    HDR(CA_MSG_ERROR), 0),
	ROW("trunc u8: SIGN alg", CA_PE_TRUNCATED, HDR(CA_MSG_SIGN), S1),
	ROW("trunc u8: SIGN mgf", CA_PE_TRUNCATED,
	    HDR(CA_MSG_SIGN), S1, CA_ALG_ECDSA, CA_HASH_SHA256),
	ROW("trunc u32: SIGN salt", CA_PE_TRUNCATED,
	    HDR(CA_MSG_SIGN), S1, CA_ALG_ECDSA, CA_HASH_SHA256, 0, 0, 0),
	ROW("trunc str length: HELLO name", CA_PE_TRUNCATED,
	    HDR(CA_MSG_HELLO), U32(1), U32(1), 0, 0),
	ROW("trunc str body: HELLO name", CA_PE_TRUNCATED,
	    HDR(CA_MSG_HELLO), U32(1), U32(1), U32(4), 'a', 'b'),
	ROW("trunc str body: ERROR text", CA_PE_TRUNCATED,
	    HDR(CA_MSG_ERROR), U32(1), U32(2), 'a'),
	ROW("trunc str length: LOCK token id", CA_PE_TRUNCATED,
	    HDR(CA_MSG_LOCK)),
	ROW("trunc str body: SIGN key id", CA_PE_TRUNCATED,
	    HDR(CA_MSG_SIGN), U32(3), 'k'),
	ROW("trunc bytes length: SIGN label", CA_PE_TRUNCATED,
	    SIGN_HEAD, 0, 0),
	ROW("trunc bytes body: SIGN data", CA_PE_TRUNCATED,
	    SIGN_HEAD, E, U32(32), 1, 2, 3),
	ROW("trunc secret length: SIGN pin", CA_PE_TRUNCATED,
	    SIGN_HEAD, E, S1),
	ROW("trunc secret body: SIGN pin", CA_PE_TRUNCATED,
	    SIGN_HEAD, E, S1, U32(4), '1', '2'),
	ROW("trunc secret length: LOGIN pin", CA_PE_TRUNCATED,
	    HDR(CA_MSG_LOGIN), S1, 0),
	ROW("trunc bytes body: SIGNATURE", CA_PE_TRUNCATED,
	    HDR(CA_MSG_SIGNATURE), U32(8), 1, 2, 3, 4),
	ROW("trunc secret body: SECRET", CA_PE_TRUNCATED,
	    HDR(CA_MSG_SECRET), U32(2), 1),
	ROW("trunc u32: STATUS_REPLY count", CA_PE_TRUNCATED,
	    HDR(CA_MSG_STATUS_REPLY), 0, 0),
	/* 5 + 6*4 + 3 = 32: passes the count check, fails in flags. */
	ROW("trunc u32: token flags", CA_PE_TRUNCATED,
	    HDR(CA_MSG_STATUS_REPLY), U32(1), S1, E, E, E, E, E, E, 0, 0, 0),
	/* 4 + 22 + 3*4 = 38: passes the count check, stops at the type. */
	ROW("trunc u8: key type", CA_PE_TRUNCATED,
	    HDR(CA_MSG_KEYS_REPLY), U32(1), U32(22), 'a', 'a', 'a', 'a', 'a',
	    'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a',
	    'a', 'a', 'a', 'a', E, E, E),
	ROW("trunc bytes body: key spki", CA_PE_TRUNCATED,
	    HDR(CA_MSG_KEYS_REPLY), U32(1), E, E, E, E, CA_KEY_EC, U32(256),
	    U32(1), 0, E, E, U32(2), 0x30),
	ROW("trunc u32: HOST_INDEX key count", CA_PE_TRUNCATED,
	    HDR(CA_MSG_HOST_INDEX), U32(0), 0, 0),
	ROW("trunc u32: HOST_INDEX key count after a token", CA_PE_TRUNCATED,
	    HDR(CA_MSG_HOST_INDEX), U32(1), TOKEN_MIN),

	/* unknown message types */
	ROW("bad value: type 0x00", CA_PE_BAD_VALUE, HDR(0x00)),
	ROW("bad value: type 0x0a", CA_PE_BAD_VALUE, HDR(0x0a)),
	ROW("bad value: type 0x3f", CA_PE_BAD_VALUE, HDR(0x3f)),
	ROW("bad value: type 0x43", CA_PE_BAD_VALUE, HDR(0x43)),
	ROW("bad value: type 0x87", CA_PE_BAD_VALUE, HDR(0x87)),
	ROW("bad value: type 0xff with body", CA_PE_BAD_VALUE,
	    HDR(0xff), 1, 2, 3),

	/* lengths over their caps; only the prefix need be present */
	ROW("too long: HELLO name CA_STR_MAX+1", CA_PE_TOO_LONG,
	    HDR(CA_MSG_HELLO), U32(1), U32(1), U32(CA_STR_MAX + 1)),
	ROW("too long: ERROR text 0xffffffff", CA_PE_TOO_LONG,
	    HDR(CA_MSG_ERROR), U32(1), U32(0xffffffffu)),
	ROW("too long: SIGN key id CA_STR_MAX+1", CA_PE_TOO_LONG,
	    HDR(CA_MSG_SIGN), U32(CA_STR_MAX + 1), 'k'),
	ROW("too long: SIGN label CA_DATA_MAX+1", CA_PE_TOO_LONG,
	    SIGN_HEAD, U32(CA_DATA_MAX + 1)),
	ROW("too long: SIGN data CA_DATA_MAX+1", CA_PE_TOO_LONG,
	    SIGN_HEAD, E, U32(CA_DATA_MAX + 1)),
	ROW("too long: DECRYPT data CA_DATA_MAX+1", CA_PE_TOO_LONG,
	    HDR(CA_MSG_DECRYPT), S1, CA_ALG_RSA_OAEP, 1, 1, U32(0), E,
	    U32(CA_DATA_MAX + 1)),
	ROW("too long: SIGN pin CA_PIN_MAX+1", CA_PE_TOO_LONG,
	    SIGN_HEAD, E, S1, U32(CA_PIN_MAX + 1)),
	ROW("too long: LOGIN pin CA_PIN_MAX+1", CA_PE_TOO_LONG,
	    HDR(CA_MSG_LOGIN), E, U32(CA_PIN_MAX + 1)),
	ROW("too long: SIGNATURE CA_DATA_MAX+1", CA_PE_TOO_LONG,
	    HDR(CA_MSG_SIGNATURE), U32(CA_DATA_MAX + 1)),
	ROW("too long: SECRET CA_DATA_MAX+1", CA_PE_TOO_LONG,
	    HDR(CA_MSG_SECRET), U32(CA_DATA_MAX + 1)),
	ROW("too long: key ckaid CA_STR_MAX+1", CA_PE_TOO_LONG,
	    HDR(CA_MSG_KEYS_REPLY), U32(1), E, E, E, E, CA_KEY_EC, U32(256),
	    U32(1), 0, U32(CA_STR_MAX + 1), E, E),
	ROW("too long: key cert CA_CERT_MAX+1", CA_PE_TOO_LONG,
	    HDR(CA_MSG_KEYS_REPLY), U32(1), E, E, E, E, CA_KEY_EC, U32(256),
	    U32(1), 0, E, U32(CA_CERT_MAX + 1), E),
	ROW("too long: token label CA_STR_MAX+1", CA_PE_TOO_LONG,
	    HDR(CA_MSG_STATUS_REPLY), U32(1), E, U32(CA_STR_MAX + 1), E, E,
	    E, E, E, U32(0)),
	ROW("too long: STATUS_REPLY count CA_LIST_MAX+1", CA_PE_TOO_LONG,
	    HDR(CA_MSG_STATUS_REPLY), U32(CA_LIST_MAX + 1)),
	ROW("too long: KEYS_REPLY count CA_LIST_MAX+1", CA_PE_TOO_LONG,
	    HDR(CA_MSG_KEYS_REPLY), U32(CA_LIST_MAX + 1), KEY_MIN(1)),
	ROW("too long: KEYS_REPLY count 0xffffffff", CA_PE_TOO_LONG,
	    HDR(CA_MSG_KEYS_REPLY), U32(0xffffffffu)),
	ROW("too long: HOST_INDEX key count CA_LIST_MAX+1", CA_PE_TOO_LONG,
	    HDR(CA_MSG_HOST_INDEX), U32(0), U32(CA_LIST_MAX + 1)),

	/* counts the remaining bytes cannot hold: refused before calloc */
	ROW("count > remaining: KEYS_REPLY CA_LIST_MAX, one key",
	    CA_PE_TRUNCATED,
	    HDR(CA_MSG_KEYS_REPLY), U32(CA_LIST_MAX), KEY_MIN(CA_KEY_RSA)),
	ROW("count > remaining: KEYS_REPLY 2, one key", CA_PE_TRUNCATED,
	    HDR(CA_MSG_KEYS_REPLY), U32(2), KEY_MIN(CA_KEY_RSA)),
	ROW("count > remaining: KEYS_REPLY 1, 37 bytes", CA_PE_TRUNCATED,
	    HDR(CA_MSG_KEYS_REPLY), U32(1), E, E, E, E, CA_KEY_EC, U32(256),
	    U32(1), 0, E, E, 0, 0, 0),
	ROW("count > remaining: STATUS_REPLY 1, 31 bytes", CA_PE_TRUNCATED,
	    HDR(CA_MSG_STATUS_REPLY), U32(1), E, E, E, E, E, E, E, 0, 0, 0),
	ROW("count > remaining: STATUS_REPLY CA_LIST_MAX, none",
	    CA_PE_TRUNCATED, HDR(CA_MSG_STATUS_REPLY), U32(CA_LIST_MAX)),
	ROW("count > remaining: HOST_INDEX keys", CA_PE_TRUNCATED,
	    HDR(CA_MSG_HOST_INDEX), U32(1), TOKEN_MIN, U32(3),
	    KEY_MIN(CA_KEY_EC)),

	/* bytes after the last field */
	ROW("trailing: OK + 1", CA_PE_TRAILING, HDR(CA_MSG_OK), 0),
	ROW("trailing: STATUS + 4", CA_PE_TRAILING,
	    HDR(CA_MSG_STATUS), U32(0)),
	ROW("trailing: HELLO + 1", CA_PE_TRAILING,
	    HDR(CA_MSG_HELLO), U32(1), U32(1), S1, 0),
	ROW("trailing: SIGN + 1", CA_PE_TRAILING, SIGN_HEAD, E, S1, E, 0xff),
	ROW("trailing: LOCK + 1", CA_PE_TRAILING, HDR(CA_MSG_LOCK), E, 0),
	ROW("trailing: KEYS_REPLY count 0 + 1", CA_PE_TRAILING,
	    HDR(CA_MSG_KEYS_REPLY), U32(0), 0),
	ROW("trailing: STATUS_REPLY one token + 1", CA_PE_TRAILING,
	    HDR(CA_MSG_STATUS_REPLY), U32(1), TOKEN_MIN, 0),
	ROW("trailing: HOST_INDEX + 4", CA_PE_TRAILING,
	    HDR(CA_MSG_HOST_INDEX), U32(0), U32(0), U32(0)),

	/* fields holding values they may not */
	ROW("bad value: key type 0", CA_PE_BAD_VALUE,
	    HDR(CA_MSG_KEYS_REPLY), U32(1), KEY_MIN(0)),
	ROW("bad value: key type 3", CA_PE_BAD_VALUE,
	    HDR(CA_MSG_KEYS_REPLY), U32(1), KEY_MIN(3)),
	ROW("bad value: second key type 0xff", CA_PE_BAD_VALUE,
	    HDR(CA_MSG_KEYS_REPLY), U32(2), KEY_MIN(CA_KEY_RSA),
	    KEY_MIN(0xff)),
	ROW("bad value: HOST_INDEX key type 0", CA_PE_BAD_VALUE,
	    HDR(CA_MSG_HOST_INDEX), U32(1), TOKEN_MIN, U32(1), KEY_MIN(0)),
	ROW("bad value: HELLO name embedded NUL", CA_PE_BAD_VALUE,
	    HDR(CA_MSG_HELLO), U32(1), U32(1), U32(3), 'a', 0, 'b'),
	ROW("bad value: ERROR text trailing NUL", CA_PE_BAD_VALUE,
	    HDR(CA_MSG_ERROR), U32(1), U32(2), 'a', 0),
	ROW("bad value: SIGN key id leading NUL", CA_PE_BAD_VALUE,
	    HDR(CA_MSG_SIGN), U32(2), 0, 'k'),
	ROW("bad value: LOGIN token id NUL", CA_PE_BAD_VALUE,
	    HDR(CA_MSG_LOGIN), U32(1), 0, E),
	ROW("bad value: token model embedded NUL", CA_PE_BAD_VALUE,
	    HDR(CA_MSG_STATUS_REPLY), U32(1), E, E, E, U32(3), 'a', 0, 'b',
	    E, E, E, U32(0)),
	ROW("bad value: second token uri NUL", CA_PE_BAD_VALUE,
	    HDR(CA_MSG_STATUS_REPLY), U32(2), TOKEN_MIN, E, E, E, E, E,
	    U32(1), 0, E, U32(0)),
	ROW("bad value: key uri embedded NUL", CA_PE_BAD_VALUE,
	    HDR(CA_MSG_KEYS_REPLY), U32(1), E, E, E, U32(2), 0, 0,
	    CA_KEY_EC, U32(256), U32(1), 0, E, E, E),
};

static void
test_frame_row(void **state)
{
	const struct row *row = *state;
	uint8_t *b = exact(row->bytes, row->len);
	size_t blen = 12345;
	enum ca_perr e;

	e = ca_frame_check(b, row->len, &blen);
	free(b);
	if (e != row->want)
		fail_msg("%s: got \"%s\", want \"%s\"", row->name,
		    ca_perr_str(e), ca_perr_str(row->want));
	/* A frame that is not (yet) a frame reports no length. */
	assert_int_equal(blen, 12345);
}

static void
test_body_row(void **state)
{
	const struct row *row = *state;
	uint8_t *b = exact(row->bytes, row->len);
	struct ca_msg m;
	enum ca_perr e;
	size_t big;

	memset(&m, 0xa5, sizeof(m));
	watch_start();
	e = ca_msg_decode(b, row->len, &m);
	big = watch_stop();
	free(b);
	if (e != row->want)
		fail_msg("%s: got \"%s\", want \"%s\"", row->name,
		    ca_perr_str(e), ca_perr_str(row->want));
	/*
	 * Memory must stay proportional to the input: a list entry's struct
	 * is under 3x its minimum wire size, a string's copy 1 byte over.
	 * A forged count that reached calloc() would break this.
	 */
	if (big > 3 * row->len + 16)
		fail_msg("%s: allocated %zu bytes for a %zu-byte body",
		    row->name, big, row->len);
	assert_int_equal(m.type, 0);
	assert_true(all_zero(&m, sizeof(m)));
}

/* ---- names and codes ---- */

static void
test_hash(void **state)
{
	static const struct {
		uint8_t h;
		const char *name;
		size_t len;
	} want[] = {
		{ CA_HASH_SHA1, "sha1", 20 },
		{ CA_HASH_SHA224, "sha224", 28 },
		{ CA_HASH_SHA256, "sha256", 32 },
		{ CA_HASH_SHA384, "sha384", 48 },
		{ CA_HASH_SHA512, "sha512", 64 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(want); i++) {
		assert_int_equal(ca_hash_len(want[i].h), want[i].len);
		assert_string_equal(ca_hash_name(want[i].h), want[i].name);
		assert_int_equal(ca_hash_from_name(want[i].name), want[i].h);
	}
	assert_int_equal(ca_hash_len(CA_HASH_NONE), 0);
	assert_int_equal(ca_hash_len(6), 0);
	assert_int_equal(ca_hash_len(255), 0);
	assert_null(ca_hash_name(6));
	assert_null(ca_hash_name(255));
	/* Names from config files and command lines: case does not matter. */
	assert_int_equal(ca_hash_from_name("SHA256"), CA_HASH_SHA256);
	assert_int_equal(ca_hash_from_name("Sha512"), CA_HASH_SHA512);
	assert_int_equal(ca_hash_from_name("none"), CA_HASH_NONE);
	assert_int_equal(ca_hash_from_name(""), -1);
	assert_int_equal(ca_hash_from_name("sha3-256"), -1);
	assert_int_equal(ca_hash_from_name("sha2"), -1);
	assert_int_equal(ca_hash_from_name("sha256 "), -1);
	assert_int_equal(ca_hash_from_name("md5"), -1);
}

static void
test_status_str(void **state)
{
	uint32_t s, t;

	(void)state;
	assert_string_equal(ca_status_str(CA_OK), "success");
	assert_string_equal(ca_status_str(CA_E_PIN_INCORRECT),
	    "PIN incorrect");
	/* Every defined code has its own text; unknown ones share one. */
	for (s = CA_OK; s <= CA_E_DENIED; s++) {
		assert_non_null(ca_status_str(s));
		assert_string_not_equal(ca_status_str(s), "unknown error");
		for (t = CA_OK; t < s; t++)
			assert_string_not_equal(ca_status_str(s),
			    ca_status_str(t));
	}
	assert_string_equal(ca_status_str(CA_E_DENIED + 1), "unknown error");
	assert_string_equal(ca_status_str(0xffffffffu), "unknown error");
}

/* ---- deep copies of list entries ---- */

static void
test_copy(void **state)
{
	struct ca_token t;
	struct ca_key k;
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		memset(&t, 0xa5, sizeof(t));
		assert_int_equal(ca_token_copy(&t, &tokens2[i]), CA_PE_OK);
		assert_ptr_not_equal(t.id, tokens2[i].id);
		/* NULL stays NULL in a copy (unlike on the wire). */
		if (tokens2[i].manufacturer == NULL)
			assert_null(t.manufacturer);
		else
			assert_string_equal(t.manufacturer,
			    tokens2[i].manufacturer);
		assert_string_equal(t.uri, tokens2[i].uri);
		assert_int_equal(t.flags, tokens2[i].flags);
		ca_token_clear(&t);
		assert_true(all_zero(&t, sizeof(t)));

		memset(&k, 0xa5, sizeof(k));
		assert_int_equal(ca_key_copy(&k, &keys2[i]), CA_PE_OK);
		check_key(&keys2[i], &k);
		assert_ptr_not_equal(k.spki, keys2[i].spki);
		ca_key_clear(&k);
		assert_true(all_zero(&k, sizeof(k)));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rt_hello),
		cmocka_unit_test(test_rt_hello_reply),
		cmocka_unit_test(test_rt_error),
		cmocka_unit_test(test_rt_empty_bodies),
		cmocka_unit_test(test_rt_sign_pin_label),
		cmocka_unit_test(test_rt_sign_no_pin),
		cmocka_unit_test(test_rt_decrypt),
		cmocka_unit_test(test_rt_derive),
		cmocka_unit_test(test_rt_login),
		cmocka_unit_test(test_rt_login_no_pin),
		cmocka_unit_test(test_rt_lock),
		cmocka_unit_test(test_rt_status_reply),
		cmocka_unit_test(test_rt_keys_reply),
		cmocka_unit_test(test_rt_host_index),
		cmocka_unit_test(test_rt_signature),
		cmocka_unit_test(test_rt_secret),
		cmocka_unit_test(test_limits_exact),
		cmocka_unit_test(test_limits_list_max),
		cmocka_unit_test(test_frame_check_max),
		cmocka_unit_test(test_pipelined_frames),
		cmocka_unit_test(test_encode_over_writer_max),
		cmocka_unit_test(test_encode_over_frame_max),
		cmocka_unit_test(test_encode_bad_type),
		cmocka_unit_test(test_encode_sticky_writer),
		cmocka_unit_test(test_prefixes_sign),
		cmocka_unit_test(test_prefixes_all_types),
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_status_str),
		cmocka_unit_test(test_copy),
	};
	/* One named test per table row, so a failure names its input. */
	static struct CMUnitTest frame_tests[NELEM(frame_rows)];
	static struct CMUnitTest body_tests[NELEM(body_rows)];
	size_t i;
	int failed = 0;

	watch_install();
	for (i = 0; i < NELEM(frame_rows); i++)
		frame_tests[i] = (struct CMUnitTest){ frame_rows[i].name,
		    test_frame_row, NULL, NULL, &frame_rows[i] };
	for (i = 0; i < NELEM(body_rows); i++)
		body_tests[i] = (struct CMUnitTest){ body_rows[i].name,
		    test_body_row, NULL, NULL, &body_rows[i] };

	failed += cmocka_run_group_tests_name("msg", tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("malformed frames", frame_tests,
	    NULL, NULL);
	failed += cmocka_run_group_tests_name("malformed bodies", body_tests,
	    NULL, NULL);
	return failed != 0;
}
