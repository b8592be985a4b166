/*
 * plugin-util.c: settings from small JSON objects, text search, thoughts and answer
 * (plugins/plugin-util.h).
 */
#include "config.h"

#include "plugins/plugin-util.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- JSON: just enough to find a top-level member and read it ------------------------------ */

static const char *
skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

/* Past a string starting at its opening quote; NULL when unterminated. */
static const char *
skip_string(const char *p)
{
    for (p++; *p; p++) {
        if (*p == '\\') {
            if (*++p == '\0')
                return NULL;
        } else if (*p == '"') {
            return p + 1;
        }
    }
    return NULL;
}

/* Past one value of any type; NULL when malformed. */
static const char *
skip_value(const char *p)
{
    p = skip_ws(p);
    if (*p == '"')
        return skip_string(p);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (*p) {
            if (*p == '"') {
                if ((p = skip_string(p)) == NULL)
                    return NULL;
                continue;
            }
            if (*p == '{' || *p == '[')
                depth++;
            else if ((*p == '}' || *p == ']') && --depth == 0)
                return p + 1;
            p++;
        }
        return NULL;
    }
    const char *s = p;
    while (*p && !strchr(",}] \t\r\n", *p))
        p++;
    return p > s ? p : NULL;
}

int
pp_json_get(const char *json, const char *key, const char **val, size_t *len)
{
    if (json == NULL || json[0] == '\0')
        return PP_ABSENT;
    const char *p = skip_ws(json);
    if (*p++ != '{')
        return PP_BAD;
    size_t klen = strlen(key);
    for (p = skip_ws(p); *p != '}'; p = skip_ws(p)) {
        if (*p != '"')
            return PP_BAD;
        const char *k = p + 1, *ke = skip_string(p);
        if (ke == NULL)
            return PP_BAD;
        p = skip_ws(ke);
        if (*p++ != ':')
            return PP_BAD;
        p = skip_ws(p);
        const char *v = p, *ve = skip_value(p);
        if (ve == NULL)
            return PP_BAD;
        /* Keys with escapes never match: ours are plain words. */
        if ((size_t)(ke - 1 - k) == klen && memcmp(k, key, klen) == 0) {
            *val = v;
            *len = (size_t)(ve - v);
            return PP_FOUND;
        }
        p = skip_ws(ve);
        if (*p == ',')
            p++;
        else if (*p != '}')
            return PP_BAD;
    }
    return PP_ABSENT;
}

int
pp_json_number(const char *json, const char *key, double *out)
{
    const char *v;
    size_t n;
    int rc = pp_json_get(json, key, &v, &n);
    if (rc != PP_FOUND)
        return rc;
    char buf[64], *end;
    if (n >= sizeof buf)
        return PP_BAD;
    memcpy(buf, v, n);
    buf[n] = '\0';
    /* JSON numbers only: strtod would take "nan", "0x10" and a locale's comma. */
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789+-.eE", buf[i]))
            return PP_BAD;
    double d = strtod(buf, &end);
    if (*end != '\0' || !isfinite(d))
        return PP_BAD;
    *out = d;
    return PP_FOUND;
}

int
pp_json_bool(const char *json, const char *key, bool *out)
{
    const char *v;
    size_t n;
    int rc = pp_json_get(json, key, &v, &n);
    if (rc != PP_FOUND)
        return rc;
    if (n == 4 && memcmp(v, "true", 4) == 0)
        *out = true;
    else if (n == 5 && memcmp(v, "false", 5) == 0)
        *out = false;
    else
        return PP_BAD;
    return PP_FOUND;
}

