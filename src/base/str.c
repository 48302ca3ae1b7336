/* SPDX-License-Identifier: MIT */
/* String helpers: see str.h. */
#include "str.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler.h"

struct unit {
    const char *name;
    uint64_t ns;
};

static const struct unit units[] = {
    {"ns", 1ull},
    {"us", 1000ull},
    {"\xc2\xb5s", 1000ull}, /* U+00B5 micro sign */
    {"\xce\xbcs", 1000ull}, /* U+03BC Greek mu */
    {"ms", 1000000ull},
    {"s", 1000000000ull},
    {"m", 60ull * 1000000000ull},
    {"h", 3600ull * 1000000000ull},
};

int sp_duration_parse(const char *s, uint64_t *ns_out)
{
    uint64_t total = 0;

    if (!s || !*s) return -EINVAL;
    if (*s == '+') s++;
    if (*s == '-' || *s == '\0') return -EINVAL;
    if (strcmp(s, "0") == 0) {
        *ns_out = 0;
        return 0;
    }
    while (*s) {
        uint64_t whole = 0, frac = 0, scale = 1;
        int digits = 0;
        while (*s >= '0' && *s <= '9') {
            if (whole > (UINT64_MAX - 9) / 10) return -ERANGE;
            whole = whole * 10 + (uint64_t)(*s++ - '0');
            digits++;
        }
        if (*s == '.') {
            s++;
            while (*s >= '0' && *s <= '9') {
                if (scale < 1000000000000000000ull) {
                    frac = frac * 10 + (uint64_t)(*s - '0');
                    scale *= 10;
                }
                s++;
                digits++;
            }
        }
        if (digits == 0) return -EINVAL;
        const struct unit *u = NULL;
        size_t best = 0;
        for (size_t i = 0; i < SP_ARRAY_LEN(units); i++) {
            size_t l = strlen(units[i].name);
            /* longest match wins, so "ms" is not read as "m" followed by "s" */
            if (l > best && strncmp(s, units[i].name, l) == 0) {
                u = &units[i];
                best = l;
            }
        }
        if (!u) return -EINVAL;
        s += best;
        if (whole > UINT64_MAX / u->ns) return -ERANGE;
        uint64_t v = whole * u->ns;
        /* frac/scale of a unit: frac < scale <= 1e18, u->ns <= 3.6e12, so do it in long double */
        uint64_t part = (uint64_t)((long double)frac * (long double)u->ns / (long double)scale);
        if (part > UINT64_MAX - v) return -ERANGE;
        v += part;
        if (v > UINT64_MAX - total) return -ERANGE;
        total += v;
    }
    *ns_out = total;
    return 0;
}

/* Writes v / 10^digits as a decimal with trailing zeros dropped ("1.5", "2"). */
static int fmt_fixed(char *buf, size_t len, uint64_t v, int digits)
{
    uint64_t div = 1;
    for (int i = 0; i < digits; i++)
        div *= 10;
    uint64_t whole = v / div, frac = v % div;
    if (frac == 0) return snprintf(buf, len, "%llu", (unsigned long long)whole);
    while (frac % 10 == 0) {
        frac /= 10;
        digits--;
    }
    return snprintf(buf, len, "%llu.%0*llu", (unsigned long long)whole, digits,
                    (unsigned long long)frac);
}

void sp_duration_format(uint64_t ns, char *buf, size_t len)
{
    char num[48];
    if (ns == 0) {
        snprintf(buf, len, "0s");
    } else if (ns < 1000ull) {
        snprintf(buf, len, "%lluns", (unsigned long long)ns);
    } else if (ns < 1000000ull) {
        fmt_fixed(num, sizeof(num), ns, 3);
        snprintf(buf, len, "%s\xc2\xb5s", num); /* µs, as Go prints it */
    } else if (ns < 1000000000ull) {
        fmt_fixed(num, sizeof(num), ns, 6);
        snprintf(buf, len, "%sms", num);
    } else {
        uint64_t h = ns / 3600000000000ull;
        uint64_t m = (ns / 60000000000ull) % 60;
        fmt_fixed(num, sizeof(num), ns % 60000000000ull, 9);
        if (h)
            snprintf(buf, len, "%lluh%llum%ss", (unsigned long long)h, (unsigned long long)m, num);
        else if (m)
            snprintf(buf, len, "%llum%ss", (unsigned long long)m, num);
        else
            snprintf(buf, len, "%ss", num);
    }
}

