// SPDX-License-Identifier: GPL-2.0
/*
 * A UC message that meets an ODP fault the responder cannot resolve at
 * once (review finding M2).  UC has no RNR NAK: the responder drops the
 * message, which UC allows; the messages after it must not suffer.
 *
 * The receive buffer is an ODP MR of MSG bytes (13 packets at MTU 1024),
 * faulted in by a first message.  Then one of its pages is dropped
 * (MADV_DONTNEED: the MR's mapping of it is invalidated), so that the
 * first, a middle or the last packet of the next message faults, and
 * fail_rxe_odp_fault makes that fault fail transiently, once.  Two
 * messages are sent: A (which meets the fault) and B.  For each of the
 * three packets, on a QP with its own receive queue and on one with an
 * SRQ, with one receive WQE posted:
 *   - exactly one receive completion, IBV_WC_SUCCESS, of B's length, and
 *     the buffer holds B byte for byte: A was dropped as a whole, B was
 *     received into the WQE that A could not fill.
 * And for RDMA WRITEs of MSG bytes (A's middle packet faults), on both
 * QPs: B's bytes all land.
 * Skips without UC ODP support or without the fault-injection knob.
 *
 * Usage: odp_uc_fault [-d DEV] [-g GID_INDEX]
 */
#include <sys/mman.h>
#include "verbs_util.h"

#define PG	4096u
#define MSG	(3u * PG + 100)		/* 13 packets at MTU 1024 */
#define ACC	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_ON_DEMAND)
#define PLAN	8

static struct vu_ctx c;

struct uc {
	struct ibv_cq *scq, *rcq;
	struct ibv_srq *srq;
	struct ibv_qp *a, *b;	/* a sends to b */
};

static struct ibv_qp *uc_qp(struct ibv_cq *cq, struct ibv_srq *srq)
{
	return vu_uc_qp(&c, cq, srq, 8, 1);
}

static int uc_connect(struct ibv_qp *qp, uint32_t remote_qpn)
{
	return vu_uc_connect(&c, qp, remote_qpn, 0x4000);
}

static int uc_setup(struct uc *u, int with_srq)
{
	struct ibv_srq_init_attr sa = { .attr = { .max_wr = 8, .max_sge = 1 } };

	memset(u, 0, sizeof(*u));
	u->scq = ibv_create_cq(c.ctx, 16, NULL, NULL, 0);
	u->rcq = ibv_create_cq(c.ctx, 16, NULL, NULL, 0);
	if (!u->scq || !u->rcq)
		return -1;
	if (with_srq && !(u->srq = ibv_create_srq(c.pd, &sa)))
		return -1;
	u->a = uc_qp(u->scq, NULL);
	u->b = uc_qp(u->rcq, u->srq);
	if (!u->a || !u->b)
		return -1;
	return uc_connect(u->a, u->b->qp_num) || uc_connect(u->b, u->a->qp_num);
}

static void uc_free(struct uc *u)
{
	if (u->a)
		ibv_destroy_qp(u->a);
	if (u->b)
		ibv_destroy_qp(u->b);
	if (u->srq)
		ibv_destroy_srq(u->srq);
	if (u->scq)
		ibv_destroy_cq(u->scq);
	if (u->rcq)
		ibv_destroy_cq(u->rcq);
}

static int post_recv(struct uc *u, struct ibv_mr *mr, char *buf)
{
	struct ibv_sge sge = { (uintptr_t)buf, MSG, mr->lkey };
	struct ibv_recv_wr wr = { .wr_id = 7, .sg_list = &sge, .num_sge = 1 }, *bad;

	return u->srq ? ibv_post_srq_recv(u->srq, &wr, &bad) : ibv_post_recv(u->b, &wr, &bad);
}

/*
 * One UC send (DST NULL) or RDMA write to DST of RKEY of MSG bytes from
 * SRC, waited for at the requester: status or -1.
 */
static int post1(struct uc *u, struct ibv_mr *mr, char *src, char *dst, uint32_t rkey)
{
	struct ibv_sge sge = { (uintptr_t)src, MSG, mr->lkey };
	struct ibv_send_wr wr = { .sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_SEND }, *bad;
	struct ibv_wc wc;

	if (dst) {
		wr.opcode = IBV_WR_RDMA_WRITE;
		wr.wr.rdma.remote_addr = (uintptr_t)dst;
		wr.wr.rdma.rkey = rkey;
	}
	if (ibv_post_send(u->a, &wr, &bad))
		return -1;
	return vu_poll(u->scq, &wc, 30) == 1 ? (int)wc.status : -1;
}

