// SPDX-License-Identifier: GPL-2.0
/*
 * A seeded uverbs fuzzer for ODP MRs of rxe.
 *
 * Threads, each with its own PD, RC QP pairs (loopback), buffers and MR
 * slots, run random operations drawn from a per-thread PRNG stream derived
 * from the seed: registration (explicit ODP with odd offsets and sizes,
 * implicit ODP, pinned, hugetlb ODP, every access combination), dereg,
 * rereg (uverbs command by hand: rdma-core 44's rxe provider has none),
 * advise_mr (uverbs method by hand), posts of every RC opcode with 1-3
 * random SGEs, lengths, keys and remote addresses, QP state changes, and
 * address-space changes of any thread's buffers (MADV_DONTNEED, mmap
 * MAP_FIXED over a range, mremap away and back, mprotect read-only for a
 * while, fork with a child that writes, MADV_PAGEOUT).
 *
 * The oracle: each operation's expected outcome follows from the thread's
 * own model of its MR slots and QP pairs (the keys, ranges, access rights
 * and PD of each MR, the QP state); a buffer's epoch (a seqlock that the
 * content-changing mutators bump) tells whether a mutator raced with the
 * operation, in which case the race statuses are accepted as well and
 * the data are not compared.  Otherwise the data must be exact, byte for
 * byte.  A WR without a completion within --wr-timeout seconds, or a verb
 * that does not return, is a hang.
 *
 * The fuzzing runs in a child process; the parent (which never opens the
 * device) reads the operation lists the child logs in shared memory, so a
 * crash or a hang of the child still leaves the list.  On a failure the
 * parent writes the list to a file (--replay reads it back), then shrinks
 * it by delta debugging: each attempt is a replay in a new child, killed
 * after a timeout; the shortest list that still fails the same way is
 * printed and written to a file too.
 *
 * Usage: see usage() or -h.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <rdma/ib_user_verbs.h>
#include "tap.h"
#include "verbs_util.h"

#define MIB		(1ul << 20)
#define PAGE		4096ul
#define HPAGE		(2ul << 20)
#define MAXT		8
#define MAXPAIRS	32
#define NMR		6		/* MR slots per thread */
#define NBUF		4		/* buffers per thread */
#define MAXOPS		(1ul << 20)	/* ops logged per thread */
#define NTESTS		6
#define DEPTH		8

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT	21
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

#define LW	IBV_ACCESS_LOCAL_WRITE
#define RW	IBV_ACCESS_REMOTE_WRITE
#define RR	IBV_ACCESS_REMOTE_READ
#define RA	IBV_ACCESS_REMOTE_ATOMIC
#define ODP	IBV_ACCESS_ON_DEMAND
#define S(x)	(1u << (x))

/* ---------------------------------------------------------------- ops */

enum { K_REG, K_DEREG, K_REREG, K_ADVISE, K_POST, K_QPERR, K_QPRESET, K_MUT, K_NR };
static const char *const kname[K_NR] = {
	"reg", "dereg", "rereg", "advise", "post", "qperr", "qpreset", "mut"
};

enum { P_WRITE, P_WRITE_IMM, P_READ, P_SEND, P_SEND_IMM, P_CAS, P_FAA, P_NR };
static const char *const pname[P_NR] = {
	"write", "write_imm", "read", "send", "send_imm", "cas", "faa"
};

enum { M_DONTNEED, M_REMAP, M_MREMAP, M_MPROTECT, M_FORK, M_PAGEOUT, M_NR };
static const char *const mname[M_NR] = {
	"dontneed", "remap", "mremap", "mprotect", "fork", "pageout"
};

enum { R_EXPLICIT, R_IMPLICIT, R_PINNED, R_HUGE, R_NR };
static const char *const rname[R_NR] = { "explicit", "implicit", "pinned", "huge" };

/*
 * One operation: a kind, a small argument (opcode, mutation, ...), a QP
 * pair or MR slot, and a 64-bit seed from which every other choice is
 * drawn at execution.  Self-contained: a list with ops removed still runs.
 */
struct op {
	uint8_t kind, arg, idx, pad;
	uint32_t pad2;
	uint64_t seed;
};

/* figures, in ops_by_kind */
enum {
	F_REG = 0,			/* + R_* */
	F_DEREG = F_REG + R_NR, F_DEREG_EMPTY, F_REREG, F_ADVISE,
	F_POST,				/* + P_* */
	F_QPERR = F_POST + P_NR, F_QPRESET,
	F_MUT,				/* + M_* */
	F_NR = F_MUT + M_NR
};

enum { C_NONE, C_HANG, C_STATUS, C_ERRNO, C_DATA, C_CRASH, C_NR };
static const char *const cname[C_NR] = { "none", "hang", "status", "errno", "data", "crash" };

/* shared between the parent and the fuzzing child */
struct shared {
	atomic_int fail_class;
	atomic_int more_failures;
	char fail_msg[1024];
	int fail_thread;
	unsigned long fail_op;
	int nthreads, npairs;
	atomic_ulong nops[MAXT];		/* ops logged per thread */
	atomic_long op_start_ms[MAXT];		/* 0: not in an operation */
	atomic_ulong figs[F_NR];
	atomic_ulong status[32];		/* completion statuses seen */
	atomic_ulong errnos[8];			/* 0, EINVAL, EACCES, ENOENT, EOPNOTSUPP, EFAULT, other */
	atomic_ulong raced, verified_bytes, compares;
	long long ctr0[6], ctr1[6];
	int ctr_ok, huge_ok, implicit_ok, setup_done;
	char dev[64];
};

static const char *const ctrname[6] = {
	"odp_page_faults", "odp_pages_faulted", "odp_invalidations",
	"odp_pages_invalidated", "odp_prefetches", "odp_rnr_naks"
};
static const char *const errname[8] = {
	"0", "EINVAL", "EACCES", "ENOENT", "EOPNOTSUPP", "EFAULT", "other", "?"
};

static struct shared *sh;
static struct op *oplog;	/* shared: MAXOPS per thread */

/* options */
static unsigned long long seed = 1;
static double seconds = 10, wr_timeout = 60, shrink_secs = 240;
static unsigned long max_ops;
static int nthreads = 2, npairs, json, no_shrink, do_shrink, keep_going, recreate;
static const char *replay_file, *dev_name, *out_dir;

/* ---------------------------------------------------------------- prng */

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rn(uint64_t *s, uint64_t n)
{
	return n ? splitmix(s) % n : 0;
}

/* A length from 1 to MAX, small ones likelier (log-uniform). */
static size_t rlen(uint64_t *s, size_t max)
{
	unsigned int b = (unsigned int)rn(s, 23);
	size_t l = 1 + rn(s, 1ull << b);

	return l > max ? 1 + rn(s, max) : l;
}

static double now(void)
{
	return vu_now();
}

static long now_ms(void)
{
	return (long)(vu_now() * 1000) + 1;
}

/* ---------------------------------------------------------------- state */

struct buf {
	char *p;
	size_t len;
	int huge;		/* hugetlb backed */
	int pinned_only;	/* no mutator touches it: pinned MRs live here */
	atomic_ulong epoch;	/* odd while a content-changing mutation runs */
	pthread_rwlock_t cpu;	/* shared: CPU access; exclusive: mapping gone/RO */
};

struct mrslot {
	struct ibv_mr *mr;
	int kind;		/* R_* */
	int buf;		/* explicit, pinned, huge: the buffer */
	uint64_t start, len;
	int access;		/* current: LW|RW|RR|RA */
	int writable;		/* umem writable, from the access at reg */
	int pdi;		/* 0: the QPs' PD, 1: the other one */
	uint32_t lkey, rkey;
	uint32_t stale_lkey, stale_rkey;
};

struct pair {
	struct vu_qp a, b;
	int err;		/* both in the error state */
	int sq_out, rq_out;	/* WRs posted and not completed */
};

struct thr {
	int id;
	pthread_t tid;
	uint64_t rng;
	struct vu_ctx c;		/* c.pd: this thread's PD */
	struct ibv_pd *pd2;
	struct buf b[NBUF];
	struct mrslot m[NMR];
	struct pair *p[MAXPAIRS];
	int np;
	const struct op *list;		/* replay: the ops, else NULL */
	unsigned long nlist;
	unsigned long cur;		/* number of the op running */
	char *snap;			/* expected data */
	size_t snap_len;
};

static struct vu_ctx gc;
static struct thr th[MAXT];
static struct pair pairs[MAXPAIRS];
static int has_implicit, has_huge;
static atomic_int stop;
static double t_end;

static const size_t buf_len[NBUF] = { 1 * MIB, 4 * MIB, 1 * MIB + 3 * PAGE, 2 * MIB };

/* ---------------------------------------------------------------- failure */

static void __attribute__((format(printf, 3, 4)))
fail(struct thr *t, int cls, const char *fmt, ...)
{
	int none = C_NONE;
	va_list ap;

	if (atomic_compare_exchange_strong(&sh->fail_class, &none, cls)) {
		va_start(ap, fmt);
		vsnprintf(sh->fail_msg, sizeof(sh->fail_msg), fmt, ap);
		va_end(ap);
		sh->fail_thread = t ? t->id : -1;
		sh->fail_op = t ? t->cur : 0;
		printf("# FAIL (%s) thread %d op %lu: %s\n", cname[cls], sh->fail_thread,
		       sh->fail_op, sh->fail_msg);
		fflush(stdout);
	} else if (keep_going && atomic_fetch_add(&sh->more_failures, 1) < 100) {
		char m[1024];

		va_start(ap, fmt);
		vsnprintf(m, sizeof(m), fmt, ap);
		va_end(ap);
		printf("# FAIL (%s) thread %d op %lu: %s\n", cname[cls], t ? t->id : -1,
		       t ? t->cur : 0, m);
		fflush(stdout);
	}
	/* --keep-going (for calibrating the oracle): go on but for a hang */
	if (keep_going && cls != C_HANG)
		return;
	/* the first failure ends the child: the parent takes over */
	_exit(1);
}

