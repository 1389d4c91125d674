// SPDX-License-Identifier: GPL-2.0
/*
 * odp_lifecycle: tear ODP objects down while RDMA traffic is faulting
 * pages into them.  Every teardown must return 0 in bounded time, every
 * work request must still get exactly one completion, and nothing may
 * hang.
 *
 * Every buffer is freshly mmap()ed and never touched by the CPU, so each
 * page an operation reaches faults: on the responder, and for the sources
 * of RDMA WRITE and SEND and the destinations of RDMA READ also on the
 * requester.  A case posts NOPS operations of MSG bytes (several in
 * flight, each many packets long) from QP A to QP B, two connected RC
 * QPs of one device, waits until the device has counted a page fault
 * plus a delay that differs from round to round, and then:
 *
 *   dereg     ibv_dereg_mr() of the MR the traffic goes to: the remote MR
 *             of RDMA WRITEs, the remote MR of RDMA READs, the MR of the
 *             receive buffers of SENDs, the local MR of RDMA READs (the
 *             requester's completer faults its pages in)
 *   destroy   ibv_destroy_qp() of the responder's QP, and in a second
 *             case of the requester's QP, under RDMA WRITEs and READs
 *   implicit  the dereg cases with an implicit ODP MR as the victim
 *
 * Each case requires: the call returns 0 within EVENT_SECS (rxe waits up
 * to 50 s for a reference that is never dropped, then warns: a stuck
 * reference shows as a slow call); every work request of A gets its
 * completion within DRAIN_SECS, and then, with the QPs moved to ERR, so
 * does every receive of B; each status is success or an error the event
 * explains; the remaining MRs, QPs and CQs are destroyed without error,
 * the remote MR of the destroy-requester case while B still lives.  The
 * last test checks that most events did find work in flight.
 *
 * Other modes, for tests/c/odp_lifecycle.sh:
 *   --traffic SECS  faulting traffic (writes, reads, sends; the local
 *                   buffer dropped with MADV_DONTNEED and the remote one
 *                   munmap()ed, mmap()ed and registered anew each
 *                   iteration, an implicit MR for some reads) until
 *                   killed or SECS have passed; prints "ready" once the
 *                   traffic runs and "# iter N" after each iteration
 *   --quick         a short checked data test: RDMA WRITE, READ and SEND
 *                   through explicit ODP MRs, RDMA WRITE through an
 *                   implicit one (TAP)
 *
 * Usage: odp_lifecycle [-d DEV] [-g GID_INDEX] [-r ROUNDS] [-c CASES]
 *                      [-n NOPS] [-s MSG_KIB] [--traffic SECS | --quick]
 *   CASES is a comma separated list of dereg, destroy, implicit (default
 *   all).  Exit status 0 if no test failed, 1 otherwise, 2 on usage
 *   errors; --traffic exits 1 on a failed or missing completion.
 */
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <unistd.h>
#include "tap.h"
#include "verbs_util.h"

#define KIB		1024ul
#define EVENT_SECS	10.0	/* dereg_mr, destroy_qp, destroy_cq */
#define DRAIN_SECS	30.0	/* all completions after the event */
#define FAULT_SECS	5.0	/* until the first page fault is counted */
#define WATCHDOG_SECS	180	/* one whole case */
#define RETRY_CNT	6	/* times 67 ms (timeout 14) */
#define DEPTH		32
#define MAX_NOPS	DEPTH
#define ODP		IBV_ACCESS_ON_DEMAND
#define ACC		(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ)

enum kind { K_WRITE, K_READ, K_SEND, K_LREAD, K_MIX };

static const char *const kind_desc[] = {
	[K_WRITE] = "remote MR under RDMA WRITE",
	[K_READ] = "remote MR under RDMA READ",
	[K_SEND] = "receive MR under SEND",
	[K_LREAD] = "local MR of RDMA READ",
	[K_MIX] = "RDMA WRITE and READ",
};

