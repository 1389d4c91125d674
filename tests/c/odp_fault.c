// SPDX-License-Identifier: GPL-2.0
/*
 * Exercise the ODP fault paths of rxe on purpose, data checked byte for byte:
 * never-touched ODP memory on both sides, messages spanning many pages with
 * odd offsets and lengths, several SGEs, MADV_DONTNEED of the buffers
 * between iterations (invalidation, then fault again), a read-only mapping
 * read remotely, writes to a read-only mapping and to an unmapped range
 * (must fail with an error completion, not hang).
 */
#include <sys/mman.h>
#include <unistd.h>
#include "tap.h"
#include "verbs_util.h"

#define LEN	(3u * 1024 * 1024 + 777)	/* many pages, odd length */
#define BUFSZ	(4u * 1024 * 1024)
#define ODP	(IBV_ACCESS_ON_DEMAND)
#define RW	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ)

static struct vu_ctx c;
static struct vu_qp a, b;

static int mkpair(void)
{
	vu_qp_destroy(&a);
	vu_qp_destroy(&b);
	if (vu_qp_create(&c, &a, 16) || vu_qp_create(&c, &b, 16))
		return -1;
	if (vu_qp_connect(&c, a.qp, b.qp->qp_num) || vu_qp_connect(&c, b.qp, a.qp->qp_num))
		return -1;
	return 0;
}

static char *amap(size_t len, int prot)
{
	char *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		tap_bail("mmap: %s", strerror(errno));
	return p;
}

/* first mismatch of p against the pattern, or -1 */

static long check_zero(const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i])
			return (long)i;
	return -1;
}

#ifndef WAIT1_SECS
#define WAIT1_SECS 30
#endif

/* wait for one completion on q; returns status or -1 on timeout */
static int wait1(struct vu_qp *q, struct ibv_wc *wc)
{
	int n = vu_poll(q->cq, wc, WAIT1_SECS);

	return n == 1 ? (int)wc->status : -1;
}

static int rdma(struct ibv_mr *lmr, char *laddr, uint32_t len, struct ibv_mr *rmr,
		char *raddr, enum ibv_wr_opcode op, struct ibv_wc *wc)
{
	struct ibv_sge sge = { (uintptr_t)laddr, len, lmr->lkey };
	struct ibv_send_wr wr = {0}, *bad;

	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = op;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.rdma.remote_addr = (uintptr_t)raddr;
	wr.wr.rdma.rkey = rmr->rkey;
	if (ibv_post_send(a.qp, &wr, &bad))
		return -2;
	return wait1(&a, wc);
}

/* send LEN bytes in 3 odd SGEs from sbuf to 3 odd SGEs in rbuf */
static int sendrecv(struct ibv_mr *smr, char *sbuf, struct ibv_mr *rmr, char *rbuf,
		    struct ibv_wc *wc)
{
	uint32_t l0 = 5000, l1 = 1u << 20, l2 = LEN - l0 - l1;
	struct ibv_sge ss[3] = {
		{ (uintptr_t)sbuf, l0, smr->lkey },
		{ (uintptr_t)sbuf + l0, l1, smr->lkey },
		{ (uintptr_t)sbuf + l0 + l1, l2, smr->lkey } };
	/* receive side split differently from the send side */
	struct ibv_sge rs[3] = {
		{ (uintptr_t)rbuf, 4097, rmr->lkey },
		{ (uintptr_t)rbuf + 4097, 123457, rmr->lkey },
		{ (uintptr_t)rbuf + 4097 + 123457, LEN - 4097 - 123457, rmr->lkey } };
	struct ibv_recv_wr rwr = { .sg_list = rs, .num_sge = 3 }, *rbad;
	struct ibv_send_wr swr = {0}, *sbad;
	int st;

	if (ibv_post_recv(b.qp, &rwr, &rbad))
		return -2;
	swr.sg_list = ss;
	swr.num_sge = 3;
	swr.opcode = IBV_WR_SEND;
	if (ibv_post_send(a.qp, &swr, &sbad))
		return -2;
	st = wait1(&a, wc);
	if (st)
		return st;
	st = wait1(&b, wc);
	if (st)
		return st;
	return wc->byte_len == LEN ? 0 : -3;
}

