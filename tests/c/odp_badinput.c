// SPDX-License-Identifier: GPL-2.0
/*
 * Bad input to the ODP verbs of rxe, each answer asserted exactly: the
 * errno of a registration or of advise_mr, the completion status of a
 * work request.  The comment at each case names the code that decides
 * the answer (IB core, rxe, or rdma-core 44 before the kernel sees it).
 *
 * - registration: access flags ODP cannot have, the per-transport ODP
 *   caps, start or iova + length wrapping 2^64 (and ranges that end
 *   exactly at it), zero length, iova and address in different page
 *   offsets, implicit ODP with an address, an iova or flags it cannot
 *   have, a kernel address;
 * - odd addresses and lengths ending mid-page must work: data is compared
 *   byte for byte, the bytes around the MR must stay untouched;
 * - remote access with a wrong or stale rkey, past either end of the MR,
 *   to never-mapped memory (explicit and implicit MRs), to a read-only
 *   mapping, without the access right; local SGEs past the MR or on
 *   never-mapped memory, for a send, a receive and an RDMA read;
 * - advise_mr on a pinned MR, with bad flags or advice, with SGEs outside
 *   the MR, with no SGE, PREFETCH_WRITE of a read-only MR, never-mapped
 *   memory.
 *
 * Never-mapped memory is a page at a fixed address far below the mmap
 * area (FAR) that nothing maps, between two pages that are mapped.
 * An error completion moves both QPs to the error state, so each work
 * request runs on a fresh QP pair, and a completion that does not come
 * within TMO seconds fails the test instead of hanging it.
 *
 * Usage: odp_badinput [-d DEV] [-g GID_INDEX]
 */
#include <sys/mman.h>
#include <unistd.h>
#include <rdma/ib_user_verbs.h>
#include "tap.h"
#include "verbs_util.h"

#define NTESTS		56
#define TMO		15		/* seconds to wait for a completion */
#define PG		4096ul
#define BUF		(16 * PG)
#define ODP		IBV_ACCESS_ON_DEMAND
#define RW		(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ)
#define ALL		(RW | IBV_ACCESS_REMOTE_ATOMIC)
/* access bits of the 6.12 uapi that rdma-core 44's headers lack */
#define ACC_FLUSH_GLOBAL	(1u << 8)	/* IB_UVERBS_ACCESS_FLUSH_GLOBAL */
#define ACC_FLUSH_PERSISTENT	(1u << 9)	/* IB_UVERBS_ACCESS_FLUSH_PERSISTENT */
#define ACC_UNDEFINED		(1u << 10)	/* above IB_ACCESS_SUPPORTED, below the optional bits */
#define ODP_CAP_FLUSH		(1u << 6)	/* IB_UVERBS_ODP_SUPPORT_FLUSH */
#define ODP_CAP_ATOMIC_WRITE	(1u << 7)	/* IB_UVERBS_ODP_SUPPORT_ATOMIC_WRITE */
#define PF		IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH
#define PFW		IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_WRITE
#define SYNC		IB_UVERBS_ADVISE_MR_FLAG_FLUSH
#define TOP		0xfffffffffffff000ull	/* the last page below 2^64 */
#define FAR		0x100000000000ul	/* 16 TiB: nothing maps here */
#define KADDR		0xffffffff80000000ull	/* kernel text on x86-64 */
#define UOFF		13			/* the odd MR starts here in ub... */
#define ULEN		5000			/* ...and ends mid-page */

static struct vu_ctx c;
static struct vu_qp a, b;
static char *sb, *db, *ub, *ucopy, *tb, *rob, *far;
static struct ibv_mr *smr, *dmr, *umr, *tmr, *hmr, *imr, *pmr;

static const char *ename(int e)
{
	const char *s;

	if (!e)
		return "success";
	if (e < 0)
		return "failure without errno";
	s = strerrorname_np(e);
	return s ? s : "unknown errno";
}

static const char *sname(int st)
{
	if (st == -1)
		return "no completion";
	if (st == -2)
		return "post failed";
	return ibv_wc_status_str(st);
}

/* One test: GOT, an errno (0 for success), must be WANT. */
static int __attribute__((format(printf, 3, 4)))
want_err(int want, int got, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return tap_ok(got == want, "%s: want %s, got %s", what, ename(want), ename(got));
}

/* One test: GOT, a completion status, must be WANT and OK must hold. */
static int __attribute__((format(printf, 4, 5)))
want_st(int want, int got, int ok, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return tap_ok(got == want && ok, "%s: want %s, got %s%s", what, sname(want), sname(got),
		      ok ? "" : " (and the data check failed)");
}

/* Register through rdma-core; 0 (the MR is deregistered again) or the errno. */
static int reg_err(void *addr, size_t len, uint64_t iova, unsigned int access)
{
	struct ibv_mr *mr;

	errno = 0;
	mr = ibv_reg_mr_iova(c.pd, addr, len, iova, access);
	if (!mr)
		return errno ? errno : -1;
	ibv_dereg_mr(mr);
	return 0;
}

