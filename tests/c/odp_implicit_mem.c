// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel memory of an implicit ODP MR (review finding H2).
 *
 * An implicit MR maps the process's address space in 2 MiB chunks, each
 * with its own page lists (two 4 KiB arrays) and MMU notifier.  That
 * memory has to follow what is really mapped, and be charged to the
 * memory cgroup of the process that registered the MR:
 *
 *   1. N_OK RDMA writes into N_OK distinct 2 MiB chunks of an implicit MR
 *      complete and the bytes land;
 *   2. the unreclaimable slab of the process's memory cgroup grew by at
 *      least 8 KiB per chunk used (the faults run in rxe's work queue,
 *      which must charge the MR owner's cgroup, not the root);
 *   3. RDMA writes (RC) into N_RC chunks that have no accessible page
 *      complete with IBV_WC_REM_ACCESS_ERR;
 *   4. UC writes into N_UC such chunks complete at the requester (UC has
 *      no NAK: the responder drops them), and a UC write after them lands;
 *   5. advise_mr(PREFETCH_NO_FAULT, FLUSH) over N_PF such chunks returns 0;
 *   6. 3-5 left no kernel memory behind: the cgroup's slab grew by less
 *      than 1/16 of what a chunk costs (from 2) times the chunks touched,
 *      i.e. no chunk is kept for an access that mapped nothing.
 * The runner checks the kernel log.  Skips without implicit ODP or
 * without a cgroup v2 memory controller; 2 and 6 skip with
 * RXE_ODP_STOCK_CORE=1 (tests/run sets it for the DKMS module on a stock
 * kernel, whose IB core charges no ODP umem: the series' patch 0001 is
 * not in it).  On a kernel built from the series they must pass.
 *
 * Usage: odp_implicit_mem [-d DEV] [-g GID_INDEX]
 */
#include <sys/stat.h>
#include "verbs_util.h"

#define CHUNK		(2ul << 20)
#define N_OK		256
#define N_RC		16
#define N_UC		2000
#define N_PF		2048
#define CG_ROOT		"/sys/fs/cgroup"
#define CG		CG_ROOT "/odp-implicit-mem"
#define PLAN		6

static struct vu_ctx c;

/* write S to FILE: 0 or -1 */
static int put(const char *file, const char *s)
{
	int fd = open(file, O_WRONLY);
	int ok;

	if (fd < 0)
		return -1;
	ok = write(fd, s, strlen(s)) == (ssize_t)strlen(s);
	close(fd);
	return ok ? 0 : -1;
}

/* "slab_unreclaimable" of the test's cgroup, in bytes; -1 if unknown */
static long long cg_slab(void)
{
	char line[256];
	long long v = -1;
	FILE *f = fopen(CG "/memory.stat", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "slab_unreclaimable %lld", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* a fresh memory cgroup with this process in it: 0, or -1 (skip) */
static int cg_enter(void)
{
	char buf[256] = "";
	FILE *f = fopen(CG_ROOT "/cgroup.controllers", "r");

	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f) || !strstr(buf, "memory")) {
		fclose(f);
		return -1;
	}
	fclose(f);
	f = fopen(CG_ROOT "/cgroup.subtree_control", "r");
	buf[0] = 0;
	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = 0;
		fclose(f);
	}
	if (!strstr(buf, "memory") && put(CG_ROOT "/cgroup.subtree_control", "+memory"))
		return -1;
	rmdir(CG);
	if (mkdir(CG, 0755) && errno != EEXIST)
		return -1;
	return put(CG "/cgroup.procs", "0");
}

static void cg_leave(void)
{
	if (!put(CG_ROOT "/cgroup.procs", "0"))
		rmdir(CG);
}

/* one signaled RDMA write of LEN bytes at SRC to DST through RKEY */
static int write1(struct vu_qp *q, struct ibv_mr *lmr, char *src, uint32_t len,
		  uint64_t dst, uint32_t rkey)
{
	struct ibv_sge sge = { (uintptr_t)src, len, lmr->lkey };

	return vu_post1(q, IBV_WR_RDMA_WRITE, &sge, dst, rkey, 0, 0, 30);
}

