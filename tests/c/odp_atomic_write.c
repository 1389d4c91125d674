// SPDX-License-Identifier: GPL-2.0
/*
 * ATOMIC WRITE (IBA 1.5 A19.4, ibv_wr_atomic_write) to ODP MRs: the device
 * must report IB_ODP_SUPPORT_ATOMIC_WRITE (bit 7 of rc_odp_caps); a write
 * into a never-touched ODP page must fault it in (odp_page_faults rises) and
 * leave exactly the 8 bytes written; so must a write after MADV_DONTNEED
 * dropped the page; the last 8 bytes of the MR are reachable; a misaligned
 * target is an invalid request and a target past the MR end a remote access
 * error; ATOMIC WRITEs racing a thread that keeps dropping the page (shared
 * memory, so the data survives the drops) all succeed and the last value
 * stays.
 */
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>
#include "tap.h"
#include "verbs_util.h"

#define NTESTS		10
#define ODP_ATOMIC_WRITE_CAP	(1u << 7)	/* IB_ODP_SUPPORT_ATOMIC_WRITE */
#define PG		4096u
#define MRLEN		(4 * PG)
#define RW		(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ)

static struct vu_ctx c;
static struct vu_qp a, b;
static uint64_t wrid;

static int mkpair(void)
{
	vu_qp_destroy(&a);
	vu_qp_destroy(&b);
	if (vu_qpx_create(&c, &a, 16, IBV_QP_EX_WITH_ATOMIC_WRITE |
			  IBV_QP_EX_WITH_RDMA_WRITE))
		return -1;
	if (vu_qp_create(&c, &b, 16))
		return -1;
	if (vu_qp_connect(&c, a.qp, b.qp->qp_num) || vu_qp_connect(&c, b.qp, a.qp->qp_num))
		return -1;
	return 0;
}

/*
 * One ATOMIC WRITE of VAL to RADDR/RKEY from QP a.  Returns the completion
 * status, -1 on timeout, -2 if posting failed, -3 for a successful
 * completion with the wrong opcode or wr_id.
 */
static int atomic_write(uint32_t rkey, uint64_t raddr, uint64_t val)
{
	struct ibv_qp_ex *x = ibv_qp_to_qp_ex(a.qp);
	struct ibv_wc wc;
	uint64_t id = ++wrid;

	ibv_wr_start(x);
	x->wr_id = id;
	x->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_atomic_write(x, rkey, raddr, &val);
	if (ibv_wr_complete(x))
		return -2;
	if (vu_poll(a.cq, &wc, 30) != 1)
		return -1;
	if (wc.status == IBV_WC_SUCCESS &&
	    (wc.opcode != IBV_WC_ATOMIC_WRITE || wc.wr_id != id))
		return -3;
	return wc.status;
}

static char *amap(size_t len, int flags)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		tap_bail("mmap: %s", strerror(errno));
	return p;
}

/* exactly VAL at P, and zero in the rest of [base, base + len) */
static int exact(const char *base, size_t len, const char *p, uint64_t val)
{
	size_t i;

	if (memcmp(p, &val, sizeof(val)))
		return 0;
	for (i = 0; i < len; i++)
		if ((base + i < p || base + i >= p + 8) && base[i])
			return 0;
	return 1;
}

static volatile int stop;
static char *race_buf;

static void *dropper(void *arg)
{
	unsigned long n = 0;

	(void)arg;
	while (!stop) {
		madvise(race_buf, MRLEN, MADV_DONTNEED);
		n++;
		/* let the faulting responder through on a one-CPU guest */
		usleep(500);
	}
	return (void *)n;
}