static int eidx(int e)
{
	switch (e) {
	case 0: return 0;
	case EINVAL: return 1;
	case EACCES: return 2;
	case ENOENT: return 3;
	case EOPNOTSUPP: return 4;
	case EFAULT: return 5;
	default: return 6;
	}
}

static const char *estr(int e)
{
	return e ? strerror(e) : "success";
}

static void check_errno(struct thr *t, const char *what, int got, int want, int alt)
{
	atomic_fetch_add(&sh->errnos[eidx(got)], 1);
	if (got != want && got != alt)
		fail(t, C_ERRNO, "%s: %s (%d), want %s%s%s", what, estr(got), got, estr(want),
		     alt != want ? " or " : "", alt != want ? estr(alt) : "");
}

/* ---------------------------------------------------------------- buffers */

static uint64_t epoch_sum(struct thr *t, unsigned int mask, int *odd)
{
	uint64_t s = 0, e;
	int k;

	for (k = 0; k < NBUF; k++)
		if (mask & (1u << k)) {
			e = atomic_load(&t->b[k].epoch);
			if (e & 1)
				*odd = 1;
			s += e;
		}
	return s;
}

static void lock_bufs(struct thr *t, unsigned int mask)
{
	int k;

	for (k = 0; k < NBUF; k++)
		if (mask & (1u << k))
			pthread_rwlock_rdlock(&t->b[k].cpu);
}

static void unlock_bufs(struct thr *t, unsigned int mask)
{
	int k;

	for (k = 0; k < NBUF; k++)
		if (mask & (1u << k))
			pthread_rwlock_unlock(&t->b[k].cpu);
}

static char *map_buf(size_t len, int huge)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | (huge ? MAP_HUGETLB : 0), -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* ---------------------------------------------------------------- QPs */

static int qp_state(struct ibv_qp *qp, enum ibv_qp_state s)
{
	struct ibv_qp_attr a = { .qp_state = s };

	return ibv_modify_qp(qp, &a, IBV_QP_STATE) ? errno : 0;
}

static int connect_pair(struct thr *t, struct pair *p)
{
	/* retry_cnt 7: rxe retries for ever; both sides are always alive */
	if (vu_qp_connect(&t->c, p->a.qp, p->b.qp->qp_num) ||
	    vu_qp_connect(&t->c, p->b.qp, p->a.qp->qp_num))
		return errno ? errno : -1;
	p->err = 0;
	return 0;
}

/*
 * Complete one WR of QP side Q (a: sends, b: receives) of P within the
 * bound; fill *wc.  Hang otherwise.
 */
static void wait_wc(struct thr *t, struct pair *p, int side_b, struct ibv_wc *wc, const char *what)
{
	struct vu_qp *q = side_b ? &p->b : &p->a;
	int r = vu_poll(q->cq, wc, wr_timeout);

	if (r != 1)
		fail(t, C_HANG, "%s: no completion on QP %u within %.0f s (poll %d)", what,
		     q->qp->qp_num, wr_timeout, r);
	if (side_b)
		p->rq_out--;
	else
		p->sq_out--;
	atomic_fetch_add(&sh->status[wc->status & 31], 1);
}

/* Both QPs to ERR, every outstanding WR flushed, RESET, back to RTS. */
static void reset_pair(struct thr *t, struct pair *p)
{
	struct ibv_wc wc;
	int e;

	e = qp_state(p->a.qp, IBV_QPS_ERR);
	check_errno(t, "modify_qp(ERR) of requester", e, 0, 0);
	e = qp_state(p->b.qp, IBV_QPS_ERR);
	check_errno(t, "modify_qp(ERR) of responder", e, 0, 0);
	while (p->sq_out > 0)
		wait_wc(t, p, 0, &wc, "flush of the send queue");
	while (p->rq_out > 0)
		wait_wc(t, p, 1, &wc, "flush of the receive queue");
	/* nothing more may come */
	if (ibv_poll_cq(p->a.cq, 1, &wc) > 0 || ibv_poll_cq(p->b.cq, 1, &wc) > 0)
		fail(t, C_STATUS, "completion beyond the WRs posted (wr_id %llu, status %s)",
		     (unsigned long long)wc.wr_id, ibv_wc_status_str(wc.status));
	e = qp_state(p->a.qp, IBV_QPS_RESET);
	check_errno(t, "modify_qp(RESET) of requester", e, 0, 0);
	e = qp_state(p->b.qp, IBV_QPS_RESET);
	check_errno(t, "modify_qp(RESET) of responder", e, 0, 0);
	e = connect_pair(t, p);
	check_errno(t, "modify_qp(INIT, RTR, RTS)", e, 0, 0);
}

/*
 * --recreate: a pair whose WR failed is replaced by new QPs instead of
 * being reset.  A work-around: rxe_qp_reset() leaves comp.opcode as it
 * was, so after a READ that failed in the middle of its responses
 * (IBV_WC_LOC_PROT_ERR) a reset QP's next READ or atomic completes with
 * IBV_WC_SUCCESS and no data, and rxe_completer() WARNs (COMPST_ERROR
 * with a successful status).  The explicit resets of qpreset stay.
 */
static void recreate_pair(struct thr *t, struct pair *p)
{
	vu_qp_destroy(&p->a);
	vu_qp_destroy(&p->b);
	p->sq_out = p->rq_out = 0;
	if (vu_qp_create(&t->c, &p->a, DEPTH) || vu_qp_create(&t->c, &p->b, DEPTH) ||
	    connect_pair(t, p))
		fail(t, C_ERRNO, "new QP pair: %s", strerror(errno));
}

/* ---------------------------------------------------------------- MRs */

static bool key_live(struct thr *t, uint32_t key)
{
	int i;

	for (i = 0; i < NMR; i++)
		if (t->m[i].mr && (t->m[i].lkey == key || t->m[i].rkey == key))
			return true;
	return false;
}

/* A key that names no MR of this thread's PD: a stale one or none at all. */
static uint32_t bad_key(struct thr *t, uint64_t *r, uint32_t stale)
{
	if (stale && !key_live(t, stale) && rn(r, 2))
		return stale;
	return 0xffffff00u | (uint32_t)rn(r, 256);	/* an index rxe never gives */
}

static void do_dereg(struct thr *t, struct mrslot *s)
{
	int e = ibv_dereg_mr(s->mr) ? errno : 0;

	check_errno(t, "dereg_mr", e, 0, 0);
	s->stale_lkey = s->lkey;
	s->stale_rkey = s->rkey;
	s->mr = NULL;
}

static void op_reg(struct thr *t, const struct op *o)
{
	struct mrslot *s = &t->m[o->idx % NMR];
	uint64_t r = o->seed;
	int kind = o->arg % R_NR, acc = 0, want = 0, k, flags;
	size_t off = 0, len = SIZE_MAX;
	void *addr = NULL;
	struct ibv_mr *mr;
	char what[160];

	if (s->mr)
		do_dereg(t, s);
	/* every combination, all rights half of the time */
	if (rn(&r, 2)) {
		acc = LW | RW | RR | RA;
	} else {
		if (rn(&r, 2)) acc |= LW;
		if (rn(&r, 2)) acc |= RW;
		if (rn(&r, 2)) acc |= RR;
		if (rn(&r, 2)) acc |= RA;
	}
	if (kind == R_IMPLICIT && !has_implicit)
		kind = R_EXPLICIT;
	if (kind == R_HUGE && !has_huge)
		kind = R_EXPLICIT;
	flags = acc | (kind == R_PINNED ? 0 : ODP);
	switch (kind) {
	case R_EXPLICIT:
		k = (int)rn(&r, NBUF);
		break;
	case R_PINNED:
		k = 0;		/* the buffer no mutator touches */
		break;
	case R_HUGE:
		k = 3;
		flags |= IBV_ACCESS_HUGETLB;
		break;
	default:
		k = -1;
	}
	if (k >= 0) {
		off = rn(&r, 4) ? rn(&r, t->b[k].len) : rn(&r, t->b[k].len / PAGE) * PAGE;
		len = rlen(&r, t->b[k].len - off);
		addr = t->b[k].p + off;
	}
	if ((acc & (RW | RA)) && !(acc & LW))
		want = EINVAL;	/* IBA: remote write or atomic needs local write */
	snprintf(what, sizeof(what), "reg_mr %s buf %d +%zu len %zu access %#x",
		 rname[kind], k, off, len, flags);
	mr = ibv_reg_mr(t->c.pd, addr, len, flags);
	check_errno(t, what, mr ? 0 : errno, want, want);
	atomic_fetch_add(&sh->figs[F_REG + kind], 1);
	if (!mr)
		return;
	s->mr = mr;
	s->kind = kind;
	s->buf = k;
	s->start = (uintptr_t)addr;
	s->len = len;
	s->access = acc;
	s->writable = !!(acc & (LW | RW | RA));
	s->pdi = 0;
	s->lkey = mr->lkey;
	s->rkey = mr->rkey;
}

static void op_dereg(struct thr *t, const struct op *o)
{
	struct mrslot *s = &t->m[o->idx % NMR];

	if (!s->mr) {
		atomic_fetch_add(&sh->figs[F_DEREG_EMPTY], 1);
		return;
	}
	do_dereg(t, s);
	atomic_fetch_add(&sh->figs[F_DEREG], 1);
}

