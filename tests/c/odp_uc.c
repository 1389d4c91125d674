// SPDX-License-Identifier: GPL-2.0
/*
 * UC with ODP MRs on both sides: the UC ODP caps, send/receive and RDMA
 * write (with and without immediate) of multi-packet messages into
 * never-touched and into dropped (MADV_DONTNEED) ODP memory, data compared
 * byte for byte, the ODP counters showing the faults and that a second pass
 * over mapped pages faults nothing.  UC has no NAK: a write into an
 * unmapped part of an ODP MR is dropped by the responder, which must leave
 * the QP working.
 *
 * Usage: odp_uc [-d DEV] [-g GID_INDEX]
 */
#include <getopt.h>
#include <sys/mman.h>
#include <unistd.h>
#include "tap.h"
#include "verbs_util.h"

#define PLAN	10
#define MSG	(3u * 4096 + 100)	/* four packets at MTU 1024 and more */
#define BUFSZ	(64u * 4096)
#define ACC	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_ON_DEMAND)

static struct vu_ctx c;
static struct vu_qp a, b;

static int uc_qp(struct vu_qp *q)
{
	q->cq = ibv_create_cq(c.ctx, 32, NULL, NULL, 0);
	if (!q->cq)
		return -1;
	q->qp = vu_uc_qp(&c, q->cq, NULL, 16, 2);
	return q->qp ? 0 : -1;
}

static int uc_connect(struct ibv_qp *qp, uint32_t remote_qpn)
{
	return vu_uc_connect(&c, qp, remote_qpn, 0x2000);
}

static int post_recv(struct ibv_mr *mr, char *buf, uint32_t len)
{
	struct ibv_sge sge = { (uintptr_t)buf, len, mr->lkey };
	struct ibv_recv_wr wr = { .sg_list = &sge, .num_sge = 1 }, *bad;

	return ibv_post_recv(b.qp, &wr, &bad);
}

/* post one send-side WR on A and wait for its completion: status or -1 */
static int post_send(enum ibv_wr_opcode op, struct ibv_mr *lmr, char *src,
		     uint32_t len, struct ibv_mr *rmr, char *dst, uint32_t imm)
{
	struct ibv_sge sge = { (uintptr_t)src, len, lmr->lkey };
	struct ibv_send_wr wr = {0}, *bad;
	struct ibv_wc wc;

	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = op;
	wr.imm_data = htobe32(imm);
	wr.wr.rdma.remote_addr = (uintptr_t)dst;
	wr.wr.rdma.rkey = rmr ? rmr->rkey : 0;
	if (ibv_post_send(a.qp, &wr, &bad))
		return -1;
	return vu_poll(a.cq, &wc, 30) == 1 ? (int)wc.status : -1;
}

/* the receive completion on B: status, or -1 on timeout */
static int recv_done(struct ibv_wc *wc)
{
	return vu_poll(b.cq, wc, 30) == 1 ? (int)wc->status : -1;
}

/* wait until the UC write landed at DST (UC requesters complete on send) */
static long wait_data(const char *dst, size_t len, unsigned int seed)
{
	double end = vu_now() + 30;
	long bad;

	do {
		bad = vu_mismatch(dst, len, seed);
		if (bad < 0)
			return -1;
		sched_yield();
	} while (vu_now() < end);
	return bad;
}

