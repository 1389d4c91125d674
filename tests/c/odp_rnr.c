// SPDX-License-Identifier: GPL-2.0
/*
 * The RNR NAK of an ODP fault that cannot be resolved at once (review
 * finding L2): the responder answers it with an RNR NAK carrying its own
 * min_rnr_timer, as for an empty receive queue (IBA 9.7.5.2.8), and the
 * requester's rnr_retry decides what happens next.
 *
 * An RDMA WRITE of LEN bytes goes into ODP pages the responder has just
 * dropped, and fail_rxe_odp_fault makes the responder's first fault fail
 * transiently, once:
 *   1. responder min_rnr_timer 12 (0.64 ms), requester rnr_retry 7: the
 *      write completes successfully, its bytes land, odp_rnr_naks moved,
 *      and the retry came soon (under FAST_SECS);
 *   2. min_rnr_timer 0 (655.36 ms in the IBA encoding): the write
 *      completes successfully, but not before the 655 ms the NAK asked
 *      the requester to wait;
 *   3. requester rnr_retry 0: the write completes with
 *      IBV_WC_RNR_RETRY_EXC_ERR, the one status IBA gives for it.
 * Skips without RC ODP write support or without the fault-injection knob.
 *
 * Usage: odp_rnr [-d DEV] [-g GID_INDEX]
 */
#include <sys/mman.h>
#include "verbs_util.h"

#define LEN		(64 * 1024)
#define FAST_SECS	0.3
#define PLAN		3

static struct vu_ctx c;

/*
 * A write of LEN bytes (pattern SEED) into DST, whose pages were just
 * dropped, with the responder's first fault failing: its status, the
 * seconds it took, the RNR NAKs the responder sent.
 */
static int faulted_write(int min_rnr_timer, int rnr_retry, struct ibv_mr *smr, char *src,
			 struct ibv_mr *dmr, char *dst, unsigned int seed, double *secs,
			 long long *naks)
{
	struct vu_qp a = { 0 }, b = { 0 };
	struct ibv_sge sge = { (uintptr_t)src, LEN, smr->lkey };
	long long n0;
	double t0;
	int st;

	if (vu_qp_create(&c, &a, 4) || vu_qp_create(&c, &b, 4) ||
	    vu_qp_connect_rnr(&c, a.qp, b.qp->qp_num, VU_QP_ACCESS, 7, 14, 12, rnr_retry) ||
	    vu_qp_connect_rnr(&c, b.qp, a.qp->qp_num, VU_QP_ACCESS, 7, 14, min_rnr_timer, 7))
		tap_bail("QP pair: %s", strerror(errno));
	vu_fill(src, LEN, seed);
	if (madvise(dst, LEN, MADV_DONTNEED))
		tap_bail("madvise: %s", strerror(errno));
	n0 = vu_hw_counter(c.ctx, "odp_rnr_naks");
	if (vu_fi_on("100", 1))
		tap_bail("cannot set " VU_FI_FAULT ": %s", strerror(errno));
	t0 = vu_now();
	st = vu_post1(&a, IBV_WR_RDMA_WRITE, &sge, (uintptr_t)dst, dmr->rkey, 0, 0, 30);
	*secs = vu_now() - t0;
	vu_fi_on("0", 0);
	*naks = vu_hw_counter(c.ctx, "odp_rnr_naks") - n0;
	vu_qp_destroy(&a);
	vu_qp_destroy(&b);
	return st;
}

int main(int argc, char **argv)
{
	const char *dev = vu_args(argc, argv, "odp_rnr [-d DEV] [-g GID_INDEX]");
	struct ibv_mr *smr, *dmr;
	char *src, *dst;
	long long naks;
	double secs;
	long bad;
	int st;

	tap_plan(PLAN);
	vu_setup(&c, dev);
	if (!vu_has_odp(c.ctx, IBV_ODP_SUPPORT_WRITE)) {
		tap_skip_rest(PLAN, "no RC ODP write support", "RNR NAK of an ODP fault");
		return tap_exit_status();
	}
	if (access(VU_FI_FAULT "/probability", W_OK)) {
		tap_skip_rest(PLAN, "no " VU_FI_FAULT " (CONFIG_RDMA_RXE_ODP_FAULT_INJECTION)",
			      "RNR NAK of an ODP fault");
		return tap_exit_status();
	}
	src = malloc(LEN);
	dst = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!src || dst == MAP_FAILED)
		tap_bail("memory: %s", strerror(errno));
	smr = ibv_reg_mr(c.pd, src, LEN, IBV_ACCESS_LOCAL_WRITE);
	dmr = ibv_reg_mr(c.pd, dst, LEN, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			 IBV_ACCESS_ON_DEMAND);
	if (!smr || !dmr)
		tap_bail("ibv_reg_mr: %s", strerror(errno));

	st = faulted_write(12, 7, smr, src, dmr, dst, 1, &secs, &naks);
	bad = st ? -2 : vu_mismatch(dst, LEN, 1);
	tap_ok(st == IBV_WC_SUCCESS && bad < 0 && naks >= 1 && secs < FAST_SECS,
	       "min_rnr_timer 0.64 ms, rnr_retry 7: the write completes after the fault's RNR NAK (status %d, mismatch %ld, %lld NAKs, %.3f s, limit %.1f s)",
	       st, bad, naks, secs, FAST_SECS);

	st = faulted_write(0, 7, smr, src, dmr, dst, 2, &secs, &naks);
	bad = st ? -2 : vu_mismatch(dst, LEN, 2);
	tap_ok(st == IBV_WC_SUCCESS && bad < 0 && naks >= 1 && secs >= 0.6,
	       "min_rnr_timer 655.36 ms: the NAK makes the requester wait that long, then the write completes (status %d, mismatch %ld, %lld NAKs, %.3f s)",
	       st, bad, naks, secs);

	st = faulted_write(12, 0, smr, src, dmr, dst, 3, &secs, &naks);
	tap_ok(st == IBV_WC_RNR_RETRY_EXC_ERR && naks >= 1,
	       "rnr_retry 0: the write completes with IBV_WC_RNR_RETRY_EXC_ERR (status %d, %lld NAKs)",
	       st, naks);

	ibv_dereg_mr(dmr);
	ibv_dereg_mr(smr);
	return tap_exit_status();
}
