/*
 * loader.c: find a plugin by name or path, dlopen it, check its table (plugins/loader.h).
 */
#include "config.h"

#include "plugins/loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef PD_PLUGINDIR   /* plugins/local.mk defines it from $(pkglibdir) */
#error "PD_PLUGINDIR must name the install's plugin folder"
#endif

/* ---- the detector ABI mirrors engine/aha.h member for member ---------------------------------
 * A plugin's detector table is handed to the engine as a struct pd_aha_detector, so every struct
 * it reaches must have the same layout on both sides. Change one side without the other and the
 * build stops here. */

#define SAME_MEMBER(a, b, m)                                                          \
    _Static_assert(offsetof(struct a, m) == offsetof(struct b, m) &&                  \
                       sizeof(((struct a *)0)->m) == sizeof(((struct b *)0)->m),      \
                   #a "." #m " differs from " #b "." #m)
#define SAME_SIZE(a, b) _Static_assert(sizeof(struct a) == sizeof(struct b), #a " size")

_Static_assert(PONDER_ERR_MAX == PD_ERR_MAX, "err buffer size");
_Static_assert(PONDER_AHA_CUE_MAX == PD_AHA_CUE_MAX, "cue size");
_Static_assert(PONDER_AHA_ANSWER_MAX == PD_AHA_ANSWER_MAX, "answer size");
_Static_assert((int)PONDER_SEG_THINK == (int)PD_SEG_THINK &&
                   (int)PONDER_SEG_ANSWER == (int)PD_SEG_ANSWER &&
                   (int)PONDER_SEG_TAG == (int)PD_SEG_TAG,
               "segments");
_Static_assert(sizeof(enum ponder_segment) == sizeof(enum pd_segment), "segment size");

SAME_SIZE(ponder_text_span, pd_text_span);
SAME_MEMBER(ponder_text_span, pd_text_span, segment);
SAME_MEMBER(ponder_text_span, pd_text_span, text);
SAME_MEMBER(ponder_text_span, pd_text_span, len);

SAME_SIZE(ponder_aha_token, pd_aha_token);
SAME_MEMBER(ponder_aha_token, pd_aha_token, index);
SAME_MEMBER(ponder_aha_token, pd_aha_token, segment);
SAME_MEMBER(ponder_aha_token, pd_aha_token, entropy);
SAME_MEMBER(ponder_aha_token, pd_aha_token, logprob);
SAME_MEMBER(ponder_aha_token, pd_aha_token, n_spans);
SAME_MEMBER(ponder_aha_token, pd_aha_token, spans);

SAME_SIZE(ponder_aha_flag, pd_aha_flag);
SAME_MEMBER(ponder_aha_flag, pd_aha_flag, tok_from);
SAME_MEMBER(ponder_aha_flag, pd_aha_flag, tok_to);
SAME_MEMBER(ponder_aha_flag, pd_aha_flag, score);
SAME_MEMBER(ponder_aha_flag, pd_aha_flag, state);
SAME_MEMBER(ponder_aha_flag, pd_aha_flag, evidence);
SAME_MEMBER(ponder_aha_flag, pd_aha_flag, revision);
SAME_MEMBER(ponder_aha_flag, pd_aha_flag, cue);
SAME_MEMBER(ponder_aha_flag, pd_aha_flag, n_cues);
SAME_MEMBER(ponder_aha_flag, pd_aha_flag, entropy);
SAME_MEMBER(ponder_aha_flag, pd_aha_flag, entropy_tok);
SAME_MEMBER(ponder_aha_flag, pd_aha_flag, base_mean);
SAME_MEMBER(ponder_aha_flag, pd_aha_flag, base_std);
SAME_MEMBER(ponder_aha_flag, pd_aha_flag, base_n);
SAME_MEMBER(ponder_aha_flag, pd_aha_flag, answer_before);
SAME_MEMBER(ponder_aha_flag, pd_aha_flag, answer_after);
SAME_MEMBER(ponder_aha_flag, pd_aha_flag, answer_before_tok);
SAME_MEMBER(ponder_aha_flag, pd_aha_flag, answer_after_tok);
_Static_assert((int)PD_AHA_OPEN == 0 && (int)PD_AHA_FINAL == 1, "flag states");
_Static_assert(PD_AHA_EV_CUE == 1 && PD_AHA_EV_ENTROPY == 2 && PD_AHA_EV_ANSWER_CHANGED == 4 &&
                   PD_AHA_EV_ANSWER_SAME == 8,
               "evidence bits");

SAME_SIZE(ponder_aha_params, pd_aha_params);
SAME_MEMBER(ponder_aha_params, pd_aha_params, cues);
SAME_MEMBER(ponder_aha_params, pd_aha_params, window);
SAME_MEMBER(ponder_aha_params, pd_aha_params, k);
SAME_MEMBER(ponder_aha_params, pd_aha_params, min_rise);
SAME_MEMBER(ponder_aha_params, pd_aha_params, min_base);
SAME_MEMBER(ponder_aha_params, pd_aha_params, near);
SAME_MEMBER(ponder_aha_params, pd_aha_params, merge_gap);

SAME_SIZE(ponder_aha_detector, pd_aha_detector);
SAME_MEMBER(ponder_aha_detector, pd_aha_detector, abi_version);
SAME_MEMBER(ponder_aha_detector, pd_aha_detector, name);
SAME_MEMBER(ponder_aha_detector, pd_aha_detector, version);
SAME_MEMBER(ponder_aha_detector, pd_aha_detector, create);
SAME_MEMBER(ponder_aha_detector, pd_aha_detector, destroy);
SAME_MEMBER(ponder_aha_detector, pd_aha_detector, reset);
SAME_MEMBER(ponder_aha_detector, pd_aha_detector, feed);
SAME_MEMBER(ponder_aha_detector, pd_aha_detector, finish);
SAME_MEMBER(ponder_aha_detector, pd_aha_detector, flags);

/* ---- the search path ------------------------------------------------------------------------ */

struct pd_plugin {
    void *handle;
    const struct ponder_plugin *table;
    char path[PD_PLUGIN_PATH_MAX];
};

#define MAX_DIRS 32

/* The directories to search, in order: absolute entries of $PONDER_PLUGIN_PATH, then the
 * install's folder. Fills dirs (pointers into store) and returns how many. */
static int
search_dirs(char *store, size_t size, const char **dirs)
{
    const char *env = getenv("PONDER_PLUGIN_PATH");
    int n = 0;
    snprintf(store, size, "%s", env ? env : "");
    for (char *save = NULL, *d = strtok_r(store, ":", &save); d && n < MAX_DIRS - 1;
         d = strtok_r(NULL, ":", &save))
        if (d[0] == '/')   /* relative entries would search wherever we happen to be */
            dirs[n++] = d;
    dirs[n++] = PD_PLUGINDIR;
    return n;
}

void
pd_plugin_dirs(char *buf, size_t size)
{
    char store[PD_PLUGIN_PATH_MAX];
    const char *dirs[MAX_DIRS];
    int n = search_dirs(store, sizeof store, dirs);
    size_t len = 0;
    if (size == 0)
        return;
    buf[0] = '\0';
    for (int i = 0; i < n && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? ":" : "", dirs[i]);
}

static bool
is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool
ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

int
pd_plugin_resolve(const char *name, char *path, char *err)
{
    if (name == NULL || name[0] == '\0')
        return pd_errorf(err, PD_EINVAL, "no plugin name given");
    if (strchr(name, '/')) {
        if (strlen(name) >= PD_PLUGIN_PATH_MAX)
            return pd_errorf(err, PD_ERANGE, "plugin path too long");
        errno = 0;
        if (!is_file(name))
            return pd_errorf(err, PD_ENOTFOUND, "%s: %s", name,
                             errno ? strerror(errno) : "not a regular file");
        snprintf(path, PD_PLUGIN_PATH_MAX, "%s", name);
        return 0;
    }
    char file[256], store[PD_PLUGIN_PATH_MAX];
    const char *dirs[MAX_DIRS];
    if (snprintf(file, sizeof file, "%s%s", name, ends_with(name, ".so") ? "" : ".so") >=
        (int)sizeof file)
        return pd_errorf(err, PD_ERANGE, "plugin name too long");
    int n = search_dirs(store, sizeof store, dirs);
    for (int i = 0; i < n; i++) {
        if (snprintf(path, PD_PLUGIN_PATH_MAX, "%s/%s", dirs[i], file) >= PD_PLUGIN_PATH_MAX)
            continue;
        if (is_file(path))
            return 0;
    }
    char where[PD_PLUGIN_PATH_MAX];
    pd_plugin_dirs(where, sizeof where);
    return pd_errorf(err, PD_ENOTFOUND, "plugin '%s': no %s in %s%s", name, file, where,
                     is_file(file) ? " (the current directory is not searched: give ./"
                                     "NAME.so to load a plugin from there)"
                                   : "");
}

/* ---- loading -------------------------------------------------------------------------------- */

const char *
pd_plugin_kind_name(unsigned kind)
{
    switch (kind) {
    case PONDER_PLUGIN_REWARD:
        return "reward";
    case PONDER_PLUGIN_AHA:
        return "aha detector";
    default:
        return "unknown";
    }
}

static const char *
base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* The table's own promises, once its ABI version is known to be ours. */
static int
check_table(const struct ponder_plugin *t, const char *file, enum pd_plugin_want want,
            char *err)
{
    if (t->name == NULL || t->name[0] == '\0' || t->version == NULL)
        return pd_errorf(err, PD_EFORMAT, "%s: the plugin has no name or version", file);
    if (t->kind != PONDER_PLUGIN_REWARD && t->kind != PONDER_PLUGIN_AHA)
        return pd_errorf(err, PD_EUNSUPPORTED, "%s: unknown plugin kind %u", file, t->kind);
    if (want != PD_PLUGIN_ANY && t->kind != (unsigned)want)
        return pd_errorf(err, PD_EUNSUPPORTED, "%s: not %s %s plugin (it is %s %s)", file,
                         want == PD_PLUGIN_WANT_AHA ? "an" : "a",
                         pd_plugin_kind_name((unsigned)want),
                         t->kind == PONDER_PLUGIN_AHA ? "an" : "a",
                         pd_plugin_kind_name(t->kind));
    if (t->kind == PONDER_PLUGIN_REWARD && (t->reward == NULL || t->reward->score == NULL))
        return pd_errorf(err, PD_EFORMAT, "%s: reward plugin without a score function", file);
    if (t->kind == PONDER_PLUGIN_AHA) {
        const struct ponder_aha_detector *d = t->aha;
        if (d == NULL || !d->create || !d->destroy || !d->reset || !d->feed || !d->finish ||
            !d->flags || d->name == NULL || d->version == NULL)
            return pd_errorf(err, PD_EFORMAT, "%s: aha detector with a missing member", file);
        if (d->abi_version != PD_AHA_ABI_VERSION)
            return pd_errorf(err, PD_EUNSUPPORTED,
                             "%s: aha detector ABI version %d, this ponder speaks %d", file,
                             d->abi_version, PD_AHA_ABI_VERSION);
    }
    return 0;
}

int
pd_plugin_open(struct pd_plugin **out, const char *name, enum pd_plugin_want want, char *err)
{
    *out = NULL;
    struct pd_plugin *p = calloc(1, sizeof *p);
    if (p == NULL)
        return pd_errorf(err, PD_ENOMEM, "out of memory");
    int rc = pd_plugin_resolve(name, p->path, err);
    if (rc)
        goto fail;
    const char *file = base_name(p->path);
    dlerror();
    p->handle = dlopen(p->path, RTLD_NOW | RTLD_LOCAL);
    if (p->handle == NULL) {
        const char *why = dlerror();
        rc = pd_errorf(err, PD_EIO, "%s", why ? why : "dlopen failed");
        goto fail;
    }
    /* POSIX blesses this conversion from void * to a function pointer for dlsym. */
    ponder_plugin_entry_fn entry;
    *(void **)&entry = dlsym(p->handle, PONDER_PLUGIN_ENTRY);
    if (entry == NULL) {
        rc = pd_errorf(err, PD_EFORMAT, "%s: no entry symbol %s: not a ponder plugin", file,
                       PONDER_PLUGIN_ENTRY);
        goto fail;
    }
    p->table = entry();
    if (p->table == NULL) {
        rc = pd_errorf(err, PD_EFORMAT, "%s: the entry function returned no plugin", file);
        goto fail;
    }
    if (p->table->abi_version != PONDER_PLUGIN_ABI_VERSION) {
        rc = pd_errorf(err, PD_EUNSUPPORTED, "%s: ABI version %u, this ponder speaks %d", file,
                       p->table->abi_version, PONDER_PLUGIN_ABI_VERSION);
        goto fail;
    }
    rc = check_table(p->table, file, want, err);
    if (rc)
        goto fail;
    *out = p;
    return 0;
fail:
    pd_plugin_close(p);
    return rc;
}

void
pd_plugin_close(struct pd_plugin *p)
{
    if (p == NULL)
        return;
    if (p->handle)
        dlclose(p->handle);
    free(p);
}

const char *pd_plugin_name(const struct pd_plugin *p) { return p->table->name; }
const char *pd_plugin_version(const struct pd_plugin *p) { return p->table->version; }
const char *pd_plugin_path(const struct pd_plugin *p) { return p->path; }

const char *
pd_plugin_description(const struct pd_plugin *p)
{
    return p->table->description ? p->table->description : "";
}

enum ponder_plugin_kind
pd_plugin_kind(const struct pd_plugin *p)
{
    return (enum ponder_plugin_kind)p->table->kind;
}

const struct ponder_reward *
pd_plugin_reward(const struct pd_plugin *p)
{
    return p->table->kind == PONDER_PLUGIN_REWARD ? p->table->reward : NULL;
}

const struct pd_aha_detector *
pd_plugin_aha(const struct pd_plugin *p)
{
    /* Same layout, checked member by member above. */
    return p->table->kind == PONDER_PLUGIN_AHA ? (const struct pd_aha_detector *)p->table->aha
                                               : NULL;
}

/* ---- listing -------------------------------------------------------------------------------- */

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Append one entry for path to *list, loading it to learn what it is. */
static int
list_one(struct pd_plugin_info **list, size_t *n, size_t *cap, const char *path)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        struct pd_plugin_info *l = realloc(*list, nc * sizeof *l);
        if (l == NULL)
            return PD_ENOMEM;
        *list = l;
        *cap = nc;
    }
    struct pd_plugin_info *e = &(*list)[*n];
    memset(e, 0, sizeof *e);
    snprintf(e->path, sizeof e->path, "%s", path);
    for (size_t i = 0; i < *n; i++)
        if (strcmp(base_name((*list)[i].path), base_name(path)) == 0)
            e->shadowed = true;
    struct pd_plugin *p;
    if (pd_plugin_open(&p, path, PD_PLUGIN_ANY, e->why) == 0) {
        e->ok = true;
        e->kind = p->table->kind;
        snprintf(e->name, sizeof e->name, "%s", pd_plugin_name(p));
        snprintf(e->version, sizeof e->version, "%s", pd_plugin_version(p));
        snprintf(e->description, sizeof e->description, "%s", pd_plugin_description(p));
        pd_plugin_close(p);
    }
    (*n)++;
    return 0;
}

