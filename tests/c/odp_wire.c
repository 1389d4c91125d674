// SPDX-License-Identifier: GPL-2.0
/*
 * odp_wire: ODP over a real wire.  A client/server test meant to run with
 * the requester (the client, --connect) and the responder (the server,
 * --listen) on two machines joined by a wire, so that every packet takes
 * rxe's UDP/IP path and never its loopback shortcut.  Each side registers
 * its own buffers as it is told (--odp off|explicit|implicit), and the
 * server can drop its target pages before every round (--mutate), so that
 * the client's operations fault on the responder, or keep dropping them
 * while the client's operation of a round runs (--churn), so that they
 * meet invalidations in flight.
 *
 * The operations (--ops), each on a QP of its own, each for --rounds
 * rounds with a seed of its own, data checked byte for byte (vu_fill and
 * vu_mismatch):
 *   send, srq_send, uc_send  SIZE bytes into a receive buffer of the server
 *                            at an offset that crosses a page boundary
 *                            (srq_send: the server's RC QP takes its
 *                            receives from an SRQ); checked by the server
 *   ud_send                  one path MTU of payload behind the 40-byte GRH
 *   write, uc_write          RDMA WRITE of SIZE bytes, checked by the server
 *   read                     RDMA READ of SIZE bytes from a memfd
 *                            (MAP_SHARED) mapping of the server, whose data
 *                            survives the drops: checked by the client
 *   faa, cas, atomic_write   8 bytes on an aligned word of a memfd mapping:
 *                            the client checks the original value returned,
 *                            the server the final value and the bytes around
 *   flush                    RDMA WRITE then a global visibility FLUSH of the
 *                            range; then the server checks the bytes.  No
 *                            ibv_wr_flush() in rdma-core 44: the FLUSH WQE is
 *                            written into the provider's send queue, as
 *                            odp_flush.c does, and the op is skipped if that
 *                            queue cannot be found where expected.
 * A lost UC or UD message fails with "uc message lost" ("ud ..."): only a
 * lossy wire excuses it, which the harness decides.
 *
 * Capabilities: a side with --odp explicit|implicit needs ODP (else it
 * bails out: a kernel without the series), implicit ODP for implicit, and
 * the per-transport ODP caps of each op (client: SEND, WRITE, READ or
 * ATOMIC for its local buffers; server: RECV or SRQ_RECV, WRITE, READ,
 * ATOMIC, ATOMIC_WRITE, FLUSH for its targets).  ATOMIC WRITE and FLUSH
 * also need the device caps on both sides.  A missing cap skips the op on
 * both sides, with the reason.
 *
 * Control: one TCP connection, fixed-size binary messages (struct wmsg,
 * network byte order), every read bounded by poll() to 3 x the larger
 * --timeout of the two sides + 5 s, every completion to --timeout: the
 * program ends in bounded time whatever the peer or the wire does.  HELLO
 * both ways (ops, size, rounds, MTU, timeout; a server given --ops, --size
 * or --rounds refuses a client that differs); per op SETUP both ways
 * (QPN, PSN, GID; the
 * server adds the target address, rkey, length, Q_Key), or a skip with
 * its reason; per round PREP ("round r of op X, seed S": the server fills
 * or clears its target, posts its receive, drops its pages) and READY,
 * then the client's operation and DONE (its own verdict), then RESULT
 * (the server's verdict); BYE both ways at the end.  An op ends at its
 * first failing round.
 *
 * Output: TAP, one test point per op on each side; a "# figures:" line
 * (and --json FILE) with per op rounds, bytes, seconds (total, median and
 * max per operation: the client times post to completion, the server
 * READY to verified) and the device's hw counters before, after and their
 * delta.  The server's send_rnr_err delta is reported, never judged.
 * Exit status 0 when every op passed or was skipped, 1 otherwise, 2 on a
 * usage error.
 *
 * Usage: odp_wire --listen [--addr IP] [--port N] [options]
 *        odp_wire --connect HOST [--port N] [options]   (odp_wire -h)
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <rdma/rdma_user_rxe.h>
#include "verbs_util.h"
#include "rxe_prov44.h"

#define PG		4096u
#define TOFF		(PG - 1000)	/* the server's target: crosses a page boundary */
#define SOFF		123u		/* the client's source or sink: an odd offset */
#define AOFF		(PG + 64)	/* the atomic word: aligned, second page */
#define ROFF		8u		/* the client's atomic result word */
#define GRH_LEN		40u
#define QKEY		0x0dd0beefu
#define DEPTH		8
#define MIN_RNR_TIMER	12		/* 0.64 ms in the RNR NAK, as odp_rnr.c */
#define ACK_TIMEOUT	14		/* 4.096 us * 2^14: 67 ms */
#define HOP_LIMIT	64
#define MAX_SIZE	(1u << 30)
#define MAX_ROUNDS	1000000
#define WHY_LEN		200
#define NCNT		64
#define WIRE_MAGIC	0x4f445731u	/* "ODW1" */
#define DEF_PORT	18515

/* 6.12 uapi values that the installed rdma-core 44 headers lack */
#define DEV_FLUSH_GLOBAL	(1ULL << 38)	/* IB_UVERBS_DEVICE_FLUSH_GLOBAL */
#define DEV_ATOMIC_WRITE	(1ULL << 40)	/* IB_UVERBS_DEVICE_ATOMIC_WRITE */
#define ODP_FLUSH		(1u << 6)	/* IB_UVERBS_ODP_SUPPORT_FLUSH */
#define ODP_ATOMIC_WRITE	(1u << 7)	/* IB_UVERBS_ODP_SUPPORT_ATOMIC_WRITE */
#define ACCESS_FLUSH_GLOBAL	(1u << 8)	/* IB_UVERBS_ACCESS_FLUSH_GLOBAL */
#define WR_FLUSH		14		/* IB_UVERBS_WR_FLUSH */
#define WC_FLUSH		8		/* IB_UVERBS_WC_FLUSH */
#define FLUSH_TYPE_GLOBAL	1		/* IB_FLUSH_GLOBAL */
#define FLUSH_LEVEL_RANGE	0		/* IB_FLUSH_RANGE */

#define ACC	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
		 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC)

enum { ST_OK, ST_FAIL, ST_SKIP };
enum { ODP_OFF, ODP_EXPLICIT, ODP_IMPLICIT };
static const char *const odp_names[] = { "off", "explicit", "implicit" };

enum {
	OP_SEND, OP_WRITE, OP_READ, OP_FAA, OP_CAS, OP_AWRITE, OP_FLUSH,
	OP_UC_SEND, OP_UC_WRITE, OP_UD_SEND, OP_SRQ_SEND, NOPS
};

#define C_SEND	IBV_ODP_SUPPORT_SEND
#define C_RECV	IBV_ODP_SUPPORT_RECV
#define C_WRITE	IBV_ODP_SUPPORT_WRITE
#define C_READ	IBV_ODP_SUPPORT_READ
#define C_ATOM	IBV_ODP_SUPPORT_ATOMIC
#define C_SRQ	IBV_ODP_SUPPORT_SRQ_RECV

struct op_desc {
	const char *name;
	const char *what;
	enum ibv_qp_type qpt;
	int shared;		/* the server's target is a memfd mapping */
	uint32_t cli_cap;	/* ODP caps the client needs */
	uint32_t srv_cap;	/* ODP caps the server needs */
};

static const struct op_desc ops[NOPS] = {
	[OP_SEND] = { "send", "RC SEND into a receive buffer", IBV_QPT_RC, 0, C_SEND, C_RECV },
	[OP_WRITE] = { "write", "RC RDMA WRITE across a page boundary", IBV_QPT_RC, 0,
		       C_WRITE, C_WRITE },
	[OP_READ] = { "read", "RC RDMA READ of memfd pages", IBV_QPT_RC, 1, C_READ, C_READ },
	[OP_FAA] = { "faa", "FETCH_AND_ADD on a memfd word", IBV_QPT_RC, 1, C_ATOM, C_ATOM },
	[OP_CAS] = { "cas", "COMPARE_AND_SWAP on a memfd word", IBV_QPT_RC, 1, C_ATOM, C_ATOM },
	[OP_AWRITE] = { "atomic_write", "ATOMIC WRITE of a memfd word", IBV_QPT_RC, 1,
			0, ODP_ATOMIC_WRITE },
	[OP_FLUSH] = { "flush", "RDMA WRITE then global FLUSH", IBV_QPT_RC, 0,
		       C_WRITE, C_WRITE | ODP_FLUSH },
	[OP_UC_SEND] = { "uc_send", "UC SEND into a receive buffer", IBV_QPT_UC, 0,
			 C_SEND, C_RECV },
	[OP_UC_WRITE] = { "uc_write", "UC RDMA WRITE across a page boundary", IBV_QPT_UC, 0,
			  C_WRITE, C_WRITE },
	[OP_UD_SEND] = { "ud_send", "UD SEND of one path MTU", IBV_QPT_UD, 0, C_SEND, C_RECV },
	[OP_SRQ_SEND] = { "srq_send", "RC SEND received on an SRQ", IBV_QPT_RC, 0,
			  C_SEND, C_SRQ },
};

static struct {
	int server;
	const char *host, *addr, *dev, *json;
	int port, gid, odp, mutate, churn, rnr_retry, rounds;
	unsigned int mask;
	size_t size;
	double timeout;
	int ops_set, size_set, rounds_set, rnr_set;
} opt = {
	.addr = "0.0.0.0", .port = DEF_PORT, .gid = -1, .rnr_retry = 7, .rounds = 4,
	.mask = (1u << NOPS) - 1, .size = 65536, .timeout = 30,
};

