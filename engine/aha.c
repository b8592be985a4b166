/*
 * aha.c: the detector handle (a detector's table of functions and its state together), the
 * settings' defaults, and a flag's evidence as the JSON object stored in aha_events.signals.
 *
 * The JSON is written and read here by hand, flat (strings, numbers, true/false/null) and
 * independent of the locale: the TUI sets LC_ALL for wide characters, and "%f" would then write
 * "3,2" where the decimal separator is a comma.
 */
#include "config.h"

#include "engine/aha.h"
#include "engine/pd.h"

#include <math.h>
#include <string.h>

/* ---- the handle ---- */

struct pd_aha {
    const struct pd_aha_detector *det;
    void *state;
};

int
pd_aha_new(struct pd_aha **out, const struct pd_aha_detector *det,
           const struct pd_aha_params *params, char *err)
{
    *out = NULL;
    if (det == NULL)
        det = &pd_aha_builtin;
    if (det->abi_version != PD_AHA_ABI_VERSION)
        return pd_errorf(err, PD_EUNSUPPORTED, "aha detector '%s': ABI version %d, ponder "
                         "speaks %d", det->name ? det->name : "?", det->abi_version,
                         PD_AHA_ABI_VERSION);
    if (!det->name || !det->version || !det->create || !det->destroy || !det->reset ||
        !det->feed || !det->finish || !det->flags)
        return pd_errorf(err, PD_EINVAL, "aha detector '%s': a member is missing",
                         det->name ? det->name : "?");
    struct pd_aha *a = malloc(sizeof *a);
    if (a == NULL)
        return pd_errorf(err, PD_ENOMEM, "out of memory");
    a->det = det;
    int rc = det->create(&a->state, params, err);
    if (rc) {
        free(a);
        return rc;
    }
    *out = a;
    return PD_OK;
}

void
pd_aha_free(struct pd_aha *a)
{
    if (a == NULL)
        return;
    a->det->destroy(a->state);
    free(a);
}

void
pd_aha_reset(struct pd_aha *a)
{
    a->det->reset(a->state);
}

const struct pd_aha_detector *
pd_aha_detector_of(const struct pd_aha *a)
{
    return a->det;
}

int
pd_aha_feed(struct pd_aha *a, const struct pd_aha_token *tok)
{
    return a->det->feed(a->state, tok);
}

int
pd_aha_feed_event(struct pd_aha *a, const struct pd_token_event *ev)
{
    struct pd_aha_token t = { .index = ev->index, .segment = ev->segment,
                              .entropy = ev->entropy, .logprob = ev->logprob,
                              .n_spans = ev->n_spans, .spans = ev->spans };
    return a->det->feed(a->state, &t);
}

int
pd_aha_finish(struct pd_aha *a)
{
    return a->det->finish(a->state);
}

const struct pd_aha_flag *
pd_aha_flags(const struct pd_aha *a, size_t *n)
{
    return a->det->flags(a->state, n);
}

int
pd_aha_run(struct pd_aha *a, const struct pd_aha_token *toks, size_t n)
{
    pd_aha_reset(a);
    for (size_t i = 0; i < n; i++) {
        int rc = pd_aha_feed(a, &toks[i]);
        if (rc < 0)
            return rc;
    }
    int rc = pd_aha_finish(a);
    return rc < 0 ? rc : PD_OK;
}

struct pd_aha_params
pd_aha_params_resolve(const struct pd_aha_params *in)
{
    struct pd_aha_params p = in ? *in : (struct pd_aha_params){ 0 };
    if (p.window == 0)
        p.window = 64;
    p.window = PD_MAX(1, PD_MIN(p.window, 448));   /* the history ring holds 512 tokens */
    if (p.k == 0)
        p.k = 2.0f;
    if (p.min_rise == 0)
        p.min_rise = 0.5f;
    if (p.min_base == 0)
        p.min_base = 8;
    p.min_base = PD_MAX(1, p.min_base);
    p.near = p.near == 0 ? 4 : PD_MAX(0, p.near);
    p.merge_gap = p.merge_gap == 0 ? 8 : PD_MAX(0, p.merge_gap);
    return p;
}


