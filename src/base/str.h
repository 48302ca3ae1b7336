/* SPDX-License-Identifier: MIT */
/* Small pure helpers on strings: durations, integers, base64, constant-time compare, string
 * vectors. */
#ifndef SP_STR_H
#define SP_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Parses a Go-style duration ("300ms", "1.5h", "1m30s", "0"; units ns, us, µs, ms, s, m, h)
 * into nanoseconds. Negative durations, missing units and overflow are -EINVAL / -ERANGE.
 */
int sp_duration_parse(const char *s, uint64_t *ns_out);

/* Formats nanoseconds the way Go prints a duration ("1m30s", "500ms", "0s"). */
void sp_duration_format(uint64_t ns, char *buf, size_t len);

/* Strict decimal parse of the whole string; -EINVAL on junk, -ERANGE above max. */
int sp_parse_u64(const char *s, uint64_t max, uint64_t *out);

/* Standard base64 (RFC 4648) with padding. dst needs sp_base64_encoded_len(n)+1 bytes. */
size_t sp_base64_encoded_len(size_t n);
void sp_base64_encode(const void *src, size_t n, char *dst);
/* Decodes into dst (capacity cap); returns the length or -EINVAL / -ENOSPC. Padding optional. */
long sp_base64_decode(const char *src, size_t n, void *dst, size_t cap);

/* Compares two byte strings in time that depends only on their lengths, not their contents. */
bool sp_ct_equal(const void *a, size_t alen, const void *b, size_t blen);

/* Lower-case hex of n bytes into dst (2n+1 bytes). */
void sp_hex_encode(const void *src, size_t n, char *dst);

/* NULL-terminated string vectors: every element and the array are heap-owned. */
char **sp_strv_new(size_t n);
char **sp_strv_dup(char *const *v);
size_t sp_strv_len(char *const *v);
/* Appends a copy of s; returns 0 or -ENOMEM (the vector is unchanged on failure). */
int sp_strv_push(char ***v, const char *s);
void sp_strv_free(char **v);

/* A copy of the environment base with every "K=V" of extra added, replacing base's K. NULL when
 * out of memory. */
char **sp_env_merge(char *const *base, char *const *extra);

/* Whether s[0..n) is valid UTF-8 (RFC 3629: no overlong forms, no surrogates, at most
 * U+10FFFF). */
bool sp_utf8_valid(const char *s, size_t n);

#endif