static struct vu_ctx c;
static int nops = 8;
static size_t msg = 1024 * KIB;
static bool have_implicit;
static int events, events_in_flight;	/* for the last test */
static volatile sig_atomic_t watchdog_what;

/* Two connected QPs, the local (A) and remote (B) buffers and MRs. */
struct lc {
	struct vu_qp a, b;
	char *lbuf, *rbuf;
	struct ibv_mr *lmr, *rmr;
};

/* Completions seen, by status. */
#define NSTATUS 32
struct tally {
	int n;
	int st[NSTATUS];
};

static const char *const watchdog_msgs[] = {
	"", "a dereg case", "a destroy case", "the traffic", "the quick test",
};

static void watchdog(int sig)
{
	static const char a[] = "Bail out! watchdog: ";
	static const char b[] = " did not finish in time\n";
	const char *w = watchdog_msgs[watchdog_what];

	(void)sig;
	/* only async-signal-safe calls here; nothing to do if write fails */
	if (write(1, a, sizeof(a) - 1) > 0 && write(1, w, strlen(w)) > 0)
		(void)!write(1, b, sizeof(b) - 1);
	_exit(1);
}

static void watchdog_arm(int what, unsigned int secs)
{
	watchdog_what = what;
	alarm(secs);
}

/* Fresh anonymous memory, never touched. */
static char *fresh(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static const char *status_name(int st)
{
	switch (st) {
	case IBV_WC_SUCCESS: return "SUCCESS";
	case IBV_WC_LOC_LEN_ERR: return "LOC_LEN_ERR";
	case IBV_WC_LOC_QP_OP_ERR: return "LOC_QP_OP_ERR";
	case IBV_WC_LOC_PROT_ERR: return "LOC_PROT_ERR";
	case IBV_WC_WR_FLUSH_ERR: return "WR_FLUSH_ERR";
	case IBV_WC_LOC_ACCESS_ERR: return "LOC_ACCESS_ERR";
	case IBV_WC_REM_INV_REQ_ERR: return "REM_INV_REQ_ERR";
	case IBV_WC_REM_ACCESS_ERR: return "REM_ACCESS_ERR";
	case IBV_WC_REM_OP_ERR: return "REM_OP_ERR";
	case IBV_WC_RETRY_EXC_ERR: return "RETRY_EXC_ERR";
	case IBV_WC_RNR_RETRY_EXC_ERR: return "RNR_RETRY_EXC_ERR";
	case IBV_WC_GENERAL_ERR: return "GENERAL_ERR";
	default: return NULL;
	}
}

static void tally_str(const struct tally *t, char *buf, size_t len)
{
	size_t off = 0;
	int i;

	buf[0] = 0;
	for (i = 0; i < NSTATUS && off < len; i++) {
		const char *name = status_name(i);

		if (!t->st[i])
			continue;
		if (name)
			off += snprintf(buf + off, len - off, "%s%s %d", off ? ", " : "",
					name, t->st[i]);
		else
			off += snprintf(buf + off, len - off, "%sstatus %d: %d", off ? ", " : "",
					i, t->st[i]);
	}
	if (!off)
		snprintf(buf, len, "none");
}

/* Are all statuses of T in the list OK (terminated by -1)? */
static bool tally_only(const struct tally *t, const int *ok)
{
	int i, j;

	for (i = 0; i < NSTATUS; i++) {
		if (!t->st[i])
			continue;
		for (j = 0; ok[j] >= 0 && ok[j] != i; j++)
			;
		if (ok[j] < 0)
			return false;
	}
	return true;
}

/*
 * Poll CQ until WANT more completions have been added to T or SECS have
 * passed (SECS 0: poll once).  Returns how many were added, -1 if
 * ibv_poll_cq failed.
 */
static int drain(struct ibv_cq *cq, int want, double secs, struct tally *t)
{
	double end = vu_now() + secs;
	struct ibv_wc wc[16];
	int got = 0, n, i;

	while (got < want) {
		n = ibv_poll_cq(cq, want - got < 16 ? want - got : 16, wc);
		if (n < 0)
			return -1;
		for (i = 0; i < n; i++) {
			t->n++;
			t->st[wc[i].status < NSTATUS ? wc[i].status : NSTATUS - 1]++;
		}
		got += n;
		if (got >= want || vu_now() >= end)
			break;
		if (!n)
			usleep(200);	/* let rxe's work run on a 1-CPU guest */
	}
	return got;
}

static int to_err(struct ibv_qp *qp)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_ERR };

	return ibv_modify_qp(qp, &a, IBV_QP_STATE);
}

