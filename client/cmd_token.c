/*
 * cmd_token.c: cardsign status, keys, login and lock.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cardsign.h"
#include "secret.h"

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

/* Prints the tokens: a block each, or one JSON array on one line. */
static void
print_tokens(const struct ca_token *t, size_t n, int json)
{
	char flags[256];
	size_t i;

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
}

/* One update of status --watch: a time-stamped block, or a JSON line. */
static int
watch_update(void *arg, const struct ca_token *t, size_t n)
{
	const struct cs_opts *o = arg;
	char when[32];
	time_t now = time(NULL);

	if (!o->json && strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S",
	    localtime(&now)) > 0)
		printf("== %s\n", when);
	print_tokens(t, n, o->json);
	/* Watchers read line by line through pipes: flush every update. */
	return fflush(stdout) == EOF;
}

int
cmd_status(const struct cs_opts *o)
{
	struct ca_token *t;
	struct cac *c;
	size_t n;
	int r;

	if ((r = cs_connect(o, &c)) != EX_OK)
		return r;
	if (o->watch) {
		r = cac_watch(c, watch_update, (void *)o);
		r = r == CA_OK ? EX_OK : cs_fail(r, "status: %s",
		    cac_errmsg(c));
		cac_close(c);
		return r;
	}
	if ((r = cac_status(c, &t, &n)) != CA_OK) {
		r = cs_fail(r, "status: %s", cac_errmsg(c));
		cac_close(c);
		return r;
	}
	print_tokens(t, n, o->json);
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

int
cmd_keys(const struct cs_opts *o)
{
	char subj[512], mail[256], ops[64];
	struct ca_key *k;
	struct cac *c;
	size_t n, i;
	int r;

	if ((r = cs_connect(o, &c)) != EX_OK)
		return r;
	if ((r = cac_list_keys(c, &k, &n)) != CA_OK) {
		r = cs_fail(r, "keys: %s", cac_errmsg(c));
		cac_close(c);
		return r;
	}
	if (o->json)
		putchar('[');
	for (i = 0; i < n; i++) {
		cert_names(&k[i], subj, sizeof(subj), mail, sizeof(mail));
		snprintf(ops, sizeof(ops), "%s%s%s",
		    (k[i].ops & CA_OP_SIGN) ? "sign " : "",
		    (k[i].ops & CA_OP_DECRYPT) ? "decrypt " : "",
		    (k[i].ops & CA_OP_DERIVE) ? "derive " : "");
		if (!o->json) {
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
	if (o->json)
		printf("]\n");
	cac_keys_free(k, n);
	cac_close(c);
	return EX_OK;
}

int
cmd_login(const struct cs_opts *o)
{
	struct ca_secret *pin = NULL;
	struct cac *c;
	int r;

	if (o->pin_stdin && (pin = read_pin()) == NULL)
		return cs_usage_fail("no PIN on standard input");
	if ((r = cs_connect(o, &c)) != EX_OK) {
		ca_secret_free(pin);
		return r;
	}
	r = cac_login(c, o->token, pin);
	ca_secret_free(pin);
	if (r != CA_OK)
		r = cs_fail(r, "login: %s", cac_errmsg(c));
	cac_close(c);
	return r;
}

int
cmd_lock(const struct cs_opts *o)
{
	struct cac *c;
	int r;

	if ((r = cs_connect(o, &c)) != EX_OK)
		return r;
	if ((r = cac_lock(c, o->token)) != CA_OK)
		r = cs_fail(r, "lock: %s", cac_errmsg(c));
	cac_close(c);
	return r;
}