/* One control message, in network byte order on the wire. */
enum { M_HELLO = 1, M_SETUP, M_PREP, M_READY, M_DONE, M_RESULT, M_BYE };
static const char *const msg_names[] = {
	"?", "HELLO", "SETUP", "PREP", "READY", "DONE", "RESULT", "BYE"
};

struct wmsg {
	uint32_t magic, type, op, round, seed, status;
	uint32_t qpn, psn, qkey, rkey, mtu, rounds, tmo_ms, pad;
	uint64_t addr, len, mask;
	uint8_t gid[16];
	char text[WHY_LEN];
};

struct peer {
	uint32_t qpn, psn, qkey, rkey;
	uint64_t addr, len;
	union ibv_gid gid;
};

struct region {
	char *p;
	size_t len;
	int fd;			/* the memfd, -1 for private anonymous memory */
	struct ibv_mr *mr;	/* NULL with implicit ODP: imr */
};

/* This side's end of one op. */
struct ep {
	int op;
	struct ibv_cq *cq;
	struct ibv_srq *srq;
	struct ibv_qp *qp;
	struct ibv_ah *ah;
	struct region buf;
	uint32_t psn;
	struct peer peer;
	struct rxe_queue_buf *sq;	/* flush: the provider's send queue */
	uint64_t wrid;
};

struct result {
	int st;
	char why[WHY_LEN + 64];
	int rounds;
	uint64_t bytes;
	double total;
	double *t;
};

static struct vu_ctx c;
static struct ibv_device_attr_ex dattr;
static struct ibv_port_attr port;
static struct ibv_mr *imr;		/* --odp implicit: the MR of everything */
static int imr_flush;			/* imr has IBV_ACCESS_FLUSH_GLOBAL */
static int sock = -1;
static enum ibv_mtu path_mtu;
static size_t size;			/* the client's message size */
static int rounds;			/* the client's rounds */
static unsigned int ndontneed, nremap;
static unsigned long nchurn;		/* --churn: drops done under traffic */
static double peer_timeout;		/* the peer's --timeout, from its HELLO */
static struct result res[NOPS];
static char cnt_name[NCNT][64];
static long long cnt0[NCNT], cnt1[NCNT];
static int ncnt;

static void usage(FILE *f)
{
	fprintf(f,
"usage: odp_wire --listen [--addr IP] [--port N] [options]   the responder (server)\n"
"       odp_wire --connect HOST [--port N] [options]         the requester (client)\n"
"options (each side says what it does itself):\n"
"  -d DEV             RDMA device (default $RXE_DEV, else the first)\n"
"  -g IDX             GID index (default $RXE_GID_INDEX, else the RoCE v2 GID of\n"
"                     the control connection's local IPv4 address, else the only\n"
"                     RoCE v2 IPv4-mapped GID; with several, give -g)\n"
"  --odp off|explicit|implicit\n"
"                     how this side registers its buffers (default off)\n"
"  --mutate           server: before each round drop the target pages, by\n"
"                     MADV_DONTNEED and munmap + mmap(MAP_FIXED) in turn;\n"
"                     needs --odp explicit|implicit\n"
"  --churn USECS      server: while the client's operation of a round runs,\n"
"                     drop the target pages over and over (MADV_DONTNEED and\n"
"                     mmap(MAP_FIXED) in turn, USECS apart); every target is\n"
"                     then a memfd, whose data survives; needs ODP\n"
"  --ops LIST         comma list of send,write,read,faa,cas,atomic_write,flush,\n"
"                     uc_send,uc_write,ud_send,srq_send (default all); the\n"
"                     client's list is run; a server's, if given, must match\n"
"  --size BYTES       send/write/read message size, >= %u (default 65536)\n"
"  --rounds N         rounds of every op (default 4)\n"
"  --rnr-retry N      client: RNR retry count of its RC QPs, 0-7 (default 7:\n"
"                     for ever); the server's min_rnr_timer is 12 (0.64 ms)\n"
"  --timeout SECS     per-completion deadline (default 30); a control message\n"
"                     may take 3 x SECS + 5 (the larger SECS of the two sides),\n"
"                     making the connection 4 x SECS\n"
"  --json FILE        also write the figures to FILE as a JSON object\n"
"  -h, --help         this text\n"
"exit status: 0 every op passed or was skipped, 1 otherwise, 2 usage\n", 2 * PG);
}

static void __attribute__((noreturn, format(printf, 1, 2))) bad_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "odp_wire: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	usage(stderr);
	exit(2);
}

static long num_arg(const char *name, const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 0);
	if (errno || end == s || *end || v < lo || v > hi)
		bad_usage("%s %s: want a number from %ld to %ld", name, s, lo, hi);
	return v;
}

static unsigned int parse_ops(const char *list)
{
	char *dup = strdup(list), *save = NULL, *t;
	unsigned int mask = 0;
	int i;

	for (t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < NOPS && strcmp(t, ops[i].name); i++)
			;
		if (!strcmp(t, "all"))
			mask = (1u << NOPS) - 1;
		else if (i == NOPS)
			bad_usage("--ops: unknown op %s", t);
		else
			mask |= 1u << i;
	}
	free(dup);
	if (!mask)
		bad_usage("--ops: empty list");
	return mask;
}

static int parse_odp(const char *s)
{
	int i;

	for (i = 0; i < 3; i++)
		if (!strcmp(s, odp_names[i]))
			return i;
	bad_usage("--odp %s: want off, explicit or implicit", s);
}

static void check_args(int listen)
{
	if (listen == !!opt.host)
		bad_usage("give exactly one of --listen and --connect HOST");
	opt.server = listen;
	if (opt.server && opt.rnr_set)
		bad_usage("--rnr-retry is the client's (its RC QPs' RNR retry count)");
	if (!opt.server && opt.mutate)
		bad_usage("--mutate is the server's");
	if (opt.mutate && opt.odp == ODP_OFF)
		bad_usage("--mutate with --odp off: a pinned MR must not be unmapped");
	if (!opt.server && opt.churn)
		bad_usage("--churn is the server's");
	if (opt.churn && opt.odp == ODP_OFF)
		bad_usage("--churn with --odp off: a pinned MR must not be unmapped");
}

static void parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "listen", no_argument, NULL, 'L' },
		{ "connect", required_argument, NULL, 'C' },
		{ "addr", required_argument, NULL, 'a' },
		{ "port", required_argument, NULL, 'p' },
		{ "odp", required_argument, NULL, 'o' },
		{ "mutate", no_argument, NULL, 'm' },
		{ "churn", required_argument, NULL, 'c' },
		{ "ops", required_argument, NULL, 'O' },
		{ "size", required_argument, NULL, 's' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "rnr-retry", required_argument, NULL, 'R' },
		{ "timeout", required_argument, NULL, 't' },
		{ "json", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int o, listen = 0, addr_set = 0;
	char *end;

	while ((o = getopt_long(argc, argv, "d:g:h", lo, NULL)) != -1) {
		switch (o) {
		case 'L':
			listen = 1;
			break;
		case 'C':
			opt.host = optarg;
			break;
		case 'a':
			opt.addr = optarg;
			addr_set = 1;
			break;
		case 'p':
			opt.port = num_arg("--port", optarg, 1, 65535);
			break;
		case 'd':
			opt.dev = optarg;
			break;
		case 'g':
			opt.gid = num_arg("-g", optarg, 0, 65535);
			break;
		case 'o':
			opt.odp = parse_odp(optarg);
			break;
		case 'm':
			opt.mutate = 1;
			break;
		case 'c':
			opt.churn = num_arg("--churn", optarg, 1, 1000000);
			break;
		case 'O':
			opt.mask = parse_ops(optarg);
			opt.ops_set = 1;
			break;
		case 's':
			opt.size = num_arg("--size", optarg, 2 * PG, MAX_SIZE);
			opt.size_set = 1;
			break;
		case 'r':
			opt.rounds = num_arg("--rounds", optarg, 1, MAX_ROUNDS);
			opt.rounds_set = 1;
			break;
		case 'R':
			opt.rnr_retry = num_arg("--rnr-retry", optarg, 0, 7);
			opt.rnr_set = 1;
			break;
		case 't':
			opt.timeout = strtod(optarg, &end);
			if (*end || end == optarg || !(opt.timeout > 0 && opt.timeout <= 86400))
				bad_usage("--timeout %s: want seconds, > 0", optarg);
			break;
		case 'j':
			opt.json = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(2);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc)
		bad_usage("unexpected argument %s", argv[optind]);
	if (addr_set && !listen)
		bad_usage("--addr is the server's");
	check_args(listen);
}

/* Write the reason into WHY and return ST. */
static int __attribute__((format(printf, 3, 4))) failf(char *why, int st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, WHY_LEN, fmt, ap);
	va_end(ap);
	return st;
}

/* How long to wait for a control message: the peer may be waiting too. */
static double peer_secs(void)
{
	return 3 * (opt.timeout > peer_timeout ? opt.timeout : peer_timeout) + 5;
}

static unsigned int mtu_bytes(void)
{
	return 128u << path_mtu;
}

/* Bytes that one operation of OP moves. */
static unsigned int payload(int op)
{
	if (op == OP_UD_SEND)
		return mtu_bytes();
	if (op == OP_FAA || op == OP_CAS || op == OP_AWRITE)
		return 8;
	return size;
}

