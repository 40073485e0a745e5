/*
 * chan.h: a framed, non-blocking message channel over a stream socket.
 * Clients and token hosts both speak proto/ frames through one of these.
 */
#ifndef CARDAGENT_CHAN_H
#define CARDAGENT_CHAN_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "msg.h"

struct chan {
	int fd;
	uint8_t *in;	/* received bytes not yet decoded */
	size_t inlen;
	size_t incap;
	struct ca_wr out;	/* encoded frames not yet written */
};

/* Takes over fd (already non-blocking); chan_free() closes it. */
void chan_init(struct chan *c, int fd);

/* Wipes the buffers, closes the fd. */
void chan_free(struct chan *c);

/*
 * Reads what the socket has. Returns 1 when bytes arrived or none were
 * waiting, 0 at end of file, -1 on error. It reads no more than one frame
 * can hold, so a peer can never make the channel buffer more than that.
 */
int chan_read(struct chan *c);

/*
 * Decodes the next complete frame into m. Returns CA_PE_INCOMPLETE when no
 * whole frame is buffered; any other error means the peer broke the
 * protocol. Consumed input is wiped, since it may have carried a PIN.
 */
enum ca_perr chan_next(struct chan *c, struct ca_msg *m);

/* Queues m for sending. */
enum ca_perr chan_send(struct chan *c, const struct ca_msg *m);

/* Writes queued bytes. Returns 0 when all are out, 1 when some remain,
 * -1 when the peer is gone. */
int chan_flush(struct chan *c);

/* Whether queued output remains. */
int chan_pending(const struct chan *c);

#endif
