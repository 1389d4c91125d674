// SPDX-License-Identifier: GPL-2.0
/*
 * RDMA WRITE with immediate into an ODP MR, received on an SRQ, while
 * page faults fail transiently (fail_rxe_odp_fault): each write takes one
 * SRQ WQE, however many times an RNR NAK makes the requester resend it.
 *
 * N one-packet writes with immediate go to N untouched pages of an ODP MR;
 * the SRQ holds exactly N receive WQEs.  Half of the page faults fail, so
 * writes are answered with RNR NAKs and resent.  A write that took a new
 * WQE for every resend would leave too few for the last writes, which
 * then wait for a WQE forever.
 *   1. every write completes successfully at the requester;
 *   2. the responder completes N receives, each with its write's
 *      immediate data, in order;
 *   3. the data landed (byte for byte) and RNR NAKs were sent (the retry
 *      path ran).
 * Skips without RC ODP write/SRQ support or without the knob.
 *
 * Usage: odp_srq_wimm [-d DEV] [-g GID_INDEX]
 */
#include <arpa/inet.h>
#include "verbs_util.h"

#define N	16
#define MSG	512
#define PAGE	4096
#define KNOB	VU_FI_FAULT
#define PLAN	3

int main(int argc, char **argv)
{
	const char *dev = vu_args(argc, argv, "odp_srq_wimm [-d DEV] [-g GID_INDEX]");
	struct ibv_srq_init_attr sa = { .attr = { .max_wr = N, .max_sge = 1 } };
	struct ibv_qp_init_attr ia;
	struct vu_qp a = { 0 }, b = { 0 };
	struct ibv_mr *lmr, *rmr, *smr;
	long long rnr0, rnr1;
	struct ibv_srq *srq;
	struct ibv_wc wc;
	char *lbuf, *rbuf, *sbuf;
	int i, sent = 0, recvd = 0, inorder = 1, firstbad = -1;
	long bad = -1;
	struct vu_ctx c;

	tap_plan(PLAN);
	vu_setup(&c, dev);
	if (!vu_has_odp(c.ctx, IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_SRQ_RECV)) {
		tap_skip_rest(PLAN, "no RC ODP write and SRQ receive support", "write with immediate on an SRQ");
		return tap_exit_status();
	}
	if (access(KNOB "/probability", W_OK)) {
		tap_skip_rest(PLAN, "no " KNOB " (CONFIG_RDMA_RXE_ODP_FAULT_INJECTION)",
			      "write with immediate on an SRQ");
		return tap_exit_status();
	}
	srq = ibv_create_srq(c.pd, &sa);
	if (!srq)
		tap_bail("ibv_create_srq: %s", strerror(errno));
	if (vu_qp_create(&c, &a, N))
		tap_bail("requester QP: %s", strerror(errno));
	b.cq = ibv_create_cq(c.ctx, 2 * N, NULL, NULL, 0);
	memset(&ia, 0, sizeof(ia));
	ia.send_cq = b.cq;
	ia.recv_cq = b.cq;
	ia.srq = srq;
	ia.qp_type = IBV_QPT_RC;
	ia.sq_sig_all = 1;
	ia.cap.max_send_wr = 4;
	ia.cap.max_send_sge = 1;
	b.qp = b.cq ? ibv_create_qp(c.pd, &ia) : NULL;
	if (!b.qp)
		tap_bail("responder QP on the SRQ: %s", strerror(errno));
	if (vu_qp_connect(&c, a.qp, b.qp->qp_num) || vu_qp_connect(&c, b.qp, a.qp->qp_num))
		tap_bail("connect: %s", strerror(errno));

	lbuf = malloc(N * MSG);
	sbuf = malloc(N * 64);
	rbuf = mmap(NULL, N * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!lbuf || !sbuf || rbuf == MAP_FAILED)
		tap_bail("memory: %s", strerror(errno));
	vu_fill(lbuf, N * MSG, 11);
	lmr = ibv_reg_mr(c.pd, lbuf, N * MSG, IBV_ACCESS_LOCAL_WRITE);
	smr = ibv_reg_mr(c.pd, sbuf, N * 64, IBV_ACCESS_LOCAL_WRITE);
	rmr = ibv_reg_mr(c.pd, rbuf, N * PAGE, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			 IBV_ACCESS_ON_DEMAND);
	if (!lmr || !smr || !rmr)
		tap_bail("ibv_reg_mr: %s", strerror(errno));

	/* exactly N receive WQEs */
	for (i = 0; i < N; i++) {
		struct ibv_sge sge = { .addr = (uintptr_t)(sbuf + i * 64), .length = 64,
				       .lkey = smr->lkey };
		struct ibv_recv_wr wr = { .wr_id = i, .sg_list = &sge, .num_sge = 1 }, *badwr;

		if (ibv_post_srq_recv(srq, &wr, &badwr))
			tap_bail("ibv_post_srq_recv: %s", strerror(errno));
	}

	rnr0 = vu_hw_counter(c.ctx, "odp_rnr_naks");
	if (vu_fi_on("50", 1000000))
		tap_bail("cannot set " KNOB ": %s", strerror(errno));
	/* one write at a time: each its own one-packet message to a fresh page */
	for (i = 0; i < N; i++) {
		struct ibv_sge sge = { .addr = (uintptr_t)(lbuf + i * MSG), .length = MSG,
				       .lkey = lmr->lkey };
		struct ibv_send_wr wr = { .wr_id = i, .sg_list = &sge, .num_sge = 1,
					  .opcode = IBV_WR_RDMA_WRITE_WITH_IMM,
					  .send_flags = IBV_SEND_SIGNALED }, *badwr;

		wr.imm_data = htonl(0x1000 + i);
		wr.wr.rdma.remote_addr = (uintptr_t)(rbuf + i * PAGE);
		wr.wr.rdma.rkey = rmr->rkey;
		if (ibv_post_send(a.qp, &wr, &badwr))
			tap_bail("ibv_post_send: %s", strerror(errno));
		if (vu_poll(a.cq, &wc, 30) != 1) {
			tap_diag("write %d: no completion in 30 s", i);
			break;
		}
		if (wc.status != IBV_WC_SUCCESS) {
			tap_diag("write %d: status %s", i, ibv_wc_status_str(wc.status));
			break;
		}
		sent++;
	}
	vu_fi_set("probability", "0");
	rnr1 = vu_hw_counter(c.ctx, "odp_rnr_naks");
	tap_ok(sent == N, "%d of %d RDMA WRITEs with immediate completed (half the page faults failing)",
	       sent, N);

	while (recvd < N && vu_poll(b.cq, &wc, recvd < sent ? 10 : 0.2) == 1) {
		if (wc.status != IBV_WC_SUCCESS || wc.opcode != IBV_WC_RECV_RDMA_WITH_IMM ||
		    ntohl(wc.imm_data) != 0x1000U + recvd || wc.wr_id != (uint64_t)recvd) {
			if (firstbad < 0)
				firstbad = recvd;
			inorder = 0;
		}
		recvd++;
	}
	tap_ok(recvd == N && inorder,
	       "the responder completed %d receives (want %d), each with its write's immediate data%s",
	       recvd, N, inorder ? "" : " (NOT: a wrong completion, see the first bad one)");
	if (firstbad >= 0)
		tap_diag("first bad receive completion: #%d", firstbad);

	for (i = 0; i < sent && bad < 0; i++) {
		if (memcmp(rbuf + i * PAGE, lbuf + i * MSG, MSG))
			bad = i;
	}
	tap_ok(sent == N && bad < 0 && rnr1 > rnr0,
	       "every write's bytes landed (first bad write %ld), and %lld RNR NAKs were sent for failed faults",
	       bad, rnr1 - rnr0);

	ibv_dereg_mr(rmr);
	ibv_dereg_mr(smr);
	ibv_dereg_mr(lmr);
	vu_qp_destroy(&a);
	vu_qp_destroy(&b);
	ibv_destroy_srq(srq);
	ibv_dealloc_pd(c.pd);
	ibv_close_device(c.ctx);
	return tap_exit_status();
}
