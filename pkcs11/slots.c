/*
 * slots.c: the agent's tokens as slots. A token gets a slot the first
 * time the module sees it and keeps it while the module is initialised;
 * a token the agent no longer lists, or whose card is out, leaves its
 * slot without a token. C_GetSlotList, C_GetSlotInfo, C_GetTokenInfo.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "module.h"

struct cp_slot *
cp_slot(struct cp_mod *m, CK_SLOT_ID id)
{
	if (id == 0 || id > m->nslots)
		return NULL;
	return &m->slots[id - 1];
}

static const struct ca_token *
token_by_id(const struct ca_token *t, size_t n, const char *id)
{
	size_t i;

	for (i = 0; t != NULL && i < n; i++)
		if (strcmp(t[i].id, id) == 0)
			return &t[i];
	return NULL;
}

/* Records t in its slot, making one for a new token. */
static void
slot_record(struct cp_mod *m, const struct ca_token *t)
{
	struct ca_token copy;
	struct cp_slot *s;
	size_t i;

	for (i = 0; i < m->nslots; i++)
		if (strcmp(m->slots[i].tok.id, t->id) == 0)
			break;
	if (i == m->nslots && m->nslots >= CP_SLOTS_MAX)
		return;
	if (ca_token_copy(&copy, t) != CA_PE_OK)
		return;
	if (i == m->nslots) {
		s = realloc(m->slots, (m->nslots + 1) * sizeof(*s));
		if (s == NULL) {
			ca_token_clear(&copy);
			return;
		}
		m->slots = s;
		memset(&s[i], 0, sizeof(s[i]));
		m->nslots++;
	} else {
		ca_token_clear(&m->slots[i].tok);
	}
	m->slots[i].tok = copy;
}

void
cp_slots_update(struct cp_mod *m, const struct ca_token *tokens, size_t n)
{
	const struct ca_token *t;
	struct cp_slot *s;
	size_t i;
	int present;

	for (i = 0; tokens != NULL && i < n; i++)
		slot_record(m, &tokens[i]);
	for (i = 0; i < m->nslots; i++) {
		s = &m->slots[i];
		t = token_by_id(tokens, n, s->tok.id);
		present = t != NULL && (t->flags & CA_TOK_PRESENT);
		if (present == s->present)
			continue;
		/* The first look finds the tokens that were there. */
		if (m->looked)
			s->event = 1;
		s->present = present;
		if (!present)
			cp_sessions_close_slot(m, i + 1);
	}
	m->looked = 1;
}

struct status_req {
	struct ca_token *tokens;
	size_t n;
};

static int
status_fn(struct cac *c, void *arg)
{
	struct status_req *q = arg;

	return cac_status(c, &q->tokens, &q->n);
}

void
cp_slots_refresh(void)
{
	struct status_req q = { NULL, 0 };
	struct cp_mod *m;
	int r;

	r = cp_agent(status_fn, &q, CP_REUSE);
	if (cp_enter(&m) == CKR_OK) {
		/* No agent, no tokens; an agent that refuses changes nothing. */
		if (r == CA_OK)
			cp_slots_update(m, q.tokens, q.n);
		else if (r == CAC_E_NO_AGENT || r == CAC_E_IO)
			cp_slots_update(m, NULL, 0);
		cp_leave();
	}
	if (r == CA_OK)
		cac_tokens_free(q.tokens, q.n);
}

CK_RV
C_GetSlotList(CK_BBOOL token_present, CK_SLOT_ID_PTR list,
    CK_ULONG_PTR count)
{
	struct cp_mod *m;
	CK_ULONG n = 0;
	size_t i;
	CK_RV rv;

	if ((rv = cp_enter(&m)) != CKR_OK)
		return rv;
	if (count == NULL) {
		cp_leave();
		return CKR_ARGUMENTS_BAD;
	}
	/*
	 * The list changes only when the caller asks for its length, so
	 * that the call with the buffer gets what the length was for.
	 */
	if (list == NULL || !m->looked) {
		cp_leave();
		cp_slots_refresh();
		if ((rv = cp_enter(&m)) != CKR_OK)
			return rv;
	}
	for (i = 0; i < m->nslots; i++) {
		if (token_present && !m->slots[i].present)
			continue;
		if (list != NULL && n < *count)
			list[n] = i + 1;
		n++;
	}
	rv = list != NULL && n > *count ? CKR_BUFFER_TOO_SMALL : CKR_OK;
	*count = n;
	cp_leave();
	return rv;
}

