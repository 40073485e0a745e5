/*
 * prompt.h: PIN prompts and confirmation dialogs for the event loop.
 *
 * pinentry is a separate, slow, human-paced program; prompts run on a
 * worker thread, one at a time in the order asked (two dialogs at once
 * would confuse anyone), and their results are delivered on the loop.
 * PIN prompts and confirmations share that one queue.
 */
#ifndef CARDAGENT_PROMPT_H
#define CARDAGENT_PROMPT_H

#include "msg.h"

struct loop;
struct ca_secret;

/*
 * Receives the outcome: status is a ca_status (CA_OK, CA_E_CANCELLED, or
 * CA_E_PIN_REQUIRED when no PIN could be asked, with why in err). On CA_OK
 * the callback owns pin, which is NULL for a confirmation.  err is borrowed
 * for the call and is empty unless CA_E_PIN_REQUIRED or CA_E_INTERNAL.
 */
typedef void (*prompt_cb)(void *arg, uint32_t status, struct ca_secret *pin,
    const char *err);

/* Sets the loop and the pinentry program (NULL: "pinentry" from PATH).
 * Returns 0 or -1. */
int prompt_init(struct loop *l, const char *program, unsigned timeout_s);

/* Queues a PIN prompt; strings are copied.  cb runs later, on the loop,
 * except when out of memory: it then gets CA_E_INTERNAL before prompt_ask
 * returns. */
void prompt_ask(const char *title, const char *desc, const char *keyinfo,
    prompt_cb cb, void *arg);

/*
 * Queues a confirmation dialog, "may this happen?": desc is the question
 * (say which key, card and program), title and keyinfo as for prompt_ask;
 * the buttons read "Allow" and "Deny".  Strings are copied.  cb gets CA_OK
 * (pin NULL) only if the user allowed; CA_E_CANCELLED if they denied or
 * dismissed the dialog; CA_E_PIN_REQUIRED with why in err if no dialog
 * could be shown (desc NULL, no pinentry, it failed or timed out);
 * CA_E_INTERNAL if out of memory.  Anything but CA_OK means "not allowed".
 * cb runs later, on the loop, except that CA_E_INTERNAL is delivered
 * before prompt_confirm returns, as for prompt_ask.
 */
void prompt_confirm(const char *title, const char *desc, const char *keyinfo,
    prompt_cb cb, void *arg);

/* Shutting down: every prompt's callback gets CA_E_CANCELLED now, with
 * err "the agent is shutting down". A dialog on screen stays until the
 * user or its timeout ends it (or the agent exits); its answer is
 * dropped. */
void prompt_cancel(void);

/* Drops queued prompts without calling back and leaves a running one to
 * end with the process; for shutdown only. */
void prompt_shutdown(void);

#endif
