/*
 * json.c: JSON strings and hex out, flat objects in. The reader accepts exactly what the
 * exporter writes and what a careful hand-edit keeps: one object per line, string keys, values
 * that are strings (with every escape JSON defines, surrogate pairs included), numbers or null.
 */
#include "config.h"

#include "sessions/json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void
js_string(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch == '\n')
            fputs("\\n", f);
        else if (ch == '\t')
            fputs("\\t", f);
        else if (ch == '\r')
            fputs("\\r", f);
        else if (ch < 0x20 || ch == 0x7f)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

void
js_hex(FILE *f, const void *p, size_t n)
{
    const unsigned char *b = p;
    fputc('"', f);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%02x", b[i]);
    fputc('"', f);
}

static int
hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                          : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

bool
js_unhex(const char *hex, size_t n, unsigned char *out)
{
    if (n % 2)
        return false;
    for (size_t i = 0; i < n; i += 2) {
        int hi = hexval(hex[i]), lo = hexval(hex[i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i / 2] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

struct js_cursor {
    const char *p, *end;
    char *out;          /* write position in the arena */
};

static void
skip_ws(struct js_cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\n'))
        c->p++;
}

static char *
put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xc0 | cp >> 6);
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xe0 | cp >> 12);
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *o++ = (char)(0xf0 | cp >> 18);
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    }
    return o;
}

/* Four hex digits at p, or -1. */
static long
hex4(const char *p, const char *end)
{
    if (end - p < 4)
        return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return -1;
        v = v << 4 | h;
    }
    return v;
}

/* One escape after the backslash; false when malformed. */
static bool
parse_escape(struct js_cursor *c)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    char e = *c->p++;
    const char *k = strchr(from, e);
    if (e && k) {
        *c->out++ = to[k - from];
        return true;
    }
    if (e != 'u')
        return false;
    long u = hex4(c->p, c->end);
    if (u < 0)
        return false;
    c->p += 4;
    uint32_t cp = (uint32_t)u;
    if (cp >= 0xd800 && cp < 0xdc00 && c->end - c->p >= 6 && c->p[0] == '\\' &&
        c->p[1] == 'u') {
        long lo = hex4(c->p + 2, c->end);
        if (lo >= 0xdc00 && lo < 0xe000) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (uint32_t)(lo - 0xdc00);
            c->p += 6;
        }
    }
    c->out = put_utf8(c->out, cp);
    return true;
}

/* A string at the cursor (after its opening quote) into the arena. */
static char *
parse_string(struct js_cursor *c, size_t *len)
{
    char *start = c->out;
    while (c->p < c->end && *c->p != '"') {
        if ((unsigned char)*c->p < 0x20)
            return NULL;
        if (*c->p == '\\') {
            c->p++;
            if (c->p >= c->end || !parse_escape(c))
                return NULL;
        } else {
            *c->out++ = *c->p++;
        }
    }
    if (c->p >= c->end)
        return NULL;
    c->p++;
    *len = (size_t)(c->out - start);
    *c->out++ = '\0';
    return start;
}

/* A value: string, number or null. */
static bool
parse_value(struct js_cursor *c, struct js_member *m)
{
    if (*c->p == '"') {
        c->p++;
        m->kind = JS_STRING;
        return (m->str = parse_string(c, &m->len)) != NULL;
    }
    if (c->end - c->p >= 4 && memcmp(c->p, "null", 4) == 0) {
        m->kind = JS_NULL;
        c->p += 4;
        return true;
    }
    char num[64];
    size_t n = 0;
    bool real = false;
    while (c->p < c->end && n < sizeof num - 1 && strchr("+-0123456789.eE", *c->p) && *c->p) {
        real |= *c->p == '.' || *c->p == 'e' || *c->p == 'E';
        num[n++] = *c->p++;
    }
    num[n] = '\0';
    char *endp;
    if (n == 0)
        return false;
    m->kind = real ? JS_REAL : JS_INT;
    if (real)
        m->d = strtod(num, &endp);
    else
        m->i = strtoll(num, &endp, 10);
    return *endp == '\0';
}

int
js_parse_flat(const char *line, size_t len, struct js_object *o, char *why)
{
    memset(o, 0, sizeof *o);
    o->arena = malloc(len + 1);
    if (o->arena == NULL)
        return snprintf(why, 128, "out of memory"), -1;
    struct js_cursor c = { line, line + len, o->arena };
    skip_ws(&c);
    if (c.p >= c.end || *c.p++ != '{')
        return snprintf(why, 128, "not a JSON object"), -1;
    skip_ws(&c);
    if (c.p < c.end && *c.p == '}')
        return 0;
    for (;;) {
        skip_ws(&c);
        if (o->n == JS_MAX_MEMBERS)
            return snprintf(why, 128, "more than %d members", JS_MAX_MEMBERS), -1;
        struct js_member *m = &o->m[o->n];
        size_t klen;
        if (c.p >= c.end || *c.p++ != '"' || (m->key = parse_string(&c, &klen)) == NULL)
            return snprintf(why, 128, "bad key at byte %zu", (size_t)(c.p - line)), -1;
        skip_ws(&c);
        if (c.p >= c.end || *c.p++ != ':')
            return snprintf(why, 128, "no ':' after \"%s\"", m->key), -1;
        skip_ws(&c);
        if (c.p >= c.end || !parse_value(&c, m))
            return snprintf(why, 128, "bad value for \"%s\"", m->key), -1;
        o->n++;
        skip_ws(&c);
        if (c.p < c.end && *c.p == ',') {
            c.p++;
            continue;
        }
        if (c.p < c.end && *c.p == '}')
            break;
        return snprintf(why, 128, "expected ',' or '}' at byte %zu", (size_t)(c.p - line)), -1;
    }
    c.p++;
    skip_ws(&c);
    if (c.p != c.end)
        return snprintf(why, 128, "text after the object"), -1;
    return 0;
}

void
js_object_free(struct js_object *o)
{
    free(o->arena);
    o->arena = NULL;
    o->n = 0;
}

const struct js_member *
js_get(const struct js_object *o, const char *key)
{
    for (int i = 0; i < o->n; i++)
        if (strcmp(o->m[i].key, key) == 0)
            return &o->m[i];
    return NULL;
}
