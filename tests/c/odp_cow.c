// SPDX-License-Identifier: GPL-2.0
/*
 * An RDMA WRITE into copy-on-write pages that ODP has mapped read-only.
 *
 * After fork(), the parent's private pages are shared with the child and
 * mapped read-only in both.  advise_mr(PREFETCH_NO_FAULT) maps them into
 * a writable ODP MR with the permissions the CPU page tables have: read
 * only.  An RDMA WRITE must then fault the pages in for writing, which
 * breaks the sharing: the bytes land in the parent's own copy, and the
 * child keeps seeing what it had.  A driver that took a read-only
 * mapping for a writable one (the mutant perm-ignored) writes into the
 * page shared with the child.
 *
 *   1. PREFETCH_NO_FAULT of the shared pages returns 0;
 *   2. an RDMA WRITE of LEN bytes into them completes successfully and
 *      the parent reads them back byte for byte;
 *   3. the child still reads its own bytes, byte for byte.
 *
 * Usage: odp_cow [-d DEV] [-g GID_INDEX]
 */
#include <sys/wait.h>
#include "verbs_util.h"

#define LEN	(16 * 1024)
#define PLAN	3

int main(int argc, char **argv)
{
	const char *dev = vu_args(argc, argv, "odp_cow [-d DEV] [-g GID_INDEX]");
	struct vu_qp a = { 0 }, b = { 0 };
	struct ibv_mr *smr, *dmr;
	int go[2], done[2], st, err, wst;
	char *src, *buf, c = 0;
	struct ibv_sge sg;
	struct vu_ctx vc;
	long bad;
	pid_t pid;

	tap_plan(PLAN);
	vu_setup(&vc, dev);
	if (!vu_has_odp(vc.ctx, IBV_ODP_SUPPORT_WRITE)) {
		tap_skip_rest(PLAN, "no RC ODP write support", "copy-on-write pages");
		return tap_exit_status();
	}
	src = malloc(LEN);
	buf = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!src || buf == MAP_FAILED || pipe(go) || pipe(done))
		tap_bail("setup: %s", strerror(errno));
	vu_fill(buf, LEN, 1);
	smr = ibv_reg_mr(vc.pd, src, LEN, IBV_ACCESS_LOCAL_WRITE);
	dmr = ibv_reg_mr(vc.pd, buf, LEN, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			 IBV_ACCESS_ON_DEMAND);
	if (!smr || !dmr || vu_pair(&vc, &a, &b, 4))
		tap_bail("verbs setup: %s", strerror(errno));
	/*
	 * No ibv_fork_init(): the pages must stay shared with the child.
	 * The pinned source buffer stays the parent's (fork() copies pinned
	 * pages for the child at once).
	 */
	pid = fork();
	if (pid < 0)
		tap_bail("fork: %s", strerror(errno));
	if (!pid) {
		/* child: wait until the parent wrote, then check its own bytes */
		if (read(go[0], &c, 1) != 1)
			_exit(2);
		_exit(vu_mismatch(buf, LEN, 1) < 0 ? 0 : 1);
	}

	/* 1. map the shared (read-only) pages without faulting */
	sg.addr = (uintptr_t)buf;
	sg.length = LEN;
	sg.lkey = dmr->lkey;
	err = vu_advise_mr(vc.pd, IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT,
			   IB_UVERBS_ADVISE_MR_FLAG_FLUSH, &sg, 1);
	tap_ok(!err, "PREFETCH_NO_FAULT of pages shared copy-on-write with a child: %s",
	       err ? strerror(-err) : "0");

	/* 2. write into them */
	vu_fill(src, LEN, 2);
	{
		struct ibv_sge s = { (uintptr_t)src, LEN, smr->lkey };

		st = vu_post1(&a, IBV_WR_RDMA_WRITE, &s, (uintptr_t)buf, dmr->rkey, 0, 0, 30);
	}
	bad = st ? -2 : vu_mismatch(buf, LEN, 2);
	tap_ok(st == IBV_WC_SUCCESS && bad < 0,
	       "an RDMA WRITE into them lands in the parent's copy (status %d, mismatch at %ld)",
	       st, bad);

	/* 3. the child's pages are its own */
	if (write(go[1], &c, 1) != 1 || waitpid(pid, &wst, 0) != pid)
		tap_bail("child: %s", strerror(errno));
	tap_ok(WIFEXITED(wst) && WEXITSTATUS(wst) == 0,
	       "the child still reads its own bytes (exit %d): the write did not reach the shared page",
	       WIFEXITED(wst) ? WEXITSTATUS(wst) : -1);

	vu_qp_destroy(&a);
	vu_qp_destroy(&b);
	ibv_dereg_mr(dmr);
	ibv_dereg_mr(smr);
	return tap_exit_status();
}
