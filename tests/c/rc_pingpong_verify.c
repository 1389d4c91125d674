// SPDX-License-Identifier: GPL-2.0
/*
 * rc_pingpong_verify: RDMA WRITE, RDMA READ and SEND/RECV between two RC
 * QPs of one device in one process (loopback), on buffers at odd offsets
 * with lengths that span several pages; every byte of the destination is
 * compared, and the bytes around it must stay untouched.  Then an RDMA
 * WRITE and an RDMA READ with a wrong rkey must complete with
 * IBV_WC_REM_ACCESS_ERR (not hang).
 *
 * --odp registers every MR with IBV_ACCESS_ON_DEMAND.  Without RC ODP
 * capabilities (ibv_query_device_ex), such a registration must fail with
 * EOPNOTSUPP or EINVAL, and the transfer tests are skipped.
 *
 * Output: TAP.  Exit status 0 if no test failed, 1 otherwise, 2 on usage
 * errors.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "tap.h"
#include "verbs_util.h"

#define PAGE 4096
#define BUF_SIZE (24 * PAGE)
#define POLL_SECS 20.0

static const struct xfer_case {
	size_t src_off, dst_off, len;
} cases[] = {
	{ 3, 1, 1 },
	{ PAGE - 3, 7, 3 * PAGE + 5 },
	{ 0, PAGE - 1, 5 * PAGE },
	{ 17, PAGE + 1, 16 * PAGE + 333 },
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))
enum op { OP_WRITE, OP_READ, OP_SEND, NOPS };
static const char *const op_name[NOPS] = { "RDMA WRITE", "RDMA READ", "SEND/RECV" };
#define NTESTS ((int)(2 + NOPS * NCASES + 2))

static const char usage[] =
	"Usage: rc_pingpong_verify [-d DEV] [-g GID_INDEX] [--odp]\n"
	"  -d, --dev DEV     RDMA device (default $RXE_DEV, else the first)\n"
	"  -g, --gid N       GID index (default $RXE_GID_INDEX, else the first\n"
	"                    RoCE v2 IPv4 GID)\n"
	"      --odp         register the MRs with IBV_ACCESS_ON_DEMAND\n"
	"  -h, --help        this text\n"
	"Prints TAP; exit 0 if no test failed, 1 otherwise, 2 on usage errors.\n";

static struct vu_ctx c;
static uint8_t *abuf, *bbuf;
static struct ibv_mr *amr, *bmr;
static int odp;

static void fill(uint8_t *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)((i * 131 + seed * 7) % 255 + 1);	/* never 0 */
}

/*
 * DST[off..off+len) must equal SRC, and every other byte of DST (BUF_SIZE)
 * must be 0.  0 if so, else -1 with a diagnostic.
 */
static int verify(const uint8_t *dst, size_t off, const uint8_t *src, size_t len)
{
	size_t i;

	for (i = 0; i < BUF_SIZE; i++) {
		int in = i >= off && i < off + len;
		uint8_t want = in ? src[i - off] : 0;

		if (dst[i] != want) {
			tap_diag("byte %zu of the destination (%s the copy at %zu+%zu): 0x%02x, expected 0x%02x",
				 i, in ? "inside" : "outside", off, len, dst[i], want);
			return -1;
		}
	}
	return 0;
}

static struct ibv_mr *reg(void *buf)
{
	int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
		     IBV_ACCESS_REMOTE_READ;

	if (odp)
		access |= IBV_ACCESS_ON_DEMAND;
	return ibv_reg_mr(c.pd, buf, BUF_SIZE, access);
}

/* Wait for one completion on CQ; 0 if it is a success of OPCODE. */
static int expect_wc(struct ibv_cq *cq, enum ibv_wc_opcode opcode, uint32_t byte_len)
{
	struct ibv_wc wc;
	int n = vu_poll(cq, &wc, POLL_SECS);

	if (n <= 0) {
		tap_diag("%s", n ? "ibv_poll_cq failed" : "no completion within the deadline");
		return -1;
	}
	if (wc.status != IBV_WC_SUCCESS || wc.opcode != opcode ||
	    (opcode == IBV_WC_RECV && wc.byte_len != byte_len)) {
		tap_diag("completion: status %s (%d), opcode %d, byte_len %u; expected success, opcode %d, byte_len %u",
			 ibv_wc_status_str(wc.status), wc.status, wc.opcode, wc.byte_len,
			 opcode, byte_len);
		return -1;
	}
	return 0;
}

