/*
 * p11err.h: how the token host turns PKCS#11 failures into words.
 *
 * PKCS#11 return values never cross the wire: p11_status() maps them onto
 * the protocol's own codes in this one place, and the CKR_* name goes only
 * to the host's log (its stderr, which the agent keeps).
 */
#ifndef CARDAGENT_P11ERR_H
#define CARDAGENT_P11ERR_H

#include <p11-kit/pkcs11.h>

#include "msg.h"

/* The protocol status a user should see for rv. */
enum ca_status p11_status(CK_RV rv);

/* "CKR_PIN_INCORRECT" etc.; "CKR_VENDOR_DEFINED" or "CKR_unknown" when rv
 * has no name. */
const char *p11_rv_name(CK_RV rv);


#endif
