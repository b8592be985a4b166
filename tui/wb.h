/*
 * wb.h: the workbench (`ponder` with no sub-command, or `ponder tui`): what its files share.
 *
 * Threads: generation runs on a worker thread (wb-gen.c) that copies each token event into a
 * queue, which the UI thread drains once a frame; only the UI thread calls curses and touches
 * the session store. Key handlers (wb-keys.c) change state and return flags; one place draws
 * (wb-main.c: the frame, at most WB_FPS times a second), calling one file per view:
 *   view-chat.c      the transcript: turns, think blocks that fold, the token cursor
 *   view-routing.c   the routing and token inspector, expert load, colours by expert
 *   view-sessions.c  browse, search, open, rename, delete, fork
 *   view-train.c     training runs and their curves (braille.c draws them)
 *   view-help.c      the key list, drawn from the key table
 * Training runs started from the workbench are child processes (wb-train.c), `ponder train
 * grpo` writing to the same store; the training view reads their rows about once a second.
 * The document (wb-doc.c) holds the turns as the views see them: text by segment, tokens with
 * their byte ranges, routing and alternatives, wrapped lines cached per width.
 */
#ifndef PD_TUI_WB_H
#define PD_TUI_WB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/aha.h"
#include "engine/event.h"
#include "sessions/store.h"
#include "tui/chat.h"

#define WB_FPS 10
#define WB_TOP 5            /* alternatives kept per token */
#define WB_MAX_PAIRS 1024   /* layers x k of one token's routing */

enum wb_fold_mode { WB_FOLD_AUTO = 0, WB_FOLD_OPEN, WB_FOLD_FOLDED };
enum wb_view { WB_VIEW_CHAT = 0, WB_VIEW_SESSIONS, WB_VIEW_TRAIN };
enum wb_focus { WB_FOCUS_INPUT = 0, WB_FOCUS_TRANSCRIPT };
enum wb_tint { WB_TINT_NONE = 0, WB_TINT_EXPERT, WB_TINT_ENTROPY, WB_TINT_LOGPROB, WB_TINT_N };
enum wb_panel { WB_PANEL_NONE = 0, WB_PANEL_TOKEN, WB_PANEL_LOAD, WB_PANEL_N };

/* Segments of an assistant turn's text as the document keeps them. */
enum { WB_THINK = 0, WB_ANSWER = 1 };

struct wb_buf {
    char *p;
    size_t len, cap;
};

void wb_buf_add(struct wb_buf *b, const char *s, size_t n);
void wb_buf_free(struct wb_buf *b);

/* A text wrapped to a width: line i covers bytes [start[i], start[i + 1]) (the last one to the
 * end of the text); newlines are in the text, not drawn. Extended as the text grows. */
struct wb_lines {
    uint32_t *start;
    size_t n, cap;
    int width;
    size_t len;             /* bytes of text wrapped so far */
};

struct wb_tok {
    int32_t id;
    uint8_t seg;            /* enum pd_segment */
    int8_t n_top;
    float logprob, entropy;
    double t;
    uint32_t off[2], len[2];   /* bytes this token added to the think and answer texts */
    int32_t route;             /* index of its routing in the turn (-1: none) */
    int32_t top_ids[WB_TOP];
    float top_lp[WB_TOP];
};

/* An aha flag as the views show it (the detector's, plus the user's verdict). */
struct wb_aha {
    int tok_from, tok_to;
    float score;
    int status;             /* 0 open, 1 confirmed, -1 rejected */
    int64_t store_id;       /* aha_events row (0: not stored yet) */
    char evidence[160];     /* "cue “Wait” · entropy 2.9 (base 0.8) · answer 12 → 15" */
};

/* A span annotation, as stored (kind, value) over tokens [from, to]. */
struct wb_note {
    int64_t id;
    int kind;               /* enum pd_annot_kind */
    int from, to;
    char *value;
};

