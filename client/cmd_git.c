/*
 * cmd_git.c: cardsign as git's gpg.x509.program, so that commits and tags
 * are signed with the card. git (gpg-interface.c, 2.39) runs the program
 * as it would run gpgsm:
 *
 *   PROGRAM --status-fd=2 -bsau KEY          the payload on stdin; the
 *                                            armoured detached signature
 *                                            on stdout
 *   PROGRAM --status-fd=1 --verify SIG -     the payload on stdin
 *
 * A signature counts as made only if what the program wrote to stderr
 * holds "\n[GNUPG:] SIG_CREATED ", and as good only if the program exits 0
 * and its stdout holds "\n[GNUPG:] GOODSIG ". Both searches start at a
 * newline, so a status line goes before those (BEGIN_SIGNING, NEWSIG, as
 * gpg and gpgsm write). git reads GOODSIG, BADSIG, ERRSIG, VALIDSIG and
 * TRUST_* for what `git log` shows (%G?, %GS, %GK, %GF, %GT), and shows
 * stderr as the verdict in `git log --show-signature` and `git
 * verify-commit`; the lines are gpgsm's, so scripts written for gpgsm
 * read them as well. KEY is user.signingkey, or the committer as "Name
 * <email>" when that is unset.
 *
 * The CMS work is cmd_file.c's (cs_sign_digest) and osslutil.c's (the
 * trusted CAs, the signer's chain); what is here is gpgsm's interface.
 * git passes no options, so the CAs come from the environment (docs/git.md).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
/* pem.h first: cms.h declares its PEM functions only after it. */
#include <openssl/pem.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cardsign.h"

/* git holds a commit or tag whole in memory too; this bounds ours. */
#define PAYLOAD_MAX	(256u * 1024 * 1024)
#define SIG_MAX		(16u * 1024 * 1024)
/* gpgsm's armour label, the one git's x509 format recognises. */
#define PEM_NAME	"SIGNED MESSAGE"
/* A SHA-1 certificate fingerprint in hex, gpgsm's name for a certificate. */
#define FPR_LEN		40

/* What git asked for. */
struct git_call {
	int status_fd;		/* -1: no status lines */
	int sign, detach, armor, verify;
	const char *key;	/* -u */
	char **args;		/* operands */
	int nargs;
};

int
cs_git_called(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--status-fd") == 0 ||
		    strncmp(argv[i], "--status-fd=", 12) == 0)
			return 1;
	return 0;
}

/*
 * One "[GNUPG:] " status line, in one write(2): when the status fd is
 * stderr, as for signing, a line must not be split by a message.
 */
