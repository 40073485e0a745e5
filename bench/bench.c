/*
 * cardagent-bench: what the agent costs per signature.
 *
 * Measures, in one run and on the same SoftHSM key, the median latency of
 * SIGN through a running agent (libcardagent over its socket) and of
 * C_SignInit + C_Sign called directly in this process, the floor any agent
 * can reach; with --via, also through other PKCS#11 modules that reach the
 * same token (cardagent-pkcs11.so, p11-kit-client.so against `p11-kit
 * server`). Batches of each path alternate so that drift on a noisy
 * machine hits all alike. Prints a Markdown table, or with --tsv one line
 * per key and path (sign, key, path, median us) and per IPC floor (ipc,
 * hops, median us), for bench/agent.py. See docs/benchmarks.md.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#include "cardagent.h"
#include "secret.h"

static const uint8_t sha256_prefix[] = {
	0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
	0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
};

struct direct {
	CK_FUNCTION_LIST *f;
	CK_SESSION_HANDLE s;
};

/* --tsv: lines for a script instead of a table for a person. */
static int tsv;

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void
die(const char *what)
{
	fprintf(stderr, "cardagent-bench: %s\n", what);
	exit(1);
}

static void
pad(char *dst, size_t len, const char *src)
{
	memset(dst, ' ', len);
	memcpy(dst, src, strlen(src) < len ? strlen(src) : len);
}

static void
direct_open(struct direct *d, const char *module, const char *token,
    const char *pin)
{
	CK_RV (*gfl)(CK_FUNCTION_LIST **);
	CK_SLOT_ID slots[64];
	CK_ULONG n = 64, i;
	CK_TOKEN_INFO ti;
	char want[32];
	void *h;

	if ((h = dlopen(module, RTLD_NOW)) == NULL ||
	    (gfl = (CK_RV (*)(CK_FUNCTION_LIST **))dlsym(h,
	    "C_GetFunctionList")) == NULL || gfl(&d->f) != CKR_OK)
		die("cannot load the module");
	if (d->f->C_Initialize(NULL) != CKR_OK ||
	    d->f->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
		die("C_Initialize/C_GetSlotList failed");
	pad(want, sizeof(want), token);
	for (i = 0; i < n; i++) {
		if (d->f->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
		    memcmp(ti.label, want, sizeof(want)) == 0)
			break;
	}
	if (i == n)
		die("token not found");
	if (d->f->C_OpenSession(slots[i], CKF_SERIAL_SESSION, NULL, NULL,
	    &d->s) != CKR_OK ||
	    d->f->C_Login(d->s, CKU_USER, (CK_UTF8CHAR *)pin,
	    strlen(pin)) != CKR_OK)
		die("open session / login failed");
}

static CK_OBJECT_HANDLE
direct_key(struct direct *d, const char *label)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_OBJECT_HANDLE o;
	CK_ULONG n = 0;

	if (d->f->C_FindObjectsInit(d->s, t, 2) != CKR_OK ||
	    d->f->C_FindObjects(d->s, &o, 1, &n) != CKR_OK ||
	    d->f->C_FindObjectsFinal(d->s) != CKR_OK || n != 1)
		die("key not found on the token");
	return o;
}

/* One direct signature: the same mechanism and input the agent uses. */
static void
direct_sign(struct direct *d, CK_OBJECT_HANDLE k, int rsa,
    const uint8_t *digest)
{
	CK_MECHANISM m = { rsa ? CKM_RSA_PKCS : CKM_ECDSA, NULL, 0 };
	uint8_t in[sizeof(sha256_prefix) + 32], sig[1024];
	CK_ULONG inlen = 32, siglen = sizeof(sig);

	if (rsa) {
		memcpy(in, sha256_prefix, sizeof(sha256_prefix));
		memcpy(in + sizeof(sha256_prefix), digest, 32);
		inlen = sizeof(in);
	} else
		memcpy(in, digest, 32);
	if (d->f->C_SignInit(d->s, &m, k) != CKR_OK ||
	    d->f->C_Sign(d->s, in, inlen, sig, &siglen) != CKR_OK)
		die("direct C_Sign failed");
}

