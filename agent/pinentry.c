/*
 * pinentry.c: the Assuan client side of a pinentry conversation.
 *
 * We implement the few bits of Assuan we need instead of linking libassuan:
 * the conversation is strictly request/response over two pipes, and owning
 * the reader lets the raw PIN bytes stay in locked memory end to end.
 */
#define _GNU_SOURCE

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../proto/secret.h"
#include "pinentry.h"

/* Assuan allows 1000 bytes per line, not counting the [CR]LF. */
#define LINE_LEN_MAX	1000
/* Holds a maximal line plus the start of the next one; mmap rounds it to a
 * page anyway. */
#define RBUF_LEN	4096
/* Everything but GETPIN and CONFIRM is answered without user interaction,
 * so silence this long means the program is not a working pinentry. */
#define REPLY_MS	15000
/* pinentry enforces SETTIMEOUT itself; this only catches one that does not
 * (or ignores the command) so the worker thread still comes back. */
#define DIALOG_SLACK_MS	15000
/* How long a pinentry gets to exit before SIGTERM, and again before
 * SIGKILL. */
#define EXIT_GRACE_MS	1000
#define EXIT_POLL_MS	5
#define NO_DEADLINE	((int64_t)-1)

/* libgpg-error codes, the low 16 bits of an ERR code; the high bits name
 * the error source, which we do not care about. */
#define GPGERR_CODE(e)		((e) & 0xffffUL)
#define GPGERR_TIMEOUT		62
#define GPGERR_CANCELED		99
#define GPGERR_NOT_CONFIRMED	114
#define GPGERR_FULLY_CANCELED	198
#define GPGERR_ASS_CANCELED	277

struct conn {
	pid_t pid;		/* -1 until spawned */
	int to;			/* pinentry's stdin */
	int from;		/* pinentry's stdout */
	bool in_step;		/* replies match our commands: BYE is possible */
	/* Raw D lines pass through here, so it is a secret too. */
	struct ca_secret *rbuf;
	size_t off;		/* unconsumed input is rbuf->data[off..end) */
	size_t end;
	unsigned long errcode;	/* of the last ERR reply */
	char errtext[128];	/* of the last ERR reply, printable ASCII */
	char *err;
	size_t errlen;
};

enum reply {
	REPLY_OK,
	REPLY_ERR,	/* c->errcode and c->errtext are set */
	REPLY_BROKEN	/* conversation unusable, c->err says why */
};

