/*
 * store.c: opening the session store, with every check made before anything is written, and the
 * small writes (models, sessions, whole turns, deletion) the rest of ponder needs.
 *
 * Opening a file that exists is careful: its first bytes must be SQLite's magic, its schema must
 * parse, its application id must be ponder's (or unset), its schema version must not be newer
 * than ours, and PRAGMA quick_check must pass before a migration. Only then is WAL turned on and
 * the schema migrated. Any refusal leaves the file byte for byte as it was.
 */
#include "config.h"

#include "sessions/sha256.h"
#include "sessions/store-impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PONDER_APP_ID 1347306564   /* 'PNDR', set by the first migration */
#define BUSY_TIMEOUT_MS 10000
#define BUSY_RETRY_S 60.0

/* ---- helpers shared by the module ---- */

int
st_buf_add(struct st_buf *b, const void *data, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL)
            return PD_ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    if (len)
        memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = '\0';
    return PD_OK;
}

void
st_buf_free(struct st_buf *b)
{
    free(b->p);
    *b = (struct st_buf){ 0 };
}

int
st_sqlite_err(struct pd_store *st, int rc, char *err, const char *what)
{
    int status;
    switch (rc & 0xff) {
    case SQLITE_NOMEM: status = PD_ENOMEM; break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: status = PD_EFORMAT; break;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH: status = PD_EINVAL; break;
    default: status = PD_EIO; break;
    }
    const char *msg = st && st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc);
    return pd_errorf(err, status, "%s: %s (%s)", what, msg, st ? st->path : "");
}

int
st_exec(struct pd_store *st, const char *sql, char *err)
{
    char *msg = NULL;
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        return PD_OK;
    int status = st_sqlite_err(st, rc, err, msg ? msg : "sql");
    sqlite3_free(msg);
    return status;
}

/* Sleep a few milliseconds, a little different each time, so two waiting writers separate. */
static void
busy_sleep(int attempt)
{
    struct timespec ts = { 0, (long)(1 + (attempt * 7 + getpid()) % 9) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Run a transaction statement, retrying while another connection holds the lock. */
static int
exec_retry(struct pd_store *st, const char *sql, char *err)
{
    double deadline = pd_time_now() + BUSY_RETRY_S;
    for (int attempt = 0;; attempt++) {
        int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            return PD_OK;
        if (((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED) ||
            pd_time_now() > deadline)
            return st_sqlite_err(st, rc, err, sql);
        busy_sleep(attempt);
    }
}

int
st_begin(struct pd_store *st, char *err)
{
    return exec_retry(st, "BEGIN IMMEDIATE", err);
}

int
st_commit(struct pd_store *st, char *err)
{
    int rc = exec_retry(st, "COMMIT", err);
    if (rc)
        st_rollback(st);
    return rc;
}

void
st_rollback(struct pd_store *st)
{
    if (!sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

int
st_prepare(struct pd_store *st, const char *sql, sqlite3_stmt **out, char *err)
{
    int rc = sqlite3_prepare_v2(st->db, sql, -1, out, NULL);
    if (rc != SQLITE_OK) {
        *out = NULL;
        return st_sqlite_err(st, rc, err, "preparing a statement");
    }
    return PD_OK;
}

int
st_step_done(struct pd_store *st, sqlite3_stmt *s, char *err, const char *what)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE || rc == SQLITE_ROW)
        return PD_OK;
    return st_sqlite_err(st, rc, err, what);
}

int64_t
st_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *
st_text(sqlite3_stmt *s, int i)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    return t ? t : "";
}

/* ---- where the database lives ---- */

int
pd_store_path_resolve(char *buf, size_t size, const char *path, char *err)
{
    const char *env = getenv("PONDER_DB"), *xdg = getenv("XDG_DATA_HOME"),
               *home = getenv("HOME");
    int n;
    if (path && *path)
        n = snprintf(buf, size, "%s", path);
    else if (env && *env)
        n = snprintf(buf, size, "%s", env);
    else if (xdg && *xdg == '/')
        n = snprintf(buf, size, "%s/ponder/ponder.db", xdg);
    else if (home && *home)
        n = snprintf(buf, size, "%s/.local/share/ponder/ponder.db", home);
    else
        return pd_errorf(err, PD_EINVAL, "no database path: HOME and XDG_DATA_HOME are unset "
                                         "(give one with --db or PONDER_DB)");
    if (n < 0 || (size_t)n >= size)
        return pd_errorf(err, PD_ERANGE, "database path too long (%d bytes)", n);
    return PD_OK;
}

/* mkdir -p of the folder that holds path. */
static int
make_parent_dirs(const char *path, char *err)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return PD_OK;
    *slash = '\0';
    for (char *p = dir + 1; ; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            return pd_errorf(err, PD_EIO, "cannot create the folder %s for the database: %s",
                             dir, strerror(errno));
        struct stat sb;
        if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
            return pd_errorf(err, PD_EIO, "cannot create the database %s: %s is not a folder",
                             path, dir);
        *p = c;
        if (c == '\0')
            break;
    }
    return PD_OK;
}

/* Check the bytes of a file that exists before SQLite touches it. *fresh: absent or empty. */
static int
check_header(const char *path, bool *fresh, char *err)
{
    static const char magic[16] = "SQLite format 3";
    unsigned char hdr[100];
    *fresh = false;
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        if (errno == ENOENT) {
            *fresh = true;
            return PD_OK;
        }
        return pd_errorf(err, PD_EIO, "cannot open the database %s: %s", path, strerror(errno));
    }
    ssize_t n = read(fd, hdr, sizeof hdr);
    close(fd);
    if (n == 0) {
        *fresh = true;
        return PD_OK;
    }
    if (n < (ssize_t)sizeof hdr || memcmp(hdr, magic, sizeof magic) != 0)
        return pd_errorf(err, PD_EFORMAT, "%s is not an SQLite database; it was left as it is "
                                          "(move it away, or choose another file with --db or "
                                          "PONDER_DB)", path);
    unsigned page = (unsigned)hdr[16] << 8 | hdr[17];
    if (page == 1)
        page = 65536;
    if (page < 512 || (page & (page - 1)) != 0)
        return pd_errorf(err, PD_EFORMAT, "%s is damaged: page size %u in its header; it was "
                                          "left as it is", path, page);
    return PD_OK;
}

