// SPDX-License-Identifier: GPL-2.0
/*
 * Teardown of an ODP MR while the responder holds a read fault: the
 * flush-then-teardown order of applications.
 *
 * An RDMA READ targets pages of an ODP MR that are not mapped, while
 * fail_rxe_odp_fault (debugfs, CONFIG_RDMA_RXE_ODP_FAULT_INJECTION) makes
 * every fault fail transiently: the responder keeps the read pending and
 * retries it.  Then the responder QP is moved to ERR (as a disconnect or
 * ibv_modify_qp(IBV_QPS_ERR) does), the MR is deregistered before the QPs
 * are destroyed, and only then are the QPs destroyed.
 *
 *   1. the read is held up while the faults fail (no completion yet, and
 *      faults were injected);
 *   2. ibv_dereg_mr() of the ODP MR returns 0 at once (within DEREG_SECS):
 *      nothing in the flushed QP still holds the MR;
 *   3. the QPs are destroyed;
 *   4. an RDMA READ from a new MR over the same memory returns the bytes
 *      written there by the CPU (the device still works).
 * The kernel log is checked by the runner: a WARN from rxe's pool
 * ("cleanup failed") or a KASAN use-after-free at QP destroy fails the
 * run.  Skips without ODP or without the fault-injection knob.
 *
 * Usage: odp_teardown [-d DEV] [-g GID_INDEX]
 */
#include <signal.h>
#include "verbs_util.h"

#define LEN		(256 * 1024)
#define DEREG_SECS	5.0
#define KNOB		VU_FI_FAULT
#define PLAN		4

static void on_alarm(int sig)
{
	static const char msg[] = "Bail out! odp_teardown: no progress for 120 s\n";

	(void)sig;
	if (write(1, msg, sizeof(msg) - 1) < 0)
		_exit(1);
	_exit(1);
}

