#define _GNU_SOURCE
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"

#define CONFIG_LINE_MAX 4096
#define CONFIG_MAX_MODULES 64
#define SCOPE_MAX_KEYS 64
#define SCOPE_DEFAULT_RATE 60

void
config_init(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->token_timeout_ms = 30000;
	c->pinentry_timeout_s = 60;
}

int
config_set(char **slot, const char *value)
{
	char *v = strdup(value);

	if (v == NULL)
		return -1;
	free(*slot);
	*slot = v;
	return 0;
}

int
config_add_module(struct config *c, const char *path)
{
	char real[PATH_MAX], **n;
	size_t i;

	if (realpath(path, real) == NULL)
		return -1;
	/* Named twice (or through a symlink): served once. */
	for (i = 0; i < c->nmodules; i++)
		if (strcmp(c->modules[i], real) == 0)
			return 0;
	if (c->nmodules >= CONFIG_MAX_MODULES) {
		errno = E2BIG;
		return -1;
	}
	if ((n = reallocarray(c->modules, c->nmodules + 1, sizeof(*n))) ==
	    NULL)
		return -1;
	c->modules = n;
	if ((n[c->nmodules] = strdup(real)) == NULL)
		return -1;
	c->nmodules++;
	return 0;
}

static int
parse_seconds(const char *v, unsigned *out)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno != 0 || *end != '\0' || n == 0 || n > 86400)
		return -1;
	*out = (unsigned)n;
	return 0;
}

/* pin-cache none | login | ttl SECONDS */
static int
pin_cache(struct config *c, const char *val, const char **why)
{
	if (strcmp(val, "none") == 0)
		c->pin_cache = PIN_CACHE_NONE;
	else if (strcmp(val, "login") == 0)
		c->pin_cache = PIN_CACHE_LOGIN;
	else if (strncmp(val, "ttl", 3) == 0 && isspace((unsigned char)val[3]) &&
	    parse_seconds(val + 3 + strspn(val + 3, " \t"), &c->pin_ttl_s) ==
	    0)
		c->pin_cache = PIN_CACHE_TTL;
	else {
		*why = "expected none, login or ttl SECONDS (1 to 86400)";
		return -1;
	}
	return 0;
}

/* idle-lock MINUTES, or SECONDSs: at most a day. */
static int
idle_lock(struct config *c, const char *val, const char **why)
{
	char num[16];
	size_t len = strlen(val);
	unsigned n, unit = 60;

	if (len > 1 && val[len - 1] == 's' && len < sizeof(num)) {
		memcpy(num, val, len - 1);
		num[len - 1] = '\0';
		val = num;
		unit = 1;
	}
	if (parse_seconds(val, &n) == -1 || n * unit > 86400) {
		*why = "expected minutes (1 to 1440), or seconds as 30s";
		return -1;
	}
	c->idle_lock_s = n * unit;
	return 0;
}

/* Adds or replaces the rule for token (NULL: every token). */
static int
confirm_rule(struct config *c, const char *token, uint32_t ops)
{
	struct confirm_rule *r;
	size_t i;

	for (i = 0; i < c->nconfirms; i++) {
		r = &c->confirms[i];
		if ((r->token == NULL && token == NULL) || (r->token != NULL &&
		    token != NULL && strcmp(r->token, token) == 0)) {
			r->ops = ops;
			return 0;
		}
	}
	if (c->nconfirms >= CONFIG_MAX_MODULES ||
	    (r = reallocarray(c->confirms, c->nconfirms + 1,
	    sizeof(*r))) == NULL)
		return -1;
	c->confirms = r;
	r = &r[c->nconfirms];
	r->ops = ops;
	r->token = NULL;
	if (token != NULL && (r->token = strdup(token)) == NULL)
		return -1;
	c->nconfirms++;
	return 0;
}

/* confirm none | sign | decrypt | all [TOKEN-LABEL] */
static int
confirm(struct config *c, const char *val, const char **why)
{
	static const struct {
		const char *word;
		uint32_t ops;
	} words[] = {
		{ "none", 0 },
		{ "sign", CA_OP_SIGN },
		{ "decrypt", CA_OP_DECRYPT | CA_OP_DERIVE },
		{ "all", CA_OP_SIGN | CA_OP_DECRYPT | CA_OP_DERIVE },
	};
	size_t n = strcspn(val, " \t"), i;
	const char *label = val + n + strspn(val + n, " \t");

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strlen(words[i].word) == n &&
		    strncmp(val, words[i].word, n) == 0)
			return confirm_rule(c, *label != '\0' ? label : NULL,
			    words[i].ops);
	*why = "expected none, sign, decrypt or all, then a token label or "
	    "nothing";
	return -1;
}

