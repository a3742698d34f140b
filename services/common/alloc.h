/*
 * alloc: the one allocation wrapper. Every allocation in Oro goes through
 * these functions, which never return NULL: on out-of-memory they log at
 * panic level and abort, so callers have no half-recovery paths.
 */
#ifndef ORO_ALLOC_H
#define ORO_ALLOC_H

#include <stddef.h>

/* Allocate n bytes (n may be 0). The caller frees. */
void *xmalloc(size_t n);
/* Allocate and zero an array of count elements of size bytes. */
void *xcalloc(size_t count, size_t size);
/* Resize p (may be NULL) to n bytes. */
void *xrealloc(void *p, size_t n);
/* Copy s (may be NULL, giving NULL). The caller frees. */
char *xstrdup(const char *s);
/* Copy at most n bytes of s and terminate. The caller frees. */
char *xstrndup(const char *s, size_t n);
/* printf into a new string. The caller frees. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