/*
 * IB_USER_VERBS_CMD_REG_MR written to the command fd by hand, for input
 * that rdma-core refuses before the kernel sees it.  0 or the errno.  An
 * MR registered this way is only released with the device context.
 */
static int raw_reg_err(uint64_t start, uint64_t len, uint64_t iova, uint32_t access)
{
	struct ib_uverbs_reg_mr_resp resp;
	struct {
		struct ib_uverbs_cmd_hdr hdr;
		struct ib_uverbs_reg_mr cmd;
	} req;

	memset(&req, 0, sizeof(req));
	req.hdr.command = IB_USER_VERBS_CMD_REG_MR;
	req.hdr.in_words = sizeof(req) / 4;
	req.hdr.out_words = sizeof(resp) / 4;
	req.cmd.response = (uintptr_t)&resp;
	req.cmd.start = start;
	req.cmd.length = len;
	req.cmd.hca_va = iova;
	req.cmd.pd_handle = c.pd->handle;
	req.cmd.access_flags = access;
	if (write(c.ctx->cmd_fd, &req, sizeof(req)) == (ssize_t)sizeof(req))
		return 0;
	return errno;
}

static struct ibv_mr *reg(void *addr, size_t len, uint64_t iova, unsigned int access)
{
	struct ibv_mr *mr = ibv_reg_mr_iova(c.pd, addr, len, iova, access);

	if (!mr)
		tap_bail("register %zu bytes at %p: %s", len, addr, strerror(errno));
	return mr;
}

/* A new connected QP pair in a and b: the previous one may be in error. */
static void fresh(void)
{
	vu_qp_destroy(&a);
	vu_qp_destroy(&b);
	if (vu_pair(&c, &a, &b, 4))
		tap_bail("QP pair: %s", strerror(errno));
}

/*
 * Post the work request OP from a fresh QP a: local [LADDR, +LEN) in LMR,
 * remote RADDR with RKEY (a fetch-and-add adds 1).  Its completion
 * status, -1 if none came within TMO seconds, -2 if posting failed.
 */
static int op1(enum ibv_wr_opcode op, struct ibv_mr *lmr, void *laddr, uint32_t len,
	       uint64_t raddr, uint32_t rkey)
{
	struct ibv_sge sge = { (uintptr_t)laddr, len, lmr->lkey };
	struct ibv_send_wr wr = { .sg_list = &sge, .num_sge = 1, .opcode = op }, *bad;
	struct ibv_wc wc;

	fresh();
	if (op == IBV_WR_ATOMIC_FETCH_AND_ADD) {
		wr.wr.atomic.remote_addr = raddr;
		wr.wr.atomic.rkey = rkey;
		wr.wr.atomic.compare_add = 1;
	} else {
		wr.wr.rdma.remote_addr = raddr;
		wr.wr.rdma.rkey = rkey;
	}
	if (ibv_post_send(a.qp, &wr, &bad))
		return -2;
	return vu_poll(a.cq, &wc, TMO) == 1 ? (int)wc.status : -1;
}

/* A send of SS from a fresh QP a into RS on b: as vu_sendrecv(). */
static int sendrecv(struct ibv_sge ss, struct ibv_sge rs)
{
	fresh();
	return vu_sendrecv(&a, &b, &ss, &rs, TMO);
}

static char *amap(void *at, size_t len)
{
	int fl = MAP_PRIVATE | MAP_ANONYMOUS | (at ? MAP_FIXED_NOREPLACE : 0);
	char *p = mmap(at, len, PROT_READ | PROT_WRITE, fl, -1, 0);

	if (p == MAP_FAILED || (at && p != at))
		tap_bail("mmap %zu bytes at %p: %s", len, at, strerror(errno));
	return p;
}

/* Are the bytes of ub outside [ub + off, + len) as they were? */
static int ub_around_ok(size_t off, size_t len)
{
	return !memcmp(ub, ucopy, off) &&
	       !memcmp(ub + off + len, ucopy + off + len, 3 * PG - off - len);
}

