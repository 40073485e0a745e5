/*
 * cardsign: command-line client of cardagent. See cardsign(1).
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cardsign.h"

static void
usage(FILE *f)
{
	fprintf(f,
"usage: cardsign [-s PATH] COMMAND [OPTIONS]\n"
"       cardsign -h\n"
"\n"
"commands:\n"
"  status [--json] [--watch]       tokens, presence and login state\n"
"                                  (--watch: again at every change, until\n"
"                                  interrupted)\n"
"  keys [--json]                   keys with ids, URIs and certificates\n"
"  login [--token ID] [--pin-stdin]  log in (the agent asks for the PIN\n"
"                                  unless --pin-stdin gives it)\n"
"  lock [--token ID]               log out and forget PINs\n"
"  sign-digest --key SEL --hash H [--pss] -i DIGEST -o SIG\n"
"  unwrap --key SEL [--oaep H] -i WRAPPED -o KEY\n"
"  derive --key SEL --peer PEER_PUBKEY.pem -o SECRET\n"
"  sign --key SEL [--hash H] [--certfile CHAIN.pem] [--pem] [--entity] FILE\n"
"       [-o FILE.p7s]              detached CMS signature of FILE (--entity:\n"
"                                  of a MIME entity, in canonical CRLF form)\n"
"  verify [--json] [CAS] [--entity] FILE.p7s FILE\n"
"                                  check a detached CMS signature\n"
"  smime sign --key SEL [--opaque] [--entity] [--hash H] [--pss]\n"
"       [--certfile CHAIN.pem] [-i MSG] [-o OUT]\n"
"  smime verify [--json] [CAS] [-i MSG] [-o CONTENT]\n"
"  smime encrypt --to CERT_OR_EMAIL... [--cipher aes-256-cbc|aes-256-gcm|...]\n"
"       [--oaep HASH] [--key SEL | --no-self] [--certdir D] [-i MSG] [-o OUT]\n"
"  smime decrypt [--key SEL] [--verify [--json]] [CAS] [-i MSG] [-o OUT]\n"
"\n"
"options of every command: -s, --socket PATH (the agent's socket);\n"
"-i, --in FILE; -o, --out FILE (\"-\": standard input or output);\n"
"-h, --help. H: sha1, sha224, sha256, sha384 or sha512.\n"
"\n"
"CAS: [--ca-file F] [--ca-dir D] [--crl-file F] [--no-system-ca], the CAs\n"
"to trust. Without --certfile, signatures carry the signer's chain as far\n"
"as these CAs (the system's directory) have its issuers.\n"
"\n"
"SEL is a key id from 'cardsign keys', a PKCS#11 URI or an e-mail address.\n"
"cardsign also serves as git's gpg.x509.program (docs/git.md).\n"
"The agent is found through --socket or CARDAGENT_SOCK.\n"
"\n"
"exit status: 0 ok, 1 failure, 2 usage, 3 no agent, 4 no such key,\n"
"5 PIN incorrect, 6 PIN locked, 7 token absent, 8 not allowed by the key,\n"
"9 cancelled or no PIN, 10 token failed or timed out, 11 bad signature,\n"
"12 signer not trusted\n");
}

/* Commands that take operands, then those that take none. */
static int
run(const char *cmd, const struct cs_opts *a)
{
	static const struct {
		const char *name;
		int (*fn)(const struct cs_opts *);
		int operands;
	} cmds[] = {
		{ "sign", cmd_sign_file, 1 },
		{ "verify", cmd_verify_file, 1 },
		{ "smime", cmd_smime, 1 },
		{ "status", cmd_status, 0 },
		{ "keys", cmd_keys, 0 },
		{ "login", cmd_login, 0 },
		{ "lock", cmd_lock, 0 },
		{ "sign-digest", cmd_sign_digest, 0 },
		{ "unwrap", cmd_unwrap, 0 },
		{ "derive", cmd_derive, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(cmd, cmds[i].name) != 0)
			continue;
		if (!cmds[i].operands && a->nargs != 0) {
			usage(stderr);
			return EX_USAGE;
		}
		return cmds[i].fn(a);
	}
	fprintf(stderr, "cardsign: unknown command '%s'\n", cmd);
	usage(stderr);
	return EX_USAGE;
}

