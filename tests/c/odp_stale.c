// SPDX-License-Identifier: GPL-2.0
/*
 * Stale pages: a page that an ODP MR once mapped, and that the process
 * gave back to the kernel, must never be reached through the MR again,
 * above all not once another process owns it.
 *
 * Each round: the process fills a buffer and registers it as an ODP MR
 * (explicit or implicit, alternately), and an RDMA READ maps every page.
 * Then the pages are given back (MADV_DONTNEED, or munmap), and a child
 * process, forked beforehand and waiting, at once allocates memory and
 * fills it with a secret pattern: on one CPU the page allocator hands it
 * the pages just freed.  Then, through the old MR:
 *   - an RDMA READ of the buffer must return zeros (the process's own new
 *     pages) after MADV_DONTNEED, or fail with an error completion after
 *     munmap; never the old contents, never the child's secret;
 *   - an RDMA WRITE must land in the process's own new pages (the CPU sees
 *     it) after MADV_DONTNEED, or fail after munmap; the child checks that
 *     its secret is intact.
 *
 * Usage: odp_stale [-d DEV] [-g GID] [--rounds N] [--pages N]
 */
#include <getopt.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include "tap.h"
#include "verbs_util.h"

#define PAGE	4096ul
#define ACC	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ)
#define SECRET	0x5ec7e7

static struct vu_ctx c;
static struct vu_qp a, b;
static size_t npages = 64;

/* The child's memory: more than the parent gives back, to catch them all. */
#define CHILD_FACTOR	4

static char *amap(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		tap_bail("mmap: %s", strerror(errno));
	madvise(p, len, MADV_NOHUGEPAGE);	/* small pages, freed one by one */
	return p;
}

static int mkpair(void)
{
	vu_qp_destroy(&a);
	vu_qp_destroy(&b);
	return vu_pair(&c, &a, &b, 4);
}

/* One RDMA op of LEN bytes between pinned LOCAL and REMOTE/RKEY: 0 or status. */
static int rdma(enum ibv_wr_opcode op, char *local, struct ibv_mr *lmr, uint64_t remote,
		uint32_t rkey, size_t len)
{
	struct ibv_sge sge = { (uintptr_t)local, (uint32_t)len, lmr->lkey };
	struct ibv_send_wr wr, *bad;
	struct ibv_wc wc;

	memset(&wr, 0, sizeof(wr));
	wr.opcode = op;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.wr.rdma.remote_addr = remote;
	wr.wr.rdma.rkey = rkey;
	if (ibv_post_send(a.qp, &wr, &bad))
		return -2;
	if (vu_poll(a.cq, &wc, 30) != 1)
		return -1;
	return (int)wc.status;
}

/*
 * The child: wait for "go", allocate and fill SIZE bytes with the secret,
 * say "filled", wait for "check", check the secret, say "ok" or "bad",
 * and exit when the parent closes the pipe.
 */
static void child(int in, int out, size_t size)
{
	char cmd, *p;

	if (read(in, &cmd, 1) != 1)
		_exit(1);
	p = amap(size);
	vu_fill(p, size, SECRET);
	if (write(out, "f", 1) != 1 || read(in, &cmd, 1) != 1)
		_exit(1);
	cmd = vu_mismatch(p, size, SECRET) < 0 ? 'o' : 'b';
	if (write(out, &cmd, 1) != 1)
		_exit(1);
	/* keep the memory until the parent closes the pipe */
	while (read(in, &cmd, 1) > 0)
		;
	_exit(0);
}

/* Does P contain a run of the child's secret (at the same page offsets)? */
static long find_secret(const char *p, size_t len)
{
	size_t i, j, child_len = len * CHILD_FACTOR;

	/* compare each page of P with each page of the secret: 16 bytes */
	for (i = 0; i < len; i += PAGE)
		for (j = 0; j < child_len; j += PAGE) {
			size_t k;

			for (k = 0; k < 16; k++)
				if (p[i + k] != vu_pattern(j + k, SECRET))
					break;
			if (k == 16)
				return (long)i;
		}
	return -1;
}