int main(int argc, char **argv)
{
	const char *dev = vu_args(argc, argv, "odp_teardown [-d DEV] [-g GID_INDEX]");
	struct ibv_qp_attr qa = { .qp_state = IBV_QPS_ERR };
	const long times = 100000000;
	struct vu_qp a = { 0 }, b = { 0 };
	struct ibv_mr *lmr, *rmr;
	struct ibv_wc wc;
	struct vu_ctx c;
	char *rbuf, *lbuf;
	long injected;
	double t0, t;
	int n, ret;

	tap_plan(PLAN);
	vu_setup(&c, dev);
	if (!vu_has_odp(c.ctx, IBV_ODP_SUPPORT_READ)) {
		tap_skip_rest(PLAN, "no RC ODP read support", "teardown with a read fault pending");
		return tap_exit_status();
	}
	if (access(KNOB "/probability", W_OK)) {
		tap_skip_rest(PLAN, "no " KNOB " (CONFIG_RDMA_RXE_ODP_FAULT_INJECTION)",
			      "teardown with a read fault pending");
		return tap_exit_status();
	}
	signal(SIGALRM, on_alarm);
	alarm(120);

	/*
	 * No retransmission by the requester (ACK timeout 0): a resent READ
	 * would be a duplicate, which the responder serves as a replay, not
	 * as the new request whose MR reference is at stake.
	 */
	if (vu_qp_create(&c, &a, 4) || vu_qp_create(&c, &b, 4) ||
	    vu_qp_connect_timeout(&c, a.qp, b.qp->qp_num, VU_QP_ACCESS, 7, 0) ||
	    vu_qp_connect(&c, b.qp, a.qp->qp_num))
		tap_bail("QP pair: %s", strerror(errno));
	rbuf = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	lbuf = malloc(LEN);
	if (rbuf == MAP_FAILED || !lbuf)
		tap_bail("memory: %s", strerror(errno));
	memset(lbuf, 0, LEN);
	lmr = ibv_reg_mr(c.pd, lbuf, LEN, IBV_ACCESS_LOCAL_WRITE);
	rmr = ibv_reg_mr(c.pd, rbuf, LEN, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |
			 IBV_ACCESS_ON_DEMAND);
	if (!lmr || !rmr)
		tap_bail("ibv_reg_mr: %s", strerror(errno));

	/* 1. a read of the MR's untouched pages, every fault failing */
	if (vu_fi_on("100", times))
		tap_bail("cannot set " KNOB ": %s", strerror(errno));
	{
		struct ibv_sge sge = { .addr = (uintptr_t)lbuf, .length = LEN, .lkey = lmr->lkey };
		struct ibv_send_wr wr = { .sg_list = &sge, .num_sge = 1,
					  .opcode = IBV_WR_RDMA_READ,
					  .send_flags = IBV_SEND_SIGNALED }, *bad;

		wr.wr.rdma.remote_addr = (uintptr_t)rbuf;
		wr.wr.rdma.rkey = rmr->rkey;
		if (ibv_post_send(a.qp, &wr, &bad))
			tap_bail("ibv_post_send: %s", strerror(errno));
	}
	n = vu_poll(a.cq, &wc, 0.5);
	injected = times - vu_fi_times();
	tap_ok(n == 0 && injected > 0,
	       "the RDMA READ is held up while its faults fail transiently (%s, %ld faults injected)",
	       n ? "completed" : "no completion in 0.5 s", injected);

	/* 2. flush the responder, then deregister the MR before destroying */
	if (ibv_modify_qp(b.qp, &qa, IBV_QP_STATE))
		tap_bail("ibv_modify_qp(responder, ERR): %s", strerror(errno));
	usleep(100000);
	t0 = vu_now();
	ret = ibv_dereg_mr(rmr);
	t = vu_now() - t0;
	vu_fi_on("0", 0);
	tap_ok(!ret && t < DEREG_SECS,
	       "ibv_dereg_mr of the ODP MR after the responder QP went to ERR: %s in %.2f s (limit %.0f s)",
	       ret ? strerror(ret) : "0", t, DEREG_SECS);

	/* 3. then the QPs */
	qa.qp_state = IBV_QPS_ERR;
	ibv_modify_qp(a.qp, &qa, IBV_QP_STATE);
	while (ibv_poll_cq(a.cq, 1, &wc) > 0)
		;
	ret = ibv_destroy_qp(b.qp) | ibv_destroy_qp(a.qp);
	b.qp = a.qp = NULL;
	tap_ok(!ret, "both QPs destroyed after the MR (%d)", ret);
	vu_qp_destroy(&a);
	vu_qp_destroy(&b);

	/* 4. the device still serves ODP reads of the same memory */
	vu_fill(rbuf, LEN, 7);
	memset(lbuf, 0, LEN);
	if (vu_pair(&c, &a, &b, 4))
		tap_bail("second QP pair: %s", strerror(errno));
	rmr = ibv_reg_mr(c.pd, rbuf, LEN, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |
			 IBV_ACCESS_ON_DEMAND);
	if (!rmr)
		tap_bail("ibv_reg_mr: %s", strerror(errno));
	{
		struct ibv_sge sge = { .addr = (uintptr_t)lbuf, .length = LEN, .lkey = lmr->lkey };
		long bad;

		ret = vu_post1(&a, IBV_WR_RDMA_READ, &sge, (uintptr_t)rbuf, rmr->rkey, 0, 0, 30);
		bad = vu_mismatch(lbuf, LEN, 7);
		tap_ok(ret == IBV_WC_SUCCESS && bad < 0,
		       "a new ODP MR over the same memory: RDMA READ status %d, first wrong byte %ld",
		       ret, bad);
	}
	ibv_dereg_mr(rmr);
	ibv_dereg_mr(lmr);
	vu_qp_destroy(&a);
	vu_qp_destroy(&b);
	ibv_dealloc_pd(c.pd);
	ibv_close_device(c.ctx);
	return tap_exit_status();
}
