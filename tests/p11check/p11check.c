/*
 * p11check: drives cardagent-pkcs11.so where pkcs11-tool cannot: the
 * attribute rules of C_GetAttributeValue, C_Initialize's arguments, slot
 * events and C_Finalize during a blocked C_WaitForSlotEvent, fork() and
 * threads. Used by tests/integration/test_pkcs11.sh.
 *
 *	p11check MODULE init
 *	p11check MODULE state TOKEN		(prints "user" or "public")
 *	p11check MODULE login TOKEN [PIN]	(prints the CKR_ value)
 *	p11check MODULE logout TOKEN		(likewise)
 *	p11check MODULE attrs TOKEN LABEL	(LABEL: an RSA key's)
 *	p11check MODULE ops TOKEN SIGN KM CT PT EC PEER_TOKEN PEER
 *		SIGN: an RSA-2048 signing key, KM an RSA decryption key, CT
 *		a file of what KM's public key encrypted (PKCS#1 v1.5), PT
 *		of the plaintext; EC a P-256 key, PEER one of PEER_TOKEN
 *	p11check MODULE events N		(prints "ready", then N events)
 *	p11check MODULE finalize
 *	p11check MODULE fork TOKEN LABEL	(LABEL: an EC signing key's)
 *	p11check MODULE threads TOKEN LABEL N	(likewise)
 *
 * Prints what failed and exits 1, or exits 0.
 */
#define _POSIX_C_SOURCE 200809L

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST *p11;
static int failures;

#define EXPECT(what, got, want) expect(__LINE__, (what), (got), (want))

static void
expect(int line, const char *what, CK_RV got, CK_RV want)
{
	if (got == want)
		return;
	fprintf(stderr, "line %d: %s: got 0x%lx, want 0x%lx\n", line, what,
	    (unsigned long)got, (unsigned long)want);
	failures++;
}

static void
die(const char *what, CK_RV rv)
{
	fprintf(stderr, "%s: 0x%lx\n", what, (unsigned long)rv);
	exit(1);
}

static void
init(void)
{
	CK_RV rv;

	if ((rv = p11->C_Initialize(NULL)) != CKR_OK)
		die("C_Initialize", rv);
}

/* The slot whose token has label (blank-padded in the token info). */
static CK_SLOT_ID
slot_by_label(const char *label)
{
	CK_SLOT_ID slots[64];
	CK_ULONG n = 64, i;
	CK_TOKEN_INFO ti;
	size_t len = strlen(label);
	CK_RV rv;

	if ((rv = p11->C_GetSlotList(CK_TRUE, slots, &n)) != CKR_OK)
		die("C_GetSlotList", rv);
	for (i = 0; i < n; i++) {
		if (p11->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
		    memcmp(ti.label, label, len) == 0 &&
		    (len == sizeof(ti.label) || ti.label[len] == ' '))
			return slots[i];
	}
	die("no token with that label", 0);
	return 0;
}

static CK_OBJECT_HANDLE
find(CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, const char *label)
{
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_OBJECT_HANDLE h[2];
	CK_ULONG n = 0;
	CK_RV rv;

	if ((rv = p11->C_FindObjectsInit(s, t, 2)) != CKR_OK ||
	    (rv = p11->C_FindObjects(s, h, 2, &n)) != CKR_OK ||
	    (rv = p11->C_FindObjectsFinal(s)) != CKR_OK)
		die("C_FindObjects", rv);
	if (n != 1)
		die("objects with that class and label", n);
	return h[0];
}

static CK_SESSION_HANDLE
open_session(const char *token)
{
	CK_SESSION_HANDLE s;
	CK_RV rv;

	if ((rv = p11->C_OpenSession(slot_by_label(token), CKF_SERIAL_SESSION,
	    NULL, NULL, &s)) != CKR_OK)
		die("C_OpenSession", rv);
	return s;
}

static CK_RV
fake_create(CK_VOID_PTR_PTR m)
{
	*m = NULL;
	return CKR_OK;
}

static CK_RV
fake_mutex(CK_VOID_PTR m)
{
	(void)m;
	return CKR_OK;
}