static void
status(const struct git_call *g, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
status(const struct git_call *g, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	size_t len, off = 0;
	ssize_t n;
	int r;

	if (g->status_fd < 0)
		return;
	memcpy(line, "[GNUPG:] ", 9);
	va_start(ap, fmt);
	r = vsnprintf(line + 9, sizeof(line) - 10, fmt, ap);
	va_end(ap);
	if (r < 0)
		return;
	len = 9 + ((size_t)r < sizeof(line) - 10 ? (size_t)r :
	    sizeof(line) - 11);
	line[len++] = '\n';
	while (off < len) {
		if ((n = write(g->status_fd, line + off, len - off)) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		off += (size_t)n;
	}
}

/* A line for the user: git shows them as the signature's verdict. */
static void
note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("cardsign: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static int
parse(int argc, char **argv, struct git_call *g)
{
	enum { O_STATUS_FD = 256, O_VERIFY };
	static const struct option opts[] = {
		{ "status-fd", required_argument, NULL, O_STATUS_FD },
		{ "verify", no_argument, NULL, O_VERIFY },
		{ "detach-sign", no_argument, NULL, 'b' },
		{ "sign", no_argument, NULL, 's' },
		{ "armor", no_argument, NULL, 'a' },
		{ "local-user", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	long fd;
	int ch;

	memset(g, 0, sizeof(*g));
	g->status_fd = -1;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "bsau:", opts, NULL)) != -1) {
		switch (ch) {
		case O_STATUS_FD:
			errno = 0;
			fd = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    fd < 0 || fd > INT_MAX ||
			    fcntl((int)fd, F_GETFD) == -1)
				return cs_usage_fail("--status-fd %s: not an "
				    "open file descriptor", optarg);
			g->status_fd = (int)fd;
			break;
		case O_VERIFY:
			g->verify = 1;
			break;
		case 'b':
			g->detach = 1;
			break;
		case 's':
			g->sign = 1;
			break;
		case 'a':
			g->armor = 1;
			break;
		case 'u':
			g->key = optarg;
			break;
		default:
			return cs_usage_fail("as git's gpg.x509.program cardsign "
			    "takes --status-fd N with -bsau KEY or --verify "
			    "SIGNATURE DATA");
		}
	}
	g->args = argv + optind;
	g->nargs = argc - optind;
	if (g->sign == g->verify)
		return cs_usage_fail("as git's gpg.x509.program cardsign signs "
		    "(-bsau KEY) or verifies (--verify SIGNATURE DATA)");
	if (g->sign && !g->detach)
		return cs_usage_fail("only detached signatures (-b), as git "
		    "makes them");
	if (g->sign && (g->key == NULL || g->nargs > 1))
		return cs_usage_fail("-bsau needs KEY (git's user.signingkey) "
		    "and at most one FILE");
	if (g->verify && g->nargs != 2)
		return cs_usage_fail("--verify needs SIGNATURE and the signed "
		    "DATA ('-': standard input)");
	return EX_OK;
}

/*
 * OpenSSL's newest error with the text attached to it: the provider puts
 * the agent's own words there ("... cancelled"), where the reason alone
 * says only that cardagent failed.
 */
static const char *
ossl_why(char *buf, size_t len)
{
	const char *data;
	int flags;

	if (ERR_peek_last_error_data(&data, &flags) != 0 &&
	    (flags & ERR_TXT_STRING) && data[0] != '\0') {
		snprintf(buf, len, "%s", data);
		return buf;
	}
	return cs_ossl_reason();
}

/* Set and not empty, as a shell user means it. */
static const char *
env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

/*
 * git passes no options to its program, so the CAs come from the
 * environment, named after cardsign's own options. A file named but
 * unreadable is an error: signing would leave the chain out of the
 * signature without a word.
 */
static int
env_opts(struct cs_opts *o)
{
	static const char *const vars[] = { "CARDSIGN_CA_FILE",
	    "CARDSIGN_CA_DIR", "CARDSIGN_CRL_FILE" };
	const char *v;
	size_t i;

	memset(o, 0, sizeof(*o));
	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		if ((v = env(vars[i])) != NULL && access(v, R_OK) == -1)
			return cs_fail(CA_E_BAD_INPUT, "%s=%s: %s", vars[i], v,
			    strerror(errno));
	o->ca_file = env("CARDSIGN_CA_FILE");
	o->ca_dir = env("CARDSIGN_CA_DIR");
	o->crl_file = env("CARDSIGN_CRL_FILE");
	o->no_system_ca = (v = env("CARDSIGN_NO_SYSTEM_CA")) != NULL &&
	    strcmp(v, "0") != 0;
	return EX_OK;
}

/* A certificate's SHA-1 fingerprint in hex; "" if it cannot be had. */
static void
fingerprint(const X509 *cert, char out[FPR_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n;

	if (X509_digest(cert, EVP_sha1(), md, &n) && n * 2 == FPR_LEN)
		ca_hex(out, md, n, 1);
	else
		out[0] = '\0';
}

/*
 * Whether key names a certificate as gpgsm users write it: its SHA-1
 * fingerprint (40 hex digits, with colons or without) or "0x" and the
 * fingerprint's last 8, 16 or 40 digits, gpgsm's certificate ID. hex gets
 * the digits in upper case. cardsign's own key ids (16 digits, no "0x")
 * are left alone.
 */
static int
fpr_form(const char *key, char hex[FPR_LEN + 1])
{
	int prefixed = strncasecmp(key, "0x", 2) == 0;
	const char *p = key + (prefixed ? 2 : 0);
	size_t n = 0;

	for (; *p != '\0'; p++) {
		if (*p == ':' && !prefixed && n > 0)
			continue;
		if (!isxdigit((unsigned char)*p) || n == FPR_LEN)
			return 0;
		hex[n++] = (char)toupper((unsigned char)*p);
	}
	hex[n] = '\0';
	return n == FPR_LEN || (prefixed && (n == 8 || n == 16));
}

/*
 * The id of the one signing key whose certificate's fingerprint ends in
 * want, into sel. The keys are listed once more for it (the agent answers
 * from its index), and hashed in a library context of their own: the
 * default one must see the cardagent provider loaded first (keyload.c).
 */
static int
key_by_fingerprint(const char *want, char *sel, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	char err[512], hex[2 * EVP_MAX_MD_SIZE + 1];
	struct ca_key *keys;
	struct cac *c;
	OSSL_LIB_CTX *lc;
	EVP_MD *sha1 = NULL;
	unsigned int mdlen;
	size_t n, i, wl = strlen(want), found = 0, idx = 0;
	int r, ok = 1;

	if ((r = cac_connect_list(NULL, &c, &keys, &n, err, sizeof(err))) !=
	    CA_OK)
		return cs_fail(r, "%s", err);
	cac_close(c);
	if ((lc = OSSL_LIB_CTX_new()) == NULL ||
	    (sha1 = EVP_MD_fetch(lc, "SHA1", NULL)) == NULL)
		ok = 0;
	for (i = 0; ok && i < n; i++) {
		if (keys[i].cert_len == 0 || !(keys[i].ops & CA_OP_SIGN))
			continue;
		if (!EVP_Digest(keys[i].cert, keys[i].cert_len, md, &mdlen,
		    sha1, NULL)) {
			ok = 0;
			break;
		}
		ca_hex(hex, md, mdlen, 1);
		if (strcmp(hex + 2 * mdlen - wl, want) == 0 && found++ == 0)
			idx = i;
	}
	if (!ok)
		r = cs_fail(CA_E_INTERNAL, "cannot hash certificates: %s",
		    cs_ossl_reason());
	else if (found == 1)
		r = snprintf(sel, len, "%s", keys[idx].id) < (int)len ? EX_OK :
		    cs_fail(CA_E_INTERNAL, "key id too long");
	else if (found == 0)
		r = cs_fail(CA_E_NO_KEY, "no signing key's certificate has the "
		    "fingerprint %s (see 'cardsign keys')", want);
	else
		r = cs_fail(CA_E_NO_KEY, "%zu signing keys' certificates match "
		    "%s; name one by its whole fingerprint or its id (see "
		    "'cardsign keys')", found, want);
	EVP_MD_free(sha1);
	OSSL_LIB_CTX_free(lc);
	cac_keys_free(keys, n);
	return r;
}

/*
 * The selector cac_select_key() takes for KEY, into sel: a key id, a
 * PKCS#11 URI or an e-mail address as cardsign takes them; "Name <email>"
 * (git's default, the committer) or gpgsm's "<email>" by the address; a
 * fingerprint by the key whose certificate has it.
 */
static int
key_selector(const char *key, char *sel, size_t len)
{
	char hex[FPR_LEN + 1];
	const char *lt, *gt;
	size_t n;

	if (strncmp(key, "pkcs11:", 7) != 0 &&
	    (lt = strrchr(key, '<')) != NULL &&
	    (gt = strchr(lt, '>')) != NULL) {
		if ((n = (size_t)(gt - lt - 1)) == 0 || n >= len ||
		    memchr(lt + 1, '@', n) == NULL)
			return cs_fail(CA_E_NO_KEY, "no e-mail address in '%s'",
			    key);
		memcpy(sel, lt + 1, n);
		sel[n] = '\0';
		return EX_OK;
	}
	if (strncmp(key, "pkcs11:", 7) != 0 && fpr_form(key, hex))
		return key_by_fingerprint(hex, sel, len);
	if (snprintf(sel, len, "%s", key) >= (int)len)
		return cs_fail(CA_E_NO_KEY, "key '%s' is too long", key);
	return EX_OK;
}

/* The numbers gpgsm's status lines give algorithms (libgcrypt's). */
static int
pk_algo(X509 *cert)
{
	EVP_PKEY *pk = X509_get0_pubkey(cert);

	switch (pk != NULL ? EVP_PKEY_get_base_id(pk) : EVP_PKEY_NONE) {
	case EVP_PKEY_RSA:
	case EVP_PKEY_RSA_PSS:
		return 1;
	case EVP_PKEY_EC:
		return 18;
	default:
		return 0;
	}
}

static int
hash_algo(int nid)
{
	switch (nid) {
	case NID_sha1:
		return 2;
	case NID_sha256:
		return 8;
	case NID_sha384:
		return 9;
	case NID_sha512:
		return 10;
	case NID_sha224:
		return 11;
	default:
		return 0;
	}
}

static int
si_hash_algo(CMS_SignerInfo *si)
{
	X509_ALGOR *dig = NULL;
	const ASN1_OBJECT *obj;

	CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, NULL);
	if (dig == NULL)
		return 0;
	X509_ALGOR_get0(&obj, NULL, NULL, dig);
	return hash_algo(OBJ_obj2nid(obj));
}

/* The signer's signingTime attribute: 0, or -1 if it has none. */
static int
signing_time(CMS_SignerInfo *si, struct tm *tm)
{
	X509_ATTRIBUTE *a;
	ASN1_TYPE *t;
	int i;

	if ((i = CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime,
	    -1)) < 0 || (a = CMS_signed_get_attr(si, i)) == NULL ||
	    (t = X509_ATTRIBUTE_get0_type(a, 0)) == NULL ||
	    (t->type != V_ASN1_UTCTIME && t->type != V_ASN1_GENERALIZEDTIME) ||
	    !ASN1_TIME_to_tm(t->value.asn1_string, tm))
		return -1;
	return 0;
}

