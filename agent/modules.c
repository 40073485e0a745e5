#define _GNU_SOURCE
#include "modules.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <p11-kit/p11-kit.h>

#include "config.h"
#include "log.h"

static void
list_in_child(int fd)
{
	CK_FUNCTION_LIST **mods;
	char *name, *trust;
	FILE *out;
	size_t i;

	if ((out = fdopen(fd, "w")) == NULL)
		_exit(1);
	mods = p11_kit_modules_load(NULL, P11_KIT_MODULE_UNMANAGED);
	for (i = 0; mods != NULL && mods[i] != NULL; i++) {
		name = p11_kit_module_get_filename(mods[i]);
		trust = p11_kit_config_option(mods[i], "trust-policy");
		if (name != NULL && strstr(name, "cardagent-pkcs11") == NULL &&
		    (trust == NULL || strcmp(trust, "yes") != 0))
			fprintf(out, "%s\n", name);
		free(name);
		free(trust);
	}
	fclose(out);
	_exit(0);
}

int
modules_registered(struct config *c)
{
	char line[4096];
	int fds[2], n = 0, st;
	FILE *in;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) == -1)
		return -1;
	if ((pid = fork()) == -1) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		list_in_child(fds[1]);
	}
	close(fds[1]);
	if ((in = fdopen(fds[0], "r")) == NULL) {
		close(fds[0]);
		(void)waitpid(pid, NULL, 0);
		return -1;
	}
	while (fgets(line, sizeof(line), in) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '/' && config_add_module(c, line) == 0)
			n++;
	}
	fclose(in);
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		log_warn("listing p11-kit modules failed");
	return n;
}