/* Refreshes the slots and enters the module with slot id's slot. */
static CK_RV
enter_slot(CK_SLOT_ID id, struct cp_mod **m, struct cp_slot **s)
{
	CK_RV rv;

	if ((rv = cp_enter(m)) != CKR_OK)
		return rv;
	cp_leave();
	cp_slots_refresh();
	if ((rv = cp_enter(m)) != CKR_OK)
		return rv;
	if ((*s = cp_slot(*m, id)) == NULL) {
		cp_leave();
		return CKR_SLOT_ID_INVALID;
	}
	return CKR_OK;
}

CK_RV
C_GetSlotInfo(CK_SLOT_ID id, CK_SLOT_INFO_PTR info)
{
	struct cp_mod *m;
	struct cp_slot *s;
	char desc[sizeof(info->slotDescription) + 1];
	CK_RV rv;

	if (info == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((rv = enter_slot(id, &m, &s)) != CKR_OK)
		return rv;
	memset(info, 0, sizeof(*info));
	(void)snprintf(desc, sizeof(desc), "cardagent %s", s->tok.label);
	cp_pad(info->slotDescription, sizeof(info->slotDescription), desc);
	cp_pad(info->manufacturerID, sizeof(info->manufacturerID),
	    "cardagent");
	info->flags = CKF_REMOVABLE_DEVICE | CKF_HW_SLOT;
	if (s->present)
		info->flags |= CKF_TOKEN_PRESENT;
	cp_leave();
	return CKR_OK;
}

CK_RV
C_GetTokenInfo(CK_SLOT_ID id, CK_TOKEN_INFO_PTR info)
{
	struct cp_mod *m;
	struct cp_slot *s;
	CK_ULONG n = 0, rw = 0;
	uint32_t tf;
	size_t i;
	CK_RV rv;

	if (info == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((rv = enter_slot(id, &m, &s)) != CKR_OK)
		return rv;
	if (!s->present) {
		cp_leave();
		return CKR_TOKEN_NOT_PRESENT;
	}
	for (i = 0; i < m->nsessions; i++) {
		if (m->sessions[i]->slot != id)
			continue;
		n++;
		if (m->sessions[i]->flags & CKF_RW_SESSION)
			rw++;
	}
	memset(info, 0, sizeof(*info));
	cp_pad(info->label, sizeof(info->label), s->tok.label);
	cp_pad(info->manufacturerID, sizeof(info->manufacturerID),
	    s->tok.manufacturer);
	cp_pad(info->model, sizeof(info->model), s->tok.model);
	cp_pad(info->serialNumber, sizeof(info->serialNumber), s->tok.serial);
	/* The agent asks for PINs: to the application the token has a
	 * protected authentication path, whatever the reader has. */
	tf = s->tok.flags;
	info->flags = CKF_TOKEN_INITIALIZED | CKF_USER_PIN_INITIALIZED |
	    CKF_PROTECTED_AUTHENTICATION_PATH;
	if (tf & CA_TOK_LOGIN_REQUIRED)
		info->flags |= CKF_LOGIN_REQUIRED;
	if (tf & CA_TOK_PIN_COUNT_LOW)
		info->flags |= CKF_USER_PIN_COUNT_LOW;
	if (tf & CA_TOK_PIN_FINAL_TRY)
		info->flags |= CKF_USER_PIN_FINAL_TRY;
	if (tf & CA_TOK_PIN_LOCKED)
		info->flags |= CKF_USER_PIN_LOCKED;
	info->ulMaxSessionCount = CP_SESSIONS_MAX;
	info->ulSessionCount = n;
	info->ulMaxRwSessionCount = CP_SESSIONS_MAX;
	info->ulRwSessionCount = rw;
	info->ulMaxPinLen = CA_PIN_MAX;
	info->ulMinPinLen = 0;
	info->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
	info->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
	info->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
	info->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
	cp_pad(info->utcTime, sizeof(info->utcTime), NULL);
	cp_leave();
	return CKR_OK;
}