/* gpgsm's time stamps: "20240131T235959", or "0" for none. */
static void
iso_time(const struct tm *tm, char *out, size_t len)
{
	if (tm == NULL || strftime(out, len, "%Y%m%dT%H%M%S", tm) == 0)
		snprintf(out, len, "0");
}

/* The signature as gpgsm writes it: armoured (-a) as git wants, or DER. */
static int
encode_sig(BIO *mem, CMS_ContentInfo *cms, int armor)
{
	unsigned char *der = NULL;
	int n, ok;

	if (!armor)
		return i2d_CMS_bio(mem, cms);
	if ((n = i2d_CMS_ContentInfo(cms, &der)) <= 0)
		return 0;
	ok = PEM_write_bio(mem, PEM_NAME, "", der, n) > 0;
	OPENSSL_free(der);
	return ok;
}

static int
git_sign(const struct git_call *g)
{
	const char *path = g->nargs == 1 ? g->args[0] : "-";
	unsigned char dig[EVP_MAX_MD_SIZE];
	char sel[1024], fpr[FPR_LEN + 1], when[32], why[512];
	const EVP_MD *md = EVP_sha256();
	CMS_ContentInfo *cms = NULL;
	struct cs_signer s;
	struct cs_opts o;
	struct tm tm;
	unsigned int dlen;
	uint8_t *data = NULL;
	size_t len;
	BIO *mem = NULL;
	int r;

	if ((r = env_opts(&o)) != EX_OK ||
	    (r = key_selector(g->key, sel, sizeof(sel))) != EX_OK)
		return r;
	o.key = sel;
	if (cs_read_file(path, &data, &len, PAYLOAD_MAX) == -1)
		return cs_fail(CA_E_BAD_INPUT, "%s: %s", strcmp(path, "-") ?
		    path : "standard input", strerror(errno));
	/* The digest after the providers load, as keyload.c wants. */
	if ((r = cs_signer_open(&o, &s)) != EX_OK) {
		free(data);
		return r;
	}
	status(g, "BEGIN_SIGNING H%d", hash_algo(EVP_MD_get_type(md)));
	ERR_clear_error();
	if (!EVP_Digest(data, len, dig, &dlen, md, NULL))
		r = cs_fail(CA_E_INTERNAL, "cannot hash the data: %s",
		    cs_ossl_reason());
	else if ((cms = cs_sign_digest(&s, md, dig, dlen)) == NULL)
		r = cs_fail(CA_E_TOKEN_FAILED, "no signature: %s",
		    ossl_why(why, sizeof(why)));
	else if ((mem = BIO_new(BIO_s_mem())) == NULL ||
	    !encode_sig(mem, cms, g->armor))
		r = cs_fail(CA_E_INTERNAL, "cannot encode the signature: %s",
		    cs_ossl_reason());
	else if ((r = cs_write_bio("-", mem, 0)) == EX_OK) {
		fingerprint(s.cert, fpr);
		iso_time(signing_time(sk_CMS_SignerInfo_value(
		    CMS_get0_SignerInfos(cms), 0), &tm) == 0 ? &tm : NULL,
		    when, sizeof(when));
		status(g, "SIG_CREATED D %d %d 00 %s %s", pk_algo(s.cert),
		    hash_algo(EVP_MD_get_type(md)), when, fpr);
	}
	BIO_free(mem);
	CMS_ContentInfo_free(cms);
	cs_signer_close(&s);
	free(data);
	return r;
}

