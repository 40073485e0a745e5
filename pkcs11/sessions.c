/*
 * sessions.c: C_OpenSession, C_CloseSession, C_CloseAllSessions and
 * C_GetSessionInfo. A session is the module's own: the agent knows
 * nothing of it, and its login state is the agent's state of the token.
 */
#include <stdlib.h>
#include <string.h>

#include "module.h"
#include "secret.h"

void
cp_op_clear(struct cp_op *op)
{
	free(op->key_id);
	free(op->label);
	EVP_MD_CTX_free(op->md);
	ca_secret_free(op->result);
	memset(op, 0, sizeof(*op));
}

void
cp_session_free(struct cp_mod *m, struct cp_session *s)
{
	if (s == NULL)
		return;
	cp_op_clear(&s->op);
	free(s->found);
	if (m != NULL)
		cp_objs_drop_session(m, s->h);
	free(s);
}

/* Removes sessions[i] from the table and frees it. */
static void
session_remove(struct cp_mod *m, size_t i)
{
	struct cp_session *s = m->sessions[i];

	m->sessions[i] = m->sessions[--m->nsessions];
	cp_session_free(m, s);
}

void
cp_sessions_close_slot(struct cp_mod *m, CK_SLOT_ID slot)
{
	size_t i = 0;

	while (i < m->nsessions) {
		if (m->sessions[i]->slot == slot)
			session_remove(m, i);
		else
			i++;
	}
}

CK_RV
C_OpenSession(CK_SLOT_ID id, CK_FLAGS flags, CK_VOID_PTR app,
    CK_NOTIFY notify, CK_SESSION_HANDLE_PTR out)
{
	struct cp_session *s, **grown;
	struct cp_slot *slot;
	struct cp_mod *m;
	CK_RV rv;

	/* The module makes no callbacks: nothing to surrender to. */
	(void)app;
	(void)notify;
	if ((rv = cp_enter(&m)) != CKR_OK)
		return rv;
	cp_leave();
	if (out == NULL)
		return CKR_ARGUMENTS_BAD;
	if (!(flags & CKF_SERIAL_SESSION))
		return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
	cp_slots_refresh();
	if ((rv = cp_enter(&m)) != CKR_OK)
		return rv;
	if ((slot = cp_slot(m, id)) == NULL)
		rv = CKR_SLOT_ID_INVALID;
	else if (!slot->present)
		rv = CKR_TOKEN_NOT_PRESENT;
	else if (m->nsessions >= CP_SESSIONS_MAX)
		rv = CKR_SESSION_COUNT;
	if (rv != CKR_OK) {
		cp_leave();
		return rv;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (grown = realloc(m->sessions,
	    (m->nsessions + 1) * sizeof(*grown))) == NULL) {
		cp_leave();
		free(s);
		return CKR_HOST_MEMORY;
	}
	m->sessions = grown;
	s->h = m->next_session++;
	s->slot = id;
	s->flags = flags & (CKF_SERIAL_SESSION | CKF_RW_SESSION);
	m->sessions[m->nsessions++] = s;
	*out = s->h;
	cp_leave();
	return CKR_OK;
}

CK_RV
C_CloseSession(CK_SESSION_HANDLE h)
{
	struct cp_session *s;
	struct cp_mod *m;
	size_t i;
	CK_RV rv;

	if ((rv = cp_enter_session(h, &m, &s)) != CKR_OK)
		return rv;
	for (i = 0; m->sessions[i] != s; i++)
		continue;
	session_remove(m, i);
	cp_leave();
	return CKR_OK;
}

CK_RV
C_CloseAllSessions(CK_SLOT_ID id)
{
	struct cp_mod *m;
	CK_RV rv;

	if ((rv = cp_enter(&m)) != CKR_OK)
		return rv;
	if (cp_slot(m, id) == NULL)
		rv = CKR_SLOT_ID_INVALID;
	else
		cp_sessions_close_slot(m, id);
	cp_leave();
	return rv;
}

CK_RV
C_GetSessionInfo(CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR info)
{
	struct cp_session *s;
	struct cp_mod *m;
	int user, rw;
	CK_RV rv;

	if ((rv = cp_enter_session(h, &m, &s)) != CKR_OK)
		return rv;
	cp_leave();
	if (info == NULL)
		return CKR_ARGUMENTS_BAD;
	/* Logged in is what the agent says now: another client may have
	 * logged in or locked, or the agent's policy logged out. */
	cp_slots_refresh();
	if ((rv = cp_enter_session(h, &m, &s)) != CKR_OK)
		return rv;
	user = (cp_slot(m, s->slot)->tok.flags & CA_TOK_LOGGED_IN) != 0;
	rw = (s->flags & CKF_RW_SESSION) != 0;
	memset(info, 0, sizeof(*info));
	info->slotID = s->slot;
	info->flags = s->flags;
	if (user)
		info->state = rw ? CKS_RW_USER_FUNCTIONS : CKS_RO_USER_FUNCTIONS;
	else
		info->state = rw ? CKS_RW_PUBLIC_SESSION : CKS_RO_PUBLIC_SESSION;
	cp_leave();
	return CKR_OK;
}