int main(int argc, char **argv)
{
	int nrace = argc > 1 ? atoi(argv[1]) : 200;
	long long f0, f1, inv0, inv1, rnr0, rnr1;
	struct ibv_mr *mr, *smr;
	uint64_t gen, val;
	uint32_t rc;
	char *buf, *t;
	int st, i, fails = 0;
	pthread_t th;
	void *drops;

	tap_plan(NTESTS);
	vu_setup(&c, NULL);
	if (!c.pd)
		tap_bail("alloc pd: %s", strerror(errno));

	/* 1: the capability, raw from query_device_ex */
	if (vu_odp_caps(c.ctx, &gen, &rc))
		tap_bail("ibv_query_device_ex failed");
	if (!(gen & IBV_ODP_SUPPORT)) {
		while (tap_n < NTESTS)
			tap_skip("device has no ODP support", "odp_atomic_write");
		return tap_exit_status();
	}
	tap_ok(rc & ODP_ATOMIC_WRITE_CAP, "rc_odp_caps %#x has ATOMIC_WRITE (bit 7)", rc);

	if (mkpair()) {
		if (errno == EOPNOTSUPP || errno == EINVAL) {
			while (tap_n < NTESTS)
				tap_skip("provider cannot create a QP with IBV_QP_EX_WITH_ATOMIC_WRITE",
					 "odp_atomic_write");
			return tap_exit_status();
		}
		tap_bail("QP setup: %s", strerror(errno));
	}
	if (vu_hw_counter(c.ctx, "odp_page_faults") < 0)
		tap_bail("no odp_page_faults hw counter for %s",
			 ibv_get_device_name(c.ctx->device));

	buf = amap(MRLEN, MAP_PRIVATE);		/* never touched by the CPU */
	mr = ibv_reg_mr(c.pd, buf, MRLEN, RW | IBV_ACCESS_ON_DEMAND);
	if (!mr)
		tap_bail("reg ODP MR: %s", strerror(errno));

	/* 2, 3: into a never-touched page, which must be faulted in */
	t = buf + PG + 8 * 37;
	val = 0x0123456789abcdefULL;
	f0 = vu_hw_counter(c.ctx, "odp_page_faults");
	st = atomic_write(mr->rkey, (uintptr_t)t, val);
	f1 = vu_hw_counter(c.ctx, "odp_page_faults");
	tap_ok(st == IBV_WC_SUCCESS && f1 > f0,
	       "ATOMIC WRITE into a never-touched ODP page (status %d, odp_page_faults %lld -> %lld)",
	       st, f0, f1);
	tap_ok(st == IBV_WC_SUCCESS && exact(buf, MRLEN, t, val),
	       "value read back byte exact, nothing else written");

	/* 4: after MADV_DONTNEED the page is gone: fault it in again */
	inv0 = vu_hw_counter(c.ctx, "odp_invalidations");
	madvise(buf, MRLEN, MADV_DONTNEED);
	inv1 = vu_hw_counter(c.ctx, "odp_invalidations");
	val = 0xfedcba9876543210ULL;
	f0 = vu_hw_counter(c.ctx, "odp_page_faults");
	st = atomic_write(mr->rkey, (uintptr_t)t, val);
	f1 = vu_hw_counter(c.ctx, "odp_page_faults");
	tap_ok(st == IBV_WC_SUCCESS && inv1 > inv0 && f1 > f0 && exact(buf, MRLEN, t, val),
	       "after MADV_DONTNEED: invalidated (%lld -> %lld), faulted again (%lld -> %lld), exact (status %d)",
	       inv0, inv1, f0, f1, st);

	/* 5: the last 8 bytes of the MR */
	t = buf + MRLEN - 8;
	val = 0x5a5a5a5aa5a5a5a5ULL;
	st = atomic_write(mr->rkey, (uintptr_t)t, val);
	tap_ok(st == IBV_WC_SUCCESS && !memcmp(t, &val, 8),
	       "ATOMIC WRITE to the last 8 bytes of the MR (status %d)", st);

	/* 6: misaligned target: invalid request (A19.4.2), memory untouched */
	t = buf + 2 * PG + 4;
	st = atomic_write(mr->rkey, (uintptr_t)t, ~0ULL);
	tap_ok(st == IBV_WC_REM_INV_REQ_ERR && !t[0] && !t[3] && !t[4],
	       "misaligned ATOMIC WRITE: %s (%d), want REM_INV_REQ_ERR",
	       st >= 0 ? ibv_wc_status_str(st) : "no completion", st);

	/* 7: past the MR end */
	if (mkpair())
		tap_bail("QP setup: %s", strerror(errno));
	st = atomic_write(mr->rkey, (uintptr_t)buf + MRLEN, ~0ULL);
	tap_ok(st == IBV_WC_REM_ACCESS_ERR, "ATOMIC WRITE past the MR end: %s (%d), want REM_ACCESS_ERR",
	       st >= 0 ? ibv_wc_status_str(st) : "no completion", st);

	/* 8: an aligned target whose end wraps around 2^64 */
	if (mkpair())
		tap_bail("QP setup: %s", strerror(errno));
	st = atomic_write(mr->rkey, UINT64_MAX - 7, ~0ULL);
	tap_ok(st == IBV_WC_REM_ACCESS_ERR,
	       "ATOMIC WRITE at 2^64 - 8 (wraps the MR range): %s (%d), want REM_ACCESS_ERR",
	       st >= 0 ? ibv_wc_status_str(st) : "no completion", st);

	/* 9, 10: racing MADV_DONTNEED on shared memory, where data survives */
	if (mkpair())
		tap_bail("QP setup: %s", strerror(errno));
	race_buf = amap(MRLEN, MAP_SHARED);
	smr = ibv_reg_mr(c.pd, race_buf, MRLEN, RW | IBV_ACCESS_ON_DEMAND);
	if (!smr)
		tap_bail("reg ODP MR: %s", strerror(errno));
	t = race_buf + PG + 64;
	inv0 = vu_hw_counter(c.ctx, "odp_invalidations");
	rnr0 = vu_hw_counter(c.ctx, "odp_rnr_naks");
	f0 = vu_hw_counter(c.ctx, "odp_page_faults");
	stop = 0;
	if (pthread_create(&th, NULL, dropper, NULL))
		tap_bail("pthread_create");
	for (i = 1; i <= nrace; i++) {
		val = 0x1000000000000000ULL | ((uint64_t)i << 20) | (unsigned int)i;
		st = atomic_write(smr->rkey, (uintptr_t)t, val);
		if (st != IBV_WC_SUCCESS) {
			if (fails++ < 3)
				tap_diag("racing ATOMIC WRITE %d: status %d", i, st);
			if (st != -1 && mkpair())
				tap_bail("QP setup: %s", strerror(errno));
		}
	}
	stop = 1;
	pthread_join(th, &drops);
	f1 = vu_hw_counter(c.ctx, "odp_page_faults");
	inv1 = vu_hw_counter(c.ctx, "odp_invalidations");
	rnr1 = vu_hw_counter(c.ctx, "odp_rnr_naks");
	tap_diag("%lu drops; odp_page_faults +%lld, odp_invalidations +%lld, odp_rnr_naks +%lld",
		 (unsigned long)drops, f1 - f0, inv1 - inv0, rnr1 - rnr0);
	tap_ok(!fails && inv1 > inv0, "%d ATOMIC WRITEs racing MADV_DONTNEED all succeed (%d failed), page invalidated meanwhile",
	       nrace, fails);
	val = 0x1000000000000000ULL | ((uint64_t)nrace << 20) | (unsigned int)nrace;
	tap_ok(exact(race_buf, MRLEN, t, val), "last value %#llx exact after the race",
	       (unsigned long long)val);

	ibv_dereg_mr(smr);
	ibv_dereg_mr(mr);
	vu_qp_destroy(&a);
	vu_qp_destroy(&b);
	ibv_dealloc_pd(c.pd);
	ibv_close_device(c.ctx);
	return tap_exit_status();
}
