/*
 * test-store.c: the session store: SHA-256 vectors, schema creation and step-by-step migration,
 * refusals that leave the file untouched (newer schema, damaged file, not SQLite, unwritable
 * place), the token writer's time-based batches, search that tells thoughts from answers,
 * annotations, a byte-identical export -> import -> export, two processes writing at once, and
 * the write speed and size of tokens routed as DeepSeek-V3 (58 MoE layers x 8 experts).
 */
#include "config.h"

#include "sessions/sha256.h"
#include "sessions/store.h"
#include "tests/tap.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[256];

static const char *
tpath(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

/* Contents of a file (malloc'd) and its size. */
static char *
slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)len + 1);
    *n = fread(p, 1, (size_t)len, f);
    fclose(f);
    return p;
}

static void
spit(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    fwrite(p, 1, n, f);
    fclose(f);
}

static void
raw_sql(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_open(path, &db);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        diag("raw sql: %s", msg);
    sqlite3_free(msg);
    sqlite3_close(db);
}

static void
test_sha256(void)
{
    char hex[65];
    pd_sha256_hex("", 0, hex);
    is_str(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "sha256('')");
    pd_sha256_hex("abc", 3, hex);
    is_str(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
           "sha256('abc')");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    pd_sha256_hex(m, strlen(m), hex);
    is_str(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
           "sha256 of the 448-bit message");
    struct pd_sha256 h;
    uint8_t d[32], chunk[1001];
    memset(chunk, 'a', sizeof chunk);
    pd_sha256_init(&h);
    for (int i = 0; i < 1000; i++)
        pd_sha256_update(&h, chunk, i % 2 ? 999 : 1001);
    pd_sha256_final(&h, d);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    is_str(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
           "sha256 of a million 'a' fed in uneven pieces");
}

/* A token event of one segment whose text is the piece. */
static struct pd_token_event
mk_event(int index, int id, enum pd_segment seg, const char *piece, double t)
{
    struct pd_token_event ev = { .id = id, .index = index, .segment = seg,
                                 .logprob = -0.25f * (float)(index % 7), .entropy = 1.5f,
                                 .t = t, .piece = piece, .piece_len = strlen(piece),
                                 .n_spans = 1 };
    ev.spans[0] = (struct pd_text_span){ seg, piece, strlen(piece) };
    return ev;
}

static int64_t
one_int(struct pd_store *st, const char *path, const char *sql)
{
    (void)st;
    sqlite3 *db;
    sqlite3_stmt *s;
    int64_t v = -1;
    sqlite3_open(path, &db);
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

static void
test_open_and_migrate(void)
{
    char err[PD_ERR_MAX] = "";
    struct pd_store *st = NULL;
    const char *p = tpath("new/deeper/ponder.db");
    int rc = pd_store_open(&st, p, err);
    is_int(rc, 0, "a new database in a folder that does not exist yet (%s)", err);
    if (rc)
        return;
    is_int(pd_store_schema_version(st), PD_STORE_SCHEMA_VERSION, "schema at the current version");
    sqlite3 *db;
    sqlite3_stmt *s;
    sqlite3_open(p, &db);
    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL);
    sqlite3_step(s);
    is_str((const char *)sqlite3_column_text(s, 0), "wal", "WAL mode");
    sqlite3_finalize(s);
    sqlite3_close(db);
    is_int(pd_store_check(st, err), 0, "integrity check ok");
    pd_store_close(st);

    /* An empty file is a version 0 database: every step runs. */
    spit(tpath("empty.db"), "", 0);
    rc = pd_store_open(&st, tpath("empty.db"), err);
    is_int(rc, 0, "an empty file is migrated from version 0 (%s)", err);
    pd_store_close(st);
    is_int(one_int(NULL, tpath("empty.db"), "SELECT count(*) FROM sqlite_master WHERE "
                                            "name = 'training_metrics'"), 1,
           "and has the last step's tables");

    /* A database one step behind gets just the last step. */
    raw_sql(tpath("empty.db"), "DROP TABLE training_metrics; DROP TABLE training_runs; "
                               "PRAGMA user_version = 2");
    rc = pd_store_open(&st, tpath("empty.db"), err);
    is_int(rc, 0, "version 2 migrates to 3 (%s)", err);
    pd_store_close(st);
    is_int(one_int(NULL, tpath("empty.db"), "PRAGMA user_version"), PD_STORE_SCHEMA_VERSION,
           "user_version now current");
    is_int(one_int(NULL, tpath("empty.db"), "SELECT count(*) FROM sqlite_master WHERE "
                                            "name = 'training_runs'"), 1,
           "the missing step's table exists");
}

