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
#include "roles.h"
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
		cs_json_str(stdout, t[i].id);
		printf(",\"label\":");
		cs_json_str(stdout, t[i].label);
		printf(",\"manufacturer\":");
		cs_json_str(stdout, t[i].manufacturer);
		printf(",\"model\":");
		cs_json_str(stdout, t[i].model);
		printf(",\"serial\":");
		cs_json_str(stdout, t[i].serial);
		printf(",\"uri\":");
		cs_json_str(stdout, t[i].uri);
		printf(",\"module\":");
		cs_json_str(stdout, t[i].module);
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

/* What a key's certificate says: subject, first e-mail, validity. */
struct cert_info {
	char subj[512];
	char mail[256];
	char from[16], until[16];	/* YYYY-MM-DD */
	int valid;			/* now within the two */
};

static void
asn1_date(const ASN1_TIME *t, char *buf, size_t len)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1 ||
	    strftime(buf, len, "%Y-%m-%d", &tm) == 0)
		snprintf(buf, len, "?");
}

static void
cert_info(const struct ca_key *k, struct cert_info *ci)
{
	const unsigned char *p = k->cert;
	STACK_OF(OPENSSL_STRING) *emails;
	X509 *x;

	memset(ci, 0, sizeof(*ci));
	if (k->cert_len == 0 ||
	    (x = d2i_X509(NULL, &p, (long)k->cert_len)) == NULL)
		return;
	X509_NAME_oneline(X509_get_subject_name(x), ci->subj,
	    (int)sizeof(ci->subj));
	emails = X509_get1_email(x);
	if (sk_OPENSSL_STRING_num(emails) > 0)
		snprintf(ci->mail, sizeof(ci->mail), "%s",
		    sk_OPENSSL_STRING_value(emails, 0));
	X509_email_free(emails);
	asn1_date(X509_get0_notBefore(x), ci->from, sizeof(ci->from));
	asn1_date(X509_get0_notAfter(x), ci->until, sizeof(ci->until));
	ci->valid = X509_cmp_current_time(X509_get0_notBefore(x)) < 0 &&
	    X509_cmp_current_time(X509_get0_notAfter(x)) > 0;
	X509_free(x);
}

static const struct ca_token *
token_of(const struct ca_key *k, const struct ca_token *t, size_t nt)
{
	size_t i;

	for (i = 0; i < nt; i++)
		if (strcmp(t[i].id, k->token_id) == 0)
			return &t[i];
	return NULL;
}

/* Whether k's token is in its reader (and its module host up). */
static int
key_present(const struct ca_token *t)
{
	return t != NULL && (t->flags & CA_TOK_PRESENT) &&
	    !(t->flags & CA_TOK_HOST_DOWN);
}

static void
print_key(const struct ca_key *k, const char *role,
    const struct cert_info *ci, const char *ops, int present)
{
	printf("%s  %s-%u  %-7s %s%s%s\n", k->id, k->type == CA_KEY_RSA ?
	    "RSA" : "EC", k->bits, ops, k->label, k->always_auth ?
	    "  (PIN every use)" : "", present ? "" : "  (card absent)");
	if (role[0] != '\0')
		printf("  %s\n", role);
	if (ci->subj[0] != '\0')
		printf("  %s%s%s%s\n  %s %s to %s\n", ci->subj,
		    ci->mail[0] ? " <" : "", ci->mail, ci->mail[0] ? ">" : "",
		    ci->valid ? "valid" : "NOT VALID NOW:", ci->from,
		    ci->until);
	else
		printf("  no certificate\n");
	printf("  %s\n", k->uri);
}

static void
print_key_json(const struct ca_key *k, const char *role,
    const struct cert_info *ci, int present, int first)
{
	printf("%s{\"id\":", first ? "" : ",");
	cs_json_str(stdout, k->id);
	printf(",\"token\":");
	cs_json_str(stdout, k->token_id);
	printf(",\"label\":");
	cs_json_str(stdout, k->label);
	printf(",\"uri\":");
	cs_json_str(stdout, k->uri);
	printf(",\"type\":\"%s\",\"bits\":%u,\"sign\":%s,"
	    "\"decrypt\":%s,\"derive\":%s,\"always_authenticate\":%s",
	    k->type == CA_KEY_RSA ? "rsa" : "ec", k->bits,
	    (k->ops & CA_OP_SIGN) ? "true" : "false",
	    (k->ops & CA_OP_DECRYPT) ? "true" : "false",
	    (k->ops & CA_OP_DERIVE) ? "true" : "false",
	    k->always_auth ? "true" : "false");
	printf(",\"role\":");
	cs_json_str(stdout, role);
	printf(",\"subject\":");
	cs_json_str(stdout, ci->subj);
	printf(",\"email\":");
	cs_json_str(stdout, ci->mail);
	printf(",\"not_before\":");
	cs_json_str(stdout, ci->from);
	printf(",\"not_after\":");
	cs_json_str(stdout, ci->until);
	printf(",\"valid\":%s,\"has_certificate\":%s,\"present\":%s}",
	    ci->valid ? "true" : "false", k->cert_len ? "true" : "false",
	    present ? "true" : "false");
}

int
cmd_keys(const struct cs_opts *o)
{
	const struct ca_token *tk;
	struct ca_token *t = NULL;
	struct cert_info ci;
	char role[64], ops[64];
	struct ca_key *k;
	struct cac *c;
	size_t n, nt = 0, i;
	int r;

	if ((r = cs_connect(o, &c)) != EX_OK)
		return r;
	/* The tokens say which keys sit on PIV or CAC cards. */
	if ((r = cac_status(c, &t, &nt)) != CA_OK ||
	    (r = cac_list_keys(c, &k, &n)) != CA_OK) {
		r = cs_fail(r, "keys: %s", cac_errmsg(c));
		cac_tokens_free(t, nt);
		cac_close(c);
		return r;
	}
	if (o->json)
		putchar('[');
	for (i = 0; i < n; i++) {
		cert_info(&k[i], &ci);
		tk = token_of(&k[i], t, nt);
		(void)cs_key_role(&k[i], tk, role, sizeof(role));
		snprintf(ops, sizeof(ops), "%s%s%s",
		    (k[i].ops & CA_OP_SIGN) ? "sign " : "",
		    (k[i].ops & CA_OP_DECRYPT) ? "decrypt " : "",
		    (k[i].ops & CA_OP_DERIVE) ? "derive " : "");
		if (o->json)
			print_key_json(&k[i], role, &ci, key_present(tk),
			    i == 0);
		else
			print_key(&k[i], role, &ci, ops, key_present(tk));
	}
	if (o->json)
		printf("]\n");
	cac_keys_free(k, n);
	cac_tokens_free(t, nt);
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