/* Append code point c as UTF-8. */
static size_t
put_utf8(char *o, unsigned c)
{
    if (c < 0x80) {
        o[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (char)(0xc0 | c >> 6);
        o[1] = (char)(0x80 | (c & 0x3f));
        return 2;
    }
    o[0] = (char)(0xe0 | c >> 12);
    o[1] = (char)(0x80 | ((c >> 6) & 0x3f));
    o[2] = (char)(0x80 | (c & 0x3f));
    return 3;
}

int
pp_json_string(const char *json, const char *key, char *buf, size_t cap)
{
    const char *v;
    size_t n, k = 0;
    int rc = pp_json_get(json, key, &v, &n);
    if (rc != PP_FOUND)
        return rc;
    if (n < 2 || v[0] != '"')
        return PP_BAD;
    for (const char *p = v + 1, *e = v + n - 1; p < e; p++) {
        char c = *p;
        unsigned u = 0;
        if (k + 4 >= cap)
            return PP_BAD;
        if (c != '\\') {
            buf[k++] = c;
            continue;
        }
        switch (*++p) {
        case 'n': buf[k++] = '\n'; break;
        case 't': buf[k++] = '\t'; break;
        case 'r': buf[k++] = '\r'; break;
        case 'b': buf[k++] = '\b'; break;
        case 'f': buf[k++] = '\f'; break;
        case 'u':
            if (e - p < 5 || sscanf(p + 1, "%4x", &u) != 1)
                return PP_BAD;
            k += put_utf8(buf + k, u);   /* surrogate pairs are not ours to need */
            p += 4;
            break;
        default: buf[k++] = *p; break;   /* \" \\ \/ */
        }
    }
    buf[k] = '\0';
    return PP_FOUND;
}

int
pp_json_ints(const char *json, const char *key, long long *out, int cap, int *n)
{
    const char *v;
    size_t len;
    int rc = pp_json_get(json, key, &v, &len);
    if (rc != PP_FOUND)
        return rc;
    const char *p = skip_ws(v + 1), *end = v + len - 1;
    if (v[0] != '[')
        return PP_BAD;
    *n = 0;
    while (p < end) {
        char *q;
        long long x = strtoll(p, &q, 10);
        if (q == p || *n == cap)
            return PP_BAD;
        out[(*n)++] = x;
        p = skip_ws(q);
        if (*p == ',')
            p = skip_ws(p + 1);
        else if (p != end)
            return PP_BAD;
    }
    return PP_FOUND;
}

/* Config first, then extra. */
#define OPT_LOOKUP(call_config, call_extra)       \
    do {                                          \
        int rc_ = (call_config);                  \
        return rc_ == PP_ABSENT ? (call_extra) : rc_; \
    } while (0)

int
pp_opt_number(const struct ponder_reward_input *in, const char *key, double *out)
{
    OPT_LOOKUP(pp_json_number(in->config, key, out), pp_json_number(in->extra, key, out));
}

int
pp_opt_bool(const struct ponder_reward_input *in, const char *key, bool *out)
{
    OPT_LOOKUP(pp_json_bool(in->config, key, out), pp_json_bool(in->extra, key, out));
}

int
pp_opt_string(const struct ponder_reward_input *in, const char *key, char *buf, size_t cap)
{
    OPT_LOOKUP(pp_json_string(in->config, key, buf, cap),
               pp_json_string(in->extra, key, buf, cap));
}

int
pp_opt_ints(const struct ponder_reward_input *in, const char *key, long long *out, int cap,
            int *n)
{
    OPT_LOOKUP(pp_json_ints(in->config, key, out, cap, n),
               pp_json_ints(in->extra, key, out, cap, n));
}

/* ---- text ----------------------------------------------------------------------------------- */

const char *
pp_find(const char *hay, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; m <= n && i <= n - m; i++)
        if (memcmp(hay + i, needle, m) == 0)
            return hay + i;
    return NULL;
}

const char *
pp_find_last(const char *hay, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = n + 1; m <= n && i-- > 0;)
        if (i + m <= n && memcmp(hay + i, needle, m) == 0)
            return hay + i;
    return NULL;
}

int
pp_count(const char *hay, size_t n, const char *needle)
{
    int c = 0;
    size_t m = strlen(needle);
    for (const char *p = hay, *e = hay + n; (p = pp_find(p, (size_t)(e - p), needle)); p += m)
        c++;
    return c;
}

void
pp_split(const struct ponder_reward_input *in, struct pp_parts *out)
{
    const char *s = in->completion, *e = s + in->completion_len, *start = s;
    memset(out, 0, sizeof *out);
    if (!in->opened_think) {
        const char *p = s;
        while (p < e && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
            p++;
        if ((size_t)(e - p) >= 7 && memcmp(p, "<think>", 7) == 0)
            start = p + 7;
    }
    out->opened = in->opened_think || start != s;
    const char *close = pp_find(start, (size_t)(e - start), "</think>");
    if (!out->opened && close == NULL) {   /* no think block: all answer */
        out->answer = s;
        out->answer_len = in->completion_len;
        out->think = s;
        return;
    }
    out->think = start;
    out->closed = close != NULL;
    out->think_len = (size_t)((close ? close : e) - start);
    out->answer = close ? close + 8 : e;
    out->answer_len = (size_t)(e - out->answer);
}

int
pp_msg(char *msg, size_t size, int status, const char *fmt, ...)
{
    if (msg && size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, size, fmt, ap);
        va_end(ap);
    }
    return status;
}

size_t
pp_utf8_len(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xc0) != 0x80;
    return c;
}