/* Open must fail with status, err must contain word, and the file must be unchanged. */
static void
refused(const char *path, int status, const char *word, const char *what)
{
    size_t n0, n1;
    char *before = slurp(path, &n0), err[PD_ERR_MAX] = "";
    struct pd_store *st = NULL;
    int rc = pd_store_open(&st, path, err);
    is_int(rc, status, "%s is refused", what);
    ok(strstr(err, word) != NULL, "with a clear message: %s", err);
    char *after = slurp(path, &n1);
    ok(before && after && n0 == n1 && memcmp(before, after, n0) == 0,
       "and the file is left byte for byte as it was");
    struct stat sb;
    char wal[600];
    snprintf(wal, sizeof wal, "%s-wal", path);
    ok(stat(wal, &sb) != 0, "no WAL file was created beside it");
    pd_store_close(st);
    free(before);
    free(after);
}

static void
test_refusals(void)
{
    char err[PD_ERR_MAX];
    struct pd_store *st = NULL;
    const char *p = tpath("newer.db");
    pd_store_open(&st, p, err);
    pd_store_close(st);
    raw_sql(p, "PRAGMA journal_mode = DELETE; PRAGMA user_version = 99");
    refused(p, PD_EUNSUPPORTED, "newer", "a database from a newer schema");

    /* A damaged database: the schema page overwritten with garbage. */
    p = tpath("corrupt.db");
    pd_store_open(&st, p, err);
    pd_store_close(st);
    raw_sql(p, "PRAGMA journal_mode = DELETE");
    size_t n;
    char *img = slurp(p, &n);
    for (size_t i = 100; i < n && i < 8192; i++)
        img[i] = (char)(i * 131 + 7);
    spit(p, img, n);
    free(img);
    refused(p, PD_EFORMAT, "left as it is", "a damaged database");

    p = tpath("notes.txt");
    const char *text = "these are my notes, not a database\n";
    spit(p, text, strlen(text));
    refused(p, PD_EFORMAT, "not an SQLite database", "a text file");

    p = tpath("other.db");
    raw_sql(p, "CREATE TABLE mine (x); INSERT INTO mine VALUES (1)");
    refused(p, PD_EFORMAT, "another program", "another program's database");

    /* A place that cannot be written: a folder that is a file. */
    spit(tpath("afile"), "x", 1);
    int rc = pd_store_open(&st, tpath("afile/sub/ponder.db"), err);
    ok(rc == PD_EIO && strstr(err, "afile"), "a path through a file: %s", err);
    if (geteuid() != 0) {
        mkdir(tpath("ro"), 0555);
        rc = pd_store_open(&st, tpath("ro/ponder.db"), err);
        ok(rc == PD_EIO && strstr(err, "ro/ponder.db"), "a read-only folder: %s", err);
    } else {
        ok(1, "# SKIP a read-only folder (root writes anywhere)");
    }
}

