// SPDX-License-Identifier: GPL-2.0
/*
 * RC atomics on ODP MRs racing with invalidation.  The target and the
 * result buffer are private anonymous memory, and a thread keeps moving
 * their pages to the other NUMA node (move_pages()): each move gives the
 * data a new page and invalidates the old one, so an atomic that missed
 * the invalidation lands in a page the process no longer sees, and the
 * values go wrong.  Every fetch-and-add and compare-and-swap must return
 * the exact sequence of values, the final values must be exact, and the
 * pages must really have moved.  With one NUMA node the thread drops the
 * pages of a shared memfd mapping instead (MADV_DONTNEED keeps its data,
 * but the page stays the same: a weaker test).  Also a target past the
 * MR end (remote access error).
 */
#include <pthread.h>
#include <sys/syscall.h>
#define main odp_fault_main
#include "odp_fault.c"
#undef main

#define TSZ	(4u * 4096)

static volatile int stop;
static char *tgt, *res;
static int numa;		/* two NUMA nodes: migrate, else drop */
static unsigned long moved;	/* pages found on their new node */

/* move the pages of P to NODE; how many are there now */
static unsigned long migrate(char *p, int node)
{
	void *pages[TSZ / 4096];
	int nodes[TSZ / 4096], status[TSZ / 4096];
	unsigned long i, n = TSZ / 4096, on = 0;

	for (i = 0; i < n; i++) {
		pages[i] = p + i * 4096;
		nodes[i] = node;
	}
	if (syscall(SYS_move_pages, 0, n, pages, nodes, status, 2 /* MPOL_MF_MOVE */))
		return 0;
	for (i = 0; i < n; i++)
		on += status[i] == node;
	return on;
}

static void *dropper(void *arg)
{
	unsigned long n = 0;

	(void)arg;
	while (!stop) {
		if (numa) {
			moved += migrate(tgt, n & 1);
			moved += migrate(res, n & 1);
		} else {
			madvise(tgt, TSZ, MADV_DONTNEED);
			madvise(res, TSZ, MADV_DONTNEED);
		}
		n++;
		usleep(n % 4 ? 0 : 100);
	}
	return (void *)n;
}

static int atomic(struct ibv_mr *lmr, uint64_t *laddr, struct ibv_mr *rmr,
		  char *raddr, enum ibv_wr_opcode op, uint64_t cmp_add,
		  uint64_t swap, struct ibv_wc *wc)
{
	struct ibv_sge sge = { (uintptr_t)laddr, 8, lmr->lkey };
	struct ibv_send_wr wr = {0}, *bad;

	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = op;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.atomic.remote_addr = (uintptr_t)raddr;
	wr.wr.atomic.rkey = rmr->rkey;
	wr.wr.atomic.compare_add = cmp_add;
	wr.wr.atomic.swap = swap;
	if (ibv_post_send(a.qp, &wr, &bad))
		return -2;
	return wait1(&a, wc);
}

