// SPDX-License-Identifier: GPL-2.0
/*
 * Large explicit ODP MRs: 1 GiB and 64 GiB MRs over MAP_NORESERVE
 * anonymous memory (far more than the guest has), registered with an
 * iova unlike the address and a start that is not 2 MiB aligned, so that
 * every address translation and chunk boundary is exercised (rxe builds
 * such MRs from 2 MiB children, like implicit ones).  Data checked byte
 * for byte across chunk boundaries and at the last byte of the MR;
 * accesses one byte outside the MR must fail; only the touched pages
 * are faulted in; MADV_DONTNEED'ed pages read back as zeros; atomics,
 * send/receive and prefetch work on the far end; VmPin does not move.
 */
#include <sys/mman.h>
#include <unistd.h>
#include "tap.h"
#include "verbs_util.h"

#define MIB	(1ull << 20)
#define GIB	(1ull << 30)
#define LEN	(3u * 1024 * 1024 + 333)	/* crosses 2 MiB chunks */
#define ACC	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
		 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC)
#define SKEW	(4096 + 123)		/* start of the MR in its mapping */
/* iova of the first byte: same offset in its page as the address */
#define IOVA	(0x7000000000000ull + (SKEW & 4095))
#define NTESTS	26

static struct vu_ctx c;
static struct vu_qp a, b;
static struct ibv_mr *lmr;	/* pinned local buffer */
static char *lbuf;

/* one RDMA op from the local buffer to iova RADDR of MR */
static int rdma(struct ibv_mr *mr, uint64_t raddr, uint32_t len,
		enum ibv_wr_opcode op)
{
	struct ibv_sge sge = { (uintptr_t)lbuf, len, lmr->lkey };

	return vu_post1(&a, op, &sge, raddr, mr->rkey, 0, 0, 30);
}

static void mkpair_init(void)
{
	if (vu_pair(&c, &a, &b, 16))
		tap_bail("QP setup: %s", strerror(errno));
}

/* a fresh connected pair after a QP went to the error state */
static void mkpair(void)
{
	vu_qp_destroy(&a);
	vu_qp_destroy(&b);
	mkpair_init();
}