int main(int argc, char **argv)
{
	struct ibv_mr *smr, *dmr, *romr, *bmr;
	char *sbase, *dbase, *src, *dst, *ro;
	struct ibv_wc wc;
	int i, st, it = argc > 1 ? atoi(argv[1]) : 8;
	long bad;

	tap_plan(9 + 3 * it);
	vu_setup(&c, NULL);
	if (!vu_has_odp(c.ctx, 0)) {
		tap_skip_rest(9 + 3 * it, "device has no ODP support", "odp_fault");
		return tap_exit_status();
	}
	if (!c.pd || mkpair())
		tap_bail("QP setup: %s", strerror(errno));

	/* never touched by the CPU on either side */
	sbase = amap(BUFSZ, PROT_READ | PROT_WRITE);
	dbase = amap(BUFSZ, PROT_READ | PROT_WRITE);
	src = sbase + 13;
	dst = dbase + 4093;
	smr = ibv_reg_mr(c.pd, sbase, BUFSZ, RW | ODP);
	dmr = ibv_reg_mr(c.pd, dbase, BUFSZ, RW | ODP);
	if (!smr || !dmr)
		tap_bail("reg ODP MR: %s", strerror(errno));

	/* 1: RDMA write from untouched ODP memory into untouched ODP memory */
	st = rdma(smr, src, LEN, dmr, dst, IBV_WR_RDMA_WRITE, &wc);
	bad = check_zero(dbase, BUFSZ);
	tap_ok(!st && bad < 0, "write untouched -> untouched (status %d, first nonzero %ld)", st, bad);

	/* 2: CPU fills src; RDMA write, odd offsets, 3 MiB */
	vu_fill(src, LEN, 1);
	st = rdma(smr, src, LEN, dmr, dst, IBV_WR_RDMA_WRITE, &wc);
	bad = vu_mismatch(dst, LEN, 1);
	tap_ok(!st && bad < 0 && check_zero(dbase, 4093) < 0 &&
	       check_zero(dst + LEN, BUFSZ - 4093 - LEN) < 0,
	       "RDMA write %u bytes at odd offsets (status %d, mismatch at %ld)", LEN, st, bad);

	for (i = 0; i < it; i++) {
		/* drop both sides' pages: invalidation, then faults again */
		madvise(sbase, BUFSZ, MADV_DONTNEED);
		madvise(dbase, BUFSZ, MADV_DONTNEED);
		vu_fill(src, LEN, 10 + i);
		st = rdma(smr, src, LEN, dmr, dst, IBV_WR_RDMA_WRITE, &wc);
		bad = vu_mismatch(dst, LEN, 10 + i);
		tap_ok(!st && bad < 0, "iter %d: write after MADV_DONTNEED (status %d, mismatch %ld)", i, st, bad);

		/* RDMA read into the local buffer that was just dropped */
		madvise(sbase, BUFSZ, MADV_DONTNEED);
		st = rdma(smr, src, LEN, dmr, dst, IBV_WR_RDMA_READ, &wc);
		bad = vu_mismatch(src, LEN, 10 + i);
		tap_ok(!st && bad < 0, "iter %d: read into dropped pages (status %d, mismatch %ld)", i, st, bad);

		/* send/recv with 3 SGEs each side, receive buffer dropped */
		madvise(dbase, BUFSZ, MADV_DONTNEED);
		vu_fill(src, LEN, 20 + i);
		st = sendrecv(smr, src, dmr, dbase + 1, &wc);
		bad = vu_mismatch(dbase + 1, LEN, 20 + i);
		tap_ok(!st && bad < 0, "iter %d: send/recv 3 SGEs (status %d, mismatch %ld)", i, st, bad);
	}

	/* read-only mapping read remotely through a read-only ODP MR */
	ro = amap(BUFSZ, PROT_READ | PROT_WRITE);
	vu_fill(ro + 99, LEN, 3);
	mprotect(ro, BUFSZ, PROT_READ);
	madvise(dbase, BUFSZ, MADV_DONTNEED);
	romr = ibv_reg_mr(c.pd, ro, BUFSZ, IBV_ACCESS_REMOTE_READ | ODP);
	tap_ok(romr != NULL, "register read-only ODP MR on a read-only mapping (%s)",
	       romr ? "ok" : strerror(errno));
	if (romr) {
		st = rdma(dmr, dst, LEN, romr, ro + 99, IBV_WR_RDMA_READ, &wc);
		bad = vu_mismatch(dst, LEN, 3);
		tap_ok(!st && bad < 0, "RDMA read from read-only mapping (status %d, mismatch %ld)", st, bad);
	} else {
		tap_ok(0, "RDMA read from read-only mapping");
	}

	/* writable ODP MR over a read-only mapping: a remote write must fail */
	bmr = ibv_reg_mr(c.pd, ro, BUFSZ, RW | ODP);
	if (bmr) {
		st = rdma(smr, src, 8192, bmr, ro + 4000, IBV_WR_RDMA_WRITE, &wc);
		tap_ok(st == IBV_WC_REM_ACCESS_ERR,
		       "RDMA write to read-only mapping fails with IBV_WC_REM_ACCESS_ERR (status %d %s)",
		       st, st > 0 ? ibv_wc_status_str(st) : "timeout");
		tap_ok(ibv_dereg_mr(bmr) == 0, "dereg after failed write");
		mkpair();
	} else {
		/* ODP looks at no page at registration: it must not refuse */
		tap_ok(0, "writable ODP MR on a read-only mapping refused at registration (%s)",
		       strerror(errno));
		tap_ok(0, "(no MR to deregister)");
	}

	/* the ODP buffer unmapped under the MR: write and read must fail, not hang */
	munmap(dbase, BUFSZ);
	st = rdma(smr, src, 65536, dmr, dst, IBV_WR_RDMA_WRITE, &wc);
	tap_ok(st == IBV_WC_REM_ACCESS_ERR,
	       "RDMA write to unmapped ODP range fails with IBV_WC_REM_ACCESS_ERR (status %d %s)",
	       st, st > 0 ? ibv_wc_status_str(st) : "timeout");
	mkpair();
	st = rdma(dmr, dst, 65536, smr, src, IBV_WR_RDMA_READ, &wc);
	tap_ok(st == IBV_WC_LOC_PROT_ERR,
	       "RDMA read into unmapped ODP range fails with IBV_WC_LOC_PROT_ERR (status %d %s)",
	       st, st > 0 ? ibv_wc_status_str(st) : "timeout");

	tap_ok(ibv_dereg_mr(dmr) == 0 && ibv_dereg_mr(smr) == 0 &&
	       (!romr || ibv_dereg_mr(romr) == 0), "deregister ODP MRs");
	vu_qp_destroy(&a);
	vu_qp_destroy(&b);
	ibv_dealloc_pd(c.pd);
	ibv_close_device(c.ctx);
	return tap_exit_status();
}