int sp_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (!s || !*s) return -EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -EINVAL;
        unsigned d = (unsigned)(*s - '0');
        if (d > max || v > (max - d) / 10) return -ERANGE;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t sp_base64_encoded_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

void sp_base64_encode(const void *src, size_t n, char *dst)
{
    const unsigned char *p = src;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n) v |= p[i + 2];
        dst[o++] = b64[(v >> 18) & 63];
        dst[o++] = b64[(v >> 12) & 63];
        dst[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        dst[o++] = i + 2 < n ? b64[v & 63] : '=';
    }
    dst[o] = '\0';
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

long sp_base64_decode(const char *src, size_t n, void *dst, size_t cap)
{
    unsigned char *out = dst;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;

    while (n > 0 && src[n - 1] == '=')
        n--;
    if (n % 4 == 1) return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value(src[i]);
        if (v < 0) return -EINVAL;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap) return -ENOSPC;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return (long)o;
}

bool sp_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    const volatile unsigned char *x = a;
    const volatile unsigned char *y = b;
    unsigned diff = alen != blen;
    /* Walk the expected string (b) fully whatever a holds, so timing leaks only blen. */
    for (size_t i = 0; i < blen; i++) {
        unsigned char cx = i < alen ? x[i] : 0;
        diff |= (unsigned)(cx ^ y[i]);
    }
    return diff == 0;
}

void sp_hex_encode(const void *src, size_t n, char *dst)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = src;
    for (size_t i = 0; i < n; i++) {
        dst[2 * i] = hex[p[i] >> 4];
        dst[2 * i + 1] = hex[p[i] & 15];
    }
    dst[2 * n] = '\0';
}

char **sp_strv_new(size_t n)
{
    return calloc(n + 1, sizeof(char *));
}

size_t sp_strv_len(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

char **sp_strv_dup(char *const *v)
{
    size_t n = sp_strv_len(v);
    char **out = sp_strv_new(n);
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++) {
        out[i] = strdup(v[i]);
        if (!out[i]) {
            sp_strv_free(out);
            return NULL;
        }
    }
    return out;
}

int sp_strv_push(char ***v, const char *s)
{
    size_t n = sp_strv_len(*v);
    char *copy = strdup(s);
    if (!copy) return -ENOMEM;
    char **nv = realloc(*v, (n + 2) * sizeof(char *));
    if (!nv) {
        free(copy);
        return -ENOMEM;
    }
    nv[n] = copy;
    nv[n + 1] = NULL;
    *v = nv;
    return 0;
}

char **sp_env_merge(char *const *base, char *const *extra)
{
    char **env = sp_strv_dup(base);
    if (!env) return NULL;
    for (size_t i = 0; extra && extra[i]; i++) {
        const char *eq = strchr(extra[i], '=');
        size_t klen = eq ? (size_t)(eq - extra[i]) : strlen(extra[i]);
        size_t j;
        for (j = 0; env[j]; j++)
            if (strncmp(env[j], extra[i], klen) == 0 && env[j][klen] == '=') break;
        if (env[j]) {
            char *v = strdup(extra[i]);
            if (!v) goto oom;
            free(env[j]);
            env[j] = v;
        } else if (sp_strv_push(&env, extra[i]) < 0) {
            goto oom;
        }
    }
    return env;
oom:
    sp_strv_free(env);
    return NULL;
}

void sp_strv_free(char **v)
{
    if (!v) return;
    for (size_t i = 0; v[i]; i++)
        free(v[i]);
    free(v);
}

bool sp_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        unsigned c = *p;
        if (c < 0x80) {
            p++;
            continue;
        }
        size_t len;
        unsigned cp, min;
        if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if ((size_t)(end - p) < len) return false;
        for (size_t i = 1; i < len; i++) {
            if ((p[i] & 0xc0) != 0x80) return false;
            cp = cp << 6 | (p[i] & 0x3f);
        }
        /* overlong forms, UTF-16 surrogates and values past U+10FFFF are not UTF-8 */
        if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return false;
        p += len;
    }
    return true;
}
