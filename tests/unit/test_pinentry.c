/*
 * test_pinentry.c: pinentry_getpin() and pinentry_confirm() against
 * tests/fake-pinentry.sh and against small throwaway scripts that misbehave
 * on purpose.
 *
 * The fake is found through $FAKE_PINENTRY, else FAKE_PINENTRY_PATH.
 */
#define _GNU_SOURCE

#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../agent/pinentry.h"
#include "../../proto/secret.h"

/*
 * A scripted pinentry's read loop: CASES (shell case arms, each ending in
 * ";;") answer the commands they match, everything else gets OK.
 * PINENTRY adds the greeting before the loop.
 */
#define SERVE(cases) \
	"while read -r l; do case $l in\n" cases "\n*) echo OK;; esac; done"
#define PINENTRY(cases) "echo OK\n" SERVE(cases)

#ifndef FAKE_PINENTRY_PATH
#define FAKE_PINENTRY_PATH "tests/fake-pinentry.sh"
#endif

struct fx {
	char dir[64];
	char pinfile[128];
	char logfile[128];
	char confirmfile[128];
	char script[128];
	char err[256];
	struct ca_secret *pin;
	int lowfd;		/* lowest free fd before the test */
};

static const char *
fake(void)
{
	const char *p = getenv("FAKE_PINENTRY");

	return p != NULL && *p != '\0' ? p : FAKE_PINENTRY_PATH;
}

static int
lowest_free_fd(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	close(fd);
	return fd;
}