static long first_nonzero(const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i])
			return (long)i;
	return -1;
}

static void round_(int r, struct ibv_mr *pin_mr, char *pin, int implicit, int unmap)
{
	size_t len = npages * PAGE;
	int to_child[2], from_child[2], ret, st;
	const char *how = unmap ? "munmap" : "MADV_DONTNEED";
	const char *mrk = implicit ? "implicit" : "explicit";
	struct ibv_mr *mr;
	char *buf, ack;
	long bad, leak;
	pid_t pid;

	if (pipe(to_child) || pipe(from_child))
		tap_bail("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		tap_bail("fork: %s", strerror(errno));
	if (!pid) {
		close(to_child[1]);
		close(from_child[0]);
		child(to_child[0], from_child[1], len * CHILD_FACTOR);
	}
	close(to_child[0]);
	close(from_child[1]);

	buf = amap(len);
	vu_fill(buf, len, (unsigned int)r);
	mr = implicit ? ibv_reg_mr(c.pd, NULL, SIZE_MAX, ACC | IBV_ACCESS_ON_DEMAND)
		      : ibv_reg_mr(c.pd, buf, len, ACC | IBV_ACCESS_ON_DEMAND);
	if (!mr)
		tap_bail("ibv_reg_mr %s ODP: %s", mrk, strerror(errno));
	if (mkpair())
		tap_bail("QPs: %s", strerror(errno));

	/* map every page through the MR, and check the mapping works */
	memset(pin, 0, len);
	ret = rdma(IBV_WR_RDMA_READ, pin, pin_mr, (uintptr_t)buf, mr->rkey, len);
	tap_ok(!ret && vu_mismatch(pin, len, (unsigned int)r) < 0,
	       "round %d (%s MR, %s): RDMA READ maps the buffer and returns its data (status %d)",
	       r, mrk, how, ret);

	/* give the pages back, and let the child take them */
	if (unmap ? munmap(buf, len) : madvise(buf, len, MADV_DONTNEED))
		tap_bail("%s: %s", how, strerror(errno));
	if (write(to_child[1], "g", 1) != 1 || read(from_child[0], &ack, 1) != 1 || ack != 'f')
		tap_bail("child did not fill its memory");

	/* read the old range through the old MR */
	memset(pin, 0x77, len);
	ret = rdma(IBV_WR_RDMA_READ, pin, pin_mr, (uintptr_t)buf, mr->rkey, len);
	leak = ret ? -1 : find_secret(pin, len);
	if (unmap) {
		tap_ok(ret > 0 && leak < 0,
		       "round %d (%s MR, munmap): RDMA READ of the unmapped range fails (status %d: %s)%s",
		       r, mrk, ret, ret > 0 ? ibv_wc_status_str((enum ibv_wc_status)ret) : "-",
		       leak >= 0 ? "; LEAK: another process's secret" :
		       !ret && vu_mismatch(pin, len, (unsigned int)r) < 0 ?
		       "; MISMATCH: it returned the old contents" :
		       !ret ? "; MISMATCH: it read memory that is not mapped" : "");
	} else {
		bad = ret ? -1 : first_nonzero(pin, len);
		tap_ok(!ret && bad < 0 && leak < 0,
		       "round %d (%s MR, MADV_DONTNEED): RDMA READ returns the process's new zero pages "
		       "(status %d, first non-zero byte %ld)%s", r, mrk, ret, bad,
		       leak >= 0 ? "; LEAK: another process's secret" :
		       bad >= 0 ? "; MISMATCH: stale contents" : "");
	}
	if (leak >= 0)
		tap_diag("LEAK: page at offset %ld of the read held another process's data", leak);

	/* write through the old MR: only the process's own memory may change */
	if (ret && mkpair())
		tap_bail("QPs: %s", strerror(errno));
	vu_fill(pin, len, (unsigned int)r + 1000);
	ret = rdma(IBV_WR_RDMA_WRITE, pin, pin_mr, (uintptr_t)buf, mr->rkey, len);
	if (unmap)
		tap_ok(ret > 0, "round %d (%s MR, munmap): RDMA WRITE to the unmapped range fails "
		       "(status %d)", r, mrk, ret);
	else {
		bad = ret ? -1 : vu_mismatch(buf, len, (unsigned int)r + 1000);
		tap_ok(!ret && bad < 0,
		       "round %d (%s MR, MADV_DONTNEED): RDMA WRITE lands in the process's new pages "
		       "(status %d, first wrong byte %ld)", r, mrk, ret, bad);
	}
	if (write(to_child[1], "c", 1) != 1 || read(from_child[0], &ack, 1) != 1)
		tap_bail("child did not answer");
	tap_ok(ack == 'o', "round %d (%s MR, %s): the other process's memory is intact", r, mrk, how);

	/*
	 * Deregister while the child still holds its pages: should a broken
	 * kernel have left them mapped in the MR, releasing the MR marks
	 * them dirty, which is harmless for pages in use and a page
	 * allocator BUG for free ones (the interlock selftest).
	 */
	vu_qp_destroy(&a);
	vu_qp_destroy(&b);
	if (ibv_dereg_mr(mr))
		tap_bail("ibv_dereg_mr: %s", strerror(errno));
	close(to_child[1]);
	if (waitpid(pid, &st, 0) != pid)
		tap_bail("waitpid");
	close(from_child[0]);
	if (!unmap)
		munmap(buf, len);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "rounds", 1, NULL, 'r' }, { "pages", 1, NULL, 'p' },
		{ "help", 0, NULL, 'h' }, { 0 }
	};
	const char *dev = NULL;
	int rounds = 4, r, o, per_round = 4;
	struct ibv_mr *pin_mr;
	uint64_t gen;
	uint32_t rc;
	char *pin;

	while ((o = getopt_long(argc, argv, "d:g:h", lo, NULL)) != -1) {
		switch (o) {
		case 'd': dev = optarg; break;
		case 'g': setenv("RXE_GID_INDEX", optarg, 1); break;
		case 'r': rounds = atoi(optarg); break;
		case 'p': npages = strtoul(optarg, NULL, 0); break;
		case 'h':
		default:
			fprintf(o == 'h' ? stdout : stderr,
				"usage: odp_stale [-d DEV] [-g GID] [--rounds N] [--pages N]\n");
			return o == 'h' ? 0 : 2;
		}
	}
	if (rounds < 1 || !npages) {
		fprintf(stderr, "odp_stale: --rounds and --pages must be positive\n");
		return 2;
	}
	tap_plan(rounds * per_round);
	vu_setup(&c, dev);
	if (!vu_has_odp(c.ctx, IBV_ODP_SUPPORT_READ | IBV_ODP_SUPPORT_WRITE)) {
		tap_skip_rest(rounds * per_round, "no RC ODP read/write", "stale pages");
		return tap_exit_status();
	}
	vu_odp_caps(c.ctx, &gen, &rc);
	pin = amap(npages * PAGE);
	pin_mr = ibv_reg_mr(c.pd, pin, npages * PAGE, ACC);
	if (!pin_mr)
		tap_bail("ibv_reg_mr: %s", strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	for (r = 0; r < rounds; r++) {
		/* explicit/implicit and DONTNEED/munmap in turn */
		int implicit = (r & 1) && (gen & IBV_ODP_SUPPORT_IMPLICIT);

		round_(r, pin_mr, pin, implicit, (r >> 1) & 1);
	}
	ibv_dereg_mr(pin_mr);
	return tap_exit_status();
}