static void
check_init(void)
{
	CK_C_INITIALIZE_ARGS a;
	CK_SLOT_ID slot;
	CK_ULONG n = 1;

	EXPECT("C_GetSlotList before C_Initialize",
	    p11->C_GetSlotList(CK_FALSE, NULL, &n),
	    CKR_CRYPTOKI_NOT_INITIALIZED);
	EXPECT("C_Initialize", p11->C_Initialize(NULL), CKR_OK);
	EXPECT("C_Initialize again", p11->C_Initialize(NULL),
	    CKR_CRYPTOKI_ALREADY_INITIALIZED);
	EXPECT("C_WaitForSlotEvent, CKF_DONT_BLOCK, nothing happened",
	    p11->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, NULL),
	    CKR_NO_EVENT);
	EXPECT("C_Finalize", p11->C_Finalize(NULL), CKR_OK);
	EXPECT("C_Finalize again", p11->C_Finalize(NULL),
	    CKR_CRYPTOKI_NOT_INITIALIZED);
	/* The application's own locks are accepted (and not needed). */
	memset(&a, 0, sizeof(a));
	a.CreateMutex = fake_create;
	a.DestroyMutex = a.LockMutex = a.UnlockMutex = fake_mutex;
	EXPECT("C_Initialize with locking callbacks", p11->C_Initialize(&a),
	    CKR_OK);
	EXPECT("C_Finalize", p11->C_Finalize(NULL), CKR_OK);
	a.flags = CKF_OS_LOCKING_OK;
	EXPECT("C_Initialize with callbacks and CKF_OS_LOCKING_OK",
	    p11->C_Initialize(&a), CKR_OK);
	EXPECT("C_Finalize", p11->C_Finalize(NULL), CKR_OK);
	a.LockMutex = NULL;
	EXPECT("C_Initialize with some callbacks", p11->C_Initialize(&a),
	    CKR_ARGUMENTS_BAD);
}