int main(int argc, char **argv)
{
	int ops = argc > 1 ? atoi(argv[1]) : 400, i, st, bad = 0;
	int acc = RW | IBV_ACCESS_REMOTE_ATOMIC | ODP;
	struct ibv_mr *tmr, *rmr;
	uint64_t *lv, v;
	struct ibv_wc wc;
	pthread_t th;
	void *drops;
	int fd;

	tap_plan(5);
	vu_setup(&c, NULL);
	if (!vu_has_odp(c.ctx, IBV_ODP_SUPPORT_ATOMIC)) {
		tap_skip_rest(5, "device has no ODP support for RC atomics", "odp_atomic");
		return tap_exit_status();
	}
	if (!c.pd || mkpair())
		tap_bail("QP setup: %s", strerror(errno));
	numa = !access("/sys/devices/system/node/node1", F_OK);
	if (numa) {
		tgt = mmap(NULL, TSZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		res = mmap(NULL, TSZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (tgt == MAP_FAILED || res == MAP_FAILED)
			tap_bail("mmap: %s", strerror(errno));
		memset(tgt, 0, TSZ);
		memset(res, 0, TSZ);
	} else {
		fd = memfd_create("odp_atomic", 0);
		if (fd < 0 || ftruncate(fd, TSZ))
			tap_bail("memfd: %s", strerror(errno));
		tgt = mmap(NULL, TSZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (tgt == MAP_FAILED)
			tap_bail("mmap: %s", strerror(errno));
		/* the result buffer too: dropped pages keep the returned values */
		fd = memfd_create("odp_atomic_res", 0);
		if (fd < 0 || ftruncate(fd, TSZ))
			tap_bail("memfd: %s", strerror(errno));
		res = mmap(NULL, TSZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (res == MAP_FAILED)
			tap_bail("mmap: %s", strerror(errno));
	}
	tmr = ibv_reg_mr(c.pd, tgt, TSZ, acc);
	rmr = ibv_reg_mr(c.pd, res, TSZ, acc);
	if (!tmr || !rmr)
		tap_bail("reg: %s", strerror(errno));

	pthread_create(&th, NULL, dropper, NULL);
	/* fetch-and-add at the end of page 0, compare-and-swap in page 2 */
	for (i = 0; i < ops && bad < 3; i++) {
		lv = (uint64_t *)(res + 4096 + 8 * (i % 500));
		st = atomic(rmr, lv, tmr, tgt + 4096 - 8,
			    IBV_WR_ATOMIC_FETCH_AND_ADD, 3, 0, &wc);
		v = *lv;
		if (st || v != 3ull * i) {
			tap_diag("fadd %d: status %d value %llu", i, st,
				 (unsigned long long)v);
			bad++;
		}
		st = atomic(rmr, lv, tmr, tgt + 2 * 4096 + 16,
			    IBV_WR_ATOMIC_CMP_AND_SWP, i, i + 1, &wc);
		v = *lv;
		if (st || v != (uint64_t)i) {
			tap_diag("cswp %d: status %d value %llu", i, st,
				 (unsigned long long)v);
			bad++;
		}
	}
	stop = 1;
	pthread_join(th, &drops);
	tap_ok(!bad && (!numa || moved > 0),
	       "%d fetch-and-add and compare-and-swap racing with %lu %s rounds return exact values (%lu pages moved)",
	       i, (unsigned long)drops, numa ? "page migration" : "MADV_DONTNEED", moved);
	ops = i;
	tap_ok(*(uint64_t *)(tgt + 4096 - 8) == 3ull * ops,
	       "final fetch-and-add value %llu (expected %llu)",
	       (unsigned long long)*(uint64_t *)(tgt + 4096 - 8),
	       3ull * ops);
	tap_ok(*(uint64_t *)(tgt + 2 * 4096 + 16) == (uint64_t)ops,
	       "final compare-and-swap value %llu (expected %d)",
	       (unsigned long long)*(uint64_t *)(tgt + 2 * 4096 + 16), ops);

	/* a failed compare leaves the target alone */
	lv = (uint64_t *)res;
	st = atomic(rmr, lv, tmr, tgt + 2 * 4096 + 16,
		    IBV_WR_ATOMIC_CMP_AND_SWP, 12345, 7, &wc);
	tap_ok(!st && *lv == (uint64_t)ops &&
	       *(uint64_t *)(tgt + 2 * 4096 + 16) == (uint64_t)ops,
	       "compare-and-swap with a wrong compare value changes nothing");

	/* the remote address is aligned by the provider, and uverbs keeps
	 * the page offset of the MR address and the memory equal: a
	 * misaligned target cannot be built from user space
	 */
	st = atomic(rmr, lv, tmr, tgt + TSZ, IBV_WR_ATOMIC_FETCH_AND_ADD, 1, 0,
		    &wc);
	tap_ok(st == IBV_WC_REM_ACCESS_ERR, "target past the MR end: status %d %s",
	       st, st >= 0 ? ibv_wc_status_str(st) : "timeout");

	vu_qp_destroy(&a);
	vu_qp_destroy(&b);
	ibv_dereg_mr(tmr);
	ibv_dereg_mr(rmr);
	ibv_dealloc_pd(c.pd);
	ibv_close_device(c.ctx);
	return tap_exit_status();
}