/* Access flags an ODP MR cannot have, and what each transport supports. */
static void t_access(void)
{
	struct ibv_device_attr_ex attr;
	uint32_t rc_need = IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV | IBV_ODP_SUPPORT_WRITE |
			   IBV_ODP_SUPPORT_READ | IBV_ODP_SUPPORT_ATOMIC |
			   IBV_ODP_SUPPORT_SRQ_RECV | ODP_CAP_FLUSH;
	uint32_t uc_want = IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV | IBV_ODP_SUPPORT_WRITE;
	uint32_t ud_want = IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV | IBV_ODP_SUPPORT_SRQ_RECV;
	uint32_t rc, uc, ud, xrc;

	/* ib_check_mr_access(): flags & ~IB_ACCESS_SUPPORTED */
	want_err(EINVAL, reg_err(sb, PG, (uintptr_t)sb, ODP | RW | ACC_UNDEFINED),
		 "ODP reg with undefined access bit 1<<10");
	/* ib_check_mr_access(): remote write needs local write */
	want_err(EINVAL, reg_err(sb, PG, (uintptr_t)sb, ODP | IBV_ACCESS_REMOTE_WRITE),
		 "ODP reg with REMOTE_WRITE but no LOCAL_WRITE");
	/* rxe_reg_user_mr(): not in RXE_ACCESS_SUPPORTED_MR */
	want_err(EOPNOTSUPP, reg_err(sb, PG, (uintptr_t)sb, ODP | RW | IBV_ACCESS_ZERO_BASED),
		 "ODP reg with ZERO_BASED");
	/* rxe_odp_mr_init_user(): persistence of pages that may not be resident */
	want_err(EOPNOTSUPP, reg_err(sb, PG, (uintptr_t)sb, ODP | RW | ACC_FLUSH_PERSISTENT),
		 "ODP reg with FLUSH_PERSISTENT");
	/* the contrast: global visibility FLUSH is supported on ODP MRs */
	want_err(0, reg_err(sb, PG, (uintptr_t)sb, ODP | RW | ACC_FLUSH_GLOBAL),
		 "ODP reg with FLUSH_GLOBAL");
	/* rxe_reg_user_mr(): HUGETLB is only added to the supported flags for ODP */
	want_err(EOPNOTSUPP, reg_err(sb, PG, (uintptr_t)sb, RW | IBV_ACCESS_HUGETLB),
		 "pinned (non-ODP) reg with HUGETLB");

	/*
	 * Registration takes no transport: what a transport can do on ODP
	 * MRs is only in the caps (rxe.c).  XRC, which rxe does not
	 * implement at all, has none.
	 */
	memset(&attr, 0, sizeof(attr));
	if (ibv_query_device_ex(c.ctx, NULL, &attr))
		tap_bail("ibv_query_device_ex: %s", strerror(errno));
	rc = attr.odp_caps.per_transport_caps.rc_odp_caps;
	uc = attr.odp_caps.per_transport_caps.uc_odp_caps;
	ud = attr.odp_caps.per_transport_caps.ud_odp_caps;
	xrc = attr.xrc_odp_caps;
	tap_ok((rc & rc_need) == rc_need && !(rc & ~(rc_need | ODP_CAP_ATOMIC_WRITE)) &&
	       uc == uc_want && ud == ud_want && !xrc,
	       "ODP caps per transport: want RC %#x(+%#x) UC %#x UD %#x XRC 0, got RC %#x UC %#x UD %#x XRC %#x",
	       rc_need, ODP_CAP_ATOMIC_WRITE, uc_want, ud_want, rc, uc, ud, xrc);
}

/* Start, iova and length: wrapping, ending at 2^64, zero, page offsets. */
static void t_geometry(void)
{
	int e1, e2, st;

	/* rxe_odp_mr_init_user(): check_add_overflow(start, length) */
	want_err(EINVAL, reg_err((void *)TOP, 2 * PG, 0x100000, ODP | RW),
		 "ODP reg of start 2^64-4096, 8192 bytes (start+length wraps)");
	/*
	 * start + length = 2^64 - 1 does not wrap, but the umem end rounded
	 * up to the page does: ib_init_umem_odp() answers EOVERFLOW.
	 */
	want_err(EOVERFLOW, reg_err((void *)TOP, PG - 1, 0x100000, ODP | RW),
		 "ODP reg of start 2^64-4096, 4095 bytes (page end wraps)");
	/* rxe_odp_mr_init_user(): check_add_overflow(iova, length) */
	e1 = reg_err(tb, 2 * PG, TOP, ODP | RW);
	e2 = reg_err(tb, PG, TOP, ODP | RW);
	tap_ok(e1 == EINVAL && e2 == EINVAL,
	       "ODP reg with iova + length = 2^64 + 4096 and = 2^64: want EINVAL, EINVAL, got %s, %s",
	       ename(e1), ename(e2));

	/* one byte less fits: an MR whose last byte has iova 2^64 - 2 */
	vu_fill(tb, PG, 5);
	vu_fill(sb, BUF, 1);
	tmr = reg(tb, PG - 1, TOP, ODP | ALL);
	st = op1(IBV_WR_RDMA_WRITE, smr, sb, PG - 1, TOP, tmr->rkey);
	want_st(IBV_WC_SUCCESS, st, !memcmp(tb, sb, PG - 1) && tb[PG - 1] == vu_pattern(PG - 1, 5),
		"RDMA write of all 4095 bytes of an ODP MR at iova 2^64-4096");
	/* rxe_resp.c check_rkey(): mr_check_range() */
	st = op1(IBV_WR_RDMA_WRITE, smr, sb, 16, TOP + PG - 8, tmr->rkey);
	want_st(IBV_WC_REM_ACCESS_ERR, st, 1, "RDMA write of 16 bytes at iova 2^64-8 (wraps)");

	/* rxe_odp_mr_init_user(): !length */
	want_err(EINVAL, reg_err(db, 0, (uintptr_t)db, ODP | RW), "ODP reg of 0 bytes");
	/* ib_uverbs_reg_mr(): start and iova must have the same page offset */
	want_err(EINVAL, reg_err(db, PG, 0x100000 + 1, ODP | RW),
		 "ODP reg with iova page offset 1, address page offset 0");
}