struct wb_turn {
    int64_t id;             /* the store's turn id (0: not logged) */
    char role[12];          /* "user", "assistant", "system" */
    struct wb_buf text;     /* user/system text; the assistant's whole text, tags included */
    struct wb_buf seg[2];   /* assistant: think and answer text */
    struct wb_tok *tok;
    size_t n_tok, cap_tok;
    /* routing: route r of a token is layers x k ids and weights, layers entropies */
    int r_layers, r_k;
    uint16_t *r_ids;
    float *r_w, *r_ent;
    size_t n_route, cap_route;
    /* the thought */
    int n_think;
    double think_t0, think_t1;
    bool streaming;         /* tokens are still arriving */
    bool in_think;          /* the last token was in the think segment */
    bool folded;            /* the think block is folded */
    bool fold_by_user;      /* the user toggled it: auto leaves it alone */
    char stop[24];          /* why it ended ("" while streaming) */
    /* aha flags and annotations */
    struct wb_aha *aha;
    size_t n_aha;
    struct pd_aha *det;         /* the aha detector fed this turn's tokens */
    struct wb_note *notes;
    size_t n_notes;
    int rating;             /* +1, -1, 0 */
    char *gold;
    /* layout caches: 0 user text, 1 think, 2 answer */
    struct wb_lines lines[3];
};

/* One token event copied for the trip from the worker to the UI thread. */
struct wb_qev {
    struct pd_token_event ev;    /* pointers inside point into this entry */
    char text[256];
    char piece[64];
    struct pd_routing routing;
    int32_t layer[256];
    int32_t ids[WB_MAX_PAIRS];
    float weights[WB_MAX_PAIRS];
    float entropy[256];
};

struct wb_queue {
    pthread_mutex_t mu;
    struct wb_qev *ev;
    size_t n, cap;
    bool done;                   /* the generation ended: result and rc are set */
    int rc;
    char err[PD_ERR_MAX];
    struct pd_gen_result res;
};

/* Row map: what each screen row of the transcript shows (for the mouse and the cursor). */
struct wb_rowinfo {
    int turn;                    /* -1: nothing */
    int part;                    /* 0 user text, 1 think, 2 answer, 3 fold line */
    int line;                    /* line in that part */
    int x[2];                    /* screen column of the think and answer columns */
    int line2;                   /* side by side: the answer's line on this row (-1: none) */
};

struct wb_session_item {
    int64_t id;
    char *title, *model, *snippet;
    int n_turns;
    int64_t n_tokens, updated;
};

struct wb_train;   /* the training view and the runs started from it (view-train.c) */

struct wb {
    struct chat *c;
    bool have_model, moe;
    char model_note[160];        /* why there is no model, or its name */
    int n_moe_layers, n_experts; /* the model's, for the routing views */
    int moe_layer0;              /* the model layer of the first MoE layer */
    /* the document */
    struct wb_turn *turns;
    size_t n_turns, cap_turns;
    /* state of the views */
    enum wb_view view;
    enum wb_focus focus;
    enum wb_fold_mode fold_mode;
    enum wb_tint tint;
    enum wb_panel panel;
    bool sparkline, help, quit;
    int layer;                   /* MoE layer (index among MoE layers) for colours and load */
    int cur_turn, cur_tok;       /* the token cursor (cur_turn -1: none) */
    int sel_from;                /* selection anchor token (-1: none) */
    long scroll;                 /* first transcript row shown */
    bool follow;                 /* keep the end in view while streaming */
    struct wb_rowinfo *rowmap;
    int rowmap_n;
    /* the input line (wide characters) and its history (libedit) */
    wchar_t input[2048];
    int in_len, in_pos;
    int hist_pos;                /* 0: editing a new line; n: n entries back */
    wchar_t saved_input[2048];
    int saved_len;
    /* a one-line prompt that asks for text (a label, a comment, a title) */
    bool asking;
    char ask_what[64];
    void (*ask_done)(struct wb *w, const char *text);
    /* the message line */
    char msg[256];
    double msg_until;
    /* generation */
    bool generating;
    pthread_t worker;
    struct wb_queue q;
    atomic_bool cancel;
    bool stop_thinking;          /* the user asked the model to answer now */
    struct chat_prompt prompt;
    struct pd_sampler *smp;
    int32_t *gen;
    size_t n_gen, cap_gen;
    int gen_base;                /* index and time offsets of a continued reply */
    double gen_t_base;
    struct pd_gen_result res_sum;
    bool logging;
    double tok_s;
    /* replay */
    bool replaying, replay_paused;
    int replay_turn;             /* the turn being replayed into (in turns[]) */
    struct pd_token_list replay_src;
    size_t replay_next;
    double replay_speed, replay_clock, replay_last;
    /* sessions view */
    struct wb_session_item *items;
    size_t n_items;
    int item_cur, item_top;
    char search[128];
    int64_t session_shown;       /* the session in the chat view (0: new) */
    /* training view */
    struct wb_train *train;      /* NULL until F3 first opens it */
    /* the terminal */
    int rows, cols;
    int colors;                  /* 0 (NO_COLOR), 8/16 or 256 */
    double last_draw;
    bool dirty;
    /* aha cues */
    struct pd_aha_cues *cues;
};

