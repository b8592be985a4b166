/*
 * train-view.h: the state of the training view (view-train.c) and of the runs the workbench
 * started (wb-train.c), which the two files share.
 */
#ifndef PD_TUI_TRAIN_VIEW_H
#define PD_TUI_TRAIN_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define WB_TRAIN_CHILDREN 4   /* runs live at once from one workbench */

/* The metrics the curves show, as training_metrics names them (view-train.c's table). */
enum { WB_TM_REWARD, WB_TM_ACCURACY, WB_TM_LEN, WB_TM_THINK, WB_TM_KL, WB_TM_ZERO_STD, WB_TM_N };

/* A run started here: its process, and its run id once its log names it. */
struct wb_child {
    pid_t pid;               /* 0: the slot is free */
    int64_t run;             /* 0 until known */
    bool stopping;           /* SIGINT sent */
    char log[1024];
};

/* A row of the run list. */
struct wb_run_item {
    int64_t id, created, finished, last_step, steps;
    char kind[32], status[16];
    char what[160];          /* "task:countdown · ponder-tiny.gguf" from its config */
};

struct wb_train {
    struct wb_run_item *runs;
    size_t n_runs;
    int cur, top;            /* the selected run, the first row shown */
    /* the selected run's curves: n steps, a value per metric (NAN where absent) */
    int64_t shown_run, shown_step;
    char shown_status[16];
    double *steps, *m[WB_TM_N];
    size_t n, cap;
    double last_load;        /* wb_now() of the last reading */
    struct wb_child kids[WB_TRAIN_CHILDREN];
    char note[2048];         /* what happened last to a run started here; stays on screen */
    char last_args[2048];    /* the launch line as last sent, offered again */
};

struct wb;

/* The workbench's training state, made on first use (wb-train.c). */
struct wb_train *wb_train_state(struct wb *w);

/* The view's data (not the children). */
void wb_train_view_free(struct wb_train *tr);

#endif