static void op_rereg(struct thr *t, const struct op *o)
{
	struct mrslot *s = &t->m[o->idx % NMR];
	uint64_t r = o->seed;
	int sel = o->arg % 4, acc = 0, flags, want = 0, odp, e;
	uint32_t lk = 0, rk = 0;
	char what[160];

	if (!s->mr)
		return;
	if (rn(&r, 2)) acc |= LW;
	if (rn(&r, 2)) acc |= RW;
	if (rn(&r, 2)) acc |= RR;
	if (rn(&r, 2)) acc |= RA;
	odp = s->kind != R_PINNED;
	if (!rn(&r, 16))
		odp = !odp;	/* cannot change: the umem stays */
	flags = sel == 0 ? IBV_REREG_MR_CHANGE_ACCESS :
		sel == 1 ? IBV_REREG_MR_CHANGE_PD :
		sel == 2 ? IBV_REREG_MR_CHANGE_ACCESS | IBV_REREG_MR_CHANGE_PD :
		IBV_REREG_MR_CHANGE_TRANSLATION;
	/* the order of the checks of uverbs and rxe_rereg_user_mr() */
	if ((flags & IBV_REREG_MR_CHANGE_ACCESS) && (acc & (RW | RA)) && !(acc & LW))
		want = EINVAL;
	else if (flags & IBV_REREG_MR_CHANGE_TRANSLATION)
		want = EOPNOTSUPP;	/* rxe: PD and access only */
	else if ((flags & IBV_REREG_MR_CHANGE_ACCESS) && (acc & (LW | RW | RA)) && !s->writable)
		want = EACCES;		/* ib_umem_check_rereg() */
	else if ((flags & IBV_REREG_MR_CHANGE_ACCESS) && odp != (s->kind != R_PINNED))
		want = EOPNOTSUPP;
	snprintf(what, sizeof(what), "rereg_mr %s flags %#x access %#x (was %#x, %s umem)",
		 rname[s->kind], flags, acc | (odp ? ODP : 0), s->access,
		 s->writable ? "writable" : "read-only");
	e = vu_rereg_mr(s->mr, flags, acc | (odp ? ODP : 0), s->pdi ? t->c.pd : t->pd2, &lk, &rk);
	check_errno(t, what, e, want, want);
	atomic_fetch_add(&sh->figs[F_REREG], 1);
	if (e)
		return;
	if (flags & IBV_REREG_MR_CHANGE_ACCESS)
		s->access = acc;
	if (flags & IBV_REREG_MR_CHANGE_PD)
		s->pdi = !s->pdi;
	if (lk != s->lkey || rk != s->rkey)
		fail(t, C_ERRNO, "rereg_mr changed the keys %#x/%#x to %#x/%#x", s->lkey, s->rkey,
		     lk, rk);
}

/* ---------------------------------------------------------------- SGEs */

/* What an SGE or a remote range names, for the oracle. */
struct ref {
	uint64_t addr;
	uint32_t len, key;
	int slot;		/* -1: a bad key */
	int buf;		/* the buffer of [addr, addr + len) */
	bool valid;		/* key of a live MR of the QPs' PD, range inside */
	int access;		/* the MR's */
	bool writable;		/* umem */
	bool odp;
	uint64_t ms, me;	/* the MR's range (implicit: the buffer) */
	int pdi;
	bool implicit;
};

/* After LEN changed: still inside the MR? */
static void revalidate(struct ref *f, uint32_t len)
{
	if (f->slot < 0)
		return;
	f->valid = f->pdi == 0 && (f->implicit || (f->addr >= f->ms && f->addr + len <= f->me));
}

/*
 * A range of LEN bytes (shortened to what fits) through a random MR slot
 * of T: mostly inside the MR, sometimes across its start or end, in one
 * of T's buffers; a bad key when the slot is empty.
 */
static void pick_ref(struct thr *t, uint64_t *r, uint32_t len, bool remote, struct ref *f)
{
	struct mrslot *s;
	uint64_t bs, be, ms, me, a;
	int k, live[NMR], nlive = 0;

	/* mostly a registered MR */
	for (k = 0; k < NMR; k++)
		if (t->m[k].mr)
			live[nlive++] = k;
	if (nlive && rn(r, 8))
		s = &t->m[live[rn(r, (uint64_t)nlive)]];
	else
		s = &t->m[rn(r, NMR)];

	memset(f, 0, sizeof(*f));
	f->slot = (int)(s - t->m);
	if (!s->mr || (s->kind == R_IMPLICIT)) {
		k = (int)rn(r, NBUF);
		ms = (uintptr_t)t->b[k].p;
		me = ms + t->b[k].len;
	} else {
		k = s->buf;
		ms = s->start;
		me = s->start + s->len;
	}
	bs = (uintptr_t)t->b[k].p;
	be = bs + t->b[k].len;
	if (len > me - ms)
		len = (uint32_t)(me - ms);
	/* half of the time near the start: ops and mutators meet there */
	a = ms + rn(r, rn(r, 2) || me - ms - len + 1 < 65536 ? me - ms - len + 1 : 65536);
	if (s->mr && s->kind != R_IMPLICIT && !rn(r, 16)) {
		/* across an end of the MR, inside the buffer */
		if (rn(r, 2) && me < be) {
			uint64_t x = 1 + rn(r, be - me < 64 ? be - me : 64);

			a = me + x - len > ms ? me + x - len : ms;
			if (a + len > be)
				len = (uint32_t)(be - a);
		} else if (ms > bs) {
			a = ms - 1 - rn(r, ms - bs < 64 ? ms - bs : 64);
			if (a + len > be)
				len = (uint32_t)(be - a);
		}
	}
	f->addr = a;
	f->len = len;
	f->buf = k;
	f->ms = ms;
	f->me = me;
	if (!s->mr) {
		f->slot = -1;
		f->key = bad_key(t, r, remote ? s->stale_rkey : s->stale_lkey);
		return;
	}
	f->key = remote ? s->rkey : s->lkey;
	if (!rn(r, 32)) {
		/* the key of the slot with a wrong key byte */
		f->key ^= 1 + (uint32_t)rn(r, 255);
		if (key_live(t, f->key)) {
			f->key = bad_key(t, r, 0);
		}
		f->slot = -1;
		return;
	}
	f->access = s->access;
	f->writable = s->writable;
	f->odp = s->kind != R_PINNED;
	f->pdi = s->pdi;
	f->implicit = s->kind == R_IMPLICIT;
	f->valid = s->pdi == 0 && (s->kind == R_IMPLICIT || (a >= ms && a + len <= me));
}

/* "slot/kind/buffer+offset/len/access[!]" of a reference, for reports */
static int ref_text(struct thr *t, char *b, size_t n, const char *tag, const struct ref *f)
{
	const struct mrslot *s = f->slot >= 0 ? &t->m[f->slot] : NULL;

	return snprintf(b, n, " %s[%s%d %s b%d+%#llx len %u acc %#x%s]", tag,
			s ? "slot " : "badkey ", s ? f->slot : -1,
			s && s->mr ? rname[s->kind] : "-", f->buf,
			(unsigned long long)(f->addr - (uintptr_t)t->b[f->buf].p), f->len,
			f->access, f->valid ? "" : " invalid");
}

static bool overlap(const struct ref *x, const struct ref *y)
{
	return x->addr < y->addr + y->len && y->addr < x->addr + x->len;
}

static void fill_pattern(char *p, size_t len, uint64_t s)
{
	size_t i = 0;
	uint64_t w;

	while (i < len) {
		w = splitmix(&s);
		for (int j = 0; j < 8 && i < len; j++, i++)
			p[i] = (char)(w >> (8 * j));
	}
}

static void snap_need(struct thr *t, size_t len)
{
	if (t->snap_len < len) {
		free(t->snap);
		t->snap = malloc(len);
		if (!t->snap)
			tap_bail("malloc %zu", len);
		t->snap_len = len;
	}
}

/* ---------------------------------------------------------------- posts */

/*
 * A local SGE error found by rxe's requester (WRITE, SEND: the data it
 * reads) moves the QP to ERR before the completer sees the WQE, which the
 * completer then flushes like the rest: IBV_WC_WR_FLUSH_ERR instead of
 * the IBV_WC_LOC_PROT_ERR of IBA (rxe_requester(): rxe_qp_error(), then
 * rxe_completer(): flush_send_queue()); upstream rxe behaviour, not ODP's.
 */
#define LOCAL_ERR	(S(IBV_WC_LOC_PROT_ERR) | S(IBV_WC_WR_FLUSH_ERR))

#define RACE_STATUSES	(S(IBV_WC_SUCCESS) | S(IBV_WC_WR_FLUSH_ERR) | S(IBV_WC_REM_ACCESS_ERR) | S(IBV_WC_LOC_PROT_ERR) | \
			 S(IBV_WC_LOC_ACCESS_ERR) | S(IBV_WC_REM_OP_ERR) | S(IBV_WC_LOC_QP_OP_ERR))

