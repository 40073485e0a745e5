#define _GNU_SOURCE
#include "prompt.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "pinentry.h"
#include "secret.h"

struct ask {
	bool confirm;		/* a confirmation, not a PIN prompt */
	char *title, *desc, *keyinfo;
	prompt_cb cb;
	void *arg;
	/* filled by the worker thread */
	enum pinentry_status st;
	struct ca_secret *pin;
	char err[256];
	struct ask *next;
};

static struct {
	struct loop *loop;
	char *program;
	unsigned timeout_s;
	int pipe[2];		/* worker -> loop: finished struct ask * */
	struct ask *head, *tail;
	int running;
	pthread_t thread;
} P = { .pipe = { -1, -1 } };

static void *
worker(void *arg)
{
	struct ask *a = arg;
	struct pinentry_req req = {
		.program = P.program,
		.title = a->title,
		.description = a->desc,
		.keyinfo = a->keyinfo,
		.timeout = P.timeout_s,
	};
	ssize_t r;

	if (a->confirm) {
		/* Buttons that answer the question; OK/Cancel invite a
		 * click by habit. */
		req.ok = "Allow";
		req.cancel = "Deny";
		a->st = pinentry_confirm(&req, a->err, sizeof(a->err));
	} else {
		req.prompt = "PIN:";
		a->st = pinentry_getpin(&req, &a->pin, a->err,
		    sizeof(a->err));
	}
	do {
		r = write(P.pipe[1], &a, sizeof(a));
	} while (r == -1 && errno == EINTR);
	return NULL;
}

static void
start_next(void)
{
	if (P.running || P.head == NULL)
		return;
	if (pthread_create(&P.thread, NULL, worker, P.head) != 0) {
		P.head->st = PINENTRY_FAILED;
		strncpy(P.head->err, "cannot start prompt thread",
		    sizeof(P.head->err) - 1);
		/* Deliver through the pipe like any other result. */
		if (write(P.pipe[1], &P.head, sizeof(P.head)) == -1)
			log_err("prompt pipe: %s", strerror(errno));
		P.running = 2;
		return;
	}
	P.running = 1;
}

static void
free_ask(struct ask *a)
{
	free(a->title);
	free(a->desc);
	free(a->keyinfo);
	ca_secret_free(a->pin);
	free(a);
}

static void
deliver(struct ask *a)
{
	uint32_t status;

	/* Its request was failed by prompt_cancel. */
	if (a->cb == NULL) {
		free_ask(a);
		return;
	}
	switch (a->st) {
	case PINENTRY_OK:
		status = CA_OK;
		break;
	case PINENTRY_CANCELLED:
		status = CA_E_CANCELLED;
		break;
	default:
		status = CA_E_PIN_REQUIRED;
		log_warn("%s failed: %s", a->confirm ? "confirmation dialog" :
		    "PIN prompt", a->err);
		break;
	}
	a->cb(a->arg, status, status == CA_OK ? a->pin : NULL, a->err);
	if (status == CA_OK)
		a->pin = NULL;
	free_ask(a);
}

static void
done(struct loop *l, int fd, int ev, void *arg)
{
	struct ask *a;
	ssize_t r;

	(void)l;
	(void)ev;
	(void)arg;
	r = read(fd, &a, sizeof(a));
	if (r != (ssize_t)sizeof(a))
		return;
	if (P.running == 1)
		pthread_join(P.thread, NULL);
	P.running = 0;
	P.head = a->next;
	if (P.head == NULL)
		P.tail = NULL;
	start_next();
	deliver(a);
}

int
prompt_init(struct loop *l, const char *program, unsigned timeout_s)
{
	P.loop = l;
	P.timeout_s = timeout_s;
	if (program != NULL && (P.program = strdup(program)) == NULL)
		return -1;
	if (pipe2(P.pipe, O_CLOEXEC) == -1)
		return -1;
	return loop_watch(l, P.pipe[0], LOOP_READ, done, NULL);
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

/*
 * Appends to the one queue both kinds of dialog share.  A string lost to
 * malloc fails the request rather than leaving it out: a dialog must not
 * ask for a PIN or a confirmation without saying what for.
 */
static void
enqueue(bool confirm, const char *title, const char *desc,
    const char *keyinfo, prompt_cb cb, void *arg)
{
	struct ask *a;

	if ((a = calloc(1, sizeof(*a))) == NULL) {
		cb(arg, CA_E_INTERNAL, NULL, "out of memory");
		return;
	}
	a->confirm = confirm;
	a->title = dup_or_null(title);
	a->desc = dup_or_null(desc);
	a->keyinfo = dup_or_null(keyinfo);
	if ((title != NULL && a->title == NULL) ||
	    (desc != NULL && a->desc == NULL) ||
	    (keyinfo != NULL && a->keyinfo == NULL)) {
		free_ask(a);
		cb(arg, CA_E_INTERNAL, NULL, "out of memory");
		return;
	}
	a->cb = cb;
	a->arg = arg;
	if (P.tail != NULL)
		P.tail->next = a;
	else
		P.head = a;
	P.tail = a;
	start_next();
}

void
prompt_ask(const char *title, const char *desc, const char *keyinfo,
    prompt_cb cb, void *arg)
{
	enqueue(false, title, desc, keyinfo, cb, arg);
}

void
prompt_confirm(const char *title, const char *desc, const char *keyinfo,
    prompt_cb cb, void *arg)
{
	enqueue(true, title, desc, keyinfo, cb, arg);
}

void
prompt_cancel(void)
{
	struct ask *a, *next, *keep;

	/*
	 * A running dialog belongs to its thread until pinentry answers, but
	 * shutting down does not wait for the user: its request fails now,
	 * and the answer, if it comes in time, is dropped (deliver).
	 */
	if (P.running && P.head->cb != NULL) {
		P.head->cb(P.head->arg, CA_E_CANCELLED, NULL,
		    "the agent is shutting down");
		P.head->cb = NULL;
	}
	keep = P.running ? P.head : NULL;
	a = keep != NULL ? keep->next : P.head;
	if (keep != NULL)
		keep->next = NULL;
	P.head = P.tail = keep;
	for (; a != NULL; a = next) {
		next = a->next;
		a->cb(a->arg, CA_E_CANCELLED, NULL, "the agent is shutting down");
		free_ask(a);
	}
}

void
prompt_shutdown(void)
{
	struct ask *a, *next;

	/*
	 * A prompt may wait for the user for minutes; shutting down must not.
	 * Its thread is left to end with the process (pinentry then sees its
	 * pipes close and goes away); it keeps the head of the queue, the
	 * program name and the pipe.
	 */
	if (P.running == 1) {
		pthread_detach(P.thread);
		for (a = P.head->next; a != NULL; a = next) {
			next = a->next;
			free_ask(a);
		}
		P.head->next = NULL;
		loop_unwatch(P.loop, P.pipe[0]);
		return;
	}
	for (a = P.head; a != NULL; a = next) {
		next = a->next;
		free_ask(a);
	}
	if (P.pipe[0] != -1) {
		loop_unwatch(P.loop, P.pipe[0]);
		close(P.pipe[0]);
		close(P.pipe[1]);
	}
	free(P.program);
	memset(&P, 0, sizeof(P));
	P.pipe[0] = P.pipe[1] = -1;
}