/*
 * A kernel address registers: ib_umem_odp_get() looks nothing up and
 * checks no access_ok(), as for any ODP driver.  Every access fails:
 * hmm_range_fault() finds no VMA there (-EFAULT).
 */
static void t_kernel_addr(void)
{
	struct ibv_mr *kmr;
	int st, st2;

	errno = 0;
	kmr = ibv_reg_mr(c.pd, (void *)KADDR, 2 * PG, ODP | RW);
	tap_ok(kmr != NULL, "ODP reg of a kernel address: want success, got %s",
	       kmr ? "success" : ename(errno));
	st = kmr ? op1(IBV_WR_RDMA_READ, dmr, db, 100, KADDR + 8, kmr->rkey) : -2;
	st2 = kmr ? op1(IBV_WR_RDMA_WRITE, smr, sb, 100, KADDR + 8, kmr->rkey) : -2;
	tap_ok(st == IBV_WC_REM_ACCESS_ERR && st2 == IBV_WC_REM_ACCESS_ERR,
	       "RDMA read, write of that MR: want %s, %s, got %s, %s",
	       sname(IBV_WC_REM_ACCESS_ERR), sname(IBV_WC_REM_ACCESS_ERR), sname(st), sname(st2));
	if (kmr)
		ibv_dereg_mr(kmr);
}

/* An ODP MR at an odd address that ends mid-page must just work. */
static void t_unaligned(void)
{
	struct ibv_mr *xmr;
	char *xb;
	int st, ok;

	vu_fill(ub, 3 * PG, 9);
	memcpy(ucopy, ub, 3 * PG);
	vu_fill(sb, BUF, 2);
	errno = 0;
	umr = ibv_reg_mr(c.pd, ub + UOFF, ULEN, ODP | ALL);
	if (!tap_ok(umr != NULL, "ODP reg at page offset %d, %d bytes (ends mid-page): want success, got %s",
		    UOFF, ULEN, umr ? "success" : ename(errno)))
		tap_bail("cannot go on without that MR");

	st = op1(IBV_WR_RDMA_WRITE, smr, sb, ULEN, (uintptr_t)ub + UOFF, umr->rkey);
	ok = !memcmp(ub + UOFF, sb, ULEN) && ub_around_ok(UOFF, ULEN);
	want_st(IBV_WC_SUCCESS, st, ok, "RDMA write of the whole odd MR, bytes around it untouched");
	memcpy(ucopy + UOFF, ub + UOFF, ULEN);

	memset(db, 0, BUF);
	st = op1(IBV_WR_RDMA_READ, dmr, db + 7, ULEN, (uintptr_t)ub + UOFF, umr->rkey);
	want_st(IBV_WC_SUCCESS, st, !memcmp(db + 7, ub + UOFF, ULEN),
		"RDMA read of the whole odd MR into an odd local address");

	st = sendrecv((struct ibv_sge){ (uintptr_t)sb + 100, ULEN, smr->lkey },
		      (struct ibv_sge){ (uintptr_t)ub + UOFF, ULEN, umr->lkey });
	ok = !memcmp(ub + UOFF, sb + 100, ULEN) && ub_around_ok(UOFF, ULEN);
	want_st(IBV_WC_SUCCESS, st, ok, "send received into the whole odd MR, bytes around it untouched");
	memcpy(ucopy + UOFF, ub + UOFF, ULEN);

	/* rxe_resp.c check_rkey(): mr_check_range(); the pages are mapped */
	st = op1(IBV_WR_RDMA_WRITE, smr, sb, 2, (uintptr_t)ub + UOFF - 1, umr->rkey);
	want_st(IBV_WC_REM_ACCESS_ERR, st, ub_around_ok(UOFF, ULEN) &&
		!memcmp(ub + UOFF, ucopy + UOFF, ULEN),
		"RDMA write of 2 bytes from 1 byte before the odd MR");
	st = op1(IBV_WR_RDMA_WRITE, smr, sb, 2, (uintptr_t)ub + UOFF + ULEN - 1, umr->rkey);
	want_st(IBV_WC_REM_ACCESS_ERR, st, ub_around_ok(UOFF, ULEN) &&
		!memcmp(ub + UOFF, ucopy + UOFF, ULEN),
		"RDMA write of 2 bytes from the last byte of the odd MR (past the end)");
	st = op1(IBV_WR_RDMA_READ, dmr, db, 2, (uintptr_t)ub + UOFF + ULEN - 1, umr->rkey);
	want_st(IBV_WC_REM_ACCESS_ERR, st, 1, "RDMA read of 2 bytes from the last byte of the odd MR");
	/* 8-aligned target with 5 bytes in the MR and 3 past it: mr_check_range() */
	st = op1(IBV_WR_ATOMIC_FETCH_AND_ADD, smr, sb, 8, (uintptr_t)ub + 5008, umr->rkey);
	want_st(IBV_WC_REM_ACCESS_ERR, st, ub_around_ok(UOFF, ULEN),
		"fetch-add on 8 bytes, 3 of them past the end of the odd MR");

	/* two bytes across a page boundary; the pattern of the rest stays */
	xb = amap(NULL, 2 * PG);
	vu_fill(xb, 2 * PG, 4);
	xmr = reg(xb + PG - 1, 2, (uintptr_t)xb + PG - 1, ODP | RW);
	st = op1(IBV_WR_RDMA_WRITE, smr, sb + 50, 2, (uintptr_t)xb + PG - 1, xmr->rkey);
	ok = xb[PG - 1] == sb[50] && xb[PG] == sb[51];
	xb[PG - 1] = vu_pattern(PG - 1, 4);
	xb[PG] = vu_pattern(PG, 4);
	ok = ok && vu_mismatch(xb, 2 * PG, 4) < 0;
	want_st(IBV_WC_SUCCESS, st, ok, "RDMA write into a 2-byte ODP MR across a page boundary");
	ibv_dereg_mr(xmr);
	munmap(xb, 2 * PG);
}

