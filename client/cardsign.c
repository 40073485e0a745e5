/*
 * cardsign: command-line client of cardagent. See cardsign(1).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cardagent.h"
#include "secret.h"

/* Exit codes: distinct per failure class so scripts can tell them apart. */
enum {
	EX_OK = 0,
	EX_FAIL = 1,
	EX_USAGE = 2,
	EX_NOAGENT = 3,
	EX_NOKEY = 4,
	EX_PIN_INCORRECT = 5,
	EX_PIN_LOCKED = 6,
	EX_TOKEN_ABSENT = 7,
	EX_NOT_ALLOWED = 8,
	EX_CANCELLED = 9,
	EX_TOKEN_FAILED = 10,
};

static const char *sock_path;
static int json;

static void
usage(FILE *f)
{
	fprintf(f,
"usage: cardsign [--socket PATH] COMMAND [OPTIONS]\n"
"\n"
"commands:\n"
"  status [--json]                 tokens, presence and login state\n"
"  keys [--json]                   keys with ids, URIs and certificates\n"
"  login [--token ID] [--pin-stdin]  log in (the agent asks for the PIN\n"
"                                  unless --pin-stdin gives it)\n"
"  lock [--token ID]               log out and forget PINs\n"
"  sign-digest --key SEL --hash sha256|sha384|sha512 [--pss] --in DIGEST -o SIG\n"
"  unwrap --key SEL [--oaep sha1|sha256] --in WRAPPED -o KEY\n"
"  derive --key SEL --peer PEER_PUBKEY.pem -o SECRET\n"
"\n"
"SEL is a key id from 'cardsign keys', a PKCS#11 URI or an e-mail address.\n"
"The agent is found through --socket or CARDAGENT_SOCK.\n"
"\n"
"exit status: 0 ok, 1 failure, 2 usage, 3 no agent, 4 no such key,\n"
"5 PIN incorrect, 6 PIN locked, 7 token absent, 8 not allowed by the key,\n"
"9 cancelled or no PIN, 10 token failed or timed out\n");
}

static int
exit_code(int status)
{
	switch (status) {
	case CA_OK:
		return EX_OK;
	case CAC_E_NO_AGENT:
		return EX_NOAGENT;
	case CA_E_NO_KEY:
		return EX_NOKEY;
	case CA_E_PIN_INCORRECT:
		return EX_PIN_INCORRECT;
	case CA_E_PIN_LOCKED:
		return EX_PIN_LOCKED;
	case CA_E_TOKEN_ABSENT:
		return EX_TOKEN_ABSENT;
	case CA_E_NOT_ALLOWED:
		return EX_NOT_ALLOWED;
	case CA_E_CANCELLED:
	case CA_E_PIN_REQUIRED:
		return EX_CANCELLED;
	case CA_E_TOKEN_FAILED:
	case CA_E_TOKEN_TIMEOUT:
		return EX_TOKEN_FAILED;
	default:
		return EX_FAIL;
	}
}

static int
fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("cardsign: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return exit_code(status);
}

static int
usage_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
usage_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("cardsign: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EX_USAGE;
}

static int
connect_agent(struct cac **c)
{
	char err[512];
	int r;

	if ((r = cac_connect(sock_path, c, err, sizeof(err))) != CA_OK)
		return fail(r, "%s", err);
	return EX_OK;
}

/* Reads a whole (small) file; *len bytes into a malloc()ed buffer. */
static int
read_file(const char *path, uint8_t **buf, size_t *len, size_t max)
{
	FILE *f;
	size_t n;

	if ((f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rbe")) == NULL)
		return -1;
	if ((*buf = malloc(max + 1)) == NULL) {
		if (f != stdin)
			fclose(f);
		return -1;
	}
	n = fread(*buf, 1, max + 1, f);
	if (f != stdin)
		fclose(f);
	if (n > max) {
		free(*buf);
		errno = EFBIG;
		return -1;
	}
	*len = n;
	return 0;
}

/*
 * Writes atomically: a reader never sees half a signature or key. Secret
 * outputs are created 0600.
 */
static int
write_file(const char *path, const uint8_t *p, size_t len, int secret)
{
	char tmp[PATH_MAX];
	int fd, saved;

	if (strcmp(path, "-") == 0)
		return fwrite(p, 1, len, stdout) == len && fflush(stdout) == 0 ?
		    0 : -1;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >=
	    sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = mkstemp(tmp)) == -1)
		return -1;
	if (!secret)
		(void)fchmod(fd, 0644 & ~umask(umask(0)));
	if (write(fd, p, len) != (ssize_t)len || fsync(fd) == -1 ||
	    close(fd) == -1 || rename(tmp, path) == -1) {
		saved = errno;
		(void)unlink(tmp);
		errno = saved;
		return -1;
	}
	return 0;
}

