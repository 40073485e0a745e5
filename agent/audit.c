#define _GNU_SOURCE
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "buf.h"
#include "log.h"
#include "msg.h"

#define AUDIT_LINE_MAX 2048

static struct {
	int on;
	int fd;			/* -1: syslog */
} A = { 0, -1 };

int
audit_open(const char *dest, char *err, size_t errlen)
{
	if (dest == NULL)
		return 0;
	if (strcmp(dest, "syslog") != 0 && (A.fd = open(dest,
	    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600)) == -1) {
		snprintf(err, errlen, "audit log %s: %s", dest,
		    strerror(errno));
		return -1;
	}
	A.on = 1;
	return 0;
}

int
audit_on(void)
{
	return A.on;
}

void
audit_close(void)
{
	if (A.fd != -1)
		close(A.fd);
	A.fd = -1;
	A.on = 0;
}

/* Appends " name=value" to buf at *off; the value is quoted, with quotes,
 * backslashes and control bytes escaped, when it is not one plain word:
 * labels come from tokens and must not forge fields or lines. */
static void
field(char *buf, size_t *off, const char *name, const char *value)
{
	size_t o = *off, i;
	int quote = value[0] == '\0';
	unsigned char ch;

	/* Room for the name, the escapes and the closing quote, always. */
	if (o + strlen(name) + 16 >= AUDIT_LINE_MAX)
		return;
	for (i = 0; value[i] != '\0' && !quote; i++) {
		ch = (unsigned char)value[i];
		quote = ch <= ' ' || ch == '"' || ch == '\\' || ch >= 0x7f ||
		    ch == '=';
	}
	o += (size_t)snprintf(buf + o, AUDIT_LINE_MAX - o, " %s=%s", name,
	    quote ? "\"" : "");
	for (i = 0; value[i] != '\0' && o + 6 < AUDIT_LINE_MAX; i++) {
		ch = (unsigned char)value[i];
		if (ch < ' ' || ch == 0x7f)
			o += (size_t)snprintf(buf + o, AUDIT_LINE_MAX - o,
			    "\\x%02x", ch);
		else {
			if (ch == '"' || ch == '\\')
				buf[o++] = '\\';
			buf[o++] = (char)ch;
		}
	}
	if (quote && o + 1 < AUDIT_LINE_MAX)
		buf[o++] = '"';
	buf[o] = '\0';
	*off = o;
}

void
audit_log(const struct audit_rec *r)
{
	char line[AUDIT_LINE_MAX], num[32], stamp[32], data[2 * 64 + 8];
	uint8_t md[SHA256_DIGEST_LENGTH];
	struct timespec ts;
	struct tm tm;
	size_t off;

	if (!A.on)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	off = (size_t)snprintf(line, sizeof(line), "time=%s.%03ldZ", stamp,
	    ts.tv_nsec / 1000000);
	snprintf(num, sizeof(num), "%ld", (long)r->uid);
	field(line, &off, "uid", num);
	snprintf(num, sizeof(num), "%ld", (long)r->pid);
	field(line, &off, "pid", num);
	field(line, &off, "exe", r->exe);
	field(line, &off, "socket", r->socket);
	field(line, &off, "op", r->op);
	if (r->key_id != NULL)
		field(line, &off, "key", r->key_id);
	if (r->label != NULL)
		field(line, &off, "label", r->label);
	if (r->token != NULL)
		field(line, &off, "token", r->token);
	if (r->data != NULL && r->len > 0) {
		/* A digest is what was signed, shown as is; anything else is
		 * hashed so that the log holds no ciphertext. */
		if (strcmp(r->data_name, "digest") == 0 && r->len <= 64) {
			ca_hex(data, r->data, r->len, 0);
		} else {
			SHA256(r->data, r->len, md);
			snprintf(data, sizeof(data), "sha256:");
			ca_hex(data + 7, md, sizeof(md), 0);
		}
		field(line, &off, r->data_name, data);
	}
	field(line, &off, "result", r->status == CA_OK ? "ok" :
	    ca_status_str(r->status));
	if (A.fd == -1) {
		syslog(LOG_AUTHPRIV | LOG_NOTICE, "audit: %s", line);
		return;
	}
	if (off + 1 < sizeof(line))
		line[off++] = '\n';
	/* One write per line: O_APPEND keeps lines whole across agents. */
	if (write(A.fd, line, off) != (ssize_t)off)
		log_warn("audit log: %s", strerror(errno));
}