/*
 * The signature file git wrote: gpgsm's armour (whatever its label), or
 * anything cs_read_cms() reads. EX_OK, or an exit code with the reason
 * printed.
 */
static int
read_sig(const char *path, CMS_ContentInfo **cms)
{
	char *name = NULL, *header = NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	uint8_t *buf;
	size_t len;
	long n;
	BIO *b;

	if (cs_read_file(path, &buf, &len, SIG_MAX) == -1)
		return cs_fail(CA_E_BAD_INPUT, "%s: %s", path, strerror(errno));
	*cms = NULL;
	if ((b = BIO_new_mem_buf(buf, (int)len)) != NULL &&
	    PEM_read_bio(b, &name, &header, &der, &n)) {
		p = der;
		*cms = d2i_CMS_ContentInfo(NULL, &p, n);
	}
	BIO_free(b);
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(der);
	if (*cms == NULL)
		*cms = cs_read_cms((const char *)buf, len);
	free(buf);
	if (*cms == NULL)
		return cs_fail(CA_E_BAD_INPUT, "%s: not a CMS signature: %s",
		    path, cs_ossl_reason());
	return EX_OK;
}

/*
 * s with control characters as \xHH, as X509_NAME_oneline() writes names:
 * the signer wrote it, and git shows it on a terminal as the verdict.
 */