static void fail(struct conn *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
fail(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	/* The first failure is the cause; later ones are only fallout. */
	if (c->err == NULL || c->errlen == 0 || c->err[0] != '\0')
		return;
	va_start(ap, fmt);
	(void)vsnprintf(c->err, c->errlen, fmt, ap);
	va_end(ap);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool
is_keyword(const char *line, const char *kw)
{
	size_t n = strlen(kw);

	return strncmp(line, kw, n) == 0 &&
	    (line[n] == '\0' || line[n] == ' ');
}

static int
hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

static int
wait_readable(struct conn *c, int64_t deadline)
{
	struct pollfd pfd = { .fd = c->from, .events = POLLIN };
	int64_t left;
	int ms, r;

	for (;;) {
		ms = -1;
		if (deadline != NO_DEADLINE) {
			if ((left = deadline - now_ms()) <= 0) {
				fail(c, "no answer from pinentry: timed out");
				return -1;
			}
			ms = left > INT_MAX ? INT_MAX : (int)left;
		}
		/* POLLHUP counts too: read() then reports the EOF. */
		if ((r = poll(&pfd, 1, ms)) > 0)
			return 0;
		if (r == -1 && errno != EINTR) {
			fail(c, "poll on pinentry pipe: %s", strerror(errno));
			return -1;
		}
	}
}

/*
 * Returns the next line in *line, NUL-terminated and without its [CR]LF;
 * it stays valid until the next call.  Over-long lines and embedded NULs
 * are refused so a babbling program can neither make us buffer without
 * bound nor smuggle in a line that parses differently than it reads.
 */
static int
read_line(struct conn *c, int64_t deadline, char **line)
{
	char *buf = (char *)c->rbuf->data;
	char *nl;
	size_t len;
	ssize_t n;

	for (;;) {
		nl = memchr(buf + c->off, '\n', c->end - c->off);
		if (nl != NULL) {
			*line = buf + c->off;
			len = (size_t)(nl - *line);
			c->off += len + 1;
			if (len > 0 && (*line)[len - 1] == '\r')
				len--;
			if (len > LINE_LEN_MAX ||
			    memchr(*line, '\0', len) != NULL) {
				fail(c, "malformed line from pinentry");
				return -1;
			}
			(*line)[len] = '\0';
			return 0;
		}
		if (c->end - c->off > LINE_LEN_MAX + 1) {
			fail(c, "over-long line from pinentry");
			return -1;
		}
		memmove(buf, buf + c->off, c->end - c->off);
		c->end -= c->off;
		c->off = 0;
		if (wait_readable(c, deadline) == -1)
			return -1;
		n = read(c->from, buf + c->end, c->rbuf->cap - c->end);
		if (n == 0) {
			fail(c, "pinentry exited unexpectedly");
			return -1;
		}
		if (n == -1) {
			if (errno == EINTR)
				continue;
			fail(c, "read from pinentry: %s", strerror(errno));
			return -1;
		}
		c->end += (size_t)n;
	}
}

static int
write_all(struct conn *c, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(c->to, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			/* EPIPE, given SIGPIPE is ignored as documented. */
			if (errno == EPIPE)
				fail(c, "pinentry exited unexpectedly");
			else
				fail(c, "write to pinentry: %s",
				    strerror(errno));
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Sends "CMD" or "CMD ARG", escaping ARG as Assuan requires. */
static int
send_cmd(struct conn *c, const char *cmd, const char *arg)
{
	static const char hex[] = "0123456789ABCDEF";
	char line[LINE_LEN_MAX + 1];
	const unsigned char *p;
	size_t len, need;

	len = strlen(cmd);
	memcpy(line, cmd, len);
	if (arg != NULL) {
		line[len++] = ' ';
		for (p = (const unsigned char *)arg; *p != '\0'; p++) {
			need = *p == '%' || *p == '\r' || *p == '\n' ? 3 : 1;
			if (len + need > LINE_LEN_MAX) {
				fail(c, "%s text too long for pinentry", cmd);
				return -1;
			}
			if (need == 1) {
				line[len++] = (char)*p;
				continue;
			}
			line[len++] = '%';
			line[len++] = hex[*p >> 4];
			line[len++] = hex[*p & 0xf];
		}
	}
	line[len++] = '\n';
	return write_all(c, line, len);
}

/* Unescapes the payload of a D line onto the end of s. */
static int
append_data(struct conn *c, struct ca_secret *s, const char *p)
{
	int hi, lo;

	for (; *p != '\0'; p++) {
		if (s->len == s->cap) {
			fail(c, "PIN longer than %d bytes", PINENTRY_PIN_MAX);
			return -1;
		}
		if (*p != '%') {
			s->data[s->len++] = (uint8_t)*p;
			continue;
		}
		if ((hi = hexval(p[1])) == -1 || (lo = hexval(p[2])) == -1) {
			fail(c, "malformed data line from pinentry");
			return -1;
		}
		s->data[s->len++] = (uint8_t)(hi << 4 | lo);
		p += 2;
	}
	return 0;
}

/* Parses "<code>[ <text>]" following "ERR". */
static enum reply
parse_err(struct conn *c, const char *p)
{
	unsigned long code;
	char *end;
	size_t i;

	if (*p == ' ')
		p++;
	/* strtoul alone would also take blanks and a minus sign. */
	if (*p < '0' || *p > '9')
		goto bad;
	errno = 0;
	code = strtoul(p, &end, 10);
	if (errno != 0 || (*end != '\0' && *end != ' '))
		goto bad;
	if (*end == ' ')
		end++;
	/* The text ends up in err and maybe a log: keep it to one tame line. */
	for (i = 0; end[i] != '\0' && i < sizeof(c->errtext) - 1; i++)
		c->errtext[i] = end[i] >= ' ' && end[i] <= '~' ? end[i] : '?';
	c->errtext[i] = '\0';
	c->errcode = code;
	return REPLY_ERR;
 bad:
	fail(c, "malformed ERR line from pinentry");
	c->in_step = false;
	return REPLY_BROKEN;
}

/*
 * Sends one command and reads up to its OK or ERR.  D lines are unescaped
 * into data, and are a protocol error if data is NULL (only GETPIN expects
 * any); status and comment lines are skipped.
 */
static enum reply
transact(struct conn *c, const char *cmd, const char *arg, int64_t deadline,
    struct ca_secret *data)
{
	char *line;

	if (send_cmd(c, cmd, arg) == -1)
		goto broken;
	for (;;) {
		if (read_line(c, deadline, &line) == -1)
			goto broken;
		if (is_keyword(line, "OK"))
			return REPLY_OK;
		if (is_keyword(line, "ERR"))
			return parse_err(c, line + 3);
		if (is_keyword(line, "S") || line[0] == '#')
			continue;
		if (data != NULL && strncmp(line, "D ", 2) == 0) {
			if (append_data(c, data, line + 2) == -1)
				goto broken;
			continue;
		}
		/* The line itself is not quoted: it may hold PIN bytes. */
		fail(c, "unexpected reply from pinentry to %s", cmd);
		goto broken;
	}
 broken:
	c->in_step = false;
	return REPLY_BROKEN;
}

static int
greeting(struct conn *c)
{
	int64_t deadline = now_ms() + REPLY_MS;
	char *line;

	for (;;) {
		if (read_line(c, deadline, &line) == -1)
			return -1;
		if (is_keyword(line, "OK")) {
			c->in_step = true;
			return 0;
		}
		if (line[0] != '#' && !is_keyword(line, "S")) {
			fail(c, "program did not greet like a pinentry");
			return -1;
		}
	}
}

/*
 * Formats "key=value" for OPTION from an environment variable, or returns
 * NULL if it is unset or empty.  pinentry takes option values verbatim, with
 * no unescaping, so a value that would need escapes cannot be passed and is
 * left out too.
 */
static const char *
env_option(char *buf, size_t len, const char *key, const char *var)
{
	const char *v = getenv(var);
	int n;

	if (v == NULL || *v == '\0' || strpbrk(v, "%\r\n") != NULL)
		return NULL;
	n = snprintf(buf, len, "%s=%s", key, v);
	return n < 0 || (size_t)n >= len ? NULL : buf;
}

/* Sends everything the dialog needs to have been told beforehand. */
static int
setup(struct conn *c, const struct pinentry_req *req)
{
	char tty[LINE_LEN_MAX], term[LINE_LEN_MAX], timeout[16];
	/* SETKEYINFO and SETTIMEOUT are newer than some pinentries still in
	 * use; like gpg-agent, carry on without them. */
	const struct {
		const char *cmd;
		const char *arg;
		bool optional;
	} cmds[] = {
		/* gpg-agent's way to let a curses pinentry find the tty. */
		{ "OPTION", env_option(tty, sizeof(tty), "ttyname",
		    "GPG_TTY"), false },
		{ "OPTION", env_option(term, sizeof(term), "ttytype",
		    "TERM"), false },
		{ "SETTITLE", req->title, false },
		{ "SETDESC", req->description, false },
		{ "SETPROMPT", req->prompt, false },
		{ "SETERROR", req->error, false },
		{ "SETOK", req->ok, false },
		{ "SETCANCEL", req->cancel, false },
		{ "SETKEYINFO", req->keyinfo, true },
		{ "SETTIMEOUT", req->timeout != 0 ? timeout : NULL, true },
	};
	size_t i;

	(void)snprintf(timeout, sizeof(timeout), "%u", req->timeout);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (cmds[i].arg == NULL)
			continue;
		switch (transact(c, cmds[i].cmd, cmds[i].arg,
		    now_ms() + REPLY_MS, NULL)) {
		case REPLY_OK:
			break;
		case REPLY_ERR:
			if (cmds[i].optional)
				break;
			fail(c, "pinentry rejected %s: %s (error %lu)",
			    cmds[i].cmd, c->errtext, c->errcode);
			return -1;
		case REPLY_BROKEN:
			return -1;
		}
	}
	return 0;
}

/* In an agent running with stdin or stdout closed a pipe end could land on
 * fd 0 or 1, where the child's dup2 calls would clobber it: keep both
 * above stderr. */
static int
pipe_above_stdio(int fds[2])
{
	int i, fd;

	if (pipe2(fds, O_CLOEXEC) == -1)
		return -1;
	for (i = 0; i < 2; i++) {
		if (fds[i] > STDERR_FILENO)
			continue;
		if ((fd = fcntl(fds[i], F_DUPFD_CLOEXEC,
		    STDERR_FILENO + 1)) == -1) {
			(void)close(fds[0]);
			(void)close(fds[1]);
			fds[0] = fds[1] = -1;
			return -1;
		}
		(void)close(fds[i]);
		fds[i] = fd;
	}
	return 0;
}

static int
spawn(struct conn *c, const char *program)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 };
	char *argv[2];
	int i, r, ret = -1;

	if ((r = posix_spawn_file_actions_init(&fa)) != 0) {
		fail(c, "posix_spawn_file_actions_init: %s", strerror(r));
		return -1;
	}
	if ((r = posix_spawnattr_init(&attr)) != 0) {
		fail(c, "posix_spawnattr_init: %s", strerror(r));
		(void)posix_spawn_file_actions_destroy(&fa);
		return -1;
	}
	if (pipe_above_stdio(in) == -1 || pipe_above_stdio(out) == -1) {
		fail(c, "pipe: %s", strerror(errno));
		goto out;
	}
	/*
	 * Ignored signals stay ignored across exec and a worker thread's mask
	 * is inherited; pinentry must see neither, not least so that reap()'s
	 * SIGTERM works.  closefrom uses close_range() where the kernel has
	 * it and walks /proc/self/fd otherwise; it keeps fds the agent did not
	 * mark close-on-exec (or that other threads opened concurrently) out
	 * of the child.
	 */
	(void)sigemptyset(&none);
	(void)sigfillset(&all);
	if ((r = posix_spawnattr_setsigmask(&attr, &none)) != 0 ||
	    (r = posix_spawnattr_setsigdefault(&attr, &all)) != 0 ||
	    (r = posix_spawnattr_setflags(&attr,
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)) != 0 ||
	    (r = posix_spawn_file_actions_adddup2(&fa, in[0],
	    STDIN_FILENO)) != 0 ||
	    (r = posix_spawn_file_actions_adddup2(&fa, out[1],
	    STDOUT_FILENO)) != 0 ||
	    (r = posix_spawn_file_actions_addclosefrom_np(&fa,
	    STDERR_FILENO + 1)) != 0) {
		fail(c, "posix_spawn setup: %s", strerror(r));
		goto out;
	}
	argv[0] = (char *)program;
	argv[1] = NULL;
	if ((r = posix_spawnp(&c->pid, program, &fa, &attr, argv,
	    environ)) != 0) {
		c->pid = -1;
		fail(c, "cannot run %s: %s", program, strerror(r));
		goto out;
	}
	c->to = in[1];
	c->from = out[0];
	in[1] = out[0] = -1;
	ret = 0;
 out:
	for (i = 0; i < 2; i++) {
		if (in[i] != -1)
			(void)close(in[i]);
		if (out[i] != -1)
			(void)close(out[i]);
	}
	(void)posix_spawnattr_destroy(&attr);
	(void)posix_spawn_file_actions_destroy(&fa);
	return ret;
}

/*
 * Waits for the pinentry to exit.  Its closed stdin has already told it to
 * go; one that lingers (hung, or still showing a dialog after we gave up on
 * it) gets SIGTERM and finally SIGKILL, so the worker thread cannot wedge
 * here and no zombie is left behind.
 */
static void
reap(pid_t pid)
{
	static const int sigs[] = { 0, SIGTERM };
	const struct timespec step = { 0, EXIT_POLL_MS * 1000000L };
	pid_t r;
	size_t i;
	int ms;

	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		if (sigs[i] != 0)
			(void)kill(pid, sigs[i]);
		for (ms = 0; ms < EXIT_GRACE_MS; ms += EXIT_POLL_MS) {
			r = waitpid(pid, NULL, WNOHANG);
			if (r == pid || (r == -1 && errno != EINTR))
				return;
			(void)nanosleep(&step, NULL);
		}
	}
	(void)kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
		;
}

