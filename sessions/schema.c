/*
 * schema.c: the session store's schema, as a list of migration steps.
 *
 * Step i brings a database from user_version i to i + 1. A new database runs every step; an old
 * one runs the steps it lacks. Each step runs in its own transaction together with the
 * user_version it reaches, so an interrupted migration leaves the database at a whole version.
 * Steps are never edited once released: a change to the schema is a new step at the end.
 */
#include "config.h"

#include "sessions/store-impl.h"

#include <stdio.h>

/* 1: models, sessions, turns, tokens, aha events, annotations. */
static const char schema_v1[] =
    "PRAGMA application_id = 1347306564;"   /* 'PNDR' */
    "CREATE TABLE models ("
    "  id INTEGER PRIMARY KEY,"
    "  path TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  sha256 TEXT NOT NULL,"            /* of the GGUF header and tensor table */
    "  arch TEXT, name TEXT, n_params INTEGER,"
    "  added INTEGER NOT NULL,"
    "  UNIQUE (sha256, path));"
    "CREATE TABLE sessions ("
    "  id INTEGER PRIMARY KEY,"
    "  title TEXT NOT NULL DEFAULT '',"
    "  model_id INTEGER REFERENCES models(id) ON DELETE SET NULL,"
    "  created INTEGER NOT NULL,"        /* unix milliseconds */
    "  updated INTEGER NOT NULL,"
    "  forked_from_session INTEGER REFERENCES sessions(id) ON DELETE SET NULL,"
    "  forked_from_token INTEGER);"
    "CREATE INDEX sessions_updated ON sessions(updated);"
    "CREATE TABLE turns ("
    "  id INTEGER PRIMARY KEY,"
    "  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,"
    "  seq INTEGER NOT NULL,"
    "  role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),"
    "  text TEXT NOT NULL DEFAULT '',"
    "  think_text TEXT, answer_text TEXT,"
    "  sampler TEXT,"                    /* JSON object */
    "  n_think INTEGER, n_answer INTEGER, n_tag INTEGER,"
    "  ttft REAL, think_s REAL, total_s REAL,"
    "  stop TEXT,"
    "  created INTEGER NOT NULL,"
    "  UNIQUE (session_id, seq));"
    "CREATE TABLE tokens ("
    "  turn_id INTEGER NOT NULL REFERENCES turns(id) ON DELETE CASCADE,"
    "  pos INTEGER NOT NULL,"
    "  token INTEGER NOT NULL,"
    "  bytes BLOB NOT NULL,"
    "  segment INTEGER NOT NULL,"        /* 0 think, 1 answer, 2 tag */
    "  logprob REAL, entropy REAL,"
    "  t REAL NOT NULL,"                 /* seconds since the turn began */
    "  routing BLOB,"                    /* pd_routing_pack; NULL for dense models */
    "  PRIMARY KEY (turn_id, pos)) WITHOUT ROWID;"
    "CREATE TABLE aha_events ("
    "  id INTEGER PRIMARY KEY,"
    "  turn_id INTEGER NOT NULL REFERENCES turns(id) ON DELETE CASCADE,"
    "  tok_from INTEGER NOT NULL, tok_to INTEGER NOT NULL,"
    "  score REAL NOT NULL,"
    "  signals TEXT,"                    /* JSON */
    "  detector TEXT NOT NULL, detector_version TEXT,"
    "  created INTEGER NOT NULL);"
    "CREATE INDEX aha_events_turn ON aha_events(turn_id);"
    "CREATE TABLE annotations ("
    "  id INTEGER PRIMARY KEY,"
    "  turn_id INTEGER NOT NULL REFERENCES turns(id) ON DELETE CASCADE,"
    "  kind TEXT NOT NULL"
    "    CHECK (kind IN ('label', 'rating', 'gold', 'comment', 'correction')),"
    "  value TEXT NOT NULL,"
    "  span_from INTEGER, span_to INTEGER,"
    "  created INTEGER NOT NULL);"
    "CREATE INDEX annotations_turn ON annotations(turn_id);";