/* Reads a PIN line from stdin straight into locked memory. */
static struct ca_secret *
read_pin(void)
{
	struct ca_secret *pin;
	char c;
	ssize_t r;

	if ((pin = ca_secret_new(CA_PIN_MAX)) == NULL)
		return NULL;
	while ((r = read(0, &c, 1)) == 1 && c != '\n') {
		if (pin->len == pin->cap) {
			ca_secret_free(pin);
			return NULL;
		}
		pin->data[pin->len++] = (uint8_t)c;
	}
	explicit_bzero(&c, sizeof(c));
	if (pin->len > 0 && pin->data[pin->len - 1] == '\r')
		pin->len--;
	if (r < 0 || pin->len == 0) {
		ca_secret_free(pin);
		return NULL;
	}
	return pin;
}

static void
json_str(const char *s)
{
	const unsigned char *p;

	putchar('"');
	for (p = (const unsigned char *)(s ? s : ""); *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static void
token_flags(uint32_t f, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s%s%s",
	    (f & CA_TOK_HOST_DOWN) ? "module restarting" :
	    (f & CA_TOK_PRESENT) ? "present" : "absent",
	    (f & CA_TOK_LOGGED_IN) ? ", logged in" :
	    (f & CA_TOK_LOGIN_REQUIRED) ? ", locked" : "",
	    (f & CA_TOK_PROTECTED_PATH) ? ", PIN pad" : "",
	    (f & CA_TOK_PIN_COUNT_LOW) ? ", PIN tries low" : "",
	    (f & CA_TOK_PIN_FINAL_TRY) ? ", PIN final try" : "",
	    (f & CA_TOK_PIN_LOCKED) ? ", PIN LOCKED" : "");
}

static int
cmd_status(void)
{
	struct ca_token *t;
	struct cac *c;
	char flags[256];
	size_t n, i;
	int r;

	if ((r = connect_agent(&c)) != EX_OK)
		return r;
	if ((r = cac_status(c, &t, &n)) != CA_OK) {
		r = fail(r, "status: %s", cac_errmsg(c));
		cac_close(c);
		return r;
	}
	if (json)
		putchar('[');
	for (i = 0; i < n; i++) {
		token_flags(t[i].flags, flags, sizeof(flags));
		if (!json) {
			printf("%s  %s  (%s %s, serial %s)\n  %s\n  %s\n",
			    t[i].id, t[i].label, t[i].manufacturer,
			    t[i].model, t[i].serial, flags, t[i].uri);
			continue;
		}
		printf("%s{\"id\":", i ? "," : "");
		json_str(t[i].id);
		printf(",\"label\":");
		json_str(t[i].label);
		printf(",\"manufacturer\":");
		json_str(t[i].manufacturer);
		printf(",\"model\":");
		json_str(t[i].model);
		printf(",\"serial\":");
		json_str(t[i].serial);
		printf(",\"uri\":");
		json_str(t[i].uri);
		printf(",\"module\":");
		json_str(t[i].module);
		printf(",\"present\":%s,\"logged_in\":%s,\"login_required\":%s,"
		    "\"pin_count_low\":%s,\"pin_final_try\":%s,"
		    "\"pin_locked\":%s,\"module_down\":%s}",
#define B(x) ((t[i].flags & (x)) ? "true" : "false")
		    B(CA_TOK_PRESENT), B(CA_TOK_LOGGED_IN),
		    B(CA_TOK_LOGIN_REQUIRED), B(CA_TOK_PIN_COUNT_LOW),
		    B(CA_TOK_PIN_FINAL_TRY), B(CA_TOK_PIN_LOCKED),
		    B(CA_TOK_HOST_DOWN));
#undef B
	}
	if (json)
		printf("]\n");
	if (n == 0 && !json)
		printf("no tokens\n");
	cac_tokens_free(t, n);
	cac_close(c);
	return EX_OK;
}

static void
cert_names(const struct ca_key *k, char *subj, size_t slen, char *mail,
    size_t mlen)
{
	const unsigned char *p = k->cert;
	STACK_OF(OPENSSL_STRING) *emails;
	X509 *x;

	subj[0] = mail[0] = '\0';
	if (k->cert_len == 0 ||
	    (x = d2i_X509(NULL, &p, (long)k->cert_len)) == NULL)
		return;
	X509_NAME_oneline(X509_get_subject_name(x), subj, (int)slen);
	emails = X509_get1_email(x);
	if (sk_OPENSSL_STRING_num(emails) > 0)
		snprintf(mail, mlen, "%s", sk_OPENSSL_STRING_value(emails, 0));
	X509_email_free(emails);
	X509_free(x);
}

static int
cmd_keys(void)
{
	char subj[512], mail[256], ops[64];
	struct ca_key *k;
	struct cac *c;
	size_t n, i;
	int r;

	if ((r = connect_agent(&c)) != EX_OK)
		return r;
	if ((r = cac_list_keys(c, &k, &n)) != CA_OK) {
		r = fail(r, "keys: %s", cac_errmsg(c));
		cac_close(c);
		return r;
	}
	if (json)
		putchar('[');
	for (i = 0; i < n; i++) {
		cert_names(&k[i], subj, sizeof(subj), mail, sizeof(mail));
		snprintf(ops, sizeof(ops), "%s%s%s",
		    (k[i].ops & CA_OP_SIGN) ? "sign " : "",
		    (k[i].ops & CA_OP_DECRYPT) ? "decrypt " : "",
		    (k[i].ops & CA_OP_DERIVE) ? "derive " : "");
		if (!json) {
			printf("%s  %s-%u  %-7s %s%s\n  %s%s%s%s\n  %s\n",
			    k[i].id, k[i].type == CA_KEY_RSA ? "RSA" : "EC",
			    k[i].bits, ops, k[i].label,
			    k[i].always_auth ? "  (PIN every use)" : "",
			    subj, mail[0] ? " <" : "", mail,
			    mail[0] ? ">" : "", k[i].uri);
			continue;
		}
		printf("%s{\"id\":", i ? "," : "");
		json_str(k[i].id);
		printf(",\"token\":");
		json_str(k[i].token_id);
		printf(",\"label\":");
		json_str(k[i].label);
		printf(",\"uri\":");
		json_str(k[i].uri);
		printf(",\"type\":\"%s\",\"bits\":%u,\"sign\":%s,"
		    "\"decrypt\":%s,\"derive\":%s,\"always_authenticate\":%s",
		    k[i].type == CA_KEY_RSA ? "rsa" : "ec", k[i].bits,
		    (k[i].ops & CA_OP_SIGN) ? "true" : "false",
		    (k[i].ops & CA_OP_DECRYPT) ? "true" : "false",
		    (k[i].ops & CA_OP_DERIVE) ? "true" : "false",
		    k[i].always_auth ? "true" : "false");
		printf(",\"subject\":");
		json_str(subj);
		printf(",\"email\":");
		json_str(mail);
		printf(",\"has_certificate\":%s}", k[i].cert_len ? "true" :
		    "false");
	}
	if (json)
		printf("]\n");
	cac_keys_free(k, n);
	cac_close(c);
	return EX_OK;
}

static int
cmd_login(const char *token, int pin_stdin)
{
	struct ca_secret *pin = NULL;
	struct cac *c;
	int r;

	if (pin_stdin && (pin = read_pin()) == NULL)
		return usage_fail("no PIN on standard input");
	if ((r = connect_agent(&c)) != EX_OK) {
		ca_secret_free(pin);
		return r;
	}
	r = cac_login(c, token, pin);
	ca_secret_free(pin);
	if (r != CA_OK)
		r = fail(r, "login: %s", cac_errmsg(c));
	cac_close(c);
	return r;
}

static int
cmd_lock(const char *token)
{
	struct cac *c;
	int r;

	if ((r = connect_agent(&c)) != EX_OK)
		return r;
	if ((r = cac_lock(c, token)) != CA_OK)
		r = fail(r, "lock: %s", cac_errmsg(c));
	cac_close(c);
	return r;
}

/* Connects and resolves SEL to a key able to do need. */
static int
find_key(const char *sel, uint32_t need, struct cac **c, struct ca_key **k,
    size_t *n, size_t *idx)
{
	char err[512];
	int r;

	if ((r = connect_agent(c)) != EX_OK)
		return r;
	if ((r = cac_list_keys(*c, k, n)) != CA_OK) {
		r = fail(r, "keys: %s", cac_errmsg(*c));
		cac_close(*c);
		return r;
	}
	if ((r = cac_select_key(*k, *n, sel, need, idx, err, sizeof(err))) !=
	    CA_OK) {
		cac_keys_free(*k, *n);
		cac_close(*c);
		return fail(r, "%s", err);
	}
	return EX_OK;
}

struct opargs {
	const char *key, *in, *out, *hash, *oaep, *peer;
	int pss;
};

static int
cmd_sign(const struct opargs *a)
{
	struct cac_sign_params p = { 0 };
	uint8_t *digest = NULL, *sig = NULL;
	size_t dlen, slen, n, idx;
	struct ca_key *k;
	struct cac *c;
	int h, r;

	if (a->key == NULL || a->in == NULL || a->out == NULL ||
	    a->hash == NULL)
		return usage_fail("sign-digest needs --key, --hash, "
		    "--in and -o");
	if ((h = ca_hash_from_name(a->hash)) <= 0)
		return usage_fail("unknown hash '%s'", a->hash);
	if (read_file(a->in, &digest, &dlen, CA_DATA_MAX) == -1)
		return fail(CA_E_BAD_INPUT, "%s: %s", a->in, strerror(errno));
	if (dlen != ca_hash_len((uint8_t)h)) {
		free(digest);
		return fail(CA_E_BAD_INPUT, "%s holds %zu bytes; a %s digest "
		    "has %zu", a->in, dlen, a->hash,
		    ca_hash_len((uint8_t)h));
	}
	if ((r = find_key(a->key, CA_OP_SIGN, &c, &k, &n, &idx)) != EX_OK) {
		free(digest);
		return r;
	}
	p.hash = (uint8_t)h;
	if (k[idx].type == CA_KEY_EC)
		p.alg = CA_ALG_ECDSA;
	else if (a->pss) {
		p.alg = CA_ALG_RSA_PSS;
		p.salt = UINT32_MAX;
	} else
		p.alg = CA_ALG_RSA_PKCS1;
	r = cac_sign(c, k[idx].id, &p, digest, dlen, &sig, &slen);
	if (r != CA_OK)
		r = fail(r, "signing with %s failed: %s", k[idx].label,
		    cac_errmsg(c));
	else if (write_file(a->out, sig, slen, 0) == -1)
		r = fail(CA_E_INTERNAL, "%s: %s", a->out, strerror(errno));
	free(sig);
	free(digest);
	cac_keys_free(k, n);
	cac_close(c);
	return r;
}

static int
cmd_unwrap(const struct opargs *a)
{
	struct cac_decrypt_params p = { 0 };
	struct ca_secret *key = NULL;
	uint8_t *in = NULL;
	size_t len, n, idx;
	struct ca_key *k;
	struct cac *c;
	int h, r;

	if (a->key == NULL || a->in == NULL || a->out == NULL)
		return usage_fail("unwrap needs --key, --in and -o");
	p.alg = CA_ALG_RSA_PKCS1;
	if (a->oaep != NULL) {
		if ((h = ca_hash_from_name(a->oaep)) <= 0)
			return usage_fail("unknown hash '%s'",
			    a->oaep);
		p.alg = CA_ALG_RSA_OAEP;
		p.hash = (uint8_t)h;
	}
	if (read_file(a->in, &in, &len, CA_DATA_MAX) == -1)
		return fail(CA_E_BAD_INPUT, "%s: %s", a->in, strerror(errno));
	if ((r = find_key(a->key, CA_OP_DECRYPT, &c, &k, &n, &idx)) != EX_OK) {
		free(in);
		return r;
	}
	r = cac_decrypt(c, k[idx].id, &p, in, len, &key);
	if (r != CA_OK)
		r = fail(r, "unwrapping with %s failed: %s", k[idx].label,
		    cac_errmsg(c));
	else if (write_file(a->out, key->data, key->len, 1) == -1)
		r = fail(CA_E_INTERNAL, "%s: %s", a->out, strerror(errno));
	ca_secret_free(key);
	free(in);
	cac_keys_free(k, n);
	cac_close(c);
	return r;
}

/* The peer's public point, uncompressed, as the token wants it. */
static int
peer_point(const char *path, uint8_t *buf, size_t cap, size_t *len)
{
	EVP_PKEY *pk = NULL;
	FILE *f;
	int ok;

	if ((f = fopen(path, "re")) == NULL)
		return -1;
	pk = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	if (pk == NULL)
		return -1;
	ok = EVP_PKEY_is_a(pk, "EC") &&
	    EVP_PKEY_get_octet_string_param(pk,
	    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, buf, cap, len) == 1;
	EVP_PKEY_free(pk);
	return ok ? 0 : -1;
}

static int
cmd_derive(const struct opargs *a)
{
	struct ca_secret *z = NULL;
	uint8_t point[256];
	size_t plen, n, idx;
	struct ca_key *k;
	struct cac *c;
	int r;

	if (a->key == NULL || a->peer == NULL || a->out == NULL)
		return usage_fail("derive needs --key, --peer and "
		    "-o");
	if (peer_point(a->peer, point, sizeof(point), &plen) == -1)
		return fail(CA_E_BAD_INPUT, "%s: not an EC public key in PEM",
		    a->peer);
	if ((r = find_key(a->key, CA_OP_DERIVE, &c, &k, &n, &idx)) != EX_OK)
		return r;
	r = cac_derive(c, k[idx].id, point, plen, &z);
	if (r != CA_OK)
		r = fail(r, "deriving with %s failed: %s", k[idx].label,
		    cac_errmsg(c));
	else if (write_file(a->out, z->data, z->len, 1) == -1)
		r = fail(CA_E_INTERNAL, "%s: %s", a->out, strerror(errno));
	ca_secret_free(z);
	cac_keys_free(k, n);
	cac_close(c);
	return r;
}

int
main(int argc, char **argv)
{
	enum { O_JSON = 256, O_PIN_STDIN, O_TOKEN, O_KEY, O_HASH, O_PSS,
		O_IN, O_OAEP, O_PEER };
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, O_JSON },
		{ "pin-stdin", no_argument, NULL, O_PIN_STDIN },
		{ "token", required_argument, NULL, O_TOKEN },
		{ "key", required_argument, NULL, O_KEY },
		{ "hash", required_argument, NULL, O_HASH },
		{ "pss", no_argument, NULL, O_PSS },
		{ "in", required_argument, NULL, O_IN },
		{ "out", required_argument, NULL, 'o' },
		{ "oaep", required_argument, NULL, O_OAEP },
		{ "peer", required_argument, NULL, O_PEER },
		{ NULL, 0, NULL, 0 },
	};
	struct opargs a = { 0 };
	const char *cmd, *token = NULL;
	int ch, pin_stdin = 0;

	/* Options may stand before or after the command, as with git. */
	while ((ch = getopt_long(argc, argv, "+s:ho:", opts, NULL)) != -1) {
		if (ch == 's')
			sock_path = optarg;
		else if (ch == 'h') {
			usage(stdout);
			return EX_OK;
		} else {
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EX_USAGE;
	}
	cmd = argv[optind];
	optind++;
	while ((ch = getopt_long(argc, argv, "s:ho:", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			sock_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return EX_OK;
		case O_JSON:
			json = 1;
			break;
		case O_PIN_STDIN:
			pin_stdin = 1;
			break;
		case O_TOKEN:
			token = optarg;
			break;
		case O_KEY:
			a.key = optarg;
			break;
		case O_HASH:
			a.hash = optarg;
			break;
		case O_PSS:
			a.pss = 1;
			break;
		case O_IN:
			a.in = optarg;
			break;
		case 'o':
			a.out = optarg;
			break;
		case O_OAEP:
			a.oaep = optarg;
			break;
		case O_PEER:
			a.peer = optarg;
			break;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EX_USAGE;
	}
	if (strcmp(cmd, "status") == 0)
		return cmd_status();
	if (strcmp(cmd, "keys") == 0)
		return cmd_keys();
	if (strcmp(cmd, "login") == 0)
		return cmd_login(token, pin_stdin);
	if (strcmp(cmd, "lock") == 0)
		return cmd_lock(token);
	if (strcmp(cmd, "sign-digest") == 0)
		return cmd_sign(&a);
	if (strcmp(cmd, "unwrap") == 0)
		return cmd_unwrap(&a);
	if (strcmp(cmd, "derive") == 0)
		return cmd_derive(&a);
	fprintf(stderr, "cardsign: unknown command '%s'\n", cmd);
	usage(stderr);
	return EX_USAGE;
}
