#define _GNU_SOURCE
#include "listen.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define SD_LISTEN_FDS_START 3

int
listen_default_path(char *buf, size_t len, char *err, size_t errlen)
{
	const char *rt = getenv("XDG_RUNTIME_DIR");
	const char *tmp = getenv("TMPDIR");
	char dir[PATH_MAX];

	if (rt != NULL && rt[0] == '/') {
		if ((size_t)snprintf(buf, len, "%s/cardagent/agent.sock", rt) >=
		    len)
			goto toolong;
		return 0;
	}
	if ((size_t)snprintf(dir, sizeof(dir), "%s/cardagent-XXXXXX",
	    tmp != NULL && tmp[0] == '/' ? tmp : "/tmp") >= sizeof(dir))
		goto toolong;
	if (mkdtemp(dir) == NULL) {
		snprintf(err, errlen, "mkdtemp %s: %s", dir, strerror(errno));
		return -1;
	}
	if ((size_t)snprintf(buf, len, "%s/agent.sock", dir) >= len)
		goto toolong;
	return 0;
toolong:
	snprintf(err, errlen, "socket path too long");
	return -1;
}

/* The directory keeps other users away from the socket; trust it only if it
 * is ours and closed to everyone else. */
static int
secure_dir(const char *path, char *err, size_t errlen)
{
	char copy[PATH_MAX];
	struct stat st;
	char *dir;

	snprintf(copy, sizeof(copy), "%s", path);
	dir = dirname(copy);
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
		return -1;
	}
	if (lstat(dir, &st) == -1) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077) != 0) {
		snprintf(err, errlen, "%s must be a directory owned by you with "
		    "mode 0700", dir);
		return -1;
	}
	return 0;
}

static int
nonblock_cloexec(int fd)
{
	int fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
		return -1;
	return 0;
}

int
listen_path(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun, tmp;
	int fd, probe;
	mode_t old;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	/* Bound under a temporary name and renamed into place once it
	 * listens: a client that sees the file can connect. */
	tmp = sun;
	if ((size_t)snprintf(tmp.sun_path, sizeof(tmp.sun_path), "%s.%ld",
	    path, (long)getpid()) >= sizeof(tmp.sun_path)) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return -1;
	}
	if (secure_dir(path, err, errlen) == -1)
		return -1;
	/* Only an unanswered socket may be replaced: never steal a live
	 * agent's address. */
	if ((probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) != -1) {
		if (connect(probe, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			close(probe);
			snprintf(err, errlen, "an agent is already listening "
			    "on %s", path);
			return -1;
		}
		close(probe);
	}
	(void)unlink(tmp.sun_path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&tmp, sizeof(tmp)) == -1) {
		umask(old);
		snprintf(err, errlen, "bind %s: %s", tmp.sun_path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	if (listen(fd, SOMAXCONN) == -1 || rename(tmp.sun_path, path) == -1) {
		snprintf(err, errlen, "listen on %s: %s", path,
		    strerror(errno));
		(void)unlink(tmp.sun_path);
		close(fd);
		return -1;
	}
	return fd;
}

int
listen_activated(void)
{
	const char *pid = getenv("LISTEN_PID");
	const char *fds = getenv("LISTEN_FDS");
	int ok;

	ok = pid != NULL && fds != NULL && strtol(pid, NULL, 10) == getpid() &&
	    strtol(fds, NULL, 10) >= 1;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (!ok || nonblock_cloexec(SD_LISTEN_FDS_START) == -1)
		return -1;
	return SD_LISTEN_FDS_START;
}