/* Implicit ODP: what it refuses, and remote access outside user memory. */
static void t_implicit(int has_implicit)
{
	const char *no = "device has no implicit ODP";
	char *hole = far + PG;
	int st, st2;

	/* rdma-core ibv_cmd_reg_mr(): ODP, SIZE_MAX and an address: EINVAL */
	want_err(EINVAL, reg_err(sb, SIZE_MAX, (uintptr_t)sb, ODP | RW),
		 "implicit ODP reg (SIZE_MAX) with a non-NULL address, through rdma-core");
	if (!has_implicit) {
		for (st = 0; st < 7; st++)
			tap_skip(no, "implicit ODP");
		return;
	}
	/*
	 * The same straight to the kernel: rxe_odp_mr_init_user() does not
	 * take it for implicit (start != 0), and start + U64_MAX wraps.
	 */
	want_err(EINVAL, raw_reg_err((uintptr_t)sb, UINT64_MAX, (uintptr_t)sb, ODP | RW),
		 "implicit ODP reg with a non-NULL address, command written to the kernel");
	/* rxe_odp_mr_init_implicit(): the iova of a byte is its address */
	want_err(EINVAL, reg_err(NULL, SIZE_MAX, 0x200000, ODP | RW),
		 "implicit ODP reg with iova 0x200000");
	/* rxe_odp_mr_init_implicit() */
	want_err(EOPNOTSUPP, reg_err(NULL, SIZE_MAX, 0, ODP | RW | ACC_FLUSH_PERSISTENT),
		 "implicit ODP reg with FLUSH_PERSISTENT");
	/* ib_umem_odp_alloc_implicit() */
	want_err(EINVAL, reg_err(NULL, SIZE_MAX, 0, ODP | RW | IBV_ACCESS_HUGETLB),
		 "implicit ODP reg with HUGETLB");

	imr = reg(NULL, SIZE_MAX, 0, ODP | ALL);
	/* rxe_odp_map_range_and_lock(): hmm_range_fault() finds no VMA */
	vu_fill(sb, BUF, 3);
	st2 = op1(IBV_WR_RDMA_WRITE, smr, sb, 100, (uintptr_t)far + 10, imr->rkey);
	st = op1(IBV_WR_RDMA_WRITE, smr, sb, 100, (uintptr_t)hole + 10, imr->rkey);
	want_st(IBV_WC_REM_ACCESS_ERR, st, st2 == IBV_WC_SUCCESS && !memcmp(far + 10, sb, 100),
		"implicit MR: RDMA write to a never-mapped page (to a mapped one: %s)", sname(st2));
	/* rxe_odp_iova_to_va(): beyond the task size */
	st = op1(IBV_WR_RDMA_WRITE, smr, sb, 100, KADDR, imr->rkey);
	want_st(IBV_WC_REM_ACCESS_ERR, st, 1, "implicit MR: RDMA write to a kernel address");
	/* rxe_resp.c check_rkey(): mr_check_range() of [0, U64_MAX) */
	st = op1(IBV_WR_RDMA_WRITE, smr, sb, 100, UINT64_MAX - 49, imr->rkey);
	want_st(IBV_WC_REM_ACCESS_ERR, st, 1, "implicit MR: RDMA write of 100 bytes at 2^64-50 (wraps)");
}

