// SPDX-License-Identifier: GPL-2.0
/*
 * ODP MRs over huge pages (MAP_HUGETLB, IBV_ACCESS_HUGETLB): RDMA write,
 * RDMA read and send, in both directions where ODP memory can be, data
 * checked byte for byte at offsets that straddle the 2 MiB boundaries of
 * three huge pages; and the hw counters proving the umem maps at huge page
 * size: writing a whole fresh 2 MiB page is one fault of one page
 * (odp_pages_faulted +1, not +512), and dropping it with MADV_DONTNEED
 * invalidates one page.  Skipped when no 2 MiB huge pages are free (boot
 * the guest with vm-run --hugepages N).
 *
 * Usage: odp_hugepage [--no-hugetlb-access]
 *   --no-hugetlb-access  negative control: register the MR without
 *                        IBV_ACCESS_HUGETLB, so that the umem tracks 4 KiB
 *                        pages; the counter tests must then fail.
 */
#include <sys/mman.h>
#include <unistd.h>
#include "tap.h"
#include "verbs_util.h"

#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB	(21 << 26)	/* MAP_HUGE_SHIFT is 26 */
#endif

#define NTESTS		8
#define HP		(2u << 20)
#define NHP		3
#define LEN		(NHP * HP)
#define RW		(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ)

static struct vu_ctx c;
static struct vu_qp a, b;

struct cnt {
	long long faults, pages, inval, pinval;
};

static void counters(struct cnt *k)
{
	k->faults = vu_hw_counter(c.ctx, "odp_page_faults");
	k->pages = vu_hw_counter(c.ctx, "odp_pages_faulted");
	k->inval = vu_hw_counter(c.ctx, "odp_invalidations");
	k->pinval = vu_hw_counter(c.ctx, "odp_pages_invalidated");
}

static int wait1(struct vu_qp *q, struct ibv_wc *wc)
{
	return vu_poll(q->cq, wc, 60) == 1 ? (int)wc->status : -1;
}

/* after a failed operation the QPs are in the error state: make new ones */
static void renew(int st)
{
	if (!st)
		return;
	vu_qp_destroy(&a);
	vu_qp_destroy(&b);
	if (vu_pair(&c, &a, &b, 16))
		tap_bail("QP setup: %s", strerror(errno));
}

static int rdma(struct ibv_mr *lmr, char *laddr, uint32_t len, struct ibv_mr *rmr,
		char *raddr, enum ibv_wr_opcode op)
{
	struct ibv_sge sge = { (uintptr_t)laddr, len, lmr->lkey };
	struct ibv_send_wr wr = {0}, *bad;
	struct ibv_wc wc;

	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = op;
	wr.wr.rdma.remote_addr = (uintptr_t)raddr;
	wr.wr.rdma.rkey = rmr->rkey;
	if (ibv_post_send(a.qp, &wr, &bad))
		return -2;
	return wait1(&a, &wc);
}

/* send LEN bytes at SBUF (SMR) from QP a to RBUF (RMR) posted on QP b */
static int sendrecv(struct ibv_mr *smr, char *sbuf, struct ibv_mr *rmr, char *rbuf,
		    uint32_t len)
{
	struct ibv_sge ss = { (uintptr_t)sbuf, len, smr->lkey };
	struct ibv_sge rs = { (uintptr_t)rbuf, len, rmr->lkey };

	return vu_sendrecv(&a, &b, &ss, &rs, 60);
}

static long free_hugepages(void)
{
	FILE *f = fopen("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "r");
	long n = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &n) != 1)
		n = -1;
	fclose(f);
	return n;
}

static void skip_all(const char *why)
{
	while (tap_n < NTESTS)
		tap_skip(why, "odp_hugepage");
	exit(tap_exit_status());
}

