/*
 * aha-cues.c: the aha detector's cue list: the seed (published cue phrases), the user's cue
 * file (its location, parsing with messages naming the line, writing the seed when missing).
 *
 * A cue is kept folded the way the detector folds the trace: ASCII letters in lower case, runs
 * of white space as one space, curly apostrophes (U+2018, U+2019) as "'". The list lives in one
 * allocation: the struct, then the offsets, then the strings.
 */
#include "config.h"

#include "engine/aha.h"
#include "engine/pd.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct pd_aha_cues {
    size_t n;
    const char **cue;       /* [n] into text */
    char *text;
};

/* The seed file. Sources: the DeepSeek-R1 paper (Nature 2025; the "Wait, wait. Wait." excerpt
 * and its reflective terms), oat-zero's analysis/eval_self_reflect.py, Demystifying Long CoT's
 * reflection queries; see shared/specs/ux-anchors.md. Single words that are everywhere in
 * ordinary reasoning ("but", "however", "check") are left commented out: they would flag most
 * sentences. */
static const char seed_text[] =
    "# ponder aha cues: one phrase per line, matched case-insensitively at word boundaries in\n"
    "# the model's thoughts. A trailing * lets the last word run on (recheck* matches\n"
    "# rechecking). Lines starting with # are comments. Delete this file to get the seed back.\n"
    "\n"
    "# DeepSeek-R1 (the aha moment: \"Wait, wait. Wait. That's an aha moment I can flag here.\")\n"
    "wait\n"
    "wait, wait\n"
    "but wait\n"
    "wait, actually\n"
    "hmm*\n"
    "let me re-check\n"
    "let me recheck\n"
    "let me verify\n"
    "let me check again\n"
    "let me double-check\n"
    "double-check*\n"
    "alternatively\n"
    "i made a mistake\n"
    "made a mistake\n"
    "that's not right\n"
    "that is not right\n"
    "that's wrong\n"
    "that can't be right\n"
    "let me go back\n"
    "on second thought\n"
    "hold on\n"
    "retry\n"
    "\n"
    "# oat-zero (sail-sg/oat-zero, analysis/eval_self_reflect.py)\n"
    "recheck*\n"
    "rethink*\n"
    "reevaluat*\n"
    "re-evaluat*\n"
    "re-examin*\n"
    "reexamin*\n"
    "try again\n"
    "check again\n"
    "think again\n"
    "go over the steps\n"
    "\n"
    "# R1's other reflective terms and NoWait's list: too common to flag alone\n"
    "# mistake\n"
    "# however\n"
    "# but\n"
    "# error\n"
    "# verify\n"
    "# wrong\n"
    "# evaluate\n"
    "# check\n"
    "# maybe\n"
    "# again\n";

size_t
pd_aha_cues_count(const struct pd_aha_cues *c)
{
    return c ? c->n : 0;
}

const char *
pd_aha_cues_get(const struct pd_aha_cues *c, size_t i)
{
    return c && i < c->n ? c->cue[i] : NULL;
}

void
pd_aha_cues_free(struct pd_aha_cues *c)
{
    free(c);
}

/* Fold line[0..len) into out (PD_AHA_CUE_MAX bytes). Returns NULL or why the line is bad. */
static const char *
fold_cue(const char *line, size_t len, char *out)
{
    size_t n = 0;
    bool alnum = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if (c == ' ' || c == '\t') {
            if (n && out[n - 1] != ' ')
                out[n++] = ' ';
            continue;
        }
        if (c < 0x20 || c == 0x7f)
            return "control character in a cue";
        if (c == 0xe2 && i + 2 < len && (unsigned char)line[i + 1] == 0x80 &&
            ((unsigned char)line[i + 2] == 0x98 || (unsigned char)line[i + 2] == 0x99)) {
            c = '\'';
            i += 2;
        }
        if (c == '*' && i + 1 < len)
            return "'*' may only end a cue";
        if (n + 1 >= PD_AHA_CUE_MAX)
            return "cue longer than 63 bytes";
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        alnum |= (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80;
        out[n++] = (char)c;
    }
    while (n && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
    if (n >= 2 && out[n - 1] == '*' && out[n - 2] == ' ')
        return "'*' must follow a word";
    if (!alnum)
        return "a cue needs a letter or digit";
    return NULL;
}

/* Whether s[0..n) is valid UTF-8 (no overlong forms or surrogates needed: cues are matched as
 * bytes; this only keeps garbage out of the list and the stored JSON). */
static bool
utf8_ok(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t k = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2
                 : (c & 0xf8) == 0xf0 ? 3 : 9;
        if (k == 9 || i + k >= n)
            return false;
        for (size_t j = 1; j <= k; j++)
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
        i += k + 1;
    }
    return true;
}

/* Append a folded cue unless it is already there. */
static void
add_unique(struct pd_aha_cues *c, char **end, const char *cue)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->cue[i], cue) == 0)
            return;
    size_t len = strlen(cue) + 1;
    memcpy(*end, cue, len);
    c->cue[c->n++] = *end;
    *end += len;
}