static void op_post(struct thr *t, const struct op *o)
{
	struct pair *p = t->p[o->idx % t->np];
	int opc = o->arg % P_NR, nl, nr = 0, i, odd = 0;
	uint64_t r = o->seed, e0, e1;
	struct ref loc[3], rem = { 0 }, rcv[3];
	struct ibv_sge sg[3], rsg[3];
	struct ibv_send_wr wr, *bad;
	struct ibv_recv_wr rwr, *rbad;
	struct ibv_wc wc, rwc;
	bool atomic = opc == P_CAS || opc == P_FAA, has_recv, compare = true, lerr = false;
	bool rerr = false, lperm = false, misaligned = false, raced;
	uint32_t want = 0, rwant = 0, total = 0, rtotal = 0;
	unsigned int mask = 0;
	uint64_t v0 = 0, v1 = 0, add = 0, *res = NULL;
	char what[1024];
	size_t len;

	memset(&wr, 0, sizeof(wr));
	memset(&rwr, 0, sizeof(rwr));
	/* local SGEs */
	if (atomic) {
		nl = 1;
		pick_ref(t, &r, 8, false, &loc[0]);
		if (loc[0].len < 8)
			nl = 0;		/* no 8 bytes there: nothing to post */
	} else {
		len = rlen(&r, 4 * MIB);
		nl = 1 + (int)rn(&r, 3);
		for (i = 0; i < nl; i++)
			pick_ref(t, &r, (uint32_t)(i == nl - 1 ? len : 1 + rn(&r, len)), false,
				 &loc[i]);
	}
	if (!nl)
		return;
	for (i = 0; i < nl; i++) {
		sg[i] = (struct ibv_sge){ loc[i].addr, loc[i].len, loc[i].key };
		total += loc[i].len;
		mask |= 1u << loc[i].buf;
		if (!loc[i].valid)
			lerr = true;
		else if ((opc == P_READ || atomic) && !(loc[i].access & LW))
			lperm = true;
		for (int j = 0; j < i; j++)
			if (overlap(&loc[i], &loc[j]) && (opc == P_READ || atomic))
				compare = false;
	}
	/* the remote side */
	if (opc == P_SEND || opc == P_SEND_IMM) {
		uint32_t want_r = rn(&r, 10) ? total + (uint32_t)rn(&r, 4096) :
				  1 + (uint32_t)rn(&r, total);

		nr = 1 + (int)rn(&r, 3);
		for (i = 0; i < nr; i++) {
			pick_ref(t, &r, i == nr - 1 ? (want_r > rtotal ? want_r - rtotal : 1) :
				 1 + (uint32_t)rn(&r, want_r), false, &rcv[i]);
			rsg[i] = (struct ibv_sge){ rcv[i].addr, rcv[i].len, rcv[i].key };
			rtotal += rcv[i].len;
			mask |= 1u << rcv[i].buf;
			for (int j = 0; j < nl; j++)
				if (overlap(&rcv[i], &loc[j]))
					compare = false;
			for (int j = 0; j < i; j++)
				if (overlap(&rcv[i], &rcv[j]))
					compare = false;
		}
	} else {
		pick_ref(t, &r, atomic ? 8 : total, true, &rem);
		if (atomic) {
			if (rem.len < 8)
				return;
			uint64_t bs = (uintptr_t)t->b[rem.buf].p, be = bs + t->b[rem.buf].len;

			rem.addr &= ~7ull;
			if (!rn(&r, 16))
				rem.addr += 1 + rn(&r, 7);	/* the spec's misaligned atomic */
			if (rem.addr + 8 > be)
				rem.addr -= 8;
			misaligned = rem.addr & 7;
			/* the range moved: inside the MR still? */
			if (rem.slot >= 0 && t->m[rem.slot].kind != R_IMPLICIT)
				rem.valid = rem.pdi == 0 && rem.addr >= rem.ms &&
					    rem.addr + 8 <= rem.me;
		} else if (rem.len < total) {
			/* the remote range decides the length: shorten the last SGE */
			uint32_t cut = total - rem.len;

			for (i = nl - 1; i >= 0 && cut; i--) {
				uint32_t c = cut < sg[i].length - 1 ? cut : sg[i].length - 1;

				sg[i].length -= c;
				loc[i].len -= c;
				revalidate(&loc[i], loc[i].len);
				cut -= c;
			}
			if (cut)
				return;
			total = rem.len;
		}
		mask |= 1u << rem.buf;
		for (i = 0; i < nl; i++)
			if (overlap(&rem, &loc[i]))
				compare = false;
		if (opc == P_WRITE || opc == P_WRITE_IMM)
			rerr = !rem.valid || !(rem.access & RW);
		else if (opc == P_READ)
			rerr = !rem.valid || !(rem.access & RR);
		else
			rerr = !rem.valid || !(rem.access & RA);
	}
	has_recv = !p->err && (opc == P_SEND || opc == P_SEND_IMM || opc == P_WRITE_IMM);
	lerr = lperm = false;
	for (i = 0; i < nl; i++)
		if (!loc[i].valid)
			lerr = true;
		else if ((opc == P_READ || atomic) && !(loc[i].access & LW))
			lperm = true;

	/* the oracle */
	if (p->err) {
		want = S(IBV_WC_WR_FLUSH_ERR);
	} else if (opc == P_WRITE || opc == P_WRITE_IMM) {
		if (lerr && rerr)
			want = LOCAL_ERR | S(IBV_WC_REM_ACCESS_ERR);
		else if (lerr)
			want = LOCAL_ERR;
		else if (rerr)
			want = S(IBV_WC_REM_ACCESS_ERR);
		else
			want = S(IBV_WC_SUCCESS);
		rwant = S(IBV_WC_SUCCESS);
	} else if (opc == P_READ || atomic) {
		if (rerr)
			want = S(IBV_WC_REM_ACCESS_ERR);
		else if (misaligned)
			want = S(IBV_WC_REM_INV_REQ_ERR);
		else if (lerr || lperm)
			want = S(IBV_WC_LOC_PROT_ERR);
		else
			want = S(IBV_WC_SUCCESS);
	} else {
		/* SEND: the receive SGEs the message reaches */
		uint32_t at = 0;
		bool rbad_reached = false, rbad_any = false;

		for (i = 0; i < nr; i++) {
			bool ok = rcv[i].valid && (rcv[i].access & LW);

			/* rxe checks the bytes of an SGE that the message fills */
			if (at < total && rcv[i].len > total - at) {
				struct ref part = rcv[i];

				revalidate(&part, total - at);
				if (part.valid && (part.access & LW))
					ok = true;
				else if (!ok)
					rbad_reached = true;
				if (!rcv[i].valid || !(rcv[i].access & LW))
					rbad_any = true;
			} else if (!ok) {
				rbad_any = true;
				if (at < total)
					rbad_reached = true;
			}
			at += rcv[i].len;
		}
		if (lerr) {
			/* the first packets may meet the receive's error first */
			want = LOCAL_ERR | (rtotal < total ? S(IBV_WC_REM_INV_REQ_ERR) |
					    S(IBV_WC_REM_OP_ERR) : 0) |
			       (rbad_reached ? S(IBV_WC_REM_OP_ERR) : 0);
			rwant = 0;
		} else if (rtotal < total || rbad_reached) {
			/*
			 * A receive too short: IBA's invalid request NAK, or
			 * what rxe answers (copy_data() fails with -EINVAL,
			 * not -ENOSPC: a malformed WQE, remote operation error).
			 */
			want = (rtotal < total ? S(IBV_WC_REM_INV_REQ_ERR) | S(IBV_WC_REM_OP_ERR) : 0) |
			       (rbad_reached ? S(IBV_WC_REM_OP_ERR) : 0);
			rwant = S(IBV_WC_REM_INV_REQ_ERR) | S(IBV_WC_LOC_LEN_ERR) |
				S(IBV_WC_LOC_QP_OP_ERR) | S(IBV_WC_LOC_PROT_ERR);
		} else {
			want = S(IBV_WC_SUCCESS);
			if (rbad_any)
				want |= S(IBV_WC_REM_OP_ERR);
			rwant = S(IBV_WC_SUCCESS) | (rbad_any ? S(IBV_WC_LOC_QP_OP_ERR) |
						     S(IBV_WC_LOC_PROT_ERR) : 0);
		}
	}

	/* the data */
	lock_bufs(t, mask);
	e0 = epoch_sum(t, mask, &odd);
	if (opc == P_WRITE || opc == P_WRITE_IMM || opc == P_SEND || opc == P_SEND_IMM) {
		size_t at = 0;

		for (i = 0; i < nl; i++)
			fill_pattern((char *)(uintptr_t)sg[i].addr, sg[i].length, r + i);
		snap_need(t, total);
		for (i = 0; i < nl; i++) {
			memcpy(t->snap + at, (char *)(uintptr_t)sg[i].addr, sg[i].length);
			at += sg[i].length;
		}
		if (opc == P_WRITE || opc == P_WRITE_IMM)
			memset((char *)(uintptr_t)rem.addr, 0xa5, rem.len);
		else
			for (i = 0; i < nr; i++)
				memset((char *)(uintptr_t)rsg[i].addr, 0xa5, rsg[i].length);
	} else if (opc == P_READ) {
		fill_pattern((char *)(uintptr_t)rem.addr, total, r);
		snap_need(t, total);
		memcpy(t->snap, (char *)(uintptr_t)rem.addr, total);
		for (i = 0; i < nl; i++)
			memset((char *)(uintptr_t)sg[i].addr, 0xa5, sg[i].length);
	} else {
		res = (uint64_t *)(uintptr_t)sg[0].addr;
		v0 = splitmix(&r);
		v1 = splitmix(&r);
		add = splitmix(&r);
		memcpy((char *)(uintptr_t)rem.addr, &v0, 8);
		memset(res, 0xa5, 8);
	}
	unlock_bufs(t, mask);

	/* post */
	wr.wr_id = t->cur;
	wr.sg_list = sg;
	wr.num_sge = nl;
	wr.send_flags = IBV_SEND_SIGNALED;
	switch (opc) {
	case P_WRITE: wr.opcode = IBV_WR_RDMA_WRITE; break;
	case P_WRITE_IMM: wr.opcode = IBV_WR_RDMA_WRITE_WITH_IMM; break;
	case P_READ: wr.opcode = IBV_WR_RDMA_READ; break;
	case P_SEND: wr.opcode = IBV_WR_SEND; break;
	case P_SEND_IMM: wr.opcode = IBV_WR_SEND_WITH_IMM; break;
	case P_CAS: wr.opcode = IBV_WR_ATOMIC_CMP_AND_SWP; break;
	case P_FAA: wr.opcode = IBV_WR_ATOMIC_FETCH_AND_ADD; break;
	}
	wr.imm_data = htonl((uint32_t)o->seed);
	if (atomic) {
		wr.wr.atomic.remote_addr = rem.addr;
		wr.wr.atomic.rkey = rem.key;
		/* CAS: the compare value matches half of the time */
		wr.wr.atomic.compare_add = opc == P_FAA ? add : (o->seed & 1) ? v0 : v0 ^ 1;
		wr.wr.atomic.swap = v1;
	} else if (opc != P_SEND && opc != P_SEND_IMM) {
		wr.wr.rdma.remote_addr = rem.addr;
		wr.wr.rdma.rkey = rem.key;
	}
	snprintf(what, sizeof(what), "post %s on QP %u%s: %d SGE(s) %u bytes%s%s%s%s",
		 pname[opc], p->a.qp->qp_num, p->err ? " (in ERR)" : "", nl, total,
		 lerr ? ", bad local SGE" : "", lperm ? ", local SGE not writable" : "",
		 rerr ? ", bad remote key/range/access" : "", misaligned ? ", misaligned" : "");
	{
		size_t w = strlen(what);

		for (i = 0; i < nl && w < sizeof(what); i++)
			w += ref_text(t, what + w, sizeof(what) - w, "L", &loc[i]);
		if (nr)
			for (i = 0; i < nr && w < sizeof(what); i++)
				w += ref_text(t, what + w, sizeof(what) - w, "R", &rcv[i]);
		else if (w < sizeof(what))
			ref_text(t, what + w, sizeof(what) - w, "T", &rem);
	}
	if (has_recv) {
		rwr.wr_id = t->cur;
		rwr.sg_list = opc == P_WRITE_IMM ? NULL : rsg;
		rwr.num_sge = opc == P_WRITE_IMM ? 0 : nr;
		i = ibv_post_recv(p->b.qp, &rwr, &rbad);
		if (i)
			fail(t, C_ERRNO, "%s: ibv_post_recv: %s (%d)", what, strerror(i < 0 ? -i : i), i);
		p->rq_out++;
	}
	i = ibv_post_send(p->a.qp, &wr, &bad);
	if (i) {
		/*
		 * rdma-core's rxe provider refuses a misaligned atomic when it
		 * is posted (EINVAL, returned negated): allowed, as is the
		 * responder's invalid request NAK of IBA.
		 */
		i = i < 0 ? -i : i;
		atomic_fetch_add(&sh->errnos[eidx(i)], 1);
		if (!(misaligned && i == EINVAL))
			fail(t, C_ERRNO, "%s: ibv_post_send: %s (%d)", what, strerror(i), i);
		if (has_recv)
			reset_pair(t, p);	/* nothing failed mid-READ */
		return;
	}
	p->sq_out++;
	atomic_fetch_add(&sh->figs[F_POST + opc], 1);
	wait_wc(t, p, 0, &wc, what);
	if (wc.wr_id != t->cur)
		fail(t, C_STATUS, "%s: completion of wr_id %llu, want %lu", what,
		     (unsigned long long)wc.wr_id, t->cur);
	if (has_recv && wc.status == IBV_WC_SUCCESS)
		wait_wc(t, p, 1, &rwc, what);

	/* check */
	lock_bufs(t, mask);
	e1 = epoch_sum(t, mask, &odd);
	raced = odd || e0 != e1;
	if (raced)
		atomic_fetch_add(&sh->raced, 1);
	if (!(S(wc.status) & want) && !(raced && (S(wc.status) & RACE_STATUSES)))
		fail(t, C_STATUS, "%s: status %s (%d)%s", what, ibv_wc_status_str(wc.status),
		     wc.status, raced ? " (raced with a mutator)" : "");
	if (has_recv && wc.status == IBV_WC_SUCCESS) {
		if (!(S(rwc.status) & rwant) && !(raced && (S(rwc.status) & RACE_STATUSES)))
			fail(t, C_STATUS, "%s: receive status %s (%d)", what,
			     ibv_wc_status_str(rwc.status), rwc.status);
		if (rwc.status == IBV_WC_SUCCESS) {
			bool imm = opc != P_SEND;

			if (rwc.byte_len != (opc == P_WRITE_IMM ? 0 : total) && opc != P_WRITE_IMM)
				fail(t, C_DATA, "%s: receive byte_len %u, want %u", what,
				     rwc.byte_len, total);
			if (imm != !!(rwc.wc_flags & IBV_WC_WITH_IMM) ||
			    (imm && rwc.imm_data != htonl((uint32_t)o->seed)))
				fail(t, C_DATA, "%s: receive immediate flag %d data %#x, want %d %#x",
				     what, !!(rwc.wc_flags & IBV_WC_WITH_IMM), ntohl(rwc.imm_data),
				     imm, (uint32_t)o->seed);
		}
	}
	if (wc.status == IBV_WC_SUCCESS && compare && !raced) {
		long bad_at = -1;

		atomic_fetch_add(&sh->compares, 1);
		if (opc == P_WRITE || opc == P_WRITE_IMM) {
			const char *d = (const char *)(uintptr_t)rem.addr;

			for (i = 0; i < (int)total && bad_at < 0; i++)
				if (d[i] != t->snap[i])
					bad_at = i;
		} else if (opc == P_READ || opc == P_SEND || opc == P_SEND_IMM) {
			struct ibv_sge *g = opc == P_READ ? sg : rsg;
			int n = opc == P_READ ? nl : nr;
			uint32_t at = 0;

			for (i = 0; i < n && at < total && bad_at < 0; i++) {
				const char *d = (const char *)(uintptr_t)g[i].addr;
				uint32_t l = g[i].length < total - at ? g[i].length : total - at;

				for (uint32_t j = 0; j < l; j++)
					if (d[j] != t->snap[at + j]) {
						bad_at = at + j;
						break;
					}
				at += l;
			}
		} else {
			uint64_t got, mem, wmem;

			memcpy(&got, res, 8);
			memcpy(&mem, (char *)(uintptr_t)rem.addr, 8);
			wmem = opc == P_FAA ? v0 + add : (o->seed & 1) ? v1 : v0;
			if (got != v0 || mem != wmem)
				fail(t, C_DATA, "%s: atomic returned %#llx (want %#llx), memory %#llx (want %#llx)",
				     what, (unsigned long long)got, (unsigned long long)v0,
				     (unsigned long long)mem, (unsigned long long)wmem);
		}
		if (bad_at >= 0)
			fail(t, C_DATA, "%s: byte %ld of %u differs from what was sent (%s MR)", what,
			     bad_at, total,
			     opc == P_READ ? (loc[0].odp ? "odp" : "pinned") :
			     rem.slot >= 0 && t->m[rem.slot].kind == R_IMPLICIT ? "implicit" : "odp");
		atomic_fetch_add(&sh->verified_bytes, total);
	}
	unlock_bufs(t, mask);
	/* an error takes the pair to ERR: back to RTS (a flushed one stays) */
	if (wc.status != IBV_WC_SUCCESS && !p->err && recreate)
		recreate_pair(t, p);
	else if ((wc.status != IBV_WC_SUCCESS && !p->err) || (p->err && rn(&r, 2)))
		reset_pair(t, p);
}