static void
sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* A session with a user turn and an assistant turn of n tokens (think then answer). */
static int64_t
write_session(struct pd_store *st, const char *title, const char *think_word,
              const char *answer_word, int n, int pause_ms, int64_t *turn_out)
{
    char err[PD_ERR_MAX];
    int64_t sid = 0, turn = 0;
    struct pd_store_model m = { .path = "/models/tiny.gguf", .size = 1234, .header = "GGUF123",
                                .header_len = 7, .arch = "llama", .name = "tiny",
                                .n_params = 42 };
    int64_t mid = 0;
    if (pd_store_model_id(st, &m, &mid, err) || pd_store_session_new(st, mid, title, &sid, err) ||
        pd_store_turn_add(st, sid, "user", "a question", NULL, err) ||
        pd_store_turn_begin(st, sid, "{\"temp\":0}", &turn, err)) {
        diag("write_session: %s", err);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        bool think = i < n / 2;
        char piece[32];
        snprintf(piece, sizeof piece, "%s%d ", i == 1 ? (think ? think_word : answer_word) : "w",
                 i);
        if (i == n / 2 + 1)
            snprintf(piece, sizeof piece, "%s ", answer_word);
        struct pd_token_event ev = mk_event(i, 100 + i, think ? PD_SEG_THINK : PD_SEG_ANSWER,
                                            piece, 0.01 * i);
        if (pd_store_turn_token(st, &ev)) {
            diag("turn_token: %s", pd_store_errmsg(st));
            return -1;
        }
        if (pause_ms)
            sleep_ms(pause_ms);
    }
    struct pd_gen_result res = { .n_prompt = 5, .n_generated = n, .t_prompt = 0.1,
                                 .t_generate = 0.01 * n, .t_first_token = 0.12,
                                 .stop = PD_STOP_LENGTH };
    if (pd_store_turn_end(st, &res, err)) {
        diag("turn_end: %s", err);
        return -1;
    }
    if (turn_out)
        *turn_out = turn;
    return sid;
}

struct hits {
    int n, think;
};

static int
hit_fn(void *u, const struct pd_search_hit *x)
{
    struct hits *hh = u;
    hh->n++;
    hh->think += x->in_think;
    return 0;
}

