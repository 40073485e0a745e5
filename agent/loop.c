#define _GNU_SOURCE
#include "loop.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct watch {
	int fd;		/* -1: free slot */
	int events;
	loop_fd_cb cb;
	void *arg;
};

struct timer {
	uint64_t id;
	uint64_t when;
	loop_timer_cb cb;
	void *arg;
};

struct loop {
	struct watch *w;
	size_t nw;
	struct timer *t;
	size_t nt, capt;
	uint64_t next_id;
	struct pollfd *pfd;
	size_t cappfd;
	int stop;
	uint64_t spin_until;	/* microseconds, CLOCK_MONOTONIC */
};

uint64_t
loop_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void
loop_spin(struct loop *l, unsigned us)
{
	uint64_t until = loop_now_us() + us;

	if (until > l->spin_until)
		l->spin_until = until;
}

uint64_t
loop_now_ms(void)
{
	return loop_now_us() / 1000u;
}

struct loop *
loop_new(void)
{
	return calloc(1, sizeof(struct loop));
}

void
loop_free(struct loop *l)
{
	if (l == NULL)
		return;
	free(l->w);
	free(l->t);
	free(l->pfd);
	free(l);
}

static struct watch *
find_watch(struct loop *l, int fd)
{
	size_t i;

	for (i = 0; i < l->nw; i++)
		if (l->w[i].fd == fd)
			return &l->w[i];
	return NULL;
}

int
loop_watch(struct loop *l, int fd, int events, loop_fd_cb cb, void *arg)
{
	struct watch *w, *nw;
	size_t i;

	if ((w = find_watch(l, fd)) == NULL) {
		for (i = 0; i < l->nw && w == NULL; i++)
			if (l->w[i].fd == -1)
				w = &l->w[i];
	}
	if (w == NULL) {
		nw = reallocarray(l->w, l->nw ? l->nw * 2 : 16, sizeof(*nw));
		if (nw == NULL)
			return -1;
		l->w = nw;
		for (i = l->nw; i < (l->nw ? l->nw * 2 : 16); i++)
			l->w[i].fd = -1;
		w = &l->w[l->nw];
		l->nw = l->nw ? l->nw * 2 : 16;
	}
	w->fd = fd;
	w->events = events;
	w->cb = cb;
	w->arg = arg;
	return 0;
}

void
loop_set_events(struct loop *l, int fd, int events)
{
	struct watch *w = find_watch(l, fd);

	if (w != NULL)
		w->events = events;
}

void
loop_unwatch(struct loop *l, int fd)
{
	struct watch *w = find_watch(l, fd);

	if (w != NULL)
		w->fd = -1;
}

uint64_t
loop_timer(struct loop *l, uint64_t ms, loop_timer_cb cb, void *arg)
{
	struct timer *nt;

	if (l->nt == l->capt) {
		nt = reallocarray(l->t, l->capt ? l->capt * 2 : 8, sizeof(*nt));
		if (nt == NULL)
			return 0;
		l->t = nt;
		l->capt = l->capt ? l->capt * 2 : 8;
	}
	l->t[l->nt].id = ++l->next_id;
	l->t[l->nt].when = loop_now_ms() + ms;
	l->t[l->nt].cb = cb;
	l->t[l->nt].arg = arg;
	return l->t[l->nt++].id;
}

void
loop_timer_cancel(struct loop *l, uint64_t id)
{
	size_t i;

	for (i = 0; i < l->nt; i++) {
		if (l->t[i].id == id) {
			l->t[i] = l->t[--l->nt];
			return;
		}
	}
}

void
loop_stop(struct loop *l)
{
	l->stop = 1;
}

static int
poll_timeout(struct loop *l)
{
	uint64_t now = loop_now_ms(), first = UINT64_MAX;
	size_t i;

	for (i = 0; i < l->nt; i++)
		if (l->t[i].when < first)
			first = l->t[i].when;
	if (first == UINT64_MAX)
		return -1;
	if (first <= now)
		return 0;
	return first - now > 60000 ? 60000 : (int)(first - now);
}

/* Fires due timers one at a time, since a callback may add or cancel any. */
static void
run_timers(struct loop *l)
{
	uint64_t now = loop_now_ms();
	struct timer t;
	size_t i;

	for (;;) {
		for (i = 0; i < l->nt; i++)
			if (l->t[i].when <= now)
				break;
		if (i == l->nt)
			return;
		t = l->t[i];
		l->t[i] = l->t[--l->nt];
		t.cb(l, t.arg);
	}
}

int
loop_run(struct loop *l)
{
	struct pollfd *np;
	struct watch *w;
	size_t i, n;
	int r, ev;

	while (!l->stop) {
		if (l->cappfd < l->nw) {
			if ((np = reallocarray(l->pfd, l->nw, sizeof(*np))) == NULL)
				return -1;
			l->pfd = np;
			l->cappfd = l->nw;
		}
		for (i = n = 0; i < l->nw; i++) {
			if (l->w[i].fd == -1)
				continue;
			l->pfd[n].fd = l->w[i].fd;
			l->pfd[n].events = (short)(
			    ((l->w[i].events & LOOP_READ) ? POLLIN : 0) |
			    ((l->w[i].events & LOOP_WRITE) ? POLLOUT : 0));
			l->pfd[n].revents = 0;
			n++;
		}
		r = poll(l->pfd, n, l->spin_until > loop_now_us() ? 0 :
		    poll_timeout(l));
		if (r == -1 && errno != EINTR)
			return -1;
		for (i = 0; r > 0 && i < n; i++) {
			if (l->pfd[i].revents == 0)
				continue;
			/* A callback may have unwatched or replaced this fd. */
			if ((w = find_watch(l, l->pfd[i].fd)) == NULL)
				continue;
			ev = ((l->pfd[i].revents & POLLIN) ? LOOP_READ : 0) |
			    ((l->pfd[i].revents & POLLOUT) ? LOOP_WRITE : 0) |
			    ((l->pfd[i].revents & (POLLHUP | POLLERR | POLLNVAL)) ?
			    LOOP_HUP : 0);
			w->cb(l, w->fd, ev, w->arg);
		}
		run_timers(l);
	}
	return 0;
}