static int uc_qp(struct vu_qp *q)
{
	q->cq = ibv_create_cq(c.ctx, 64, NULL, NULL, 0);
	if (!q->cq)
		return -1;
	q->qp = vu_uc_qp(&c, q->cq, NULL, 32, 1);
	return q->qp ? 0 : -1;
}

static int uc_connect(struct ibv_qp *qp, uint32_t remote_qpn)
{
	return vu_uc_connect(&c, qp, remote_qpn, 0x3000);
}

int main(int argc, char **argv)
{
	const char *dev = vu_args(argc, argv, "odp_implicit_mem [-d DEV] [-g GID_INDEX]");
	const unsigned int acc = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
				 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_ON_DEMAND;
	long long s0, s1, s2, per_chunk;
	struct vu_qp a = { 0 }, b = { 0 };
	struct ibv_mr *imr, *lmr;
	char *ok, *hole, *src;
	struct ibv_sge sg[2];
	uint64_t gen = 0;
	uint32_t rc = 0;
	long bad = -1;
	int i, st, nst, err, stock;
	double end;

	tap_plan(PLAN);
	vu_setup(&c, dev);
	if (vu_odp_caps(c.ctx, &gen, &rc) || !(gen & IBV_ODP_SUPPORT_IMPLICIT)) {
		tap_skip_rest(PLAN, "no implicit ODP", "kernel memory of implicit ODP MRs");
		return tap_exit_status();
	}
	if (cg_enter()) {
		tap_skip_rest(PLAN, "no cgroup v2 memory controller", "kernel memory of implicit ODP MRs");
		return tap_exit_status();
	}

	/* N_OK chunks of anonymous memory, 2 MiB aligned; holes: PROT_NONE */
	ok = mmap(NULL, (N_OK + 1) * CHUNK, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	hole = mmap(NULL, (N_RC + N_UC + N_PF + 1) * CHUNK, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	src = malloc(4096);
	if (ok == MAP_FAILED || hole == MAP_FAILED || !src)
		tap_bail("memory: %s", strerror(errno));
	ok = (char *)(((uintptr_t)ok + CHUNK - 1) & ~(CHUNK - 1));
	hole = (char *)(((uintptr_t)hole + CHUNK - 1) & ~(CHUNK - 1));
	lmr = ibv_reg_mr(c.pd, src, 4096, IBV_ACCESS_LOCAL_WRITE);
	imr = ibv_reg_mr(c.pd, NULL, SIZE_MAX, acc);
	if (!lmr || !imr)
		tap_bail("ibv_reg_mr: %s", strerror(errno));
	if (vu_pair(&c, &a, &b, 8))
		tap_bail("QP pair: %s", strerror(errno));

	/* 1. chunks that are really used */
	s0 = cg_slab();
	for (i = 0, st = 0; i < N_OK && !st; i++) {
		vu_fill(src, 64, i);
		st = write1(&a, lmr, src, 64, (uintptr_t)(ok + i * CHUNK + 4096), imr->rkey);
	}
	for (i = 0; i < N_OK && !st && bad < 0; i++)
		bad = vu_mismatch(ok + i * CHUNK + 4096, 64, i);
	tap_ok(!st && bad < 0, "%d RDMA writes into %d chunks of an implicit MR (status %d, mismatch %ld in chunk %d)",
	       N_OK, N_OK, st, bad, i - 1);

	/* 2. their page lists are charged to this cgroup */
	s1 = cg_slab();
	per_chunk = s0 >= 0 && s1 >= 0 ? (s1 - s0) / N_OK : -1;
	stock = getenv("RXE_ODP_STOCK_CORE") && !strcmp(getenv("RXE_ODP_STOCK_CORE"), "1");
	if (stock)
		tap_skip("a stock kernel's IB core charges no ODP umem (RXE_ODP_STOCK_CORE=1)",
			 "the chunks are charged to the registering process's memory cgroup");
	else
		tap_ok(per_chunk >= 8192,
		       "the chunks are charged to the registering process's memory cgroup: %lld bytes of slab per chunk (at least 8192)",
		       per_chunk);

	/* 3. RC writes into chunks without an accessible page */
	for (i = 0, nst = 0; i < N_RC; i++) {
		vu_qp_destroy(&a);
		vu_qp_destroy(&b);
		if (vu_pair(&c, &a, &b, 8))
			tap_bail("QP pair: %s", strerror(errno));
		st = write1(&a, lmr, src, 64, (uintptr_t)(hole + i * CHUNK), imr->rkey);
		if (st == IBV_WC_REM_ACCESS_ERR)
			nst++;
	}
	tap_ok(nst == N_RC, "%d RC writes into inaccessible chunks: %d completed with IBV_WC_REM_ACCESS_ERR (last status %d)",
	       N_RC, nst, st);
	vu_qp_destroy(&a);
	vu_qp_destroy(&b);

	/* 4. UC writes: dropped by the responder */
	if (uc_qp(&a) || uc_qp(&b) || uc_connect(a.qp, b.qp->qp_num) ||
	    uc_connect(b.qp, a.qp->qp_num))
		tap_bail("UC QP pair: %s", strerror(errno));
	for (i = 0, nst = 0; i < N_UC; i++) {
		st = write1(&a, lmr, src, 64, (uintptr_t)(hole + (N_RC + i) * CHUNK), imr->rkey);
		if (st == IBV_WC_SUCCESS)
			nst++;
	}
	vu_fill(src, 64, 4242);
	st = write1(&a, lmr, src, 64, (uintptr_t)ok, imr->rkey);
	end = vu_now() + 30;
	while ((bad = vu_mismatch(ok, 64, 4242)) >= 0 && vu_now() < end)
		usleep(1000);
	tap_ok(nst == N_UC && !st && bad < 0,
	       "%d UC writes into inaccessible chunks complete at the requester (%d), a UC write after them lands (status %d, mismatch %ld)",
	       N_UC, nst, st, bad);

	/* 5. PREFETCH_NO_FAULT over chunks without a page */
	sg[0].addr = (uintptr_t)(hole + (N_RC + N_UC) * CHUNK);
	sg[0].length = N_PF / 2 * CHUNK;
	sg[1].addr = sg[0].addr + sg[0].length;
	sg[1].length = N_PF / 2 * CHUNK;
	sg[0].lkey = sg[1].lkey = imr->lkey;
	err = vu_advise_mr(c.pd, IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT,
			   IB_UVERBS_ADVISE_MR_FLAG_FLUSH, sg, 2);
	tap_ok(!err, "advise_mr(PREFETCH_NO_FAULT, FLUSH) over %d chunks without a page: %s",
	       N_PF, err ? strerror(-err) : "0");

	/* 6. none of it kept memory */
	s2 = cg_slab();
	if (stock)
		tap_skip("a stock kernel's IB core charges no ODP umem (RXE_ODP_STOCK_CORE=1): nothing to measure",
			 "accesses that mapped nothing kept no chunk");
	else if (per_chunk < 4096)
		tap_ok(0, "kernel memory after %d accesses that mapped nothing: cannot judge, no charge seen in 2 (%lld bytes of slab)",
		       N_RC + N_UC + N_PF, s2 - s1);
	else
		tap_ok(s2 - s1 < (N_RC + N_UC + N_PF) * per_chunk / 16,
		       "%d accesses that mapped nothing kept no chunk: slab of the cgroup %+lld bytes (limit %lld, a chunk costs %lld)",
		       N_RC + N_UC + N_PF, s2 - s1, (N_RC + N_UC + N_PF) * per_chunk / 16,
		       per_chunk);

	vu_qp_destroy(&a);
	vu_qp_destroy(&b);
	ibv_dereg_mr(imr);
	ibv_dereg_mr(lmr);
	cg_leave();
	return tap_exit_status();
}
