/*
 * login.c: C_Login and C_Logout. Logging in is the agent's job: the
 * module passes the PIN it was given (or none, for the protected path:
 * the agent asks through pinentry) to the agent's LOGIN, and C_Logout is
 * the agent's LOCK. The agent never retries a wrong PIN, nor does this.
 */
#include <stdlib.h>
#include <string.h>

#include "module.h"
#include "secret.h"

struct login_req {
	char *token_id;
	struct ca_secret *pin;	/* NULL: the agent asks */
};

static int
login_fn(struct cac *c, void *arg)
{
	struct login_req *q = arg;

	return cac_login(c, q->token_id, q->pin);
}

static int
lock_fn(struct cac *c, void *arg)
{
	struct login_req *q = arg;

	return cac_lock(c, q->token_id);
}

/*
 * The agent's id for session h's token, and whether the agent has it
 * logged in now: *agent for anyone, *app for this application (the agent
 * answers LOGIN with OK while logged in; PKCS#11 wants
 * CKR_USER_ALREADY_LOGGED_IN only from the application that did; app may
 * be NULL). Returns
 * CKR_OK with *id malloc()ed for the caller.
 */
static CK_RV
token_state(CK_SESSION_HANDLE h, char **id, int *agent, int *app)
{
	struct cp_session *s;
	struct cp_slot *slot;
	struct cp_mod *m;
	CK_RV rv;

	if ((rv = cp_enter_session(h, &m, &s)) != CKR_OK)
		return rv;
	cp_leave();
	cp_slots_refresh();
	if ((rv = cp_enter_session(h, &m, &s)) != CKR_OK)
		return rv;
	slot = cp_slot(m, s->slot);
	*agent = (slot->tok.flags & CA_TOK_LOGGED_IN) != 0;
	if (app != NULL)
		*app = *agent && slot->login;
	if ((*id = strdup(slot->tok.id)) == NULL)
		rv = CKR_HOST_MEMORY;
	cp_leave();
	return rv;
}

/* Records that this application logged in to session h's token, or not. */
static void
set_login(CK_SESSION_HANDLE h, int in)
{
	struct cp_session *s;
	struct cp_mod *m;

	if (cp_enter_session(h, &m, &s) != CKR_OK)
		return;
	cp_slot(m, s->slot)->login = in;
	cp_leave();
}

/*
 * A context-specific login belongs to an operation; keys here never ask
 * for one (CKA_ALWAYS_AUTHENTICATE is false: the agent gets a key's PIN
 * itself at every use), so one for an active operation changes nothing.
 */
static CK_RV
context_login(CK_SESSION_HANDLE h)
{
	struct cp_session *s;
	struct cp_mod *m;
	CK_RV rv;

	if ((rv = cp_enter_session(h, &m, &s)) != CKR_OK)
		return rv;
	rv = s->op.kind != CP_OP_NONE ? CKR_OK :
	    CKR_OPERATION_NOT_INITIALIZED;
	cp_leave();
	return rv;
}

CK_RV
C_Login(CK_SESSION_HANDLE h, CK_USER_TYPE type, CK_UTF8CHAR_PTR pin,
    CK_ULONG pin_len)
{
	struct login_req q = { NULL, NULL };
	int agent, app;
	CK_RV rv;

	if (type == CKU_CONTEXT_SPECIFIC)
		return context_login(h);
	if ((rv = token_state(h, &q.token_id, &agent, &app)) != CKR_OK)
		return rv;
	if (type != CKU_USER)
		rv = CKR_USER_TYPE_INVALID;
	else if (pin != NULL && pin_len > CA_PIN_MAX)
		rv = CKR_PIN_LEN_RANGE;
	else if (app)
		rv = CKR_USER_ALREADY_LOGGED_IN;
	else if (pin != NULL && pin_len > 0 &&
	    (q.pin = ca_secret_dup(pin, pin_len)) == NULL)
		rv = CKR_HOST_MEMORY;
	if (rv == CKR_OK &&
	    (rv = cp_rv(cp_agent(login_fn, &q, CP_FRESH), CP_FOR_TOKEN)) ==
	    CKR_OK)
		set_login(h, 1);
	ca_secret_free(q.pin);
	free(q.token_id);
	return rv;
}

CK_RV
C_Logout(CK_SESSION_HANDLE h)
{
	struct login_req q = { NULL, NULL };
	int agent;
	CK_RV rv;

	if ((rv = token_state(h, &q.token_id, &agent, NULL)) != CKR_OK)
		return rv;
	if (!agent)
		rv = CKR_USER_NOT_LOGGED_IN;
	else if ((rv = cp_rv(cp_agent(lock_fn, &q, CP_REUSE),
	    CP_FOR_TOKEN)) == CKR_OK)
		set_login(h, 0);
	free(q.token_id);
	return rv;
}
