/*
 * objects.c: the object table and what applications do with it:
 * C_FindObjects*, C_GetAttributeValue, C_GetObjectSize, C_DestroyObject.
 * Token objects come from the agent's key list and keep their handles
 * while the module is initialised; a key the agent stops listing hides
 * its objects until it comes back.
 */
#include <stdlib.h>
#include <string.h>

#include "module.h"

CK_RV
cp_obj_add(struct cp_mod *m, struct cp_obj *o)
{
	struct cp_obj **grown;

	if (m->nobjs >= CP_OBJECTS_MAX ||
	    (grown = realloc(m->objs, (m->nobjs + 1) * sizeof(*grown))) ==
	    NULL)
		return CKR_HOST_MEMORY;
	m->objs = grown;
	o->h = m->next_obj++;
	m->objs[m->nobjs++] = o;
	return CKR_OK;
}

void
cp_objs_drop_session(struct cp_mod *m, CK_SESSION_HANDLE h)
{
	size_t i = 0;

	while (i < m->nobjs) {
		if (m->objs[i]->owner == h) {
			cp_obj_free(m->objs[i]);
			m->objs[i] = m->objs[--m->nobjs];
		} else {
			i++;
		}
	}
}

struct cp_obj *
cp_obj_get(struct cp_mod *m, struct cp_session *s, CK_OBJECT_HANDLE h)
{
	struct cp_obj *o;
	size_t i;

	for (i = 0; i < m->nobjs; i++) {
		o = m->objs[i];
		if (o->h != h)
			continue;
		if (o->slot != s->slot || (o->owner == 0 && !o->live))
			return NULL;
		return o;
	}
	return NULL;
}

/* The slot that holds the agent's token id, or 0. */
static CK_SLOT_ID
slot_of(struct cp_mod *m, const char *token_id)
{
	size_t i;

	for (i = 0; i < m->nslots; i++)
		if (strcmp(m->slots[i].tok.id, token_id) == 0)
			return i + 1;
	return 0;
}

/* Brings token objects in line with the agent's keys (NULL: none). */
static void
objects_update(struct cp_mod *m, const struct ca_key *keys, size_t n)
{
	struct cp_obj *made[3];
	CK_SLOT_ID slot;
	size_t i, j, nmade;
	int known;

	for (j = 0; j < m->nobjs; j++)
		if (m->objs[j]->owner == 0)
			m->objs[j]->live = 0;
	for (i = 0; keys != NULL && i < n; i++) {
		if ((slot = slot_of(m, keys[i].token_id)) == 0)
			continue;
		/* An id names one key of one token: its objects stay. */
		known = 0;
		for (j = 0; j < m->nobjs; j++) {
			if (m->objs[j]->owner == 0 &&
			    strcmp(m->objs[j]->key_id, keys[i].id) == 0) {
				m->objs[j]->live = 1;
				known = 1;
			}
		}
		if (known || cp_key_objects(&keys[i], slot, made, &nmade) !=
		    CKR_OK)
			continue;
		for (j = 0; j < nmade; j++)
			if (cp_obj_add(m, made[j]) != CKR_OK)
				cp_obj_free(made[j]);
	}
}

struct keys_req {
	struct ca_token *tokens;
	size_t ntokens;
	struct ca_key *keys;
	size_t nkeys;
};

static int
keys_fn(struct cac *c, void *arg)
{
	struct keys_req *q = arg;
	int r;

	if ((r = cac_status(c, &q->tokens, &q->ntokens)) != CA_OK)
		return r;
	if ((r = cac_list_keys(c, &q->keys, &q->nkeys)) != CA_OK) {
		cac_tokens_free(q->tokens, q->ntokens);
		q->tokens = NULL;
	}
	return r;
}

void
cp_objects_refresh(void)
{
	struct keys_req q = { NULL, 0, NULL, 0 };
	struct cp_mod *m;
	int r;

	r = cp_agent(keys_fn, &q, CP_REUSE);
	if (cp_enter(&m) == CKR_OK) {
		if (r == CA_OK) {
			cp_slots_update(m, q.tokens, q.ntokens);
			objects_update(m, q.keys, q.nkeys);
		} else if (r == CAC_E_NO_AGENT || r == CAC_E_IO) {
			cp_slots_update(m, NULL, 0);
			objects_update(m, NULL, 0);
		}
		cp_leave();
	}
	if (r == CA_OK) {
		cac_tokens_free(q.tokens, q.ntokens);
		cac_keys_free(q.keys, q.nkeys);
	}
}

/* Does o hold every attribute of the template, with the same value? */
static int
matches(const struct cp_obj *o, const CK_ATTRIBUTE *t, CK_ULONG n)
{
	const struct cp_attr *a;
	CK_ULONG i;

	for (i = 0; i < n; i++) {
		if ((a = cp_attr_find(o, t[i].type)) == NULL || a->sensitive ||
		    a->len != t[i].ulValueLen ||
		    (a->len > 0 && memcmp(a->val, t[i].pValue, a->len) != 0))
			return 0;
	}
	return 1;
}