static void
write_file(const char *path, const char *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

static void
set_pin(struct fx *f, const char *pin)
{
	write_file(f->pinfile, pin, strlen(pin), 0600);
}

/* Makes a /bin/sh script in the test directory and returns its path. */
static const char *
script(struct fx *f, const char *body)
{
	char text[4096];
	int n;

	n = snprintf(text, sizeof(text), "#!/bin/sh\n%s\n", body);
	assert_true(n > 0 && (size_t)n < sizeof(text));
	write_file(f->script, text, (size_t)n, 0700);
	return f->script;
}

static char *
slurp(const char *path, char *buf, size_t len)
{
	FILE *fp = fopen(path, "re");
	size_t n;

	assert_non_null(fp);
	n = fread(buf, 1, len - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_pinentry.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->pinfile, sizeof(f->pinfile), "%s/pin", f->dir);
	snprintf(f->logfile, sizeof(f->logfile), "%s/log", f->dir);
	snprintf(f->confirmfile, sizeof(f->confirmfile), "%s/confirm",
	    f->dir);
	snprintf(f->script, sizeof(f->script), "%s/script", f->dir);
	setenv("FAKE_PINENTRY_PIN", f->pinfile, 1);
	setenv("FAKE_PINENTRY_LOG", f->logfile, 1);
	setenv("FAKE_PINENTRY_CONFIRM", f->confirmfile, 1);
	unsetenv("FAKE_PINENTRY_CANCEL");
	unsetenv("GPG_TTY");
	unsetenv("TERM");
	f->lowfd = lowest_free_fd();
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	/* Every call must have reaped its pinentry and closed its pipes. */
	errno = 0;
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	assert_int_equal(lowest_free_fd(), f->lowfd);

	ca_secret_free(f->pin);
	unlink(f->pinfile);
	unlink(f->logfile);
	unlink(f->confirmfile);
	unlink(f->script);
	assert_int_equal(rmdir(f->dir), 0);
	free(f);
	return 0;
}

static enum pinentry_status
ask(struct fx *f, const struct pinentry_req *req)
{
	ca_secret_free(f->pin);
	f->pin = (struct ca_secret *)1;	/* must be overwritten */
	memset(f->err, 'X', sizeof(f->err));
	return pinentry_getpin(req, &f->pin, f->err, sizeof(f->err));
}

/* pinentry_confirm(), with f->pin NULL so assert_failed() applies. */
static enum pinentry_status
confirm(struct fx *f, const struct pinentry_req *req)
{
	ca_secret_free(f->pin);
	f->pin = NULL;
	memset(f->err, 'X', sizeof(f->err));
	return pinentry_confirm(req, f->err, sizeof(f->err));
}

/* The fake's answer to the next CONFIRM: "yes", "no", "cancel", ... */
static void
set_confirm(struct fx *f, const char *answer)
{
	char line[32];

	snprintf(line, sizeof(line), "%s\n", answer);
	write_file(f->confirmfile, line, strlen(line), 0600);
}

static void
assert_pin(struct fx *f, const char *want, size_t len)
{
	assert_non_null(f->pin);
	assert_int_equal(f->pin->len, len);
	assert_memory_equal(f->pin->data, want, len);
	assert_string_equal(f->err, "");
}

static void
assert_failed(struct fx *f, enum pinentry_status st, const char *why)
{
	assert_int_equal(st, PINENTRY_FAILED);
	assert_null(f->pin);
	assert_true(strlen(f->err) > 0 && strlen(f->err) < sizeof(f->err));
	assert_null(strchr(f->err, '\n'));
	if (why != NULL && strstr(f->err, why) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", f->err, why);
}

static void
test_pin(void **state)
{
	struct fx *f = *state;
	struct pinentry_req req = {
		.program = fake(), .description = "Enter the PIN", .prompt = "PIN:"
	};
	char log[256];

	set_pin(f, "123456\n");
	assert_int_equal(ask(f, &req), PINENTRY_OK);
	assert_pin(f, "123456", 6);
	assert_string_equal(slurp(f->logfile, log, sizeof(log)),
	    "GETPIN Enter the PIN\n");
}

/* A literal "%41" must come back as typed: unescaped exactly once. */
static void
test_pin_with_percent(void **state)
{
	struct fx *f = *state;
	struct pinentry_req req = { .program = fake(), .prompt = "PIN:" };
	static const char pin[] = "%41 5%\t%%25x%";

	set_pin(f, "%41 5%\t%%25x%\n");
	assert_int_equal(ask(f, &req), PINENTRY_OK);
	assert_pin(f, pin, sizeof(pin) - 1);
}

static void
test_pin_read_per_prompt(void **state)
{
	struct fx *f = *state;
	struct pinentry_req req = { .program = fake(), .description = "one" };
	char log[256];

	set_pin(f, "1111\n");
	assert_int_equal(ask(f, &req), PINENTRY_OK);
	assert_pin(f, "1111", 4);
	set_pin(f, "22222\n");
	req.description = "two";
	assert_int_equal(ask(f, &req), PINENTRY_OK);
	assert_pin(f, "22222", 5);
	assert_string_equal(slurp(f->logfile, log, sizeof(log)),
	    "GETPIN one\nGETPIN two\n");
}

static void
test_empty_pin(void **state)
{
	struct fx *f = *state;
	struct pinentry_req req = { .program = fake() };

	set_pin(f, "\n");
	assert_int_equal(ask(f, &req), PINENTRY_OK);
	assert_pin(f, "", 0);
}

static void
test_pin_max_length(void **state)
{
	struct fx *f = *state;
	struct pinentry_req req = { .program = fake() };
	char pin[PINENTRY_PIN_MAX + 2];

	/* All '%' so the wire form is three times as long. */
	memset(pin, '%', PINENTRY_PIN_MAX);
	pin[PINENTRY_PIN_MAX] = '\n';
	pin[PINENTRY_PIN_MAX + 1] = '\0';
	set_pin(f, pin);
	assert_int_equal(ask(f, &req), PINENTRY_OK);
	assert_pin(f, pin, PINENTRY_PIN_MAX);
}

static void
test_pin_too_long(void **state)
{
	struct fx *f = *state;
	struct pinentry_req req = { .program = fake() };
	char pin[700];

	/* 1800 bytes escaped: arrives in two D lines. */
	memset(pin, '%', 600);
	strcpy(pin + 600, "\n");
	set_pin(f, pin);
	assert_failed(f, ask(f, &req), "longer than 256");

	memset(pin, '7', PINENTRY_PIN_MAX + 1);
	strcpy(pin + PINENTRY_PIN_MAX + 1, "\n");
	set_pin(f, pin);
	assert_failed(f, ask(f, &req), "longer than 256");
}

static void
test_description_escaped(void **state)
{
	struct fx *f = *state;
	struct pinentry_req req = {
		.program = fake(),
		.title = "cardagent",
		.description = "Token \"Work 50%\"\nPIN, 3 tries left\r!",
		.prompt = "PIN:",
		.error = "Wrong PIN\n2 tries left",
		.keyinfo = "s/ABCDEF",
		.timeout = 30,
	};
	char log[256];

	set_pin(f, "0000\n");
	assert_int_equal(ask(f, &req), PINENTRY_OK);
	assert_pin(f, "0000", 4);
	assert_string_equal(slurp(f->logfile, log, sizeof(log)),
	    "GETPIN Token \"Work 50%25\"%0APIN, 3 tries left%0D!\n");
}

static void
test_description_too_long(void **state)
{
	struct fx *f = *state;
	struct pinentry_req req = { .program = fake() };
	char desc[600];

	/* 1800 bytes once escaped: more than one Assuan line. */
	memset(desc, '\n', sizeof(desc) - 1);
	desc[sizeof(desc) - 1] = '\0';
	req.description = desc;
	set_pin(f, "0000\n");
	assert_failed(f, ask(f, &req), "SETDESC");
}

/* The exact conversation, as seen by the pinentry. */
static void
test_transcript(void **state)
{
	struct fx *f = *state;
	struct pinentry_req req = {
		.title = "T", .description = "a\nb", .prompt = "PIN:",
		.error = "E", .keyinfo = "n/0123", .timeout = 5,
	};
	char body[512], log[1024];

	snprintf(body, sizeof(body),
	    "echo 'OK hello'\n"
	    "while IFS= read -r l; do\n"
	    "  printf '%%s\\n' \"$l\" >>'%s'\n"
	    "  case $l in\n"
	    "  GETPIN) printf 'S PROGRESS 1\\n# note\\nD 12\\nD %%%%25\\nD 34\\nOK\\n' ;;\n"
	    "  BYE) echo OK; exit 0 ;;\n"
	    "  *) echo OK ;;\n"
	    "  esac\n"
	    "done", f->logfile);
	req.program = script(f, body);
	setenv("GPG_TTY", "/dev/pts/7", 1);
	setenv("TERM", "xterm-256color", 1);
	assert_int_equal(ask(f, &req), PINENTRY_OK);
	assert_pin(f, "12%34", 5);
	assert_string_equal(slurp(f->logfile, log, sizeof(log)),
	    "OPTION ttyname=/dev/pts/7\n"
	    "OPTION ttytype=xterm-256color\n"
	    "SETTITLE T\n"
	    "SETDESC a%0Ab\n"
	    "SETPROMPT PIN:\n"
	    "SETERROR E\n"
	    "SETKEYINFO n/0123\n"
	    "SETTIMEOUT 5\n"
	    "GETPIN\n"
	    "BYE\n");

	/* Unset, and unsendable verbatim: no OPTION at all. */
	unlink(f->logfile);
	unsetenv("TERM");
	setenv("GPG_TTY", "/dev/100%", 1);
	req.title = req.error = req.keyinfo = NULL;
	req.timeout = 0;
	assert_int_equal(ask(f, &req), PINENTRY_OK);
	assert_string_equal(slurp(f->logfile, log, sizeof(log)),
	    "SETDESC a%0Ab\nSETPROMPT PIN:\nGETPIN\nBYE\n");
}

/*
 * What the pinentry inherits: the environment, but no stray fds and no
 * ignored SIGPIPE.  (The signal mask cannot be checked this way: sh clears
 * its own on startup.)
 */
static void
test_child_context(void **state)
{
	struct fx *f = *state;
	struct pinentry_req req = { .description = "d" };
	char body[512], log[1024], want[64];
	unsigned long long ign;
	char *p;
	int leak;

	snprintf(body, sizeof(body),
	    "echo OK\n"
	    "{ echo \"env=$CARDAGENT_TEST_ENV\"\n"
	    "  grep '^SigIgn:' /proc/$$/status\n"
	    "  ls /proc/$$/fd | tr '\\n' ' '; echo; } >'%s'\n"
	    SERVE("GETPIN) printf 'D 1\\nOK\\n';;"),
	    f->logfile);
	req.program = script(f, body);
	setenv("CARDAGENT_TEST_ENV", "passed through", 1);
	leak = dup(STDERR_FILENO);	/* not close-on-exec */
	assert_true(leak > STDERR_FILENO);

	assert_int_equal(ask(f, &req), PINENTRY_OK);
	assert_pin(f, "1", 1);

	close(leak);
	unsetenv("CARDAGENT_TEST_ENV");
	slurp(f->logfile, log, sizeof(log));
	assert_non_null(strstr(log, "env=passed through\n"));
	assert_non_null(p = strstr(log, "SigIgn:"));
	ign = strtoull(p + 7, NULL, 16);
	assert_true((ign & 1ULL << (SIGPIPE - 1)) == 0);
	snprintf(want, sizeof(want), " %d ", leak);
	if (strstr(log, want) != NULL)
		fail_msg("fd %d leaked into pinentry: %s", leak, log);
}

static void
test_cancel(void **state)
{
	struct fx *f = *state;
	struct pinentry_req req = { .program = fake(), .description = "d" };
	char log[256];

	setenv("FAKE_PINENTRY_CANCEL", "1", 1);
	assert_int_equal(ask(f, &req), PINENTRY_CANCELLED);
	assert_null(f->pin);
	assert_string_equal(f->err, "");

	unsetenv("FAKE_PINENTRY_CANCEL");
	assert_int_equal(ask(f, &req), PINENTRY_CANCELLED);
	assert_null(f->pin);
	assert_string_equal(slurp(f->logfile, log, sizeof(log)),
	    "GETPIN d\nGETPIN d\n");
}

static void
test_cancel_codes(void **state)
{
	struct fx *f = *state;
	struct pinentry_req req = { .prompt = "PIN:" };
	static const char *const codes[] = {
		"83886179 Operation cancelled", "83886194 Not confirmed",
		"99", "83886278 Fully canceled", "277 IPC call has been cancelled",
	};
	char body[256];
	size_t i;

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		snprintf(body, sizeof(body),
		    PINENTRY("GETPIN) echo 'ERR %s';;"),
		    codes[i]);
		req.program = script(f, body);
		assert_int_equal(ask(f, &req), PINENTRY_CANCELLED);
		assert_null(f->pin);
	}
}

static void
test_timeout(void **state)
{
	struct fx *f = *state;
	struct pinentry_req req = { .timeout = 1 };

	req.program = script(f,
	    PINENTRY("GETPIN) echo 'ERR 83886142 Timeout <Pinentry>';;"));
	assert_failed(f, ask(f, &req), "timed out");
}

/* Old pinentries lack SETKEYINFO and SETTIMEOUT; the rest is required. */
static void
test_command_refused(void **state)
{
	struct fx *f = *state;
	struct pinentry_req req = {
		.description = "d", .keyinfo = "n/1", .timeout = 9
	};

	req.program = script(f,
	    PINENTRY(
	    "SETKEYINFO*|SETTIMEOUT*) echo 'ERR 536871187 Unknown IPC command';;\n"
	    "GETPIN) printf 'D 42\\nOK\\n';;"));
	assert_int_equal(ask(f, &req), PINENTRY_OK);
	assert_pin(f, "42", 2);

	req.program = script(f,
	    PINENTRY("SETDESC*) printf 'ERR 536871187 Unknown \\001command\\n';;"));
	assert_failed(f, ask(f, &req), "rejected SETDESC: Unknown ?command");
}

static void
test_nonexistent_program(void **state)
{
	struct fx *f = *state;
	struct pinentry_req req = { .program = "/nonexistent/pinentry" };

	assert_failed(f, ask(f, &req), "cannot run /nonexistent/pinentry");
	req.program = f->dir;
	assert_failed(f, ask(f, &req), "cannot run");
}

static void
test_exits_immediately(void **state)
{
	struct fx *f = *state;
	struct pinentry_req req = { .program = "/bin/true" };

	assert_failed(f, ask(f, &req), "exited unexpectedly");
	req.program = script(f, "echo OK; exit 1");
	assert_failed(f, ask(f, &req), "exited unexpectedly");
	/* Gone in the middle of GETPIN, after part of the PIN. */
	req.program = script(f,
	    PINENTRY("GETPIN) echo 'D 12'; exit 0;;"));
	assert_failed(f, ask(f, &req), "exited unexpectedly");
}

static void
test_garbage(void **state)
{
	struct fx *f = *state;
	struct pinentry_req req = { .program = "/bin/echo", .description = "d" };
	static const struct {
		const char *body;
		const char *why;
	} junk[] = {
		{ "echo 'Hello, I am not a pinentry'", "did not greet" },
		{ "echo ERR 1 go away", "did not greet" },
		/* Lingers silently afterwards: must be killed, not waited on. */
		{ "head -c 3000 /dev/zero | tr '\\0' x; exec sleep 60",
		  "over-long line" },
		{ "printf 'OK\\000\\n'; exec sleep 60", "malformed line" },
		{ "echo OK; while read -r l; do echo 'what?'; done",
		  "unexpected reply" },
		/* Data is only expected from GETPIN, not from SETDESC. */
		{ "echo OK; while read -r l; do echo 'D 1234'; echo OK; done",
		  "from pinentry to SETDESC" },
		{ "echo OK; while read -r l; do echo 'ERR -1 x'; done",
		  "malformed ERR" },
		{ "echo OK; while read -r l; do echo 'ERR'; done",
		  "malformed ERR" },
		{ PINENTRY("GETPIN) printf 'D 1%%4\\nOK\\n';;"),
		  "malformed data" },
		{ PINENTRY("GETPIN) printf 'D 1%%zz\\nOK\\n';;"),
		  "malformed data" },
		{ PINENTRY("GETPIN) echo 'INQUIRE QUALITY 1';;"),
		  "unexpected reply" },
		/* Ignores SIGTERM and never reads: only SIGKILL ends it. */
		{ "trap '' TERM; echo junk; while :; do sleep 1; done",
		  "did not greet" },
	};
	struct timespec t0, t1;
	size_t i;

	assert_failed(f, ask(f, &req), "did not greet");
	for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		req.program = script(f, junk[i].body);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		assert_failed(f, ask(f, &req), junk[i].why);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		/* Two grace periods at most, never a reply timeout. */
		assert_true(t1.tv_sec - t0.tv_sec < 5);
	}
}