/* Flags a key handler returns. */
enum { WB_REDRAW = 1, WB_RELAYOUT = 2 };

/* ---- wb-doc.c: the document ---- */
struct wb_turn *wb_turn_add(struct wb *w, const char *role, const char *text);
void wb_turn_free(struct wb_turn *t);
void wb_doc_clear(struct wb *w);
/* Append one token event to a streaming assistant turn. */
void wb_turn_push_event(struct wb *w, struct wb_turn *t, const struct pd_token_event *ev);
/* Text lines of part (0 user, 1 think, 2 answer) at width; updated incrementally. */
const struct wb_lines *wb_turn_lines(struct wb_turn *t, int part, int width);
/* Visible lines of a wrapped part (trailing empty lines left out). */
size_t wb_lines_visible(const struct wb_turn *t, int part, const struct wb_lines *l);
/* The token of an assistant turn whose bytes in seg cover off (-1 if none). */
int wb_turn_token_at(const struct wb_turn *t, int seg, size_t off);
/* The think block's fold line: "▸ thought 21.4 s · 1,832 tok · 3 aha". */
void wb_fold_line(const struct wb_turn *t, char *out, size_t size);
/* Run the aha detector on what arrived; fills t->aha. */
void wb_turn_aha_update(struct wb *w, struct wb_turn *t);
/* Display width of the UTF-8 character at s (n bytes left); *used gets its length. */
int wb_char_width(const char *s, size_t n, size_t *used, wchar_t *wc);

/* ---- wb-gen.c: generation on the worker thread ---- */
/* Send the input as a user turn and start the reply. */
void wb_send(struct wb *w, const char *text);
/* Move what the worker queued into the document; true when something arrived. */
bool wb_gen_drain(struct wb *w);
void wb_gen_cancel(struct wb *w);
/* "Answer now": close the think segment and let the model answer. */
void wb_gen_stop_thinking(struct wb *w);
void wb_gen_init(struct wb *w);
void wb_gen_shutdown(struct wb *w);

