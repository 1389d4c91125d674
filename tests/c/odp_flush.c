// SPDX-License-Identifier: GPL-2.0
/*
 * RDMA FLUSH (IBA 1.5 A19.3) to ODP MRs.  The device must report
 * IB_ODP_SUPPORT_FLUSH (bit 6 of rc_odp_caps); a global visibility FLUSH
 * of a range of an ODP MR registered with IBV_ACCESS_FLUSH_GLOBAL must
 * complete successfully, without faulting in the pages it covers (rxe
 * writes synchronously, so a page that is not mapped holds nothing to
 * flush); a FLUSH of the whole MR too; a FLUSH past the MR end, one that
 * wraps around 2^64, one to an ODP MR without the flush access and a
 * persistent one must complete with a remote access error; registering
 * an ODP MR for persistent flushes must fail with EOPNOTSUPP.
 *
 * rdma-core 44 has no ibv_wr_flush(), so the FLUSH WQE is written here
 * into the send queue that the rxe provider shares with the kernel.  The
 * ex QP API does the queue bookkeeping: ibv_wr_start() takes the SQ lock,
 * ibv_wr_rdma_write() fills the next free slot, which is then rewritten
 * into a FLUSH WQE (layout of the 6.12 uapi rdma_user_rxe.h), and
 * ibv_wr_complete() publishes the producer index with a release store and
 * rings the doorbell (a zero-WR post_send command).  Finding the SQ needs
 * the provider's private struct rxe_qp; its layout is confirmed by the
 * sizes the kernel reported and by a real RDMA WRITE found where expected,
 * and the FLUSH tests are skipped if it cannot be.
 */
#include <stddef.h>
#include <sys/mman.h>
#include <unistd.h>
#include <rdma/rdma_user_rxe.h>
#include "tap.h"
#include "verbs_util.h"
#include "rxe_prov44.h"

#define NTESTS		12
#define ODP_FLUSH_CAP	(1u << 6)	/* IB_ODP_SUPPORT_FLUSH */

/* 6.12 uapi values that the installed (older) headers do not have */
#define WR_FLUSH		14		/* IB_UVERBS_WR_FLUSH */
#define WC_FLUSH		8		/* IB_UVERBS_WC_FLUSH */
#define ACCESS_FLUSH_GLOBAL	(1u << 8)	/* IB_UVERBS_ACCESS_FLUSH_GLOBAL */
#define ACCESS_FLUSH_PERSISTENT	(1u << 9)	/* IB_UVERBS_ACCESS_FLUSH_PERSISTENT */
#define FLUSH_GLOBAL		1		/* IB_FLUSH_GLOBAL (placement type) */
#define FLUSH_PERSISTENT	2		/* IB_FLUSH_PERSISTENT */
#define FLUSH_RANGE		0		/* IB_FLUSH_RANGE (selectivity level) */
#define FLUSH_MR		1		/* IB_FLUSH_MR */

#define PG		4096u
#define MRLEN		(16 * PG)
#define RW		(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ)
#define DEPTH		16

static struct vu_ctx c;
static struct vu_qp a, b;
static struct rxe_queue_buf *sq;
static struct ibv_mr *scratch;
static char *scratch_buf;
static uint64_t wrid;

static int mkpair(void)
{
	vu_qp_destroy(&a);
	vu_qp_destroy(&b);
	if (vu_qpx_create(&c, &a, DEPTH, IBV_QP_EX_WITH_RDMA_WRITE) ||
	    vu_qp_create(&c, &b, DEPTH))
		return -1;
	if (vu_qp_connect(&c, a.qp, b.qp->qp_num) ||
	    vu_qp_connect_access(&c, b.qp, a.qp->qp_num, VU_QP_ACCESS |
				 ACCESS_FLUSH_GLOBAL | ACCESS_FLUSH_PERSISTENT))
		return -1;
	return 0;
}

/* Is [p, p + len) mapped in this process? */
static int mapped(const void *p, size_t len)
{
	uintptr_t s = (uintptr_t)p & ~(uintptr_t)(PG - 1);
	unsigned char vec[64];

	len += (uintptr_t)p - s;
	if (len > sizeof(vec) * PG)
		len = sizeof(vec) * PG;
	return !mincore((void *)s, len, vec);
}

/*
 * Does MI/WQ look like a queue the kernel made for this QP?  NULL if so,
 * else what does not fit.
 */
