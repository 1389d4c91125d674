// SPDX-License-Identifier: GPL-2.0
/*
 * Deregistration of an ODP MR while a page fault on it is blocked in the
 * backing store for longer than rxe's 50 s pool wait (review finding H3).
 *
 * FILE is the file of tests/c/stallfs.py: its reads wait until CTLDIR/
 * release exists, and announce themselves with CTLDIR/reading.  An ODP
 * MR maps FILE; an RDMA READ from it makes the responder fault its pages
 * in, which blocks in the FUSE read.  Then the MR is deregistered from
 * another thread:
 *
 *   1. the responder's fault waits in the file system (CTLDIR/reading);
 *   2. ibv_dereg_mr() is still waiting WAIT seconds later (default 60,
 *      beyond the 50 s after which rxe's pool gave up and freed the MR
 *      under the fault);
 *   3. once the read is let go, ibv_dereg_mr() returns 0;
 *   4. the RDMA READ completes, with the file's bytes if its fault came
 *      through before ibv_dereg_mr() marked the MR invalid, else with
 *      IBV_WC_REM_ACCESS_ERR (the fault is retried, and a retry on a
 *      dying MR fails);
 *   5. a READ through a new ODP MR over the same mapping returns them too.
 * The runner checks the kernel log (a WARN from the pool's wait, a KASAN
 * report when the fault resumes on a freed umem).  The threads are made
 * before the fault starts: the blocked fault holds this process's mmap
 * lock for reading, and creating a thread needs it for writing.
 *
 * Usage: odp_stall [-d DEV] [-g GID_INDEX] FILE CTLDIR [WAIT]
 */
#include <signal.h>
#include "verbs_util.h"
#include "gate.h"

#define LEN	(64 * 1024)
#define XFER	4096
#define PLAN	5

static struct vu_ctx c;
static struct ibv_mr *fmr;
static struct gate gate = GATE_INIT;
static int done, dereg_ret;
static double dereg_end;

static void *dereg_thread(void *arg)
{
	(void)arg;
	gate_wait(&gate);
	dereg_ret = ibv_dereg_mr(fmr);
	dereg_end = vu_now();
	__atomic_store_n(&done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static int exists(const char *dir, const char *name)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return !access(path, F_OK);
}

static long bad_bytes(const unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != i % 251)
			return (long)i;
	return -1;
}

static void on_alarm(int sig)
{
	static const char msg[] = "Bail out! odp_stall: no progress\n";

	(void)sig;
	if (write(1, msg, sizeof(msg) - 1) < 0)
		_exit(1);
	_exit(1);
}