int main(int argc, char **argv)
{
	const char *dev = vu_args(argc, argv, "odp_uc_fault [-d DEV] [-g GID_INDEX]");
	static const char *const where[] = { "first", "middle", "last" };
	const unsigned int page_of[] = { 0, 1, 3 };	/* packet 0, 4, 12 */
	struct ibv_device_attr_ex attr = { 0 };
	struct ibv_mr *smr, *dmr;
	char *sbuf, *dbuf;
	struct ibv_wc wc, wc2;
	int srq, w, st, n, n2;
	long bad, left;
	struct uc u;

	tap_plan(PLAN);
	vu_setup(&c, dev);
	if (ibv_query_device_ex(c.ctx, NULL, &attr) ||
	    (attr.odp_caps.per_transport_caps.uc_odp_caps &
	     (IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV)) !=
	    (IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV)) {
		tap_skip_rest(PLAN, "no UC ODP send/receive support", "UC message lost to a fault");
		return tap_exit_status();
	}
	if (access(VU_FI_FAULT "/probability", W_OK)) {
		tap_skip_rest(PLAN, "no " VU_FI_FAULT " (CONFIG_RDMA_RXE_ODP_FAULT_INJECTION)",
			      "UC message lost to a fault");
		return tap_exit_status();
	}
	sbuf = malloc(MSG);
	dbuf = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!sbuf || dbuf == MAP_FAILED)
		tap_bail("memory: %s", strerror(errno));
	smr = ibv_reg_mr(c.pd, sbuf, MSG, IBV_ACCESS_LOCAL_WRITE);
	dmr = ibv_reg_mr(c.pd, dbuf, 4 * PG, ACC);
	if (!smr || !dmr)
		tap_bail("ibv_reg_mr: %s", strerror(errno));

	for (srq = 0; srq < 2; srq++) {
		for (w = 0; w < 3; w++) {
			if (uc_setup(&u, srq))
				tap_bail("UC QPs%s: %s", srq ? " with an SRQ" : "", strerror(errno));

			/* fault the whole buffer in with a first message */
			vu_fill(sbuf, MSG, 10 + w);
			if (post_recv(&u, dmr, dbuf) || post1(&u, smr, sbuf, NULL, 0) ||
			    vu_poll(u.rcq, &wc, 30) != 1 || wc.status ||
			    vu_mismatch(dbuf, MSG, 10 + w) >= 0)
				tap_bail("first UC message into the ODP buffer failed");

			/* drop the page of one packet, make its fault fail once */
			if (madvise(dbuf + page_of[w] * PG, PG, MADV_DONTNEED))
				tap_bail("madvise: %s", strerror(errno));
			if (post_recv(&u, dmr, dbuf))
				tap_bail("ibv_post_recv: %s", strerror(errno));
			if (vu_fi_on("100", 1))
				tap_bail("cannot set " VU_FI_FAULT ": %s", strerror(errno));

			/* A meets the fault, B must arrive whole */
			vu_fill(sbuf, MSG, 20 + w);
			st = post1(&u, smr, sbuf, NULL, 0);
			vu_fill(sbuf, MSG, 30 + w);
			st = st ? st : post1(&u, smr, sbuf, NULL, 0);
			n = vu_poll(u.rcq, &wc, 10);
			usleep(200000);
			n2 = ibv_poll_cq(u.rcq, 1, &wc2);
			left = vu_fi_times();
			vu_fi_on("0", 0);
			bad = n == 1 && !wc.status ? vu_mismatch(dbuf, MSG, 30 + w) : -2;
			tap_ok(!st && n == 1 && wc.status == IBV_WC_SUCCESS && wc.byte_len == MSG &&
			       bad < 0 && n2 == 0 && left == 0,
			       "UC%s: a message whose %s packet meets a transient fault is dropped, the next one lands whole (sends %d, completions %d+%d, status %d, len %u, mismatch %ld, fault injected %s)",
			       srq ? " with an SRQ" : "", where[w], st, n, n2, n ? (int)wc.status : -1,
			       n ? wc.byte_len : 0, bad, left == 0 ? "yes" : "no");
			uc_free(&u);
		}
	}

	/* RDMA WRITE: A's middle packet faults, B lands whole */
	for (srq = 0; srq < 2; srq++) {
		if (uc_setup(&u, srq))
			tap_bail("UC QPs%s: %s", srq ? " with an SRQ" : "", strerror(errno));
		vu_fill(sbuf, MSG, 40);
		if (post1(&u, smr, sbuf, dbuf, dmr->rkey))
			tap_bail("first UC write failed");
		for (n = 0; n < 3000 && vu_mismatch(dbuf, MSG, 40) >= 0; n++)
			usleep(10000);
		if (madvise(dbuf + PG, PG, MADV_DONTNEED))
			tap_bail("madvise: %s", strerror(errno));
		if (vu_fi_on("100", 1))
			tap_bail("cannot set " VU_FI_FAULT ": %s", strerror(errno));
		vu_fill(sbuf, MSG, 50);
		st = post1(&u, smr, sbuf, dbuf, dmr->rkey);
		vu_fill(sbuf, MSG, 60);
		st = st ? st : post1(&u, smr, sbuf, dbuf, dmr->rkey);
		for (n = 0; n < 1000 && (bad = vu_mismatch(dbuf, MSG, 60)) >= 0; n++)
			usleep(10000);
		left = vu_fi_times();
		vu_fi_on("0", 0);
		tap_ok(!st && bad < 0 && left == 0,
		       "UC%s: an RDMA WRITE whose middle packet meets a transient fault is dropped, the next one lands whole (writes %d, mismatch %ld, fault injected %s)",
		       srq ? " with an SRQ" : "", st, bad, left == 0 ? "yes" : "no");
		uc_free(&u);
	}
	ibv_dereg_mr(dmr);
	ibv_dereg_mr(smr);
	return tap_exit_status();
}