/* Time a teardown call; *secs gets its duration. */
#define TIMED(secs, call) ({ double _t0 = vu_now(); int _r = (call); \
			     *(secs) = vu_now() - _t0; _r; })

/*
 * Release what is left of R, checking each call.  Returns 0, or -1 with
 * the first failure described in WHY.
 */
static int lc_teardown(struct lc *r, char *why, size_t whylen)
{
	struct { const char *what; int ret; double secs; } s[6];
	int i, n = 0, bad = 0;

	memset(s, 0, sizeof(s));
	if (r->a.qp) {
		s[n].what = "destroy QP A";
		s[n].ret = TIMED(&s[n].secs, ibv_destroy_qp(r->a.qp));
		n++;
	}
	if (r->b.qp) {
		s[n].what = "destroy QP B";
		s[n].ret = TIMED(&s[n].secs, ibv_destroy_qp(r->b.qp));
		n++;
	}
	if (r->a.cq) {
		s[n].what = "destroy CQ A";
		s[n].ret = TIMED(&s[n].secs, ibv_destroy_cq(r->a.cq));
		n++;
	}
	if (r->b.cq) {
		s[n].what = "destroy CQ B";
		s[n].ret = TIMED(&s[n].secs, ibv_destroy_cq(r->b.cq));
		n++;
	}
	if (r->lmr) {
		s[n].what = "dereg local MR";
		s[n].ret = TIMED(&s[n].secs, ibv_dereg_mr(r->lmr));
		n++;
	}
	if (r->rmr) {
		s[n].what = "dereg remote MR";
		s[n].ret = TIMED(&s[n].secs, ibv_dereg_mr(r->rmr));
		n++;
	}
	if (r->lbuf)
		munmap(r->lbuf, nops * msg);
	if (r->rbuf)
		munmap(r->rbuf, nops * msg);
	memset(r, 0, sizeof(*r));
	if (why)
		why[0] = 0;
	for (i = 0; i < n; i++)
		if ((s[i].ret || s[i].secs > EVENT_SECS) && !bad++ && why)
			snprintf(why, whylen, "%s returned %d in %.2f s", s[i].what,
				 s[i].ret, s[i].secs);
	return bad ? -1 : 0;
}

static struct ibv_mr *reg(char *buf, bool implicit)
{
	if (implicit)
		return ibv_reg_mr(c.pd, NULL, SIZE_MAX, ACC | ODP);
	return ibv_reg_mr(c.pd, buf, nops * msg, ACC | ODP);
}

/*
 * Connected QPs and fresh buffers with ODP MRs; the local MR implicit if
 * LIMPLICIT, the remote one if RIMPLICIT.  0, or -1 with errno.
 */
static int lc_setup(struct lc *r, bool limplicit, bool rimplicit)
{
	memset(r, 0, sizeof(*r));
	/* a finite retry count: a QP whose peer is destroyed must give up */
	if (vu_qp_create(&c, &r->a, DEPTH) || vu_qp_create(&c, &r->b, DEPTH) ||
	    vu_qp_connect_retry(&c, r->a.qp, r->b.qp->qp_num, VU_QP_ACCESS, RETRY_CNT) ||
	    vu_qp_connect_retry(&c, r->b.qp, r->a.qp->qp_num, VU_QP_ACCESS, RETRY_CNT))
		return -1;
	r->lbuf = fresh(nops * msg);
	r->rbuf = fresh(nops * msg);
	if (!r->lbuf || !r->rbuf)
		return -1;
	r->lmr = reg(r->lbuf, limplicit);
	r->rmr = reg(r->rbuf, rimplicit);
	return r->lmr && r->rmr ? 0 : -1;
}