/* ---------------------------------------------------------------- advise */

static void op_advise(struct thr *t, const struct op *o)
{
	static const uint32_t adv[3] = {
		IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH, IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_WRITE,
		IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT
	};
	uint64_t r = o->seed, e0, e1;
	int sel = o->arg % 8, n = 1 + (int)rn(&r, 2), i, want = 0, got, odd = 0;
	uint32_t advice = sel == 7 ? 77 : adv[sel % 3];
	uint32_t flags = rn(&r, 2) ? IB_UVERBS_ADVISE_MR_FLAG_FLUSH : 0;
	struct ibv_sge sg[2];
	struct ref f[2];
	unsigned int mask = 0;
	char what[160];

	for (i = 0; i < n; i++) {
		pick_ref(t, &r, (uint32_t)rlen(&r, 4 * MIB), false, &f[i]);
		sg[i] = (struct ibv_sge){ f[i].addr, f[i].len, f[i].key };
		mask |= 1u << f[i].buf;
	}
	if (sel == 7) {
		want = EOPNOTSUPP;
	} else {
		for (i = 0; i < n && !want; i++) {
			struct mrslot *s = f[i].slot >= 0 ? &t->m[f[i].slot] : NULL;

			if (!s || !s->mr || s->pdi || s->kind == R_PINNED)
				want = ENOENT;
			else if (advice == IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_WRITE && !s->writable)
				want = EACCES;
			else if (!f[i].valid)
				want = EINVAL;
		}
	}
	snprintf(what, sizeof(what), "advise_mr advice %u flags %u, %d SGE(s)", advice, flags, n);
	e0 = epoch_sum(t, mask, &odd);
	got = -vu_advise_mr(t->c.pd, advice, flags, sg, n);
	e1 = epoch_sum(t, mask, &odd);
	atomic_fetch_add(&sh->figs[F_ADVISE], 1);
	/* a synchronous prefetch of a range a mutator has taken away */
	check_errno(t, what, got, want, !want && flags && (odd || e0 != e1) ? EFAULT : want);
}

/* ---------------------------------------------------------------- QP state */

static void op_qperr(struct thr *t, const struct op *o)
{
	struct pair *p = t->p[o->idx % t->np];

	atomic_fetch_add(&sh->figs[F_QPERR], 1);
	check_errno(t, "modify_qp(ERR) of requester", qp_state(p->a.qp, IBV_QPS_ERR), 0, 0);
	check_errno(t, "modify_qp(ERR) of responder", qp_state(p->b.qp, IBV_QPS_ERR), 0, 0);
	p->err = 1;
}

static void op_qpreset(struct thr *t, const struct op *o)
{
	struct pair *p = t->p[o->idx % t->np];

	atomic_fetch_add(&sh->figs[F_QPRESET], 1);
	reset_pair(t, p);
}

/* ---------------------------------------------------------------- mutators */

static void child_sig(int sig)
{
	(void)sig;
	_exit(0);
}

