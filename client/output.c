/*
 * output.c: atomic outputs and scratch files for cardsign.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "output.h"

/* Large writes: a decrypted message goes out in few system calls. */
#define OUT_BUF (64 * 1024)

/* stdout, or a path that is no regular file: written to as it is. */
static int
open_stream(struct cs_out *w, FILE *stream, int flags)
{
	w->stream = w->f = stream;
	if (flags & CS_OUT_HOLD) {
		if ((w->f = cs_scratch()) == NULL)
			return -1;
		w->held = 1;
	}
	return 0;
}

/* Closes the stream if it was opened here; keeps errno. */
static int
close_stream(struct cs_out *w)
{
	int saved = errno, r = 0;

	if (w->close_stream)
		r = fclose(w->stream);
	errno = saved;
	return r;
}

int
cs_out_open(struct cs_out *w, const char *path, int flags)
{
	struct stat st;
	FILE *stream;
	int fd;

	memset(w, 0, sizeof(*w));
	if (path == NULL || strcmp(path, "-") == 0)
		return open_stream(w, stdout, flags);
	if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		if ((stream = fopen(path, "we")) == NULL)
			return -1;
		w->close_stream = 1;
		if (open_stream(w, stream, flags) == -1) {
			(void)close_stream(w);
			return -1;
		}
		return 0;
	}
	if ((size_t)snprintf(w->tmp, sizeof(w->tmp), "%s.XXXXXX", path) >=
	    sizeof(w->tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = mkstemp(w->tmp)) == -1)
		return -1;
	if (!(flags & CS_OUT_SECRET))
		(void)fchmod(fd, 0644 & ~umask(umask(0)));
	if ((w->f = fdopen(fd, "w")) == NULL) {
		(void)close(fd);
		(void)unlink(w->tmp);
		return -1;
	}
	(void)setvbuf(w->f, NULL, _IOFBF, OUT_BUF);
	w->path = path;
	return 0;
}

int
cs_out_commit(struct cs_out *w)
{
	int saved, r;

	if (w->path == NULL) {
		if (w->held) {
			r = cs_copy_file(w->f, w->stream);
			saved = errno;
			(void)fclose(w->f);
			errno = saved;
		} else
			r = 0;
		if (r == 0 && (fflush(w->stream) != 0 || ferror(w->stream)))
			r = -1;
		if (close_stream(w) != 0)
			r = -1;
		return r;
	}
	if (fflush(w->f) != 0 || ferror(w->f) || fsync(fileno(w->f)) == -1) {
		saved = errno;
		(void)fclose(w->f);
		goto fail;
	}
	if (fclose(w->f) != 0 || rename(w->tmp, w->path) == -1) {
		saved = errno;
		goto fail;
	}
	return 0;
fail:
	(void)unlink(w->tmp);
	errno = saved;
	return -1;
}

void
cs_out_abort(struct cs_out *w)
{
	if (w->path == NULL) {
		if (w->held)
			(void)fclose(w->f);
		else
			(void)fflush(w->stream);
		(void)close_stream(w);
		return;
	}
	(void)fclose(w->f);
	(void)unlink(w->tmp);
}

FILE *
cs_scratch(void)
{
	const char *dir = getenv("TMPDIR");
	char path[PATH_MAX];
	FILE *f;
	int fd;

	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	/* O_TMPFILE never has a name; mkstemp's is removed at once. */
	if ((fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) == -1) {
		if ((size_t)snprintf(path, sizeof(path), "%s/cardsign.XXXXXX",
		    dir) >= sizeof(path)) {
			errno = ENAMETOOLONG;
			return NULL;
		}
		if ((fd = mkostemp(path, O_CLOEXEC)) == -1)
			return NULL;
		(void)unlink(path);
	}
	if ((f = fdopen(fd, "w+")) == NULL) {
		(void)close(fd);
		return NULL;
	}
	(void)setvbuf(f, NULL, _IOFBF, OUT_BUF);
	return f;
}

int
cs_copy_file(FILE *from, FILE *to)
{
	char buf[OUT_BUF];
	size_t n;

	if (fflush(from) != 0 || fseeko(from, 0, SEEK_SET) == -1)
		return -1;
	while ((n = fread(buf, 1, sizeof(buf), from)) > 0)
		if (fwrite(buf, 1, n, to) != n)
			return -1;
	return ferror(from) ? -1 : 0;
}