/* Post operation I of kind K (K_MIX: writes and reads by turns). */
static int post_one(struct lc *r, enum kind k, int i)
{
	size_t off = i * msg;
	struct ibv_sge ls = { (uintptr_t)r->lbuf + off, msg, r->lmr->lkey };
	struct ibv_sge rs = { (uintptr_t)r->rbuf + off, msg, r->rmr->lkey };
	struct ibv_recv_wr rwr = { .wr_id = i, .sg_list = &rs, .num_sge = 1 }, *rbad;
	struct ibv_send_wr wr = { .wr_id = i, .sg_list = &ls, .num_sge = 1 }, *bad;

	if (k == K_MIX)
		k = i % 2 ? K_READ : K_WRITE;
	switch (k) {
	case K_SEND:
		if (ibv_post_recv(r->b.qp, &rwr, &rbad))
			return -1;
		wr.opcode = IBV_WR_SEND;
		break;
	case K_WRITE:
		wr.opcode = IBV_WR_RDMA_WRITE;
		break;
	default:
		wr.opcode = IBV_WR_RDMA_READ;
		break;
	}
	/* an explicit MR's iova is its address, an implicit one's too */
	wr.wr.rdma.remote_addr = (uintptr_t)r->rbuf + off;
	wr.wr.rdma.rkey = r->rmr->rkey;
	return ibv_post_send(r->a.qp, &wr, &bad);
}

/*
 * Post NOPS operations of kind K, wait until the device counts a page
 * fault, then DELAY_US more.  Returns the completions already on A's CQ
 * then (added to T), -1 if posting failed.
 */
static int start_traffic(struct lc *r, enum kind k, unsigned int delay_us,
			 struct tally *t, long long *faults)
{
	long long f0 = vu_hw_counter_cached(c.ctx, "odp_page_faults"), f = f0;
	double end;
	int i;

	for (i = 0; i < nops; i++)
		if (post_one(r, k, i))
			return -1;
	end = vu_now() + FAULT_SECS;
	while (f0 >= 0 && f <= f0 && vu_now() < end) {
		usleep(500);
		f = vu_hw_counter_cached(c.ctx, "odp_page_faults");
	}
	if (delay_us)
		usleep(delay_us);
	*faults = f - f0;
	return drain(r->a.cq, nops, 0, t);
}

/* A different delay for each round and case: 0 to 20 ms. */
static unsigned int delay_for(int round, int k)
{
	static const unsigned int ms[] = { 0, 1, 3, 7, 12, 20 };

	return ms[(round * 5 + k) % 6] * 1000;
}

static void note_event(int pre)
{
	events++;
	if (pre < nops)
		events_in_flight++;
}

