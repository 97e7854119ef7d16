#include <sys/mman.h>

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static char name[256] = "(none)";
static unsigned ntests, nfailed_tests, nfail;
static unsigned cur_failed;

/* A crash is a failure too: say in which test it happened. */
static void
callback_crash(int sig)
{
	char m[] = "\nCRASH (signal NN) in test: ";

	/* Only async-signal-safe calls here. */
	m[15] = (char)('0' + sig / 10 % 10);
	m[16] = (char)('0' + sig % 10);
	(void)write(1, m, sizeof(m) - 1);
	(void)write(1, name, strlen(name));
	(void)write(1, "\n", 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

void
test_start(const char *fmt, ...)
{
	va_list ap;

	if (ntests == 0) {
		setvbuf(stdout, NULL, _IOLBF, 0);
		signal(SIGSEGV, callback_crash);
		signal(SIGBUS, callback_crash);
		signal(SIGABRT, callback_crash);
		signal(SIGFPE, callback_crash);
		signal(SIGALRM, callback_crash);	/* a hang */
	}
	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	ntests++;
	cur_failed = 0;
}

void
test_done(void)
{

	nfailed_tests += cur_failed;
}

static int
fail(const char *file, int line)
{

	nfail++;
	cur_failed = 1;
	printf("%s:%d: FAIL in test \"%s\"\n", file, line, name);
	return (0);
}

/* Print ${s} (${n} bytes) with C escapes for unprintable bytes. */
static void
print_esc(const char *label, const char *expr, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i;

	printf("  %s %s = \"", label, expr);
	for (i = 0; i < n; i++)
		if (s[i] == '"' || s[i] == '\\')
			printf("\\%c", s[i]);
		else if (s[i] >= 0x20 && s[i] < 0x7f)
			putchar(s[i]);
		else
			printf("\\x%02x", s[i]);
	printf("\"\n");
}

int
test_int(const char *file, int line, const char *ea, const char *eb,
    const char *op, long long a, long long b)
{
	int ok;

	if (op[0] == '=')
		ok = a == b;
	else if (op[0] == '!')
		ok = a != b;
	else if (op[0] == '<')
		ok = op[1] == '=' ? a <= b : a < b;
	else
		ok = op[1] == '=' ? a >= b : a > b;
	if (ok)
		return (1);
	fail(file, line);
	printf("  expected %s %s %s\n  %s = %lld\n  %s = %lld\n",
	    ea, op, eb, ea, a, eb, b);
	return (0);
}

int
test_size(const char *file, int line, const char *ea, const char *eb,
    const char *op, unsigned long long a, unsigned long long b)
{
	int ok;

	if (op[0] == '=')
		ok = a == b;
	else if (op[0] == '<')
		ok = a <= b;
	else
		ok = a > b;
	if (ok)
		return (1);
	fail(file, line);
	printf("  expected %s %s %s\n  %s = %llu\n  %s = %llu\n",
	    ea, op, eb, ea, a, eb, b);
	return (0);
}

int
test_str(const char *file, int line, const char *ea, const char *eb, int eq,
    const char *a, const char *b)
{

	if (a != NULL && b != NULL && (strcmp(a, b) == 0) == eq)
		return (1);
	fail(file, line);
	printf("  expected %s %s %s\n", ea, eq ? "==" : "!=", eb);
	if (a == NULL || b == NULL) {
		printf("  %s = %s\n  %s = %s\n", ea, a ? a : "NULL",
		    eb, b ? b : "NULL");
		return (0);
	}
	print_esc("", ea, a, strlen(a));
	print_esc("", eb, b, strlen(b));
	return (0);
}

int
test_mem(const char *file, int line, const char *ea, const char *eb,
    const void *a, const void *b, size_t n)
{

	if (memcmp(a, b, n) == 0)
		return (1);
	fail(file, line);
	printf("  expected %zu equal bytes\n", n);
	print_esc("", ea, a, n);
	print_esc("", eb, b, n);
	return (0);
}

int
test_ptr(const char *file, int line, const char *ea, const char *eb, int eq,
    const void *a, const void *b)
{

	if ((a == b) == eq)
		return (1);
	fail(file, line);
	printf("  expected %s %s %s\n  %s = %p\n  %s = %p\n", ea,
	    eq ? "==" : "!=", eb, ea, a, eb, b);
	return (0);
}

int
test_summary(void)
{

	printf("%s: %u tests, %u failed (%u failed assertions)\n",
	    program_invocation_short_name, ntests, nfailed_tests, nfail);
	fflush(stdout);
	return (nfail != 0);
}

void *
test_guarded(const void *src, size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t span = (len + pg - 1) / pg * pg + pg;
	char *base;

	base = mmap(NULL, span, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED || mprotect(base + span - pg, pg, PROT_NONE)) {
		perror("test_guarded: mmap");
		exit(2);
	}
	if (len > 0)
		memcpy(base + span - pg - len, src, len);
	return (base + span - pg - len);
}

void
test_guarded_free(void *p, size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t span = (len + pg - 1) / pg * pg + pg;
	char *end = (char *)p + len + pg;

	munmap(end - span, span);
}