static const char *queue_bad(const struct mminfo *mi, const struct prov_wq *wq,
			     size_t min_elem, unsigned int max_sge)
{
	const struct rxe_queue_buf *q = wq->queue;
	uint64_t slots, size;

	/* not mminfo.pad: the kernel does not initialize it */
	if (!mi->size || mi->size % PG || mi->offset % PG)
		return "mminfo";
	if (!q || (uintptr_t)q % PG || !mapped(q, sizeof(*q)))
		return "queue pointer";
	if (q->log2_elem_size < 5 || q->log2_elem_size > 16 ||
	    (1ull << q->log2_elem_size) < min_elem)
		return "element size";
	slots = (uint64_t)q->index_mask + 1;
	if (slots & (slots - 1) || slots < DEPTH || slots > 1u << 20)
		return "index mask";
	size = sizeof(*q) + (slots << q->log2_elem_size);
	size = (size + PG - 1) / PG * PG;
	if (size != mi->size)
		return "queue size";
	if (wq->max_sge != max_sge)
		return "max_sge";
	return NULL;
}

static int queue_ok(const char *name, const struct mminfo *mi,
		    const struct prov_wq *wq, size_t min_elem, unsigned int max_sge)
{
	const char *bad = queue_bad(mi, wq, min_elem, max_sge);

	if (bad)
		tap_diag("%s: %s does not fit: mminfo {%#llx, %u, %u}, queue %p, max_sge %u",
			 name, bad, (unsigned long long)mi->offset, mi->size, mi->pad,
			 (void *)wq->queue, wq->max_sge);
	return !bad;
}

static struct rxe_send_wqe *slot(uint32_t index)
{
	return (struct rxe_send_wqe *)(sq->data +
		((size_t)(index & sq->index_mask) << sq->log2_elem_size));
}

/* wait for one completion of QP a; its status, -1 on timeout */
static int wait1(struct ibv_wc *wc)
{
	return vu_poll(a.cq, wc, 30) == 1 ? (int)wc->status : -1;
}

/*
 * Find the SQ of QP a and check it is the one the provider posts to, with
 * a real RDMA WRITE.  0 if confirmed, else -1 with a reason in WHY.
 */
static int find_sq(const char **why)
{
	struct prov_qp *pq = (struct prov_qp *)a.qp;
	struct ibv_qp_ex *x = ibv_qp_to_qp_ex(a.qp);
	const uint64_t magic = 0xf1a5f1a5c0ffee00ULL;
	struct rxe_send_wqe *w;
	struct ibv_wc wc;
	uint32_t pi;

	sq = NULL;
	if (!queue_ok("RQ", &pq->rq_mmap_info, &pq->rq, sizeof(struct rxe_recv_wqe), VU_MAX_SGE)) {
		*why = "provider RQ not where rdma-core 44's struct rxe_qp has it";
		return -1;
	}
	if (!queue_ok("SQ", &pq->sq_mmap_info, &pq->sq, sizeof(struct rxe_send_wqe), VU_MAX_SGE)) {
		*why = "provider SQ not where rdma-core 44's struct rxe_qp has it";
		return -1;
	}
	sq = pq->sq.queue;
	pi = __atomic_load_n(&sq->producer_index, __ATOMIC_ACQUIRE);

	ibv_wr_start(x);
	x->wr_id = magic;
	x->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_rdma_write(x, scratch->rkey, (uintptr_t)scratch_buf + 64);
	ibv_wr_set_sge(x, scratch->lkey, (uintptr_t)scratch_buf, 8);
	if (ibv_wr_complete(x) || wait1(&wc) != IBV_WC_SUCCESS || wc.wr_id != magic) {
		*why = "RDMA WRITE through the ex QP API failed";
		sq = NULL;
		return -1;
	}
	w = slot(pi);
	if (__atomic_load_n(&sq->producer_index, __ATOMIC_ACQUIRE) != pi + 1 ||
	    w->wr.wr_id != magic || w->wr.opcode != IBV_WR_RDMA_WRITE ||
	    w->iova != (uintptr_t)scratch_buf + 64) {
		*why = "posted RDMA WRITE not found in the presumed SQ";
		sq = NULL;
		return -1;
	}
	return 0;
}

/*
 * Post one FLUSH from QP a and wait for its completion.  Returns the
 * status, -1 on timeout, -2 if posting failed, -3 for a successful
 * completion with the wrong opcode or wr_id.
 */
