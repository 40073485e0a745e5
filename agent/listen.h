/*
 * listen.h: the agent's listening socket: a path in a private directory,
 * or the one systemd passed (socket activation).
 */
#ifndef CARDAGENT_LISTEN_H
#define CARDAGENT_LISTEN_H

#include <stddef.h>

/*
 * The default socket path: $XDG_RUNTIME_DIR/cardagent/agent.sock, or a new
 * private directory under $TMPDIR (like ssh-agent) when there is no runtime
 * directory. Writes into buf; returns 0, or -1 with a message in err.
 */
int listen_default_path(char *buf, size_t len, char *err, size_t errlen);

/*
 * Binds a listening socket at path, creating its directory with mode 0700
 * when missing (an existing one must be ours and not group/world
 * accessible). A stale socket is replaced; a live agent there is an error.
 * Returns the non-blocking, close-on-exec fd, or -1 with a message in err.
 */
int listen_path(const char *path, char *err, size_t errlen);

/*
 * Returns the first socket passed by systemd (LISTEN_PID/LISTEN_FDS) made
 * non-blocking and close-on-exec, or -1 when there is none. Clears the
 * variables so that children do not inherit them.
 */
int listen_activated(void);

#endif