/* One signature through the agent's own protocol. */
static void
agent_sign(struct cac *c, const char *key_id,
    const struct cac_sign_params *p, const uint8_t *digest)
{
	uint8_t *sig;
	size_t siglen;

	if (cac_sign(c, key_id, p, digest, 32, &sig, &siglen) != CA_OK)
		die(cac_errmsg(c));
	free(sig);
}

/*
 * Paths: 0 the module directly, 1 the agent, 2.. the --via modules; the
 * ratios are against path 0.
 */
static void
run(struct direct *d, size_t nd, struct cac *c, const struct ca_key *keys,
    size_t nkeys, const char *token, const char *label, unsigned iters,
    const char *const *names)
{
	struct cac_sign_params p = { 0 };
	char sel[256], err[256];
	double *v[8], t0, m[8];
	CK_OBJECT_HANDLE k[8];
	uint8_t digest[32];
	size_t idx, path, npaths = nd + 1;
	unsigned i, j, batch = 50;
	int rsa;

	snprintf(sel, sizeof(sel), "pkcs11:token=%s;object=%s", token, label);
	if (cac_select_key(keys, nkeys, sel, CA_OP_SIGN, &idx, err,
	    sizeof(err)) != CA_OK)
		die(err);
	rsa = keys[idx].type == CA_KEY_RSA;
	p.alg = rsa ? CA_ALG_RSA_PKCS1 : CA_ALG_ECDSA;
	p.hash = CA_HASH_SHA256;
	memset(digest, 0x5a, sizeof(digest));
	for (path = 0; path < npaths; path++) {
		if (path != 1)
			k[path] = direct_key(&d[path ? path - 1 : 0], label);
		if ((v[path] = calloc(iters, sizeof(double))) == NULL)
			die("out of memory");
	}
	for (i = 0; i < iters + 20; i += batch) {
		for (path = 0; path < npaths; path++) {
			for (j = i; j < i + batch && j < iters + 20; j++) {
				t0 = now_us();
				if (path == 1)
					agent_sign(c, keys[idx].id, &p, digest);
				else
					direct_sign(&d[path ? path - 1 : 0],
					    k[path], rsa, digest);
				/* The first 20 only warm the path up. */
				if (j >= 20)
					v[path][j - 20] = now_us() - t0;
			}
		}
	}
	if (!tsv)
		printf("| %s-%u sign", rsa ? "RSA" : "P", keys[idx].bits);
	for (path = 0; path < npaths; path++) {
		m[path] = median(v[path], iters);
		if (tsv)
			printf("sign\t%s-%u\t%s\t%.1f\n", rsa ? "RSA" : "P",
			    keys[idx].bits, names[path], m[path]);
		else if (path > 0)
			printf(" | %.0f us (%.2fx)", m[path], m[path] / m[0]);
		else
			printf(" | %.0f us", m[path]);
		free(v[path]);
	}
	if (!tsv)
		printf(" |\n");
}

/*
 * The floor any out-of-process design pays on this machine: the median
 * round trip of one byte through `hops` processes relaying over socket
 * pairs, as a request goes client -> agent -> token host and back.
 */
