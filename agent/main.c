/*
 * cardagent: the per-user smart-card agent. See cardagent(1).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "client.h"
#include "config.h"
#include "hosts.h"
#include "listen.h"
#include "log.h"
#include "loop.h"
#include "modules.h"
#include "policy.h"
#include "prompt.h"
#include "tokenhost.h"

static int sig_pipe[2] = { -1, -1 };

/* The listening sockets, and what shutting down needs to know. */
static struct {
	int fd;
	char path[PATH_MAX];
	int activated;		/* systemd owns the socket file */
	int rfd[CONFIG_MAX_SCOPES];	/* restricted sockets, as cfg.scopes */
	size_t nr;
	const struct config *cfg;
	int stopping;		/* SIGTERM seen: draining */
	uint64_t deadline;	/* loop_now_ms() by which to stop anyway */
} S = { .fd = -1 };

/* While draining, polls for the last request in flight to be answered. */
#define DRAIN_POLL_MS 20

static void
usage(FILE *f)
{
	fprintf(f,
"usage: cardagent [-fd] [-s PATH] [-m MODULE]... [-c FILE] [-p PROGRAM]\n"
"       cardagent -h | -V\n"
"\n"
"  -f, --foreground      stay attached, log to stderr\n"
"  -d, --debug           log debug messages (implies --foreground)\n"
"  -s, --socket PATH     listen on PATH (default $XDG_RUNTIME_DIR/cardagent/agent.sock)\n"
"  -m, --module PATH     serve this PKCS#11 module (repeatable; default: the\n"
"                        config file's, else the modules registered with p11-kit)\n"
"  -c, --config FILE     read FILE (default $XDG_CONFIG_HOME/cardagent/cardagent.conf)\n"
"  -p, --pinentry PROG   ask for PINs with PROG (default: pinentry)\n"
"  -V, --version         print the version\n"
"  -h, --help            print this help\n"
"\n"
"Without --foreground the agent detaches and prints shell commands that set\n"
"CARDAGENT_SOCK, for eval \"$(cardagent)\".\n");
}

static void
on_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;

	(void)!write(sig_pipe[1], &b, 1);
	errno = saved;
}

static void
drain_check(struct loop *l, void *arg)
{
	(void)arg;
	if (clients_busy() == 0 || loop_now_ms() >= S.deadline) {
		loop_stop(l);
		return;
	}
	(void)loop_timer(l, DRAIN_POLL_MS, drain_check, NULL);
}

static void
stop_listening(void)
{
	while (S.nr > 0) {
		S.nr--;
		(void)unlink(S.cfg->scopes[S.nr].path);
		close(S.rfd[S.nr]);
	}
	if (S.fd == -1)
		return;
	if (!S.activated)
		(void)unlink(S.path);
	close(S.fd);
	S.fd = -1;
}

/* Opens the restricted sockets of the config. Returns 0 or -1 with err. */
static int
listen_restricted(const struct config *cfg, char *err, size_t errlen)
{
	int fd;

	S.cfg = cfg;
	for (S.nr = 0; S.nr < cfg->nscopes; S.nr++) {
		if (S.nr >= CONFIG_MAX_SCOPES ||
		    (fd = listen_path(cfg->scopes[S.nr].path, err, errlen)) ==
		    -1)
			return -1;
		S.rfd[S.nr] = fd;
	}
	return 0;
}

static int
accept_all(struct loop *l, const struct config *cfg)
{
	size_t i;

	if (clients_listen(l, S.fd, NULL) == -1)
		return -1;
	for (i = 0; i < S.nr; i++)
		if (clients_listen(l, S.rfd[i], &cfg->scopes[i]) == -1)
			return -1;
	return 0;
}

/*
 * The first SIGTERM stops new work and lets operations already at a token
 * finish and be answered (a token call is bounded by the watchdog); a
 * prompt not yet shown is withdrawn. A second signal stops at once.
 */