/* The *.so files of one directory, sorted. */
static int
list_dir(struct pd_plugin_info **list, size_t *n, size_t *cap, const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    char **names = NULL;
    size_t nn = 0, cn = 0;
    int rc = 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        if (!ends_with(de->d_name, ".so") || de->d_name[0] == '.')
            continue;
        if (nn == cn) {
            cn = cn ? cn * 2 : 16;
            char **nv = realloc(names, cn * sizeof *nv);
            if (nv == NULL) {
                rc = PD_ENOMEM;
                goto out;
            }
            names = nv;
        }
        if ((names[nn] = strdup(de->d_name)) == NULL) {
            rc = PD_ENOMEM;
            goto out;
        }
        nn++;
    }
    qsort(names, nn, sizeof *names, cmp_str);
    for (size_t i = 0; i < nn && rc == 0; i++) {
        char path[PD_PLUGIN_PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= (int)sizeof path)
            continue;
        if (is_file(path))
            rc = list_one(list, n, cap, path);
    }
out:
    for (size_t i = 0; i < nn; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return rc;
}

int
pd_plugin_list(struct pd_plugin_info **out, size_t *n, char *err)
{
    char store[PD_PLUGIN_PATH_MAX];
    const char *dirs[MAX_DIRS];
    int nd = search_dirs(store, sizeof store, dirs);
    struct pd_plugin_info *list = NULL;
    size_t len = 0, cap = 0;
    *out = NULL;
    *n = 0;
    for (int i = 0; i < nd; i++) {
        bool seen = false;   /* the same folder twice in the path: list it once */
        for (int j = 0; j < i; j++)
            seen |= strcmp(dirs[i], dirs[j]) == 0;
        if (!seen && list_dir(&list, &len, &cap, dirs[i])) {
            free(list);
            return pd_errorf(err, PD_ENOMEM, "out of memory listing plugins");
        }
    }
    *out = list;
    *n = len;
    return 0;
}
