/*
 * faultmod: a PKCS#11 module that forwards to a real one and misbehaves
 * on demand, so that tests can show the agent's watchdog surviving a card
 * or driver that hangs, crashes or fails.
 *
 * FAULTMOD_REAL	path of the module to forward to (e.g. SoftHSM2).
 * FAULTMOD_CONTROL	path of a control file.  Its first line is read
 *			afresh before every wrapped call, so a test can
 *			change the fault between calls:
 *	(empty, missing) or "none"	forward
 *	hang <fn>			never return
 *	crash <fn>			abort()
 *	fail <fn> <ckr-hex>		return that CKR, do not forward
 *	delay <fn> <ms>			sleep, then forward (a slow card)
 *
 * "hang" and "crash" may name a token: "hang C_Sign @alice" hangs only
 * calls on sessions of the token labelled alice, so a test can show the
 * module's other tokens still served.
 *
 *	remove @<label>			the card is pulled
 *	pull <fn> @<label>		the card is pulled during <fn>
 *
 * pulls the token labelled label out of its slot, as a reader does: the
 * slot reports no token (C_GetSlotInfo, C_GetSlotList with tokens only),
 * C_GetTokenInfo and C_OpenSession answer CKR_TOKEN_NOT_PRESENT, and its
 * sessions are closed, so calls on them fail with
 * CKR_SESSION_HANDLE_INVALID, and keep failing once the line is gone and
 * the card is back, as after a real removal. "pull" does the same from
 * the moment a call of <fn> on that token is made, which fails with
 * CKR_GENERAL_ERROR, as OpenSC's do when the card goes mid-operation; the
 * card stays out until the line changes.
 *
 * <fn> is one of C_GetFunctionList, C_Initialize, C_Login, C_Sign,
 * C_Decrypt, C_DeriveKey; everything else is forwarded untouched, but for
 * the slot and session calls "remove" needs.
 */

#define _POSIX_C_SOURCE 200809L

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST	 wrapped;
static CK_FUNCTION_LIST	*real;
static CK_RV		 load_rv = CKR_GENERAL_ERROR;
static pthread_once_t	 load_once = PTHREAD_ONCE_INIT;

/*
 * Returns nonzero with *rv set when the call must not be forwarded.
 * Does not return at all for hang and crash.
 */
/* Whether session s belongs to the token labelled label. */
static int
on_token(CK_SESSION_HANDLE s, const char *label)
{
	CK_SESSION_INFO si;
	CK_TOKEN_INFO ti;
	size_t n = strlen(label);

	if (s == CK_INVALID_HANDLE ||
	    real->C_GetSessionInfo(s, &si) != CKR_OK ||
	    real->C_GetTokenInfo(si.slotID, &ti) != CKR_OK)
		return 0;
	return n <= sizeof(ti.label) && memcmp(ti.label, label, n) == 0 &&
	    (n == sizeof(ti.label) || ti.label[n] == ' ');
}

/* The token a "pull" line pulled mid-call; under pull_lock. */
static char		 pull_label[64];
static pthread_mutex_t	 pull_lock = PTHREAD_MUTEX_INITIALIZER;

/* The label of the token "remove @label" (or a "pull" that happened)
 * takes out, or NULL. */
static const char *
removed_label(char *buf, size_t len)
{
	const char *path, *out = NULL;
	char line[256], verb[16], name[64], arg[64];
	FILE *f;
	int n;

	if ((path = getenv("FAULTMOD_CONTROL")) == NULL ||
	    (f = fopen(path, "r")) == NULL)
		line[0] = '\0';
	else {
		if (fgets(line, sizeof(line), f) == NULL)
			line[0] = '\0';
		fclose(f);
	}
	n = sscanf(line, "%15s %63s %63s", verb, name, arg);
	pthread_mutex_lock(&pull_lock);
	if (n >= 2 && strcmp(verb, "remove") == 0 && name[0] == '@') {
		snprintf(buf, len, "%s", name + 1);
		out = buf;
	} else if (n == 3 && strcmp(verb, "pull") == 0 && pull_label[0] &&
	    strcmp(arg + 1, pull_label) == 0) {
		snprintf(buf, len, "%s", pull_label);
		out = buf;
	} else
		pull_label[0] = '\0';
	pthread_mutex_unlock(&pull_lock);
	return out;
}

