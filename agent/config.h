/*
 * config.h: the agent's settings, from the config file and the command line.
 *
 * File format (cardagent.conf(5)): one "keyword value" per line, '#' starts
 * a comment. Keywords:
 *   module PATH             a PKCS#11 module to serve (repeatable)
 *   socket PATH             where to listen
 *   pinentry PROGRAM        the pinentry to run for PINs
 *   token-timeout SECONDS   watchdog for every token call (default 30)
 *   pinentry-timeout SECONDS  how long a PIN prompt waits (default 60)
 *   pin-cache none|login|ttl SECONDS
 *                           none: log out after every operation; login
 *                           (default): stay logged in, keep no PIN (a key
 *                           that wants its PIN at every use asks every
 *                           time, as the card intends); ttl: stay logged
 *                           in and reuse the PIN for such keys for SECONDS
 *                           after it was entered, then forget it and log out
 *   idle-lock MINUTES       log out of a token unused for so long (or
 *                           SECONDSs: "idle-lock 90s")
 *   confirm none|sign|decrypt|all [TOKEN-LABEL]
 *                           ask the user (pinentry) to allow each such
 *                           operation; decrypt covers key derivation. With
 *                           a label, for that token only (it overrides the
 *                           rule without one); repeatable
 *   restricted-socket PATH [ops=OP,...] [keys=KEY,...] [confirm=WHEN]
 *                     [rate=N]
 *                           also listen on PATH for clients that may only
 *                           use keys: for ssh -R forwarding and mail
 *                           clients. OP: sign, decrypt, derive (default
 *                           all three); KEY: a key id or label (default
 *                           every key); WHEN: none (default), connection
 *                           (the user allows each new connection once) or
 *                           use (every operation); N: operations a minute
 *                           per client process (default 60). LOCK, LOGIN
 *                           with a PIN and PINs in operations are refused
 *                           there. Repeatable
 *   audit syslog|PATH       one line per operation to syslog or a file
 */
#ifndef CARDAGENT_CONFIG_H
#define CARDAGENT_CONFIG_H

#include <stddef.h>
#include <stdint.h>

/* At most this many restricted-socket lines. */
#define CONFIG_MAX_SCOPES 16

/* A restricted socket (restricted-socket). */
struct scope {
	char *path;
	uint32_t ops;		/* CA_OP_* allowed */
	char **keys;		/* key ids or labels; none: every key */
	size_t nkeys;
	enum scope_confirm {
		SCOPE_CONFIRM_NONE,
		SCOPE_CONFIRM_CONNECTION,
		SCOPE_CONFIRM_USE,
	} confirm;
	unsigned rate;		/* operations a minute per client process */
};

struct config {
	char **modules;		/* real paths */
	size_t nmodules;
	char *socket;
	char *pinentry;
	unsigned token_timeout_ms;
	unsigned pinentry_timeout_s;
	enum pin_cache { PIN_CACHE_LOGIN, PIN_CACHE_NONE, PIN_CACHE_TTL }
	    pin_cache;
	unsigned pin_ttl_s;		/* PIN_CACHE_TTL */
	unsigned idle_lock_s;		/* 0: never */
	struct confirm_rule {
		char *token;		/* a token label; NULL: every token */
		uint32_t ops;		/* CA_OP_* needing the user's OK */
	} *confirms;
	size_t nconfirms;
	struct scope *scopes;
	size_t nscopes;
	char *audit;		/* "syslog", a path, or NULL */
};

/*
 * The CA_OP_* operations on the token labelled label that need the user's
 * OK: its own confirm rule's, else the rule for every token's.
 */
uint32_t config_confirm_ops(const struct config *c, const char *label);

/* Sets the defaults. */
void config_init(struct config *c);

/*
 * Reads path into c; settings already in c from the file override earlier
 * ones, modules accumulate. A missing file is an error only if required.
 * Returns 0, or -1 with "file:line: reason" in err.
 */
int config_load(struct config *c, const char *path, int required, char *err,
    size_t errlen);

/*
 * Adds a module by its real path: a symlink or a relative path is
 * resolved now, once, so that what is loaded later is what was named at
 * start. Returns 0, or -1 with errno set (ENOENT for a missing file).
 */
int config_add_module(struct config *c, const char *path);

/* Replaces a string setting with a copy of value. Returns 0 or -1. */
int config_set(char **slot, const char *value);

void config_free(struct config *c);

#endif
