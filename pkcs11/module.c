/*
 * module.c: cardagent-pkcs11.so's entry point: the function list, the
 * module's state and its lock, C_Initialize, C_Finalize and C_GetInfo.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "module.h"

/*
 * The one lock. Every entry point takes it to look at the state and drops
 * it before asking the agent, so it is never held for long: a fork in
 * another thread waits for it (atfork below) and the child starts with it
 * free.
 */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cp_mod *g_mod;
static uint64_t g_gen;
static pthread_once_t g_atfork_once = PTHREAD_ONCE_INIT;

static void
atfork_prepare(void)
{
	pthread_mutex_lock(&g_lock);
}

static void
atfork_release(void)
{
	pthread_mutex_unlock(&g_lock);
}

/* glibc drops these handlers when the module is unloaded. */
static void
atfork_register(void)
{
	(void)pthread_atfork(atfork_prepare, atfork_release, atfork_release);
}

CK_RV
cp_enter(struct cp_mod **m)
{
	pthread_mutex_lock(&g_lock);
	if (g_mod == NULL || g_mod->pid != getpid()) {
		pthread_mutex_unlock(&g_lock);
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	}
	*m = g_mod;
	return CKR_OK;
}

CK_RV
cp_enter_session(CK_SESSION_HANDLE h, struct cp_mod **m,
    struct cp_session **s)
{
	size_t i;
	CK_RV rv;

	if ((rv = cp_enter(m)) != CKR_OK)
		return rv;
	for (i = 0; i < (*m)->nsessions; i++) {
		if ((*m)->sessions[i]->h == h) {
			*s = (*m)->sessions[i];
			return CKR_OK;
		}
	}
	cp_leave();
	return CKR_SESSION_HANDLE_INVALID;
}

void
cp_leave(void)
{
	pthread_mutex_unlock(&g_lock);
}

pthread_mutex_t *
cp_lock(void)
{
	return &g_lock;
}

int
cp_current(const struct cp_mod *m)
{
	return g_mod == m && m->pid == getpid();
}

/*
 * Frees a module's state. In a forked child that is the parent's copy:
 * closing our descriptors leaves the parent's sockets alone (shutdown()
 * would not), and the parent's threads do not exist here.
 */
static void
mod_free(struct cp_mod *m)
{
	size_t i;

	cp_pool_close(m);
	for (i = 0; i < m->nsessions; i++)
		cp_session_free(NULL, m->sessions[i]);
	free(m->sessions);
	for (i = 0; i < m->nobjs; i++)
		cp_obj_free(m->objs[i]);
	free(m->objs);
	for (i = 0; i < m->nslots; i++)
		ca_token_clear(&m->slots[i].tok);
	free(m->slots);
	pthread_cond_destroy(&m->cv);
	free(m);
}

/*
 * Locking: the module always uses its own pthread mutexes. With callbacks
 * and no CKF_OS_LOCKING_OK the application asks for its own primitives,
 * but the threads it runs on this platform are POSIX threads, which
 * pthread mutexes serve correctly; and the module creates no threads.
 */