uint32_t
config_confirm_ops(const struct config *c, const char *label)
{
	uint32_t ops = 0;
	size_t i;

	for (i = 0; i < c->nconfirms; i++) {
		if (c->confirms[i].token == NULL)
			ops = c->confirms[i].ops;
		else if (label != NULL && strcmp(c->confirms[i].token,
		    label) == 0)
			return c->confirms[i].ops;
	}
	return ops;
}

/* "sign,decrypt" into CA_OP_* bits; 0 if a word is unknown. */
static uint32_t
scope_ops(const char *list)
{
	static const char *const words[] = { "sign", "decrypt", "derive" };
	static const uint32_t bits[] = { CA_OP_SIGN, CA_OP_DECRYPT,
	    CA_OP_DERIVE };
	uint32_t ops = 0;
	size_t n, i;

	for (;; list += n + 1) {
		n = strcspn(list, ",");
		for (i = 0; i < 3; i++)
			if (strlen(words[i]) == n &&
			    strncmp(list, words[i], n) == 0)
				break;
		if (i == 3)
			return 0;
		ops |= bits[i];
		if (list[n] == '\0')
			return ops;
	}
}

static int
scope_keys(struct scope *s, const char *list)
{
	char **keys;
	size_t n;

	for (;; list += n + 1) {
		n = strcspn(list, ",");
		if (n == 0 || s->nkeys >= SCOPE_MAX_KEYS)
			return -1;
		if ((keys = reallocarray(s->keys, s->nkeys + 1,
		    sizeof(*keys))) == NULL)
			return -1;
		s->keys = keys;
		if ((keys[s->nkeys] = strndup(list, n)) == NULL)
			return -1;
		s->nkeys++;
		if (list[n] == '\0')
			return 0;
	}
}

static void
scope_clear(struct scope *s)
{
	size_t i;

	free(s->path);
	for (i = 0; i < s->nkeys; i++)
		free(s->keys[i]);
	free(s->keys);
}

/* One option of restricted-socket, NAME=VALUE. */
static int
scope_option(struct scope *s, const char *opt, const char **why)
{
	const char *v = strchr(opt, '=');
	unsigned long n;
	char *end;

	if (v == NULL) {
		*why = "expected ops=, keys=, confirm= or rate= after the path";
		return -1;
	}
	v++;
	if (strncmp(opt, "ops=", 4) == 0) {
		if ((s->ops = scope_ops(v)) == 0) {
			*why = "ops: expected sign, decrypt, derive, "
			    "comma-separated";
			return -1;
		}
	} else if (strncmp(opt, "keys=", 5) == 0) {
		if (scope_keys(s, v) == -1) {
			*why = "keys: expected key ids or labels, "
			    "comma-separated (at most 64)";
			return -1;
		}
	} else if (strncmp(opt, "confirm=", 8) == 0) {
		if (strcmp(v, "none") == 0)
			s->confirm = SCOPE_CONFIRM_NONE;
		else if (strcmp(v, "connection") == 0)
			s->confirm = SCOPE_CONFIRM_CONNECTION;
		else if (strcmp(v, "use") == 0)
			s->confirm = SCOPE_CONFIRM_USE;
		else {
			*why = "confirm: expected none, connection or use";
			return -1;
		}
	} else if (strncmp(opt, "rate=", 5) == 0) {
		errno = 0;
		n = strtoul(v, &end, 10);
		if (errno != 0 || *end != '\0' || n == 0 || n > 100000) {
			*why = "rate: expected operations a minute, 1 to "
			    "100000";
			return -1;
		}
		s->rate = (unsigned)n;
	} else {
		*why = "expected ops=, keys=, confirm= or rate= after the path";
		return -1;
	}
	return 0;
}

