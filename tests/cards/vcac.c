/*
 * vcac.c: a virtual CAC card for vsmartcard's vpcd, emulated by libcacard.
 *
 * The stack it serves:
 *
 *     PKCS#11 consumer -> opensc-pkcs11.so (CAC driver) -> libpcsclite
 *         -> pcscd -> vpcd reader driver (libifdvpcd.so) -> TCP -> vcac
 *
 * The card is libcacard's own CAC emulation (cac.c: the CCC, the ACA and
 * one PKI applet per certificate, APDUs parsed by card_7816.c), backed by
 * an NSS database that holds the three keys and certificates of a CAC:
 * nicknames "id" (ID/authentication), "sign" (Email Signature) and
 * "encrypt" (Email Encryption), in that order, which is the order of the
 * card's PKI applets. The database's password is the card's PIN: a VERIFY
 * logs in to the NSS token (PK11_Authenticate), RSA is done there. What
 * comes with libcacard, and a real CAC would not do: a wrong PIN answers
 * SW 6985 and there is no retry counter; RSA only.
 *
 * This file only carries bytes between vpcd and libcacard's reader API
 * (vreader_power_on, vreader_power_off, vreader_xfr_bytes).
 *
 * vpcd wire protocol: every message, both ways, is a 2-byte big-endian
 * length followed by that many bytes. A 1-byte message from vpcd is a
 * control code: 0 power off, 1 power on, 2 reset (no answer to any of
 * these), 4 get ATR (answered with the ATR; vpcd polls it about every
 * 400 ms to see whether the card is present). A longer message is a
 * C-APDU, answered with one R-APDU. vpcd listens on port 35963 for its
 * first reader and 35964 for its second; the card connects. vpcd sends the
 * length and the payload in two writes, so the card sets TCP_QUICKACK
 * before every read (else each APDU waits ~40 ms for a delayed ACK).
 *
 * Removal and insertion, the process and card staying the same (as
 * tests/cards/vpiv.py):
 *     kill -USR1 PID   pull the card (close the connection to vpcd)
 *     kill -USR2 PID   insert it again (reconnect)
 *     kill -TERM PID   exit
 * A pulled card is powered off, which logs it out of the NSS token.
 *
 * Usage: vcac --db DIR [--port 35963|35964] [--host 127.0.0.1]
 *             [--name NAME] [--verbose]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libcacard.h>

/* The NSS nicknames of the card's certificates, in PKI applet order. */
#define VCAC_CERTS	"id,sign,encrypt"
/* vpcd's length field is 16 bits: no message is longer. */
#define VCAC_MSG_MAX	0xffff

static const char *card_name = "vcac";
static int verbose;

/* Set by the signal handlers, read by the main loop only. */
static volatile sig_atomic_t want_inserted = 1;
static volatile sig_atomic_t want_stop;
/* The signal mask while waiting: the one we started with. */
static sigset_t wait_mask;