static const char *
printable(const char *s, char *out, size_t len)
{
	size_t n = 0;

	for (; *s != '\0' && n + 5 < len; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			n += (size_t)snprintf(out + n, len - n, "\\x%02X",
			    (unsigned char)*s);
		else
			out[n++] = *s;
	}
	out[n] = '\0';
	return out;
}

/* How a SignerInfo names its certificate, for ERRSIG: serial or key id. */
static void
signer_id(CMS_SignerInfo *si, char *out, size_t len)
{
	ASN1_OCTET_STRING *keyid = NULL;
	ASN1_INTEGER *sno = NULL;
	X509_NAME *issuer = NULL;
	const ASN1_STRING *s = NULL;

	snprintf(out, len, "0");
	if (!CMS_SignerInfo_get0_signer_id(si, &keyid, &issuer, &sno))
		return;
	s = sno != NULL ? sno : keyid;
	if (s != NULL && (size_t)ASN1_STRING_length(s) * 2 < len)
		ca_hex(out, ASN1_STRING_get0_data(s),
		    (size_t)ASN1_STRING_length(s), 1);
}

/*
 * What gpgsm says of one signature, on the status fd and to the user.
 * intact: it matches the data; trusted: and its signer chains to a
 * trusted CA (why not, if not).
 */
static int
report(const struct git_call *g, CMS_SignerInfo *si, X509 *cert,
    int intact, int trusted, const char *why)
{
	STACK_OF(OPENSSL_STRING) *emails;
	char fpr[FPR_LEN + 1], name[512], made[64], when[32], day[16];
	char expires[32], id[128], aka[256];
	struct tm tm, na;
	int i, dated;

	dated = signing_time(si, &tm) == 0;
	iso_time(dated ? &tm : NULL, when, sizeof(when));
	if (!dated || strftime(made, sizeof(made), "%Y-%m-%d %H:%M:%S UTC",
	    &tm) == 0 || strftime(day, sizeof(day), "%Y-%m-%d", &tm) == 0) {
		snprintf(made, sizeof(made), "at an unknown time");
		snprintf(day, sizeof(day), "0");
	}
	note("Signature made %s", made);
	if (cert == NULL) {
		signer_id(si, id, sizeof(id));
		status(g, "ERRSIG %s 0 %d 00 %s 9", id, si_hash_algo(si), when);
		note("cannot check the signature: its signer's certificate is "
		    "not in it (%s)", cs_ossl_reason());
		return EX_FAIL;
	}
	fingerprint(cert, fpr);
	X509_NAME_oneline(X509_get_subject_name(cert), name, sizeof(name));
	note("               using certificate %s", fpr);
	if (!intact) {
		status(g, "BADSIG %s %s", fpr, name);
		note("BAD signature from \"%s\": %s", name, cs_ossl_reason());
		return EX_BAD_SIGNATURE;
	}
	iso_time(ASN1_TIME_to_tm(X509_get0_notAfter(cert), &na) ? &na : NULL,
	    expires, sizeof(expires));
	status(g, "GOODSIG %s %s", fpr, name);
	status(g, "VALIDSIG %s %s %s %s 0 0 %d %d 00", fpr, day, when,
	    expires, pk_algo(cert), si_hash_algo(si));
	if (!trusted) {
		/* gpgsm's words for it: git shows %G? "U", verify fails. */
		status(g, "TRUST_UNDEFINED 0 shell");
		note("the signature matches, but its signer \"%s\" is not "
		    "trusted: %s", name, why);
		note("(CARDSIGN_CA_FILE names the CAs to trust; see "
		    "docs/git.md)");
		return EX_UNTRUSTED;
	}
	status(g, "TRUST_FULLY 0 shell");
	note("Good signature from \"%s\"", name);
	emails = X509_get1_email(cert);
	for (i = 0; i < sk_OPENSSL_STRING_num(emails); i++)
		note("                aka \"%s\"", printable(
		    sk_OPENSSL_STRING_value(emails, i), aka, sizeof(aka)));
	X509_email_free(emails);
	return EX_OK;
}

