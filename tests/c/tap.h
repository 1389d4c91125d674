/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KTAP output for tests/c, with the conventions of the kernel's selftests
 * (tools/testing/selftests/kselftest.h): the "TAP version 13" header and
 * the plan first, "ok N - description # SKIP reason", "# Totals:" at the
 * end, and exit status 0 (pass), 1 (fail) or 4 (every test skipped).
 */
#ifndef RXE_ODP_TAP_H
#define RXE_ODP_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define TAP_EXIT_PASS	0	/* KSFT_PASS */
#define TAP_EXIT_FAIL	1	/* KSFT_FAIL */
#define TAP_EXIT_SKIP	4	/* KSFT_SKIP */

static int tap_n;	/* number of the last test reported */
static int tap_failed;	/* number of "not ok" */
static int tap_skipped;	/* number of "ok ... # SKIP" */

static inline void tap_plan(int n)
{
	printf("TAP version 13\n1..%d\n", n);
	fflush(stdout);
}

static inline void tap_vreport(int ok, const char *directive, const char *fmt, va_list ap)
{
	printf("%sok %d - ", ok ? "" : "not ", ++tap_n);
	vprintf(fmt, ap);
	if (directive)
		printf(" # %s", directive);
	printf("\n");
	fflush(stdout);
	if (!ok)
		tap_failed++;
}

/* tap_ok(cond, "description %d", ...): one test; returns cond. */
static inline int __attribute__((format(printf, 2, 3))) tap_ok(int ok, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vreport(ok, NULL, fmt, ap);
	va_end(ap);
	return ok;
}

/* tap_skip("reason", "description"): a skipped test. */
static inline void tap_skip(const char *reason, const char *desc)
{
	printf("ok %d - %s # SKIP %s\n", ++tap_n, desc, reason);
	fflush(stdout);
	tap_skipped++;
}

/* Skip every test left up to PLANNED, e.g. when the device lacks ODP. */
static inline void tap_skip_rest(int planned, const char *reason, const char *desc)
{
	while (tap_n < planned)
		tap_skip(reason, desc);
}

/* tap_diag("..."): a diagnostic line (# ...). */
static inline void __attribute__((format(printf, 1, 2))) tap_diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* tap_bail("..."): abort the whole program (the runner counts a failure). */
static inline void __attribute__((noreturn, format(printf, 1, 2))) tap_bail(const char *fmt, ...)
{
	va_list ap;

	printf("Bail out! ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(1);
}

/*
 * Print the totals; return the exit status: 1 if a test failed, 4 if every
 * test was skipped (e.g. the device has no ODP), else 0.
 */
static inline int tap_exit_status(void)
{
	printf("# Totals: pass:%d fail:%d xfail:0 xpass:0 skip:%d error:0\n",
	       tap_n - tap_failed - tap_skipped, tap_failed, tap_skipped);
	fflush(stdout);
	if (tap_failed)
		return TAP_EXIT_FAIL;
	return tap_n && tap_skipped == tap_n ? TAP_EXIT_SKIP : TAP_EXIT_PASS;
}

#endif