static void
check_attrs(const char *token, const char *label)
{
	CK_BBOOL sens = CK_FALSE, extr = CK_TRUE;
	CK_BYTE small[4], *big;
	CK_ULONG modlen;
	CK_ATTRIBUTE a[3];
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key, cert;

	init();
	s = open_session(token);
	key = find(s, CKO_PRIVATE_KEY, label);
	cert = find(s, CKO_CERTIFICATE, label);

	a[0] = (CK_ATTRIBUTE){ CKA_SENSITIVE, &sens, sizeof(sens) };
	a[1] = (CK_ATTRIBUTE){ CKA_EXTRACTABLE, &extr, sizeof(extr) };
	EXPECT("CKA_SENSITIVE, CKA_EXTRACTABLE",
	    p11->C_GetAttributeValue(s, key, a, 2), CKR_OK);
	EXPECT("the key is sensitive", sens, CK_TRUE);
	EXPECT("the key is not extractable", extr, CK_FALSE);

	/* Every attribute is answered, the failures with their reason. */
	a[0] = (CK_ATTRIBUTE){ CKA_PRIVATE_EXPONENT, small, sizeof(small) };
	a[1] = (CK_ATTRIBUTE){ CKA_MODULUS, NULL, 0 };
	a[2] = (CK_ATTRIBUTE){ CKA_VALUE, NULL, 0 };
	EXPECT("CKA_PRIVATE_EXPONENT is sensitive",
	    p11->C_GetAttributeValue(s, key, a, 1), CKR_ATTRIBUTE_SENSITIVE);
	EXPECT("  its length", a[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);
	a[0].ulValueLen = sizeof(small);
	EXPECT("CKA_PRIVATE_EXPONENT, CKA_MODULUS length",
	    p11->C_GetAttributeValue(s, key, a, 2), CKR_ATTRIBUTE_SENSITIVE);
	EXPECT("  the modulus length is still given", a[1].ulValueLen > 0 &&
	    a[1].ulValueLen != CK_UNAVAILABLE_INFORMATION, 1);
	modlen = a[1].ulValueLen;
	a[1].pValue = small;
	a[1].ulValueLen = sizeof(small);
	EXPECT("CKA_MODULUS into 4 bytes",
	    p11->C_GetAttributeValue(s, key, &a[1], 1), CKR_BUFFER_TOO_SMALL);
	EXPECT("  its length", a[1].ulValueLen, CK_UNAVAILABLE_INFORMATION);
	if ((big = malloc(modlen)) == NULL)
		die("malloc", 0);
	a[1] = (CK_ATTRIBUTE){ CKA_MODULUS, big, modlen };
	EXPECT("CKA_MODULUS", p11->C_GetAttributeValue(s, key, &a[1], 1),
	    CKR_OK);
	EXPECT("  its length", a[1].ulValueLen, modlen);
	free(big);
	EXPECT("a certificate has no CKA_MODULUS",
	    p11->C_GetAttributeValue(s, cert, &a[1], 1),
	    CKR_ATTRIBUTE_TYPE_INVALID);
	EXPECT("a certificate's CKA_VALUE length",
	    p11->C_GetAttributeValue(s, cert, &a[2], 1), CKR_OK);
	EXPECT("a bad object handle",
	    p11->C_GetAttributeValue(s, 0xdead, &a[2], 1),
	    CKR_OBJECT_HANDLE_INVALID);
	EXPECT("the card's objects cannot be destroyed",
	    p11->C_DestroyObject(s, key), CKR_ACTION_PROHIBITED);
	p11->C_Finalize(NULL);
}

static size_t
read_file(const char *path, CK_BYTE *buf, size_t size)
{
	FILE *f;
	size_t n;

	if ((f = fopen(path, "rb")) == NULL)
		die(path, 0);
	n = fread(buf, 1, size, f);
	fclose(f);
	return n;
}

/* Lengths first, too-small buffers, and multi-part signing. */
static void
check_sign(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key)
{
	CK_MECHANISM mech = { CKM_SHA256_RSA_PKCS, NULL, 0 };
	CK_MECHANISM raw = { CKM_RSA_PKCS, NULL, 0 };
	CK_MECHANISM ecdsa = { CKM_ECDSA, NULL, 0 };
	CK_BYTE msg[] = "a message in two parts", one[512], two[512];
	CK_ULONG len, len2;

	EXPECT("C_SignInit", p11->C_SignInit(s, &mech, key), CKR_OK);
	EXPECT("C_Sign, length only", p11->C_Sign(s, msg, sizeof(msg), NULL,
	    &len), CKR_OK);
	EXPECT("  is the modulus length", len, 256);
	len = 10;
	EXPECT("C_Sign into 10 bytes", p11->C_Sign(s, msg, sizeof(msg), one,
	    &len), CKR_BUFFER_TOO_SMALL);
	EXPECT("  says how many it needs", len, 256);
	len = sizeof(one);
	EXPECT("C_Sign, the operation still active",
	    p11->C_Sign(s, msg, sizeof(msg), one, &len), CKR_OK);
	EXPECT("C_Sign after it ended", p11->C_Sign(s, msg, sizeof(msg), one,
	    &len), CKR_OPERATION_NOT_INITIALIZED);
	EXPECT("C_SignInit", p11->C_SignInit(s, &mech, key), CKR_OK);
	EXPECT("C_SignInit again", p11->C_SignInit(s, &mech, key),
	    CKR_OPERATION_ACTIVE);
	EXPECT("C_SignUpdate", p11->C_SignUpdate(s, msg, 7), CKR_OK);
	EXPECT("C_SignUpdate", p11->C_SignUpdate(s, msg + 7, sizeof(msg) - 7),
	    CKR_OK);
	EXPECT("C_SignFinal, length only", p11->C_SignFinal(s, NULL, &len2),
	    CKR_OK);
	len2 = sizeof(two);
	EXPECT("C_SignFinal", p11->C_SignFinal(s, two, &len2), CKR_OK);
	EXPECT("  in parts as in one (PKCS#1 v1.5 is deterministic)",
	    len2 == len && memcmp(one, two, len) == 0, 1);
	EXPECT("C_SignInit", p11->C_SignInit(s, &raw, key), CKR_OK);
	EXPECT("C_SignUpdate with CKM_RSA_PKCS", p11->C_SignUpdate(s, msg, 7),
	    CKR_FUNCTION_NOT_SUPPORTED);
	EXPECT("  ended the operation", p11->C_Sign(s, msg, 7, one, &len),
	    CKR_OPERATION_NOT_INITIALIZED);
	EXPECT("ECDSA with an RSA key", p11->C_SignInit(s, &ecdsa, key),
	    CKR_KEY_TYPE_INCONSISTENT);
}

/* A plaintext too big for the buffer is kept for the next call. */
static void
check_decrypt(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key, const char *ctf,
    const char *ptf)
{
	CK_MECHANISM mech = { CKM_RSA_PKCS, NULL, 0 };
	CK_BYTE ct[512], pt[512], want[512];
	CK_ULONG ctlen, ptlen, wantlen;

	ctlen = read_file(ctf, ct, sizeof(ct));
	wantlen = read_file(ptf, want, sizeof(want));
	EXPECT("C_DecryptInit", p11->C_DecryptInit(s, &mech, key), CKR_OK);
	EXPECT("C_Decrypt, length only", p11->C_Decrypt(s, ct, ctlen, NULL,
	    &ptlen), CKR_OK);
	EXPECT("  is at most the modulus length less 11", ptlen, ctlen - 11);
	ptlen = 4;
	EXPECT("C_Decrypt into 4 bytes", p11->C_Decrypt(s, ct, ctlen, pt,
	    &ptlen), CKR_BUFFER_TOO_SMALL);
	EXPECT("  says how many it needs", ptlen, wantlen);
	ptlen = sizeof(pt);
	EXPECT("C_Decrypt again", p11->C_Decrypt(s, ct, ctlen, pt, &ptlen),
	    CKR_OK);
	EXPECT("  gives the plaintext", ptlen == wantlen &&
	    memcmp(pt, want, wantlen) == 0, 1);
	EXPECT("C_DecryptInit", p11->C_DecryptInit(s, &mech, key), CKR_OK);
	EXPECT("C_Decrypt with a short ciphertext", p11->C_Decrypt(s, ct,
	    ctlen - 1, pt, &ptlen), CKR_ENCRYPTED_DATA_LEN_RANGE);
}

/* ECDH: the secret's readability follows the template; its length too. */
static void
check_derive(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key, CK_BYTE *point,
    CK_ULONG pointlen)
{
	CK_ECDH1_DERIVE_PARAMS ep = { CKD_NULL, 0, NULL, pointlen, point };
	CK_MECHANISM mech = { CKM_ECDH1_DERIVE, &ep, sizeof(ep) };
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_BBOOL yes = CK_TRUE;
	CK_ULONG half = 16;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_VALUE_LEN, &half, sizeof(half) },
	};
	CK_BYTE full[66], part[66];
	CK_ATTRIBUTE v = { CKA_VALUE, full, sizeof(full) };
	CK_OBJECT_HANDLE k;

	EXPECT("C_DeriveKey", p11->C_DeriveKey(s, &mech, key, t, 2, &k),
	    CKR_OK);
	EXPECT("  its value reads", p11->C_GetAttributeValue(s, k, &v, 1),
	    CKR_OK);
	EXPECT("  as the field's length", v.ulValueLen, 32);
	EXPECT("C_DestroyObject", p11->C_DestroyObject(s, k), CKR_OK);
	EXPECT("  it is gone", p11->C_GetAttributeValue(s, k, &v, 1),
	    CKR_OBJECT_HANDLE_INVALID);
	EXPECT("C_DeriveKey, sensitive", p11->C_DeriveKey(s, &mech, key, t, 3,
	    &k), CKR_OK);
	v.ulValueLen = sizeof(full);
	EXPECT("  its value is not read", p11->C_GetAttributeValue(s, k, &v,
	    1), CKR_ATTRIBUTE_SENSITIVE);
	EXPECT("C_DeriveKey, 16 bytes", p11->C_DeriveKey(s, &mech, key, t + 3,
	    1, &k), CKR_OK);
	v = (CK_ATTRIBUTE){ CKA_VALUE, part, sizeof(part) };
	EXPECT("  its value reads", p11->C_GetAttributeValue(s, k, &v, 1),
	    CKR_OK);
	EXPECT("  16 bytes, the secret's last", v.ulValueLen == 16 &&
	    memcmp(part, full + 16, 16) == 0, 1);
	ep.kdf = CKD_SHA256_KDF;
	EXPECT("a KDF other than CKD_NULL", p11->C_DeriveKey(s, &mech, key, t,
	    2, &k), CKR_MECHANISM_PARAM_INVALID);
}