/*
 * Whether the token in slot is pulled; the first time it is seen so, its
 * sessions are closed (again each time: none can be opened meanwhile).
 */
static int
pulled(CK_SLOT_ID slot)
{
	char label[64];
	CK_TOKEN_INFO ti;
	size_t n;

	if (removed_label(label, sizeof(label)) == NULL ||
	    real->C_GetTokenInfo(slot, &ti) != CKR_OK)
		return 0;
	n = strlen(label);
	if (n > sizeof(ti.label) || memcmp(ti.label, label, n) != 0 ||
	    (n < sizeof(ti.label) && ti.label[n] != ' '))
		return 0;
	(void)real->C_CloseAllSessions(slot);
	return 1;
}

static CK_RV
fm_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count)
{
	CK_SLOT_ID all[64];
	CK_ULONG n = 64, i, k = 0;
	CK_RV rv;

	if (!present || (rv = real->C_GetSlotList(CK_TRUE, all, &n)) != CKR_OK)
		return real->C_GetSlotList(present, list, count);
	for (i = 0; i < n; i++)
		if (!pulled(all[i])) {
			if (list != NULL && k < *count)
				list[k] = all[i];
			k++;
		}
	rv = list != NULL && k > *count ? CKR_BUFFER_TOO_SMALL : CKR_OK;
	*count = k;
	return rv;
}

static CK_RV
fm_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info)
{
	CK_RV rv = real->C_GetSlotInfo(slot, info);

	if (rv == CKR_OK && pulled(slot))
		info->flags &= ~(CK_FLAGS)CKF_TOKEN_PRESENT;
	return rv;
}

static CK_RV
fm_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
	if (pulled(slot))
		return CKR_TOKEN_NOT_PRESENT;
	return real->C_GetTokenInfo(slot, info);
}

static CK_RV
fm_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app,
    CK_NOTIFY notify, CK_SESSION_HANDLE_PTR s)
{
	if (pulled(slot))
		return CKR_TOKEN_NOT_PRESENT;
	return real->C_OpenSession(slot, flags, app, notify, s);
}

/* The card of session s's token goes now: its sessions die with it. */
static void
pull_out(CK_SESSION_HANDLE s, const char *label)
{
	CK_SESSION_INFO si;

	pthread_mutex_lock(&pull_lock);
	snprintf(pull_label, sizeof(pull_label), "%s", label);
	pthread_mutex_unlock(&pull_lock);
	if (real->C_GetSessionInfo(s, &si) == CKR_OK)
		(void)real->C_CloseAllSessions(si.slotID);
}

static int
fault(const char *fn, CK_SESSION_HANDLE s, CK_RV *rv)
{
	const char *path;
	char line[256], verb[16], name[64], arg[32];
	struct timespec ts;
	unsigned long ms;
	FILE *f;
	int n;

	if ((path = getenv("FAULTMOD_CONTROL")) == NULL ||
	    (f = fopen(path, "r")) == NULL)
		return 0;
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	n = sscanf(line, "%15s %63s %31s", verb, name, arg);
	if (n < 2 || strcmp(verb, "remove") == 0 || strcmp(name, fn) != 0)
		return 0;
	if (strcmp(verb, "pull") == 0 && n == 3 && arg[0] == '@') {
		if (!on_token(s, arg + 1))
			return 0;
		pull_out(s, arg + 1);
		*rv = CKR_GENERAL_ERROR;
		return 1;
	}

	if (n == 3 && arg[0] == '@' && !on_token(s, arg + 1))
		return 0;
	if (strcmp(verb, "hang") == 0) {
		/* Loop: a signal handler returning must not end the hang. */
		for (;;)
			pause();
	}
	if (strcmp(verb, "crash") == 0)
		abort();
	if (strcmp(verb, "fail") == 0 && n == 3) {
		*rv = strtoul(arg, NULL, 16);
		return 1;
	}
	if (strcmp(verb, "delay") == 0 && n == 3) {
		ms = strtoul(arg, NULL, 10);
		ts.tv_sec = ms / 1000;
		ts.tv_nsec = (ms % 1000) * 1000000L;
		while (nanosleep(&ts, &ts) == -1)
			;
		return 0;
	}
	/* A typo must not look like a card that behaves. */
	fprintf(stderr, "faultmod: bad control line: %s", line);
	return 0;
}