/* Remote access the responder must refuse. */
static void t_remote(void)
{
	struct ibv_mr *mr, *romr, *rrmr;
	char *hole = far + PG;
	uint32_t rkey;
	int st, st2;

	/* check_rkey(): lookup_mr() finds the index, but the key differs */
	st = op1(IBV_WR_RDMA_WRITE, smr, sb, 100, (uintptr_t)db, dmr->rkey ^ 0xff);
	want_st(IBV_WC_REM_ACCESS_ERR, st, 1, "RDMA write with a wrong rkey (key byte flipped)");
	st = op1(IBV_WR_RDMA_READ, smr, sb, 100, (uintptr_t)db, dmr->rkey ^ 0xff);
	want_st(IBV_WC_REM_ACCESS_ERR, st, 1, "RDMA read with a wrong rkey (key byte flipped)");
	mr = reg(db, BUF, (uintptr_t)db, ODP | RW);
	rkey = mr->rkey;
	ibv_dereg_mr(mr);
	st = op1(IBV_WR_RDMA_WRITE, smr, sb, 100, (uintptr_t)db, rkey);
	want_st(IBV_WC_REM_ACCESS_ERR, st, 1, "RDMA write with the rkey of a deregistered ODP MR");

	/* rxe_odp_mr_copy(): the fault of the never-mapped page fails */
	vu_fill(sb, BUF, 6);
	st2 = op1(IBV_WR_RDMA_WRITE, smr, sb, 100, (uintptr_t)far + 200, hmr->rkey);
	st = op1(IBV_WR_RDMA_WRITE, smr, sb, 100, (uintptr_t)hole + 10, hmr->rkey);
	want_st(IBV_WC_REM_ACCESS_ERR, st, st2 == IBV_WC_SUCCESS && !memcmp(far + 200, sb, 100),
		"RDMA write to the never-mapped page of an ODP MR (to its mapped page: %s)",
		sname(st2));
	st = op1(IBV_WR_RDMA_READ, dmr, db, 100, (uintptr_t)hole + 10, hmr->rkey);
	want_st(IBV_WC_REM_ACCESS_ERR, st, 1, "RDMA read from the never-mapped page of an ODP MR");
	/* rxe_odp_lock_atomic_target() */
	st = op1(IBV_WR_ATOMIC_FETCH_AND_ADD, smr, sb, 8, (uintptr_t)hole + 64, hmr->rkey);
	want_st(IBV_WC_REM_ACCESS_ERR, st, 1, "fetch-add on the never-mapped page of an ODP MR");

	/*
	 * A writable ODP MR over a read-only mapping registers (nothing is
	 * faulted in), but rxe_odp_map_range_and_lock() faults a writable
	 * umem in for writing even to read it, and hmm_range_fault()
	 * refuses a write fault of a read-only VMA: so reads fail too.  A
	 * read-only MR of the same mapping is read.
	 */
	errno = 0;
	romr = ibv_reg_mr(c.pd, rob, 2 * PG, ODP | RW);
	rrmr = ibv_reg_mr(c.pd, rob, 2 * PG, ODP | IBV_ACCESS_REMOTE_READ);
	if (!romr || !rrmr)
		tap_bail("ODP reg over a read-only mapping: %s", strerror(errno));
	st = op1(IBV_WR_RDMA_WRITE, smr, sb, 100, (uintptr_t)rob + 50, romr->rkey);
	want_st(IBV_WC_REM_ACCESS_ERR, st, vu_mismatch(rob, 2 * PG, 7) < 0,
		"RDMA write to a read-only mapping through a writable ODP MR");
	memset(db, 0, 100);
	st2 = op1(IBV_WR_RDMA_READ, dmr, db, 100, (uintptr_t)rob + 50, rrmr->rkey);
	st = op1(IBV_WR_RDMA_READ, dmr, db + 200, 100, (uintptr_t)rob + 50, romr->rkey);
	want_st(IBV_WC_REM_ACCESS_ERR, st, st2 == IBV_WC_SUCCESS && !memcmp(db, rob + 50, 100),
		"RDMA read of a read-only mapping through a writable ODP MR (through a read-only one: %s)",
		sname(st2));

	/* check_rkey(): lookup_mr() wants IB_ACCESS_REMOTE_WRITE */
	mr = reg(db, BUF, (uintptr_t)db, ODP | IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ);
	st = op1(IBV_WR_RDMA_WRITE, smr, sb, 100, (uintptr_t)db + 1000, mr->rkey);
	want_st(IBV_WC_REM_ACCESS_ERR, st, 1, "RDMA write through an ODP MR without REMOTE_WRITE");
	ibv_dereg_mr(mr);

	/* -EACCES from rxe_odp_prefetch_mr_get(): the umem is not writable */
	{
		struct ibv_sge sge = { (uintptr_t)rob, PG, rrmr->lkey };

		want_err(EACCES, -vu_advise_mr(c.pd, PFW, SYNC, &sge, 1),
			 "advise_mr PREFETCH_WRITE of a read-only ODP MR");
	}
	ibv_dereg_mr(romr);
	ibv_dereg_mr(rrmr);
}