int main(int argc, char **argv)
{
	const char *usage = "odp_stall [-d DEV] [-g GID_INDEX] FILE CTLDIR [WAIT]";
	const char *dev = vu_args(argc, argv, usage);
	struct vu_qp a = { 0 }, b = { 0 };
	const char *file, *ctl;
	struct ibv_mr *lmr, *mr2;
	unsigned char *lbuf, *map;
	double wait = 60, t0, trel;
	struct ibv_wc wc;
	pthread_t th;
	long bad;
	int fd, n, st, waiting;
	char rel[4096];

	if (argc - optind < 2 || argc - optind > 3) {
		fprintf(stderr, "usage: %s\n", usage);
		return 2;
	}
	file = argv[optind];
	ctl = argv[optind + 1];
	if (argc - optind == 3)
		wait = atof(argv[optind + 2]);
	snprintf(rel, sizeof(rel), "%s/release", ctl);

	tap_plan(PLAN);
	vu_setup(&c, dev);
	if (!vu_has_odp(c.ctx, IBV_ODP_SUPPORT_READ)) {
		tap_skip_rest(PLAN, "no RC ODP read support", "dereg during a stalled fault");
		return tap_exit_status();
	}
	fd = open(file, O_RDONLY);
	if (fd < 0)
		tap_bail("%s: %s", file, strerror(errno));
	map = mmap(NULL, LEN, PROT_READ, MAP_SHARED, fd, 0);
	lbuf = malloc(LEN);
	if (map == MAP_FAILED || !lbuf)
		tap_bail("memory: %s", strerror(errno));
	memset(lbuf, 0, LEN);
	lmr = ibv_reg_mr(c.pd, lbuf, LEN, IBV_ACCESS_LOCAL_WRITE);
	fmr = ibv_reg_mr(c.pd, map, LEN, IBV_ACCESS_REMOTE_READ | IBV_ACCESS_ON_DEMAND);
	if (!lmr || !fmr)
		tap_bail("ibv_reg_mr: %s", strerror(errno));
	if (vu_pair(&c, &a, &b, 4))
		tap_bail("QP pair: %s", strerror(errno));
	if (pthread_create(&th, NULL, dereg_thread, NULL))
		tap_bail("pthread_create failed");
	signal(SIGALRM, on_alarm);
	alarm((unsigned int)wait + 120);

	/* 1. a READ whose fault blocks in the file system */
	{
		struct ibv_sge sge = { (uintptr_t)lbuf, XFER, lmr->lkey };
		struct ibv_send_wr wr = { .sg_list = &sge, .num_sge = 1,
					  .opcode = IBV_WR_RDMA_READ,
					  .send_flags = IBV_SEND_SIGNALED }, *wbad;

		wr.wr.rdma.remote_addr = (uintptr_t)map;
		wr.wr.rdma.rkey = fmr->rkey;
		if (ibv_post_send(a.qp, &wr, &wbad))
			tap_bail("ibv_post_send: %s", strerror(errno));
	}
	t0 = vu_now();
	while (!exists(ctl, "reading") && vu_now() < t0 + 30)
		usleep(10000);
	n = ibv_poll_cq(a.cq, 1, &wc);
	tap_ok(exists(ctl, "reading") && n == 0,
	       "the responder's page fault waits in the FUSE read (%s, %s)",
	       exists(ctl, "reading") ? "read started" : "no read in 30 s",
	       n ? "the READ completed" : "no completion");

	/* 2. dereg from the other thread: it has to wait for the fault */
	gate_open(&gate);
	t0 = vu_now();
	while (!__atomic_load_n(&done, __ATOMIC_ACQUIRE) && vu_now() < t0 + wait)
		usleep(100000);
	waiting = !__atomic_load_n(&done, __ATOMIC_ACQUIRE);
	tap_ok(waiting, "ibv_dereg_mr() waits for the blocked fault: %s after %.0f s",
	       waiting ? "still waiting" : "returned", waiting ? wait : dereg_end - t0);

	/* 3. let the read go: dereg returns */
	if (creat(rel, 0644) < 0)
		tap_bail("%s: %s", rel, strerror(errno));
	trel = vu_now();
	while (!__atomic_load_n(&done, __ATOMIC_ACQUIRE) && vu_now() < trel + 60)
		usleep(10000);
	tap_ok(waiting && __atomic_load_n(&done, __ATOMIC_ACQUIRE) && !dereg_ret,
	       "ibv_dereg_mr() returns %d once the read is let go (%.2f s later)",
	       dereg_ret, __atomic_load_n(&done, __ATOMIC_ACQUIRE) ? dereg_end - trel : -1.0);
	pthread_join(th, NULL);

	/* 4. the READ itself */
	n = vu_poll(a.cq, &wc, 30);
	st = n == 1 ? (int)wc.status : -1;
	bad = st ? -2 : bad_bytes(lbuf, XFER);
	tap_ok((st == IBV_WC_SUCCESS && bad < 0) || st == IBV_WC_REM_ACCESS_ERR,
	       "the RDMA READ completes: with the file's bytes if its fault was resolved before the MR was marked invalid, else with IBV_WC_REM_ACCESS_ERR (status %d, mismatch at %ld)",
	       st, bad);

	/* 5. the device still serves the mapping through a new MR and QPs */
	vu_qp_destroy(&a);
	vu_qp_destroy(&b);
	if (vu_pair(&c, &a, &b, 4))
		tap_bail("QP pair: %s", strerror(errno));
	memset(lbuf, 0, LEN);
	mr2 = ibv_reg_mr(c.pd, map, LEN, IBV_ACCESS_REMOTE_READ | IBV_ACCESS_ON_DEMAND);
	if (!mr2)
		tap_bail("ibv_reg_mr: %s", strerror(errno));
	{
		struct ibv_sge sge = { (uintptr_t)lbuf, LEN, lmr->lkey };

		st = vu_post1(&a, IBV_WR_RDMA_READ, &sge, (uintptr_t)map, mr2->rkey, 0, 0, 30);
	}
	bad = st ? -2 : bad_bytes(lbuf, LEN);
	tap_ok(st == IBV_WC_SUCCESS && bad < 0,
	       "a READ of %d bytes through a new ODP MR over the mapping (status %d, mismatch at %ld)",
	       LEN, st, bad);

	ibv_dereg_mr(mr2);
	vu_qp_destroy(&a);
	vu_qp_destroy(&b);
	ibv_dereg_mr(lmr);
	munmap(map, LEN);
	close(fd);
	return tap_exit_status();
}
