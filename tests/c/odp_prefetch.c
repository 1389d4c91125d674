// SPDX-License-Identifier: GPL-2.0
/*
 * Prefetch of ODP MRs through the uverbs ADVISE_MR method, called by hand
 * (rdma-core 44's rxe provider has no ibv_advise_mr): PREFETCH,
 * PREFETCH_WRITE and PREFETCH_NO_FAULT, synchronous (FLUSH flag) and
 * asynchronous, on explicit and implicit ODP MRs.  The hw counters prove
 * that prefetched ranges take no page fault in the data path, mincore()
 * that NO_FAULT faults nothing in; data is checked byte for byte; bad
 * requests get their errno; deregistration right after an asynchronous
 * prefetch of a big range neither hangs nor leaves a kernel report, and
 * stops the prefetch (an MR small enough not to be chunked, so that only
 * the MR state stops it, keeps most of its pages unmapped).
 */
#include <sys/mman.h>
#include <unistd.h>
#include "tap.h"
#include "verbs_util.h"

#define MIB	(1ul << 20)
#define BUFSZ	(4 * MIB)
#define LEN	(3u * 1024 * 1024 + 777)
#define BIG	(192 * MIB)
/* the largest explicit MR rxe maps whole, not in 2 MiB chunks */
#define UNCHUNKED	(128 * MIB)
#define ACC	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ)
#define ODP	IBV_ACCESS_ON_DEMAND
#define PF	IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH
#define PFW	IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_WRITE
#define PFNF	IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT
#define SYNC	IB_UVERBS_ADVISE_MR_FLAG_FLUSH
#define NTESTS	26

static struct vu_ctx c;
static struct vu_qp a, b;

static int advise1(struct ibv_mr *mr, void *addr, uint32_t len, uint32_t advice, uint32_t flags)
{
	struct ibv_sge sge = { (uintptr_t)addr, len, mr->lkey };

	return vu_advise_mr(c.pd, advice, flags, &sge, 1);
}