static int flush(uint32_t rkey, uint64_t raddr, uint32_t len, uint8_t type,
		 uint8_t level)
{
	struct ibv_qp_ex *x = ibv_qp_to_qp_ex(a.qp);
	uint64_t id = ++wrid;
	struct rxe_send_wqe *w;
	struct flush_wr *f;
	struct ibv_wc wc;
	int st;

	ibv_wr_start(x);
	/* the slot ibv_wr_rdma_write() fills: the SQ lock is held */
	w = slot(sq->producer_index);
	x->wr_id = id;
	x->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_rdma_write(x, rkey, raddr);
	ibv_wr_set_sge(x, scratch->lkey, (uintptr_t)scratch_buf, 0);
	if (w->wr.wr_id != id || w->wr.opcode != IBV_WR_RDMA_WRITE) {
		ibv_wr_abort(x);
		return -2;
	}
	/* what the 6.12 requester reads for a FLUSH */
	w->wr.opcode = WR_FLUSH;
	f = (struct flush_wr *)&w->wr.wr;
	f->remote_addr = raddr;
	f->length = len;
	f->rkey = rkey;
	f->type = type;
	f->level = level;
	w->iova = raddr;
	w->dma.length = len;
	w->dma.resid = len;
	w->dma.num_sge = 0;
	w->dma.cur_sge = 0;
	w->dma.sge_offset = 0;
	if (ibv_wr_complete(x))
		return -2;
	st = wait1(&wc);
	if (st == IBV_WC_SUCCESS && (wc.opcode != WC_FLUSH || wc.wr_id != id))
		return -3;
	return st;
}

static const char *sts(int st)
{
	if (st == -1)
		return "no completion";
	if (st == -2)
		return "post failed";
	if (st == -3)
		return "wrong completion";
	return ibv_wc_status_str(st);
}

static char *amap(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		tap_bail("mmap: %s", strerror(errno));
	return p;
}