static int is_send(int op)
{
	return op == OP_SEND || op == OP_SRQ_SEND || op == OP_UC_SEND || op == OP_UD_SEND;
}

/* The seed of round RD of OP, and the values of the atomics. */
static unsigned int seed_of(int op, int rd)
{
	return (op + 1) * 1000 + rd * 17 + 5;
}

static uint64_t val0(unsigned int seed)
{
	return 0x0123456789abcdefULL ^ ((uint64_t)seed << 40) ^ (seed * 0x9e3779b97f4a7c15ULL >> 20);
}

static uint64_t addend(unsigned int seed)
{
	return 0x100000001ULL * (seed | 1);
}

static uint64_t swapv(unsigned int seed)
{
	return ~val0(seed);
}

static uint64_t awval(unsigned int seed)
{
	return val0(seed) ^ 0x5a5a5a5a5a5a5a5aULL;
}

/* The final value of the server's atomic word after round SEED of OP. */
static uint64_t atomic_final(int op, unsigned int seed)
{
	if (op == OP_FAA)
		return val0(seed) + addend(seed);
	return op == OP_CAS ? swapv(seed) : awval(seed);
}

/* ---- the control connection ---- */

static void msg_order(struct wmsg *m, int out)
{
#define O32(f)	(m->f = out ? htonl(m->f) : ntohl(m->f))
#define O64(f)	(m->f = out ? htobe64(m->f) : be64toh(m->f))
	O32(magic);
	O32(type);
	O32(op);
	O32(round);
	O32(seed);
	O32(status);
	O32(qpn);
	O32(psn);
	O32(qkey);
	O32(rkey);
	O32(mtu);
	O32(rounds);
	O32(tmo_ms);
	O64(addr);
	O64(len);
	O64(mask);
#undef O32
#undef O64
}

static void msg_init(struct wmsg *m, uint32_t type, int op)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->op = op;
}

static void msg_send(const struct wmsg *m)
{
	struct wmsg w = *m;
	size_t done = 0;
	ssize_t n;

	w.magic = WIRE_MAGIC;
	w.text[WHY_LEN - 1] = 0;
	msg_order(&w, 1);
	while (done < sizeof(w)) {
		n = send(sock, (char *)&w + done, sizeof(w) - done, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			tap_bail("control connection: sending %s: %s", msg_names[m->type],
				 strerror(errno));
		done += n;
	}
}

/* Read the next message, which must be TYPE (for OP, if >= 0). */
static void msg_recv(struct wmsg *m, uint32_t type, int op)
{
	double end = vu_now() + peer_secs(), left;
	struct pollfd p = { .fd = sock, .events = POLLIN };
	size_t done = 0;
	ssize_t n;

	while (done < sizeof(*m)) {
		left = end - vu_now();
		if (left <= 0)
			tap_bail("control connection: no %s from the peer in %.0f s",
				 msg_names[type], peer_secs());
		n = poll(&p, 1, (int)(left * 1000) + 1);
		if (n <= 0) {
			if (n < 0 && errno != EINTR)
				tap_bail("poll: %s", strerror(errno));
			continue;
		}
		n = recv(sock, (char *)m + done, sizeof(*m) - done, 0);
		if (!n)
			tap_bail("control connection: the peer closed it (waiting for %s)",
				 msg_names[type]);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			tap_bail("control connection: %s", strerror(errno));
		}
		done += n;
	}
	msg_order(m, 0);
	m->text[WHY_LEN - 1] = 0;
	if (m->magic != WIRE_MAGIC)
		tap_bail("control connection: not an odp_wire peer (magic %#x)", m->magic);
	if (m->type != type || (op >= 0 && m->op != (uint32_t)op))
		tap_bail("control connection: got %s for op %u, want %s for op %d",
			 m->type < M_BYE + 1 ? msg_names[m->type] : "?", m->op,
			 msg_names[type], op);
}

static void sock_opts(int fd)
{
	struct timeval tv = { .tv_sec = (time_t)peer_secs() };
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static void tcp_listen(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(opt.port) };
	struct pollfd p = { .events = POLLIN };
	double wait = 4 * opt.timeout;
	int one = 1, n;

	if (inet_pton(AF_INET, opt.addr, &sa.sin_addr) != 1)
		tap_bail("--addr %s: not an IPv4 address", opt.addr);
	p.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (p.fd < 0)
		tap_bail("socket: %s", strerror(errno));
	setsockopt(p.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(p.fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(p.fd, 1))
		tap_bail("listen on %s:%d: %s", opt.addr, opt.port, strerror(errno));
	tap_diag("server: listening on %s:%d for %.0f s", opt.addr, opt.port, wait);
	do
		n = poll(&p, 1, (int)(wait * 1000));
	while (n < 0 && errno == EINTR);
	if (n != 1)
		tap_bail("no client connected to %s:%d in %.0f s", opt.addr, opt.port, wait);
	sock = accept4(p.fd, NULL, NULL, SOCK_CLOEXEC);
	if (sock < 0)
		tap_bail("accept: %s", strerror(errno));
	close(p.fd);
	sock_opts(sock);
}

/* One non-blocking connect to SA, for at most LEFT seconds.  fd or -1. */
static int tcp_try(const struct sockaddr_in *sa, double left)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), err = 0;
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	socklen_t el = sizeof(err);

	if (fd < 0)
		return -1;
	if (left < 0.01)
		left = 0.01;
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) && errno != EINPROGRESS)
		goto fail;
	if (poll(&p, 1, (int)(left * 1000) + 1) != 1) {
		errno = ETIMEDOUT;
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) || err) {
		errno = err ? err : errno;
		goto fail;
	}
	if (fcntl(fd, F_SETFL, 0))
		goto fail;
	return fd;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

/* Connect to the server, trying again while it is not listening yet. */
static void tcp_connect(void)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *ai;
	double wait = 4 * opt.timeout, end = vu_now() + wait;
	struct sockaddr_in sa;
	int e;

	e = getaddrinfo(opt.host, NULL, &hints, &ai);
	if (e)
		tap_bail("--connect %s: %s", opt.host, gai_strerror(e));
	memcpy(&sa, ai->ai_addr, sizeof(sa));
	freeaddrinfo(ai);
	sa.sin_port = htons(opt.port);
	for (;;) {
		sock = tcp_try(&sa, end - vu_now());
		if (sock >= 0)
			break;
		if (vu_now() + 0.2 >= end)
			tap_bail("cannot connect to %s:%d in %.0f s: %s", opt.host, opt.port,
				 wait, strerror(errno));
		usleep(200000);
	}
	sock_opts(sock);
}

/* ---- device, GID, counters ---- */

static int gid_is_v4(const union ibv_gid *g)
{
	static const uint8_t pre[12] = { [10] = 0xff, [11] = 0xff };

	return !memcmp(g->raw, pre, sizeof(pre));
}

/* The GID index: -g, $RXE_GID_INDEX, or the RoCE v2 IPv4 GID of the socket. */
static int gid_auto(void)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int i, n4 = 0, last = -1, match = -1;

	if (getsockname(sock, (struct sockaddr *)&sa, &sl))
		tap_bail("getsockname: %s", strerror(errno));
	for (i = 0; i < port.gid_tbl_len; i++) {
		struct ibv_gid_entry e;

		if (ibv_query_gid_ex(c.ctx, 1, i, &e, 0) || e.gid_type != IBV_GID_TYPE_ROCE_V2 ||
		    !gid_is_v4(&e.gid))
			continue;
		n4++;
		last = i;
		if (!memcmp(e.gid.raw + 12, &sa.sin_addr, 4))
			match = i;
	}
	if (match >= 0)
		return match;
	if (n4 == 1)
		return last;
	tap_bail("%d RoCE v2 IPv4 GIDs on %s, none of them the control connection's %s: give -g",
		 n4, ibv_get_device_name(c.ctx->device), inet_ntoa(sa.sin_addr));
}

static void gid_pick(void)
{
	const char *env = getenv("RXE_GID_INDEX");
	char s[INET6_ADDRSTRLEN];
	static const union ibv_gid zero;

	if (opt.gid >= 0)
		c.gid_index = opt.gid;
	else if (env && *env)
		c.gid_index = atoi(env);
	else
		c.gid_index = gid_auto();
	if (ibv_query_gid(c.ctx, 1, c.gid_index, &c.gid) || !memcmp(&c.gid, &zero, sizeof(zero)))
		tap_bail("no GID at index %d of %s", c.gid_index, ibv_get_device_name(c.ctx->device));
	inet_ntop(AF_INET6, c.gid.raw, s, sizeof(s));
	tap_diag("%s: %s GID[%d] %s, odp %s%s", opt.server ? "server" : "client",
		 ibv_get_device_name(c.ctx->device), c.gid_index, s, odp_names[opt.odp],
		 opt.mutate ? ", mutate" : "");
}

static int cnt_filter(const struct dirent *d)
{
	return d->d_name[0] != '.' && strcmp(d->d_name, "lifespan");
}

/* The names of the device's hw counters (port 1), sorted. */
static void counters_list(void)
{
	struct dirent **list;
	char dir[256];
	int i, n;

	snprintf(dir, sizeof(dir), "/sys/class/infiniband/%s/ports/1/hw_counters",
		 ibv_get_device_name(c.ctx->device));
	n = scandir(dir, &list, cnt_filter, alphasort);
	for (i = 0; i < n; i++) {
		if (ncnt < NCNT && strlen(list[i]->d_name) < sizeof(cnt_name[0]))
			strcpy(cnt_name[ncnt++], list[i]->d_name);
		free(list[i]);
	}
	if (n >= 0)
		free(list);
}