static double
ipc_floor(int hops, unsigned iters)
{
	int sv[2][2], i;
	pid_t pids[2];
	double *v, t0, m;
	unsigned n;
	char b = 0;

	for (i = 0; i < hops; i++)
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv[i]) == -1)
			die("socketpair");
	for (i = 0; i < hops; i++) {
		if ((pids[i] = fork()) == -1)
			die("fork");
		if (pids[i] != 0)
			continue;
		while (read(sv[i][1], &b, 1) == 1) {
			if (i + 1 < hops && (write(sv[i + 1][0], &b, 1) != 1 ||
			    read(sv[i + 1][0], &b, 1) != 1))
				_exit(1);
			if (write(sv[i][1], &b, 1) != 1)
				_exit(1);
		}
		_exit(0);
	}
	if ((v = calloc(iters, sizeof(*v))) == NULL)
		die("out of memory");
	for (n = 0; n < iters; n++) {
		t0 = now_us();
		if (write(sv[0][0], &b, 1) != 1 || read(sv[0][0], &b, 1) != 1)
			die("relay failed");
		v[n] = now_us() - t0;
	}
	m = median(v, iters);
	free(v);
	for (i = 0; i < hops; i++) {
		(void)kill(pids[i], SIGKILL);
		(void)waitpid(pids[i], NULL, 0);
		close(sv[i][0]);
		close(sv[i][1]);
	}
	return m;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "module", required_argument, NULL, 'm' },
		{ "token", required_argument, NULL, 't' },
		{ "pin", required_argument, NULL, 'p' },
		{ "socket", required_argument, NULL, 's' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "key", required_argument, NULL, 'k' },
		{ "via", required_argument, NULL, 'v' },
		{ "tsv", no_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	const char *module = NULL, *token = "alice", *pin = NULL;
	const char *sock = NULL, *labels[8], *via[6], *names[8];
	size_t nlabels = 0, nvia = 0, nkeys, i;
	unsigned iters = 1000;
	struct ca_secret *s;
	struct ca_token *toks;
	struct ca_key *keys;
	size_t ntoks;
	struct direct d[7];
	struct cac *c;
	char err[256];
	int ch;

	while ((ch = getopt_long(argc, argv, "m:t:p:s:n:k:v:", opts,
	    NULL)) != -1) {
		switch (ch) {
		case 'm': module = optarg; break;
		case 't': token = optarg; break;
		case 'p': pin = optarg; break;
		case 's': sock = optarg; break;
		case 'n': iters = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'k':
			if (nlabels < 8)
				labels[nlabels++] = optarg;
			break;
		case 'v':
			if (nvia < 6)
				via[nvia++] = optarg;
			break;
		case 'T': tsv = 1; break;
		default:
			fprintf(stderr, "usage: cardagent-bench --module SO "
			    "--pin PIN [--token LABEL] [--socket PATH] "
			    "[--iterations N] [--key LABEL]... "
			    "[--via MODULE]... [--tsv]\n");
			return 2;
		}
	}
	if (module == NULL || pin == NULL || iters == 0)
		die("--module and --pin are required");
	if (nlabels == 0) {
		labels[nlabels++] = "rsa2048-sign";
		labels[nlabels++] = "p256-sign";
	}
	direct_open(&d[0], module, token, pin);
	if (cac_connect(sock, &c, err, sizeof(err)) != CA_OK)
		die(err);
	if (cac_status(c, &toks, &ntoks) != CA_OK)
		die(cac_errmsg(c));
	for (i = 0; i < ntoks && strcmp(toks[i].label, token) != 0; i++)
		;
	if (i == ntoks)
		die("the agent does not serve that token");
	if ((s = ca_secret_dup(pin, strlen(pin))) == NULL)
		die("out of memory");
	if (cac_login(c, toks[i].id, s) != CA_OK)
		die(cac_errmsg(c));
	ca_secret_free(s);
	cac_tokens_free(toks, ntoks);
	if (cac_list_keys(c, &keys, &nkeys) != CA_OK)
		die(cac_errmsg(c));
	/* After the agent's login: a --via module may be the agent. */
	for (i = 0; i < nvia; i++)
		direct_open(&d[i + 1], via[i], token, pin);
	/* Paths by name: the module's file name for a --via path. */
	names[0] = "direct";
	names[1] = "cardagent";
	for (i = 0; i < nvia; i++)
		names[i + 2] = strrchr(via[i], '/') != NULL ?
		    strrchr(via[i], '/') + 1 : via[i];
	if (!tsv) {
		printf("| operation | direct C_Sign (median) | "
		    "through cardagent");
		for (i = 0; i < nvia; i++)
			printf(" | via %s", names[i + 2]);
		printf(" |\n|---|---|---");
		for (i = 0; i < nvia; i++)
			printf("|---");
		printf("|\n");
	}
	for (i = 0; i < nlabels; i++)
		run(d, nvia + 1, c, keys, nkeys, token, labels[i], iters,
		    names);
	if (tsv)
		printf("ipc\t1\t%.1f\nipc\t2\t%.1f\n", ipc_floor(1, iters),
		    ipc_floor(2, iters));
	else
		printf("\nIPC floor on this machine (median 1-byte round "
		    "trip): 1 process hop %.0f us, 2 hops %.0f us\n",
		    ipc_floor(1, iters), ipc_floor(2, iters));
	cac_keys_free(keys, nkeys);
	cac_close(c);
	return 0;
}
