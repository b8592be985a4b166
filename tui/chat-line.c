/*
 * chat-line.c: reading `ponder chat`'s input lines.
 *
 * On a terminal, with libedit (configure's HAVE_LIBEDIT), lines are read through its
 * readline-compatible interface: emacs-style editing, the history kept in
 * $XDG_STATE_HOME/ponder/history (else ~/.local/state/ponder/history; saved after every line, at
 * most 1000 lines), and Ctrl-R searches it. Ctrl-C at the prompt empties the line: libedit passes
 * the signal on to chat's handler, the read returns nothing, and the prompt is asked again.
 * Without libedit, or when standard input is not a terminal (a script, a pipe), lines are read
 * with getline and no prompt is printed for a script.
 */
#include "config.h"

#include "tui/chat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifdef HAVE_LIBEDIT
#include <editline/readline.h>
#endif

#define HISTORY_MAX 1000

static char history_path[4096];
static bool use_editline;

/* mkdir -p of path's parent folders. */
static void
make_parents(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        mkdir(path, 0700);
        *p = '/';
    }
}

static void
find_history_path(void)
{
    const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    if (state && state[0] == '/')
        snprintf(history_path, sizeof history_path, "%s/ponder/history", state);
    else if (home && home[0])
        snprintf(history_path, sizeof history_path, "%s/.local/state/ponder/history", home);
    else
        history_path[0] = '\0';
}

void
chat_line_init(struct chat *c)
{
    if (!c->tty_in)
        return;
    find_history_path();
#ifdef HAVE_LIBEDIT
    use_editline = true;
    rl_readline_name = "ponder";
    rl_initialize();
    using_history();
    stifle_history(HISTORY_MAX);
    if (history_path[0])
        read_history(history_path);
#endif
}

static const char *
prompt_text(const struct chat *c)
{
    /* The colour codes are wrapped in \001 \002 so the line editor knows they take no room. */
    return c->color ? "\001\033[1m\002» \001\033[0m\002" : "» ";
}

char *
chat_line_read(struct chat *c, bool *cleared)
{
    *cleared = false;
    atomic_store(&chat_interrupted, false);
#ifdef HAVE_LIBEDIT
    if (use_editline) {
        char *line = readline(prompt_text(c));
        if (line == NULL && atomic_load(&chat_interrupted)) {
            fputs("\n", stdout);
            *cleared = true;
        }
        return line;
    }
#endif
    if (c->tty_in) {
        fputs(c->color ? "\033[1m»\033[0m " : "» ", stdout);
        fflush(stdout);
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        if (errno == EINTR && atomic_load(&chat_interrupted)) {
            clearerr(stdin);
            fputs("\n", stdout);
            *cleared = true;
        }
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    return line;
}

void
chat_line_remember(struct chat *c, const char *line)
{
    (void)c;
#ifdef HAVE_LIBEDIT
    if (!use_editline || line[0] == '\0')
        return;
    add_history(line);
    if (history_path[0]) {
        make_parents(history_path);
        write_history(history_path);
    }
#else
    (void)line;
#endif
}

void
chat_line_done(struct chat *c)
{
    (void)c;
}