static void op_mut(struct thr *t, const struct op *o)
{
	uint64_t r = o->seed;
	int m = o->arg % M_NR, u = (int)rn(&r, (uint64_t)nthreads), k = 1 + (int)rn(&r, NBUF - 1);
	struct buf *b = &th[u].b[k];
	size_t pages = b->len / PAGE, first, n;
	char *p, *q;
	int e = 0;
	pid_t pid;

	if (b->huge) {
		first = 0;
		n = pages;
		if (m == M_REMAP || m == M_MREMAP || m == M_PAGEOUT)
			m = M_DONTNEED;
	} else {
		first = rn(&r, rn(&r, 2) ? pages : 16);
		n = 1 + rn(&r, rn(&r, 2) ? pages - first : 8);
	}
	p = b->p + first * PAGE;
	atomic_fetch_add(&sh->figs[F_MUT + m], 1);
	switch (m) {
	case M_DONTNEED:
		atomic_fetch_add(&b->epoch, 1);
		e = madvise(p, n * PAGE, MADV_DONTNEED) ? errno : 0;
		atomic_fetch_add(&b->epoch, 1);
		check_errno(t, "madvise(MADV_DONTNEED)", e, 0, 0);
		break;
	case M_REMAP:
		/* new zero pages at the same address, in one step (no hole) */
		pthread_rwlock_wrlock(&b->cpu);
		atomic_fetch_add(&b->epoch, 1);
		q = mmap(p, n * PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		e = q == p ? 0 : errno;
		atomic_fetch_add(&b->epoch, 1);
		pthread_rwlock_unlock(&b->cpu);
		check_errno(t, "mmap(MAP_FIXED) over a buffer", e, 0, 0);
		break;
	case M_MREMAP:
		/* away (the range stays mapped, empty) and back */
		pthread_rwlock_wrlock(&b->cpu);
		atomic_fetch_add(&b->epoch, 1);
		q = mremap(p, n * PAGE, n * PAGE, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL);
		if (q == MAP_FAILED) {
			e = errno;
		} else if (mremap(q, n * PAGE, n * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, p) != p) {
			e = errno;
			munmap(q, n * PAGE);
		}
		atomic_fetch_add(&b->epoch, 1);
		pthread_rwlock_unlock(&b->cpu);
		/* EFAULT: the range spans VMAs that earlier moves left apart */
		check_errno(t, "mremap away and back", e, 0, EFAULT);
		break;
	case M_MPROTECT:
		pthread_rwlock_wrlock(&b->cpu);
		atomic_fetch_add(&b->epoch, 1);
		e = mprotect(p, n * PAGE, PROT_READ) ? errno : 0;
		if (!e) {
			usleep((useconds_t)rn(&r, 20000));
			e = mprotect(p, n * PAGE, PROT_READ | PROT_WRITE) ? errno : 0;
		}
		atomic_fetch_add(&b->epoch, 1);
		pthread_rwlock_unlock(&b->cpu);
		check_errno(t, "mprotect read-only and back", e, 0, 0);
		break;
	case M_FORK:
		/* contents kept for the parent: no epoch change, the data must hold */
		fflush(stdout);
		pid = fork();
		if (pid < 0) {
			check_errno(t, "fork", errno, 0, 0);
		} else if (!pid) {
			struct sigaction sa;
			int j, kk;

			memset(&sa, 0, sizeof(sa));
			sa.sa_handler = child_sig;
			sigaction(SIGSEGV, &sa, NULL);
			sigaction(SIGBUS, &sa, NULL);
			/* copy-on-write on the child's side */
			for (j = 0; j < nthreads; j++)
				for (kk = 0; kk < NBUF; kk++)
					for (size_t i = 0; i < th[j].b[kk].len; i += 64 * 1024)
						th[j].b[kk].p[i] ^= 1;
			_exit(0);
		} else {
			int ws;

			if (waitpid(pid, &ws, 0) != pid)
				check_errno(t, "waitpid", errno, 0, 0);
		}
		break;
	case M_PAGEOUT:
		/* contents kept (swapped out at most): the data must hold */
		e = madvise(p, n * PAGE, MADV_PAGEOUT) ? errno : 0;
		atomic_fetch_add(&sh->errnos[eidx(e)], 1);
		break;
	}
}

/* ---------------------------------------------------------------- threads */

static void gen_op(uint64_t *r, struct op *o)
{
	unsigned int w = (unsigned int)rn(r, 100);

	memset(o, 0, sizeof(*o));
	o->kind = w < 48 ? K_POST : w < 58 ? K_REG : w < 62 ? K_DEREG : w < 66 ? K_REREG :
		  w < 74 ? K_ADVISE : w < 76 ? K_QPERR : w < 79 ? K_QPRESET : K_MUT;
	o->arg = (uint8_t)rn(r, 256);
	o->idx = (uint8_t)rn(r, 256);
	o->seed = splitmix(r);
	if (o->kind == K_REG)
		/* explicit ODP twice as often as the rest */
		o->arg = (uint8_t)((uint8_t[]){ R_EXPLICIT, R_EXPLICIT, R_IMPLICIT, R_PINNED,
						R_HUGE }[rn(r, 5)]);
}

static void exec_op(struct thr *t, const struct op *o)
{
	switch (o->kind) {
	case K_REG: op_reg(t, o); break;
	case K_DEREG: op_dereg(t, o); break;
	case K_REREG: op_rereg(t, o); break;
	case K_ADVISE: op_advise(t, o); break;
	case K_POST: op_post(t, o); break;
	case K_QPERR: op_qperr(t, o); break;
	case K_QPRESET: op_qpreset(t, o); break;
	case K_MUT: op_mut(t, o); break;
	}
}

static void *worker(void *arg)
{
	struct thr *t = arg;
	struct op o, *log = oplog + (size_t)t->id * MAXOPS;
	unsigned long i;

	for (i = 0; !atomic_load(&stop); i++) {
		if (t->list) {
			if (i >= t->nlist)
				break;
			o = t->list[i];
		} else {
			if (max_ops ? i >= max_ops / (unsigned long)nthreads : now() >= t_end)
				break;
			gen_op(&t->rng, &o);
		}
		if (i < MAXOPS) {
			log[i] = o;
			atomic_store(&sh->nops[t->id], i + 1);
		}
		t->cur = i;
		atomic_store(&sh->op_start_ms[t->id], now_ms());
		exec_op(t, &o);
		atomic_store(&sh->op_start_ms[t->id], 0);
	}
	return NULL;
}

static void read_counters(long long *v)
{
	int i;

	for (i = 0; i < 6; i++)
		v[i] = vu_hw_counter(gc.ctx, ctrname[i]);
}

/* The fuzzing child: set up, run the threads, tear down.  Exit status 0. */
static int child_main(const struct op *const *lists, const unsigned long *nlist)
{
	uint64_t gen;
	uint32_t rc;
	int i, j, k;

	vu_setup(&gc, dev_name);
	snprintf(sh->dev, sizeof(sh->dev), "%s", ibv_get_device_name(gc.ctx->device));
	if (vu_odp_caps(gc.ctx, &gen, &rc) || !(gen & IBV_ODP_SUPPORT))
		_exit(4);
	has_implicit = !!(gen & IBV_ODP_SUPPORT_IMPLICIT);
	sh->implicit_ok = has_implicit;
	has_huge = 1;
	for (j = 0; j < nthreads; j++) {
		struct thr *t = &th[j];

		t->id = j;
		t->rng = seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(j + 1));
		splitmix(&t->rng);
		t->c = gc;
		t->c.pd = ibv_alloc_pd(gc.ctx);
		t->pd2 = ibv_alloc_pd(gc.ctx);
		if (!t->c.pd || !t->pd2)
			tap_bail("ibv_alloc_pd: %s", strerror(errno));
		for (k = 0; k < NBUF; k++) {
			struct buf *b = &t->b[k];

			b->len = buf_len[k];
			b->pinned_only = k == 0;
			b->huge = 0;
			if (k == 3) {
				b->p = map_buf(b->len, 1);
				if (b->p)
					b->huge = 1;
				else
					has_huge = 0;
			}
			if (!b->p)
				b->p = map_buf(b->len, 0);
			if (!b->p)
				tap_bail("mmap: %s", strerror(errno));
			memset(b->p, 0, b->len);
			pthread_rwlock_init(&b->cpu, NULL);
		}
		if (lists) {
			t->list = lists[j];
			t->nlist = nlist[j];
		}
	}
	if (!has_huge)	/* all or none: a replay behaves the same */
		for (j = 0; j < nthreads; j++)
			th[j].b[3].huge = 0;
	sh->huge_ok = has_huge;
	for (i = 0; i < npairs; i++) {
		struct thr *t = &th[i % nthreads];
		struct pair *p = &pairs[i];

		if (vu_qp_create(&t->c, &p->a, DEPTH) || vu_qp_create(&t->c, &p->b, DEPTH) ||
		    connect_pair(t, p))
			tap_bail("QP pair %d: %s", i, strerror(errno));
		t->p[t->np++] = p;
	}
	read_counters(sh->ctr0);
	sh->setup_done = 1;
	t_end = now() + seconds;
	for (j = 0; j < nthreads; j++)
		if (pthread_create(&th[j].tid, NULL, worker, &th[j]))
			tap_bail("pthread_create");
	for (j = 0; j < nthreads; j++)
		pthread_join(th[j].tid, NULL);
	read_counters(sh->ctr1);
	sh->ctr_ok = sh->ctr0[0] >= 0 && sh->ctr1[0] >= 0;
	/* teardown: every MR deregisters, every QP is destroyed */
	for (j = 0; j < nthreads; j++) {
		struct thr *t = &th[j];

		for (k = 0; k < NMR; k++)
			if (t->m[k].mr)
				do_dereg(t, &t->m[k]);
	}
	for (i = 0; i < npairs; i++) {
		vu_qp_destroy(&pairs[i].a);
		vu_qp_destroy(&pairs[i].b);
	}
	for (j = 0; j < nthreads; j++) {
		ibv_dealloc_pd(th[j].c.pd);
		ibv_dealloc_pd(th[j].pd2);
	}
	ibv_dealloc_pd(gc.pd);
	ibv_close_device(gc.ctx);
	fflush(stdout);
	_exit(atomic_load(&sh->fail_class) != C_NONE);
}

/* ---------------------------------------------------------------- parent */