static void counters_read(long long *v)
{
	int i;

	for (i = 0; i < ncnt; i++)
		v[i] = i ? vu_hw_counter_cached(c.ctx, cnt_name[i]) :
			   vu_hw_counter(c.ctx, cnt_name[i]);	/* waits out the cache */
}

/* "+N", the change of counter NAME over the run, in BUF; "n/a" if absent. */
static const char *delta_str(const char *name, char *buf)
{
	int i;

	for (i = 0; i < ncnt; i++)
		if (!strcmp(cnt_name[i], name)) {
			snprintf(buf, 32, "%+lld", cnt1[i] - cnt0[i]);
			return buf;
		}
	return "n/a";
}

/* ---- memory ---- */

static size_t region_len(void)
{
	size_t n = size > mtu_bytes() ? size : mtu_bytes();

	return ((TOFF + n + PG - 1) / PG + 1) * PG;
}

/* Map B at ADDR (MAP_FIXED) or anywhere (NULL).  The address, or NULL. */
static char *region_mmap(struct region *b, void *addr)
{
	int flags = b->fd >= 0 ? MAP_SHARED : MAP_PRIVATE | MAP_ANONYMOUS;
	void *p;

	if (addr)
		flags |= MAP_FIXED;
	p = mmap(addr, b->len, PROT_READ | PROT_WRITE, flags, b->fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

static int region_map(struct region *b, size_t len, int shared)
{
	b->len = len;
	b->fd = -1;
	if (shared) {
		b->fd = memfd_create("odp_wire", MFD_CLOEXEC);
		if (b->fd < 0 || ftruncate(b->fd, len))
			return -1;
	}
	b->p = region_mmap(b, NULL);
	return b->p ? 0 : -1;
}

static int region_reg(struct region *b, unsigned int extra)
{
	if (opt.odp == ODP_IMPLICIT)
		return 0;
	b->mr = ibv_reg_mr(c.pd, b->p, b->len, ACC | extra |
			   (opt.odp ? IBV_ACCESS_ON_DEMAND : 0));
	return b->mr ? 0 : -1;
}

static struct ibv_mr *mr_of(struct region *b)
{
	return b->mr ? b->mr : imr;
}

static void region_free(struct region *b)
{
	if (b->mr)
		ibv_dereg_mr(b->mr);
	if (b->p)
		munmap(b->p, b->len);
	if (b->fd >= 0)
		close(b->fd);
	memset(b, 0, sizeof(*b));
	b->fd = -1;
}

/*
 * --mutate: drop the pages of B, by MADV_DONTNEED and by munmap + mmap at
 * the same address in turn.  The ODP MR stays; a memfd keeps its data.
 */
static void mutate(struct region *b)
{
	if ((ndontneed + nremap) % 2 == 0) {
		if (madvise(b->p, b->len, MADV_DONTNEED))
			tap_bail("madvise(MADV_DONTNEED): %s", strerror(errno));
		ndontneed++;
		return;
	}
	if (munmap(b->p, b->len) || region_mmap(b, b->p) != b->p)
		tap_bail("munmap + mmap(MAP_FIXED) at %p: %s", (void *)b->p, strerror(errno));
	nremap++;
}

/*
 * --churn: a thread drops the pages of the region it is given over and
 * over, until it is given NULL: churn(B) starts it on B, churn(NULL)
 * stops it and returns once it is idle.  B is a memfd mapping, so that
 * the data survive; mmap(MAP_FIXED) replaces the mapping in one step,
 * with no moment without a VMA at B's address.
 */
static pthread_mutex_t churn_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t churn_cond = PTHREAD_COND_INITIALIZER;
static struct region *churn_b;
static int churn_busy;

static void *churn_thread(void *arg)
{
	struct region *b;
	unsigned long i = 0;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&churn_lock);
		churn_busy = 0;
		pthread_cond_broadcast(&churn_cond);
		while (!churn_b)
			pthread_cond_wait(&churn_cond, &churn_lock);
		b = churn_b;
		churn_busy = 1;
		pthread_mutex_unlock(&churn_lock);
		if (i++ % 2 == 0) {
			if (madvise(b->p, b->len, MADV_DONTNEED))
				tap_bail("churn: madvise(MADV_DONTNEED): %s", strerror(errno));
		} else if (region_mmap(b, b->p) != b->p) {
			tap_bail("churn: mmap(MAP_FIXED) at %p: %s", (void *)b->p, strerror(errno));
		}
		__atomic_add_fetch(&nchurn, 1, __ATOMIC_RELAXED);
		usleep(opt.churn);
	}
	return NULL;
}

static void churn(struct region *b)
{
	pthread_mutex_lock(&churn_lock);
	churn_b = b;
	pthread_cond_broadcast(&churn_cond);
	while (!b && churn_busy)
		pthread_cond_wait(&churn_cond, &churn_lock);
	pthread_mutex_unlock(&churn_lock);
}

/* ---- capabilities ---- */

static uint32_t tcaps(enum ibv_qp_type t)
{
	struct ibv_odp_caps *o = &dattr.odp_caps;

	if (t == IBV_QPT_UC)
		return o->per_transport_caps.uc_odp_caps;
	return t == IBV_QPT_UD ? o->per_transport_caps.ud_odp_caps :
				 o->per_transport_caps.rc_odp_caps;
}

static const char *qpt_name(enum ibv_qp_type t)
{
	return t == IBV_QPT_RC ? "RC" : t == IBV_QPT_UC ? "UC" : "UD";
}

static const char *cap_names(uint32_t caps)
{
	static const char *const names[] = {
		"SEND", "RECV", "WRITE", "READ", "ATOMIC", "SRQ_RECV", "FLUSH", "ATOMIC_WRITE"
	};
	static char s[128];
	unsigned int i;

	s[0] = 0;
	for (i = 0; i < 8; i++)
		if (caps & (1u << i))
			snprintf(s + strlen(s), sizeof(s) - strlen(s), "%s%s", s[0] ? "+" : "",
				 names[i]);
	return s;
}

/* Can this side take part in OP?  ST_OK, or ST_SKIP with the reason. */
static int cannot(int op, int server, char *why)
{
	const char *dev = ibv_get_device_name(c.ctx->device);
	enum ibv_qp_type t = ops[op].qpt;
	uint32_t need, have;

	if ((op == OP_FAA || op == OP_CAS) && dattr.orig_attr.atomic_cap == IBV_ATOMIC_NONE)
		return failf(why, ST_SKIP, "%s has no atomics", dev);
	if (op == OP_AWRITE && !(dattr.device_cap_flags_ex & DEV_ATOMIC_WRITE))
		return failf(why, ST_SKIP, "%s does not report ATOMIC WRITE", dev);
	if (op == OP_FLUSH && !(dattr.device_cap_flags_ex & DEV_FLUSH_GLOBAL))
		return failf(why, ST_SKIP, "%s does not report global visibility FLUSH", dev);
	if (op == OP_SRQ_SEND && server && !dattr.orig_attr.max_srq)
		return failf(why, ST_SKIP, "%s has no SRQ", dev);
	if (opt.odp == ODP_OFF)
		return ST_OK;
	if (opt.odp == ODP_IMPLICIT && !imr)
		return failf(why, ST_SKIP, "%s reports no implicit ODP (IBV_ODP_SUPPORT_IMPLICIT)",
			     dev);
	if (op == OP_FLUSH && server && opt.odp == ODP_IMPLICIT && !imr_flush)
		return failf(why, ST_SKIP, "the implicit ODP MR was refused IBV_ACCESS_FLUSH_GLOBAL");
	need = server ? ops[op].srv_cap : ops[op].cli_cap;
	have = tcaps(t);
	if ((have & need) != need)
		return failf(why, ST_SKIP, "%s: no %s ODP support for %s (%s odp caps %#x)",
			     dev, qpt_name(t), cap_names(need & ~have), qpt_name(t), have);
	return ST_OK;
}

/* --odp: bail out without ODP; register the implicit MR. */
static void odp_setup(void)
{
	uint64_t gen = dattr.odp_caps.general_caps;
	unsigned int acc = ACC | IBV_ACCESS_ON_DEMAND;

	if (opt.odp == ODP_OFF)
		return;
	if (!(gen & IBV_ODP_SUPPORT))
		tap_bail("--odp %s: %s reports no ODP support (general_caps %#llx): a kernel without rxe ODP",
			 odp_names[opt.odp], ibv_get_device_name(c.ctx->device),
			 (unsigned long long)gen);
	if (opt.odp != ODP_IMPLICIT || !(gen & IBV_ODP_SUPPORT_IMPLICIT))
		return;
	if (dattr.device_cap_flags_ex & DEV_FLUSH_GLOBAL) {
		imr = ibv_reg_mr(c.pd, NULL, SIZE_MAX, acc | ACCESS_FLUSH_GLOBAL);
		imr_flush = imr != NULL;
	}
	if (!imr)
		imr = ibv_reg_mr(c.pd, NULL, SIZE_MAX, acc);
	if (!imr)
		tap_bail("implicit ODP MR: %s", strerror(errno));
}

/* ---- the provider's send queue, for FLUSH (rdma-core 44 has no ibv_wr_flush) ---- */

