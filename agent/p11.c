/*
 * p11.c: the token host's module, session and attribute plumbing.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "p11.h"
#include "p11err.h"
#include "p11int.h"
#include "secret.h"

int
p11_module_load(struct p11_module *mod, const char *path)
{
	CK_C_GetFunctionList getlist;
	CK_C_INITIALIZE_ARGS args;
	CK_RV rv;

	memset(mod, 0, sizeof(*mod));
	if ((mod->path = strdup(path)) == NULL) {
		log_warn("out of memory");
		goto fail;
	}
	if ((mod->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		log_warn("cannot load %s: %s", path, dlerror());
		goto fail;
	}
	getlist = (CK_C_GetFunctionList)dlsym(mod->dl, "C_GetFunctionList");
	if (getlist == NULL) {
		log_warn("%s is not a PKCS#11 module: no C_GetFunctionList",
		    path);
		goto fail;
	}
	if ((rv = getlist(&mod->f)) != CKR_OK || mod->f == NULL) {
		log_warn("%s: C_GetFunctionList failed: %s", path,
		    p11_rv_name(rv));
		goto fail;
	}
	/* Several slots are served by their own threads at once. */
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	rv = mod->f->C_Initialize(&args);
	if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		log_warn("%s: C_Initialize failed: %s", path, p11_rv_name(rv));
		goto fail;
	}
	return 0;
 fail:
	if (mod->dl != NULL)
		dlclose(mod->dl);
	free(mod->path);
	memset(mod, 0, sizeof(*mod));
	return -1;
}

void
p11_module_unload(struct p11_module *mod)
{
	/*
	 * The module stays mapped: the host exits next, and a leak checker
	 * can then name the module for what it left allocated (OpenSC does,
	 * at C_Finalize) instead of "<unknown module>".
	 */
	if (mod->f != NULL)
		(void)mod->f->C_Finalize(NULL);
	free(mod->path);
	memset(mod, 0, sizeof(*mod));
}

CK_RV
p11_slots(const struct p11_module *mod, CK_SLOT_ID **slotsp, size_t *nslots)
{
	CK_SLOT_ID *slots = NULL, *ns;
	CK_ULONG n;
	CK_RV rv;

	*slotsp = NULL;
	*nslots = 0;
	/* A reader can appear between the two calls; then ask again. */
	do {
		if ((rv = mod->f->C_GetSlotList(CK_TRUE, NULL, &n)) != CKR_OK)
			break;
		if (n == 0)
			break;
		if ((ns = reallocarray(slots, n, sizeof(*slots))) == NULL) {
			rv = CKR_HOST_MEMORY;
			break;
		}
		slots = ns;
		rv = mod->f->C_GetSlotList(CK_TRUE, slots, &n);
	} while (rv == CKR_BUFFER_TOO_SMALL);
	if (rv != CKR_OK || n == 0) {
		free(slots);
		return rv;
	}
	*slotsp = slots;
	*nslots = n;
	return CKR_OK;
}

/*
 * Every call on the session goes through here: these answers mean the
 * session is gone for good (the token was pulled, perhaps put back), and
 * the next request must open a new one.
 */
CK_RV
p11_track(struct p11_token *t, CK_RV rv)
{
	switch (rv) {
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_SESSION_CLOSED:
	case CKR_DEVICE_REMOVED:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_TOKEN_NOT_RECOGNIZED:
		t->open = 0;
		break;
	}
	return rv;
}

static CK_RV
session_open(struct p11_token *t)
{
	CK_RV rv;

	if (t->open)
		return CKR_OK;
	rv = F(t)->C_OpenSession(t->slot, CKF_SERIAL_SESSION, NULL, NULL,
	    &t->session);
	if (rv == CKR_OK) {
		t->open = 1;
		t->nhcache = 0;
	}
	return rv;
}

/*
 * A session that died while the token was away and back is noticed only
 * when it is used, so a dead one is replaced once.
 */
CK_RV
p11_session_state(struct p11_token *t, CK_STATE *state)
{
	CK_SESSION_INFO si;
	CK_RV rv;
	int again = 1;

	for (;;) {
		if ((rv = session_open(t)) != CKR_OK)
			return rv;
		rv = p11_track(t, F(t)->C_GetSessionInfo(t->session, &si));
		if (rv == CKR_OK) {
			*state = si.state;
			return CKR_OK;
		}
		if (t->open || !again)
			return rv;
		again = 0;
	}
}

int
p11_fail_rv(struct p11_fail *f, const char *fn, CK_RV rv)
{
	f->status = p11_status(rv);
	f->rv = rv;
	f->fn = fn;
	return -1;
}

int
p11_refuse(struct p11_fail *f, enum ca_status status, const char *fmt, ...)
{
	va_list ap;

	f->status = status;
	f->rv = CKR_OK;
	f->fn = NULL;
	va_start(ap, fmt);
	(void)vsnprintf(f->why, sizeof(f->why), fmt, ap);
	va_end(ap);
	return -1;
}

/* Reads one attribute into a new buffer; an empty value gives NULL, 0. */
CK_RV
p11_attr_get(struct p11_token *t, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type,
    uint8_t **valp, size_t *lenp)
{
	CK_ATTRIBUTE a = { type, NULL, 0 };
	uint8_t *p;
	CK_RV rv;

	*valp = NULL;
	*lenp = 0;
	rv = p11_track(t, F(t)->C_GetAttributeValue(t->session, o, &a, 1));
	if (rv != CKR_OK)
		return rv;
	if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
		return CKR_ATTRIBUTE_TYPE_INVALID;
	if (a.ulValueLen == 0)
		return CKR_OK;
	if ((p = malloc(a.ulValueLen)) == NULL)
		return CKR_HOST_MEMORY;
	a.pValue = p;
	rv = p11_track(t, F(t)->C_GetAttributeValue(t->session, o, &a, 1));
	if (rv != CKR_OK) {
		free(p);
		return rv;
	}
	*valp = p;
	*lenp = a.ulValueLen;
	return CKR_OK;
}

