/*
 * test-group-start.c: the start of a group whose ranks make their contexts apart, as the processes
 * a launcher starts do (`ponder run` under PONDER_WORLD_SIZE), here threads over the local
 * communicator. Before rank 0's first pass every rank learns whether every other made its
 * context, so a rank that fails first stops the others, named, rather than leaving them waiting
 * for it for ever:
 *   - all ranks make theirs: rank 0 decodes through the followers (logits as the unsplit model's)
 *     and, done, frees its context; the follower stops serving;
 *   - rank 0 fails before making its context (pd_split_abandon: a prompt it cannot read): the
 *     follower's pd_context_new fails naming rank 0 and its reason;
 *   - the follower fails before (a model it cannot load): rank 0's pd_context_new fails naming it;
 *   - the follower fails making its context: rank 0's, made, is freed and fails naming it.
 * A hang here is the failure this guards against.
 */
#include "config.h"

#include "engine/comm.h"
#include "engine/model.h"
#include "engine/split.h"
#include "tests/tap.h"

#include <math.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

enum follower_act { SERVE, ABANDON, BAD_SHARE };

struct follower {
    struct pd_model *m;
    struct pd_comm *comm;
    enum follower_act act;
    int rc;
    char err[PD_ERR_MAX];
};

static void
group_params(struct pd_context_params *p, struct pd_comm *comm)
{
    pd_context_params_default(p);
    p->backend = PD_BACKEND_CPU;
    p->n_ctx = 64;
    p->n_threads = 1;
    p->split = PD_SPLIT_LAYER;
    p->comm = comm;
}

static void *
follower_main(void *arg)
{
    struct follower *f = arg;
    struct pd_context_params p;
    group_params(&p, f->comm);
    if (f->act == ABANDON) {
        f->rc = pd_split_abandon(f->comm, PD_EIO, "cannot load the model", f->err);
        return NULL;
    }
    if (f->act == BAD_SHARE) {   /* a layer split whose shares do not add up to the model */
        p.layers[0] = 1;
        p.layers[1] = f->m->hp.n_layer;
    }
    struct pd_context *c = NULL;
    f->rc = pd_context_new(&c, f->m, &p, f->err);
    if (f->rc == 0)
        f->rc = pd_split_serve(c, f->err);
    pd_context_free(c);
    return NULL;
}

/* Two ranks: rank 0 here, the follower on a thread doing act. */
struct group {
    struct pd_comm *comms[2];
    struct follower f;
    pthread_t th;
};

static bool
start_group(struct group *g, struct pd_model *m, enum follower_act act)
{
    char err[PD_ERR_MAX] = "";
    bool made = pd_comm_local_new(g->comms, 2, err) == 0;
    for (int r = 0; made && r < 2; r++)
        pd_comm_set_start_pending(g->comms[r], true);
    g->f = (struct follower){ .m = m, .comm = g->comms[1], .act = act };
    made = made && pthread_create(&g->th, NULL, follower_main, &g->f) == 0;
    return ok(made, "a group of two ranks%s%s", err[0] ? ": " : "", err);
}

static void
end_group(struct group *g)
{
    pthread_join(g->th, NULL);
    pd_comm_free(g->comms[0]);
    pd_comm_free(g->comms[1]);
}

static void
check_all_start(struct pd_model *m)
{
    char err[PD_ERR_MAX] = "";
    struct group g;
    if (!start_group(&g, m, SERVE))
        return;
    struct pd_context_params p;
    group_params(&p, g.comms[0]);
    struct pd_context *c = NULL, *ref = NULL;
    int rc = pd_context_new(&c, m, &p, err);
    ok(rc == 0 && !pd_comm_start_pending(g.comms[0]), "every rank made its context: rank 0 has its "
       "own, the start agreed%s%s", rc ? ": " : "", rc ? err : "");
    group_params(&p, NULL);
    p.split = PD_SPLIT_NONE;
    const int32_t tok[5] = { 1, 7, 3, 11, 5 };
    float worst = INFINITY;
    if (c && pd_context_new(&ref, m, &p, err) == 0 && pd_context_decode(c, tok, 5, err) == 0 &&
        pd_context_decode(ref, tok, 5, err) == 0) {
        worst = 0.0f;
        const float *a = pd_context_last_logits(c), *b = pd_context_last_logits(ref);
        for (int32_t i = 0; i < m->hp.n_vocab; i++)
            worst = fmaxf(worst, fabsf(a[i] - b[i]));
    }
    ok(worst == 0.0f, "rank 0 decodes through the follower: the unsplit model's logits (%g)",
       worst);
    is_int(pd_split_abandon(g.comms[0], 0, "", err), 0, "abandoning after the start does nothing");
    pd_context_free(ref);
    pd_context_free(c);
    end_group(&g);
    is_int(g.f.rc, 0, "the follower served until rank 0 freed its context%s%s",
           g.f.rc ? ": " : "", g.f.rc ? g.f.err : "");
}

static void
check_driver_abandons(struct pd_model *m)
{
    char err[PD_ERR_MAX] = "";
    struct group g;
    if (!start_group(&g, m, SERVE))
        return;
    int rc = pd_split_abandon(g.comms[0], PD_EIO, "cannot read the prompt", err);
    ok(rc == PD_EIO && strstr(err, "cannot read the prompt"),
       "rank 0 failing before its context keeps its own error: %s", err);
    end_group(&g);
    ok(g.f.rc != 0 && strstr(g.f.err, "rank 0 of 2") && strstr(g.f.err, "cannot read the prompt"),
       "... and the follower stops, naming it: %s", g.f.err);
}

static void
check_follower_fails(struct pd_model *m, enum follower_act act, const char *what,
                     const char *reason)
{
    char err[PD_ERR_MAX] = "";
    struct group g;
    if (!start_group(&g, m, act))
        return;
    struct pd_context_params p;
    group_params(&p, g.comms[0]);
    struct pd_context *c = NULL;
    int rc = pd_context_new(&c, m, &p, err);
    pd_context_free(c);   /* were it made, the follower would be serving it */
    end_group(&g);
    ok(rc != 0 && c == NULL && strstr(err, "rank 1 of 2") && strstr(err, reason),
       "the follower %s: rank 0 has no context and says why: %s", what, err);
    ok(g.f.rc != 0, "... the follower failed itself: %s", g.f.err);
}

int
main(void)
{
    char err[PD_ERR_MAX];
    struct pd_model *m = NULL;
    alarm(120);   /* a rank waiting for ever fails the test rather than hanging it */
    if (pd_model_load(&m, test_path("data/arch-qwen3.gguf"), err) != 0) {
        ok(0, "load arch-qwen3: %s", err);
        return exit_status();
    }
    check_all_start(m);
    check_driver_abandons(m);
    check_follower_fails(m, ABANDON, "fails before its context", "cannot load the model");
    check_follower_fails(m, BAD_SHARE, "fails making its context", "layer");
    pd_model_free(m);
    done_testing();
    return exit_status();
}