int main(int argc, char **argv)
{
	int hflag = IBV_ACCESS_HUGETLB;
	struct ibv_mr *hmr, *pmr;
	struct cnt k0, k1;
	char *h, *p, *r;
	uint64_t gen;
	uint32_t rc, off, len;
	long bad, nfree;
	uint32_t i;
	int st;

	if (argc > 1 && !strcmp(argv[1], "--no-hugetlb-access"))
		hflag = 0;
	tap_plan(NTESTS);
	vu_setup(&c, NULL);
	if (!c.pd)
		tap_bail("alloc pd: %s", strerror(errno));
	if (vu_odp_caps(c.ctx, &gen, &rc) || !(gen & IBV_ODP_SUPPORT))
		skip_all("device has no ODP support");
	nfree = free_hugepages();
	if (nfree < NHP) {
		tap_diag("free 2 MiB huge pages: %ld, need %d", nfree, NHP);
		skip_all("not enough free 2 MiB huge pages (vm-run --hugepages N)");
	}
	h = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB, -1, 0);
	if (h == MAP_FAILED) {
		tap_diag("mmap MAP_HUGETLB: %s", strerror(errno));
		skip_all("cannot map 2 MiB huge pages");
	}
	if (vu_hw_counter(c.ctx, "odp_pages_faulted") < 0)
		tap_bail("no odp_pages_faulted hw counter");
	if (vu_pair(&c, &a, &b, 16))
		tap_bail("QP setup: %s", strerror(errno));

	/* pinned, CPU-touched peer buffer */
	p = mmap(NULL, 2 * LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		tap_bail("mmap: %s", strerror(errno));
	memset(p, 0, 2 * LEN);
	r = p + LEN;
	pmr = ibv_reg_mr(c.pd, p, 2 * LEN, RW);
	if (!pmr)
		tap_bail("reg MR: %s", strerror(errno));

	/* 1 */
	hmr = ibv_reg_mr(c.pd, h, LEN, RW | IBV_ACCESS_ON_DEMAND | hflag);
	if (!tap_ok(hmr != NULL, "ODP MR over %d huge pages registered %s IBV_ACCESS_HUGETLB (%s)",
		    NHP, hflag ? "with" : "without", hmr ? "ok" : strerror(errno)))
		skip_all("no ODP huge page MR");

	/* 2: a whole fresh huge page written by RDMA: one fault, one page */
	vu_fill(p, HP, 1);
	counters(&k0);
	st = rdma(pmr, p, HP, hmr, h + HP, IBV_WR_RDMA_WRITE);
	counters(&k1);
	bad = vu_mismatch(h + HP, HP, 1);
	tap_ok(!st && bad < 0 && k1.faults - k0.faults == 1 && k1.pages - k0.pages == 1,
	       "RDMA write of a fresh 2 MiB page: status %d, mismatch %ld, odp_page_faults +%lld, odp_pages_faulted +%lld (want +1, +1)",
	       st, bad, k1.faults - k0.faults, k1.pages - k0.pages);
	renew(st);

	/* 3: RDMA write straddling both boundaries; the two other huge pages
	 * are fresh: two faults.  A fault maps the umem pages of the packet
	 * that needs it, and the one that crosses into the third huge page
	 * spans two: at most 2 pages per fault (4 KiB pages would be several
	 * faults per huge page)
	 */
	off = HP - 12345;
	len = HP + 2 * 12345 + 4321;
	vu_fill(p, len, 2);
	counters(&k0);
	st = rdma(pmr, p, len, hmr, h + off, IBV_WR_RDMA_WRITE);
	counters(&k1);
	bad = vu_mismatch(h + off, len, 2);
	tap_ok(!st && bad < 0 && !h[off - 1] && !h[off + len] &&
	       k1.faults - k0.faults == 2 && k1.pages - k0.pages >= 2 &&
	       k1.pages - k0.pages <= 4,
	       "RDMA write %u bytes at %#x across 2 boundaries: status %d, mismatch %ld, odp_page_faults +%lld (want +2), odp_pages_faulted +%lld (want 2..4)",
	       len, off, st, bad, k1.faults - k0.faults, k1.pages - k0.pages);
	renew(st);

	/* 4: RDMA read straddling both boundaries */
	vu_fill(h, LEN, 3);
	off = HP / 2 + 333;
	len = 2 * HP + 777;
	memset(r, 0, LEN);
	st = rdma(pmr, r, len, hmr, h + off, IBV_WR_RDMA_READ);
	bad = -1;
	for (i = 0; i < len; i++)
		if (r[i] != h[off + i]) {
			bad = (long)i;
			break;
		}
	tap_ok(!st && bad < 0 && !r[len],
	       "RDMA read %u bytes at %#x across 2 boundaries: status %d, mismatch %ld",
	       len, off, st, bad);
	renew(st);

	/* 5: send into an ODP huge page receive buffer across a boundary */
	off = 2 * HP - 5000;
	len = HP + 4321;
	vu_fill(p, len, 5);
	memset(h, 0, LEN);
	st = sendrecv(pmr, p, hmr, h + off, len);
	bad = vu_mismatch(h + off, len, 5);
	tap_ok(!st && bad < 0 && !h[off - 1] && !h[off + len],
	       "send %u bytes into ODP huge pages at %#x: status %d, mismatch %ld",
	       len, off, st, bad);
	renew(st);

	/* 6: send from ODP huge pages across a boundary */
	off = HP - 777;
	len = HP + 1000;
	vu_fill(h + off, len, 6);
	memset(r, 0, LEN);
	st = sendrecv(hmr, h + off, pmr, r, len);
	bad = vu_mismatch(r, len, 6);
	tap_ok(!st && bad < 0 && !r[len],
	       "send %u bytes from ODP huge pages at %#x: status %d, mismatch %ld",
	       len, off, st, bad);
	renew(st);

	/* 7, 8: drop one huge page: one page invalidated; write 64 KiB into
	 * it again: one fault of one (2 MiB) page, not 16 of 4 KiB
	 */
	counters(&k0);
	if (madvise(h + HP, HP, MADV_DONTNEED))
		tap_diag("madvise: %s", strerror(errno));
	counters(&k1);
	tap_ok(k1.inval - k0.inval == 1 && k1.pinval - k0.pinval == 1,
	       "MADV_DONTNEED of a huge page: odp_invalidations +%lld, odp_pages_invalidated +%lld (want +1, +1)",
	       k1.inval - k0.inval, k1.pinval - k0.pinval);
	vu_fill(p, 65536, 8);
	counters(&k0);
	st = rdma(pmr, p, 65536, hmr, h + HP + HP / 2, IBV_WR_RDMA_WRITE);
	counters(&k1);
	bad = vu_mismatch(h + HP + HP / 2, 65536, 8);
	tap_ok(!st && bad < 0 && !h[HP] && k1.faults - k0.faults == 1 &&
	       k1.pages - k0.pages == 1,
	       "64 KiB RDMA write after MADV_DONTNEED: status %d, mismatch %ld, odp_page_faults +%lld, odp_pages_faulted +%lld (want +1, +1)",
	       st, bad, k1.faults - k0.faults, k1.pages - k0.pages);

	ibv_dereg_mr(hmr);
	ibv_dereg_mr(pmr);
	vu_qp_destroy(&a);
	vu_qp_destroy(&b);
	ibv_dealloc_pd(c.pd);
	ibv_close_device(c.ctx);
	munmap(h, LEN);
	return tap_exit_status();
}
