/*
 * loop.h: the agent's event loop, poll(2) and timers, single-threaded.
 *
 * Threads (the PIN prompt) hand results back through a file descriptor the
 * loop watches, so every callback runs on the loop's thread.
 */
#ifndef CARDAGENT_LOOP_H
#define CARDAGENT_LOOP_H

#include <stdint.h>

#define LOOP_READ 0x1
#define LOOP_WRITE 0x2
/* Reported in events when the peer hung up or the fd is in error. */
#define LOOP_HUP 0x4

struct loop;
typedef void (*loop_fd_cb)(struct loop *l, int fd, int events, void *arg);
typedef void (*loop_timer_cb)(struct loop *l, void *arg);

/* A new loop; NULL on allocation failure. */
struct loop *loop_new(void);
void loop_free(struct loop *l);

/* Watches fd for events (LOOP_READ|LOOP_WRITE); replaces an earlier watch
 * of the same fd. Returns 0, or -1 on allocation failure. */
int loop_watch(struct loop *l, int fd, int events, loop_fd_cb cb, void *arg);
/* Changes the events of a watched fd. */
void loop_set_events(struct loop *l, int fd, int events);
/* Stops watching fd (it is not closed). Safe inside a callback. */
void loop_unwatch(struct loop *l, int fd);

/* Calls cb once, ms milliseconds from now. Returns a timer id > 0, or 0 on
 * allocation failure. */
uint64_t loop_timer(struct loop *l, uint64_t ms, loop_timer_cb cb, void *arg);
/* Cancels a timer that has not fired; unknown ids are ignored. */
void loop_timer_cancel(struct loop *l, uint64_t id);

/*
 * Polls without sleeping for the next us microseconds: an answer expected
 * within that time, and a client's next request right after it, are then
 * picked up at once, without the scheduler wake-up a sleeping process pays.
 */
void loop_spin(struct loop *l, unsigned us);

/* Monotonic milliseconds and microseconds. */
uint64_t loop_now_ms(void);
uint64_t loop_now_us(void);

/* Runs until loop_stop(); returns 0, or -1 if poll() failed. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);

#endif
