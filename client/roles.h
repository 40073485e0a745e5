/*
 * roles.h: what a key is for on a PIV or CAC card, as OpenSC shows them:
 * PIV keys by their CKA_ID (NIST SP 800-73: 01 = slot 9A ... 05-18 =
 * retired key management 82-95), CAC keys by their label.
 */
#ifndef CARDAGENT_ROLES_H
#define CARDAGENT_ROLES_H

#include <stddef.h>

#include "msg.h"

/*
 * Writes the role of key k on token t into buf ("Digital Signature (9C)",
 * "Retired Key Management 3 (84)", "CAC Email Signature"): 1, or 0 with
 * buf empty when t is neither a PIV nor a CAC card, or k has no known role.
 */
int cs_key_role(const struct ca_key *k, const struct ca_token *t, char *buf,
    size_t len);

#endif