static void
test_bad_arguments(void **state)
{
	struct fx *f = *state;
	struct pinentry_req req = { .program = "/bin/true" };
	struct ca_secret *pin = NULL;

	assert_int_equal(pinentry_getpin(&req, &pin, NULL, 0),
	    PINENTRY_FAILED);
	assert_null(pin);
	assert_int_equal(pinentry_getpin(NULL, &pin, f->err, sizeof(f->err)),
	    PINENTRY_FAILED);
	assert_int_equal(pinentry_getpin(&req, NULL, f->err, 4),
	    PINENTRY_FAILED);
	assert_true(strlen(f->err) == 3);
}

static void
test_confirm_allowed(void **state)
{
	struct fx *f = *state;
	struct pinentry_req req = {
		.program = fake(), .description = "Allow signing with key X?"
	};
	char log[256];

	/* No answer file: the fake allows, as it always did. */
	assert_int_equal(confirm(f, &req), PINENTRY_OK);
	assert_string_equal(f->err, "");
	set_confirm(f, "yes");
	assert_int_equal(confirm(f, &req), PINENTRY_OK);
	assert_string_equal(f->err, "");
	assert_string_equal(slurp(f->logfile, log, sizeof(log)),
	    "CONFIRM Allow signing with key X?\n"
	    "CONFIRM Allow signing with key X?\n");
}