static void
check_ops(char **a)
{
	CK_BYTE point[200];
	CK_ATTRIBUTE v = { CKA_EC_POINT, point, sizeof(point) };
	CK_ECDH1_DERIVE_PARAMS ep = { CKD_NULL, 0, NULL, 0, point };
	CK_MECHANISM mech = { CKM_ECDH1_DERIVE, &ep, sizeof(ep) };
	CK_SESSION_HANDLE s, peer;
	CK_OBJECT_HANDLE key, derived;

	init();
	s = open_session(a[0]);
	check_sign(s, find(s, CKO_PRIVATE_KEY, a[1]));
	check_decrypt(s, find(s, CKO_PRIVATE_KEY, a[2]), a[3], a[4]);
	/* The peer's point as its token's public key has it: DER. */
	peer = open_session(a[6]);
	EXPECT("the peer's CKA_EC_POINT", p11->C_GetAttributeValue(peer,
	    find(peer, CKO_PUBLIC_KEY, a[7]), &v, 1), CKR_OK);
	key = find(s, CKO_PRIVATE_KEY, a[5]);
	check_derive(s, key, point, v.ulValueLen);
	/* Session objects go with their session. */
	ep.ulPublicDataLen = v.ulValueLen;
	EXPECT("C_DeriveKey", p11->C_DeriveKey(s, &mech, key, NULL, 0,
	    &derived), CKR_OK);
	EXPECT("C_CloseSession", p11->C_CloseSession(s), CKR_OK);
	v = (CK_ATTRIBUTE){ CKA_VALUE, NULL, 0 };
	EXPECT("a closed session's secret is gone",
	    p11->C_GetAttributeValue(open_session(a[0]), derived, &v, 1),
	    CKR_OBJECT_HANDLE_INVALID);
	p11->C_Finalize(NULL);
}

