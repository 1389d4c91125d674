// SPDX-License-Identifier: GPL-2.0
/*
 * Many QPs whose ODP faults block in the backing store, and one QP that
 * has nothing to fault: does the latter keep working?  (Review: the
 * design gap of faults resolved inline in the QP's task.)
 *
 * FILE is the file of tests/c/stallfs.py (reads wait until CTLDIR/release
 * exists).  N QP pairs each post an RDMA READ from an ODP MR over a
 * mapping of FILE: every responder's fault blocks.  Meanwhile another QP
 * pair moves data between pinned buffers:
 *   1. the READs are all held up (the file system saw a read, no READ
 *      completed);
 *   2. the other QP pair completes ROUNDS RDMA WRITEs with the right
 *      bytes, each within LIMIT seconds, while the N faults block;
 *   3. ibv_destroy_qp() of one responder QP whose fault blocks is still
 *      waiting 2 s later (the fault work holds its MR and will schedule
 *      the QP's tasks: the QP must not be freed under it);
 *   4. once the reads are let go, that ibv_destroy_qp() returns 0;
 *   5. the other N - 1 READs complete with the file's bytes.
 * The runner checks the kernel log (KASAN, if the QP was freed under its
 * fault).
 *
 * Usage: odp_stall_qps [-d DEV] [-g GID_INDEX] FILE CTLDIR N
 */
#include <signal.h>
#include "verbs_util.h"
#include "gate.h"

#define XFER	4096
#define ROUNDS	20
#define LIMIT	5.0
#define PLAN	5

static struct vu_ctx c;
static struct gate gate = GATE_INIT;
static int destroyed, destroy_ret;
static struct ibv_qp *victim;

