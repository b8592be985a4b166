/*
 * loader.h: finding, loading and checking plugins (plugins/ponder-plugin.h) in the ponder
 * program.
 *
 * Where a plugin is looked for. An argument with a '/' in it is a path and is opened as given
 * (so "./x.so" loads from the current directory: the user asked for it). Any other argument is
 * a name: "accuracy" or "accuracy.so" is looked for as accuracy.so in, in order,
 *   1. each directory of $PONDER_PLUGIN_PATH (colon-separated; empty and relative entries are
 *      skipped, since a shell's empty entry means the current directory),
 *   2. the install's plugin folder, $pkglibdir/plugins (PD_PLUGINDIR, set by the build).
 * The current directory is never searched for a name.
 *
 * Loading: dlopen(RTLD_NOW | RTLD_LOCAL), then the entry symbol ponder_plugin_entry is called
 * and its table checked: ABI version, kind, name, the kind's required functions. On any refusal
 * the object is closed again and err says why, naming the file ("x.so: ABI version 3, this
 * ponder speaks 1", "x.so: no entry symbol ponder_plugin_entry: not a ponder plugin").
 *
 * Loading runs the object's constructors and entry function in this process: only the reward
 * functions themselves are run behind a worker's walls (plugins/reward-run.h).
 */
#ifndef PD_PLUGIN_LOADER_H
#define PD_PLUGIN_LOADER_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/aha.h"
#include "engine/pd.h"
#include "plugins/ponder-plugin.h"

#define PD_PLUGIN_PATH_MAX 4096

/* A loaded plugin. */
struct pd_plugin;

/* Which kind a caller wants: any, or one of them (a plugin of another kind is refused as "not a
 * reward plugin"). */
enum pd_plugin_want {
    PD_PLUGIN_ANY = 0,
    PD_PLUGIN_WANT_REWARD = PONDER_PLUGIN_REWARD,
    PD_PLUGIN_WANT_AHA = PONDER_PLUGIN_AHA,
};

/* Resolve a name or path to the file that would be loaded, into path (PD_PLUGIN_PATH_MAX bytes).
 * 0, or PD_ENOTFOUND with err listing where it looked (and noting a file of that name in the
 * current directory, which is not searched). */
int pd_plugin_resolve(const char *name, char *path, char *err);

/* Load and check a plugin. On success *out is the caller's, to pd_plugin_close. PD_ENOTFOUND
 * (no such plugin), PD_EIO (dlopen failed: dlerror's text), PD_EFORMAT (no entry symbol, a bad
 * table), PD_EUNSUPPORTED (another ABI version, or not the kind wanted), PD_ENOMEM. */
int pd_plugin_open(struct pd_plugin **out, const char *name, enum pd_plugin_want want,
                   char *err);
void pd_plugin_close(struct pd_plugin *p);   /* NULL is fine */

const char *pd_plugin_name(const struct pd_plugin *p);
const char *pd_plugin_version(const struct pd_plugin *p);
const char *pd_plugin_description(const struct pd_plugin *p);   /* never NULL */
const char *pd_plugin_path(const struct pd_plugin *p);          /* the file loaded */
enum ponder_plugin_kind pd_plugin_kind(const struct pd_plugin *p);
const char *pd_plugin_kind_name(unsigned kind);    /* "reward", "aha detector", "unknown" */

/* The reward table, or NULL when the plugin is not a reward. */
const struct ponder_reward *pd_plugin_reward(const struct pd_plugin *p);
/* The detector, as engine/aha.h's type (the layouts are checked equal), or NULL. */
const struct pd_aha_detector *pd_plugin_aha(const struct pd_plugin *p);

/* ---- listing ---- */

/* One .so found in the search path. When ok is false, why says why it was refused. A name
 * found in two directories is listed twice; the first is the one a name loads (shadowed marks
 * the others). */
struct pd_plugin_info {
    char path[PD_PLUGIN_PATH_MAX];
    bool ok, shadowed;
    unsigned kind;
    char name[64], version[32];
    char description[160];
    char why[PD_ERR_MAX];
};

/* Every *.so in the search directories, in search order, then by file name. *out is the
 * caller's, to free(). Directories that do not exist are skipped. 0 or PD_ENOMEM. */
int pd_plugin_list(struct pd_plugin_info **out, size_t *n, char *err);

/* The directories searched, in order, into buf as "dir1:dir2" (truncated to size). */
void pd_plugin_dirs(char *buf, size_t size);

#endif