static void
test_confirm_denied(void **state)
{
	struct fx *f = *state;
	struct pinentry_req req = { .program = fake(), .description = "q" };
	char log[256];

	set_confirm(f, "no");
	assert_int_equal(confirm(f, &req), PINENTRY_CANCELLED);
	assert_string_equal(f->err, "");
	set_confirm(f, "cancel");
	assert_int_equal(confirm(f, &req), PINENTRY_CANCELLED);
	assert_string_equal(f->err, "");
	assert_string_equal(slurp(f->logfile, log, sizeof(log)),
	    "CONFIRM q\nCONFIRM q\n");
}

/* Both codes a dialog is refused with, whatever the source bits say. */
static void
test_confirm_denied_codes(void **state)
{
	struct fx *f = *state;
	struct pinentry_req req = { .description = "q" };
	static const char *const codes[] = {
		"83886194 Not confirmed <Pinentry>", "83886194 Not confirmed",
		"114", "114 Not confirmed",
		"83886179 Operation cancelled <Pinentry>",
		"83886179 Operation cancelled", "99",
	};
	char body[256];
	size_t i;

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		snprintf(body, sizeof(body),
		    PINENTRY("CONFIRM) echo 'ERR %s';;"),
		    codes[i]);
		req.program = script(f, body);
		assert_int_equal(confirm(f, &req), PINENTRY_CANCELLED);
		assert_string_equal(f->err, "");
	}
}