/*
 * Run a child (fuzzing, or replaying LISTS) and wait for it: its failure
 * class.  A verb that does not return (an op running for longer than the
 * WR bound and a minute) is a hang: the child is killed.
 */
static int run_child(const struct op *const *lists, const unsigned long *nlist, int quiet)
{
	double hang = wr_timeout + 60;
	int ws, j, cls;
	pid_t pid, w;

	memset(sh, 0, sizeof(*sh));
	sh->nthreads = nthreads;
	sh->npairs = npairs;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		tap_bail("fork: %s", strerror(errno));
	if (!pid) {
		if (quiet) {
			int fd = open("/dev/null", O_WRONLY);

			if (fd >= 0) {
				dup2(fd, 1);
				dup2(fd, 2);
			}
		}
		child_main(lists, nlist);
	}
	for (;;) {
		w = waitpid(pid, &ws, WNOHANG);
		if (w == pid)
			break;
		for (j = 0; j < nthreads; j++) {
			long s = atomic_load(&sh->op_start_ms[j]);

			if (s && now_ms() - s > hang * 1000) {
				int none = C_NONE;

				if (atomic_compare_exchange_strong(&sh->fail_class, &none, C_HANG)) {
					snprintf(sh->fail_msg, sizeof(sh->fail_msg),
						 "op %lu of thread %d did not return within %.0f s",
						 atomic_load(&sh->nops[j]) - 1, j, hang);
					sh->fail_thread = j;
					sh->fail_op = atomic_load(&sh->nops[j]) - 1;
				}
				kill(pid, SIGKILL);
				/* a task stuck in the kernel may not die: wait a bit */
				for (int i = 0; i < 300 && waitpid(pid, &ws, WNOHANG) != pid; i++)
					usleep(100000);
				return C_HANG;
			}
		}
		usleep(50000);
	}
	cls = atomic_load(&sh->fail_class);
	if (WIFSIGNALED(ws)) {
		if (cls == C_NONE) {
			snprintf(sh->fail_msg, sizeof(sh->fail_msg), "child killed by signal %d (%s)",
				 WTERMSIG(ws), strsignal(WTERMSIG(ws)));
			for (j = 0; j < nthreads; j++)
				if (atomic_load(&sh->op_start_ms[j])) {
					sh->fail_thread = j;
					sh->fail_op = atomic_load(&sh->nops[j]) - 1;
				}
		}
		return cls == C_NONE ? C_CRASH : cls;
	}
	if (WEXITSTATUS(ws) == 4)
		return -4;	/* no ODP */
	if (WEXITSTATUS(ws) && cls == C_NONE) {
		snprintf(sh->fail_msg, sizeof(sh->fail_msg), "child exited with status %d",
			 WEXITSTATUS(ws));
		return C_CRASH;
	}
	return cls;
}

/* a list of (thread, op) for the shrinker and the files */
struct entry {
	int t;
	struct op o;
};

static void op_text(FILE *f, const struct entry *e)
{
	const struct op *o = &e->o;

	fprintf(f, "%d %s %u %u 0x%016llx", e->t, kname[o->kind], o->arg, o->idx,
		(unsigned long long)o->seed);
	/* a readable gloss */
	switch (o->kind) {
	case K_POST: fprintf(f, "  # %s pair %u", pname[o->arg % P_NR], o->idx); break;
	case K_REG: fprintf(f, "  # %s slot %d", rname[o->arg % R_NR], o->idx % NMR); break;
	case K_DEREG: case K_REREG: fprintf(f, "  # slot %d", o->idx % NMR); break;
	case K_MUT: fprintf(f, "  # %s", mname[o->arg % M_NR]); break;
	case K_QPERR: case K_QPRESET: fprintf(f, "  # pair %u", o->idx); break;
	}
	fputc('\n', f);
}

static int write_list(const char *path, const struct entry *e, size_t n)
{
	FILE *f = fopen(path, "w");
	size_t i;

	if (!f)
		return -1;
	fprintf(f, "# odp_fuzz ops v1 seed=%llu threads=%d qps=%d wr_timeout=%.0f recreate=%d\n",
		seed, nthreads, npairs, wr_timeout, recreate);
	for (i = 0; i < n; i++)
		op_text(f, &e[i]);
	return fclose(f);
}

static struct entry *read_list(const char *path, size_t *n)
{
	FILE *f = fopen(path, "r");
	struct entry *e = NULL;
	size_t cap = 0;
	char line[512], kn[32];
	unsigned int arg, idx;
	unsigned long long s;
	int t, k;

	if (!f)
		tap_bail("--replay %s: %s", path, strerror(errno));
	*n = 0;
	while (fgets(line, sizeof(line), f)) {
		char *h = strstr(line, "threads=");

		if (line[0] == '#') {
			if (h)
				nthreads = atoi(h + 8);
			if ((h = strstr(line, "qps=")))
				npairs = atoi(h + 4);
			if ((h = strstr(line, "seed=")))
				seed = strtoull(h + 5, NULL, 0);
			if ((h = strstr(line, "recreate=")))
				recreate = atoi(h + 9);
			continue;
		}
		if (sscanf(line, "%d %31s %u %u %llx", &t, kn, &arg, &idx, &s) != 5)
			continue;
		for (k = 0; k < K_NR; k++)
			if (!strcmp(kn, kname[k]))
				break;
		if (k == K_NR || t < 0 || t >= MAXT)
			tap_bail("--replay %s: bad line: %s", path, line);
		if (*n == cap) {
			cap = cap ? 2 * cap : 1024;
			e = realloc(e, cap * sizeof(*e));
			if (!e)
				tap_bail("realloc");
		}
		e[*n].t = t;
		memset(&e[*n].o, 0, sizeof(e[*n].o));
		e[*n].o.kind = (uint8_t)k;
		e[*n].o.arg = (uint8_t)arg;
		e[*n].o.idx = (uint8_t)idx;
		e[*n].o.seed = s;
		(*n)++;
	}
	fclose(f);
	return e;
}

/* Replay the entries E[0..N) in a child: its failure class. */
static int replay(const struct entry *e, size_t n, int quiet)
{
	struct op *l[MAXT];
	const struct op *cl[MAXT];
	unsigned long nl[MAXT] = { 0 };
	size_t i;
	int j, cls;

	for (j = 0; j < MAXT; j++) {
		l[j] = malloc((n + 1) * sizeof(struct op));
		if (!l[j])
			tap_bail("malloc");
		cl[j] = l[j];
	}
	for (i = 0; i < n; i++)
		l[e[i].t][nl[e[i].t]++] = e[i].o;
	cls = run_child(cl, nl, quiet);
	for (j = 0; j < MAXT; j++)
		free(l[j]);
	return cls;
}

/* The ops the child logged, thread by thread, in their order. */
static struct entry *collect(size_t *n)
{
	struct entry *e;
	size_t tot = 0, i;
	int j;

	for (j = 0; j < nthreads; j++)
		tot += atomic_load(&sh->nops[j]);
	e = malloc((tot + 1) * sizeof(*e));
	if (!e)
		tap_bail("malloc");
	*n = 0;
	for (j = 0; j < nthreads; j++)
		for (i = 0; i < atomic_load(&sh->nops[j]); i++) {
			e[*n].t = j;
			e[*n].o = oplog[(size_t)j * MAXOPS + i];
			(*n)++;
		}
	return e;
}

/*
 * Delta debugging (complements): drop chunks of the list, halves first,
 * then smaller, down to single ops, keeping every reduction whose replay
 * still fails with class CLS.  Bounded by shrink_secs.
 */
static struct entry *shrink(struct entry *e, size_t *n, int cls)
{
	double end = now() + shrink_secs;
	struct entry *c = malloc((*n + 1) * sizeof(*e));
	size_t chunks = 2, attempts = 0, len, i, k, m;
	int got;

