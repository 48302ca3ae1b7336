/* SPDX-License-Identifier: MIT */
/*
 * The only place where GCC/Clang extensions are named. Everything else in the tree uses these
 * macros, so the extensions we rely on are easy to find and to audit.
 */
#ifndef SP_COMPILER_H
#define SP_COMPILER_H

#include <stddef.h>

#define SP_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define SP_NORETURN          __attribute__((noreturn))
#define SP_UNUSED            __attribute__((unused))
#define SP_CLEANUP(fn)       __attribute__((cleanup(fn)))
#define SP_LIKELY(x)         __builtin_expect(!!(x), 1)
#define SP_UNLIKELY(x)       __builtin_expect(!!(x), 0)

#define SP_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The struct that holds `member` at address `ptr`. */
#define SP_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

#endif