static void
test_writer(void)
{
    char err[PD_ERR_MAX];
    struct pd_store *st = NULL;
    const char *p = tpath("writer.db");
    if (pd_store_open(&st, p, err)) {
        diag("%s", err);
        return;
    }
    /* 40 tokens 10 ms apart: about 400 ms, so about four flushes of ~10 tokens. */
    int64_t turn = 0, sid = 0;
    char werr[PD_ERR_MAX];
    pd_store_session_new(st, 0, "batching", &sid, werr);
    pd_store_turn_begin(st, sid, NULL, &turn, werr);
    int64_t seen_mid = -1;
    for (int i = 0; i < 40; i++) {
        struct pd_token_event ev = mk_event(i, i, PD_SEG_ANSWER, "x", 0.01 * i);
        pd_store_turn_token(st, &ev);
        sleep_ms(10);
        if (i == 25) {
            char q[128];
            snprintf(q, sizeof q, "SELECT count(*) FROM tokens WHERE turn_id = %lld",
                     (long long)turn);
            seen_mid = one_int(NULL, p, q);
        }
    }
    int flushes = pd_store_turn_flushes(st);
    ok(flushes >= 2 && flushes <= 6, "40 tokens over ~400 ms: %d flushes (batches of 100 ms)",
       flushes);
    ok(seen_mid >= 10 && seen_mid < 26, "another connection sees flushed tokens while the turn "
       "streams (%lld of 26)", (long long)seen_mid);
    struct pd_gen_result res = { .n_generated = 40, .stop = PD_STOP_EOG };
    is_int(pd_store_turn_end(st, &res, err), 0, "turn end");
    char q[128];
    snprintf(q, sizeof q, "SELECT count(*) FROM tokens WHERE turn_id = %lld", (long long)turn);
    is_int(one_int(NULL, p, q), 40, "all 40 tokens stored");
    snprintf(q, sizeof q, "SELECT n_answer FROM turns WHERE id = %lld", (long long)turn);
    is_int(one_int(NULL, p, q), 40, "answer token count filled in");

    /* A generation's closing event (id -1, text held back: here the thoughts' leading newline)
     * adds text, not a row: the turn can go on at that position (an answer-now continues it with
     * the closing tag) and still be stored whole. */
    int64_t t_cont = 0;
    pd_store_turn_begin(st, sid, NULL, &t_cont, werr);
    struct pd_token_event e0 = mk_event(0, 198, PD_SEG_THINK, "\n", 0.0);
    e0.n_spans = 0;   /* the splitter holds leading whitespace */
    struct pd_token_event held = mk_event(1, -1, PD_SEG_THINK, "", 0.1);
    held.piece_len = 0;
    held.spans[0] = (struct pd_text_span){ PD_SEG_THINK, "\n", 1 };
    struct pd_token_event tag = mk_event(1, 9617, PD_SEG_TAG, "</think>", 0.2);
    struct pd_token_event ans = mk_event(2, 504, PD_SEG_ANSWER, "ok", 0.3);
    int rc_tok = pd_store_turn_token(st, &e0) | pd_store_turn_token(st, &held);
    sleep_ms(120);   /* the tag's token flushes, with the rows before it */
    rc_tok |= pd_store_turn_token(st, &tag) | pd_store_turn_token(st, &ans);
    res = (struct pd_gen_result){ .n_generated = 3, .stop = PD_STOP_EOG };
    ok(rc_tok == 0 && pd_store_turn_end(st, &res, err) == 0,
       "a turn going on after a closing event is stored whole");
    snprintf(q, sizeof q, "SELECT count(*) * 10 + (SELECT n_think FROM turns WHERE id = %lld) "
             "FROM tokens WHERE turn_id = %lld", (long long)t_cont, (long long)t_cont);
    is_int(one_int(NULL, p, q), 31, "three token rows, one thought token (the closing event "
           "is neither)");
    snprintf(q, sizeof q, "SELECT length(think_text) FROM turns WHERE id = %lld",
             (long long)t_cont);
    is_int(one_int(NULL, p, q), 1, "and the text it held is in the thoughts");

    /* Search: a word only in the thoughts is reported as such. */
    int64_t t2;
    write_session(st, "zoo", "zebra", "lion", 10, 0, &t2);
    struct hits h = { 0, 0 };
    is_int(pd_store_search(st, "zebra1", 10, hit_fn, &h, err), 0, "search runs");
    ok(h.n == 1 && h.think == 1, "a word only in the thoughts: one hit, in the thoughts (%d/%d)",
       h.n, h.think);
    h = (struct hits){ 0, 0 };
    pd_store_search(st, "lion", 10, hit_fn, &h, err);
    ok(h.n == 1 && h.think == 0, "a word only in the answer: one hit, in the answer");
    h = (struct hits){ 0, 0 };
    is_int(pd_store_search(st, "\"unbalanced AND (", 10, hit_fn, &h, err), 0,
           "FTS syntax in a query is taken as words");

    /* Annotations. */
    int64_t aid = 0;
    is_int(pd_store_annotate(st, t2, PD_ANNOT_LABEL, "good", -1, -1, &aid, err), 0, "a label");
    is_int(pd_store_annotate(st, t2, PD_ANNOT_GOLD, "42", 2, 5, &aid, err), 0,
           "a gold answer on a span");
    is_int(pd_store_annotate(st, 999999, PD_ANNOT_RATING, "3", -1, -1, &aid, err), PD_ENOTFOUND,
           "a turn that does not exist");
    is_int(pd_store_annotate(st, t2, PD_ANNOT_COMMENT, "x", 5, 2, &aid, err), PD_EINVAL,
           "a span that ends before it begins");
    is_int(pd_store_check(st, err), 0, "integrity ok after all that");
    pd_store_close(st);
}

/* Export a store's sessions (all) in a format into a malloc'd string. */
static char *
export_all(struct pd_store *st, enum pd_export_format fmt, size_t *n)
{
    char *buf = NULL, err[PD_ERR_MAX];
    FILE *f = open_memstream(&buf, n);
    int rc = pd_store_export(st, 0, fmt, f, err);
    fclose(f);
    if (rc)
        diag("export: %s", err);
    return buf;
}

