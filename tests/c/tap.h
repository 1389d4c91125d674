/* SPDX-License-Identifier: GPL-2.0 */
/* Minimal TAP (Test Anything Protocol, version 12) output for tests/c. */
#ifndef RXE_ODP_TAP_H
#define RXE_ODP_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_n;	/* number of the last test reported */
static int tap_failed;	/* number of "not ok" */

static inline void tap_plan(int n)
{
	printf("1..%d\n", n);
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

/* Exit status: 0 when every test passed or was skipped. */
static inline int tap_exit_status(void)
{
	return tap_failed ? 1 : 0;
}

#endif