/* Find the SQ of E's QP (MAX_SGE per WQE).  NULL, or what does not fit. */
static const char *sq_find(struct ep *e, unsigned int max_sge)
{
	struct prov_qp *pq = (struct prov_qp *)e->qp;
	struct rxe_queue_buf *q = pq->sq.queue;
	uint64_t slots, len;
	unsigned char v;

	if (!pq->sq_mmap_info.size || pq->sq_mmap_info.size % PG || !q || (uintptr_t)q % PG ||
	    mincore(q, PG, &v))
		return "no mapped queue where rdma-core 44's struct rxe_qp has the SQ";
	if (q->log2_elem_size < 5 || q->log2_elem_size > 16 ||
	    (1u << q->log2_elem_size) < sizeof(struct rxe_send_wqe))
		return "the SQ element size does not fit";
	slots = (uint64_t)q->index_mask + 1;
	len = (sizeof(*q) + (slots << q->log2_elem_size) + PG - 1) / PG * PG;
	if (slots & (slots - 1) || slots < DEPTH || len != pq->sq_mmap_info.size ||
	    pq->sq.max_sge != max_sge)
		return "the SQ size does not fit";
	e->sq = q;
	return NULL;
}

static struct rxe_send_wqe *sq_slot(struct ep *e, uint32_t index)
{
	return (struct rxe_send_wqe *)(e->sq->data +
		((size_t)(index & e->sq->index_mask) << e->sq->log2_elem_size));
}

/* ---- QPs ---- */

static int ep_qp(struct ep *e, int server, char *why)
{
	struct ibv_qp_init_attr_ex ia;
	int op = e->op;
	const char *bad;

	memset(&ia, 0, sizeof(ia));
	ia.qp_type = ops[op].qpt;
	ia.send_cq = e->cq;
	ia.recv_cq = e->cq;
	ia.srq = e->srq;
	ia.sq_sig_all = 1;
	ia.cap.max_send_wr = DEPTH;
	ia.cap.max_send_sge = 1;
	ia.cap.max_recv_wr = e->srq ? 0 : DEPTH;
	ia.cap.max_recv_sge = e->srq ? 0 : 1;
	ia.comp_mask = IBV_QP_INIT_ATTR_PD;
	ia.pd = c.pd;
	if (!server && (op == OP_AWRITE || op == OP_FLUSH)) {
		ia.comp_mask |= IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
		ia.send_ops_flags = op == OP_AWRITE ? IBV_QP_EX_WITH_ATOMIC_WRITE :
						      IBV_QP_EX_WITH_RDMA_WRITE;
	}
	e->qp = ibv_create_qp_ex(c.ctx, &ia);
	if (!e->qp && op == OP_AWRITE && !server && (errno == EOPNOTSUPP || errno == EINVAL))
		return failf(why, ST_SKIP, "the provider makes no QP with IBV_QP_EX_WITH_ATOMIC_WRITE (%s)",
			     strerror(errno));
	if (!e->qp)
		return failf(why, ST_FAIL, "create the %s QP: %s", qpt_name(ia.qp_type),
			     strerror(errno));
	if (!server && op == OP_FLUSH) {
		bad = sq_find(e, ia.cap.max_send_sge);
		if (bad)
			return failf(why, ST_SKIP, "cannot post a FLUSH WQE: %s", bad);
	}
	return ST_OK;
}

static int qp_init(struct ep *e, int server)
{
	enum ibv_qp_type t = ops[e->op].qpt;
	int mask = IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT;
	struct ibv_qp_attr a;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_INIT;
	a.port_num = 1;
	if (t == IBV_QPT_UD) {
		a.qkey = QKEY;
		mask |= IBV_QP_QKEY;
	} else {
		a.qp_access_flags = t == IBV_QPT_UC ?
			IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE : ACC;
		if (server && e->op == OP_FLUSH)
			a.qp_access_flags |= ACCESS_FLUSH_GLOBAL;
		mask |= IBV_QP_ACCESS_FLAGS;
	}
	return ibv_modify_qp(e->qp, &a, mask);
}

/* RTR and RTS towards the peer of E. */
static int qp_connect(struct ep *e)
{
	enum ibv_qp_type t = ops[e->op].qpt;
	struct ibv_qp_attr a;
	int mask = IBV_QP_STATE;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	if (t != IBV_QPT_UD) {
		a.path_mtu = path_mtu;
		a.dest_qp_num = e->peer.qpn;
		a.rq_psn = e->peer.psn;
		a.ah_attr.is_global = 1;
		a.ah_attr.grh.dgid = e->peer.gid;
		a.ah_attr.grh.sgid_index = c.gid_index;
		a.ah_attr.grh.hop_limit = HOP_LIMIT;
		a.ah_attr.port_num = 1;
		mask |= IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN;
	}
	if (t == IBV_QPT_RC) {
		a.max_dest_rd_atomic = 4;
		a.min_rnr_timer = MIN_RNR_TIMER;
		mask |= IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER;
	}
	if (ibv_modify_qp(e->qp, &a, mask))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.sq_psn = e->psn;
	mask = IBV_QP_STATE | IBV_QP_SQ_PSN;
	if (t == IBV_QPT_RC) {
		a.timeout = ACK_TIMEOUT;
		a.retry_cnt = 7;
		a.rnr_retry = opt.rnr_retry;
		a.max_rd_atomic = 4;
		mask |= IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
			IBV_QP_MAX_QP_RD_ATOMIC;
	}
	return ibv_modify_qp(e->qp, &a, mask);
}

/* This side's memory, CQ, SRQ and QP (in INIT) for E->op. */
static int ep_create(struct ep *e, int server, char *why)
{
	int op = e->op, st = cannot(op, server, why);

	if (st)
		return st;
	if (region_map(&e->buf, region_len(), server && (ops[op].shared || opt.churn)))
		return failf(why, ST_FAIL, "mmap %zu bytes: %s", region_len(), strerror(errno));
	if (region_reg(&e->buf, server && op == OP_FLUSH ? ACCESS_FLUSH_GLOBAL : 0))
		return failf(why, ST_FAIL, "register an MR (odp %s) of %zu bytes: %s",
			     odp_names[opt.odp], e->buf.len, strerror(errno));
	e->cq = ibv_create_cq(c.ctx, 2 * DEPTH, NULL, NULL, 0);
	if (!e->cq)
		return failf(why, ST_FAIL, "ibv_create_cq: %s", strerror(errno));
	if (server && op == OP_SRQ_SEND) {
		struct ibv_srq_init_attr sa = { .attr = { .max_wr = DEPTH, .max_sge = 1 } };

		e->srq = ibv_create_srq(c.pd, &sa);
		if (!e->srq)
			return failf(why, ST_FAIL, "ibv_create_srq: %s", strerror(errno));
	}
	st = ep_qp(e, server, why);
	if (st)
		return st;
	if (qp_init(e, server))
		return failf(why, ST_FAIL, "modify the QP to INIT: %s", strerror(errno));
	e->psn = (uint32_t)lrand48() & 0xffffff;
	return ST_OK;
}

static int ep_connect(struct ep *e, int server, char *why)
{
	struct ibv_ah_attr ah;

	if (qp_connect(e))
		return failf(why, ST_FAIL, "modify the %s QP to RTR and RTS: %s",
			     qpt_name(ops[e->op].qpt), strerror(errno));
	if (server || ops[e->op].qpt != IBV_QPT_UD)
		return ST_OK;
	memset(&ah, 0, sizeof(ah));
	ah.is_global = 1;
	ah.grh.dgid = e->peer.gid;
	ah.grh.sgid_index = c.gid_index;
	ah.grh.hop_limit = HOP_LIMIT;
	ah.port_num = 1;
	e->ah = ibv_create_ah(c.pd, &ah);
	return e->ah ? ST_OK : failf(why, ST_FAIL, "ibv_create_ah: %s", strerror(errno));
}

static void ep_destroy(struct ep *e)
{
	if (e->ah)
		ibv_destroy_ah(e->ah);
	if (e->qp)
		ibv_destroy_qp(e->qp);
	if (e->srq)
		ibv_destroy_srq(e->srq);
	if (e->cq)
		ibv_destroy_cq(e->cq);
	region_free(&e->buf);
}

static void ep_zero(struct ep *e, int op)
{
	memset(e, 0, sizeof(*e));
	e->op = op;
	e->buf.fd = -1;
}

static void peer_get(struct peer *p, const struct wmsg *m)
{
	p->qpn = m->qpn;
	p->psn = m->psn;
	p->qkey = m->qkey;
	p->rkey = m->rkey;
	p->addr = m->addr;
	p->len = m->len;
	memcpy(p->gid.raw, m->gid, 16);
}

static void peer_put(struct wmsg *m, const struct ep *e)
{
	m->qpn = e->qp->qp_num;
	m->psn = e->psn;
	m->qkey = QKEY;
	memcpy(m->gid, c.gid.raw, 16);
}

/* ---- completions ---- */

static const char *wc_str(int st)
{
	return ibv_wc_status_str((enum ibv_wc_status)st);
}

/* Check the completion of WR_ID (N from vu_poll), of opcode OPC if >= 0. */
static int wc_check(int n, const struct ibv_wc *wc, uint64_t id, int opc, char *why)
{
	if (n < 0)
		return failf(why, ST_FAIL, "ibv_poll_cq failed");
	if (!n)
		return failf(why, ST_FAIL, "no completion in %g s", opt.timeout);
	if (wc->status != IBV_WC_SUCCESS)
		return failf(why, ST_FAIL, "completion status %s (%d)", wc_str(wc->status),
			     wc->status);
	if (wc->wr_id != id)
		return failf(why, ST_FAIL, "completion of wr_id %llu, want %llu",
			     (unsigned long long)wc->wr_id, (unsigned long long)id);
	if (opc >= 0 && (int)wc->opcode != opc)
		return failf(why, ST_FAIL, "completion opcode %d, want %d", wc->opcode, opc);
	return ST_OK;
}