/* One line to stderr (the card's log), prefixed with pid and card name. */
static void
logmsg(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vcac[%ld] %s: ", (long)getpid(), card_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* An APDU in hex, for --verbose: dir is ">" (C-APDU) or "<" (R-APDU). */
static void
loghex(const char *dir, const unsigned char *p, size_t n)
{
	size_t i;

	fprintf(stderr, "vcac[%ld] %s: %s ", (long)getpid(), card_name, dir);
	for (i = 0; i < n; i++)
		fprintf(stderr, "%02x", p[i]);
	fputc('\n', stderr);
}

/* Only sets flags: the main loop acts on them between messages. */
static void
on_signal(int sig)
{
	if (sig == SIGUSR1)
		want_inserted = 0;
	else if (sig == SIGUSR2)
		want_inserted = 1;
	else
		want_stop = 1;
}

/*
 * The signals are blocked except inside ppoll(), so that a flag set by a
 * handler is always seen before the next wait, never lost between a test
 * and a blocking call.
 */
static void
signals_setup(void)
{
	static const int sigs[] = { SIGUSR1, SIGUSR2, SIGTERM, SIGINT };
	struct sigaction sa;
	sigset_t block;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		sigaction(sigs[i], &sa, NULL);
		sigaddset(&block, sigs[i]);
	}
	signal(SIGPIPE, SIG_IGN);
	sigprocmask(SIG_BLOCK, &block, &wait_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigdelset(&wait_mask, sigs[i]);
}

/* The connection must go: the card is pulled, or the process ends. */
static int
must_leave(void)
{
	return want_stop || !want_inserted;
}

/*
 * Reads exactly n bytes from vpcd. Returns 0, or -1 when vpcd has closed
 * the connection, on an error, or when a signal says the card must go.
 */
static int
read_exact(int fd, unsigned char *p, size_t n)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	const int one = 1;
	ssize_t r;

	while (n > 0) {
		if (ppoll(&pfd, 1, NULL, &wait_mask) < 0) {
			if (errno == EINTR && !must_leave())
				continue;
			return -1;
		}
		/* Delayed ACKs come back after every read: re-arm each time. */
		setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
		r = recv(fd, p, n, MSG_DONTWAIT);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Sends one length-prefixed message to vpcd, in a single write. */
static int
send_msg(int fd, const unsigned char *p, size_t n)
{
	static unsigned char out[2 + VCAC_MSG_MAX];
	size_t off = 0;
	ssize_t r;

	if (n > VCAC_MSG_MAX)
		return -1;
	out[0] = (unsigned char)(n >> 8);
	out[1] = (unsigned char)n;
	memcpy(out + 2, p, n);
	n += 2;
	while (off < n) {
		r = send(fd, out + off, n - off, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		off += (size_t)r;
	}
	return 0;
}

/*
 * Answers one message from vpcd. Returns 0, or -1 once the connection is
 * gone or must go.
 */
static int
exchange(int fd, VReader *reader, const unsigned char *atr, int atr_len)
{
	static unsigned char in[VCAC_MSG_MAX], out[VCAC_MSG_MAX];
	static const unsigned char sw_error[] = { 0x6f, 0x00 };
	unsigned char head[2];
	unsigned char scratch[64];
	size_t n;
	int olen, slen;

	if (read_exact(fd, head, 2) < 0)
		return -1;
	n = (size_t)head[0] << 8 | head[1];
	if (read_exact(fd, in, n) < 0)
		return -1;
	if (n == 0)
		return 0;
	if (n == 1) {
		switch (in[0]) {
		case 0:
			vreader_power_off(reader);
			return 0;
		case 1:
		case 2:
			/* Power on and reset both log the card out. */
			slen = (int)sizeof(scratch);
			vreader_power_on(reader, scratch, &slen);
			return 0;
		case 4:
			return send_msg(fd, atr, (size_t)atr_len);
		default:
			logmsg("unknown control code %u", in[0]);
			return 0;
		}
	}
	olen = (int)sizeof(out);
	if (vreader_xfr_bytes(reader, in, (int)n, out, &olen) != VREADER_OK ||
	    olen < 2) {
		logmsg("libcacard failed on an APDU");
		memcpy(out, sw_error, sizeof(sw_error));
		olen = (int)sizeof(sw_error);
	}
	if (verbose) {
		loghex(">", in, n);
		loghex("<", out, (size_t)olen);
	}
	return send_msg(fd, out, (size_t)olen);
}

/* A connection to vpcd at host:port, or -1 (no reader listening yet). */
static int
vpcd_connect(const char *host, int port)
{
	struct sockaddr_in sin;
	const int one = 1;
	int fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		return -1;
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/*
 * Keeps the card in the reader (connected to vpcd) until SIGUSR1 and from
 * SIGUSR2 on; returns on SIGTERM or SIGINT.
 */
static void
serve(VReader *reader, const char *host, int port)
{
	const struct timespec retry = { 0, 100 * 1000 * 1000 };
	unsigned char atr[64];
	int atr_len = (int)sizeof(atr);
	struct pollfd pfd;
	int fd = -1;

	/* The ATR is a constant of the emulator; powering on to learn it
	 * is harmless before vpcd has seen the card. */
	if (vreader_power_on(reader, atr, &atr_len) != VREADER_OK) {
		logmsg("no card in libcacard's reader");
		return;
	}
	vreader_power_off(reader);
	while (!want_stop) {
		if (fd >= 0 && !want_inserted) {
			close(fd);
			fd = -1;
			vreader_power_off(reader);
			logmsg("pulled");
		}
		if (fd < 0 && want_inserted) {
			if ((fd = vpcd_connect(host, port)) >= 0)
				logmsg("inserted into %s:%d", host, port);
		}
		if (fd < 0) {
			/* Pulled: wait for a signal; no reader yet: retry. */
			ppoll(NULL, 0, want_inserted ? &retry : NULL,
			    &wait_mask);
			continue;
		}
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (ppoll(&pfd, 1, NULL, &wait_mask) < 0)
			continue;	/* a signal: see the flags */
		if (exchange(fd, reader, atr, atr_len) < 0 && !must_leave()) {
			logmsg("vpcd closed the connection");
			close(fd);
			fd = -1;
			vreader_power_off(reader);
		}
	}
	if (fd >= 0)
		close(fd);
}

/* The insertion events libcacard queued at start-up: nobody reads them. */
static void
drain_events(void)
{
	VEvent *ev;

	while ((ev = vevent_get_next_vevent()) != NULL)
		vevent_delete(ev);
}

/* Exits 2 with the usage line. */
static void
usage(void)
{
	fprintf(stderr, "usage: vcac --db DIR [--port 35963|35964] "
	    "[--host 127.0.0.1] [--name NAME] [--verbose]\n");
	exit(2);
}

/*
 * main: reads the NSS db through libcacard (one soft CAC card in one
 * virtual reader), then serves vpcd until SIGTERM. Exits 1 if libcacard
 * finds no card in the db, 2 on bad usage.
 */
int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "port", required_argument, NULL, 'p' },
		{ "host", required_argument, NULL, 'H' },
		{ "name", required_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	const char *db = NULL, *host = "127.0.0.1";
	VCardEmulOptions *opts;
	VReaderList *list;
	VReader *reader;
	char *spec;
	int c, port = 35963;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			db = optarg;
			break;
		case 'p':
			port = atoi(optarg);
			if (port != 35963 && port != 35964)
				usage();
			break;
		case 'H':
			host = optarg;
			break;
		case 'n':
			card_name = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			usage();
		}
	}
	/* Both end up in libcacard's option string, which has no quoting. */
	if (db == NULL || optind != argc || strpbrk(db, "\"\n") != NULL ||
	    card_name[0] == '\0' || strpbrk(card_name, ",()\" \t\n") != NULL)
		usage();
	setvbuf(stderr, NULL, _IOLBF, 0);

	/* One soft card in one virtual reader, no hardware tokens: the
	 * empty slot name is NSS's internal key slot, where the db keeps
	 * the keys. */
	spec = g_strdup_printf("db=\"sql:%s\" use_hw=no "
	    "soft=(,%s,CAC,," VCAC_CERTS ")", db, card_name);
	opts = vcard_emul_options(spec);
	g_free(spec);
	if (opts == NULL || vcard_emul_init(opts) != VCARD_EMUL_OK) {
		logmsg("libcacard found no card in sql:%s (certificates "
		    VCAC_CERTS " with their keys)", db);
		return 1;
	}
	drain_events();
	list = vreader_get_reader_list();
	reader = vreader_list_get_reader(vreader_list_get_first(list));
	vreader_list_delete(list);
	if (reader == NULL || vreader_card_is_present(reader) != VREADER_OK) {
		logmsg("libcacard made no card");
		return 1;
	}

	signals_setup();
	serve(reader, host, port);

	vreader_free(reader);
	drain_events();
	vcard_emul_finalize();
	logmsg("exit");
	return 0;
}