static void case_dereg(int round, enum kind k, bool implicit)
{
	static const int ok_st[] = {
		IBV_WC_SUCCESS, IBV_WC_WR_FLUSH_ERR, IBV_WC_REM_ACCESS_ERR,
		IBV_WC_REM_OP_ERR, IBV_WC_REM_INV_REQ_ERR, IBV_WC_LOC_PROT_ERR,
		IBV_WC_LOC_ACCESS_ERR, IBV_WC_LOC_QP_OP_ERR, -1 };
	const char *what = implicit ? "implicit" : "dereg";
	char ta_s[160], tb_s[160], why[160] = "";
	struct tally ta = {0}, tb = {0};
	bool lvictim = k == K_LREAD;
	struct ibv_mr **victim;
	double t_ev = 0, t_dr;
	int pre, got, gotb = 0, ret, td;
	long long faults = 0;
	struct lc r;

	watchdog_arm(1, WATCHDOG_SECS);
	if (lc_setup(&r, implicit && lvictim, implicit && !lvictim)) {
		tap_ok(0, "round %d: %s %s: setup: %s", round, what, kind_desc[k],
		       strerror(errno));
		lc_teardown(&r, NULL, 0);
		return;
	}
	victim = lvictim ? &r.lmr : &r.rmr;
	pre = start_traffic(&r, k, delay_for(round, k), &ta, &faults);
	if (pre < 0) {
		tap_ok(0, "round %d: %s %s: post: %s", round, what, kind_desc[k],
		       strerror(errno));
		lc_teardown(&r, NULL, 0);
		return;
	}
	note_event(pre);

	ret = TIMED(&t_ev, ibv_dereg_mr(*victim));
	if (!ret)
		*victim = NULL;

	/* every send WR of A completes by itself */
	t_dr = vu_now();
	got = pre + drain(r.a.cq, nops - pre, DRAIN_SECS, &ta);
	/* then flush the receives no send consumed */
	if (k == K_SEND) {
		to_err(r.b.qp);
		gotb = drain(r.b.cq, nops, DRAIN_SECS, &tb);
	}
	t_dr = vu_now() - t_dr;
	td = lc_teardown(&r, why, sizeof(why));
	tally_str(&ta, ta_s, sizeof(ta_s));
	tally_str(&tb, tb_s, sizeof(tb_s));
	tap_ok(!ret && t_ev <= EVENT_SECS && got == nops &&
	       (k != K_SEND || gotb == nops) && tally_only(&ta, ok_st) &&
	       tally_only(&tb, ok_st) && !td,
	       "round %d: %s %s: dereg %d in %.2f s; %d/%d WRs%s completed in %.2f s "
	       "(in flight %d, faults seen %lld; A: %s%s%s)%s%s",
	       round, what, kind_desc[k], ret, t_ev, got, nops,
	       k == K_SEND ? (gotb == nops ? " and recvs" : " but not all recvs") : "",
	       t_dr, nops - pre, faults, ta_s, k == K_SEND ? "; B: " : "",
	       k == K_SEND ? tb_s : "", td ? "; " : "", why);
}

static void case_destroy(int round, bool responder)
{
	static const int ok_resp[] = {
		IBV_WC_SUCCESS, IBV_WC_RETRY_EXC_ERR, IBV_WC_WR_FLUSH_ERR, -1 };
	struct ibv_qp **victim;
	struct tally ta = {0};
	char ta_s[160], why[160] = "", extra[160] = "";
	double t_ev = 0, t_dr = 0, t_mr = 0;
	int pre, got = nops, ret, ret_mr = 0, td;
	long long faults = 0;
	bool good;
	struct lc r;

	watchdog_arm(2, WATCHDOG_SECS);
	if (lc_setup(&r, false, false)) {
		tap_ok(0, "round %d: destroy %s QP: setup: %s", round,
		       responder ? "responder" : "requester", strerror(errno));
		lc_teardown(&r, NULL, 0);
		return;
	}
	victim = responder ? &r.b.qp : &r.a.qp;
	pre = start_traffic(&r, K_MIX, delay_for(round, responder ? 6 : 7), &ta, &faults);
	if (pre < 0) {
		tap_ok(0, "round %d: destroy QP: post: %s", round, strerror(errno));
		lc_teardown(&r, NULL, 0);
		return;
	}
	note_event(pre);

	ret = TIMED(&t_ev, ibv_destroy_qp(*victim));
	if (!ret)
		*victim = NULL;
	if (responder) {
		/* A retries into the void until its retry count runs out */
		t_dr = vu_now();
		got = pre + drain(r.a.cq, nops - pre, DRAIN_SECS, &ta);
		t_dr = vu_now() - t_dr;
		good = got == nops && tally_only(&ta, ok_resp);
	} else {
		/*
		 * B may have been in the middle of a message: it must not
		 * keep a reference to its MR while it still lives.
		 */
		ret_mr = TIMED(&t_mr, ibv_dereg_mr(r.rmr));
		if (!ret_mr)
			r.rmr = NULL;
		snprintf(extra, sizeof(extra), "; B's MR dereg %d in %.2f s", ret_mr, t_mr);
		good = !ret_mr && t_mr <= EVENT_SECS;
	}
	td = lc_teardown(&r, why, sizeof(why));
	tally_str(&ta, ta_s, sizeof(ta_s));
	tap_ok(!ret && t_ev <= EVENT_SECS && good && !td,
	       "round %d: destroy %s QP under %s: destroy %d in %.2f s; %d/%d WRs "
	       "completed%s in %.2f s (in flight %d, faults seen %lld; A: %s)%s%s%s",
	       round, responder ? "responder" : "requester", kind_desc[K_MIX], ret, t_ev,
	       got, nops, responder ? "" : " before", t_dr, nops - pre, faults, ta_s,
	       extra, td ? "; " : "", why);
}

