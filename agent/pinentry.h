/*
 * pinentry.h: ask the user for a PIN, or to allow an operation, through
 * GnuPG's pinentry program.
 *
 * The agent runs pinentry as a child process and talks the Assuan protocol
 * to it over a pair of pipes, the same way gpg-agent does, so every
 * pinentry flavour (curses, tty, gtk, qt, gnome3, mac) works unchanged.
 */
#ifndef CARDAGENT_PINENTRY_H
#define CARDAGENT_PINENTRY_H

#include <stddef.h>

struct ca_secret;

/* Longest PIN accepted from pinentry, in bytes. */
#define PINENTRY_PIN_MAX 256

/*
 * What to show.  All strings are borrowed for the duration of the call,
 * may contain any byte but NUL (they are percent-escaped on the wire) and
 * must each fit one Assuan line once escaped (about 1000 bytes), else the
 * call fails.  NULL means the command is not sent and pinentry's default
 * applies.
 */
struct pinentry_req {
	const char *program;     /* pinentry binary; NULL = "pinentry" from PATH */
	const char *title;       /* SETTITLE, may be NULL */
	const char *description; /* SETDESC: names the token and tries left */
	const char *prompt;      /* SETPROMPT, e.g. "PIN:" */
	const char *error;       /* SETERROR, NULL if none */
	const char *keyinfo;     /* SETKEYINFO, NULL if none */
	const char *ok;          /* SETOK: OK button label, e.g. "Allow" */
	const char *cancel;      /* SETCANCEL: Cancel button label, "Deny" */
	unsigned timeout;        /* SETTIMEOUT seconds; 0 = none */
};

enum pinentry_status {
	PINENTRY_OK = 0,	/* *pin holds the PIN, or the user allowed */
	PINENTRY_CANCELLED,	/* the user dismissed the dialog or denied */
	PINENTRY_FAILED		/* anything else; err says why */
};

/*
 * Runs the pinentry program, asks for a PIN and stores it in *pin.
 *
 * On PINENTRY_OK, *pin is a new secret owned by the caller, who releases it
 * with ca_secret_free(); it may be empty (len 0) if the user confirmed an
 * empty field, and it is never longer than PINENTRY_PIN_MAX bytes.  The PIN
 * only ever lives in locked, wiped memory (struct ca_secret).  On any other
 * result *pin is set to NULL.
 *
 * On PINENTRY_FAILED a one-line, NUL-terminated reason is written into err
 * (truncated to errlen; err may be NULL when errlen is 0).  It never contains
 * PIN bytes.  Failures include: the program cannot be started, it exits or
 * closes its pipes early, it sends malformed, over-long or unexpected lines,
 * it does not answer a non-interactive command within 15 seconds, it
 * refuses a command (SETKEYINFO and SETTIMEOUT excepted: older pinentries
 * lack them and they are then skipped), the PIN exceeds PINENTRY_PIN_MAX
 * bytes, or pinentry's own timeout expired ("timed out").  err is left
 * empty on the other results.  PINENTRY_CANCELLED covers every "cancelled"
 * and "not confirmed" error code pinentry may send, whatever its source.
 *
 * Blocking; the agent calls it from a worker thread.  It keeps no global
 * state, so concurrent calls are safe (each runs its own pinentry).  While
 * GETPIN is outstanding it waits for the user without limit if
 * req->timeout is 0, and otherwise at most 15 seconds past req->timeout
 * (pinentry enforces the timeout itself; this is for one that does not).
 * Getting rid of a pinentry that will not exit adds at most 2 seconds.
 *
 * Requirements on the calling process:
 *  - SIGPIPE must be ignored: a pinentry that dies makes writes to its pipe
 *    fail with EPIPE, which is handled, instead of killing the agent.
 *  - Nothing else may reap the child (no SIGCHLD set to SIG_IGN, no
 *    waitpid(-1, ...) elsewhere): this function waits for the pinentry
 *    itself and, should it linger after the conversation, ends it with
 *    SIGTERM and then SIGKILL.
 *
 * The child gets the agent's environment (DISPLAY, WAYLAND_DISPLAY,
 * DBUS_SESSION_BUS_ADDRESS, ...), default signal dispositions, an empty
 * signal mask and no file descriptors other than stdin, stdout and stderr.
 * If GPG_TTY and TERM are set they are passed as OPTION ttyname= and
 * OPTION ttytype=, as gpg-agent does.
 */
enum pinentry_status pinentry_getpin(const struct pinentry_req *req,
    struct ca_secret **pin, char *err, size_t errlen);

/*
 * Runs the pinentry program and asks the user to allow something, with
 * req->description as the question and req->ok and req->cancel, when set,
 * as the button labels (req->prompt is of no use here).
 *
 * Returns PINENTRY_OK if the user allowed, PINENTRY_CANCELLED if they
 * denied or dismissed the dialog, and PINENTRY_FAILED, with a reason in err
 * as for pinentry_getpin(), for everything else, including a NULL req or
 * req->description: a dialog that does not say what it allows must not be
 * answered.  Callers must treat every result but PINENTRY_OK as "not
 * allowed".  err is left empty unless PINENTRY_FAILED.
 *
 * Nothing is returned or allocated for the caller.  Process requirements,
 * the child's context, blocking and timeouts are those of
 * pinentry_getpin(), CONFIRM taking the place of GETPIN.
 */
enum pinentry_status pinentry_confirm(const struct pinentry_req *req,
    char *err, size_t errlen);

#endif