/* ---- evidence as text ---- */

/* Indexed by the PD_AHA_EV_* bits. */
static const char *const evidence_labels[16] = {
    "none", "cue", "entropy", "cue+entropy",
    "answer-changed", "cue+answer-changed", "entropy+answer-changed",
    "cue+entropy+answer-changed",
    "answer-same", "cue+answer-same", "entropy+answer-same", "cue+entropy+answer-same",
    "answer-changed+answer-same", "cue+answer-changed+answer-same",
    "entropy+answer-changed+answer-same", "cue+entropy+answer-changed+answer-same",
};

static const char *const evidence_names[] = { "cue", "entropy", "answer-changed",
                                              "answer-same" };

const char *
pd_aha_evidence_label(unsigned evidence)
{
    return evidence_labels[evidence & 15];
}

/* A JSON writer into a fixed buffer; len keeps counting past the end to detect overflow. */
struct jw {
    char *p;
    size_t size, len;
    bool first;
};

static void
jw_raw(struct jw *w, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++, w->len++)
        if (w->len + 1 < w->size)
            w->p[w->len] = s[i];
}

static void
jw_key(struct jw *w, const char *key)
{
    jw_raw(w, w->first ? "\"" : ",\"", w->first ? 1 : 2);
    w->first = false;
    jw_raw(w, key, strlen(key));
    jw_raw(w, "\":", 2);
}

/* A string member of at most max bytes (a flag's fixed array: a NUL is not trusted to be
 * there); "" is null. */
static void
jw_str(struct jw *w, const char *key, const char *s, size_t max)
{
    jw_key(w, key);
    size_t n = strnlen(s, max);
    if (n == 0) {
        jw_raw(w, "null", 4);
        return;
    }
    jw_raw(w, "\"", 1);
    for (const char *end = s + n; s < end; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            jw_raw(w, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            jw_raw(w, esc, 6);
        } else {
            jw_raw(w, s, 1);
        }
    }
    jw_raw(w, "\"", 1);
}

static void
jw_int(struct jw *w, const char *key, long long v, bool null)
{
    char t[32];
    jw_key(w, key);
    int n = null ? snprintf(t, sizeof t, "null") : snprintf(t, sizeof t, "%lld", v);
    jw_raw(w, t, (size_t)n);
}

/* Three decimals at most, trailing zeros dropped, '.' whatever the locale. */
static void
jw_num(struct jw *w, const char *key, double v)
{
    jw_key(w, key);
    if (!isfinite(v) || fabs(v) >= 1e12) {
        jw_raw(w, "null", 4);
        return;
    }
    long long m = llround(fabs(v) * 1000.0);
    char t[40];
    int n = snprintf(t, sizeof t, "%s%lld.%03lld", v < 0 && m ? "-" : "", m / 1000, m % 1000);
    while (t[n - 1] == '0')
        n--;
    if (t[n - 1] == '.')
        n--;
    jw_raw(w, t, (size_t)n);
}

