/*
 * /etc/resolv.conf (nameservers, timeout, attempts) and /etc/hosts (the
 * SES name's addresses), read once at startup and parsed strictly.
 */
#include <sys/socket.h>

#include <errno.h>
#include <string.h>

#include "readfile.h"
#include "resolvconf.h"

/* The next line of ${buf}: [*p, *e); returns 0 at the end. */
static int
next_line(const char *buf, size_t len, size_t *pos, const char **p,
    const char **e)
{
	const char *nl;

	if (*pos >= len)
		return (0);
	*p = buf + *pos;
	nl = memchr(*p, '\n', len - *pos);
	*e = nl != NULL ? nl : buf + len;
	*pos = (size_t)(*e - buf) + 1;
	return (1);
}

static int
is_space(char c)
{

	return (c == ' ' || c == '\t' || c == '\r');
}

/* Split off the next whitespace-separated word of [*p, e). */
static int
word(const char **p, const char *e, const char **w, size_t *wn)
{

	while (*p < e && is_space(**p))
		(*p)++;
	if (*p == e || **p == '#' || **p == ';')
		return (0);
	*w = *p;
	while (*p < e && !is_space(**p))
		(*p)++;
	*wn = (size_t)(*p - *w);
	return (1);
}

/* "timeout:N" / "attempts:N" with N in [lo, hi]; others ignored. */
static void
option(const char *w, size_t wn, const char *key, unsigned lo, unsigned hi,
    unsigned *out)
{
	size_t kn = strlen(key), i;
	unsigned v = 0;

	if (wn <= kn || wn > kn + 3 || memcmp(w, key, kn) != 0)
		return;
	for (i = kn; i < wn; i++) {
		if (w[i] < '0' || w[i] > '9')
			return;
		v = v * 10 + (unsigned)(w[i] - '0');
	}
	if (v < lo)
		v = lo;
	if (v > hi)
		v = hi;
	*out = v;
}

void
resolvconf_parse(const char *buf, size_t len, struct resolvconf *rc)
{
	const char *p, *e, *w;
	size_t pos = 0, wn;

	memset(rc, 0, sizeof(*rc));
	rc->timeout_s = 2;
	rc->attempts = 2;
	while (next_line(buf, len, &pos, &p, &e)) {
		if (!word(&p, e, &w, &wn))
			continue;
		if (wn == 10 && memcmp(w, "nameserver", 10) == 0) {
			if (word(&p, e, &w, &wn) && rc->nns < RESOLVCONF_MAX_NS &&
			    cidr_addr_parse(w, wn, &rc->ns[rc->nns]) == 0)
				rc->nns++;
		} else if (wn == 7 && memcmp(w, "options", 7) == 0) {
			while (word(&p, e, &w, &wn)) {
				option(w, wn, "timeout:", 1, 30,
				    &rc->timeout_s);
				option(w, wn, "attempts:", 1, 5,
				    &rc->attempts);
			}
		}
	}
	if (rc->nns == 0) {
		/* As libc: no nameserver line means the local host. */
		cidr_addr_parse("127.0.0.1", 9, &rc->ns[0]);
		rc->nns = 1;
	}
}

static int
name_eq(const char *w, size_t wn, const char *name)
{
	size_t n = strlen(name), i;

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (wn > 0 && w[wn - 1] == '.')
		wn--;
	if (wn != n)
		return (0);
	for (i = 0; i < n; i++) {
		char a = w[i], b = name[i];
		if (a >= 'A' && a <= 'Z')
			a = (char)(a + 32);
		if (b >= 'A' && b <= 'Z')
			b = (char)(b + 32);
		if (a != b)
			return (0);
	}
	return (1);
}

size_t
hosts_lookup(const char *buf, size_t len, const char *name,
    struct cidr_addr *out, size_t max)
{
	const char *p, *e, *w;
	size_t pos = 0, wn, n = 0;
	struct cidr_addr a;

	while (n < max && next_line(buf, len, &pos, &p, &e)) {
		if (!word(&p, e, &w, &wn) || cidr_addr_parse(w, wn, &a))
			continue;
		while (word(&p, e, &w, &wn)) {
			if (name_eq(w, wn, name)) {
				out[n++] = a;
				break;
			}
		}
	}
	return (n);
}

long
resolvconf_read(const char *path, char *buf, size_t cap)
{
	char err[128];
	size_t len;

	if (cap == 0) {
		errno = EINVAL;	/* no room even for the NUL */
		return (-1);
	}
	if (readfile(path, cap - 1, READFILE_PREFIX, &buf, &len, err,
	    sizeof(err)) != 0)
		return (-1);
	return ((long)len);
}