static void
test_roundtrip(void)
{
    char err[PD_ERR_MAX];
    struct pd_store *a = NULL, *b = NULL;
    if (pd_store_open(&a, tpath("rt-a.db"), err) || pd_store_open(&b, tpath("rt-b.db"), err)) {
        diag("%s", err);
        return;
    }
    int64_t turn;
    write_session(a, "first \"quoted\"\ttitle \xc3\xa9", "hmm", "yes", 12, 0, &turn);
    pd_store_annotate(a, turn, PD_ANNOT_GOLD, "4\n2", 1, 3, NULL, err);
    /* A turn with routing (2 layers x 2 experts) and a token the model gave no chance. */
    int64_t sid, t2;
    pd_store_session_new(a, 0, "routed", &sid, err);
    pd_store_turn_begin(a, sid, NULL, &t2, err);
    uint16_t ids[4] = { 1, 7, 3, 60000 };
    float w[4] = { 0.5f, 0.25f, 0.125f, 1.0f / 3 };
    unsigned char blob[64];
    size_t bn = pd_routing_pack(blob, 2, 2, ids, w, true);
    struct pd_token_event ev = mk_event(0, 5, PD_SEG_ANSWER, "\x01\xff", 0.5);
    ev.logprob = -1.0f / 0.0f;
    pd_store_turn_token_routed(a, &ev, blob, bn);
    pd_store_turn_end(a, NULL, err);

    size_t n1, n2, n3;
    err[0] = '\0';
    char *e1 = export_all(a, PD_EXPORT_PONDER, &n1);
    FILE *f = fmemopen(e1, n1, "r");
    int ns = 0;
    is_int(pd_store_import(b, f, &ns, err), 0, "import the ponder export (%s)", err);
    fclose(f);
    is_int(ns, 2, "two sessions imported");
    char *e2 = export_all(b, PD_EXPORT_PONDER, &n2);
    ok(n1 == n2 && memcmp(e1, e2, n1) == 0, "export -> import -> export gives the same bytes "
       "(%zu bytes)", n1);
    ok(strstr(e1, "\"routing\":\"") != NULL, "routing is in the lossless export");

    /* A bad line rolls the whole import back. */
    char bad[] = "{\"type\":\"session\",\"format\":1,\"title\":\"x\",\"created\":1,\"updated\":1}\n"
                 "{\"type\":\"turn\",\"seq\":0,\"role\":\"user\",\"text\":\"hi\",\"bogus\":1}\n";
    f = fmemopen(bad, strlen(bad), "r");
    int rc = pd_store_import(b, f, &ns, err);
    fclose(f);
    ok(rc == PD_EFORMAT && strstr(err, "line 2") && strstr(err, "bogus"),
       "an unknown member is an error naming the line: %s", err);
    char *e3 = export_all(b, PD_EXPORT_PONDER, &n3);
    ok(n3 == n2 && memcmp(e2, e3, n2) == 0, "and nothing of that import stayed");

    size_t no, nt;
    char *oa = export_all(a, PD_EXPORT_OPENAI, &no), *trl = export_all(a, PD_EXPORT_TRL, &nt);
    ok(strstr(oa, "{\"messages\":[{\"role\":\"user\",\"content\":\"a question\"},"
                  "{\"role\":\"assistant\",\"content\":") && strstr(oa, "\"reasoning_content\":"),
       "openai: chat messages with reasoning_content");
    ok(strstr(trl, "{\"prompt\":[{\"role\":\"user\",\"content\":\"a question\"}],"
                   "\"completion\":[{\"role\":\"assistant\",\"content\":") &&
       strstr(trl, "\"gold\":\"4\\n2\""), "trl: prompt/completion with the gold answer");
    free(oa);
    free(trl);
    free(e1);
    free(e2);
    free(e3);

    int64_t keep = 0;
    is_int(pd_store_session_rm(a, sid, err), 0, "rm a session");
    is_int(pd_store_session_rm(a, sid, err), PD_ENOTFOUND, "rm it again: not found");
    keep = one_int(NULL, tpath("rt-a.db"), "SELECT count(*) FROM tokens");
    is_int(keep, 12, "its tokens went with it, the other session's stayed");
    pd_store_close(a);
    pd_store_close(b);
}