	if (!c)
		tap_bail("malloc");
	while (*n >= 2 && now() < end) {
		bool reduced = false;

		if (chunks > *n)
			chunks = *n;
		len = (*n + chunks - 1) / chunks;
		for (k = 0; k < chunks && now() < end; k++) {
			size_t lo = k * len, hi = lo + len < *n ? lo + len : *n;

			if (lo >= hi)
				continue;
			for (i = 0, m = 0; i < *n; i++)
				if (i < lo || i >= hi)
					c[m++] = e[i];
			attempts++;
			got = replay(c, m, 1);
			if (got == cls) {
				memcpy(e, c, m * sizeof(*e));
				*n = m;
				reduced = true;
				tap_diag("shrink: %zu ops still fail (%s), attempt %zu", m, cname[got],
					 attempts);
				break;
			}
		}
		if (reduced) {
			if (chunks > 2)
				chunks--;
		} else {
			if (chunks >= *n)
				break;
			chunks = chunks * 2 < *n ? chunks * 2 : *n;
		}
	}
	tap_diag("shrink: %zu attempts, %s", attempts,
		 now() < end ? "1-minimal" : "time bound reached");
	free(c);
	return e;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: odp_fuzz [-d DEV] [-g GID] [--seed N] [--ops N | --seconds S]\n"
		"                [--threads T] [--qps Q] [--replay FILE [--shrink]] [--no-shrink]\n"
		"                [--shrink-seconds S] [--wr-timeout S] [--out DIR] [--json]\n"
		"  --seed N          PRNG seed (default 1); printed first: the same arguments\n"
		"                    replay the same per-thread operation lists\n"
		"  --ops N           N operations in all (else --seconds, default 10)\n"
		"  --threads T       worker threads (1-%d, default 2), each with its PD,\n"
		"                    buffers and MR slots\n"
		"  --qps Q           RC QP pairs in all (default 2 per thread, max %d)\n"
		"  --replay FILE     run the operation list FILE (written on a failure)\n"
		"  --shrink          with --replay: shrink a failing list\n"
		"  --no-shrink       do not shrink a failing run\n"
		"  --shrink-seconds  time bound of the shrinking (default 240)\n"
		"  --wr-timeout S    a WR without completion after S s is a hang (default 60)\n"
		"  --out DIR         where the op lists go (default $VMRUN_RESULTS, else .)\n"
		"  --json            also print the figures as a bare JSON line\n"
		"  --keep-going      report every failure but a hang and go on (to calibrate)\n"
		"  --recreate        new QPs after a failed WR instead of a reset (works\n"
		"                    around rxe's stale comp.opcode after a reset)\n",
		MAXT, MAXPAIRS);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "seed", 1, NULL, 'S' }, { "ops", 1, NULL, 'o' }, { "seconds", 1, NULL, 's' },
		{ "threads", 1, NULL, 't' }, { "qps", 1, NULL, 'q' }, { "replay", 1, NULL, 'r' },
		{ "shrink", 0, NULL, 'K' }, { "no-shrink", 0, NULL, 'N' },
		{ "shrink-seconds", 1, NULL, 'k' }, { "wr-timeout", 1, NULL, 'w' },
		{ "out", 1, NULL, 'O' }, { "json", 0, NULL, 'j' }, { "keep-going", 0, NULL, 'G' },
		{ "recreate", 0, NULL, 'R' },
		{ "help", 0, NULL, 'h' }, { 0 }
	};
	struct entry *list = NULL;
	size_t nlist = 0, i;
	char path[512], mpath[600], figs[8192];
	int o, cls, j, fl = 0;
	unsigned long tot = 0;
	double t0;

	while ((o = getopt_long(argc, argv, "d:g:h", lo, NULL)) != -1) {
		switch (o) {
		case 'd': dev_name = optarg; break;
		case 'g': setenv("RXE_GID_INDEX", optarg, 1); break;
		case 'S': seed = strtoull(optarg, NULL, 0); break;
		case 'o': max_ops = strtoul(optarg, NULL, 0); break;
		case 's': seconds = atof(optarg); break;
		case 't': nthreads = atoi(optarg); break;
		case 'q': npairs = atoi(optarg); break;
		case 'r': replay_file = optarg; break;
		case 'K': do_shrink = 1; break;
		case 'N': no_shrink = 1; break;
		case 'k': shrink_secs = atof(optarg); break;
		case 'w': wr_timeout = atof(optarg); break;
		case 'O': out_dir = optarg; break;
		case 'j': json = 1; break;
		case 'G': keep_going = 1; break;
		case 'R': recreate = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	if (replay_file)
		list = read_list(replay_file, &nlist);
	if (!npairs)
		npairs = 2 * nthreads;
	if (nthreads < 1 || nthreads > MAXT || npairs < nthreads || npairs > MAXPAIRS ||
	    seconds <= 0 || wr_timeout <= 0) {
		usage(stderr);
		return 2;
	}
	if (!out_dir)
		out_dir = getenv("VMRUN_RESULTS");
	if (!out_dir || !*out_dir)
		out_dir = ".";
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("# seed %llu\n", seed);
	tap_plan(NTESTS);
	if (replay_file)
		tap_diag("replay of %s: %zu ops, %d threads, %d QP pairs", replay_file, nlist,
			 nthreads, npairs);
	else if (max_ops)
		tap_diag("%lu ops, %d threads, %d QP pairs", max_ops, nthreads, npairs);
	else
		tap_diag("%.0f s, %d threads, %d QP pairs", seconds, nthreads, npairs);

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	oplog = mmap(NULL, MAXT * MAXOPS * sizeof(struct op), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (sh == MAP_FAILED || oplog == MAP_FAILED)
		tap_bail("mmap: %s", strerror(errno));

	t0 = now();
	cls = list ? replay(list, nlist, 0) : run_child(NULL, NULL, 0);
	t0 = now() - t0;
	if (cls == -4) {
		tap_skip_rest(NTESTS, "device has no ODP support", "odp_fuzz");
		return tap_exit_status();
	}
	if (!sh->setup_done && cls != C_NONE)
		tap_bail("the fuzzing child failed before it started: %s", sh->fail_msg);
	for (j = 0; j < nthreads; j++)
		tot += atomic_load(&sh->nops[j]);

	tap_ok(cls != C_HANG, "no hang: every WR completed and every verb returned%s%s",
	       cls == C_HANG ? ": " : "", cls == C_HANG ? sh->fail_msg : "");
	tap_ok(cls != C_STATUS, "every completion status as the oracle allows%s%s",
	       cls == C_STATUS ? ": " : "", cls == C_STATUS ? sh->fail_msg : "");
	tap_ok(cls != C_ERRNO, "every verb's errno as the oracle allows%s%s",
	       cls == C_ERRNO ? ": " : "", cls == C_ERRNO ? sh->fail_msg : "");
	tap_ok(cls != C_DATA, "data intact (%lu compares, %lu bytes)%s%s",
	       atomic_load(&sh->compares), atomic_load(&sh->verified_bytes),
	       cls == C_DATA ? ": " : "", cls == C_DATA ? sh->fail_msg : "");
	tap_ok(cls != C_CRASH, "the fuzzing process survived%s%s",
	       cls == C_CRASH ? ": " : "", cls == C_CRASH ? sh->fail_msg : "");
	if (cls != C_NONE || !sh->ctr_ok)
		tap_skip(cls != C_NONE ? "run failed" : "no hw counters", "ODP counters moved");
	else
		tap_ok(sh->ctr1[0] > sh->ctr0[0] && tot > 0,
		       "ODP counters moved (%lld page faults, %lld invalidations)",
		       sh->ctr1[0] - sh->ctr0[0], sh->ctr1[2] - sh->ctr0[2]);

	/* the figures */
	{
		int n = 0;

#define F(...) (n += snprintf(figs + n, sizeof(figs) - n, __VA_ARGS__))
		F("{\"seed\":%llu,\"seconds\":%.1f,\"threads\":%d,\"qps\":%d,\"ops\":%lu,"
		  "\"ops_by_kind\":{", seed, t0, nthreads, npairs, tot);
		for (i = 0; i < F_NR; i++) {
			const char *nm;
			char b[48];

			if (i < F_DEREG)
				snprintf(b, sizeof(b), "reg_%s", rname[i - F_REG]);
			else if (i >= F_POST && i < F_QPERR)
				snprintf(b, sizeof(b), "post_%s", pname[i - F_POST]);
			else if (i >= F_MUT)
				snprintf(b, sizeof(b), "mut_%s", mname[i - F_MUT]);
			else {
				nm = i == F_DEREG ? "dereg" : i == F_DEREG_EMPTY ? "dereg_empty" :
				     i == F_REREG ? "rereg" : i == F_ADVISE ? "advise" :
				     i == F_QPERR ? "qp_err" : "qp_reset";
				snprintf(b, sizeof(b), "%s", nm);
			}
			F("%s\"%s\":%lu", i ? "," : "", b, atomic_load(&sh->figs[i]));
		}
		F("},\"statuses\":{");
		for (i = 0, fl = 0; i < 32; i++)
			if (atomic_load(&sh->status[i]))
				F("%s\"%s\":%lu", fl++ ? "," : "",
				  ibv_wc_status_str((enum ibv_wc_status)i), atomic_load(&sh->status[i]));
		F("},\"errnos\":{");
		for (i = 0, fl = 0; i < 7; i++)
			if (atomic_load(&sh->errnos[i]))
				F("%s\"%s\":%lu", fl++ ? "," : "", errname[i], atomic_load(&sh->errnos[i]));
		F("},\"counters\":{");
		for (i = 0; i < 6; i++)
			F("%s\"%s\":%lld", i ? "," : "", ctrname[i],
			  sh->ctr_ok ? sh->ctr1[i] - sh->ctr0[i] : -1);
		F("},\"raced\":%lu,\"compares\":%lu,\"bytes_verified\":%lu,\"hugetlb\":%d,"
		  "\"implicit\":%d,\"failures\":%d,\"failure\":\"%s\"}",
		  atomic_load(&sh->raced), atomic_load(&sh->compares),
		  atomic_load(&sh->verified_bytes), sh->huge_ok, sh->implicit_ok,
		  cls != C_NONE, cname[cls]);
#undef F
		printf("# fuzz-figures %s\n", figs);
	}

	if (cls != C_NONE) {
		struct entry *e;
		size_t n;
		int again;

		e = list ? list : collect(&n);
		if (list)
			n = nlist;
		snprintf(path, sizeof(path), "%s/odp_fuzz-seed%llu-%d.ops", out_dir, seed, getpid());
		if (write_list(path, e, n))
			tap_diag("cannot write %s: %s", path, strerror(errno));
		else
			tap_diag("op list (%zu ops) in %s: replay with --replay %s", n, path, path);
		tap_diag("failing op: thread %d op %lu", sh->fail_thread, sh->fail_op);
		if (!list || do_shrink) {
			if (no_shrink) {
				tap_diag("--no-shrink: not shrinking");
			} else {
				/* the ops after the failing one of its thread never ran */
				size_t m = 0, cnt[MAXT] = { 0 };

				for (i = 0; i < n; i++) {
					if (e[i].t == sh->fail_thread && cnt[e[i].t] > sh->fail_op)
						continue;
					cnt[e[i].t]++;
					e[m++] = e[i];
				}
				n = m;
				again = replay(e, n, 1);
				tap_diag("replay of the list: %s (was %s)", cname[again], cname[cls]);
				if (again == cls) {
					e = shrink(e, &n, cls);
					snprintf(mpath, sizeof(mpath), "%s.min", path);
					write_list(mpath, e, n);
					tap_diag("shortest failing list: %zu ops, in %s:", n, mpath);
					for (i = 0; i < n && i < 60; i++) {
						printf("#   ");
						op_text(stdout, &e[i]);
					}
					if (n > 60)
						tap_diag("  ... %zu more", n - 60);
				} else {
					tap_diag("the failure did not reproduce in a replay (a race): not shrunk");
				}
			}
		}
	}
	if (json)
		printf("%s\n", figs);
	return tap_exit_status();
}