/* The session state: what the agent says of the token's login. */
static void
print_state(const char *token)
{
	CK_SESSION_INFO si;
	CK_RV rv;

	init();
	if ((rv = p11->C_GetSessionInfo(open_session(token), &si)) != CKR_OK)
		die("C_GetSessionInfo", rv);
	printf("%s\n", si.state == CKS_RO_USER_FUNCTIONS ? "user" : "public");
	p11->C_Finalize(NULL);
}

/* C_Login (pin NULL: the protected path) or C_Logout; prints its CKR_. */
static void
print_login(const char *token, int in, const char *pin)
{
	CK_SESSION_HANDLE s;
	CK_RV rv;

	init();
	s = open_session(token);
	if (!in)
		rv = p11->C_Logout(s);
	else
		rv = p11->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin,
		    pin != NULL ? strlen(pin) : 0);
	printf("0x%lx\n", (unsigned long)rv);
	p11->C_Finalize(NULL);
}

/* Reports n slot events as "event LABEL present|absent". */
static void
check_events(int n)
{
	char labels[64][33];
	CK_SLOT_ID slots[64], slot;
	CK_ULONG count = 64, i;
	CK_TOKEN_INFO ti;
	CK_SLOT_INFO si;
	CK_RV rv;

	init();
	if ((rv = p11->C_GetSlotList(CK_FALSE, slots, &count)) != CKR_OK)
		die("C_GetSlotList", rv);
	memset(labels, 0, sizeof(labels));
	for (i = 0; i < count && i < 64; i++) {
		if (p11->C_GetTokenInfo(slots[i], &ti) == CKR_OK)
			memcpy(labels[i], ti.label, 32);
		strtok(labels[i], " ");
	}
	printf("ready\n");
	fflush(stdout);
	while (n-- > 0) {
		if ((rv = p11->C_WaitForSlotEvent(0, &slot, NULL)) != CKR_OK)
			die("C_WaitForSlotEvent", rv);
		if ((rv = p11->C_GetSlotInfo(slot, &si)) != CKR_OK)
			die("C_GetSlotInfo", rv);
		for (i = 0; i < count && slots[i] != slot; i++)
			continue;
		printf("event %s %s\n", i < count ? labels[i] : "?",
		    (si.flags & CKF_TOKEN_PRESENT) ? "present" : "absent");
		fflush(stdout);
	}
	EXPECT("then, without blocking, no event",
	    p11->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, NULL),
	    CKR_NO_EVENT);
	p11->C_Finalize(NULL);
}

static void *
waiter(void *arg)
{
	CK_SLOT_ID slot;

	*(CK_RV *)arg = p11->C_WaitForSlotEvent(0, &slot, NULL);
	return NULL;
}

/* C_Finalize lets a thread blocked in C_WaitForSlotEvent go. */
static void
check_finalize(void)
{
	struct timespec nap = { 0, 300 * 1000 * 1000 };
	CK_RV got = CKR_OK;
	CK_ULONG n;
	pthread_t t;

	init();
	p11->C_GetSlotList(CK_FALSE, NULL, &n);
	if (pthread_create(&t, NULL, waiter, &got) != 0)
		die("pthread_create", 0);
	nanosleep(&nap, NULL);
	alarm(5);
	EXPECT("C_Finalize while a thread waits", p11->C_Finalize(NULL),
	    CKR_OK);
	pthread_join(t, NULL);
	alarm(0);
	EXPECT("the waiting thread's C_WaitForSlotEvent", got,
	    CKR_CRYPTOKI_NOT_INITIALIZED);
}