/* destroys the victim QP when told to, made before any fault blocks */
static void *destroy_thread(void *arg)
{
	int ret;

	(void)arg;
	gate_wait(&gate);
	ret = ibv_destroy_qp(victim);
	__atomic_store_n(&destroy_ret, ret, __ATOMIC_RELAXED);
	__atomic_store_n(&destroyed, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void on_alarm(int sig)
{
	static const char msg[] = "Bail out! odp_stall_qps: no progress\n";

	(void)sig;
	if (write(1, msg, sizeof(msg) - 1) < 0)
		_exit(1);
	_exit(1);
}

int main(int argc, char **argv)
{
	const char *usage = "odp_stall_qps [-d DEV] [-g GID_INDEX] FILE CTLDIR N";
	const char *dev = vu_args(argc, argv, usage);
	struct ibv_mr *fmr, *lmr, *smr, *dmr;
	unsigned char *map, *lbuf;
	char *src, *dst, path[4096];
	struct vu_qp *qa, *qb, wa = { 0 }, wb = { 0 };
	double t, worst = 0;
	int i, n, fd, st = 0, done = 0, good = 0, ok, waiting;
	pthread_t th;
	struct ibv_wc wc;
	long bad = -1;
	size_t len;

	if (argc - optind != 3) {
		fprintf(stderr, "usage: %s\n", usage);
		return 2;
	}
	n = atoi(argv[optind + 2]);
	if (n < 2)
		return 2;
	len = (size_t)n * XFER;
	tap_plan(PLAN);
	vu_setup(&c, dev);
	if (!vu_has_odp(c.ctx, IBV_ODP_SUPPORT_READ)) {
		tap_skip_rest(PLAN, "no RC ODP read support", "QPs next to stalled faults");
		return tap_exit_status();
	}
	fd = open(argv[optind], O_RDONLY);
	if (fd < 0)
		tap_bail("%s: %s", argv[optind], strerror(errno));
	map = mmap(NULL, XFER, PROT_READ, MAP_SHARED, fd, 0);
	lbuf = calloc(n, XFER);
	src = malloc(XFER);
	dst = malloc(XFER);
	qa = calloc(n, sizeof(*qa));
	qb = calloc(n, sizeof(*qb));
	if (map == MAP_FAILED || !lbuf || !src || !dst || !qa || !qb)
		tap_bail("memory: %s", strerror(errno));
	fmr = ibv_reg_mr(c.pd, map, XFER, IBV_ACCESS_REMOTE_READ | IBV_ACCESS_ON_DEMAND);
	lmr = ibv_reg_mr(c.pd, lbuf, len, IBV_ACCESS_LOCAL_WRITE);
	smr = ibv_reg_mr(c.pd, src, XFER, IBV_ACCESS_LOCAL_WRITE);
	dmr = ibv_reg_mr(c.pd, dst, XFER, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	if (!fmr || !lmr || !smr || !dmr)
		tap_bail("ibv_reg_mr: %s", strerror(errno));
	/* every QP and thread before the first fault takes the mmap lock */
	for (i = 0; i < n; i++)
		if (vu_pair(&c, &qa[i], &qb[i], 2))
			tap_bail("QP pair %d: %s", i, strerror(errno));
	if (vu_pair(&c, &wa, &wb, 4))
		tap_bail("QP pair: %s", strerror(errno));
	victim = qb[n - 1].qp;
	if (pthread_create(&th, NULL, destroy_thread, NULL))
		tap_bail("pthread_create failed");
	signal(SIGALRM, on_alarm);
	alarm(600);

	/* 1. N READs whose faults block in the file system */
	for (i = 0; i < n; i++) {
		struct ibv_sge sge = { (uintptr_t)(lbuf + (size_t)i * XFER), XFER, lmr->lkey };
		struct ibv_send_wr wr = { .sg_list = &sge, .num_sge = 1,
					  .opcode = IBV_WR_RDMA_READ,
					  .send_flags = IBV_SEND_SIGNALED }, *wbad;

		wr.wr.rdma.remote_addr = (uintptr_t)map;
		wr.wr.rdma.rkey = fmr->rkey;
		if (ibv_post_send(qa[i].qp, &wr, &wbad))
			tap_bail("ibv_post_send: %s", strerror(errno));
	}
	snprintf(path, sizeof(path), "%s/reading", argv[optind + 1]);
	t = vu_now();
	while (access(path, F_OK) && vu_now() < t + 30)
		usleep(10000);
	sleep(2);	/* let every responder reach its fault */
	for (i = 0; i < n; i++)
		done += ibv_poll_cq(qa[i].cq, 1, &wc) == 1;
	tap_ok(!access(path, F_OK) && done == 0,
	       "%d RDMA READs from a FUSE-backed ODP MR are held up in the file system (%d completed)",
	       n, done);

	/* 2. another QP pair with nothing to fault */
	for (i = 0; i < ROUNDS && !st && bad < 0; i++) {
		struct ibv_sge sge = { (uintptr_t)src, XFER, smr->lkey };

		vu_fill(src, XFER, i);
		t = vu_now();
		st = vu_post1(&wa, IBV_WR_RDMA_WRITE, &sge, (uintptr_t)dst, dmr->rkey, 0, 0, LIMIT);
		t = vu_now() - t;
		worst = t > worst ? t : worst;
		bad = st ? -2 : vu_mismatch(dst, XFER, i);
	}
	ok = !st && bad < 0;
	tap_ok(ok, "another QP pair does %d RDMA WRITEs meanwhile, each within %.0f s (status %d, mismatch %ld, slowest %.3f s)",
	       ROUNDS, LIMIT, st, bad, worst);

	/* 3. destroy a responder QP whose fault blocks */
	gate_open(&gate);
	sleep(2);
	waiting = !__atomic_load_n(&destroyed, __ATOMIC_ACQUIRE);
	tap_ok(waiting, "ibv_destroy_qp() of a responder QP whose fault blocks waits for the fault: %s after 2 s",
	       waiting ? "still waiting" : "returned");

	/* 4. let the reads go */
	snprintf(path, sizeof(path), "%s/release", argv[optind + 1]);
	if (creat(path, 0644) < 0)
		tap_bail("%s: %s", path, strerror(errno));
	pthread_join(th, NULL);
	tap_ok(waiting && !destroy_ret, "once the reads are let go, ibv_destroy_qp() returns 0 (%d)",
	       destroy_ret);

	/* 5. the other READs complete; the victim's peer has no responder */
	for (i = 0, done = 0, n--; i < n; i++) {
		if (vu_poll(qa[i].cq, &wc, 60) != 1)
			continue;
		done++;
		if (wc.status == IBV_WC_SUCCESS) {
			unsigned int k;

			for (k = 0; k < XFER && lbuf[(size_t)i * XFER + k] == k % 251; k++)
				;
			good += k == XFER;
		}
	}
	tap_ok(good == n, "the %d other READs complete with the file's bytes (%d completed, %d right)",
	       n, done, good);

	for (i = 0; i < n; i++) {
		vu_qp_destroy(&qa[i]);
		vu_qp_destroy(&qb[i]);
	}
	vu_qp_destroy(&qa[n]);
	qb[n].qp = NULL;	/* destroyed above; its CQ is left to vu_qp_destroy */
	vu_qp_destroy(&qb[n]);
	vu_qp_destroy(&wa);
	vu_qp_destroy(&wb);
	ibv_dereg_mr(fmr);
	ibv_dereg_mr(lmr);
	ibv_dereg_mr(smr);
	ibv_dereg_mr(dmr);
	return tap_exit_status();
}