/* One RDMA op OPCODE from SGE to RADDR/RKEY on A: its status, -1 on timeout. */
static int rdma1(struct lc *r, struct ibv_sge *sge, enum ibv_wr_opcode opcode,
		 void *raddr, uint32_t rkey)
{
	struct ibv_send_wr wr = { .sg_list = sge, .num_sge = 1, .opcode = opcode }, *bad;
	struct ibv_wc wc;

	wr.wr.rdma.remote_addr = (uintptr_t)raddr;
	wr.wr.rdma.rkey = rkey;
	if (ibv_post_send(r->a.qp, &wr, &bad))
		return -2;
	return vu_poll(r->a.cq, &wc, DRAIN_SECS) == 1 ? (int)wc.status : -1;
}

/* --quick: checked data through ODP MRs, explicit and implicit. */
static int quick(void)
{
	size_t len = 256 * KIB + 123;
	struct ibv_sge ss, ds;
	char why[160];
	struct lc r;
	int st;
	long bad;

	tap_plan(5);
	watchdog_arm(4, WATCHDOG_SECS);
	nops = 1;
	msg = 512 * KIB;
	if (lc_setup(&r, false, false))
		tap_bail("setup: %s", strerror(errno));

	vu_fill(r.lbuf + 7, len, 1);
	ss = (struct ibv_sge){ (uintptr_t)r.lbuf + 7, len, r.lmr->lkey };
	st = rdma1(&r, &ss, IBV_WR_RDMA_WRITE, r.rbuf + 4000, r.rmr->rkey);
	bad = vu_mismatch(r.rbuf + 4000, len, 1);
	tap_ok(!st && bad < 0, "RDMA WRITE to untouched ODP memory (status %d, mismatch at %ld)",
	       st, bad);

	madvise(r.lbuf, msg, MADV_DONTNEED);
	st = rdma1(&r, &ss, IBV_WR_RDMA_READ, r.rbuf + 4000, r.rmr->rkey);
	bad = vu_mismatch(r.lbuf + 7, len, 1);
	tap_ok(!st && bad < 0, "RDMA READ into dropped ODP pages (status %d, mismatch at %ld)",
	       st, bad);

	madvise(r.rbuf, msg, MADV_DONTNEED);
	ds = (struct ibv_sge){ (uintptr_t)r.rbuf + 1, len + 10, r.rmr->lkey };
	st = vu_sendrecv(&r.a, &r.b, &ss, &ds, DRAIN_SECS);
	bad = vu_mismatch(r.rbuf + 1, len, 1);
	tap_ok(!st && bad < 0, "SEND into dropped ODP pages (status %d, mismatch at %ld)",
	       st, bad);

	if (!have_implicit) {
		tap_skip("no IBV_ODP_SUPPORT_IMPLICIT", "RDMA WRITE through an implicit MR");
	} else {
		struct ibv_mr *imr = ibv_reg_mr(c.pd, NULL, SIZE_MAX, ACC | ODP);
		char *dst = fresh(msg);

		st = imr && dst ? rdma1(&r, &ss, IBV_WR_RDMA_WRITE, dst + 99, imr->rkey) : -3;
		bad = dst ? vu_mismatch(dst + 99, len, 1) : -2;
		tap_ok(!st && bad < 0 && (!imr || !ibv_dereg_mr(imr)),
		       "RDMA WRITE through an implicit MR (status %d, mismatch at %ld)", st, bad);
		if (dst)
			munmap(dst, msg);
	}
	st = lc_teardown(&r, why, sizeof(why));
	tap_ok(!st, "teardown%s%s", st ? ": " : "", why);
	return tap_exit_status();
}

