/*
 * secret.h: locked, wiped buffers for PINs and unwrapped key material.
 *
 * Every byte of a PIN or an unwrapped secret that cardagent handles lives in
 * one of these: the pages are mlock()ed so they never reach swap, excluded
 * from core dumps (MADV_DONTDUMP), and wiped with explicit_bzero() before
 * they are returned to the system.
 */
#ifndef CARDAGENT_SECRET_H
#define CARDAGENT_SECRET_H

#include <stddef.h>
#include <stdint.h>

struct ca_secret {
	uint8_t *data; /* cap bytes of locked memory */
	size_t len;    /* bytes in use */
	size_t cap;
};

/*
 * Allocates a secret able to hold cap bytes (cap > 0), len 0.
 * Returns NULL when memory cannot be had; a failing mlock() (RLIMIT_MEMLOCK)
 * is tolerated: the memory is still excluded from dumps and wiped.
 * The caller owns the result and releases it with ca_secret_free().
 */
struct ca_secret *ca_secret_new(size_t cap);

/* Allocates a secret holding a copy of len bytes at p; NULL on failure. */
struct ca_secret *ca_secret_dup(const void *p, size_t len);

/* Wipes and releases s; NULL is allowed. */
void ca_secret_free(struct ca_secret *s);

#endif
