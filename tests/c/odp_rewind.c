// SPDX-License-Identifier: GPL-2.0
/*
 * A packet whose copy into a receive WQE stops at an ODP fault after it
 * has filled part of the WQE: the responder must rewind the WQE to where
 * the packet started before the packet is executed again.  Within one
 * umem a copy is all or nothing, so the part done is an earlier SGE.
 *
 * An RC SEND of MSG bytes (4 packets at MTU 1024) into a receive WQE of
 * two SGEs, the second an ODP MR whose pages are not mapped:
 *   first   SGE 1 is 100 bytes of pinned memory: the first packet fills
 *           it, then faults on SGE 2;
 *   middle  SGE 1 is 1500 bytes of ODP memory, mapped: the second packet
 *           fills its last 476 bytes, then faults on SGE 2.
 * Each way twice: the fault is done by rxe's fault work while the
 * responder waits (the packet is executed again once it is done), and
 * the fault fails transiently once (fail_rxe_odp_fault: an RNR NAK, the
 * requester resends the packet).  One receive completion, IBV_WC_SUCCESS
 * of MSG bytes, and both SGEs hold the message byte for byte: without the
 * rewind, the packet's bytes land after the part it had filled.
 * The transient case skips without the fault-injection knob.
 *
 * Usage: odp_rewind [-d DEV] [-g GID_INDEX]
 */
#include <sys/mman.h>
#include "verbs_util.h"

#define PG	4096u
#define MSG	(4u * 1024)
#define PLAN	4

static struct vu_ctx c;

int main(int argc, char **argv)
{
	const char *dev = vu_args(argc, argv, "odp_rewind [-d DEV] [-g GID_INDEX]");
	static const char *const where[] = { "first", "middle" };
	static const char *const how[] = { "waited for", "failed once (RNR NAK)" };
	char *sbuf, *pbuf, *obuf, *dbuf;
	struct ibv_mr *smr, *pmr, *omr, *dmr;
	int w, t, fi, st, n, seed = 1;
	long bad, left;
	struct vu_qp a, b;
	struct ibv_wc wc;

	tap_plan(PLAN);
	vu_setup(&c, dev);
	if (!vu_has_odp(c.ctx, IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV)) {
		tap_skip_rest(PLAN, "no RC ODP send/receive support", "rewind of a receive WQE");
		return tap_exit_status();
	}
	fi = !access(VU_FI_FAULT "/probability", W_OK);
	sbuf = malloc(MSG);
	pbuf = malloc(PG);
	obuf = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	dbuf = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!sbuf || !pbuf || obuf == MAP_FAILED || dbuf == MAP_FAILED)
		tap_bail("memory: %s", strerror(errno));
	smr = ibv_reg_mr(c.pd, sbuf, MSG, IBV_ACCESS_LOCAL_WRITE);
	pmr = ibv_reg_mr(c.pd, pbuf, PG, IBV_ACCESS_LOCAL_WRITE);
	omr = ibv_reg_mr(c.pd, obuf, 2 * PG, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_ON_DEMAND);
	dmr = ibv_reg_mr(c.pd, dbuf, 2 * PG, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_ON_DEMAND);
	if (!smr || !pmr || !omr || !dmr)
		tap_bail("ibv_reg_mr: %s", strerror(errno));

	for (t = 0; t < 2; t++) {
		for (w = 0; w < 2; w++) {
			/* SGE 1: pinned (first) or mapped ODP (middle) */
			uint32_t l1 = w ? 1500 : 100;
			char *p1 = w ? obuf : pbuf;
			struct ibv_sge rs[2] = {
				{ (uintptr_t)p1, l1, (w ? omr : pmr)->lkey },
				{ (uintptr_t)dbuf, MSG - l1, dmr->lkey },
			};
			struct ibv_recv_wr rwr = { .wr_id = 1, .sg_list = rs, .num_sge = 2 }, *rbad;
			struct ibv_sge ss = { (uintptr_t)sbuf, MSG, smr->lkey };

			if (t && !fi) {
				tap_skip("no " VU_FI_FAULT " (CONFIG_RDMA_RXE_ODP_FAULT_INJECTION)",
					 w ? "a middle packet's transient fault" :
					     "a first packet's transient fault");
				continue;
			}
			if (vu_pair(&c, &a, &b, 4))
				tap_bail("QP pair: %s", strerror(errno));
			if (w) {
				/* SGE 1 mapped in the ODP MR: a first message into it */
				struct ibv_sge ws = { (uintptr_t)sbuf, l1, smr->lkey };
				struct ibv_recv_wr w1 = { .wr_id = 0, .sg_list = rs, .num_sge = 1 };

				vu_fill(sbuf, l1, 99);
				if (ibv_post_recv(b.qp, &w1, &rbad) ||
				    vu_post1(&a, IBV_WR_SEND, &ws, 0, 0, 0, 0, 30) ||
				    vu_poll(b.cq, &wc, 10) != 1 || wc.status ||
				    vu_mismatch(p1, l1, 99) >= 0)
					tap_bail("the first message into SGE 1 failed");
			}
			/* SGE 2 not mapped: drop its pages and the MR's mapping */
			if (madvise(dbuf, 2 * PG, MADV_DONTNEED))
				tap_bail("madvise: %s", strerror(errno));
			if (ibv_post_recv(b.qp, &rwr, &rbad))
				tap_bail("ibv_post_recv: %s", strerror(errno));
			if (t && vu_fi_on("100", 1))
				tap_bail("cannot set " VU_FI_FAULT ": %s", strerror(errno));
			vu_fill(sbuf, MSG, ++seed);
			st = vu_post1(&a, IBV_WR_SEND, &ss, 0, 0, 0, 0, 30);
			n = vu_poll(b.cq, &wc, 10);
			left = t ? vu_fi_times() : 0;
			if (t)
				vu_fi_on("0", 0);
			/* vu_fill's pattern of the whole message, in two parts */
			memcpy(sbuf, p1, l1);
			memcpy(sbuf + l1, dbuf, MSG - l1);
			bad = vu_mismatch(sbuf, MSG, seed);
			tap_ok(!st && n == 1 && wc.status == IBV_WC_SUCCESS && wc.byte_len == MSG &&
			       bad < 0 && left == 0,
			       "a %s packet's fault on SGE 2 %s: the receive WQE is rewound (send %d, receive completions %d, status %d, len %u, first wrong byte %ld%s)",
			       where[w], how[t], st, n, n == 1 ? (int)wc.status : -1,
			       n == 1 ? wc.byte_len : 0, bad,
			       t ? (left == 0 ? ", fault injected" : ", fault NOT injected") : "");
			vu_qp_destroy(&a);
			vu_qp_destroy(&b);
		}
	}
	ibv_dereg_mr(dmr);
	ibv_dereg_mr(omr);
	ibv_dereg_mr(pmr);
	ibv_dereg_mr(smr);
	return tap_exit_status();
}