/* One ECDSA signature of a made-up digest. */
static CK_RV
sign(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key)
{
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	CK_BYTE digest[32], sig[132];
	CK_ULONG siglen = sizeof(sig);
	CK_RV rv;

	memset(digest, 0x5a, sizeof(digest));
	if ((rv = p11->C_SignInit(s, &mech, key)) != CKR_OK)
		return rv;
	return p11->C_Sign(s, digest, sizeof(digest), sig, &siglen);
}

static void
check_fork(const char *token, const char *label)
{
	CK_SESSION_HANDLE s;
	CK_ULONG n;
	pid_t pid;
	int status;

	init();
	s = open_session(token);
	EXPECT("the parent signs", sign(s, find(s, CKO_PRIVATE_KEY, label)),
	    CKR_OK);
	if ((pid = fork()) == -1)
		die("fork", 0);
	if (pid == 0) {
		/* The parent's state is not the child's to use. */
		EXPECT("the child, before C_Initialize",
		    p11->C_GetSlotList(CK_FALSE, NULL, &n),
		    CKR_CRYPTOKI_NOT_INITIALIZED);
		EXPECT("the child's C_Initialize", p11->C_Initialize(NULL),
		    CKR_OK);
		s = open_session(token);
		EXPECT("the child signs",
		    sign(s, find(s, CKO_PRIVATE_KEY, label)), CKR_OK);
		p11->C_Finalize(NULL);
		_exit(failures > 0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		EXPECT("the child", 1, 0);
	EXPECT("the parent signs after the child",
	    sign(s, find(s, CKO_PRIVATE_KEY, label)), CKR_OK);
	p11->C_Finalize(NULL);
}

struct worker {
	const char *token, *label;
	pthread_t t;
	int failed;
};

static void *
work(void *arg)
{
	struct worker *w = arg;
	CK_SESSION_HANDLE s = open_session(w->token);
	CK_OBJECT_HANDLE key = find(s, CKO_PRIVATE_KEY, w->label);
	int i;

	for (i = 0; i < 20; i++)
		if (sign(s, key) != CKR_OK)
			w->failed++;
	p11->C_CloseSession(s);
	return NULL;
}

static void
check_threads(const char *token, const char *label, int n)
{
	struct worker w[16];
	int i;

	if (n < 1 || n > 16)
		die("threads: 1 to 16", 0);
	init();
	for (i = 0; i < n; i++) {
		w[i] = (struct worker){ token, label, 0, 0 };
		if (pthread_create(&w[i].t, NULL, work, &w[i]) != 0)
			die("pthread_create", 0);
	}
	for (i = 0; i < n; i++) {
		pthread_join(w[i].t, NULL);
		EXPECT("a thread's 20 signatures", w[i].failed, 0);
	}
	p11->C_Finalize(NULL);
}

int
main(int argc, char **argv)
{
	CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR);
	void *lib;

	if (argc < 3) {
		fprintf(stderr, "usage: p11check MODULE TEST [ARGS]\n");
		return 2;
	}
	if ((lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL)) == NULL) {
		fprintf(stderr, "%s\n", dlerror());
		return 1;
	}
	*(void **)&get = dlsym(lib, "C_GetFunctionList");
	if (get == NULL || get(&p11) != CKR_OK)
		die("C_GetFunctionList", 0);
	if (strcmp(argv[2], "init") == 0)
		check_init();
	else if (strcmp(argv[2], "state") == 0 && argc == 4)
		print_state(argv[3]);
	else if (strcmp(argv[2], "login") == 0 && (argc == 4 || argc == 5))
		print_login(argv[3], 1, argc == 5 ? argv[4] : NULL);
	else if (strcmp(argv[2], "logout") == 0 && argc == 4)
		print_login(argv[3], 0, NULL);
	else if (strcmp(argv[2], "ops") == 0 && argc == 11)
		check_ops(argv + 3);
	else if (strcmp(argv[2], "attrs") == 0 && argc == 5)
		check_attrs(argv[3], argv[4]);
	else if (strcmp(argv[2], "events") == 0 && argc == 4)
		check_events(atoi(argv[3]));
	else if (strcmp(argv[2], "finalize") == 0)
		check_finalize();
	else if (strcmp(argv[2], "fork") == 0 && argc == 5)
		check_fork(argv[3], argv[4]);
	else if (strcmp(argv[2], "threads") == 0 && argc == 6)
		check_threads(argv[3], argv[4], atoi(argv[5]));
	else {
		fprintf(stderr, "p11check: unknown test or arguments\n");
		return 2;
	}
	return failures > 0;
}