/* An unreadable flag counts as false: a key then offers less, not more. */
int
p11_attr_bool(struct p11_token *t, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type)
{
	CK_BBOOL b = CK_FALSE;
	CK_ATTRIBUTE a = { type, &b, sizeof(b) };

	if (p11_track(t, F(t)->C_GetAttributeValue(t->session, o, &a, 1)) != CKR_OK)
		return 0;
	return b == CK_TRUE;
}

CK_RV
p11_attr_ulong(struct p11_token *t, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type,
    CK_ULONG *v)
{
	CK_ATTRIBUTE a = { type, v, sizeof(*v) };

	return p11_track(t, F(t)->C_GetAttributeValue(t->session, o, &a, 1));
}

CK_RV
p11_find_objects(struct p11_token *t, CK_ATTRIBUTE *tmpl, CK_ULONG ntmpl,
    CK_OBJECT_HANDLE **objsp, size_t *nobjs)
{
	CK_OBJECT_HANDLE batch[64], *objs = NULL, *no;
	CK_ULONG got;
	size_t n = 0;
	CK_RV rv, rv2;

	*objsp = NULL;
	*nobjs = 0;
	rv = p11_track(t, F(t)->C_FindObjectsInit(t->session, tmpl, ntmpl));
	if (rv != CKR_OK)
		return rv;
	for (;;) {
		rv = p11_track(t, F(t)->C_FindObjects(t->session, batch, 64, &got));
		if (rv != CKR_OK || got == 0)
			break;
		if ((no = reallocarray(objs, n + got, sizeof(*objs))) == NULL) {
			rv = CKR_HOST_MEMORY;
			break;
		}
		objs = no;
		memcpy(objs + n, batch, got * sizeof(*batch));
		n += got;
	}
	rv2 = p11_track(t, F(t)->C_FindObjectsFinal(t->session));
	if (rv == CKR_OK)
		rv = rv2;
	if (rv != CKR_OK) {
		free(objs);
		return rv;
	}
	*objsp = objs;
	*nobjs = n;
	return CKR_OK;
}

uint32_t
p11_token_flags(CK_FLAGS tf, CK_STATE state)
{
	uint32_t fl = CA_TOK_PRESENT;

	if (tf & CKF_LOGIN_REQUIRED)
		fl |= CA_TOK_LOGIN_REQUIRED;
	if (tf & CKF_PROTECTED_AUTHENTICATION_PATH)
		fl |= CA_TOK_PROTECTED_PATH;
	if (tf & CKF_USER_PIN_COUNT_LOW)
		fl |= CA_TOK_PIN_COUNT_LOW;
	if (tf & CKF_USER_PIN_FINAL_TRY)
		fl |= CA_TOK_PIN_FINAL_TRY;
	if (tf & CKF_USER_PIN_LOCKED)
		fl |= CA_TOK_PIN_LOCKED;
	if (!(tf & CKF_LOGIN_REQUIRED) || state == CKS_RO_USER_FUNCTIONS ||
	    state == CKS_RW_USER_FUNCTIONS)
		fl |= CA_TOK_LOGGED_IN;
	return fl;
}

CK_RV
p11_read_flags(struct p11_token *t, uint32_t *flags)
{
	CK_TOKEN_INFO ti;
	CK_STATE state;
	CK_RV rv;

	if ((rv = p11_track(t, F(t)->C_GetTokenInfo(t->slot, &ti))) != CKR_OK)
		return rv;
	t->tflags = ti.flags;
	if ((rv = p11_session_state(t, &state)) != CKR_OK)
		return rv;
	*flags = p11_token_flags(ti.flags, state);
	return CKR_OK;
}

int
p11_present(struct p11_token *t)
{
	CK_SLOT_INFO si;

	return F(t)->C_GetSlotInfo(t->slot, &si) == CKR_OK &&
	    (si.flags & CKF_TOKEN_PRESENT);
}

int
p11_session_alive(struct p11_token *t)
{
	CK_SESSION_INFO si;

	if (!t->open)
		return 1;
	(void)p11_track(t, F(t)->C_GetSessionInfo(t->session, &si));
	return t->open;
}

int
p11_login(struct p11_token *t, const struct ca_secret *pin,
    struct p11_fail *f)
{
	CK_RV rv;

	memset(f, 0, sizeof(*f));
	if ((rv = session_open(t)) != CKR_OK)
		return p11_fail_rv(f, "C_OpenSession", rv);
	t->nhcache = 0;
	rv = p11_track(t, F(t)->C_Login(t->session, CKU_USER,
	    pin != NULL ? pin->data : NULL, pin != NULL ? pin->len : 0));
	if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN)
		return 0;
	return p11_fail_rv(f, "C_Login", rv);
}

int
p11_logout(struct p11_token *t, struct p11_fail *f)
{
	CK_RV rv;

	memset(f, 0, sizeof(*f));
	/* A login lasts only as long as the application's sessions. */
	if (!t->open)
		return 0;
	t->nhcache = 0;
	rv = p11_track(t, F(t)->C_Logout(t->session));
	if (rv == CKR_OK || rv == CKR_USER_NOT_LOGGED_IN || !t->open)
		return 0;
	return p11_fail_rv(f, "C_Logout", rv);
}