int
pd_aha_flag_signals(const struct pd_aha_flag *f, char *buf, size_t size)
{
    struct jw w = { buf, size, 0, true };
    jw_raw(&w, "{", 1);
    jw_str(&w, "evidence", pd_aha_evidence_label(f->evidence), 64);
    jw_str(&w, "state", f->state == PD_AHA_FINAL ? "final" : "open", 8);
    jw_str(&w, "cue", f->cue, sizeof f->cue);
    jw_int(&w, "hits", f->n_cues, false);
    jw_num(&w, "entropy", f->entropy);
    jw_int(&w, "entropy_tok", f->entropy_tok, f->entropy_tok < 0);
    jw_num(&w, "baseline_mean", f->base_n ? f->base_mean : NAN);
    jw_num(&w, "baseline_std", f->base_n ? f->base_std : NAN);
    jw_int(&w, "baseline_n", f->base_n, false);
    jw_str(&w, "answer_before", f->answer_before, sizeof f->answer_before);
    jw_int(&w, "answer_before_tok", f->answer_before_tok, f->answer_before_tok < 0);
    jw_str(&w, "answer_after", f->answer_after, sizeof f->answer_after);
    jw_int(&w, "answer_after_tok", f->answer_after_tok, f->answer_after_tok < 0);
    jw_key(&w, "answer_changed");
    if (f->evidence & PD_AHA_EV_ANSWER_CHANGED)
        jw_raw(&w, "true", 4);
    else if (f->evidence & PD_AHA_EV_ANSWER_SAME)
        jw_raw(&w, "false", 5);
    else
        jw_raw(&w, "null", 4);
    jw_raw(&w, "}", 1);
    if (size)
        buf[w.len < size ? w.len : size - 1] = '\0';
    return w.len < size ? (int)w.len : PD_ERANGE;
}

/* ---- reading it back ---- */

enum jkind { J_STR, J_NUM, J_NULL, J_TRUE, J_FALSE };

struct jval {
    enum jkind kind;
    char str[PD_AHA_SIGNALS_MAX];   /* J_STR: decoded, cut to fit */
    double num;
};

static void
skip_ws(const char **s)
{
    while (**s == ' ' || **s == '\t' || **s == '\n' || **s == '\r')
        (*s)++;
}

/* A JSON string at *s (after its opening quote); \u escapes outside ASCII become '?'. */
static bool
read_string(const char **s, char *out, size_t size)
{
    size_t n = 0;
    for (const char *p = *s;; p++) {
        char c = *p;
        if (c == '\0' || (unsigned char)c < 0x20)
            return false;
        if (c == '"') {
            out[n] = '\0';
            *s = p + 1;
            return true;
        }
        if (c == '\\') {
            c = *++p;
            if (c == 'u') {
                unsigned v = 0;
                for (int i = 1; i <= 4; i++) {
                    char h = p[i];
                    int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
                          : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
                    if (d < 0)
                        return false;
                    v = v * 16 + (unsigned)d;
                }
                p += 4;
                c = v < 0x80 ? (char)v : '?';
            } else {
                const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
                const char *k = c ? strchr(from, c) : NULL;
                if (k == NULL)
                    return false;
                c = to[k - from];
            }
        }
        if (n + 1 < size)
            out[n++] = c;
    }
}

/* A JSON number, read without strtod (which follows the locale). */
static bool
read_number(const char **s, double *out)
{
    const char *p = *s;
    double sign = 1, v = 0, scale = 1;
    if (*p == '-')
        sign = -1, p++;
    if (*p < '0' || *p > '9')
        return false;
    while (*p >= '0' && *p <= '9')
        v = v * 10 + (*p++ - '0');
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9')
            v += (*p++ - '0') * (scale /= 10);
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        int esign = *p == '-' ? -1 : 1, e = 0;
        if (*p == '-' || *p == '+')
            p++;
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9')
            e = PD_MIN(e * 10 + (*p++ - '0'), 400);
        v *= pow(10, esign * e);
    }
    *out = sign * v;
    *s = p;
    return true;
}

static bool
read_value(const char **s, struct jval *v)
{
    static const struct { const char *word; enum jkind kind; } words[] = {
        { "null", J_NULL }, { "true", J_TRUE }, { "false", J_FALSE },
    };
    if (**s == '"') {
        (*s)++;
        v->kind = J_STR;
        return read_string(s, v->str, sizeof v->str);
    }
    for (size_t i = 0; i < PD_ARRAY_SIZE(words); i++) {
        size_t n = strlen(words[i].word);
        if (strncmp(*s, words[i].word, n) == 0) {
            *s += n;
            v->kind = words[i].kind;
            return true;
        }
    }
    v->kind = J_NUM;
    return read_number(s, &v->num);
}