/*
 * A failed C_Sign or C_Decrypt ends the operation, but the real module never
 * saw the failure: run its operation to completion, or the next *Init in
 * this session gets CKR_OPERATION_ACTIVE.
 */
static void
finish(CK_C_Sign fn, CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len)
{
	CK_ULONG len = 0;
	CK_BYTE_PTR buf;

	if (fn(s, in, in_len, NULL, &len) != CKR_OK)
		return;
	if ((buf = malloc(len + 1)) != NULL)
		fn(s, in, in_len, buf, &len);
	free(buf);
}

static CK_RV
fm_Initialize(CK_VOID_PTR args)
{
	CK_RV rv;

	if (fault("C_Initialize", CK_INVALID_HANDLE, &rv))
		return rv;
	return real->C_Initialize(args);
}

static CK_RV
fm_Login(CK_SESSION_HANDLE s, CK_USER_TYPE type, CK_UTF8CHAR_PTR pin,
    CK_ULONG pin_len)
{
	CK_RV rv;

	if (fault("C_Login", s, &rv))
		return rv;
	return real->C_Login(s, type, pin, pin_len);
}

static CK_RV
fm_Sign(CK_SESSION_HANDLE s, CK_BYTE_PTR data, CK_ULONG data_len,
    CK_BYTE_PTR sig, CK_ULONG_PTR sig_len)
{
	CK_RV rv;

	if (fault("C_Sign", s, &rv)) {
		finish(real->C_Sign, s, data, data_len);
		return rv;
	}
	return real->C_Sign(s, data, data_len, sig, sig_len);
}

static CK_RV
fm_Decrypt(CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len,
    CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	CK_RV rv;

	if (fault("C_Decrypt", s, &rv)) {
		finish(real->C_Decrypt, s, in, in_len);
		return rv;
	}
	return real->C_Decrypt(s, in, in_len, out, out_len);
}

static CK_RV
fm_DeriveKey(CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE base,
    CK_ATTRIBUTE_PTR templ, CK_ULONG count, CK_OBJECT_HANDLE_PTR key)
{
	CK_RV rv;

	if (fault("C_DeriveKey", s, &rv))
		return rv;
	return real->C_DeriveKey(s, mech, base, templ, count, key);
}

static void
load(void)
{
	CK_C_GetFunctionList get;
	const char *path;
	void *h, *sym;

	/* Modules should not print, but a silent failure here wastes hours. */
	/* dlopen("") would return the caller and find us again. */
	if ((path = getenv("FAULTMOD_REAL")) == NULL || *path == '\0') {
		fprintf(stderr, "faultmod: FAULTMOD_REAL not set\n");
		return;
	}
	if ((h = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		fprintf(stderr, "faultmod: %s\n", dlerror());
		return;
	}
	/* ISO C has no cast from void * to a function pointer. */
	if ((sym = dlsym(h, "C_GetFunctionList")) != NULL)
		memcpy(&get, &sym, sizeof(get));
	if (sym == NULL || (load_rv = get(&real)) != CKR_OK) {
		fprintf(stderr, "faultmod: %s: no usable C_GetFunctionList\n",
		    path);
		load_rv = CKR_GENERAL_ERROR;
		return;
	}
	/* Never dlclose: the real module may have threads or atexit hooks. */
	wrapped = *real;
	/* We speak 2.40 whatever the real module claims. */
	wrapped.version.major = 2;
	wrapped.version.minor = 40;
	wrapped.C_GetFunctionList = C_GetFunctionList;
	wrapped.C_Initialize = fm_Initialize;
	wrapped.C_Login = fm_Login;
	wrapped.C_Sign = fm_Sign;
	wrapped.C_Decrypt = fm_Decrypt;
	wrapped.C_DeriveKey = fm_DeriveKey;
	wrapped.C_GetSlotList = fm_GetSlotList;
	wrapped.C_GetSlotInfo = fm_GetSlotInfo;
	wrapped.C_GetTokenInfo = fm_GetTokenInfo;
	wrapped.C_OpenSession = fm_OpenSession;
}

CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	CK_RV rv;

	if (fault("C_GetFunctionList", CK_INVALID_HANDLE, &rv))
		return rv;
	if (list == NULL)
		return CKR_ARGUMENTS_BAD;
	pthread_once(&load_once, load);
	if (load_rv != CKR_OK)
		return load_rv;
	*list = &wrapped;
	return CKR_OK;
}