static int poll1(struct ep *e, uint64_t id, int opc, double *secs, double t0, char *why)
{
	struct ibv_wc wc;
	int n = vu_poll(e->cq, &wc, opt.timeout);

	*secs += vu_now() - t0;
	return wc_check(n, &wc, id, opc, why);
}

/* ---- the client's side of a round ---- */

/* Post one work request OPC from [P, P + LEN) and wait for it. */
static int cli_post(struct ep *e, enum ibv_wr_opcode opc, char *p, uint32_t len,
		    uint64_t cmp, uint64_t swp, double *secs, char *why)
{
	struct ibv_sge sge = { (uintptr_t)p, len, mr_of(&e->buf)->lkey };
	struct ibv_send_wr wr, *bad;
	double t0;

	memset(&wr, 0, sizeof(wr));
	wr.wr_id = ++e->wrid;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = opc;
	wr.send_flags = IBV_SEND_SIGNALED;
	if (ops[e->op].qpt == IBV_QPT_UD) {
		wr.wr.ud.ah = e->ah;
		wr.wr.ud.remote_qpn = e->peer.qpn;
		wr.wr.ud.remote_qkey = e->peer.qkey;
	} else if (opc == IBV_WR_ATOMIC_FETCH_AND_ADD || opc == IBV_WR_ATOMIC_CMP_AND_SWP) {
		wr.wr.atomic.remote_addr = e->peer.addr;
		wr.wr.atomic.rkey = e->peer.rkey;
		wr.wr.atomic.compare_add = cmp;
		wr.wr.atomic.swap = swp;
	} else {
		wr.wr.rdma.remote_addr = e->peer.addr;
		wr.wr.rdma.rkey = e->peer.rkey;
	}
	t0 = vu_now();
	if (ibv_post_send(e->qp, &wr, &bad))
		return failf(why, ST_FAIL, "ibv_post_send: %s", strerror(errno));
	return poll1(e, wr.wr_id, -1, secs, t0, why);
}

static int cli_atomic(struct ep *e, unsigned int seed, double *secs, char *why)
{
	uint64_t *res = (uint64_t *)(e->buf.p + ROFF), want = val0(seed), got;
	int faa = e->op == OP_FAA, st;

	*res = ~want;
	st = cli_post(e, faa ? IBV_WR_ATOMIC_FETCH_AND_ADD : IBV_WR_ATOMIC_CMP_AND_SWP,
		      (char *)res, 8, faa ? addend(seed) : want, swapv(seed), secs, why);
	if (st)
		return st;
	got = *(volatile uint64_t *)res;
	if (got != want)
		return failf(why, ST_FAIL, "original value returned %#llx, want %#llx",
			     (unsigned long long)got, (unsigned long long)want);
	return ST_OK;
}

static int cli_awrite(struct ep *e, unsigned int seed, double *secs, char *why)
{
	struct ibv_qp_ex *x = ibv_qp_to_qp_ex(e->qp);
	uint64_t v = awval(seed), id = ++e->wrid;
	double t0 = vu_now();

	ibv_wr_start(x);
	x->wr_id = id;
	x->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_atomic_write(x, e->peer.rkey, e->peer.addr, &v);
	if (ibv_wr_complete(x))
		return failf(why, ST_FAIL, "ibv_wr_complete: %s", strerror(errno));
	return poll1(e, id, IBV_WC_ATOMIC_WRITE, secs, t0, why);
}

/*
 * Through the ex QP API, an RDMA WRITE of [P, P + LEN) (FLUSH 0), or a
 * FLUSH of LEN bytes made of the slot that the write fills (FLUSH 1):
 * ibv_wr_start() holds the SQ lock, ibv_wr_complete() publishes the slot.
 * ST_SKIP if the slot filled is not where the SQ was found.
 */
static int cli_sq_post(struct ep *e, char *p, uint32_t len, int flush, double *secs,
		       char *why)
{
	struct ibv_qp_ex *x = ibv_qp_to_qp_ex(e->qp);
	uint64_t id = ++e->wrid;
	struct rxe_send_wqe *w;
	struct flush_wr *f;
	double t0;

	ibv_wr_start(x);
	w = sq_slot(e, __atomic_load_n(&e->sq->producer_index, __ATOMIC_ACQUIRE));
	x->wr_id = id;
	x->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_rdma_write(x, e->peer.rkey, e->peer.addr);
	ibv_wr_set_sge(x, mr_of(&e->buf)->lkey, (uintptr_t)p, flush ? 0 : len);
	if (w->wr.wr_id != id || w->wr.opcode != IBV_WR_RDMA_WRITE ||
	    w->wr.wr.rdma.remote_addr != e->peer.addr) {
		ibv_wr_abort(x);
		return failf(why, ST_SKIP, "the WQE posted is not in the SQ found: cannot post a FLUSH");
	}
	if (flush) {
		w->wr.opcode = WR_FLUSH;
		f = (struct flush_wr *)&w->wr.wr;
		f->remote_addr = e->peer.addr;
		f->length = len;
		f->rkey = e->peer.rkey;
		f->type = FLUSH_TYPE_GLOBAL;
		f->level = FLUSH_LEVEL_RANGE;
		w->iova = e->peer.addr;
		w->dma.length = len;
		w->dma.resid = len;
		w->dma.num_sge = 0;
		w->dma.cur_sge = 0;
		w->dma.sge_offset = 0;
	}
	t0 = vu_now();
	if (ibv_wr_complete(x))
		return failf(why, ST_FAIL, "ibv_wr_complete: %s", strerror(errno));
	return poll1(e, id, flush ? WC_FLUSH : IBV_WC_RDMA_WRITE, secs, t0, why);
}

/* The client's part of round SEED of E->op: ST_* and the reason. */
static int cli_do(struct ep *e, unsigned int seed, double *secs, char *why)
{
	char *p = e->buf.p + SOFF;
	uint32_t n = payload(e->op);
	long bad;
	int st;

	switch (e->op) {
	case OP_SEND:
	case OP_SRQ_SEND:
	case OP_UC_SEND:
	case OP_UD_SEND:
		vu_fill(p, n, seed);
		return cli_post(e, IBV_WR_SEND, p, n, 0, 0, secs, why);
	case OP_WRITE:
	case OP_UC_WRITE:
		vu_fill(p, n, seed);
		return cli_post(e, IBV_WR_RDMA_WRITE, p, n, 0, 0, secs, why);
	case OP_READ:
		st = cli_post(e, IBV_WR_RDMA_READ, p, n, 0, 0, secs, why);
		if (st)
			return st;
		bad = vu_mismatch(p, n, seed);
		return bad < 0 ? ST_OK : failf(why, ST_FAIL, "data read: mismatch at byte %ld of %u",
					       bad, n);
	case OP_FAA:
	case OP_CAS:
		return cli_atomic(e, seed, secs, why);
	case OP_AWRITE:
		return cli_awrite(e, seed, secs, why);
	case OP_FLUSH:
		vu_fill(p, n, seed);
		st = cli_sq_post(e, p, n, 0, secs, why);
		return st ? st : cli_sq_post(e, p, n, 1, secs, why);
	}
	return failf(why, ST_FAIL, "no such op");
}

/* ---- the server's side of a round ---- */

static int post_recv(struct ep *e, char *p, uint32_t len)
{
	struct ibv_sge sge = { (uintptr_t)p, len, mr_of(&e->buf)->lkey };
	struct ibv_recv_wr wr = { .wr_id = ++e->wrid, .sg_list = &sge, .num_sge = 1 }, *bad;

	if (e->srq)
		return ibv_post_srq_recv(e->srq, &wr, &bad);
	return ibv_post_recv(e->qp, &wr, &bad);
}

/* Before round SEED: fill or clear the target, post the receive, drop. */
static int srv_prep(struct ep *e, unsigned int seed, char *why)
{
	struct region *b = &e->buf;
	uint32_t n = payload(e->op), lo = TOFF;
	uint64_t v = val0(seed);

	if (e->op == OP_READ) {
		vu_fill(b->p + TOFF, n, seed);
	} else if (ops[e->op].shared) {
		vu_fill(b->p, b->len, seed);
		memcpy(b->p + AOFF, &v, 8);
	} else {
		memset(b->p, 0, b->len);
	}
	if (e->op == OP_UD_SEND)
		lo -= GRH_LEN;
	if (is_send(e->op) && post_recv(e, b->p + lo, TOFF + n - lo))
		return failf(why, ST_FAIL, "post a receive: %s", strerror(errno));
	if (opt.mutate)
		mutate(b);
	return ST_OK;
}

static long zero_bad(const char *p, size_t from, size_t to)
{
	size_t i;

	for (i = from; i < to; i++)
		if (p[i])
			return (long)i;
	return -1;
}

/* The first byte of [FROM, TO) of P that is not the pattern of SEED. */
static long pat_bad(const char *p, size_t from, size_t to, unsigned int seed)
{
	size_t i;

	for (i = from; i < to; i++)
		if (p[i] != vu_pattern(i, seed))
			return (long)i;
	return -1;
}