/* The exact conversation, and the button labels only when asked for. */
static void
test_confirm_transcript(void **state)
{
	struct fx *f = *state;
	struct pinentry_req req = {
		.title = "T", .description = "Allow\nsigning?",
		.ok = "Allow", .cancel = "Deny 100%", .keyinfo = "n/0123",
		.timeout = 5,
	};
	char body[512], log[1024];

	snprintf(body, sizeof(body),
	    "echo 'OK hello'\n"
	    "while IFS= read -r l; do\n"
	    "  printf '%%s\\n' \"$l\" >>'%s'\n"
	    "  case $l in\n"
	    "  CONFIRM) printf 'S PROGRESS 1\\n# note\\nOK\\n' ;;\n"
	    "  BYE) echo OK; exit 0 ;;\n"
	    "  *) echo OK ;;\n"
	    "  esac\n"
	    "done", f->logfile);
	req.program = script(f, body);
	assert_int_equal(confirm(f, &req), PINENTRY_OK);
	assert_string_equal(f->err, "");
	assert_string_equal(slurp(f->logfile, log, sizeof(log)),
	    "SETTITLE T\n"
	    "SETDESC Allow%0Asigning?\n"
	    "SETOK Allow\n"
	    "SETCANCEL Deny 100%25\n"
	    "SETKEYINFO n/0123\n"
	    "SETTIMEOUT 5\n"
	    "CONFIRM\n"
	    "BYE\n");

	unlink(f->logfile);
	req.title = req.ok = req.cancel = req.keyinfo = NULL;
	req.timeout = 0;
	assert_int_equal(confirm(f, &req), PINENTRY_OK);
	assert_string_equal(slurp(f->logfile, log, sizeof(log)),
	    "SETDESC Allow%0Asigning?\nCONFIRM\nBYE\n");

	/* Labels are for any dialog, the PIN prompt too. */
	unlink(f->logfile);
	req.ok = "Unlock";
	assert_int_equal(ask(f, &req), PINENTRY_OK);
	assert_string_equal(slurp(f->logfile, log, sizeof(log)),
	    "SETDESC Allow%0Asigning?\nSETOK Unlock\nGETPIN\nBYE\n");
}