/* ---- wb-main.c ---- */
void wb_message(struct wb *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Ask for a line of text in the message row; done gets it (NULL when cancelled). */
void wb_ask(struct wb *w, const char *what, const char *initial,
            void (*done)(struct wb *w, const char *text));
int wb_attr_dim(const struct wb *w);
/* A colour pair for (fg, bg) in 256-colour numbering (-1: default), allocated on demand. */
int wb_pair(const struct wb *w, int fg, int bg);
double wb_now(void);
/* $XDG_STATE_HOME/ponder (else ~/.local/state/ponder) into buf, made if missing; 0 or -1. */
int wb_state_dir(char *buf, size_t size);

/* ---- wb-keys.c ---- */
struct wb_key {
    int key;                     /* a curses key code, a character, or a control character */
    unsigned where;              /* WB_IN_* where it acts */
    const char *name;            /* as the help shows it */
    const char *help;
    int (*fn)(struct wb *w);
};
enum { WB_IN_CHAT = 1, WB_IN_INPUT = 2, WB_IN_SESSIONS = 4, WB_IN_TRAIN = 8, WB_IN_ANY = 15 };
extern const struct wb_key wb_keys[];
extern const size_t wb_n_keys;
/* Handle one key (wint_t from get_wch, is_key: a KEY_* code); returns WB_* flags. */
int wb_key(struct wb *w, int is_key, unsigned ch);
/* A mouse event. */
int wb_mouse(struct wb *w);

/* ---- wb-input.c ---- */
/* A key on the input line (or a question borrowing it); returns WB_* flags. */
int wb_input_key(struct wb *w, int is_key, unsigned ch);
/* Copy text to the terminal's clipboard (OSC 52, wrapped for tmux). */
void wb_yank(struct wb *w, const char *what, const char *text, size_t len);

/* ---- view-chat.c ---- */
void wb_draw_chat(struct wb *w, int top, int height, int width);
/* Keep the cursor's row in view. */
void wb_chat_scroll_to_cursor(struct wb *w, int height, int width);
/* The token cursor moved by lines (dy) in the transcript. */
void wb_chat_cursor_lines(struct wb *w, int dy, int width);
/* Transcript width given the panel. */
int wb_chat_width(const struct wb *w);
/* The token at a screen position of the transcript (-1); *turn filled. */
int wb_chat_hit(struct wb *w, int y, int x, int *turn, bool *fold_line);

/* ---- view-routing.c ---- */
void wb_draw_panel(struct wb *w, int top, int left, int height, int width);
/* Colour (256 numbering) that tints token tok of turn t under the current mode (-1: none). */
int wb_token_tint(const struct wb *w, const struct wb_turn *t, const struct wb_tok *tok);
/* The token's routing: ids, weights, entropies, or NULL. */
const uint16_t *wb_token_route(const struct wb_turn *t, const struct wb_tok *tok,
                               const float **weights, const float **entropy);
/* Forget cached numbers about turns (the document was cleared). */
void wb_routing_forget(void);
/* Colour of an expert (distinct hues). */
int wb_expert_color(const struct wb *w, int expert);

/* ---- view-sessions.c ---- */
void wb_sessions_reload(struct wb *w);
void wb_draw_sessions(struct wb *w, int top, int height, int width);
int wb_sessions_key(struct wb *w, int is_key, unsigned ch);
/* Show a stored session in the chat view. */
int wb_session_open(struct wb *w, int64_t id);

/* ---- view-train.c: the training view (F3) ---- */
/* Open or close it (F3). */
int wb_key_train(struct wb *w);
void wb_draw_train(struct wb *w, int top, int height, int width);
/* The view's own keys (the list); -1 when the key is not one of them. */
int wb_train_key(struct wb *w, int is_key, unsigned ch);
/* Read the runs and the selected run's metrics again; select run (0: keep the selection). */
void wb_train_reload(struct wb *w, int64_t run);
int wb_key_train_start(struct wb *w);
int wb_key_train_stop(struct wb *w);

/* ---- wb-train.c: training runs as child processes ---- */
/* Start `ponder train grpo ARGS --db STORE`, its output to a log in the state folder. */
int wb_train_spawn(struct wb *w, const char *args);
/* Reap runs that ended, learn the run ids of new ones, re-read the view about once a second;
 * true when the screen changed. */
bool wb_train_tick(struct wb *w);
/* SIGINT to the process of run (it checkpoints and stops after its step); false if not ours. */
bool wb_train_signal(struct wb *w, int64_t run);
/* Whether run is a live process started here. */
bool wb_train_is_ours(const struct wb *w, int64_t run);
/* The train grpo arguments a first launch line offers: the model, small settings, an output
 * beside the store. */
void wb_train_default_args(struct wb *w, char *buf, size_t size);
/* What the launch line offers: the last line sent (with a fresh output name), or the default. */
void wb_train_args(struct wb *w, char *buf, size_t size);
/* Quit, or ask first while runs started here are live (they go on detached). */
int wb_train_quit(struct wb *w);
/* After the screen is gone: say which runs go on, and free the view. */
void wb_train_release(struct wb *w);

/* ---- view-help.c ---- */
void wb_draw_help(struct wb *w);

/* ---- wb-replay.c ---- */
/* Fill assistant turn t from its stored tokens (the texts already set from the turn row). */
void wb_turn_load_stored(struct wb *w, struct wb_turn *t, const struct pd_token_list *rows);
/* Play turn ti (a stored assistant turn) again from its first token. */
void wb_replay_start(struct wb *w, int ti);
/* Advance the replay clock; true when tokens were shown. */
bool wb_replay_tick(struct wb *w);
void wb_replay_stop(struct wb *w);
/* Step one token (dir +1/-1), or scrub by n tokens; outside a replay, start one, paused, at the
 * cursor's token. */
void wb_replay_step(struct wb *w, int n);

/* ---- wb-annot.c ---- */
void wb_annot_load(struct wb *w, struct wb_turn *t);
void wb_annot_store_aha(struct wb *w, struct wb_turn *t);
int wb_key_label(struct wb *w);
int wb_key_comment(struct wb *w);
int wb_key_gold(struct wb *w);
int wb_key_rate_good(struct wb *w);
int wb_key_rate_bad(struct wb *w);
int wb_key_aha_confirm(struct wb *w);
int wb_key_aha_reject(struct wb *w);

#endif
