/*
 * fuzz_config.c: the agent's config file parser (agent/config.c).
 *
 * config_load() reads a path, so the input is written to one file made
 * once per process (a memfd where the kernel has them, else a file in
 * $TMPDIR) and loaded through it. The file is loaded into a config that
 * already holds settings, as a user file is loaded over the system one.
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "msg.h"

#include "fuzz.h"

static char cfg_path[4096];
static int cfg_fd = -1;

static void
cfg_open(void)
{
	const char *tmp;

	if ((cfg_fd = memfd_create("cardagent-fuzz-config", MFD_CLOEXEC)) !=
	    -1) {
		snprintf(cfg_path, sizeof(cfg_path), "/proc/self/fd/%d",
		    cfg_fd);
		/* /proc may be missing in a sandbox. */
		if (access(cfg_path, R_OK) == 0)
			return;
		close(cfg_fd);
	}
	if ((tmp = getenv("TMPDIR")) == NULL || *tmp == '\0')
		tmp = "/tmp";
	snprintf(cfg_path, sizeof(cfg_path), "%s/cardagent-fuzz-config.XXXXXX",
	    tmp);
	if ((cfg_fd = mkstemp(cfg_path)) == -1) {
		fprintf(stderr, "fuzz_config: %s: %s\n", cfg_path,
		    strerror(errno));
		abort();
	}
	/* Gone from the file system at once; the fd keeps it. */
	(void)unlink(cfg_path);
	snprintf(cfg_path, sizeof(cfg_path), "/proc/self/fd/%d", cfg_fd);
}

static void
cfg_write(const uint8_t *data, size_t size)
{
	size_t off = 0;
	ssize_t n;

	if (ftruncate(cfg_fd, 0) == -1)
		abort();
	while (off < size) {
		if ((n = pwrite(cfg_fd, data + off, size - off,
		    (off_t)off)) <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			abort();
		}
		off += (size_t)n;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c;
	char err[256];
	size_t i;
	int rc;

	if (cfg_fd == -1)
		cfg_open();
	cfg_write(data, size);

	config_init(&c);
	FUZZ_CHECK(config_set(&c.socket, "/run/user/0/cardagent.sock") == 0);
	FUZZ_CHECK(config_add_module(&c, "/usr/lib/softhsm/libsofthsm2.so") ==
	    0);
	memset(err, 'x', sizeof(err));
	rc = config_load(&c, cfg_path, 1, err, sizeof(err));
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == -1)
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);

	/* What the parser promises the rest of the agent. */
	FUZZ_CHECK(c.nmodules >= 1 && c.nmodules <= 64);
	for (i = 0; i < c.nmodules; i++)
		FUZZ_CHECK(c.modules[i] != NULL && c.modules[i][0] == '/');
	FUZZ_CHECK(c.socket != NULL);
	FUZZ_CHECK(c.token_timeout_ms >= 1000 &&
	    c.token_timeout_ms <= 86400u * 1000);
	FUZZ_CHECK(c.pinentry_timeout_s >= 1 && c.pinentry_timeout_s <= 86400);
	FUZZ_CHECK(c.pin_cache != PIN_CACHE_TTL ||
	    (c.pin_ttl_s >= 1 && c.pin_ttl_s <= 86400));
	FUZZ_CHECK(c.idle_lock_s <= 86400);
	FUZZ_CHECK(c.nconfirms <= 64);
	for (i = 0; i < c.nconfirms; i++)
		FUZZ_CHECK((c.confirms[i].ops & ~(uint32_t)(CA_OP_SIGN |
		    CA_OP_DECRYPT | CA_OP_DERIVE)) == 0 &&
		    (c.confirms[i].token == NULL ||
		    c.confirms[i].token[0] != '\0'));
	config_free(&c);
	return 0;
}