/* A child: 10 sessions of 200 tokens each; exit status 0 when no call failed. */
static int
child_writer(const char *path, int who)
{
    char err[PD_ERR_MAX];
    struct pd_store *st = NULL;
    if (pd_store_open(&st, path, err)) {
        fprintf(stderr, "child %d: %s\n", who, err);
        return 1;
    }
    for (int i = 0; i < 10; i++)
        if (write_session(st, who ? "child b" : "child a", "p", "q", 200, 0, NULL) < 0)
            return 1;
    pd_store_close(st);
    return 0;
}

static void
test_two_processes(void)
{
    const char *p = tpath("concurrent.db");
    pid_t pid[3];
    for (int i = 0; i < 3; i++) {
        pid[i] = fork();
        if (pid[i] == 0)
            _exit(child_writer(p, i));
    }
    int bad = 0;
    for (int i = 0; i < 3; i++) {
        int status;
        waitpid(pid[i], &status, 0);
        bad += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    is_int(bad, 0, "three processes writing their own sessions at once: no busy error");
    is_int(one_int(NULL, p, "SELECT count(*) FROM tokens"), 3 * 10 * 200,
           "every token of every process stored");
}

/* DeepSeek-V3's shape: 58 MoE layers x 8 experts, f16 weights. */
static void
bench_routing(void)
{
    char err[PD_ERR_MAX];
    struct pd_store *st = NULL;
    const char *p = tpath("bench.db");
    if (pd_store_open(&st, p, err))
        return;
    enum { N = 5000, L = 58, K = 8 };
    uint16_t ids[L * K];
    float w[L * K];
    for (int i = 0; i < L * K; i++) {
        ids[i] = (uint16_t)((i * 37) % 256);
        w[i] = 1.0f / (1 + i % K);
    }
    unsigned char blob[4 + L * K * 6];
    size_t bn = pd_routing_pack(blob, L, K, ids, w, true);
    struct stat s0, s1;
    int64_t sid, turn;
    pd_store_session_new(st, 0, "bench", &sid, err);
    stat(p, &s0);
    double t0 = pd_time_now();
    pd_store_turn_begin(st, sid, NULL, &turn, err);
    for (int i = 0; i < N; i++) {
        struct pd_token_event ev = mk_event(i, 1000 + i, PD_SEG_THINK, " tok", 0.001 * i);
        pd_store_turn_token_routed(st, &ev, blob, bn);
    }
    int rc = pd_store_turn_end(st, NULL, err);
    double dt = pd_time_now() - t0;
    pd_store_close(st);   /* checkpoints the WAL into the file */
    stat(p, &s1);
    is_int(rc, 0, "bench turn written");
    diag("routed tokens (58 layers x 8, f16): %.0f tokens/s written, %.0f bytes/token on disk "
         "(blob %zu bytes)", N / dt, (double)(s1.st_size - s0.st_size) / N, bn);

    /* Dense (no routing). */
    pd_store_open(&st, p, err);
    pd_store_session_new(st, 0, "bench dense", &sid, err);
    stat(p, &s0);
    t0 = pd_time_now();
    pd_store_turn_begin(st, sid, NULL, &turn, err);
    for (int i = 0; i < 4 * N; i++) {
        struct pd_token_event ev = mk_event(i, 1000 + i, PD_SEG_THINK, " tok", 0.001 * i);
        pd_store_turn_token(st, &ev);
    }
    pd_store_turn_end(st, NULL, err);
    dt = pd_time_now() - t0;
    pd_store_close(st);
    stat(p, &s1);
    diag("dense tokens: %.0f tokens/s written, %.1f bytes/token on disk (text included)",
         4 * N / dt, (double)(s1.st_size - s0.st_size) / (4 * N));
}

int
main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test-store.XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return 1;
    unsetenv("PONDER_DB");
    test_sha256();
    test_open_and_migrate();
    test_refusals();
    test_writer();
    test_roundtrip();
    test_two_processes();
    bench_routing();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "chmod -R u+w %s; rm -rf %s", tmpdir, tmpdir);
    if (system(cmd) != 0)
        diag("could not remove %s", tmpdir);
    return exit_status();
}