static void
shutdown_gracefully(struct loop *l, int sig, unsigned limit_ms)
{
	if (S.stopping) {
		log_info("signal %d again: stopping now", sig);
		loop_stop(l);
		return;
	}
	S.stopping = 1;
	S.deadline = loop_now_ms() + limit_ms;
	clients_shutdown();
	stop_listening();
	prompt_cancel();
	log_info("signal %d: shutting down once %zu request(s) in flight are "
	    "answered", sig, clients_busy());
	drain_check(l, NULL);
}

static void
signal_io(struct loop *l, int fd, int ev, void *arg)
{
	const struct config *cfg = arg;

	unsigned char b;

	(void)ev;
	while (read(fd, &b, 1) == 1) {
		if (b == SIGHUP) {
			log_info("SIGHUP: re-reading tokens");
			hosts_refresh();
			continue;
		}
		shutdown_gracefully(l, b, cfg->token_timeout_ms);
	}
}

static int
setup_signals(struct loop *l, const struct config *cfg)
{
	struct sigaction sa;

	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) == -1)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	return loop_watch(l, sig_pipe[0], LOOP_READ, signal_io,
	    (void *)cfg);
}

/* The agent holds PINs: keep its memory out of core files and away from
 * ptrace by other processes of the user. */
static void
harden(void)
{
	struct rlimit rl = { 0, 0 };

	(void)setrlimit(RLIMIT_CORE, &rl);
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

/* Each client is a descriptor: take all the kernel allows us, as the
 * default soft limit (often 1024) is below MAX_CLIENTS. */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int
default_config_path(char *buf, size_t len)
{
	const char *x = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");

	if (x != NULL && x[0] == '/')
		return snprintf(buf, len, "%s/cardagent/cardagent.conf", x) <
		    (int)len ? 0 : -1;
	if (home != NULL && home[0] == '/')
		return snprintf(buf, len, "%s/.config/cardagent/cardagent.conf",
		    home) < (int)len ? 0 : -1;
	return -1;
}

/* Forks; the parent prints the environment for eval and exits. */
static void
daemonize(const char *sock)
{
	pid_t pid;
	int fd;

	fflush(stdout);
	if ((pid = fork()) == -1) {
		perror("fork");
		exit(1);
	}
	if (pid != 0) {
		printf("CARDAGENT_SOCK=%s; export CARDAGENT_SOCK;\n", sock);
		printf("CARDAGENT_PID=%ld; export CARDAGENT_PID;\n", (long)pid);
		printf("echo Agent pid %ld;\n", (long)pid);
		exit(0);
	}
	(void)setsid();
	if (chdir("/") == -1)
		exit(1);
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
}

static void
hosts_ready(void)
{
	clients_resume();
}

/* A host's tokens changed: watchers hear of it, kept PINs are checked. */
static void
tokens_changed(void)
{
	policy_tokens_changed();
	clients_tokens_changed();
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "debug", no_argument, NULL, 'd' },
		{ "socket", required_argument, NULL, 's' },
		{ "module", required_argument, NULL, 'm' },
		{ "config", required_argument, NULL, 'c' },
		{ "pinentry", required_argument, NULL, 'p' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct config cfg, cli;
	char path[PATH_MAX], self[PATH_MAX], err[512];
	const char *config_file = NULL;
	int ch, foreground = 0, debug = 0, rc = 1;
	struct loop *l = NULL;
	ssize_t n;

	/* First, for the token host too: both hold PINs. */
	harden();
	/* The agent re-executes itself as `--token-host MODULE [--syslog]`. */
	if (argc >= 3 && strcmp(argv[1], "--token-host") == 0)
		return tokenhost_main(argv[2], 3,
		    argc >= 4 && strcmp(argv[3], "--syslog") == 0);
	config_init(&cfg);
	config_init(&cli);
	while ((ch = getopt_long(argc, argv, "fds:m:c:p:Vh", opts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'f':
			foreground = 1;
			break;
		case 'd':
			foreground = debug = 1;
			break;
		case 's':
			if (config_set(&cli.socket, optarg) == -1)
				return 1;
			break;
		case 'm':
			if (config_add_module(&cli, optarg) == -1) {
				fprintf(stderr, "cardagent: module %s: %s\n",
				    optarg, strerror(errno));
				return 1;
			}
			break;
		case 'c':
			config_file = optarg;
			break;
		case 'p':
			if (config_set(&cli.pinentry, optarg) == -1)
				return 1;
			break;
		case 'V':
			printf("cardagent %s\n", CARDAGENT_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	if (config_file != NULL) {
		if (config_load(&cfg, config_file, 1, err, sizeof(err)) == -1)
			goto fatal;
	} else if (default_config_path(path, sizeof(path)) == 0 &&
	    config_load(&cfg, path, 0, err, sizeof(err)) == -1)
		goto fatal;
	/* The command line wins over the file. */
	if (cli.socket != NULL && config_set(&cfg.socket, cli.socket) == -1)
		goto oom;
	if (cli.pinentry != NULL &&
	    config_set(&cfg.pinentry, cli.pinentry) == -1)
		goto oom;
	if (cli.nmodules > 0) {
		for (size_t i = 0; i < cfg.nmodules; i++)
			free(cfg.modules[i]);
		cfg.nmodules = 0;
		for (size_t i = 0; i < cli.nmodules; i++)
			if (config_add_module(&cfg, cli.modules[i]) == -1)
				goto oom;
	}
	if (cfg.nmodules == 0 && modules_registered(&cfg) <= 0) {
		snprintf(err, sizeof(err), "no PKCS#11 module: name one with "
		    "--module or in the config file");
		goto fatal;
	}
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) <= 0) {
		snprintf(err, sizeof(err), "cannot find my own executable");
		goto fatal;
	}
	self[n] = '\0';

	if ((S.fd = listen_activated()) != -1) {
		S.activated = 1;
		foreground = 1;
		snprintf(S.path, sizeof(S.path), "(socket activation)");
	} else {
		if (cfg.socket != NULL)
			snprintf(S.path, sizeof(S.path), "%s", cfg.socket);
		else if (listen_default_path(S.path, sizeof(S.path), err,
		    sizeof(err)) == -1)
			goto fatal;
		if ((S.fd = listen_path(S.path, err, sizeof(err))) == -1)
			goto fatal;
	}
	if (listen_restricted(&cfg, err, sizeof(err)) == -1 ||
	    audit_open(cfg.audit, err, sizeof(err)) == -1)
		goto fatal;
	raise_fd_limit();
	if (!foreground)
		daemonize(S.path);
	log_init("cardagent", foreground, debug ? LOG_LVL_DEBUG : LOG_LVL_INFO);

	if ((l = loop_new()) == NULL || setup_signals(l, &cfg) == -1 ||
	    prompt_init(l, cfg.pinentry, cfg.pinentry_timeout_s) == -1 ||
	    accept_all(l, &cfg) == -1 ||
	    hosts_start(l, cfg.modules, cfg.nmodules, self,
	    cfg.token_timeout_ms, hosts_ready) == -1) {
		log_err("start-up failed: out of resources");
		goto out;
	}
	policy_init(l, &cfg);
	hosts_on_change(tokens_changed);
	log_info("listening on %s, %zu restricted socket(s), %zu module(s)",
	    S.path, S.nr, cfg.nmodules);
	if (foreground && !S.activated) {
		printf("CARDAGENT_SOCK=%s; export CARDAGENT_SOCK;\n", S.path);
		fflush(stdout);
	}
	rc = loop_run(l) == 0 ? 0 : 1;
	clients_close_all();
	hosts_stop();
	policy_stop();
	prompt_shutdown();
out:
	audit_close();
	stop_listening();
	loop_free(l);
	config_free(&cfg);
	config_free(&cli);
	return rc;
oom:
	snprintf(err, sizeof(err), "out of memory");
fatal:
	fprintf(stderr, "cardagent: %s\n", err);
	stop_listening();
	config_free(&cfg);
	config_free(&cli);
	return 1;
}