/* A message of round SEED at TOFF, zeroes around it (but the GRH). */
static int msg_check(struct ep *e, unsigned int seed, char *why)
{
	const char *p = e->buf.p;
	uint32_t n = payload(e->op);
	size_t lo = e->op == OP_UD_SEND ? TOFF - GRH_LEN : TOFF;
	long bad = vu_mismatch(p + TOFF, n, seed);

	if (bad >= 0)
		return failf(why, ST_FAIL, "data mismatch at byte %ld of %u", bad, n);
	bad = zero_bad(p, 0, lo);
	if (bad < 0)
		bad = zero_bad(p, TOFF + n, e->buf.len);
	if (bad >= 0)
		return failf(why, ST_FAIL, "byte %ld of the target buffer, outside the %u bytes at %u, written",
			     bad, n, TOFF);
	return ST_OK;
}

/* The receive completion of a send of round SEED. */
static int srv_recv(struct ep *e, char *why)
{
	enum ibv_qp_type t = ops[e->op].qpt;
	uint32_t want = payload(e->op) + (t == IBV_QPT_UD ? GRH_LEN : 0);
	struct ibv_wc wc;
	int n = vu_poll(e->cq, &wc, opt.timeout);

	if (!n && t != IBV_QPT_RC)
		return failf(why, ST_FAIL, "%s message lost (no receive completion in %g s)",
			     t == IBV_QPT_UC ? "uc" : "ud", opt.timeout);
	n = wc_check(n, &wc, e->wrid, IBV_WC_RECV, why);
	if (n)
		return n;
	if (wc.byte_len != want)
		return failf(why, ST_FAIL, "received %u bytes, want %u", wc.byte_len, want);
	return ST_OK;
}

/*
 * UC write: nothing completes on the server; wait for the bytes to land.
 * The target was cleared: still all zero at the deadline, nothing came.
 */
static int uc_wait(struct ep *e, unsigned int seed, char *why)
{
	double end = vu_now() + opt.timeout;
	uint32_t n = payload(e->op);
	long bad;

	while ((bad = vu_mismatch(e->buf.p + TOFF, n, seed)) >= 0 && vu_now() < end)
		usleep(200);
	if (bad >= 0 && zero_bad(e->buf.p, TOFF, TOFF + n) < 0)
		return failf(why, ST_FAIL, "uc message lost (nothing written in %g s)", opt.timeout);
	if (bad >= 0)
		return failf(why, ST_FAIL, "data mismatch at byte %ld of %u (after %g s)", bad, n,
			     opt.timeout);
	return msg_check(e, seed, why);
}

static int atomic_check(struct ep *e, unsigned int seed, char *why)
{
	const char *p = e->buf.p;
	uint64_t got, want = atomic_final(e->op, seed);
	long bad;

	memcpy(&got, p + AOFF, 8);
	if (got != want)
		return failf(why, ST_FAIL, "word at byte %u is %#llx, want %#llx", AOFF,
			     (unsigned long long)got, (unsigned long long)want);
	bad = pat_bad(p, 0, AOFF, seed);
	if (bad < 0)
		bad = pat_bad(p, AOFF + 8, e->buf.len, seed);
	if (bad >= 0)
		return failf(why, ST_FAIL, "byte %ld next to the word changed", bad);
	return ST_OK;
}

/* After the client's DONE of round SEED: the server's verdict. */
static int srv_verify(struct ep *e, unsigned int seed, char *why)
{
	long bad;
	int st;

	switch (e->op) {
	case OP_SEND:
	case OP_SRQ_SEND:
	case OP_UC_SEND:
	case OP_UD_SEND:
		st = srv_recv(e, why);
		return st ? st : msg_check(e, seed, why);
	case OP_WRITE:
	case OP_FLUSH:
		return msg_check(e, seed, why);
	case OP_UC_WRITE:
		return uc_wait(e, seed, why);
	case OP_READ:
		bad = vu_mismatch(e->buf.p + TOFF, size, seed);
		return bad < 0 ? ST_OK :
			failf(why, ST_FAIL, "the READ source changed at byte %ld", bad);
	case OP_FAA:
	case OP_CAS:
	case OP_AWRITE:
		return atomic_check(e, seed, why);
	}
	return failf(why, ST_FAIL, "no such op");
}

/* ---- rounds and ops ---- */

static void result_ok(struct result *r, int op, int rd, double secs)
{
	r->t[rd] = secs;
	r->total += secs;
	r->rounds++;
	r->bytes += payload(op);
}

static void result_fail(struct result *r, int st, int rd, const char *who, const char *why)
{
	r->st = st;
	snprintf(r->why, sizeof(r->why), "round %d: %s%s", rd, who, why);
}

static void report(int op)
{
	struct result *r = &res[op];

	if (r->st == ST_SKIP)
		tap_skip(r->why, ops[op].name);
	else if (r->st == ST_OK)
		tap_ok(1, "%s: %d rounds of %u bytes: %s, %s", ops[op].name, r->rounds,
		       payload(op), ops[op].what,
		       opt.server ? "verified here" : "completed and checked");
	else
		tap_ok(0, "%s: %s", ops[op].name, r->why);
}

static void client_round(struct ep *e, struct result *r, int rd)
{
	unsigned int seed = seed_of(e->op, rd);
	char why[WHY_LEN] = "";
	struct wmsg m, a;
	double secs = 0;
	int st;

	msg_init(&m, M_PREP, e->op);
	m.round = rd;
	m.seed = seed;
	msg_send(&m);
	msg_recv(&a, M_READY, e->op);
	if (a.status != ST_OK) {
		result_fail(r, a.status, rd, "server: ", a.text);
		return;
	}
	st = cli_do(e, seed, &secs, why);
	msg_init(&m, M_DONE, e->op);
	m.round = rd;
	m.seed = seed;
	m.status = st;
	snprintf(m.text, sizeof(m.text), "%s", why);
	msg_send(&m);
	msg_recv(&a, M_RESULT, e->op);
	if (st != ST_OK)
		result_fail(r, st, rd, "", why);
	else if (a.status != ST_OK)
		result_fail(r, a.status, rd, "server: ", a.text);
	else
		result_ok(r, e->op, rd, secs);
}

/* The client could not start OP after the server's SETUP: tell it. */
static void client_abort(int op, struct result *r)
{
	struct wmsg m, a;

	msg_init(&m, M_PREP, op);
	m.status = r->st;
	snprintf(m.text, sizeof(m.text), "%s", r->why);
	msg_send(&m);
	msg_recv(&a, M_READY, op);
}

static void client_op(int op)
{
	struct result *r = &res[op];
	struct wmsg m, a;
	struct ep e;
	int rd;

	ep_zero(&e, op);
	r->st = ep_create(&e, 0, r->why);
	msg_init(&m, M_SETUP, op);
	m.status = r->st;
	snprintf(m.text, sizeof(m.text), "%s", r->why);
	if (r->st == ST_OK)
		peer_put(&m, &e);
	msg_send(&m);
	msg_recv(&a, M_SETUP, op);
	if (r->st == ST_OK && a.status != ST_OK) {
		r->st = a.status;
		snprintf(r->why, sizeof(r->why), "server: %s", a.text);
	} else if (r->st == ST_OK) {
		peer_get(&e.peer, &a);
		r->st = ep_connect(&e, 0, r->why);
		if (r->st)
			client_abort(op, r);
	}
	for (rd = 0; rd < rounds && r->st == ST_OK; rd++)
		client_round(&e, r, rd);
	ep_destroy(&e);
	report(op);
}

static void server_round(struct ep *e, struct result *r, int rd)
{
	char why[WHY_LEN] = "";
	struct wmsg m, a;
	unsigned int seed;
	double t0;
	int st;

	msg_recv(&m, M_PREP, e->op);
	msg_init(&a, M_READY, e->op);
	if (m.status != ST_OK) {
		result_fail(r, m.status, rd, "client: ", m.text);
		a.status = m.status;
		msg_send(&a);
		return;
	}
	seed = m.seed;
	a.status = srv_prep(e, seed, why);
	snprintf(a.text, sizeof(a.text), "%s", why);
	msg_send(&a);
	if (a.status != ST_OK) {
		result_fail(r, a.status, rd, "", why);
		return;
	}
	t0 = vu_now();
	if (opt.churn)
		churn(&e->buf);
	msg_recv(&m, M_DONE, e->op);
	if (opt.churn)
		churn(NULL);
	st = m.status == ST_OK ? srv_verify(e, seed, why) : (int)m.status;
	msg_init(&a, M_RESULT, e->op);
	a.status = st;
	snprintf(a.text, sizeof(a.text), "%s", m.status == ST_OK ? why : "");
	msg_send(&a);
	if (m.status != ST_OK)
		result_fail(r, m.status, rd, "client: ", m.text);
	else if (st != ST_OK)
		result_fail(r, st, rd, "", why);
	else
		result_ok(r, e->op, rd, vu_now() - t0);
}

static void server_op(int op)
{
	struct result *r = &res[op];
	struct wmsg m, a;
	struct ep e;
	int rd;

	ep_zero(&e, op);
	msg_recv(&m, M_SETUP, op);
	msg_init(&a, M_SETUP, op);
	if (m.status != ST_OK) {
		r->st = m.status;
		snprintf(r->why, sizeof(r->why), "client: %s", m.text);
		a.status = m.status;
		msg_send(&a);
		report(op);
		return;
	}
	peer_get(&e.peer, &m);
	r->st = ep_create(&e, 1, r->why);
	if (r->st == ST_OK)
		r->st = ep_connect(&e, 1, r->why);
	a.status = r->st;
	snprintf(a.text, sizeof(a.text), "%s", r->why);
	if (r->st == ST_OK) {
		peer_put(&a, &e);
		a.addr = (uintptr_t)e.buf.p + (ops[op].shared && op != OP_READ ? AOFF : TOFF);
		a.rkey = mr_of(&e.buf)->rkey;
		a.len = e.buf.len;
	}
	msg_send(&a);
	for (rd = 0; rd < rounds && r->st == ST_OK; rd++)
		server_round(&e, r, rd);
	ep_destroy(&e);
	report(op);
}

