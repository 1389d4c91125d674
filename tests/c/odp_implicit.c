// SPDX-License-Identifier: GPL-2.0
/*
 * Implicit ODP MR: one ibv_reg_mr(pd, NULL, SIZE_MAX, ON_DEMAND) covering
 * the whole address space, used through its lkey and rkey (iova = user
 * address) for RDMA write, read, send/recv and atomics between buffers
 * GiBs apart in a sparse reservation (PROT_NONE, a few parts made
 * accessible).  Data checked byte for byte; the ODP counters must show
 * faults for the touched pages only, and none on a second pass; accesses
 * to unmapped or non-user addresses must end in an error completion; a
 * non-NULL address or a non-zero iova with SIZE_MAX must be refused.
 */
#include <sys/mman.h>
#include <unistd.h>
#include "tap.h"
#include "verbs_util.h"

#define GIB	(1ull << 30)
#define MIB	(1ull << 20)
#define RES	(48 * GIB)		/* PROT_NONE reservation */
#define RSZ	(16 * MIB)		/* each accessible region */
#define LEN	(3u * 1024 * 1024 + 333)	/* crosses 2 MiB boundaries */
#define ACC	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
		 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC)
#define NTESTS	19

static struct vu_ctx c;
static struct vu_qp a, b;
static struct ibv_mr *imr;

static void mkpair(void)
{
	vu_qp_destroy(&a);
	vu_qp_destroy(&b);
	if (vu_qp_create(&c, &a, 16) || vu_qp_create(&c, &b, 16) ||
	    vu_qp_connect(&c, a.qp, b.qp->qp_num) || vu_qp_connect(&c, b.qp, a.qp->qp_num))
		tap_bail("QP setup: %s", strerror(errno));
}

/* status of the completion of q, -1 on timeout */
static int wait1(struct vu_qp *q, struct ibv_wc *wc)
{
	return vu_poll(q->cq, wc, 30) == 1 ? (int)wc->status : -1;
}

/* one RDMA op from a to b, local and remote through the implicit MR */
static int rdma(uint64_t laddr, uint32_t len, uint64_t raddr, enum ibv_wr_opcode op)
{
	struct ibv_sge sge = { laddr, len, imr->lkey };
	struct ibv_send_wr wr = {0}, *bad;
	struct ibv_wc wc;

	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = op;
	wr.wr.rdma.remote_addr = raddr;
	wr.wr.rdma.rkey = imr->rkey;
	if (ibv_post_send(a.qp, &wr, &bad))
		return -2;
	return wait1(&a, &wc);
}

static int fetch_add(uint64_t laddr, uint64_t raddr, uint64_t add)
{
	struct ibv_sge sge = { laddr, 8, imr->lkey };
	struct ibv_send_wr wr = {0}, *bad;
	struct ibv_wc wc;

	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_ATOMIC_FETCH_AND_ADD;
	wr.wr.atomic.remote_addr = raddr;
	wr.wr.atomic.rkey = imr->rkey;
	wr.wr.atomic.compare_add = add;
	if (ibv_post_send(a.qp, &wr, &bad))
		return -2;
	return wait1(&a, &wc);
}

static int sendrecv(uint64_t src, uint64_t dst, uint32_t len)
{
	struct ibv_sge ss = { src, len, imr->lkey }, rs = { dst, len, imr->lkey };

	return vu_sendrecv(&a, &b, &ss, &rs, 30);
}

/*
 * One pass of traffic between the three regions: write r0 -> r1, read
 * r1 -> r2, send r2 -> r0, fetch-add on r1.  Returns the number of
 * failed checks; each is reported.
 */