/*
 * --traffic: faulting traffic until SECS have passed (or the process is
 * killed).  Not TAP: "ready" once it runs, "# iter N" per iteration.
 */
static int traffic(double secs)
{
	double end = vu_now() + secs;
	struct ibv_mr *imr = NULL;
	struct lc r;
	int it, i, bad = 0;

	watchdog_arm(3, (unsigned int)secs + WATCHDOG_SECS);
	if (lc_setup(&r, false, false)) {
		fprintf(stderr, "odp_lifecycle: traffic setup: %s\n", strerror(errno));
		return 1;
	}
	if (have_implicit)
		imr = ibv_reg_mr(c.pd, NULL, SIZE_MAX, ACC | ODP);
	for (it = 0; vu_now() < end; it++) {
		struct tally ta = {0}, tb = {0};
		struct ibv_mr *rmr = r.rmr;
		int nsend = 0;

		for (i = 0; i < nops; i++) {
			enum kind k = (enum kind)(i % 3);	/* write, read, send */

			/* an implicit MR for the reads of every other iteration */
			if (imr && k == K_READ && it % 2)
				r.rmr = imr;
			if (post_one(&r, k, i)) {
				fprintf(stderr, "odp_lifecycle: post: %s\n", strerror(errno));
				return 1;
			}
			r.rmr = rmr;
			nsend += k == K_SEND;
		}
		if (!it) {
			printf("ready\n");
			fflush(stdout);
		}
		if (drain(r.a.cq, nops, DRAIN_SECS, &ta) != nops ||
		    drain(r.b.cq, nsend, DRAIN_SECS, &tb) != nsend ||
		    ta.st[IBV_WC_SUCCESS] != nops || tb.st[IBV_WC_SUCCESS] != nsend) {
			char as[160], bs[160];

			tally_str(&ta, as, sizeof(as));
			tally_str(&tb, bs, sizeof(bs));
			fprintf(stderr, "odp_lifecycle: iteration %d: A %d/%d: %s; B %d/%d: %s\n",
				it, ta.n, nops, as, tb.n, nsend, bs);
			bad = 1;
			break;
		}
		printf("# iter %d\n", it);
		fflush(stdout);

		/* fresh memory: every page faults again next time */
		madvise(r.lbuf, nops * msg, MADV_DONTNEED);
		if (ibv_dereg_mr(r.rmr)) {
			fprintf(stderr, "odp_lifecycle: dereg: %s\n", strerror(errno));
			return 1;
		}
		r.rmr = NULL;
		munmap(r.rbuf, nops * msg);
		r.rbuf = fresh(nops * msg);
		if (!r.rbuf || !(r.rmr = reg(r.rbuf, false))) {
			fprintf(stderr, "odp_lifecycle: new remote MR: %s\n", strerror(errno));
			return 1;
		}
	}
	printf("# traffic: %d iterations%s\n", it, bad ? ", then a failure" : "");
	if (imr && ibv_dereg_mr(imr))
		bad = 1;
	if (lc_teardown(&r, NULL, 0))
		bad = 1;
	return bad;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: odp_lifecycle [-d DEV] [-g GID_INDEX] [-r ROUNDS] [-c CASES] "
		"[-n NOPS] [-s MSG_KIB] [--traffic SECS | --quick]\n"
		"  CASES: comma separated dereg, destroy, implicit (default all)\n");
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "traffic", required_argument, NULL, 'T' },
		{ "quick", no_argument, NULL, 'Q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool do_dereg = true, do_destroy = true, do_implicit = true;
	int rounds = 3, opt, round, planned, mode = 0;
	const char *dev = NULL;
	double tsecs = 0;
	uint64_t gen = 0;
	uint32_t rc = 0;
	char *cases;

	while ((opt = getopt_long(argc, argv, "d:g:r:c:n:s:h", lopts, NULL)) != -1) {
		switch (opt) {
		case 'd': dev = optarg; break;
		case 'g': setenv("RXE_GID_INDEX", optarg, 1); break;
		case 'r': rounds = atoi(optarg); break;
		case 'n': nops = atoi(optarg); break;
		case 's': msg = strtoul(optarg, NULL, 0) * KIB; break;
		case 'T': mode = 'T'; tsecs = atof(optarg); break;
		case 'Q': mode = 'Q'; break;
		case 'c':
			do_dereg = do_destroy = do_implicit = false;
			for (cases = strtok(optarg, ","); cases; cases = strtok(NULL, ",")) {
				if (!strcmp(cases, "dereg"))
					do_dereg = true;
				else if (!strcmp(cases, "destroy"))
					do_destroy = true;
				else if (!strcmp(cases, "implicit"))
					do_implicit = true;
				else {
					usage(stderr);
					return 2;
				}
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || rounds < 1 || nops < 1 || nops > MAX_NOPS || msg < 4 * KIB ||
	    msg > 64 * 1024 * KIB || (mode == 'T' && tsecs <= 0)) {
		usage(stderr);
		return 2;
	}
	signal(SIGALRM, watchdog);

	/* bails out (TAP) on failure; a traffic run's caller sees no "ready" */
	vu_setup(&c, dev);
	have_implicit = !vu_odp_caps(c.ctx, &gen, &rc) && (gen & IBV_ODP_SUPPORT_IMPLICIT);
	if (mode == 'T') {
		if (!vu_has_odp(c.ctx, IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ |
				IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV)) {
			fprintf(stderr, "odp_lifecycle: %s has no RC ODP\n",
				ibv_get_device_name(c.ctx->device));
			return 1;
		}
		return traffic(tsecs);
	}
	if (mode == 'Q') {
		if (!vu_has_odp(c.ctx, IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ |
				IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV)) {
			tap_plan(5);
			tap_skip_rest(5, "device has no RC ODP", "odp_lifecycle --quick");
			return tap_exit_status();
		}
		return quick();
	}

	planned = rounds * (4 * do_dereg + 2 * do_destroy + 4 * do_implicit) + 1;
	tap_plan(planned);
	tap_diag("%s: %d ops of %zu KiB per case, %d rounds; bounds: teardown call %.0f s, "
		 "completions %.0f s", ibv_get_device_name(c.ctx->device), nops, msg / KIB,
		 rounds, EVENT_SECS, DRAIN_SECS);
	if (!vu_has_odp(c.ctx, IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ |
			IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV)) {
		tap_skip_rest(planned, "device has no RC ODP", "odp_lifecycle");
		return tap_exit_status();
	}
	for (round = 1; round <= rounds; round++) {
		enum kind k;

		if (do_dereg)
			for (k = K_WRITE; k <= K_LREAD; k++)
				case_dereg(round, k, false);
		if (do_destroy) {
			case_destroy(round, true);
			case_destroy(round, false);
		}
		if (do_implicit)
			for (k = K_WRITE; k <= K_LREAD; k++) {
				if (have_implicit)
					case_dereg(round, k, true);
				else
					tap_skip("no IBV_ODP_SUPPORT_IMPLICIT", "implicit ODP dereg");
			}
	}
	alarm(0);
	tap_ok(events && events_in_flight * 2 >= events,
	       "most teardowns found work in flight (%d of %d)", events_in_flight, events);
	ibv_dealloc_pd(c.pd);
	ibv_close_device(c.ctx);
	return tap_exit_status();
}
