#define _DEFAULT_SOURCE
#include "secret.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Whole pages: mlock and madvise work on pages, and a page of our own means
 * no unrelated heap data shares the locked, undumpable region. */
static size_t
page_round(size_t n)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t p = pg > 0 ? (size_t)pg : 4096;

	return (n + p - 1) / p * p;
}

struct ca_secret *
ca_secret_new(size_t cap)
{
	struct ca_secret *s;
	size_t maplen;
	void *m;

	if (cap == 0 || cap > (1u << 20))
		return NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	maplen = page_round(cap);
	m = mmap(NULL, maplen, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		free(s);
		return NULL;
	}
	(void)mlock(m, maplen);
	(void)madvise(m, maplen, MADV_DONTDUMP);
	s->data = m;
	s->cap = cap;
	s->len = 0;
	return s;
}

struct ca_secret *
ca_secret_dup(const void *p, size_t len)
{
	struct ca_secret *s = ca_secret_new(len ? len : 1);

	if (s == NULL)
		return NULL;
	if (len)
		memcpy(s->data, p, len);
	s->len = len;
	return s;
}

void
ca_secret_free(struct ca_secret *s)
{
	size_t maplen;

	if (s == NULL)
		return;
	maplen = page_round(s->cap);
	explicit_bzero(s->data, maplen);
	(void)munlock(s->data, maplen);
	(void)munmap(s->data, maplen);
	free(s);
}
