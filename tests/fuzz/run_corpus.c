/*
 * run_corpus.c: a main() for fuzz targets where libFuzzer is not available
 * (gcc builds). It feeds each file named on the command line, or each file
 * in a named directory, to LLVMFuzzerTestOneInput() once, so the seed
 * corpus and every recorded crash are replayed under the sanitizers of the
 * ordinary CI build. It does not mutate anything: it is a regression
 * runner, not a fuzzer.
 */
#define _DEFAULT_SOURCE
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* Larger inputs than libFuzzer would ever make are a corpus mistake. */
#define RUN_MAX_INPUT (16u * 1024 * 1024)

static int
run_file(const char *path)
{
	struct stat st;
	uint8_t *buf;
	size_t n;
	FILE *f;

	if ((f = fopen(path, "rb")) == NULL || fstat(fileno(f), &st) == -1) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		if (f != NULL)
			fclose(f);
		return -1;
	}
	if (st.st_size < 0 || (uintmax_t)st.st_size > RUN_MAX_INPUT) {
		fprintf(stderr, "%s: too large for a corpus file\n", path);
		fclose(f);
		return -1;
	}
	/*
	 * Exactly the file's size, so that ASan sees a read one past the
	 * input as the overflow it is; never NULL, as with libFuzzer.
	 */
	if ((buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1)) == NULL) {
		fclose(f);
		return -1;
	}
	n = fread(buf, 1, (size_t)st.st_size, f);
	if (ferror(f) || n != (size_t)st.st_size) {
		fprintf(stderr, "%s: short read\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	fprintf(stderr, "running %s (%zu bytes)\n", path, n);
	(void)LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

static int
run_dir(const char *dir, unsigned *count)
{
	struct dirent **ents;
	char path[4096];
	int i, n, rc = 0;

	/* Sorted, so that a failure reproduces in the same order. */
	if ((n = scandir(dir, &ents, NULL, alphasort)) == -1) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (ents[i]->d_name[0] != '.' && rc == 0) {
			if (snprintf(path, sizeof(path), "%s/%s", dir,
			    ents[i]->d_name) >= (int)sizeof(path))
				rc = -1;
			else if (run_file(path) == -1)
				rc = -1;
			else
				(*count)++;
		}
		free(ents[i]);
	}
	free(ents);
	return rc;
}

int
main(int argc, char **argv)
{
	struct stat st;
	unsigned count = 0;
	int i;

	if (argc < 2) {
		fprintf(stderr, "usage: %s file|directory ...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) == -1) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if (S_ISDIR(st.st_mode)) {
			if (run_dir(argv[i], &count) == -1)
				return 1;
		} else if (run_file(argv[i]) == -1)
			return 1;
		else
			count++;
	}
	/* An empty corpus would make the test pass while testing nothing. */
	if (count == 0) {
		fprintf(stderr, "no inputs\n");
		return 1;
	}
	fprintf(stderr, "%u inputs ran\n", count);
	return 0;
}
