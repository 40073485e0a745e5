/*
 * audit.h: the audit log (audit in cardagent.conf(5)): one line per key
 * operation, login and lock, saying who asked, through which socket, for
 * what, and what came of it. Never a PIN or a secret: for a signature the
 * digest that was signed, for a decryption or derivation the SHA-256 of
 * the ciphertext or peer key.
 *
 * Line format, key=value pairs, values with spaces quoted:
 *   time=2026-11-23T05:40:01.123Z uid=1000 pid=4242 exe="/usr/bin/cardsign"
 *   socket=main op=sign key=3f..a1 label="PIV AUTH key" token="alice"
 *   digest=sha256:9f86..0a08 result=ok
 */
#ifndef CARDAGENT_AUDIT_H
#define CARDAGENT_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct audit_rec {
	uid_t uid;
	pid_t pid;
	const char *exe;	/* the client's executable */
	const char *socket;	/* "main" or the restricted socket's path */
	const char *op;		/* sign, decrypt, derive, login, lock */
	const char *key_id;	/* NULL for login and lock */
	const char *label;	/* the key's label, or NULL */
	const char *token;	/* the token's label, or NULL */
	const char *data_name;	/* "digest" or "data" */
	const uint8_t *data;	/* what it names, hashed unless a digest */
	size_t len;
	uint32_t status;	/* CA_OK or the error returned */
};

/*
 * Starts the log: dest is "syslog" (facility authpriv) or a file path,
 * opened for appending with mode 0600; NULL turns the log off. Returns 0,
 * or -1 with the reason in err.
 */
int audit_open(const char *dest, char *err, size_t errlen);

/* Whether the log is on: callers need not gather a record otherwise. */
int audit_on(void);

/* Writes one line for r, if the log is on. */
void audit_log(const struct audit_rec *r);

void audit_close(void);

#endif