static bool
is_cancel(unsigned long code)
{
	switch (GPGERR_CODE(code)) {
	case GPGERR_CANCELED:
	case GPGERR_NOT_CONFIRMED:
	case GPGERR_FULLY_CANCELED:
	case GPGERR_ASS_CANCELED:
		return true;
	default:
		return false;
	}
}

/*
 * One whole conversation: starts the pinentry, sets up the dialog, sends
 * cmd (GETPIN or CONFIRM, which wait for the user) with its D lines going
 * into data, and always ends the program.  The caller has checked req and
 * set up c, whose err is still empty.
 */
static enum pinentry_status
converse(struct conn *c, const struct pinentry_req *req, const char *cmd,
    struct ca_secret *data)
{
	enum pinentry_status status = PINENTRY_FAILED;
	int64_t deadline;

	if ((c->rbuf = ca_secret_new(RBUF_LEN)) == NULL) {
		fail(c, "cannot allocate secure memory for pinentry");
		return PINENTRY_FAILED;
	}
	if (spawn(c, req->program != NULL ? req->program : "pinentry") == -1 ||
	    greeting(c) == -1 || setup(c, req) == -1)
		goto out;

	deadline = req->timeout == 0 ? NO_DEADLINE :
	    now_ms() + (int64_t)req->timeout * 1000 + DIALOG_SLACK_MS;
	switch (transact(c, cmd, NULL, deadline, data)) {
	case REPLY_OK:
		status = PINENTRY_OK;
		break;
	case REPLY_ERR:
		if (is_cancel(c->errcode))
			status = PINENTRY_CANCELLED;
		else if (GPGERR_CODE(c->errcode) == GPGERR_TIMEOUT)
			fail(c, "pinentry timed out");
		else
			fail(c, "pinentry %s failed: %s (error %lu)",
			    cmd, c->errtext, c->errcode);
		break;
	case REPLY_BROKEN:
		break;
	}