int
pd_aha_cues_parse(struct pd_aha_cues **out, const char *text, size_t len, const char *name,
                  char *err)
{
    *out = NULL;
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    /* One block: struct, offsets (one per line at most), folded strings (no longer than the
     * text, plus a NUL per line). */
    size_t size = sizeof(struct pd_aha_cues) + lines * sizeof(char *) + len + lines;
    struct pd_aha_cues *c = malloc(size);
    if (c == NULL)
        return pd_errorf(err, PD_ENOMEM, "out of memory reading %s", name);
    c->n = 0;
    c->cue = (const char **)(c + 1);
    c->text = (char *)(c->cue + lines);
    char *end = c->text, folded[PD_AHA_CUE_MAX];
    int n_bad = 0, lineno = 0;
    char first[PD_ERR_MAX] = "";
    for (size_t i = 0; i < len;) {
        const char *line = text + i;
        const char *nl = memchr(line, '\n', len - i);
        size_t n = nl ? (size_t)(nl - line) : len - i;
        i += n + (nl != NULL);
        lineno++;
        if (n && line[n - 1] == '\r')
            n--;
        while (n && (*line == ' ' || *line == '\t'))
            line++, n--;
        while (n && (line[n - 1] == ' ' || line[n - 1] == '\t'))
            n--;
        if (n == 0 || *line == '#')
            continue;
        const char *why = utf8_ok((const unsigned char *)line, n) ? fold_cue(line, n, folded)
                                                                 : "not UTF-8";
        if (why == NULL) {
            add_unique(c, &end, folded);
        } else if (n_bad++ == 0) {
            snprintf(first, sizeof first, "%s:%d: %s: \"%.*s\"", name, lineno, why,
                     (int)PD_MIN(n, 40), line);
        }
    }
    *out = c;
    if (n_bad == 1)
        return pd_errorf(err, PD_EFORMAT, "%s", first);
    if (n_bad > 1)
        return pd_errorf(err, PD_EFORMAT, "%s (and %d more bad lines)", first, n_bad - 1);
    return PD_OK;
}

int
pd_aha_cues_seed(struct pd_aha_cues **out, char *err)
{
    int rc = pd_aha_cues_parse(out, seed_text, sizeof seed_text - 1, "seed", err);
    PD_ASSERT(rc != PD_EFORMAT);    /* the seed is ours: a bad line is a bug */
    return rc;
}

int
pd_aha_cues_load(struct pd_aha_cues **out, const char *path, char *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return pd_errorf(err, errno == ENOENT ? PD_ENOTFOUND : PD_EIO, "cannot open %s: %s",
                         path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = PD_OK;
    for (;;) {
        if (len == cap) {
            /* A cue file is a few hundred bytes; refuse something that is clearly not one. */
            if (cap >= (1u << 20)) {
                rc = pd_errorf(err, PD_EFORMAT, "%s: larger than 1 MiB, not a cue list", path);
                break;
            }
            char *p = realloc(buf, cap ? cap * 2 : 4096);
            if (p == NULL) {
                rc = pd_errorf(err, PD_ENOMEM, "out of memory reading %s", path);
                break;
            }
            buf = p;
            cap = cap ? cap * 2 : 4096;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f))
                rc = pd_errorf(err, PD_EIO, "cannot read %s: %s", path, strerror(errno));
            break;
        }
    }
    fclose(f);
    if (rc == PD_OK)
        rc = pd_aha_cues_parse(out, buf, len, path, err);
    free(buf);
    return rc;
}

int
pd_aha_cues_path(char *buf, size_t size, char *err)
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    int n;
    /* A relative XDG_CONFIG_HOME is invalid by the spec and ignored, as tui/settings.c does. */
    if (xdg && *xdg == '/')
        n = snprintf(buf, size, "%s/ponder/aha-cues", xdg);
    else if (home && *home)
        n = snprintf(buf, size, "%s/.config/ponder/aha-cues", home);
    else
        return pd_errorf(err, PD_ENOTFOUND, "neither XDG_CONFIG_HOME nor HOME is set");
    if (n < 0 || (size_t)n >= size)
        return pd_errorf(err, PD_ERANGE, "the cue file's path is too long");
    return PD_OK;
}

/* mkdir -p of the folder that holds path. */
static int
make_parent_dirs(const char *path, char *err)
{
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
        return pd_errorf(err, PD_ERANGE, "path too long: %s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return PD_OK;
    *slash = '\0';
    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        struct stat sb;
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            return pd_errorf(err, PD_EIO, "cannot create the folder %s: %s", dir,
                             strerror(errno));
        if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
            return pd_errorf(err, PD_EIO, "cannot write %s: %s is not a folder", path, dir);
        *p = c;
        if (c == '\0')
            break;
    }
    return PD_OK;
}

int
pd_aha_cues_write_seed(const char *path, bool *written, char *err)
{
    if (written)
        *written = false;
    int rc = make_parent_dirs(path, err);
    if (rc)
        return rc;
    /* O_EXCL: a file the user made meanwhile is never overwritten. */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST)
        return PD_OK;
    if (fd < 0)
        return pd_errorf(err, PD_EIO, "cannot create %s: %s", path, strerror(errno));
    size_t off = 0, len = sizeof seed_text - 1;
    while (off < len) {
        ssize_t w = write(fd, seed_text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = pd_errorf(err, PD_EIO, "cannot write %s: %s", path,
                           w < 0 ? strerror(errno) : "short write");
            break;
        }
        off += (size_t)w;
    }
    if (close(fd) != 0 && rc == PD_OK)
        rc = pd_errorf(err, PD_EIO, "cannot write %s: %s", path, strerror(errno));
    if (rc) {
        unlink(path);   /* half a seed would pass for the user's own list */
        return rc;
    }
    if (written)
        *written = true;
    return PD_OK;
}