/* restricted-socket PATH [OPTION=VALUE]... */
static int
restricted_socket(struct config *c, const char *val, const char **why)
{
	struct scope s, *n;
	char *copy, *word, *save = NULL;
	int rc = -1;

	memset(&s, 0, sizeof(s));
	s.ops = CA_OP_SIGN | CA_OP_DECRYPT | CA_OP_DERIVE;
	s.rate = SCOPE_DEFAULT_RATE;
	if ((copy = strdup(val)) == NULL)
		return -1;
	word = strtok_r(copy, " \t", &save);
	if (word == NULL || word[0] != '/') {
		*why = "expected an absolute socket path";
		goto out;
	}
	if ((s.path = strdup(word)) == NULL)
		goto out;
	while ((word = strtok_r(NULL, " \t", &save)) != NULL)
		if (scope_option(&s, word, why) == -1)
			goto out;
	if (c->nscopes >= CONFIG_MAX_SCOPES) {
		*why = "at most 16 restricted sockets";
		goto out;
	}
	if ((n = reallocarray(c->scopes, c->nscopes + 1, sizeof(*n))) ==
	    NULL)
		goto out;
	c->scopes = n;
	c->scopes[c->nscopes++] = s;
	memset(&s, 0, sizeof(s));
	rc = 0;
out:
	scope_clear(&s);
	free(copy);
	return rc;
}

static int
apply(struct config *c, const char *key, const char *val, const char **why)
{
	unsigned n;

	if (strcmp(key, "module") == 0) {
		if (val[0] != '/') {
			*why = "module needs an absolute path";
			return -1;
		}
		if (config_add_module(c, val) == -1) {
			*why = strerror(errno);
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "restricted-socket") == 0)
		return restricted_socket(c, val, why);
	if (strcmp(key, "audit") == 0) {
		if (strcmp(val, "syslog") != 0 && val[0] != '/') {
			*why = "expected syslog or an absolute path";
			return -1;
		}
		return config_set(&c->audit, val);
	}
	if (strcmp(key, "socket") == 0)
		return config_set(&c->socket, val);
	if (strcmp(key, "pinentry") == 0)
		return config_set(&c->pinentry, val);
	if (strcmp(key, "token-timeout") == 0 ||
	    strcmp(key, "pinentry-timeout") == 0) {
		if (parse_seconds(val, &n) == -1) {
			*why = "expected seconds, 1 to 86400";
			return -1;
		}
		if (key[0] == 't')
			c->token_timeout_ms = n * 1000;
		else
			c->pinentry_timeout_s = n;
		return 0;
	}
	if (strcmp(key, "pin-cache") == 0)
		return pin_cache(c, val, why);
	if (strcmp(key, "idle-lock") == 0)
		return idle_lock(c, val, why);
	if (strcmp(key, "confirm") == 0)
		return confirm(c, val, why);
	*why = "unknown keyword";
	return -1;
}

/* Trims surrounding white space in place. */
static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int
config_load(struct config *c, const char *path, int required, char *err,
    size_t errlen)
{
	char line[CONFIG_LINE_MAX], *p, *val, *hash;
	const char *why;
	unsigned lineno = 0;
	FILE *f;
	int rc = -1;

	if ((f = fopen(path, "re")) == NULL) {
		if (!required && errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(err, errlen, "%s:%u: line too long", path,
			    lineno);
			goto out;
		}
		if ((hash = strchr(line, '#')) != NULL)
			*hash = '\0';
		p = trim(line);
		if (*p == '\0')
			continue;
		val = p + strcspn(p, " \t");
		if (*val == '\0') {
			snprintf(err, errlen, "%s:%u: %s needs a value", path,
			    lineno, p);
			goto out;
		}
		*val++ = '\0';
		val = trim(val);
		why = "out of memory";
		if (apply(c, p, val, &why) == -1) {
			snprintf(err, errlen, "%s:%u: %s: %s", path, lineno, p,
			    why);
			goto out;
		}
	}
	rc = 0;
out:
	fclose(f);
	return rc;
}

void
config_free(struct config *c)
{
	size_t i;

	for (i = 0; i < c->nmodules; i++)
		free(c->modules[i]);
	free(c->modules);
	free(c->socket);
	free(c->pinentry);
	for (i = 0; i < c->nconfirms; i++)
		free(c->confirms[i].token);
	free(c->confirms);
	for (i = 0; i < c->nscopes; i++)
		scope_clear(&c->scopes[i]);
	free(c->scopes);
	free(c->audit);
	memset(c, 0, sizeof(*c));
}