static int post_send(struct ibv_qp *qp, enum ibv_wr_opcode opcode, void *laddr,
		     uint32_t lkey, size_t len, void *raddr, uint32_t rkey)
{
	struct ibv_sge sge = { .addr = (uintptr_t)laddr, .length = len, .lkey = lkey };
	struct ibv_send_wr wr, *bad;

	memset(&wr, 0, sizeof(wr));
	wr.wr_id = 1;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = opcode;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.rdma.remote_addr = (uintptr_t)raddr;
	wr.wr.rdma.rkey = rkey;
	errno = ibv_post_send(qp, &wr, &bad);
	if (errno)
		tap_diag("ibv_post_send: %s", strerror(errno));
	return errno ? -1 : 0;
}

static int post_recv(struct ibv_qp *qp, void *addr, uint32_t lkey, size_t len)
{
	struct ibv_sge sge = { .addr = (uintptr_t)addr, .length = len, .lkey = lkey };
	struct ibv_recv_wr wr = { .wr_id = 2, .sg_list = &sge, .num_sge = 1 }, *bad;

	errno = ibv_post_recv(qp, &wr, &bad);
	if (errno)
		tap_diag("ibv_post_recv: %s", strerror(errno));
	return errno ? -1 : 0;
}

/* One transfer from A to B (READ: A reads B's buffer into its own). */
static int xfer(struct vu_qp *a, struct vu_qp *b, enum op op, const struct xfer_case *x,
		unsigned int seed)
{
	switch (op) {
	case OP_WRITE:
		fill(abuf, BUF_SIZE, seed);
		memset(bbuf, 0, BUF_SIZE);
		if (post_send(a->qp, IBV_WR_RDMA_WRITE, abuf + x->src_off, amr->lkey, x->len,
			      bbuf + x->dst_off, bmr->rkey) ||
		    expect_wc(a->cq, IBV_WC_RDMA_WRITE, 0))
			return -1;
		return verify(bbuf, x->dst_off, abuf + x->src_off, x->len);
	case OP_READ:
		fill(bbuf, BUF_SIZE, seed);
		memset(abuf, 0, BUF_SIZE);
		if (post_send(a->qp, IBV_WR_RDMA_READ, abuf + x->dst_off, amr->lkey, x->len,
			      bbuf + x->src_off, bmr->rkey) ||
		    expect_wc(a->cq, IBV_WC_RDMA_READ, 0))
			return -1;
		return verify(abuf, x->dst_off, bbuf + x->src_off, x->len);
	case OP_SEND:
		fill(abuf, BUF_SIZE, seed);
		memset(bbuf, 0, BUF_SIZE);
		if (post_recv(b->qp, bbuf + x->dst_off, bmr->lkey, x->len) ||
		    post_send(a->qp, IBV_WR_SEND, abuf + x->src_off, amr->lkey, x->len,
			      NULL, 0) ||
		    expect_wc(a->cq, IBV_WC_SEND, 0) ||
		    expect_wc(b->cq, IBV_WC_RECV, x->len))
			return -1;
		return verify(bbuf, x->dst_off, abuf + x->src_off, x->len);
	default:
		return -1;
	}
}