/* 2: full-text search over think and answer text, kept in step by triggers. */
static const char schema_v2[] =
    "CREATE VIRTUAL TABLE turns_fts USING fts5(think, answer);"
    "INSERT INTO turns_fts(rowid, think, answer)"
    "  SELECT id, think_text, answer_text FROM turns;"
    "CREATE TRIGGER turns_fts_ai AFTER INSERT ON turns BEGIN"
    "  INSERT INTO turns_fts(rowid, think, answer)"
    "    VALUES (new.id, new.think_text, new.answer_text);"
    "END;"
    "CREATE TRIGGER turns_fts_ad AFTER DELETE ON turns BEGIN"
    "  DELETE FROM turns_fts WHERE rowid = old.id;"
    "END;"
    "CREATE TRIGGER turns_fts_au AFTER UPDATE OF think_text, answer_text ON turns BEGIN"
    "  DELETE FROM turns_fts WHERE rowid = old.id;"
    "  INSERT INTO turns_fts(rowid, think, answer)"
    "    VALUES (new.id, new.think_text, new.answer_text);"
    "END;";

/* 3: training runs and their per-step metrics (GRPO). */
static const char schema_v3[] =
    "CREATE TABLE training_runs ("
    "  id INTEGER PRIMARY KEY,"
    "  model_id INTEGER REFERENCES models(id) ON DELETE SET NULL,"
    "  kind TEXT NOT NULL,"              /* 'grpo', 'sft', ... */
    "  config TEXT,"                     /* JSON */
    "  output_path TEXT,"
    "  status TEXT NOT NULL DEFAULT 'running',"
    "  created INTEGER NOT NULL, finished INTEGER);"
    "CREATE TABLE training_metrics ("
    "  run_id INTEGER NOT NULL REFERENCES training_runs(id) ON DELETE CASCADE,"
    "  step INTEGER NOT NULL,"
    "  name TEXT NOT NULL,"              /* 'reward', 'accuracy', 'length', 'loss', ... */
    "  value REAL NOT NULL,"
    "  PRIMARY KEY (run_id, step, name)) WITHOUT ROWID;";

static const char *const migrations[] = { schema_v1, schema_v2, schema_v3 };

_Static_assert(sizeof migrations / sizeof migrations[0] == PD_STORE_SCHEMA_VERSION,
               "one migration step per schema version");

/* PRAGMA user_version, or a negative PD_E*. */
static int
read_version(struct pd_store *st, char *err)
{
    sqlite3_stmt *s = NULL;
    int rc = st_prepare(st, "PRAGMA user_version", &s, err);
    if (rc)
        return rc;
    rc = sqlite3_step(s);
    int v = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : st_sqlite_err(st, rc, err, "reading "
                                                                          "the schema version");
    sqlite3_finalize(s);
    return v;
}

/* Run the next step in one transaction. The version is read again under the write lock: another
 * process may have migrated meanwhile. *done is set when there is nothing left to do. */
static int
migrate_next(struct pd_store *st, bool *done, char *err)
{
    char sql[64], why[PD_ERR_MAX] = "";
    int rc = st_begin(st, err);
    if (rc)
        return rc;
    int v = read_version(st, why);
    if (v < 0) {
        rc = v;
        goto fail;
    }
    if (v >= PD_STORE_SCHEMA_VERSION) {
        *done = true;
        return st_commit(st, err);
    }
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
    if ((rc = st_exec(st, migrations[v], why)) != 0 || (rc = st_exec(st, sql, why)) != 0)
        goto fail;
    return st_commit(st, err);
fail:
    st_rollback(st);
    return pd_errorf(err, rc, "migrating the schema from version %d: %s", v, why);
}

int
st_migrate(struct pd_store *st, int from, char *err)
{
    (void)from;
    bool done = false;
    while (!done) {
        int rc = migrate_next(st, &done, err);
        if (rc)
            return rc;
    }
    return PD_OK;
}