/* Local SGEs the requester, the responder or the completer must refuse. */
static void t_local(void)
{
	struct ibv_wc wc;
	int st, st2, n;

	/*
	 * The requester finds a bad send SGE in finish_packet() and sets
	 * wqe->status (LOC_QP_OP_ERR for the -EINVAL of mr_check_range(),
	 * LOC_PROT_ERR for the -EFAULT of an ODP fault), but rxe_requester()
	 * then calls rxe_qp_error() at once, and rxe_completer(), finding
	 * the QP in ERR, completes the WQE through flush_send_queue() with
	 * WR_FLUSH_ERR: the status is lost.  That is unpatched 6.12 code,
	 * and a pinned MR gets the same (checked here).  Nothing is sent.
	 */
	st2 = sendrecv((struct ibv_sge){ (uintptr_t)sb + BUF - 50, 100, pmr->lkey },
		       (struct ibv_sge){ (uintptr_t)db, BUF, dmr->lkey });
	n = vu_poll(b.cq, &wc, 0.3);
	st = sendrecv((struct ibv_sge){ (uintptr_t)sb + BUF - 50, 100, smr->lkey },
		      (struct ibv_sge){ (uintptr_t)db, BUF, dmr->lkey });
	n += vu_poll(b.cq, &wc, 0.3);
	want_st(IBV_WC_WR_FLUSH_ERR, st, st2 == IBV_WC_WR_FLUSH_ERR && !n,
		"send with its SGE past the end of an ODP MR, nothing received (pinned MR: %s)",
		sname(st2));
	st = sendrecv((struct ibv_sge){ (uintptr_t)far + PG, 100, hmr->lkey },
		      (struct ibv_sge){ (uintptr_t)db, BUF, dmr->lkey });
	n = vu_poll(b.cq, &wc, 0.3);
	want_st(IBV_WC_WR_FLUSH_ERR, st, !n,
		"send with its SGE on the never-mapped page of an ODP MR, nothing received");
	/* rxe_comp.c do_read(): any copy error but -EAGAIN is LOC_PROT_ERR */
	st = op1(IBV_WR_RDMA_READ, dmr, db + BUF - 50, 100, (uintptr_t)sb, smr->rkey);
	want_st(IBV_WC_LOC_PROT_ERR, st, 1, "RDMA read into a local SGE past the end of an ODP MR");
	/*
	 * rxe_resp.c send_data_in(): the copy fails with -EFAULT, which is
	 * RESPST_ERR_MALFORMED_WQE: a REM_OP_ERR NAK for the sender and
	 * LOC_QP_OP_ERR for the receive (upstream behaviour for any copy
	 * error but -ENOSPC).
	 */
	st = sendrecv((struct ibv_sge){ (uintptr_t)sb, 100, smr->lkey },
		      (struct ibv_sge){ (uintptr_t)far + PG + 16, 100, hmr->lkey });
	st2 = vu_poll(b.cq, &wc, TMO) == 1 ? (int)wc.status : -1;
	tap_ok(st == IBV_WC_REM_OP_ERR && st2 == IBV_WC_LOC_QP_OP_ERR,
	       "send into a receive SGE on the never-mapped page of an ODP MR: want sender %s, "
	       "receiver %s, got %s, %s", sname(IBV_WC_REM_OP_ERR), sname(IBV_WC_LOC_QP_OP_ERR),
	       sname(st), sname(st2));
}

