#define _GNU_SOURCE
#include "prompt.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "pinentry.h"
#include "secret.h"

struct ask {
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
		.prompt = "PIN:",
		.keyinfo = a->keyinfo,
		.timeout = P.timeout_s,
	};
	ssize_t r;

	a->st = pinentry_getpin(&req, &a->pin, a->err, sizeof(a->err));
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

	switch (a->st) {
	case PINENTRY_OK:
		status = CA_OK;
		break;
	case PINENTRY_CANCELLED:
		status = CA_E_CANCELLED;
		break;
	default:
		status = CA_E_PIN_REQUIRED;
		log_warn("PIN prompt failed: %s", a->err);
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

void
prompt_ask(const char *title, const char *desc, const char *keyinfo,
    prompt_cb cb, void *arg)
{
	struct ask *a;

	if ((a = calloc(1, sizeof(*a))) == NULL) {
		cb(arg, CA_E_INTERNAL, NULL, "out of memory");
		return;
	}
	a->title = dup_or_null(title);
	a->desc = dup_or_null(desc);
	a->keyinfo = dup_or_null(keyinfo);
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