static int pass(char *r[3], unsigned int seed, const char *tag)
{
	char *x = r[0] + 2 * MIB - 777, *y = r[1] + 13, *z = r[2] + 4093;
	char *w = r[0] + 8 * MIB + 100;
	uint64_t *tgt = (uint64_t *)(r[1] + 12 * MIB), *res = (uint64_t *)(r[2] + 12 * MIB);
	int st, ok, fails = 0;
	long bad;

	vu_fill(x, LEN, seed);
	st = rdma((uintptr_t)x, LEN, (uintptr_t)y, IBV_WR_RDMA_WRITE);
	bad = vu_mismatch(y, LEN, seed);
	fails += !tap_ok(!st && bad < 0, "%s: RDMA write %u bytes, %llu GiB apart (status %d, mismatch %ld)",
			 tag, LEN, (unsigned long long)((r[1] - r[0]) / GIB), st, bad);

	st = rdma((uintptr_t)z, LEN, (uintptr_t)y, IBV_WR_RDMA_READ);
	bad = vu_mismatch(z, LEN, seed);
	fails += !tap_ok(!st && bad < 0, "%s: RDMA read %u bytes (status %d, mismatch %ld)",
			 tag, LEN, st, bad);

	st = sendrecv((uintptr_t)z, (uintptr_t)w, LEN);
	bad = vu_mismatch(w, LEN, seed);
	fails += !tap_ok(!st && bad < 0, "%s: send/recv %u bytes (status %d, mismatch %ld)",
			 tag, LEN, st, bad);

	st = fetch_add((uintptr_t)res, (uintptr_t)tgt, 5);
	ok = !st && *res == 100ull * seed && *tgt == 100ull * seed + 5;
	fails += !tap_ok(ok, "%s: fetch-add (status %d, orig %llu, now %llu)", tag, st,
			 (unsigned long long)*res, (unsigned long long)*tgt);
	*tgt = 100ull * (seed + 1);
	return fails;
}