/* The fake logs the labels, for tests that run the whole agent. */
static void
test_confirm_labels_logged(void **state)
{
	struct fx *f = *state;
	struct pinentry_req req = {
		.program = fake(), .description = "q", .ok = "Allow",
		.cancel = "Deny"
	};
	char log[256];

	set_confirm(f, "no");
	assert_int_equal(confirm(f, &req), PINENTRY_CANCELLED);
	assert_string_equal(slurp(f->logfile, log, sizeof(log)),
	    "SETOK Allow\nSETCANCEL Deny\nCONFIRM q\n");
}

static void
test_confirm_timeout(void **state)
{
	struct fx *f = *state;
	struct pinentry_req req = { .description = "q", .timeout = 1 };

	req.program = script(f,
	    PINENTRY("CONFIRM) echo 'ERR 83886142 Timeout <Pinentry>';;"));
	assert_failed(f, confirm(f, &req), "timed out");
}

/* Whatever goes wrong, the answer is never "allowed". */
static void
test_confirm_failures(void **state)
{
	struct fx *f = *state;
	struct pinentry_req req = { .description = "q", .ok = "Allow" };
	static const struct {
		const char *body;
		const char *why;
	} bad[] = {
		{ PINENTRY("SETOK*) echo 'ERR 536871187 Unknown IPC command';;"),
		  "rejected SETOK: Unknown IPC command" },
		/* CONFIRM has no data to send back. */
		{ PINENTRY("CONFIRM) printf 'D 1\\nOK\\n';;"),
		  "unexpected reply from pinentry to CONFIRM" },
		{ PINENTRY("CONFIRM) exit 0;;"),
		  "exited unexpectedly" },
		{ PINENTRY("CONFIRM) echo 'ERR 83886081 General error';;"),
		  "CONFIRM failed: General error (error 83886081)" },
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		req.program = script(f, bad[i].body);
		assert_failed(f, confirm(f, &req), bad[i].why);
	}
	/* The fake's own way to flag a mistyped answer file. */
	req.program = fake();
	set_confirm(f, "maybe");
	assert_failed(f, confirm(f, &req), "Bad FAKE_PINENTRY_CONFIRM");
}

