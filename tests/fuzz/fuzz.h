/*
 * fuzz.h: what every fuzz target shares.
 *
 * Each target defines LLVMFuzzerTestOneInput(). Built with clang and
 * -fsanitize=fuzzer, libFuzzer drives it; elsewhere run_corpus.c does, once
 * per file of a corpus, so the seeds and past crashes run in every CI build.
 */
#ifndef CARDAGENT_FUZZ_H
#define CARDAGENT_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * An invariant of the code under test. Not assert(): release builds define
 * NDEBUG, and a fuzzer that stops checking finds nothing.
 */
#define FUZZ_CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n",	\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

#endif