int main(void)
{
	struct ibv_mr *pmr, *omr, *nmr, *bad;
	char *pbuf, *obuf, *nbuf, *xbuf;
	const char *why = NULL;
	long long f0, f1;
	uint64_t gen;
	uint32_t rc;
	int st, i, e;

	tap_plan(NTESTS);
	vu_setup(&c, NULL);
	if (!c.pd)
		tap_bail("alloc pd: %s", strerror(errno));

	/* 1: the capability, raw from query_device_ex */
	if (vu_odp_caps(c.ctx, &gen, &rc))
		tap_bail("ibv_query_device_ex failed");
	if (!(gen & IBV_ODP_SUPPORT)) {
		while (tap_n < NTESTS)
			tap_skip("device has no ODP support", "odp_flush");
		return tap_exit_status();
	}
	tap_ok(rc & ODP_FLUSH_CAP, "rc_odp_caps %#x has FLUSH (bit 6)", rc);

	/* 2: ODP with FLUSH_PERSISTENT is refused: pages are not even resident */
	xbuf = amap(MRLEN);
	errno = 0;
	bad = ibv_reg_mr(c.pd, xbuf, MRLEN, RW | IBV_ACCESS_ON_DEMAND |
			 ACCESS_FLUSH_GLOBAL | ACCESS_FLUSH_PERSISTENT);
	e = errno;
	tap_ok(!bad && e == EOPNOTSUPP,
	       "ODP MR with FLUSH_PERSISTENT refused with EOPNOTSUPP (%s, errno %d)",
	       bad ? "registered" : "refused", e);
	if (bad)
		ibv_dereg_mr(bad);

	/* 3: ODP with FLUSH_GLOBAL registers */
	obuf = amap(MRLEN);			/* never touched by the CPU */
	omr = ibv_reg_mr(c.pd, obuf, MRLEN, RW | IBV_ACCESS_ON_DEMAND | ACCESS_FLUSH_GLOBAL);
	tap_ok(omr != NULL, "ODP MR with FLUSH_GLOBAL registered (%s)",
	       omr ? "ok" : strerror(errno));
	nbuf = amap(MRLEN);
	nmr = ibv_reg_mr(c.pd, nbuf, MRLEN, RW | IBV_ACCESS_ON_DEMAND);
	pbuf = amap(MRLEN);
	memset(pbuf, 0x11, MRLEN);
	pmr = ibv_reg_mr(c.pd, pbuf, MRLEN, RW | ACCESS_FLUSH_GLOBAL);
	scratch_buf = amap(PG);
	scratch = ibv_reg_mr(c.pd, scratch_buf, PG, RW);
	if (!omr || !nmr || !pmr || !scratch)
		tap_bail("reg MR: %s", strerror(errno));

	/* 4: find the provider's SQ, or skip the FLUSH tests */
	if (mkpair())
		tap_bail("QP setup: %s", strerror(errno));
	if (find_sq(&why)) {
		tap_skip(why, "provider SQ layout confirmed");
		while (tap_n < NTESTS)
			tap_skip(why, "FLUSH WQE cannot be posted");
		return tap_exit_status();
	}
	tap_ok(1, "provider SQ layout confirmed (%u slots of %u bytes)",
	       sq->index_mask + 1, 1u << sq->log2_elem_size);

	/* 5: control, the hand-made WQE works on a pinned MR */
	st = flush(pmr->rkey, (uintptr_t)pbuf + PG, 2 * PG, FLUSH_GLOBAL, FLUSH_RANGE);
	tap_ok(st == IBV_WC_SUCCESS, "global FLUSH of a pinned MR range: %s (%d)", sts(st), st);

	/* 6: RDMA write to one page of the ODP MR, then flush all of it:
	 * success, and none of the other (never touched) pages faulted in
	 */
	for (i = 0; i < 8; i++)
		scratch_buf[i] = (char)(0xa0 + i);
	{
		struct ibv_qp_ex *x = ibv_qp_to_qp_ex(a.qp);
		struct ibv_wc wc;

		ibv_wr_start(x);
		x->wr_id = ++wrid;
		x->wr_flags = IBV_SEND_SIGNALED;
		ibv_wr_rdma_write(x, omr->rkey, (uintptr_t)obuf + 3 * PG + 100);
		ibv_wr_set_sge(x, scratch->lkey, (uintptr_t)scratch_buf, 8);
		if (ibv_wr_complete(x) || wait1(&wc) != IBV_WC_SUCCESS)
			tap_bail("RDMA WRITE to the ODP MR failed");
	}
	f0 = vu_hw_counter(c.ctx, "odp_page_faults");
	st = flush(omr->rkey, (uintptr_t)obuf, MRLEN, FLUSH_GLOBAL, FLUSH_RANGE);
	f1 = vu_hw_counter(c.ctx, "odp_page_faults");
	tap_ok(st == IBV_WC_SUCCESS && f0 >= 0 && f1 == f0 &&
	       !memcmp(obuf + 3 * PG + 100, scratch_buf, 8),
	       "global FLUSH of an ODP MR range: %s (%d), odp_page_faults %lld -> %lld (no fault-in)",
	       sts(st), st, f0, f1);

	/* 7: selectivity level MR */
	st = flush(omr->rkey, 0, 0, FLUSH_GLOBAL, FLUSH_MR);
	tap_ok(st == IBV_WC_SUCCESS, "global FLUSH of a whole ODP MR: %s (%d)", sts(st), st);

	/* 8: past the MR end */
	st = flush(omr->rkey, (uintptr_t)obuf + MRLEN - PG, 2 * PG, FLUSH_GLOBAL, FLUSH_RANGE);
	tap_ok(st == IBV_WC_REM_ACCESS_ERR,
	       "FLUSH past the ODP MR end: %s (%d), want REM_ACCESS_ERR", sts(st), st);

	/* 9: a range that wraps around 2^64 */
	if (mkpair() || find_sq(&why))
		tap_bail("QP setup: %s", why ? why : strerror(errno));
	st = flush(omr->rkey, UINT64_MAX - PG + 1, 2 * PG, FLUSH_GLOBAL, FLUSH_RANGE);
	tap_ok(st == IBV_WC_REM_ACCESS_ERR,
	       "FLUSH of a range wrapping 2^64: %s (%d), want REM_ACCESS_ERR", sts(st), st);

	/* 10: an ODP MR without the flush access */
	if (mkpair() || find_sq(&why))
		tap_bail("QP setup: %s", why ? why : strerror(errno));
	st = flush(nmr->rkey, (uintptr_t)nbuf, PG, FLUSH_GLOBAL, FLUSH_RANGE);
	tap_ok(st == IBV_WC_REM_ACCESS_ERR,
	       "FLUSH to an ODP MR without FLUSH_GLOBAL: %s (%d), want REM_ACCESS_ERR", sts(st), st);

	/* 11: persistence is not offered on ODP MRs */
	if (mkpair() || find_sq(&why))
		tap_bail("QP setup: %s", why ? why : strerror(errno));
	st = flush(omr->rkey, (uintptr_t)obuf, PG, FLUSH_PERSISTENT, FLUSH_RANGE);
	tap_ok(st == IBV_WC_REM_ACCESS_ERR,
	       "persistent FLUSH to an ODP MR: %s (%d), want REM_ACCESS_ERR", sts(st), st);

	/* 12: and the QP still works after all that: global FLUSH again */
	if (mkpair() || find_sq(&why))
		tap_bail("QP setup: %s", why ? why : strerror(errno));
	st = flush(omr->rkey, (uintptr_t)obuf + PG, PG, FLUSH_GLOBAL, FLUSH_RANGE);
	tap_ok(st == IBV_WC_SUCCESS, "global FLUSH of an ODP MR on a new QP: %s (%d)", sts(st), st);

	ibv_dereg_mr(scratch);
	ibv_dereg_mr(pmr);
	ibv_dereg_mr(nmr);
	ibv_dereg_mr(omr);
	vu_qp_destroy(&a);
	vu_qp_destroy(&b);
	ibv_dealloc_pd(c.pd);
	ibv_close_device(c.ctx);
	return tap_exit_status();
}