static char *amap(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		tap_bail("mmap: %s", strerror(errno));
	/* no huge page collapse behind our back: it would invalidate */
	madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

/* RDMA write of len bytes from src (lmr) to dst (rmr); completion status */
static int write1(struct ibv_mr *lmr, void *src, struct ibv_mr *rmr, void *dst, uint32_t len)
{
	struct ibv_sge sge = { (uintptr_t)src, len, lmr->lkey };
	struct ibv_send_wr wr = {0}, *bad;
	struct ibv_wc wc;

	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_RDMA_WRITE;
	wr.wr.rdma.remote_addr = (uintptr_t)dst;
	wr.wr.rdma.rkey = rmr->rkey;
	if (ibv_post_send(a.qp, &wr, &bad))
		return -2;
	return vu_poll(a.cq, &wc, 30) == 1 ? (int)wc.status : -1;
}

static long long faults(void)
{
	return vu_hw_counter(c.ctx, "odp_page_faults");
}

static long long prefetches(void)
{
	return vu_hw_counter(c.ctx, "odp_prefetches");
}

/* dereg right after an async prefetch of len bytes; seconds it took or -1 */
static double dereg_racing_prefetch(struct ibv_mr *mr, char *p, size_t len)
{
	double t;
	int err;

	err = advise1(mr, p, len, PFW, 0);
	t = vu_now();
	if (ibv_dereg_mr(mr))
		return -1;
	t = vu_now() - t;
	tap_diag("async prefetch returned %d, dereg took %.3f s, %ld of %lu pages resident",
		 err, t, vu_resident(p, len), len / 4096);
	return err ? -1 : t;
}

int main(void)
{
	struct ibv_mr *smr, *dmr, *nmr, *amr, *pmr, *romr, *omr, *imr, *bmr;
	char *s, *d, *n, *ab, *ib, *big, *hole;
	struct ibv_pd *opd;
	struct ibv_sge sg[2];
	long long f0, f1, pf0, pf1;
	uint64_t gen;
	uint32_t rc;
	double t, end;
	int st, e1, e2, e3, e4, e5, e6;
	long r1, r2;

	tap_plan(NTESTS);
	vu_setup(&c, NULL);
	opd = ibv_alloc_pd(c.ctx);
	if (!c.pd || !opd)
		tap_bail("alloc pd: %s", strerror(errno));
	if (vu_odp_caps(c.ctx, &gen, &rc) || !(gen & IBV_ODP_SUPPORT)) {
		while (tap_n < NTESTS)
			tap_skip("device has no ODP support", "odp_prefetch");
		return tap_exit_status();
	}
	if (faults() < 0)
		tap_bail("no odp_page_faults counter");
	if (vu_qp_create(&c, &a, 16) || vu_qp_create(&c, &b, 16) ||
	    vu_qp_connect(&c, a.qp, b.qp->qp_num) || vu_qp_connect(&c, b.qp, a.qp->qp_num))
		tap_bail("QP setup: %s", strerror(errno));

	s = amap(BUFSZ);
	d = amap(BUFSZ);
	smr = ibv_reg_mr(c.pd, s, BUFSZ, ACC | ODP);
	dmr = ibv_reg_mr(c.pd, d, BUFSZ, ACC | ODP);
	if (!smr || !dmr)
		tap_bail("reg ODP MR: %s", strerror(errno));

	/* 1-2: synchronous PREFETCH of the source, PREFETCH_WRITE of the target */
	vu_fill(s, BUFSZ, 1);
	pf0 = prefetches();
	e1 = advise1(smr, s, BUFSZ, PF, SYNC);
	pf1 = prefetches();
	tap_ok(!e1 && pf1 == pf0 + 1, "sync PREFETCH: %d (%s), odp_prefetches +%lld",
	       e1, strerror(-e1), pf1 - pf0);
	e1 = advise1(dmr, d + 4096, BUFSZ - 8192, PFW, SYNC);
	r1 = vu_resident(d + 4096, BUFSZ - 8192);
	tap_ok(!e1 && r1 == (long)(BUFSZ - 8192) / 4096,
	       "sync PREFETCH_WRITE: %d, %ld of %lu pages resident on return",
	       e1, r1, (BUFSZ - 8192) / 4096);

	/* 3-4: the traffic on prefetched ranges takes no fault */
	f0 = faults();
	st = write1(smr, s + 99, dmr, d + 4096 + 11, LEN);
	f1 = faults();
	tap_ok(!st && memcmp(d + 4096 + 11, s + 99, LEN) == 0,
	       "RDMA write %u bytes after prefetch (status %d)", LEN, st);
	tap_ok(f1 == f0, "no page fault after sync prefetch (faults +%lld)", f1 - f0);

	/* 5: control: the same after MADV_DONTNEED of the target faults */
	madvise(d, BUFSZ, MADV_DONTNEED);
	f0 = faults();
	st = write1(smr, s + 99, dmr, d + 4096 + 11, LEN);
	f1 = faults();
	tap_ok(!st && f1 > f0 && memcmp(d + 4096 + 11, s + 99, LEN) == 0,
	       "without prefetch the same write faults (status %d, faults +%lld)", st, f1 - f0);

	/* 6-9: NO_FAULT maps the pages the CPU touched, faults in nothing */
	n = amap(2 * MIB);
	memset(n, 0x5a, MIB);
	nmr = ibv_reg_mr(c.pd, n, 2 * MIB, ACC | ODP);
	if (!nmr)
		tap_bail("reg ODP MR: %s", strerror(errno));
	e1 = advise1(nmr, n, 2 * MIB, PFNF, SYNC);
	tap_ok(!e1, "sync PREFETCH_NO_FAULT: %d (%s)", e1, strerror(-e1));
	r1 = vu_resident(n, MIB);
	r2 = vu_resident(n + MIB, MIB);
	tap_ok(r1 == (long)MIB / 4096 && r2 == 0,
	       "NO_FAULT faulted nothing in (touched half %ld, untouched half %ld pages resident)",
	       r1, r2);
	f0 = faults();
	st = write1(smr, s, nmr, n + 100, MIB - 200);
	f1 = faults();
	tap_ok(!st && f1 == f0 && memcmp(n + 100, s, MIB - 200) == 0,
	       "write to the touched half: no fault (status %d, faults +%lld)", st, f1 - f0);
	f0 = faults();
	st = write1(smr, s, nmr, n + MIB + 100, MIB - 200);
	f1 = faults();
	tap_ok(!st && f1 > f0 && memcmp(n + MIB + 100, s, MIB - 200) == 0,
	       "write to the untouched half faults (status %d, faults +%lld)", st, f1 - f0);

	/* 10-12: asynchronous PREFETCH_WRITE completes on its own */
	ab = amap(2 * BUFSZ);
	amr = ibv_reg_mr(c.pd, ab, 2 * BUFSZ, ACC | ODP);
	if (!amr)
		tap_bail("reg ODP MR: %s", strerror(errno));
	pf0 = prefetches();
	t = vu_now();
	e1 = advise1(amr, ab, 2 * BUFSZ, PFW, 0);
	t = vu_now() - t;
	pf1 = prefetches();
	tap_ok(!e1 && pf1 == pf0 + 1, "async PREFETCH_WRITE queued: %d in %.1f ms, odp_prefetches +%lld",
	       e1, t * 1e3, pf1 - pf0);
	end = vu_now() + 30;
	while ((r1 = vu_resident(ab, 2 * BUFSZ)) < (long)(2 * BUFSZ / 4096) && vu_now() < end)
		usleep(10000);
	tap_ok(r1 == (long)(2 * BUFSZ / 4096), "async prefetch faulted in all %ld pages within %.1f s",
	       r1, 30 - (end - vu_now()));
	usleep(300000);	/* the last chunk is mapped right after its fault */
	f0 = faults();
	st = write1(smr, s + 5, amr, ab + BUFSZ - 12345, LEN);
	f1 = faults();
	tap_ok(!st && f1 == f0 && memcmp(ab + BUFSZ - 12345, s + 5, LEN) == 0,
	       "no page fault after async prefetch (status %d, faults +%lld)", st, f1 - f0);

	/* 13-19: bad requests */
	pmr = ibv_reg_mr(c.pd, s, BUFSZ, ACC);
	romr = ibv_reg_mr(c.pd, d, BUFSZ, IBV_ACCESS_REMOTE_READ | ODP);
	omr = ibv_reg_mr(opd, d, BUFSZ, ACC | ODP);
	if (!pmr || !romr || !omr)
		tap_bail("reg MR: %s", strerror(errno));
	pf0 = prefetches();
	e1 = advise1(pmr, s, 4096, PF, SYNC);
	tap_ok(e1 == -ENOENT, "pinned MR: %d (%s)", e1, strerror(-e1));
	sg[0] = (struct ibv_sge){ (uintptr_t)s, 4096, smr->lkey ^ 0x55 };
	e2 = vu_advise_mr(c.pd, PF, SYNC, sg, 1);
	sg[0].lkey = 0xfffff000;
	e3 = vu_advise_mr(c.pd, PF, 0, sg, 1);
	tap_ok(e2 == -ENOENT && e3 == -ENOENT, "bad lkey: %d (%s), unknown index async: %d",
	       e2, strerror(-e2), e3);
	e1 = advise1(smr, s + BUFSZ - 4096, 8192, PF, SYNC);
	e2 = advise1(smr, s - 4096, 8192, PF, 0);
	tap_ok(e1 == -EINVAL && e2 == -EINVAL, "SGE past the end / before the start of the MR: %d (%s), %d",
	       e1, strerror(-e1), e2);
	e1 = advise1(smr, s, 4096, 77, SYNC);
	tap_ok(e1 == -EOPNOTSUPP, "unknown advice: %d (%s)", e1, strerror(-e1));
	e1 = advise1(romr, d, 4096, PFW, SYNC);
	e2 = advise1(romr, d, 4096, PF, SYNC);
	tap_ok(e1 == -EACCES && !e2, "PREFETCH_WRITE of a read-only MR: %d (%s); PREFETCH: %d",
	       e1, strerror(-e1), e2);
	e1 = advise1(omr, d, 4096, PF, SYNC);
	tap_ok(e1 == -ENOENT, "MR of another PD: %d (%s)", e1, strerror(-e1));
	/* a good SGE and a bad one: nothing done */
	sg[0] = (struct ibv_sge){ (uintptr_t)s, 4096, smr->lkey };
	sg[1] = (struct ibv_sge){ (uintptr_t)s, 4096, pmr->lkey };
	e1 = vu_advise_mr(c.pd, PF, SYNC, sg, 2);
	pf1 = prefetches();
	tap_ok(e1 == -ENOENT && pf1 == pf0 + 1,
	       "good + bad SGE refused: %d; odp_prefetches +%lld (the one good request)",
	       e1, pf1 - pf0);

	/* 20-22: implicit MR, two SGEs of two MRs in one request */
	imr = ibv_reg_mr(c.pd, NULL, SIZE_MAX, ACC | ODP);
	if (!imr) {
		tap_ok(0, "register implicit ODP MR (%s)", strerror(errno));
		tap_ok(0, "prefetch through the implicit MR");
		tap_ok(0, "unmapped range");
	} else {
		ib = amap(BUFSZ);
		madvise(s, BUFSZ, MADV_DONTNEED);
		vu_fill(s, BUFSZ, 3);
		sg[0] = (struct ibv_sge){ (uintptr_t)ib, BUFSZ, imr->lkey };
		sg[1] = (struct ibv_sge){ (uintptr_t)s, BUFSZ, smr->lkey };
		e1 = vu_advise_mr(c.pd, PFW, SYNC, sg, 2);
		r1 = vu_resident(ib, BUFSZ);
		tap_ok(!e1 && r1 == (long)BUFSZ / 4096,
		       "sync PREFETCH_WRITE through the implicit MR + an explicit one: %d, %ld pages resident",
		       e1, r1);
		f0 = faults();
		st = write1(smr, s + 1, imr, ib + 3, LEN);
		f1 = faults();
		tap_ok(!st && f1 == f0 && memcmp(ib + 3, s + 1, LEN) == 0,
		       "write into the prefetched implicit range: no fault (status %d, faults +%lld)",
		       st, f1 - f0);
		hole = mmap(NULL, 2 * MIB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		e1 = advise1(imr, hole, 8192, PF, SYNC);
		e2 = advise1(imr, hole, 8192, PFNF, SYNC);
		e3 = advise1(imr, (void *)0xffffffffffff0000ull, 4096, PF, SYNC);
		tap_ok(e1 == -EFAULT && !e2 && e3 == -EINVAL,
		       "implicit MR: PREFETCH of PROT_NONE %d (%s), NO_FAULT %d, kernel address %d",
		       e1, strerror(-e1), e2, e3);
	}

	/* 23-24: dereg right after an async prefetch of 192 MiB */
	big = mmap(NULL, BIG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (big == MAP_FAILED)
		tap_bail("mmap: %s", strerror(errno));
	bmr = ibv_reg_mr(c.pd, big, BIG, ACC | ODP);
	if (!bmr)
		tap_bail("reg ODP MR: %s", strerror(errno));
	t = dereg_racing_prefetch(bmr, big, BIG);
	tap_ok(t >= 0 && t < 5, "dereg right after async prefetch of 192 MiB: %.3f s", t);
	madvise(big, BIG, MADV_DONTNEED);
	if (imr) {
		sg[0] = (struct ibv_sge){ (uintptr_t)big, 4096, imr->lkey };
		t = dereg_racing_prefetch(imr, big, BIG);
		e4 = vu_advise_mr(c.pd, PF, SYNC, sg, 1);
	} else {
		t = -1;
		e4 = 0;
	}
	tap_ok(t >= 0 && t < 5 && e4 == -ENOENT,
	       "dereg implicit MR right after async prefetch of 192 MiB: %.3f s; its lkey then: %d",
	       t, e4);

	/*
	 * 25: an MR that is not chunked: no chunk lookup refuses the
	 * prefetch after the dereg began, only the MR state check does.
	 * Stopped, the prefetch maps a few chunks at most; one that goes
	 * on maps all 32768 pages before the dereg can finish.
	 */
	madvise(big, BIG, MADV_DONTNEED);
	bmr = ibv_reg_mr(c.pd, big, UNCHUNKED, ACC | ODP);
	if (!bmr)
		tap_bail("reg ODP MR: %s", strerror(errno));
	t = dereg_racing_prefetch(bmr, big, UNCHUNKED);
	r1 = vu_resident(big, UNCHUNKED);
	tap_ok(t >= 0 && t < 5 && r1 < (long)(UNCHUNKED / 4096 / 4),
	       "dereg right after async prefetch of an unchunked 128 MiB MR stops it: %.3f s, %ld of %lu pages mapped (want < 1/4)",
	       t, r1, UNCHUNKED / 4096);

	/* 26 */
	e5 = ibv_dereg_mr(pmr) || ibv_dereg_mr(romr) || ibv_dereg_mr(omr) ||
	     ibv_dereg_mr(amr) || ibv_dereg_mr(nmr);
	e6 = ibv_dereg_mr(smr) || ibv_dereg_mr(dmr);
	tap_ok(!e5 && !e6, "deregister the other MRs");
	munmap(big, BIG);
	vu_qp_destroy(&a);
	vu_qp_destroy(&b);
	ibv_dealloc_pd(opd);
	ibv_dealloc_pd(c.pd);
	ibv_close_device(c.ctx);
	return tap_exit_status();
}
