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
	const char *path;	/* NULL: stdout */
	char tmp[PATH_MAX];	/* the file being written, renamed on commit */
};

/*
 * Opens path ("-" or NULL: stdout) for writing: 0, or -1 with errno set.
 * A secret output is created 0600, others 0644 less the umask.
 */
int cs_out_open(struct cs_out *w, const char *path, int secret);
/* Flushes and, for a file, syncs it and renames it into place: 0, or -1
 * with errno set and the temporary file removed. Closes w either way. */
int cs_out_commit(struct cs_out *w);
/* Drops what was written to a file; stdout may have some of it already,
 * which is why callers check everything first. Closes w. */
void cs_out_abort(struct cs_out *w);

/*
 * A new empty scratch file, read-write, 0600 and already unlinked, in
 * $TMPDIR or /tmp: NULL with errno set. It disappears when closed.
 */
FILE *cs_scratch(void);
/* Copies all of from (from its start) to to: 0, or -1 with errno set. */
int cs_copy_file(FILE *from, FILE *to);

#endif
