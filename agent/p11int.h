/*
 * p11int.h: helpers shared by the token host's PKCS#11 files (p11.c,
 * p11index.c, p11ops.c); not used outside them.
 */
#ifndef CARDAGENT_P11INT_H
#define CARDAGENT_P11INT_H

#include "p11.h"

#define F(t) ((t)->mod->f)

/* Passes rv through, marking t's session lost when rv says it is gone. */
CK_RV p11_track(struct p11_token *t, CK_RV rv);

/* The session's state, opening (or once re-opening) the session. */
CK_RV p11_session_state(struct p11_token *t, CK_STATE *state);

/* Record a module failure / a refusal in f; both return -1. */
int p11_fail_rv(struct p11_fail *f, const char *fn, CK_RV rv);
int p11_refuse(struct p11_fail *f, enum ca_status status, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

/* Reads one attribute into a new buffer the caller frees; an empty value
 * gives NULL, 0. */
CK_RV p11_attr_get(struct p11_token *t, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_TYPE type, uint8_t **val, size_t *len);
/* A boolean attribute; unreadable counts as false. */
int p11_attr_bool(struct p11_token *t, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_TYPE type);
CK_RV p11_attr_ulong(struct p11_token *t, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_TYPE type, CK_ULONG *v);

/* All objects matching tmpl, in a new array the caller frees. */
CK_RV p11_find_objects(struct p11_token *t, CK_ATTRIBUTE *tmpl,
    CK_ULONG ntmpl, CK_OBJECT_HANDLE **objs, size_t *nobjs);

/* CA_TOK_* flags from token flags and the session state. */
uint32_t p11_token_flags(CK_FLAGS tf, CK_STATE state);

#endif