int main(int argc, char **argv)
{
	long long f0, f1, inv0;
	struct ibv_device_attr_ex attr = {0};
	struct ibv_mr *smr, *dmr;
	const char *dev = NULL;
	char *sbuf, *dbuf;
	struct ibv_wc wc;
	uint32_t need;
	int opt, st;
	long bad;

	while ((opt = getopt(argc, argv, "d:g:")) != -1) {
		if (opt == 'd')
			dev = optarg;
		else if (opt == 'g')
			setenv("RXE_GID_INDEX", optarg, 1);
		else
			tap_bail("usage: odp_uc [-d DEV] [-g GID_INDEX]");
	}
	tap_plan(PLAN);
	vu_setup(&c, dev);
	if (!c.pd)
		tap_bail("alloc pd: %s", strerror(errno));

	need = IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV | IBV_ODP_SUPPORT_WRITE;
	if (ibv_query_device_ex(c.ctx, NULL, &attr) ||
	    !(attr.odp_caps.general_caps & IBV_ODP_SUPPORT)) {
		tap_skip_rest(PLAN, "device has no ODP support", "odp_uc");
		return tap_exit_status();
	}
	if (!tap_ok((attr.odp_caps.per_transport_caps.uc_odp_caps & need) == need,
		    "UC ODP caps %#x include SEND, RECV and WRITE",
		    attr.odp_caps.per_transport_caps.uc_odp_caps)) {
		tap_skip_rest(PLAN, "no UC ODP support", "odp_uc");
		return tap_exit_status();
	}

	if (uc_qp(&a) || uc_qp(&b) || uc_connect(a.qp, b.qp->qp_num) ||
	    uc_connect(b.qp, a.qp->qp_num))
		tap_bail("UC QP setup: %s", strerror(errno));

	/* untouched on both sides until rxe faults them in */
	sbuf = mmap(NULL, BUFSZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	dbuf = mmap(NULL, BUFSZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sbuf == MAP_FAILED || dbuf == MAP_FAILED)
		tap_bail("mmap: %s", strerror(errno));
	smr = ibv_reg_mr(c.pd, sbuf, BUFSZ, ACC);
	dmr = ibv_reg_mr(c.pd, dbuf, BUFSZ, ACC);
	if (!smr || !dmr)
		tap_bail("register ODP MRs: %s", strerror(errno));

	/* 2: send/recv, multi-packet, into a receive buffer never touched */
	vu_fill(sbuf + 7, MSG, 1);
	f0 = vu_hw_counter(c.ctx, "odp_page_faults");
	if (post_recv(dmr, dbuf + 3, MSG))
		tap_bail("post recv: %s", strerror(errno));
	st = post_send(IBV_WR_SEND, smr, sbuf + 7, MSG, NULL, NULL, 0);
	if (!st)
		st = recv_done(&wc);
	bad = vu_mismatch(dbuf + 3, MSG, 1);
	tap_ok(!st && wc.byte_len == MSG && bad < 0,
	       "UC send %u bytes into untouched ODP memory (status %d, len %u, mismatch at %ld)",
	       MSG, st, wc.byte_len, bad);
	f1 = vu_hw_counter(c.ctx, "odp_page_faults");
	/* the counters come with UC ODP in the series: missing is a failure */
	tap_ok(f0 >= 0 && f1 > f0, "the receive faulted ODP pages in (odp_page_faults %lld -> %lld)",
	       f0, f1);

	/* 4: the same again over mapped pages: no fault at all */
	vu_fill(sbuf + 7, MSG, 2);
	f0 = vu_hw_counter(c.ctx, "odp_page_faults");
	if (post_recv(dmr, dbuf + 3, MSG))
		tap_bail("post recv: %s", strerror(errno));
	st = post_send(IBV_WR_SEND, smr, sbuf + 7, MSG, NULL, NULL, 0);
	if (!st)
		st = recv_done(&wc);
	bad = vu_mismatch(dbuf + 3, MSG, 2);
	f1 = vu_hw_counter(c.ctx, "odp_page_faults");
	tap_ok(!st && bad < 0 && f1 == f0,
	       "second UC send over mapped pages: data right, no fault (status %d, mismatch %ld, faults %lld -> %lld)",
	       st, bad, f0, f1);

	/* 5: drop both sides, UC RDMA write: invalidation, then fault again */
	inv0 = vu_hw_counter(c.ctx, "odp_invalidations");
	madvise(sbuf, BUFSZ, MADV_DONTNEED);
	madvise(dbuf, BUFSZ, MADV_DONTNEED);
	vu_fill(sbuf + 4000, MSG, 3);
	st = post_send(IBV_WR_RDMA_WRITE, smr, sbuf + 4000, MSG, dmr, dbuf + 8191, 0);
	bad = wait_data(dbuf + 8191, MSG, 3);
	tap_ok(!st && bad < 0, "UC RDMA write into dropped ODP pages (status %d, mismatch at %ld)",
	       st, bad);
	tap_ok(inv0 >= 0 && vu_hw_counter(c.ctx, "odp_invalidations") > inv0,
	       "MADV_DONTNEED invalidated mapped ODP pages (odp_invalidations %lld -> %lld)",
	       inv0, vu_hw_counter(c.ctx, "odp_invalidations"));

	/* 7: write with immediate consumes a receive WQE */
	vu_fill(sbuf, MSG, 4);
	madvise(dbuf, BUFSZ, MADV_DONTNEED);
	if (post_recv(dmr, dbuf, 0))
		tap_bail("post recv: %s", strerror(errno));
	st = post_send(IBV_WR_RDMA_WRITE_WITH_IMM, smr, sbuf, MSG, dmr, dbuf + 100, 0x1234abcd);
	if (!st)
		st = recv_done(&wc);
	bad = vu_mismatch(dbuf + 100, MSG, 4);
	tap_ok(!st && (wc.wc_flags & IBV_WC_WITH_IMM) && be32toh(wc.imm_data) == 0x1234abcd &&
	       bad < 0,
	       "UC RDMA write with immediate into dropped ODP pages (status %d, imm %#x, mismatch %ld)",
	       st, be32toh(wc.imm_data), bad);

	/*
	 * 8-9: a write into a hole of the ODP MR (unmapped after
	 * registration) is dropped by the responder: UC has no NAK, the
	 * requester completes, nothing lands, the QP keeps working.
	 */
	munmap(dbuf + 32 * 4096, 16 * 4096);
	st = post_send(IBV_WR_RDMA_WRITE, smr, sbuf, 8192, dmr, dbuf + 33 * 4096, 0);
	tap_ok(st == IBV_WC_SUCCESS, "UC write into an unmapped hole completes at the requester (status %d)",
	       st);
	vu_fill(sbuf, MSG, 5);
	st = post_send(IBV_WR_RDMA_WRITE, smr, sbuf, MSG, dmr, dbuf + 4096, 0);
	bad = wait_data(dbuf + 4096, MSG, 5);
	tap_ok(!st && bad < 0, "the UC QP still works after the dropped write (status %d, mismatch %ld)",
	       st, bad);

	tap_ok(!ibv_dereg_mr(smr) && !ibv_dereg_mr(dmr), "deregister the ODP MRs");
	vu_qp_destroy(&a);
	vu_qp_destroy(&b);
	ibv_dealloc_pd(c.pd);
	ibv_close_device(c.ctx);
	return tap_exit_status();
}