static long long vmpin_kb(void)
{
	char line[256];
	long long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmPin: %lld", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* Tests on one MR of SIZE bytes; returns nothing, reports each check. */
static void one_mr(size_t size, const char *tag)
{
	size_t maplen = size + SKEW + 4096;
	long long p0, p1, pin, pin0;
	struct ibv_mr *mr;
	char *map, *start, *x;
	uint64_t *tgt, end_iova, off;
	int st;
	long bad;

	map = mmap(NULL, maplen, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (map == MAP_FAILED)
		tap_bail("%s: mmap %zu bytes: %s", tag, maplen, strerror(errno));
	/* 4 KiB pages, so that residency shows what ODP faulted in */
	if (madvise(map, maplen, MADV_NOHUGEPAGE))
		tap_bail("%s: MADV_NOHUGEPAGE: %s", tag, strerror(errno));
	start = map + SKEW;
	pin0 = vmpin_kb();

	/* registration */
	mr = ibv_reg_mr_iova2(c.pd, start, size, IOVA, ACC | IBV_ACCESS_ON_DEMAND);
	if (!mr) {
		tap_ok(0, "%s: register ODP MR at iova %#llx (%s)", tag, IOVA, strerror(errno));
		tap_bail("cannot go on without the MR");
	}
	tap_ok(1, "%s: register ODP MR at iova %#llx, start %p", tag, IOVA, (void *)start);
	end_iova = IOVA + size;

	/* write across two chunk boundaries in the middle, checked by the CPU */
	off = size / 2 - MIB - 77;
	x = start + off;
	vu_fill(lbuf, LEN, 1);
	st = rdma(mr, IOVA + off, LEN, IBV_WR_RDMA_WRITE);
	p1 = vu_resident(map, maplen);
	bad = vu_mismatch(x, LEN, 1);
	tap_ok(!st && bad < 0, "%s: RDMA write of %u bytes across chunks (status %d, mismatch %ld)",
	       tag, LEN, st, bad);
	p0 = ((uintptr_t)x + LEN - 1) / 4096 - (uintptr_t)x / 4096 + 1;
	tap_ok(p1 == p0, "%s: only the %lld pages written are resident (%lld of %zu)",
	       tag, p0, p1, maplen / 4096);

	/* read it back through the MR */
	memset(lbuf, 0, LEN);
	st = rdma(mr, IOVA + off, LEN, IBV_WR_RDMA_READ);
	bad = vu_mismatch(lbuf, LEN, 1);
	tap_ok(!st && bad < 0, "%s: RDMA read of the same bytes (status %d, mismatch %ld)",
	       tag, st, bad);

	/* the last bytes of the MR, and one byte past them */
	vu_fill(lbuf, 4096, 2);
	st = rdma(mr, end_iova - 4096, 4096, IBV_WR_RDMA_WRITE);
	bad = vu_mismatch(start + size - 4096, 4096, 2);
	tap_ok(!st && bad < 0, "%s: RDMA write of the last 4096 bytes (status %d, mismatch %ld)",
	       tag, st, bad);
	st = rdma(mr, end_iova - 4095, 4096, IBV_WR_RDMA_WRITE);
	tap_ok(st == IBV_WC_REM_ACCESS_ERR, "%s: one byte past the end: %s", tag,
	       st >= 0 ? ibv_wc_status_str(st) : "no completion");
	mkpair();
	st = rdma(mr, IOVA - 1, 16, IBV_WR_RDMA_READ);
	tap_ok(st == IBV_WC_REM_ACCESS_ERR, "%s: one byte before the start: %s", tag,
	       st >= 0 ? ibv_wc_status_str(st) : "no completion");
	mkpair();

	/* atomics near the end */
	tgt = (uint64_t *)(start + size - 3 * MIB - (SKEW & 7));
	*tgt = 1000;
	st = vu_post1(&a, IBV_WR_ATOMIC_FETCH_AND_ADD,
		      &(struct ibv_sge){ (uintptr_t)lbuf, 8, lmr->lkey },
		      IOVA + ((char *)tgt - start), mr->rkey, 7, 0, 30);
	tap_ok(!st && *(uint64_t *)lbuf == 1000 && *tgt == 1007,
	       "%s: fetch-add near the end (status %d, orig %llu, now %llu)", tag, st,
	       (unsigned long long)*(uint64_t *)lbuf, (unsigned long long)*tgt);

	/* send into the MR through its lkey, receive side crossing a chunk */
	{
		struct ibv_sge ss = { (uintptr_t)lbuf, LEN, lmr->lkey };
		struct ibv_sge rs = { IOVA + size - LEN - 5, LEN, mr->lkey };

		vu_fill(lbuf, LEN, 3);
		st = vu_sendrecv(&a, &b, &ss, &rs, 30);
		bad = vu_mismatch(start + size - LEN - 5, LEN, 3);
		tap_ok(!st && bad < 0, "%s: send into the MR through its lkey (status %d, mismatch %ld)",
		       tag, st, bad);
	}

	/* pages given back read as zeros */
	if (madvise((void *)((uintptr_t)x & ~4095ul), LEN + 8192, MADV_DONTNEED))
		tap_bail("madvise: %s", strerror(errno));
	memset(lbuf, 0x5a, LEN);
	st = rdma(mr, IOVA + off, LEN, IBV_WR_RDMA_READ);
	for (bad = 0; bad < LEN && !lbuf[bad]; bad++)
		;
	tap_ok(!st && bad == LEN, "%s: after MADV_DONTNEED the bytes read back as zeros (status %d, first non-zero %ld)",
	       tag, st, bad < LEN ? bad : -1L);

	/* prefetch a range that crosses chunks, then a write faults nothing */
	st = vu_advise_mr(c.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE, IBV_ADVISE_MR_FLAG_FLUSH,
			  &(struct ibv_sge){ IOVA + size / 4 - 12345, 4 * MIB, mr->lkey }, 1);
	p0 = vu_hw_counter(c.ctx, "odp_page_faults");
	vu_fill(lbuf, LEN, 4);
	rdma(mr, IOVA + size / 4 - 12345, LEN, IBV_WR_RDMA_WRITE);
	p1 = vu_hw_counter(c.ctx, "odp_page_faults");
	bad = vu_mismatch(start + size / 4 - 12345, LEN, 4);
	tap_ok(!st && p1 == p0 && bad < 0,
	       "%s: prefetch of 4 MiB across chunks (%d), then the write faults nothing (%lld faults, mismatch %ld)",
	       tag, st, p1 - p0, bad);

	pin = vmpin_kb();
	tap_ok(pin >= 0 && pin == pin0, "%s: nothing pinned: VmPin %lld kB, as before the MR (the local buffer's)",
	       tag, pin);

	st = ibv_dereg_mr(mr);
	tap_ok(!st, "%s: deregister (%d)", tag, st);
	munmap(map, maplen);
}

int main(int argc, char **argv)
{
	const char *dev = vu_args(argc, argv, "odp_large [-d DEV] [-g GID_INDEX]");

	tap_plan(NTESTS);
	vu_setup(&c, dev);
	if (!vu_has_odp(c.ctx, IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ |
			IBV_ODP_SUPPORT_ATOMIC | IBV_ODP_SUPPORT_RECV)) {
		tap_skip_rest(NTESTS, "device has no RC ODP support", "odp_large");
		return tap_exit_status();
	}
	if (vu_hw_counter(c.ctx, "odp_pages_faulted") < 0)
		tap_bail("no odp_pages_faulted counter");
	lbuf = aligned_alloc(4096, LEN + 4096);
	if (!lbuf)
		tap_bail("no memory");
	lmr = ibv_reg_mr(c.pd, lbuf, LEN + 4096, ACC);
	if (!lmr)
		tap_bail("register the local buffer: %s", strerror(errno));
	mkpair_init();

	one_mr(GIB, "1 GiB");
	one_mr(64 * GIB, "64 GiB");
	return tap_exit_status();
}