/* advise_mr with bad input. */
static void t_advise(void)
{
	struct ibv_sge sg = { (uintptr_t)sb, PG, smr->lkey };
	int e1, e2;

	/* rxe_odp_prefetch_mr_get(): not an ODP MR */
	sg.lkey = pmr->lkey;
	want_err(ENOENT, -vu_advise_mr(c.pd, PF, SYNC, &sg, 1), "advise_mr PREFETCH of a pinned MR");
	sg.lkey = smr->lkey;
	/* UVERBS_METHOD_ADVISE_MR handler: uverbs_get_flags32() allows FLUSH only */
	e1 = -vu_advise_mr(c.pd, PF, 1u << 1, &sg, 1);
	e2 = -vu_advise_mr(c.pd, PF, SYNC | 1u << 31, &sg, 1);
	tap_ok(e1 == EINVAL && e2 == EINVAL,
	       "advise_mr with flags 1<<1 and FLUSH|1<<31: want EINVAL, EINVAL, got %s, %s",
	       ename(e1), ename(e2));
	/* rxe_odp_advise_mr(): unknown advice */
	want_err(EOPNOTSUPP, -vu_advise_mr(c.pd, 77, SYNC, &sg, 1), "advise_mr with advice 77");
	/* rxe_odp_prefetch_mr_get(): rxe_odp_iova_to_va() fails */
	sg = (struct ibv_sge){ (uintptr_t)sb + BUF - PG, 2 * PG, smr->lkey };
	want_err(EINVAL, -vu_advise_mr(c.pd, PF, SYNC, &sg, 1),
		 "advise_mr with an SGE running past the end of the MR");
	sg = (struct ibv_sge){ (uintptr_t)sb - PG, 2 * PG, smr->lkey };
	want_err(EINVAL, -vu_advise_mr(c.pd, PF, 0, &sg, 1),
		 "advise_mr (async) with an SGE starting before the MR");
	sg = (struct ibv_sge){ TOP + PG - 16, 32, tmr->lkey };
	want_err(EINVAL, -vu_advise_mr(c.pd, PF, SYNC, &sg, 1),
		 "advise_mr with an SGE at 2^64-16, 32 bytes (wraps) in the MR at 2^64-4096");
	/* uverbs_process_attr(): the SGE list is shorter than UVERBS_ATTR_MIN_SIZE */
	want_err(EINVAL, -vu_advise_mr(c.pd, PF, SYNC, &sg, 0), "advise_mr with no SGE");
	/* rxe_odp_prefetch_range(): the fault of the never-mapped page fails */
	sg = (struct ibv_sge){ (uintptr_t)far + PG, PG, hmr->lkey };
	want_err(EFAULT, -vu_advise_mr(c.pd, PF, SYNC, &sg, 1),
		 "advise_mr (sync) PREFETCH of the never-mapped page of an ODP MR");
}

int main(int argc, char **argv)
{
	const char *dev;
	uint64_t gen;
	uint32_t rcaps;
	int st, e;

	dev = vu_args(argc, argv, "odp_badinput [-d DEV] [-g GID_INDEX]");
	tap_plan(NTESTS);
	vu_setup(&c, dev);
	if (!vu_has_odp(c.ctx, 0) || vu_odp_caps(c.ctx, &gen, &rcaps)) {
		tap_skip_rest(NTESTS, "device has no ODP support", "odp_badinput");
		return tap_exit_status();
	}

	sb = amap(NULL, BUF);
	db = amap(NULL, BUF);
	ub = amap(NULL, 3 * PG);
	tb = amap(NULL, PG);
	ucopy = malloc(3 * PG);
	if (!ucopy)
		tap_bail("malloc");
	/* FAR: mapped, never mapped, mapped */
	far = amap((void *)FAR, PG);
	amap((void *)(FAR + 2 * PG), PG);
	rob = amap(NULL, 2 * PG);
	vu_fill(rob, 2 * PG, 7);
	if (mprotect(rob, 2 * PG, PROT_READ))
		tap_bail("mprotect: %s", strerror(errno));
	smr = reg(sb, BUF, (uintptr_t)sb, ODP | ALL);
	dmr = reg(db, BUF, (uintptr_t)db, ODP | ALL);
	hmr = reg(far, 3 * PG, (uintptr_t)far, ODP | ALL);
	pmr = reg(sb, BUF, (uintptr_t)sb, RW);

	t_access();		/* 1-7 */
	t_geometry();		/* 8-14 */
	t_kernel_addr();	/* 15-16 */
	t_unaligned();		/* 17-25 */
	t_implicit(!!(gen & IBV_ODP_SUPPORT_IMPLICIT));	/* 26-33 */
	t_remote();		/* 34-43 */
	t_local();		/* 44-47 */
	t_advise();		/* 48-55 */

	/* 56: nothing above left the device unable to move data */
	vu_fill(sb, BUF, 8);
	st = op1(IBV_WR_RDMA_WRITE, smr, sb, BUF, (uintptr_t)db, dmr->rkey);
	e = ibv_dereg_mr(pmr) || ibv_dereg_mr(hmr) || ibv_dereg_mr(tmr) || ibv_dereg_mr(umr) ||
	    (imr && ibv_dereg_mr(imr)) || ibv_dereg_mr(dmr) || ibv_dereg_mr(smr);
	want_st(IBV_WC_SUCCESS, st, !memcmp(db, sb, BUF) && !e,
		"RDMA write of %lu bytes between ODP MRs afterwards, all MRs deregistered", BUF);

	if (tap_n != NTESTS)
		tap_diag("ran %d tests, planned %d", tap_n, NTESTS);
	vu_qp_destroy(&a);
	vu_qp_destroy(&b);
	ibv_dealloc_pd(c.pd);
	ibv_close_device(c.ctx);
	free(ucopy);
	return tap_exit_status();
}