/* One integer from a one-row query, or a negative PD_E*. */
static int64_t
query_int(struct pd_store *st, const char *sql, char *err)
{
    sqlite3_stmt *s = NULL;
    int64_t v;
    int rc = st_prepare(st, sql, &s, err);
    if (rc)
        return rc;
    rc = sqlite3_step(s);
    v = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : st_sqlite_err(st, rc, err, sql);
    sqlite3_finalize(s);
    return v;
}

/* The checks that come before any write: schema parses, it is ours, not newer, not damaged.
 * *version receives the file's schema version. */
static int
check_existing(struct pd_store *st, int *version, char *err)
{
    char why[PD_ERR_MAX];
    int64_t n_objects = query_int(st, "SELECT count(*) FROM sqlite_master", why);
    if (n_objects < 0)
        return pd_errorf(err, (int)n_objects, "%s cannot be read as a database (%s); it was "
                                              "left as it is", st->path, why);
    int64_t app = query_int(st, "PRAGMA application_id", err);
    int64_t v = query_int(st, "PRAGMA user_version", err);
    if (app < 0 || v < 0)
        return (int)(app < 0 ? app : v);
    if ((app != 0 && app != PONDER_APP_ID) || (app == 0 && n_objects > 0))
        return pd_errorf(err, PD_EFORMAT, "%s is an SQLite database of another program, not "
                                          "ponder's; it was left as it is", st->path);
    if (v > PD_STORE_SCHEMA_VERSION)
        return pd_errorf(err, PD_EUNSUPPORTED, "%s has schema version %lld, newer than this "
                         "ponder knows (%d): upgrade ponder; the file was left as it is",
                         st->path, (long long)v, PD_STORE_SCHEMA_VERSION);
    if (v < PD_STORE_SCHEMA_VERSION && n_objects > 0) {
        sqlite3_stmt *s = NULL;
        int rc = st_prepare(st, "PRAGMA quick_check", &s, err);
        if (rc)
            return rc;
        rc = sqlite3_step(s);
        bool good = rc == SQLITE_ROW && strcmp(st_text(s, 0), "ok") == 0;
        snprintf(why, sizeof why, "%s", rc == SQLITE_ROW ? st_text(s, 0)
                                                         : sqlite3_errmsg(st->db));
        sqlite3_finalize(s);
        if (!good)
            return pd_errorf(err, PD_EFORMAT, "%s is damaged (%s); it was left as it is and "
                                              "not migrated", st->path, why);
    }
    *version = (int)v;
    return PD_OK;
}