static int
git_verify(const struct git_call *g)
{
	STACK_OF(CMS_SignerInfo) *sis;
	STACK_OF(X509) *signers = NULL;
	CMS_ContentInfo *cms = NULL;
	X509_STORE *st = NULL;
	const char *path = g->args[1], *d;
	char why[256] = "";
	struct cs_opts o;
	uint8_t *buf = NULL;
	size_t len;
	BIO *data = NULL;
	int r, fl, intact, trusted;

	if ((r = env_opts(&o)) != EX_OK ||
	    (r = read_sig(g->args[0], &cms)) != EX_OK)
		goto out;
	if ((sis = CMS_get0_SignerInfos(cms)) == NULL ||
	    sk_CMS_SignerInfo_num(sis) != 1) {
		r = cs_fail(CA_E_BAD_INPUT, "%s: not a signature by one signer, "
		    "as git's are", g->args[0]);
		goto out;
	}
	if (cs_read_file(path, &buf, &len, PAYLOAD_MAX) == -1) {
		r = cs_fail(CA_E_BAD_INPUT, "%s: %s", strcmp(path, "-") ?
		    path : "standard input", strerror(errno));
		goto out;
	}
	if ((data = BIO_new_mem_buf(buf, (int)len)) == NULL ||
	    (st = cs_trust_store(&o)) == NULL) {
		r = cs_fail(CA_E_BAD_INPUT, "cannot load the trusted CAs: %s",
		    cs_ossl_reason());
		goto out;
	}
	status(g, "NEWSIG");
	ERR_clear_error();
	intact = trusted = CMS_verify(cms, NULL, st, data, NULL,
	    CMS_DETACHED | CMS_BINARY);
	if (!trusted && ERR_GET_REASON(ERR_peek_error()) ==
	    CMS_R_CERTIFICATE_VERIFY_ERROR) {
		/*
		 * CMS_verify() checks the chain before the signature; gpgsm
		 * tells an untrusted signer's intact signature from a
		 * forgery, and so git's %G? can.
		 */
		if (ERR_peek_error_data(&d, &fl) != 0 && (fl & ERR_TXT_STRING))
			snprintf(why, sizeof(why), "%s",
			    strncmp(d, "Verify error:", 13) == 0 ?
			    d + 13 + strspn(d + 13, " ") : d);
		ERR_set_mark();
		intact = BIO_reset(data) >= 0 && CMS_verify(cms, NULL, NULL,
		    data, NULL, CMS_DETACHED | CMS_BINARY |
		    CMS_NO_SIGNER_CERT_VERIFY);
		if (intact)
			ERR_pop_to_mark();
		else
			ERR_clear_last_mark();
	}
	/* Set by CMS_verify() whenever it found the certificate. */
	signers = CMS_get0_signers(cms);
	r = report(g, sk_CMS_SignerInfo_value(sis, 0),
	    sk_X509_num(signers) > 0 ? sk_X509_value(signers, 0) : NULL,
	    intact, trusted, why[0] ? why : cs_ossl_reason());
 out:
	sk_X509_free(signers);
	X509_STORE_free(st);
	BIO_free(data);
	free(buf);
	CMS_ContentInfo_free(cms);
	return r;
}

int
cmd_git(int argc, char **argv)
{
	struct git_call g;
	int r;

	if ((r = parse(argc, argv, &g)) != EX_OK)
		return r;
	return g.sign ? git_sign(&g) : git_verify(&g);
}