/* An RDMA op with a wrong rkey on a fresh QP pair: IBV_WC_REM_ACCESS_ERR. */
static int bad_rkey(enum ibv_wr_opcode opcode)
{
	struct vu_qp a = { 0 }, b = { 0 };
	struct ibv_wc wc;
	int ret = -1, n;

	if (vu_pair(&c, &a, &b, 4)) {
		tap_diag("QP pair: %s", strerror(errno));
		goto out;
	}
	if (post_send(a.qp, opcode, abuf, amr->lkey, 2 * PAGE + 3, bbuf + 1, bmr->rkey ^ 0x5a))
		goto out;
	n = vu_poll(a.cq, &wc, POLL_SECS);
	if (n <= 0)
		tap_diag("%s", n ? "ibv_poll_cq failed" : "no completion within the deadline (hang?)");
	else if (wc.status != IBV_WC_REM_ACCESS_ERR)
		tap_diag("completion status %s (%d), expected IBV_WC_REM_ACCESS_ERR",
			 ibv_wc_status_str(wc.status), wc.status);
	else
		ret = 0;
out:
	vu_qp_destroy(&a);
	vu_qp_destroy(&b);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dev", required_argument, NULL, 'd' },
		{ "gid", required_argument, NULL, 'g' },
		{ "odp", no_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const uint32_t need = IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV |
			      IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ;
	const char *no_odp = "device has no RC ODP caps (SEND|RECV|WRITE|READ)";
	const char *dev = NULL, *mode;
	struct vu_qp a = { 0 }, b = { 0 };
	uint64_t gen = 0;
	uint32_t rc = 0;
	int gid = -1, opt, has_odp;
	size_t i;
	int o;

	while ((opt = getopt_long(argc, argv, "d:g:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'd': dev = optarg; break;
		case 'g': gid = atoi(optarg); break;
		case 'o': odp = 1; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind != argc) {
		fputs(usage, stderr);
		return 2;
	}
	mode = odp ? "ODP" : "pinned";

	tap_plan(NTESTS);
	c.ctx = vu_open(dev);
	if (!c.ctx)
		tap_bail("cannot open RDMA device %s", dev ? dev : "(any)");
	c.gid_index = vu_gid_index(c.ctx, gid);
	if (c.gid_index < 0 || ibv_query_gid(c.ctx, 1, c.gid_index, &c.gid))
		tap_bail("no usable GID on %s", ibv_get_device_name(c.ctx->device));
	c.pd = ibv_alloc_pd(c.ctx);
	abuf = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bbuf = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!c.pd || abuf == MAP_FAILED || bbuf == MAP_FAILED)
		tap_bail("PD or buffers: %s", strerror(errno));
	if (vu_odp_caps(c.ctx, &gen, &rc))
		tap_bail("ibv_query_device_ex failed");
	has_odp = (gen & IBV_ODP_SUPPORT) && (rc & need) == need;
	tap_diag("device %s, GID index %d, odp general_caps 0x%llx rc_odp_caps 0x%x",
		 ibv_get_device_name(c.ctx->device), c.gid_index,
		 (unsigned long long)gen, rc);
	tap_ok(!vu_pair(&c, &a, &b, 16), "two connected RC QPs on %s (GID index %d)",
	       ibv_get_device_name(c.ctx->device), c.gid_index);

	if (odp && !has_odp) {
		errno = 0;
		amr = reg(abuf);
		o = errno;
		tap_ok(!amr && (o == EOPNOTSUPP || o == EINVAL),
		       "no RC ODP caps: ODP registration fails with EOPNOTSUPP or EINVAL (got %s, errno %d %s)",
		       amr ? "an MR" : "NULL", o, strerror(o));
		if (amr)
			ibv_dereg_mr(amr);
		for (o = 0; o < NOPS; o++)
			for (i = 0; i < NCASES; i++) {
				char desc[160];

				snprintf(desc, sizeof(desc),
					 "ODP %s: %zu bytes, source offset %zu, destination offset %zu",
					 op_name[o], cases[i].len, cases[i].src_off, cases[i].dst_off);
				tap_skip(no_odp, desc);
			}
		tap_skip(no_odp, "ODP RDMA WRITE with a wrong rkey completes with IBV_WC_REM_ACCESS_ERR");
		tap_skip(no_odp, "ODP RDMA READ with a wrong rkey completes with IBV_WC_REM_ACCESS_ERR");
		return tap_exit_status();
	}

	amr = reg(abuf);
	bmr = amr ? reg(bbuf) : NULL;
	if (!tap_ok(amr && bmr, "register two %d-byte %s MRs (%s)", BUF_SIZE, mode,
		    amr && bmr ? "ok" : strerror(errno)))
		tap_bail("no MRs");

	for (o = 0; o < NOPS; o++)
		for (i = 0; i < NCASES; i++) {
			const struct xfer_case *x = &cases[i];

			tap_ok(!xfer(&a, &b, o, x, o * NCASES + i + 1),
			       "%s %s: %zu bytes, source offset %zu, destination offset %zu",
			       mode, op_name[o], x->len, x->src_off, x->dst_off);
		}
	tap_ok(!bad_rkey(IBV_WR_RDMA_WRITE),
	       "%s RDMA WRITE with a wrong rkey completes with IBV_WC_REM_ACCESS_ERR", mode);
	tap_ok(!bad_rkey(IBV_WR_RDMA_READ),
	       "%s RDMA READ with a wrong rkey completes with IBV_WC_REM_ACCESS_ERR", mode);

	vu_qp_destroy(&a);
	vu_qp_destroy(&b);
	ibv_dereg_mr(amr);
	ibv_dereg_mr(bmr);
	ibv_dealloc_pd(c.pd);
	ibv_close_device(c.ctx);
	return tap_exit_status();
}