/* Connection settings: WAL, foreign keys. A new file gets 16 KiB pages: a token row with the
 * routing of a large MoE (58 layers x 8 experts: 1860 bytes) then stays within its page in the
 * WITHOUT ROWID table instead of spilling to an overflow page of its own. */
static int
configure(struct pd_store *st, bool fresh, char *err)
{
    sqlite3_stmt *s = NULL;
    int rc;
    if (fresh && (rc = st_exec(st, "PRAGMA page_size = 16384", err)) != 0)
        return rc;
    rc = st_prepare(st, "PRAGMA journal_mode = WAL", &s, err);
    if (rc)
        return rc;
    double deadline = pd_time_now() + BUSY_RETRY_S;
    while ((rc = sqlite3_step(s)) == SQLITE_BUSY && pd_time_now() < deadline) {
        sqlite3_reset(s);
        busy_sleep(0);
    }
    bool wal = rc == SQLITE_ROW && strcmp(st_text(s, 0), "wal") == 0;
    sqlite3_finalize(s);
    if (!wal)
        return pd_errorf(err, PD_EIO, "cannot put %s in WAL mode: %s", st->path,
                         sqlite3_errmsg(st->db));
    if ((rc = st_exec(st, "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL", err)) != 0)
        return rc;
    return PD_OK;
}

int
pd_store_open(struct pd_store **out, const char *path, char *err)
{
    *out = NULL;
    struct pd_store *st = calloc(1, sizeof *st);
    if (st == NULL)
        return pd_errorf(err, PD_ENOMEM, "out of memory opening the session store");
    bool fresh;
    int version = 0;
    int rc = pd_store_path_resolve(st->path, sizeof st->path, path, err);
    if (rc || (rc = check_header(st->path, &fresh, err)) != 0 ||
        (fresh && (rc = make_parent_dirs(st->path, err)) != 0))
        goto fail;
    int flags = SQLITE_OPEN_READWRITE | (fresh ? SQLITE_OPEN_CREATE : 0);
    int src = sqlite3_open_v2(st->path, &st->db, flags, NULL);
    if (src != SQLITE_OK) {
        rc = pd_errorf(err, PD_EIO, "cannot %s the database %s: %s", fresh ? "create" : "open",
                       st->path, sqlite3_errmsg(st->db));
        goto fail;
    }
    if (sqlite3_db_readonly(st->db, "main") == 1) {
        rc = pd_errorf(err, PD_EIO, "the database %s is read-only: ponder needs to write it",
                       st->path);
        goto fail;
    }
    sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
    if ((rc = check_existing(st, &version, err)) != 0 || (rc = configure(st, fresh, err)) != 0 ||
        (rc = st_migrate(st, version, err)) != 0)
        goto fail;
    rc = sqlite3_prepare_v3(st->db, "INSERT INTO tokens (turn_id, pos, token, bytes, segment, "
                            "logprob, entropy, t, routing) VALUES (?,?,?,?,?,?,?,?,?)", -1,
                            SQLITE_PREPARE_PERSISTENT, &st->ins_token, NULL);
    if (rc != SQLITE_OK) {
        rc = st_sqlite_err(st, rc, err, "preparing the token writer");
        goto fail;
    }
    *out = st;
    return PD_OK;
fail:
    pd_store_close(st);
    return rc;
}

void
pd_store_close(struct pd_store *st)
{
    if (st == NULL)
        return;
    st_writer_release(st);
    sqlite3_finalize(st->ins_token);
    sqlite3_close(st->db);
    free(st);
}

const char *
pd_store_filename(const struct pd_store *st)
{
    return st->path;
}

int
pd_store_schema_version(struct pd_store *st)
{
    return (int)query_int(st, "PRAGMA user_version", NULL);
}

int
pd_store_check(struct pd_store *st, char *err)
{
    sqlite3_stmt *s = NULL;
    int rc = st_prepare(st, "PRAGMA integrity_check", &s, err);
    if (rc)
        return rc;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW && strcmp(st_text(s, 0), "ok") == 0)
        rc = PD_OK;
    else if (rc == SQLITE_ROW)
        rc = pd_errorf(err, PD_EFORMAT, "%s: %s", st->path, st_text(s, 0));
    else
        rc = st_sqlite_err(st, rc, err, "integrity check");
    sqlite3_finalize(s);
    return rc;
}
