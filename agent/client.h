/*
 * client.h: connections from clients on the agent's socket.
 *
 * Each connection is checked with SO_PEERCRED when accepted: only the
 * agent's own uid may talk to it. A connection carries one request at a
 * time; it is not read while its request is in flight, so a client can
 * make the agent hold at most one frame for it.
 */
#ifndef CARDAGENT_CLIENT_H
#define CARDAGENT_CLIENT_H

#include <stddef.h>
#include <sys/types.h>

#include "chan.h"

struct loop;
struct request;
struct scope;

struct client {
	struct chan ch;
	uid_t uid;
	pid_t pid;
	char exe[256];		/* the peer's executable, when accepted */
	const struct scope *scope;	/* restricted socket; NULL: full */
	int allowed;		/* the user allowed this connection */
	int hello;		/* handshake done */
	int watching;		/* sent WATCH: gets STATUS_REPLY at changes */
	uint32_t watch_id;	/* the WATCH request's id */
	struct request *req;	/* the request in flight, if any */
	struct client *next;	/* list of all clients */
};

/*
 * Starts accepting on the listening socket fd; with a scope, its clients
 * may do only what the scope allows (scope is borrowed and must outlive
 * the listener). Returns 0 or -1.
 */
int clients_listen(struct loop *l, int fd, const struct scope *scope);

/* Sends reply, with the id of the request it answers, and resumes reading
 * the connection. */
void client_reply(struct client *c, uint32_t id, struct ca_msg *reply);

/* Replies to request id with an ERROR message. */
void client_error(struct client *c, uint32_t id, uint32_t status,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * The tokens may have changed (a card came or went, a login, a host down
 * or back): watching clients get a STATUS_REPLY if what they saw last
 * differs.
 */
void clients_tokens_changed(void);

/* Feeds clients that arrived before the token hosts settled. */
void clients_resume(void);

/*
 * Shutting down: stops accepting (the caller closes the listening socket),
 * reads no further requests and closes every connection with none in
 * flight; the others stay until their reply is sent.
 */
void clients_shutdown(void);

/* How many connections have a request in flight. */
size_t clients_busy(void);

/* Closes every connection; a request still in flight is answered "the
 * agent is shutting down" and finishes without its client. */
void clients_close_all(void);

#endif