CK_RV
C_FindObjectsInit(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
	struct cp_session *s;
	struct cp_mod *m;
	CK_ULONG i;
	size_t j;
	CK_RV rv;

	if ((rv = cp_enter_session(h, &m, &s)) != CKR_OK)
		return rv;
	if (s->finding)
		rv = CKR_OPERATION_ACTIVE;
	for (i = 0; rv == CKR_OK && i < n; i++)
		if (tmpl == NULL ||
		    (tmpl[i].pValue == NULL && tmpl[i].ulValueLen > 0))
			rv = CKR_ARGUMENTS_BAD;
	cp_leave();
	if (rv != CKR_OK)
		return rv;
	cp_objects_refresh();
	if ((rv = cp_enter_session(h, &m, &s)) != CKR_OK)
		return rv;
	if (s->finding) {
		cp_leave();
		return CKR_OPERATION_ACTIVE;
	}
	if (m->nobjs > 0 &&
	    (s->found = calloc(m->nobjs, sizeof(*s->found))) == NULL) {
		cp_leave();
		return CKR_HOST_MEMORY;
	}
	s->nfound = s->next = 0;
	for (j = 0; j < m->nobjs; j++)
		if (cp_obj_get(m, s, m->objs[j]->h) != NULL &&
		    matches(m->objs[j], tmpl, n))
			s->found[s->nfound++] = m->objs[j]->h;
	s->finding = 1;
	cp_leave();
	return CKR_OK;
}

CK_RV
C_FindObjects(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR out, CK_ULONG max,
    CK_ULONG_PTR count)
{
	struct cp_session *s;
	struct cp_mod *m;
	CK_RV rv;

	if ((rv = cp_enter_session(h, &m, &s)) != CKR_OK)
		return rv;
	if (out == NULL || count == NULL)
		rv = CKR_ARGUMENTS_BAD;
	else if (!s->finding)
		rv = CKR_OPERATION_NOT_INITIALIZED;
	else
		for (*count = 0; *count < max && s->next < s->nfound;)
			out[(*count)++] = s->found[s->next++];
	cp_leave();
	return rv;
}

CK_RV
C_FindObjectsFinal(CK_SESSION_HANDLE h)
{
	struct cp_session *s;
	struct cp_mod *m;
	CK_RV rv;

	if ((rv = cp_enter_session(h, &m, &s)) != CKR_OK)
		return rv;
	if (!s->finding) {
		rv = CKR_OPERATION_NOT_INITIALIZED;
	} else {
		free(s->found);
		s->found = NULL;
		s->nfound = s->next = 0;
		s->finding = 0;
	}
	cp_leave();
	return rv;
}

/*
 * PKCS#11 2.40, 5.7: every attribute is answered; one that cannot be
 * gets CK_UNAVAILABLE_INFORMATION, and the call returns one of the
 * reasons.
 */
static CK_RV
get_attrs(const struct cp_obj *o, CK_ATTRIBUTE *tmpl, CK_ULONG n)
{
	const struct cp_attr *a;
	CK_RV rv = CKR_OK, why;
	CK_ULONG i;

	for (i = 0; i < n; i++) {
		why = CKR_OK;
		if ((a = cp_attr_find(o, tmpl[i].type)) == NULL)
			why = CKR_ATTRIBUTE_TYPE_INVALID;
		else if (a->sensitive)
			why = CKR_ATTRIBUTE_SENSITIVE;
		else if (tmpl[i].pValue == NULL)
			tmpl[i].ulValueLen = a->len;
		else if (tmpl[i].ulValueLen < a->len)
			why = CKR_BUFFER_TOO_SMALL;
		else {
			if (a->len > 0)
				memcpy(tmpl[i].pValue, a->val, a->len);
			tmpl[i].ulValueLen = a->len;
		}
		if (why != CKR_OK) {
			tmpl[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			if (rv == CKR_OK)
				rv = why;
		}
	}
	return rv;
}

CK_RV
C_GetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE oh,
    CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
	struct cp_session *s;
	struct cp_obj *o;
	struct cp_mod *m;
	CK_RV rv;

	if ((rv = cp_enter_session(h, &m, &s)) != CKR_OK)
		return rv;
	if (tmpl == NULL && n > 0)
		rv = CKR_ARGUMENTS_BAD;
	else if ((o = cp_obj_get(m, s, oh)) == NULL)
		rv = CKR_OBJECT_HANDLE_INVALID;
	else
		rv = get_attrs(o, tmpl, n);
	cp_leave();
	return rv;
}

/* The size is what the object's attributes hold. */
CK_RV
C_GetObjectSize(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE oh, CK_ULONG_PTR size)
{
	struct cp_session *s;
	struct cp_obj *o;
	struct cp_mod *m;
	size_t i;
	CK_RV rv;

	if ((rv = cp_enter_session(h, &m, &s)) != CKR_OK)
		return rv;
	if (size == NULL)
		rv = CKR_ARGUMENTS_BAD;
	else if ((o = cp_obj_get(m, s, oh)) == NULL)
		rv = CKR_OBJECT_HANDLE_INVALID;
	else
		for (*size = 0, i = 0; i < o->nattrs; i++)
			*size += o->attrs[i].len;
	cp_leave();
	return rv;
}

/* Only derived secrets can go; the card's objects are the card's. */
CK_RV
C_DestroyObject(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE oh)
{
	struct cp_session *s;
	struct cp_obj *o;
	struct cp_mod *m;
	size_t i;
	CK_RV rv;

	if ((rv = cp_enter_session(h, &m, &s)) != CKR_OK)
		return rv;
	if ((o = cp_obj_get(m, s, oh)) == NULL) {
		rv = CKR_OBJECT_HANDLE_INVALID;
	} else if (o->owner == 0) {
		rv = CKR_ACTION_PROHIBITED;
	} else {
		for (i = 0; m->objs[i] != o; i++)
			continue;
		m->objs[i] = m->objs[--m->nobjs];
		cp_obj_free(o);
	}
	cp_leave();
	return rv;
}
