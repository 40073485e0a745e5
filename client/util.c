/*
 * util.c: cardsign's shared helpers: exit codes, messages, the agent
 * connection and key selection, whole-file reads and atomic writes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cardsign.h"
#include "output.h"

int
cs_exit_code(int status)
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

/* The last message said, for --json's "error": scripts get the reason
 * the user reads, not a second wording of it. */
static char last_error[512];

static void
vsay(const char *fmt, va_list ap)
{
	va_list copy;

	va_copy(copy, ap);
	(void)vsnprintf(last_error, sizeof(last_error), fmt, copy);
	va_end(copy);
	fputs("cardsign: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

const char *
cs_last_error(void)
{
	return last_error;
}

void
cs_say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
}

void
cs_json_str(FILE *f, const char *s)
{
	const unsigned char *p;

	putc('"', f);
	for (p = (const unsigned char *)(s ? s : ""); *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			putc(*p, f);
	}
	putc('"', f);
}

int
cs_fail(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
	return cs_exit_code(status);
}

int
cs_usage_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
	return EX_USAGE;
}

int
cs_connect(const struct cs_opts *o, struct cac **c)
{
	char err[512];
	int r;

	if ((r = cac_connect(o->socket, c, err, sizeof(err))) != CA_OK)
		return cs_fail(r, "%s", err);
	return EX_OK;
}

int
cs_find_key(const struct cs_opts *o, const char *sel, uint32_t need,
    struct cac **c, struct ca_key **k, size_t *n, size_t *idx)
{
	char err[512];
	int r;

	if ((r = cac_connect_list(o->socket, c, k, n, err, sizeof(err))) !=
	    CA_OK)
		return cs_fail(r, "%s", err);
	if ((r = cac_select_key(*k, *n, sel, need, idx, err, sizeof(err))) !=
	    CA_OK) {
		cac_keys_free(*k, *n);
		cac_close(*c);
		return cs_fail(r, "%s", err);
	}
	return EX_OK;
}

/* Reads a whole (small) file; *len bytes into a malloc()ed buffer. */
int
cs_read_file(const char *path, uint8_t **buf, size_t *len, size_t max)
{
	struct stat st;
	size_t cap, n = 0;
	uint8_t *b = NULL, *nb;
	ssize_t r;
	int fd, saved;

	*buf = NULL;
	if ((fd = strcmp(path, "-") == 0 ? STDIN_FILENO :
	    open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	/* A file known to be too big is refused before a byte is read. */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (uintmax_t)st.st_size > max) {
		errno = EFBIG;
		goto fail;
	}
	cap = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ?
	    (size_t)st.st_size + 1 : 65536;
	for (;;) {
		if (n == cap || b == NULL) {
			if (b != NULL)
				cap = cap > max / 2 ? max + 1 : cap * 2;
			if (n >= max + 1 || (nb = realloc(b, cap)) == NULL) {
				errno = n >= max + 1 ? EFBIG : ENOMEM;
				goto fail;
			}
			b = nb;
		}
		if ((r = read(fd, b + n, cap - n)) < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max) {
		errno = EFBIG;
		goto fail;
	}
	if (fd != STDIN_FILENO)
		close(fd);
	*buf = b;
	*len = n;
	return 0;
 fail:
	saved = errno;
	free(b);
	if (fd != STDIN_FILENO)
		close(fd);
	errno = saved;
	return -1;
}

/* Writes atomically (output.c): a reader never sees half a signature or
 * key. Secret outputs are created 0600. */
int
cs_write_file(const char *path, const uint8_t *p, size_t len, int secret)
{
	struct cs_out w;
	int saved;

	if (cs_out_open(&w, path, secret ? CS_OUT_SECRET : 0) == -1)
		return -1;
	if (fwrite(p, 1, len, w.f) != len) {
		saved = errno;
		cs_out_abort(&w);
		errno = saved;
		return -1;
	}
	return cs_out_commit(&w);
}
