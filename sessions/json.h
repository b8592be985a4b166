/*
 * json.h: the little JSON the session store needs (internal to sessions/): writing strings and
 * hex blobs, and reading one flat object per line (string, number and null values only), which
 * is all the ponder export format uses.
 */
#ifndef PD_SESSIONS_JSON_H
#define PD_SESSIONS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Write s[0..n) as a JSON string with its quotes. */
void js_string(FILE *f, const char *s, size_t n);

/* Write bytes as a string of lower-case hex digits. */
void js_hex(FILE *f, const void *p, size_t n);

enum js_kind { JS_NULL, JS_STRING, JS_INT, JS_REAL };

struct js_member {
    char *key;
    enum js_kind kind;
    char *str;          /* JS_STRING: decoded, NUL-terminated (len bytes) */
    size_t len;
    long long i;
    double d;
};

#define JS_MAX_MEMBERS 32

struct js_object {
    struct js_member m[JS_MAX_MEMBERS];
    int n;
    char *arena;        /* the decoded keys and strings */
};

/* Parse one flat object from line (len bytes). 0, or -1 with a reason in why (128 bytes). The
 * object is the caller's, to js_object_free. */
int js_parse_flat(const char *line, size_t len, struct js_object *o, char *why);
void js_object_free(struct js_object *o);

/* The member named key, or NULL. */
const struct js_member *js_get(const struct js_object *o, const char *key);

/* Decode hex into out (n/2 bytes); false on a bad digit or odd length. */
bool js_unhex(const char *hex, size_t n, unsigned char *out);

#endif