static unsigned
evidence_parse(const char *label)
{
    unsigned ev = 0;
    while (*label) {
        size_t n = strcspn(label, "+");
        for (size_t i = 0; i < PD_ARRAY_SIZE(evidence_names); i++)
            if (strlen(evidence_names[i]) == n && strncmp(label, evidence_names[i], n) == 0)
                ev |= 1u << i;
        label += n + (label[n] == '+');
    }
    return ev;
}

/* Copy src into dst[size], cut to fit. */
static void
copy_str(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    n = n < size ? n : size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Put one member into f; unknown keys and unexpected kinds are skipped. */
static void
apply(struct pd_aha_flag *f, const char *key, const struct jval *v)
{
    const char *str = v->kind == J_STR ? v->str : "";
    bool num = v->kind == J_NUM;
    int32_t tok = num ? (int32_t)v->num : -1;
    if (strcmp(key, "evidence") == 0)
        f->evidence = evidence_parse(str);
    else if (strcmp(key, "state") == 0)
        f->state = strcmp(str, "open") == 0 ? PD_AHA_OPEN : PD_AHA_FINAL;
    else if (strcmp(key, "cue") == 0)
        copy_str(f->cue, sizeof f->cue, str);
    else if (strcmp(key, "hits") == 0)
        f->n_cues = num ? (int)v->num : 0;
    else if (strcmp(key, "entropy") == 0)
        f->entropy = num ? (float)v->num : NAN;
    else if (strcmp(key, "entropy_tok") == 0)
        f->entropy_tok = tok;
    else if (strcmp(key, "baseline_mean") == 0)
        f->base_mean = num ? (float)v->num : 0.0f;
    else if (strcmp(key, "baseline_std") == 0)
        f->base_std = num ? (float)v->num : 0.0f;
    else if (strcmp(key, "baseline_n") == 0)
        f->base_n = num ? (int)v->num : 0;
    else if (strcmp(key, "answer_before") == 0)
        copy_str(f->answer_before, sizeof f->answer_before, str);
    else if (strcmp(key, "answer_before_tok") == 0)
        f->answer_before_tok = tok;
    else if (strcmp(key, "answer_after") == 0)
        copy_str(f->answer_after, sizeof f->answer_after, str);
    else if (strcmp(key, "answer_after_tok") == 0)
        f->answer_after_tok = tok;
}

int
pd_aha_flag_from_signals(struct pd_aha_flag *f, const char *json, char *err)
{
    /* What a flag without this evidence holds. */
    f->state = PD_AHA_FINAL;
    f->evidence = 0;
    f->revision = 0;
    f->cue[0] = f->answer_before[0] = f->answer_after[0] = '\0';
    f->n_cues = f->base_n = 0;
    f->entropy = NAN;
    f->base_mean = f->base_std = 0.0f;
    f->entropy_tok = f->answer_before_tok = f->answer_after_tok = -1;
    if (json == NULL)
        return PD_OK;
    struct jval v;
    const char *s = json;
    char key[64];
    int rc = PD_EFORMAT;
    skip_ws(&s);
    if (*s++ != '{')
        goto out;
    skip_ws(&s);
    if (*s == '}') {
        s++;
        rc = PD_OK;
        goto out;
    }
    for (;;) {
        skip_ws(&s);
        if (*s++ != '"' || !read_string(&s, key, sizeof key))
            goto out;
        skip_ws(&s);
        if (*s++ != ':')
            goto out;
        skip_ws(&s);
        if (!read_value(&s, &v))
            goto out;
        apply(f, key, &v);
        skip_ws(&s);
        if (*s == '}') {
            s++;
            rc = PD_OK;
            break;
        }
        if (*s++ != ',')
            goto out;
    }
out:
    if (rc == PD_OK) {
        skip_ws(&s);
        if (*s != '\0')
            rc = PD_EFORMAT;
    }
    if (rc)
        return pd_errorf(err, rc, "aha signals: not a flat JSON object at byte %d: %.40s",
                         (int)(s - json), json);
    return PD_OK;
}