 out:
	/* A polite BYE lets pinentry restore the tty and exit on its own;
	 * its answer no longer matters. */
	if (c->in_step)
		(void)transact(c, "BYE", NULL, now_ms() + REPLY_MS, NULL);
	if (c->to != -1)
		(void)close(c->to);
	if (c->from != -1)
		(void)close(c->from);
	if (c->pid != -1)
		reap(c->pid);
	ca_secret_free(c->rbuf);
	c->rbuf = NULL;
	if (status != PINENTRY_FAILED && c->err != NULL && c->errlen > 0)
		c->err[0] = '\0';
	return status;
}

enum pinentry_status
pinentry_getpin(const struct pinentry_req *req, struct ca_secret **pin,
    char *err, size_t errlen)
{
	struct conn c = {
		.pid = -1, .to = -1, .from = -1, .err = err, .errlen = errlen
	};
	struct ca_secret *secret;
	enum pinentry_status status;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (req == NULL || pin == NULL) {
		fail(&c, "pinentry_getpin: invalid arguments");
		return PINENTRY_FAILED;
	}
	*pin = NULL;

	if ((secret = ca_secret_new(PINENTRY_PIN_MAX)) == NULL) {
		fail(&c, "cannot allocate secure memory for the PIN");
		return PINENTRY_FAILED;
	}
	if ((status = converse(&c, req, "GETPIN", secret)) == PINENTRY_OK)
		*pin = secret;
	else
		ca_secret_free(secret);
	return status;
}

enum pinentry_status
pinentry_confirm(const struct pinentry_req *req, char *err, size_t errlen)
{
	struct conn c = {
		.pid = -1, .to = -1, .from = -1, .err = err, .errlen = errlen
	};

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (req == NULL || req->description == NULL) {
		fail(&c, "pinentry_confirm: invalid arguments");
		return PINENTRY_FAILED;
	}
	/* No data: D lines in answer to CONFIRM are a protocol error. */
	return converse(&c, req, "CONFIRM", NULL);
}