static void agree_mtu(uint32_t peer_mtu)
{
	path_mtu = port.active_mtu;
	if (peer_mtu >= IBV_MTU_256 && peer_mtu < (uint32_t)path_mtu)
		path_mtu = (enum ibv_mtu)peer_mtu;
}

/* Room for the seconds of every round, once the rounds are agreed. */
static void results_alloc(void)
{
	int op;

	for (op = 0; op < NOPS; op++) {
		res[op].t = calloc(rounds, sizeof(double));
		if (!res[op].t)
			tap_bail("out of memory");
	}
}

static int nops(unsigned int mask)
{
	return __builtin_popcount(mask);
}

/*
 * Both sides once the HELLOs agree: take the message size, the rounds and
 * the path MTU, then play every op of opt.mask in order with PLAY
 * (client_op or server_op), one TAP test point each.
 */
static void play_ops(size_t len, int nrounds, uint32_t peer_mtu, void (*play)(int op))
{
	int op;

	size = len;
	rounds = nrounds;
	agree_mtu(peer_mtu);
	results_alloc();
	tap_plan(nops(opt.mask));
	for (op = 0; op < NOPS; op++)
		if (opt.mask & (1u << op))
			play(op);
}

static void client_main(void)
{
	struct wmsg m, a;

	tcp_connect();
	gid_pick();
	msg_init(&m, M_HELLO, -1);
	m.mask = opt.mask;
	m.len = opt.size;
	m.rounds = opt.rounds;
	m.mtu = port.active_mtu;
	m.tmo_ms = opt.timeout * 1000;
	snprintf(m.text, sizeof(m.text), "odp %s", odp_names[opt.odp]);
	msg_send(&m);
	msg_recv(&a, M_HELLO, -1);
	peer_timeout = a.tmo_ms / 1000.0;
	if (a.status != ST_OK)
		tap_bail("the server refused: %s", a.text);
	tap_diag("server says: %s", a.text);
	play_ops(opt.size, opt.rounds, a.mtu, client_op);
	msg_init(&m, M_BYE, -1);
	msg_send(&m);
	msg_recv(&a, M_BYE, -1);
}

/* The client's HELLO: NULL if acceptable, else why not. */
static const char *hello_bad(const struct wmsg *m)
{
	if (!m->mask || m->mask >> NOPS)
		return "bad op list";
	if (m->len < 2 * PG || m->len > MAX_SIZE || !m->rounds || m->rounds > MAX_ROUNDS)
		return "bad size or rounds";
	if (opt.ops_set && m->mask != opt.mask)
		return "the op list differs from the server's --ops";
	if (opt.size_set && m->len != opt.size)
		return "the size differs from the server's --size";
	if (opt.rounds_set && m->rounds != (uint32_t)opt.rounds)
		return "the rounds differ from the server's --rounds";
	return NULL;
}

static void server_main(void)
{
	const char *bad;
	struct wmsg m, a;
	pthread_t th;

	/* before any fault: a fault holds the mmap lock a new thread needs */
	if (opt.churn && pthread_create(&th, NULL, churn_thread, NULL))
		tap_bail("pthread_create failed");
	tcp_listen();
	gid_pick();
	msg_recv(&m, M_HELLO, -1);
	peer_timeout = m.tmo_ms / 1000.0;
	bad = hello_bad(&m);
	msg_init(&a, M_HELLO, -1);
	a.status = bad ? ST_FAIL : ST_OK;
	a.mtu = port.active_mtu;
	a.tmo_ms = opt.timeout * 1000;
	snprintf(a.text, sizeof(a.text), "%s", bad ? bad : "ok");
	if (!bad)
		snprintf(a.text, sizeof(a.text), "%s odp %s%s%s",
			 ibv_get_device_name(c.ctx->device), odp_names[opt.odp],
			 opt.mutate ? ", mutate" : "", opt.churn ? ", churn" : "");
	msg_send(&a);
	if (bad)
		tap_bail("refused the client: %s", bad);
	tap_diag("client says: %s", m.text);
	opt.mask = m.mask;
	play_ops(m.len, m.rounds, m.mtu, server_op);
	msg_recv(&m, M_BYE, -1);
	msg_init(&a, M_BYE, -1);
	msg_send(&a);
}

/* ---- figures ---- */

static void jstr(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void fig_op(FILE *f, int op)
{
	static const char *const st[] = { "pass", "fail", "skip" };
	struct result *r = &res[op];
	double med = 0, max = 0;

	if (r->rounds) {
		qsort(r->t, r->rounds, sizeof(double), dcmp);
		med = r->rounds % 2 ? r->t[r->rounds / 2] :
			(r->t[r->rounds / 2 - 1] + r->t[r->rounds / 2]) / 2;
		max = r->t[r->rounds - 1];
	}
	fprintf(f, "\"%s\":{\"result\":\"%s\",\"rounds\":%d,\"bytes\":%llu,\"seconds\":%.6f,"
		"\"median\":%.6f,\"max\":%.6f", ops[op].name, st[r->st], r->rounds,
		(unsigned long long)r->bytes, r->total, med, max);
	if (r->st != ST_OK) {
		fprintf(f, ",\"reason\":");
		jstr(f, r->why);
	}
	fputc('}', f);
}

static void fig_counters(FILE *f, const char *name, const long long *a, const long long *b)
{
	int i;

	fprintf(f, ",\"%s\":{", name);
	for (i = 0; i < ncnt; i++)
		fprintf(f, "%s\"%s\":%lld", i ? "," : "", cnt_name[i], b ? b[i] - a[i] : a[i]);
	fputc('}', f);
}

/* The figures as one line of JSON (malloc'ed). */
static char *figures(double elapsed)
{
	char *s = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&s, &n);
	int op, first = 1;

	if (!f)
		tap_bail("open_memstream: %s", strerror(errno));
	fprintf(f, "{\"role\":\"%s\",\"device\":", opt.server ? "server" : "client");
	jstr(f, ibv_get_device_name(c.ctx->device));
	fprintf(f, ",\"gid_index\":%d,\"odp\":\"%s\",\"mutate\":%s,\"size\":%zu,\"rounds\":%d,"
		"\"mtu\":%u,\"timeout\":%g,\"seconds\":%.3f", c.gid_index, odp_names[opt.odp],
		opt.mutate ? "true" : "false", size, rounds, mtu_bytes(), opt.timeout, elapsed);
	if (opt.server)
		fprintf(f, ",\"drops\":{\"dontneed\":%u,\"remap\":%u,\"churn\":%lu}",
			ndontneed, nremap, nchurn);
	else
		fprintf(f, ",\"rnr_retry\":%d", opt.rnr_retry);
	fprintf(f, ",\"ops\":{");
	for (op = 0; op < NOPS; op++) {
		if (!(opt.mask & (1u << op)))
			continue;
		if (!first)
			fputc(',', f);
		first = 0;
		fig_op(f, op);
	}
	fputc('}', f);
	fig_counters(f, "counters_before", cnt0, NULL);
	fig_counters(f, "counters_after", cnt1, NULL);
	fig_counters(f, "counters_delta", cnt0, cnt1);
	fputc('}', f);
	fclose(f);
	return s;
}

static void write_json(const char *s)
{
	FILE *f = fopen(opt.json, "w");

	if (!f || fprintf(f, "%s\n", s) < 0 || fclose(f))
		tap_diag("--json %s: %s", opt.json, strerror(errno));
}

static void device_open(void)
{
	c.ctx = vu_open(opt.dev);
	if (!c.ctx)
		tap_bail("no RDMA device %s", opt.dev ? opt.dev : "($RXE_DEV or the first)");
	c.pd = ibv_alloc_pd(c.ctx);
	if (!c.pd)
		tap_bail("ibv_alloc_pd: %s", strerror(errno));
	memset(&dattr, 0, sizeof(dattr));
	if (ibv_query_device_ex(c.ctx, NULL, &dattr) || ibv_query_port(c.ctx, 1, &port))
		tap_bail("query %s: %s", ibv_get_device_name(c.ctx->device), strerror(errno));
}

int main(int argc, char **argv)
{
	char d[4][32];
	double t0;
	char *fig;
	int op;

	parse_args(argc, argv);
	srand48(getpid() ^ (long)(vu_now() * 1000));
	device_open();
	odp_setup();
	counters_list();
	counters_read(cnt0);
	t0 = vu_now();
	if (opt.server)
		server_main();
	else
		client_main();
	counters_read(cnt1);
	fig = figures(vu_now() - t0);
	tap_diag("figures: %s", fig);
	if (opt.json)
		write_json(fig);
	tap_diag("%s counters: send_rnr_err %s, rcvd_rnr_err %s, odp_page_faults %s, odp_rnr_naks %s",
		 opt.server ? "server" : "client", delta_str("send_rnr_err", d[0]),
		 delta_str("rcvd_rnr_err", d[1]), delta_str("odp_page_faults", d[2]),
		 delta_str("odp_rnr_naks", d[3]));
	free(fig);
	close(sock);
	if (imr)
		ibv_dereg_mr(imr);
	for (op = 0; op < NOPS; op++)
		free(res[op].t);
	ibv_dealloc_pd(c.pd);
	ibv_close_device(c.ctx);
	return tap_exit_status();
}
