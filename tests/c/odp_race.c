// SPDX-License-Identifier: GPL-2.0
/*
 * ODP invalidation racing with traffic: a thread drops the pages of both
 * ODP buffers (MADV_DONTNEED) in a loop while RDMA writes, reads and sends
 * run; every completion must succeed and, once the racing thread stops, data
 * must be exact.  Then deregister an ODP MR while a large RDMA write to it
 * is in flight: ibv_dereg_mr() must succeed (never EBUSY) and the write must
 * complete (successfully or with an error), without a hang.
 */
#include <pthread.h>
#define main odp_fault_main
#include "odp_fault.c"
#undef main

static volatile int stop;
static char *rb1, *rb2;

static void *dropper(void *arg)
{
	unsigned long n = 0;

	(void)arg;
	while (!stop) {
		madvise(rb1, BUFSZ, MADV_DONTNEED);
		madvise(rb2 + (n % 7) * 4096, 3 * 4096 + 5, MADV_DONTNEED);
		madvise(rb2, BUFSZ, MADV_DONTNEED);
		n++;
		/*
		 * Leave the faulting side a window: ib_umem_odp_map_dma_and_lock()
		 * retries for as long as the range keeps being invalidated, so a
		 * dropper that never pauses can starve it (on a one-CPU guest,
		 * forever).  A millisecond still gives hundreds of invalidations
		 * per second against the traffic.
		 */
		usleep(1000);
	}
	return (void *)n;
}

int main(int argc, char **argv)
{
	int ops = argc > 1 ? atoi(argv[1]) : 60, i, st, fails = 0;
	struct ibv_mr *m1, *m2, *m3;
	struct ibv_send_wr wr = {0}, *bad;
	struct ibv_sge sge;
	struct ibv_wc wc;
	pthread_t th;
	void *drops;
	char *b3;
	long mis;

	tap_plan(5);
	vu_setup(&c, NULL);
	if (!vu_has_odp(c.ctx, 0)) {
		tap_skip_rest(5, "device has no ODP support", "odp_race");
		return 0;
	}
	if (!c.pd || mkpair())
		tap_bail("QP setup: %s", strerror(errno));
	rb1 = amap(BUFSZ, PROT_READ | PROT_WRITE);
	rb2 = amap(BUFSZ, PROT_READ | PROT_WRITE);
	m1 = ibv_reg_mr(c.pd, rb1, BUFSZ, RW | ODP);
	m2 = ibv_reg_mr(c.pd, rb2, BUFSZ, RW | ODP);
	if (!m1 || !m2)
		tap_bail("reg: %s", strerror(errno));

	pthread_create(&th, NULL, dropper, NULL);
	for (i = 0; i < ops; i++) {
		uint32_t len = 256 * 1024 + 333 + i * 4099 % 65536;

		switch (i % 3) {
		case 0:
			st = rdma(m1, rb1 + 7 + i, len, m2, rb2 + 4095 - i, IBV_WR_RDMA_WRITE, &wc);
			break;
		case 1:
			st = rdma(m1, rb1 + 4097, len, m2, rb2 + 1 + i, IBV_WR_RDMA_READ, &wc);
			break;
		default:
			st = sendrecv(m1, rb1 + 3, m2, rb2 + 11, &wc);
			break;
		}
		if (st) {
			tap_diag("op %d (%d) status %d", i, i % 3, st);
			if (++fails > 3)
				break;
		}
	}
	stop = 1;
	pthread_join(th, &drops);
	tap_ok(!fails, "%d ops racing with %lu MADV_DONTNEED rounds: all completions ok",
	       i, (unsigned long)drops);

	/* quiet again: exact data */
	vu_fill(rb1 + 5, LEN, 77);
	st = rdma(m1, rb1 + 5, LEN, m2, rb2 + 4091, IBV_WR_RDMA_WRITE, &wc);
	mis = vu_mismatch(rb2 + 4091, LEN, 77);
	tap_ok(!st && mis < 0, "write after the race is exact (status %d, mismatch %ld)", st, mis);
	madvise(rb1, BUFSZ, MADV_DONTNEED);
	st = rdma(m1, rb1 + 9, LEN, m2, rb2 + 4091, IBV_WR_RDMA_READ, &wc);
	mis = vu_mismatch(rb1 + 9, LEN, 77);
	tap_ok(!st && mis < 0, "read after the race is exact (status %d, mismatch %ld)", st, mis);

	/* deregister the target of an RDMA write in flight */
	b3 = amap(BUFSZ, PROT_READ | PROT_WRITE);
	m3 = ibv_reg_mr(c.pd, b3, BUFSZ, RW | ODP);
	if (!m3)
		tap_bail("reg: %s", strerror(errno));
	sge = (struct ibv_sge){ (uintptr_t)rb1, LEN, m1->lkey };
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_RDMA_WRITE;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.rdma.remote_addr = (uintptr_t)b3 + 1;
	wr.wr.rdma.rkey = m3->rkey;
	if (ibv_post_send(a.qp, &wr, &bad))
		tap_bail("post: %s", strerror(errno));
	usleep(20000);
	st = ibv_dereg_mr(m3);
	tap_ok(st == 0, "dereg of an ODP MR under an RDMA write in flight: %d (%s)", st,
	       st ? strerror(st) : "ok");
	st = wait1(&a, &wc);
	tap_ok(st >= 0, "the write completes (status %d %s)", st,
	       st >= 0 ? ibv_wc_status_str(st) : "timeout");

	vu_qp_destroy(&a);
	vu_qp_destroy(&b);
	ibv_dereg_mr(m1);
	ibv_dereg_mr(m2);
	ibv_dealloc_pd(c.pd);
	ibv_close_device(c.ctx);
	return tap_exit_status();
}