CK_RV
C_Initialize(CK_VOID_PTR init_args)
{
	CK_C_INITIALIZE_ARGS *a = init_args;
	struct cp_mod *m, *stale;
	pthread_condattr_t ca;
	int n;

	if (a != NULL) {
		if (a->pReserved != NULL)
			return CKR_ARGUMENTS_BAD;
		n = (a->CreateMutex != NULL) + (a->DestroyMutex != NULL) +
		    (a->LockMutex != NULL) + (a->UnlockMutex != NULL);
		if (n != 0 && n != 4)
			return CKR_ARGUMENTS_BAD;
	}
	pthread_once(&g_atfork_once, atfork_register);
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return CKR_HOST_MEMORY;
	/* Waiters between two tries to reach the agent sleep on cv. */
	if (pthread_condattr_init(&ca) != 0) {
		free(m);
		return CKR_HOST_MEMORY;
	}
	(void)pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	n = pthread_cond_init(&m->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (n != 0) {
		free(m);
		return CKR_HOST_MEMORY;
	}
	m->pid = getpid();
	m->next_session = 1;
	m->next_obj = 1;
	pthread_mutex_lock(&g_lock);
	if (g_mod != NULL && g_mod->pid == m->pid) {
		pthread_mutex_unlock(&g_lock);
		pthread_cond_destroy(&m->cv);
		free(m);
		return CKR_CRYPTOKI_ALREADY_INITIALIZED;
	}
	/* What is left is a parent's state, inherited through fork(). */
	stale = g_mod;
	m->gen = ++g_gen;
	g_mod = m;
	pthread_mutex_unlock(&g_lock);
	if (stale != NULL)
		mod_free(stale);
	return CKR_OK;
}

CK_RV
C_Finalize(CK_VOID_PTR reserved)
{
	struct cp_mod *m;
	struct cp_waiter *w;
	CK_RV rv;

	if (reserved != NULL)
		return CKR_ARGUMENTS_BAD;
	if ((rv = cp_enter(&m)) != CKR_OK)
		return rv;
	/* New calls fail from here on; waiters wake and leave. */
	g_mod = NULL;
	for (w = m->waiters; w != NULL; w = w->next)
		if (w->fd != -1)
			(void)shutdown(w->fd, SHUT_RDWR);
	pthread_cond_broadcast(&m->cv);
	while (m->waiters != NULL)
		pthread_cond_wait(&m->cv, &g_lock);
	pthread_mutex_unlock(&g_lock);
	mod_free(m);
	return CKR_OK;
}

void
cp_pad(unsigned char *field, size_t size, const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n > size) {
		n = size;
		/* Back off continuation bytes to a character's start. */
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	memset(field, ' ', size);
	if (n > 0)
		memcpy(field, s, n);
}

CK_RV
C_GetInfo(CK_INFO_PTR info)
{
	struct cp_mod *m;
	CK_RV rv;

	if ((rv = cp_enter(&m)) != CKR_OK)
		return rv;
	cp_leave();
	if (info == NULL)
		return CKR_ARGUMENTS_BAD;
	memset(info, 0, sizeof(*info));
	info->cryptokiVersion.major = CRYPTOKI_VERSION_MAJOR;
	info->cryptokiVersion.minor = CRYPTOKI_VERSION_MINOR;
	cp_pad(info->manufacturerID, sizeof(info->manufacturerID), "cardagent");
	cp_pad(info->libraryDescription, sizeof(info->libraryDescription),
	    "cardagent PKCS#11 module");
	info->libraryVersion.major = CP_VERSION_MAJOR;
	info->libraryVersion.minor = CP_VERSION_MINOR;
	return CKR_OK;
}

static CK_FUNCTION_LIST function_list = {
	.version = { CRYPTOKI_VERSION_MAJOR, CRYPTOKI_VERSION_MINOR },
	.C_Initialize = C_Initialize,
	.C_Finalize = C_Finalize,
	.C_GetInfo = C_GetInfo,
	.C_GetFunctionList = C_GetFunctionList,
	.C_GetSlotList = C_GetSlotList,
	.C_GetSlotInfo = C_GetSlotInfo,
	.C_GetTokenInfo = C_GetTokenInfo,
	.C_GetMechanismList = C_GetMechanismList,
	.C_GetMechanismInfo = C_GetMechanismInfo,
	.C_InitToken = C_InitToken,
	.C_InitPIN = C_InitPIN,
	.C_SetPIN = C_SetPIN,
	.C_OpenSession = C_OpenSession,
	.C_CloseSession = C_CloseSession,
	.C_CloseAllSessions = C_CloseAllSessions,
	.C_GetSessionInfo = C_GetSessionInfo,
	.C_GetOperationState = C_GetOperationState,
	.C_SetOperationState = C_SetOperationState,
	.C_Login = C_Login,
	.C_Logout = C_Logout,
	.C_CreateObject = C_CreateObject,
	.C_CopyObject = C_CopyObject,
	.C_DestroyObject = C_DestroyObject,
	.C_GetObjectSize = C_GetObjectSize,
	.C_GetAttributeValue = C_GetAttributeValue,
	.C_SetAttributeValue = C_SetAttributeValue,
	.C_FindObjectsInit = C_FindObjectsInit,
	.C_FindObjects = C_FindObjects,
	.C_FindObjectsFinal = C_FindObjectsFinal,
	.C_EncryptInit = C_EncryptInit,
	.C_Encrypt = C_Encrypt,
	.C_EncryptUpdate = C_EncryptUpdate,
	.C_EncryptFinal = C_EncryptFinal,
	.C_DecryptInit = C_DecryptInit,
	.C_Decrypt = C_Decrypt,
	.C_DecryptUpdate = C_DecryptUpdate,
	.C_DecryptFinal = C_DecryptFinal,
	.C_DigestInit = C_DigestInit,
	.C_Digest = C_Digest,
	.C_DigestUpdate = C_DigestUpdate,
	.C_DigestKey = C_DigestKey,
	.C_DigestFinal = C_DigestFinal,
	.C_SignInit = C_SignInit,
	.C_Sign = C_Sign,
	.C_SignUpdate = C_SignUpdate,
	.C_SignFinal = C_SignFinal,
	.C_SignRecoverInit = C_SignRecoverInit,
	.C_SignRecover = C_SignRecover,
	.C_VerifyInit = C_VerifyInit,
	.C_Verify = C_Verify,
	.C_VerifyUpdate = C_VerifyUpdate,
	.C_VerifyFinal = C_VerifyFinal,
	.C_VerifyRecoverInit = C_VerifyRecoverInit,
	.C_VerifyRecover = C_VerifyRecover,
	.C_DigestEncryptUpdate = C_DigestEncryptUpdate,
	.C_DecryptDigestUpdate = C_DecryptDigestUpdate,
	.C_SignEncryptUpdate = C_SignEncryptUpdate,
	.C_DecryptVerifyUpdate = C_DecryptVerifyUpdate,
	.C_GenerateKey = C_GenerateKey,
	.C_GenerateKeyPair = C_GenerateKeyPair,
	.C_WrapKey = C_WrapKey,
	.C_UnwrapKey = C_UnwrapKey,
	.C_DeriveKey = C_DeriveKey,
	.C_SeedRandom = C_SeedRandom,
	.C_GenerateRandom = C_GenerateRandom,
	.C_GetFunctionStatus = C_GetFunctionStatus,
	.C_CancelFunction = C_CancelFunction,
	.C_WaitForSlotEvent = C_WaitForSlotEvent,
};

/* The module's only exported symbol. */
__attribute__((visibility("default"))) CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	if (list == NULL)
		return CKR_ARGUMENTS_BAD;
	*list = &function_list;
	return CKR_OK;
}
