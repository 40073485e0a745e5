/*
 * output.h: where cardsign's results go. A file is written under a
 * temporary name and renamed into place only when complete, so no reader
 * sees half a message; a scratch file holds what must be checked before
 * any of it may be released (decrypted content before its tag checks).
 */
#ifndef CARDAGENT_OUTPUT_H
#define CARDAGENT_OUTPUT_H

#include <limits.h>
#include <stdio.h>

struct cs_out {
	FILE *f;		/* write here */
	const char *path;	/* a regular file renamed into place; NULL:
				 * a stream (stdout, a device, a pipe) */
	FILE *stream;		/* that stream */
	int close_stream;	/* opened here, closed by commit or abort */
	int held;		/* the stream's output, held in the scratch f */
	char tmp[PATH_MAX];	/* the file being written, renamed on commit */
};

/* cs_out_open() flags. */
#define CS_OUT_SECRET	0x1	/* a file is created 0600 */
#define CS_OUT_HOLD	0x2	/* stdout gets nothing before the commit */

/*
 * Opens path ("-" or NULL: stdout) for writing: 0, or -1 with errno set.
 * A file is created 0644 less the umask, or 0600 with CS_OUT_SECRET. A
 * path that exists and is no regular file (/dev/null, a pipe, a symlink)
 * is written through, as stdout is: renaming over it would replace it.
 * With CS_OUT_HOLD what goes to such a stream waits in a scratch file
 * until the commit: for an output whose last step may still fail (a
 * signature made after the content is written).
 */
int cs_out_open(struct cs_out *w, const char *path, int flags);
/* Flushes and, for a file, syncs it and renames it into place: 0, or -1
 * with errno set and the temporary file removed. Closes w either way. */
int cs_out_commit(struct cs_out *w);
/* Drops what was written to a file or held; stdout not held may have
 * some of it already, which is why callers check first. Closes w. */
void cs_out_abort(struct cs_out *w);

/*
 * A new empty scratch file, read-write, 0600 and already unlinked, in
 * $TMPDIR or /tmp: NULL with errno set. It disappears when closed.
 */
FILE *cs_scratch(void);
/* Copies all of from (from its start) to to: 0, or -1 with errno set. */
int cs_copy_file(FILE *from, FILE *to);

#endif