int main(void)
{
	long long f0, f1, p0, p1;
	struct ibv_mr *bad_mr;
	char *res, *r[3], *far1, *far2;
	uint64_t gen;
	uint32_t rc;
	double t;
	int i, st;

	tap_plan(NTESTS);
	vu_setup(&c, NULL);
	if (!c.pd)
		tap_bail("alloc pd: %s", strerror(errno));
	if (vu_odp_caps(c.ctx, &gen, &rc) || !(gen & IBV_ODP_SUPPORT)) {
		while (tap_n < NTESTS)
			tap_skip("device has no ODP support", "odp_implicit");
		return tap_exit_status();
	}
	if (vu_hw_counter(c.ctx, "odp_page_faults") < 0)
		tap_bail("no odp_page_faults counter");

	/* 1 */
	tap_ok(gen & IBV_ODP_SUPPORT_IMPLICIT, "IBV_ODP_SUPPORT_IMPLICIT reported (general caps %#llx)",
	       (unsigned long long)gen);

	/* 2-3: registration covers everything, costs nothing */
	f0 = vu_hw_counter(c.ctx, "odp_page_faults");
	t = vu_now();
	imr = ibv_reg_mr(c.pd, NULL, SIZE_MAX, ACC | IBV_ACCESS_ON_DEMAND);
	t = vu_now() - t;
	if (!imr) {
		tap_ok(0, "register implicit ODP MR (%s)", strerror(errno));
		tap_bail("cannot go on without the implicit MR");
	}
	tap_ok(t < 0.5, "register implicit ODP MR in %.1f ms", t * 1e3);
	tap_ok(vu_hw_counter(c.ctx, "odp_page_faults") == f0, "registration faults nothing");

	/* sparse address space: three 16 MiB regions in a 48 GiB reservation */
	res = mmap(NULL, RES, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		tap_bail("reserve %llu GiB: %s", RES / GIB, strerror(errno));
	/* no huge page collapse behind our back: it would invalidate */
	madvise(res, RES, MADV_NOHUGEPAGE);
	r[0] = res + 1 * GIB;
	r[1] = res + 23 * GIB;
	r[2] = res + 46 * GIB;
	for (i = 0; i < 3; i++)
		if (mprotect(r[i], RSZ, PROT_READ | PROT_WRITE))
			tap_bail("mprotect: %s", strerror(errno));
	far1 = res + 11 * GIB + 3 * 4096;
	far2 = res + 35 * GIB + 7 * 4096;
	if (mprotect(far1, 4096, PROT_READ | PROT_WRITE) || mprotect(far2, 4096, PROT_READ | PROT_WRITE))
		tap_bail("mprotect: %s", strerror(errno));
	*(uint64_t *)(r[1] + 12 * MIB) = 100;

	mkpair();

	/* 4-5: a 64 byte write between two never touched pages: two faults */
	f0 = vu_hw_counter(c.ctx, "odp_page_faults");
	p0 = vu_hw_counter(c.ctx, "odp_pages_faulted");
	st = rdma((uintptr_t)far1 + 64, 64, (uintptr_t)far2 + 128, IBV_WR_RDMA_WRITE);
	f1 = vu_hw_counter(c.ctx, "odp_page_faults");
	p1 = vu_hw_counter(c.ctx, "odp_pages_faulted");
	tap_ok(!st, "64 byte write between untouched pages 24 GiB apart (status %d)", st);
	tap_ok(f1 - f0 == 2 && p1 - p0 == 2,
	       "exactly the two touched pages faulted (faults +%lld, pages +%lld)", f1 - f0, p1 - p0);

	/* 6-10: first pass faults only the pages used */
	f0 = vu_hw_counter(c.ctx, "odp_page_faults");
	p0 = vu_hw_counter(c.ctx, "odp_pages_faulted");
	pass(r, 1, "pass 1");
	f1 = vu_hw_counter(c.ctx, "odp_page_faults");
	p1 = vu_hw_counter(c.ctx, "odp_pages_faulted");
	/*
	 * Four buffers of LEN bytes and two atomic pages; a packet that
	 * crosses into an unmapped page maps both of its pages, so at most
	 * twice the pages are counted.
	 */
	tap_ok(f1 > f0 && p1 - p0 >= 4 * (LEN / 4096) && p1 - p0 <= 2 * (4 * (LEN / 4096 + 2) + 2),
	       "pass 1 faulted the used pages only (faults +%lld, pages +%lld, %u pages used)",
	       f1 - f0, p1 - p0, 4 * (LEN / 4096 + 1) + 2);

	/* 11-15: the second pass finds everything mapped */
	f0 = vu_hw_counter(c.ctx, "odp_page_faults");
	pass(r, 2, "pass 2");
	f1 = vu_hw_counter(c.ctx, "odp_page_faults");
	tap_ok(f1 == f0, "pass 2 caused no page fault (faults +%lld)", f1 - f0);

	/* 16: remote write into the PROT_NONE part of the reservation */
	st = rdma((uintptr_t)r[0], 4096, (uintptr_t)(r[1] + RSZ + 4096), IBV_WR_RDMA_WRITE);
	tap_ok(st == IBV_WC_REM_ACCESS_ERR,
	       "RDMA write to an unmapped address fails with IBV_WC_REM_ACCESS_ERR (status %d %s)",
	       st, st > 0 ? ibv_wc_status_str(st) : "timeout");
	mkpair();

	/* 17: beyond the user address space, and wrapping around */
	st = rdma((uintptr_t)r[0], 4096, 0xffffffffffff0000ull, IBV_WR_RDMA_WRITE);
	mkpair();
	i = rdma((uintptr_t)r[0], 8192, 0xfffffffffffff000ull, IBV_WR_RDMA_WRITE);
	tap_ok(st == IBV_WC_REM_ACCESS_ERR && i == IBV_WC_REM_ACCESS_ERR,
	       "RDMA write to a kernel address and a wrapping one fail with IBV_WC_REM_ACCESS_ERR (status %d, %d)",
	       st, i);
	mkpair();

	/* 18: non-NULL address with SIZE_MAX, and a non-zero iova */
	errno = 0;
	bad_mr = ibv_reg_mr(c.pd, r[0], SIZE_MAX, ACC | IBV_ACCESS_ON_DEMAND);
	st = errno;
	if (bad_mr)
		ibv_dereg_mr(bad_mr);
	errno = 0;
	bad_mr = ibv_reg_mr_iova(c.pd, NULL, SIZE_MAX, 1ull << 40, ACC | IBV_ACCESS_ON_DEMAND);
	i = errno;
	if (bad_mr)
		ibv_dereg_mr(bad_mr);
	tap_ok(st == EINVAL && i == EINVAL, "addr != NULL or iova != 0 with SIZE_MAX refused (%s, %s)",
	       strerror(st), strerror(i));

	/* 19 */
	vu_qp_destroy(&a);
	vu_qp_destroy(&b);
	tap_ok(ibv_dereg_mr(imr) == 0, "deregister implicit MR");
	munmap(res, RES);
	ibv_dealloc_pd(c.pd);
	ibv_close_device(c.ctx);
	return tap_exit_status();
}
