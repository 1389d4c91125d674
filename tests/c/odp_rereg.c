// SPDX-License-Identifier: GPL-2.0
/*
 * ibv_rereg_mr(IBV_REREG_MR_CHANGE_ACCESS) on ODP MRs, both directions,
 * for an explicit MR (one umem), a large one (2 MiB chunks) and an
 * implicit one.
 *
 * The pages of an ODP MR are faulted in with the access its umems were
 * made with, so making a read-only ODP MR writable cannot work by
 * changing the MR's access bits alone: the kernel must refuse it (the IB
 * core's ib_umem_check_rereg() answers EACCES for a umem that is not
 * writable) and the MR must keep working as it was.  Making a writable
 * ODP MR read-only must work: RDMA WRITE is then refused with
 * IBV_WC_REM_ACCESS_ERR, RDMA READ still returns the right bytes.
 *
 * rdma-core 44's rxe provider has no rereg_mr (ibv_rereg_mr() answers
 * EOPNOTSUPP without asking the kernel), so the test issues the uverbs
 * command IB_USER_VERBS_CMD_REREG_MR itself on the context's command fd.
 *
 * Usage: odp_rereg [-d DEV] [-g GID_INDEX]
 */
#include <stdbool.h>
#include <rdma/ib_user_verbs.h>
#include "verbs_util.h"

#define LEN	(64 * 1024)
#define BIG	(256UL << 20)	/* above the single-umem limit: chunked */
#define PER	4
#define PLAN	(3 * PER)

static struct vu_ctx c;
static struct vu_qp a, b;
static char *lbuf;
static struct ibv_mr *lmr;

static int rdma(enum ibv_wr_opcode op, void *raddr, uint32_t rkey, unsigned int seed)
{
	struct ibv_sge sge = { .addr = (uintptr_t)lbuf, .length = LEN, .lkey = lmr->lkey };

	if (op == IBV_WR_RDMA_WRITE)
		vu_fill(lbuf, LEN, seed);
	else
		memset(lbuf, 0, LEN);
	return vu_post1(&a, op, &sge, (uintptr_t)raddr, rkey, 0, 0, 30);
}

/* a fresh pair of connected QPs: an access error moves both to ERR */
static void fresh_pair(void)
{
	vu_qp_destroy(&a);
	vu_qp_destroy(&b);
	if (vu_pair(&c, &a, &b, 4))
		tap_bail("QP pair: %s", strerror(errno));
}

static void one(const char *kind, size_t len, bool implicit)
{
	const int ro = IBV_ACCESS_REMOTE_READ | IBV_ACCESS_ON_DEMAND;
	const int rw = ro | IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE;
	char *buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	struct ibv_mr *mr;
	int ret, e, st;
	long bad;

	if (buf == MAP_FAILED)
		tap_bail("mmap: %s", strerror(errno));
	/* read-only -> writable: refused, and the MR stays read-only */
	fresh_pair();
	mr = implicit ? ibv_reg_mr(c.pd, NULL, SIZE_MAX, ro) : ibv_reg_mr(c.pd, buf, len, ro);
	if (!mr)
		tap_bail("%s: ibv_reg_mr: %s", kind, strerror(errno));
	vu_fill(buf, LEN, 3);
	e = vu_rereg_mr(mr, IBV_REREG_MR_CHANGE_ACCESS, rw, NULL, NULL, NULL);
	tap_ok(e == EACCES, "%s: rereg read-only -> writable refused (%s; want EACCES)",
	       kind, e ? strerror(e) : "succeeded");
	st = rdma(IBV_WR_RDMA_READ, buf, mr->rkey, 0);
	bad = vu_mismatch(lbuf, LEN, 3);
	tap_ok(st == IBV_WC_SUCCESS && bad < 0,
	       "%s: ... and the MR still reads (status %d, first wrong byte %ld)", kind, st, bad);
	ibv_dereg_mr(mr);

	/* writable -> read-only: writes refused, reads right */
	fresh_pair();
	mr = implicit ? ibv_reg_mr(c.pd, NULL, SIZE_MAX, rw) : ibv_reg_mr(c.pd, buf, len, rw);
	if (!mr)
		tap_bail("%s: ibv_reg_mr: %s", kind, strerror(errno));
	st = rdma(IBV_WR_RDMA_WRITE, buf, mr->rkey, 5);
	bad = vu_mismatch(buf, LEN, 5);
	ret = vu_rereg_mr(mr, IBV_REREG_MR_CHANGE_ACCESS, ro, NULL, NULL, NULL);
	tap_ok(st == IBV_WC_SUCCESS && bad < 0 && ret == 0,
	       "%s: write while writable (status %d, first wrong byte %ld), then rereg writable -> read-only (ret %d)",
	       kind, st, bad, ret);
	if (ret == 0) {
		int w, r;

		w = rdma(IBV_WR_RDMA_WRITE, buf, mr->rkey, 9);
		fresh_pair();
		r = rdma(IBV_WR_RDMA_READ, buf, mr->rkey, 0);
		bad = vu_mismatch(lbuf, LEN, 5);
		tap_ok(w == IBV_WC_REM_ACCESS_ERR && r == IBV_WC_SUCCESS && bad < 0,
		       "%s: read-only now: RDMA WRITE status %d (want %d), RDMA READ status %d, first wrong byte %ld",
		       kind, w, IBV_WC_REM_ACCESS_ERR, r, bad);
	} else {
		tap_ok(0, "%s: read-only now: rereg failed", kind);
	}
	ibv_dereg_mr(mr);
	munmap(buf, len);
}

int main(int argc, char **argv)
{
	const char *dev = vu_args(argc, argv, "odp_rereg [-d DEV] [-g GID_INDEX]");
	uint64_t gen = 0;
	uint32_t rc = 0;

	tap_plan(PLAN);
	vu_setup(&c, dev);
	if (vu_odp_caps(c.ctx, &gen, &rc) || !(gen & IBV_ODP_SUPPORT) ||
	    (rc & (IBV_ODP_SUPPORT_READ | IBV_ODP_SUPPORT_WRITE)) !=
	    (IBV_ODP_SUPPORT_READ | IBV_ODP_SUPPORT_WRITE)) {
		tap_skip_rest(PLAN, "no RC ODP read and write support", "rereg of ODP MRs");
		return tap_exit_status();
	}
	lbuf = malloc(LEN);
	if (!lbuf)
		tap_bail("malloc");
	lmr = ibv_reg_mr(c.pd, lbuf, LEN, IBV_ACCESS_LOCAL_WRITE);
	if (!lmr)
		tap_bail("ibv_reg_mr: %s", strerror(errno));
	one("explicit 64 KiB", LEN, false);
	one("explicit 256 MiB (chunked)", BIG, false);
	if (gen & IBV_ODP_SUPPORT_IMPLICIT)
		one("implicit", BIG, true);
	else
		tap_skip_rest(PLAN, "no IBV_ODP_SUPPORT_IMPLICIT", "rereg of an implicit ODP MR");
	ibv_dereg_mr(lmr);
	vu_qp_destroy(&a);
	vu_qp_destroy(&b);
	ibv_dealloc_pd(c.pd);
	ibv_close_device(c.ctx);
	return tap_exit_status();
}
