/*
 * prompt.h: PIN prompts for the event loop.
 *
 * pinentry is a separate, slow, human-paced program; prompts run on a
 * worker thread, one at a time in the order asked (two dialogs at once
 * would confuse anyone), and their results are delivered on the loop.
 */
#ifndef CARDAGENT_PROMPT_H
#define CARDAGENT_PROMPT_H

#include "msg.h"

struct loop;
struct ca_secret;

/*
 * Receives the outcome: status is a ca_status (CA_OK, CA_E_CANCELLED, or
 * CA_E_PIN_REQUIRED when no PIN could be asked, with why in err). On CA_OK
 * the callback owns pin.
 */
typedef void (*prompt_cb)(void *arg, uint32_t status, struct ca_secret *pin,
    const char *err);

/* Sets the loop and the pinentry program (NULL: "pinentry" from PATH).
 * Returns 0 or -1. */
int prompt_init(struct loop *l, const char *program, unsigned timeout_s);

/* Queues a prompt; strings are copied. cb always runs later, on the loop. */
void prompt_ask(const char *title, const char *desc, const char *keyinfo,
    prompt_cb cb, void *arg);

/* Drops queued prompts without calling back and leaves a running one to
 * end with the process; for shutdown only. */
void prompt_shutdown(void);

#endif