static void
test_confirm_nonexistent_program(void **state)
{
	struct fx *f = *state;
	struct pinentry_req req = {
		.program = "/nonexistent/pinentry", .description = "q"
	};

	assert_failed(f, confirm(f, &req), "cannot run /nonexistent/pinentry");
	req.program = "/bin/true";
	assert_failed(f, confirm(f, &req), "exited unexpectedly");
}

/* A dialog that does not say what it allows is never shown. */
static void
test_confirm_bad_arguments(void **state)
{
	struct fx *f = *state;
	struct pinentry_req req = { .program = fake() };

	assert_failed(f, confirm(f, &req), "invalid arguments");
	assert_failed(f, confirm(f, NULL), "invalid arguments");
	assert_int_equal(pinentry_confirm(NULL, NULL, 0), PINENTRY_FAILED);
	assert_int_equal(pinentry_confirm(NULL, f->err, 4), PINENTRY_FAILED);
	assert_true(strlen(f->err) == 3);
	/* Nothing was run. */
	assert_int_equal(access(f->logfile, F_OK), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_pin),
		T(test_pin_with_percent),
		T(test_pin_read_per_prompt),
		T(test_empty_pin),
		T(test_pin_max_length),
		T(test_pin_too_long),
		T(test_description_escaped),
		T(test_description_too_long),
		T(test_transcript),
		T(test_child_context),
		T(test_cancel),
		T(test_cancel_codes),
		T(test_timeout),
		T(test_command_refused),
		T(test_nonexistent_program),
		T(test_exits_immediately),
		T(test_garbage),
		T(test_bad_arguments),
		T(test_confirm_allowed),
		T(test_confirm_denied),
		T(test_confirm_denied_codes),
		T(test_confirm_transcript),
		T(test_confirm_labels_logged),
		T(test_confirm_timeout),
		T(test_confirm_failures),
		T(test_confirm_nonexistent_program),
		T(test_confirm_bad_arguments),
#undef T
	};

	/* As the agent does; pinentry_getpin() relies on it. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
