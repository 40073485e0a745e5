/*
 * requests.h: what the agent does with each client request: answers
 * STATUS and LIST_KEYS from the cached index, logs in when an operation
 * needs it (asking for the PIN once, however many requests wait on it),
 * gets the per-use PIN for always-authenticate keys, and forwards
 * operations to the right token host.
 */
#ifndef CARDAGENT_REQUESTS_H
#define CARDAGENT_REQUESTS_H

#include "msg.h"

struct client;
struct request;

/*
 * Handles one request; takes ownership of the contents of m. The reply
 * reaches the client through client_reply(), now or later.
 */
void request_start(struct client *c, struct ca_msg *m);

/* The id the client gave the request. */
uint32_t request_id(const struct request *r);

/* The client went away: its request, if any, finishes silently. */
void request_orphan(struct request *r);

#endif