int
main(int argc, char **argv)
{
	enum { O_JSON = 256, O_PIN_STDIN, O_TOKEN, O_KEY, O_HASH, O_PSS,
		O_IN, O_OAEP, O_PEER, O_PEM, O_CA_FILE, O_CERTFILE, O_OPAQUE,
		O_ENTITY, O_TO, O_CIPHER, O_NO_SELF, O_CA_DIR, O_CRL_FILE,
		O_NO_SYSTEM_CA, O_VERIFY, O_CERTDIR, O_WATCH };
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, O_JSON },
		{ "pin-stdin", no_argument, NULL, O_PIN_STDIN },
		{ "token", required_argument, NULL, O_TOKEN },
		{ "key", required_argument, NULL, O_KEY },
		{ "hash", required_argument, NULL, O_HASH },
		{ "pss", no_argument, NULL, O_PSS },
		{ "in", required_argument, NULL, O_IN },
		{ "out", required_argument, NULL, 'o' },
		{ "oaep", required_argument, NULL, O_OAEP },
		{ "peer", required_argument, NULL, O_PEER },
		{ "pem", no_argument, NULL, O_PEM },
		{ "ca-file", required_argument, NULL, O_CA_FILE },
		{ "certfile", required_argument, NULL, O_CERTFILE },
		{ "opaque", no_argument, NULL, O_OPAQUE },
		{ "entity", no_argument, NULL, O_ENTITY },
		{ "to", required_argument, NULL, O_TO },
		{ "cipher", required_argument, NULL, O_CIPHER },
		{ "no-self", no_argument, NULL, O_NO_SELF },
		{ "ca-dir", required_argument, NULL, O_CA_DIR },
		{ "crl-file", required_argument, NULL, O_CRL_FILE },
		{ "no-system-ca", no_argument, NULL, O_NO_SYSTEM_CA },
		{ "verify", no_argument, NULL, O_VERIFY },
		{ "certdir", required_argument, NULL, O_CERTDIR },
		{ "watch", no_argument, NULL, O_WATCH },
		{ NULL, 0, NULL, 0 },
	};
	struct cs_opts a = { 0 };
	const char *cmd;
	int ch, rc;

	/* git runs its gpg.x509.program as gpgsm, with no cardsign command. */
	if (cs_git_called(argc, argv))
		return cmd_git(argc, argv);
	/* Options may stand before or after the command, as with git. */
	while ((ch = getopt_long(argc, argv, "+s:ho:", opts, NULL)) != -1) {
		if (ch == 's')
			a.socket = optarg;
		else if (ch == 'h') {
			usage(stdout);
			return EX_OK;
		} else {
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EX_USAGE;
	}
	/*
	 * The command's own options, operands allowed in between: parse the
	 * rest as if the command were the program (optind 0 resets getopt,
	 * whose first pass stopped at the command).
	 */
	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	optind = 0;
	/* Every --to is an argument, so argc bounds their number. */
	if ((a.to = calloc((size_t)argc, sizeof(*a.to))) == NULL)
		return EX_FAIL;
	while ((ch = getopt_long(argc, argv, "s:ho:i:", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			a.socket = optarg;
			break;
		case 'h':
			usage(stdout);
			free(a.to);
			return EX_OK;
		case O_JSON:
			a.json = 1;
			break;
		case O_WATCH:
			a.watch = 1;
			break;
		case O_PIN_STDIN:
			a.pin_stdin = 1;
			break;
		case O_TOKEN:
			a.token = optarg;
			break;
		case O_KEY:
			a.key = optarg;
			break;
		case O_HASH:
			a.hash = optarg;
			break;
		case O_PSS:
			a.pss = 1;
			break;
		case O_IN:
			a.in = optarg;
			break;
		case 'o':
			a.out = optarg;
			break;
		case O_OAEP:
			a.oaep = optarg;
			break;
		case O_PEER:
			a.peer = optarg;
			break;
		case O_PEM:
			a.pem = 1;
			break;
		case O_CA_FILE:
			a.ca_file = optarg;
			break;
		case O_CERTFILE:
			a.certfile = optarg;
			break;
		case O_OPAQUE:
			a.opaque = 1;
			break;
		case O_ENTITY:
			a.entity = 1;
			break;
		case O_TO:
			a.to[a.nto++] = optarg;
			break;
		case O_CIPHER:
			a.cipher = optarg;
			break;
		case O_NO_SELF:
			a.no_self = 1;
			break;
		case O_CA_DIR:
			a.ca_dir = optarg;
			break;
		case O_CRL_FILE:
			a.crl_file = optarg;
			break;
		case O_NO_SYSTEM_CA:
			a.no_system_ca = 1;
			break;
		case O_VERIFY:
			a.verify_inner = 1;
			break;
		case O_CERTDIR:
			a.certdir = optarg;
			break;
		case 'i':
			a.in = optarg;
			break;
		default:
			usage(stderr);
			free(a.to);
			return EX_USAGE;
		}
	}
	a.args = argv + optind;
	a.nargs = argc - optind;
	rc = run(cmd, &a);
	free(a.to);
	return rc;
}
