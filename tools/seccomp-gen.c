/*
 * Build-time generator: compile the rule table of seccomp.c into BPF with
 * libseccomp, the way Firecracker's build.rs does.  Linked against the
 * host's (glibc) libseccomp; its output is C source that the static musl
 * binary embeds.  ARCH is the binary's architecture, by libseccomp's name
 * (x86_64, aarch64): the filter allows that architecture only, and each
 * row's syscall number is libseccomp's for ARCH, looked up by the row's
 * name, so the generator runs on the host whatever the target.
 *
 *   seccomp-gen ARCH OUT.c OUT.pfc
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/filter.h>
#include <seccomp.h>

#include "seccomp.h"

/* seccomp.c refers to the embedded filters; the generator has none yet. */
const struct sock_filter seccomp_bpf[1], seccomp_supervisor_bpf[1];
const size_t seccomp_bpf_len = 0, seccomp_supervisor_bpf_len = 0;

/* Each table and the C name of its BPF array. */
static const struct {
	enum seccomp_table t;
	const char *var;
} out_tables[] = {
	{ SECCOMP_RELAY, "seccomp_bpf" },
	{ SECCOMP_SUPERVISOR, "seccomp_supervisor_bpf" },
};

/* The target: its bit in a row's arch and libseccomp's token for it. */
static unsigned arch_bit;
static uint32_t arch_token;
static const char *arch_name;

/* Set the target from its name; -1 if seccomp.c or libseccomp lacks it. */
static int
set_arch(const char *name)
{
	const struct seccomp_archname *a;

	for (a = seccomp_archs; a->name != NULL; a++)
		if (strcmp(a->name, name) == 0)
			break;
	if (a->name == NULL || (arch_token = seccomp_arch_resolve_name(name)) ==
	    0) {
		fprintf(stderr, "seccomp-gen: %s: not an architecture of "
		    "seccomp.c's seccomp_archs\n", name);
		return (-1);
	}
	arch_bit = a->bit;
	arch_name = a->name;
	return (0);
}

/* A filter that kills anything not allowed, and any other architecture. */
static scmp_filter_ctx
filter_new(void)
{
	scmp_filter_ctx ctx;

	if ((ctx = seccomp_init(SCMP_ACT_KILL_PROCESS)) == NULL)
		return (NULL);
	if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	    SCMP_ACT_KILL_PROCESS) != 0 ||
	    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0) != 0)
		goto err;
	if (arch_token != seccomp_arch_native() &&
	    (seccomp_arch_add(ctx, arch_token) != 0 ||
	    seccomp_arch_remove(ctx, SCMP_ARCH_NATIVE) != 0))
		goto err;
	return (ctx);
err:
	seccomp_release(ctx);
	return (NULL);
}

/*
 * The number of ${r}'s syscall for libseccomp's rule calls, which take the
 * host's number (or its pseudo-number for a call the host lacks) and put
 * the target's in the filter, by name; -1 (after a message) when the
 * target lacks the call, which the row must then say (RULE in seccomp.c).
 */
static int
row_nr(const struct seccomp_rule *r)
{

	if (seccomp_syscall_resolve_name_arch(arch_token, r->name) < 0) {
		fprintf(stderr, "seccomp-gen: rule %s: no such syscall on %s; "
		    "write the row with RULE and the architectures that have "
		    "it\n", r->name, arch_name);
		return (-1);
	}
	return (seccomp_syscall_resolve_name(r->name));
}

static scmp_filter_ctx
build(enum seccomp_table t)
{
	struct scmp_arg_cmp cmp[SECCOMP_MAX_ARGS];
	char text[SECCOMP_ARGTEXT_MAX];
	const struct seccomp_rule *r;
	scmp_filter_ctx ctx;
	size_t i, n;
	unsigned k;
	int nr, rc;

	if ((ctx = filter_new()) == NULL)
		return (NULL);
	r = seccomp_rules(t, &n);
	for (i = 0; i < n; i++) {
		/* --print-seccomp must be able to say what the row allows. */
		if (seccomp_argtext(&r[i], text, sizeof(text)) != 0) {
			fprintf(stderr, "seccomp-gen: rule %s: an argument, value "
			    "or mask without a name in seccomp.c's argnames and "
			    "name lists\n", r[i].name);
			goto err;
		}
		if ((r[i].arch & arch_bit) == 0)
			continue;
		if ((nr = row_nr(&r[i])) < 0)
			goto err;
		for (k = 0; k < r[i].nargs; k++) {
			cmp[k].arg = r[i].args[k].idx;
			cmp[k].op = SCMP_CMP_MASKED_EQ;
			cmp[k].datum_a = r[i].args[k].mask;
			cmp[k].datum_b = r[i].args[k].val;
		}
		rc = seccomp_rule_add_exact_array(ctx, SCMP_ACT_ALLOW, nr,
		    r[i].nargs, cmp);
		if (rc != 0) {
			fprintf(stderr, "seccomp-gen: rule %s: %s\n",
			    r[i].name, strerror(-rc));
			goto err;
		}
	}
	return (ctx);
err:
	seccomp_release(ctx);
	return (NULL);
}

/* Turn the exported BPF (struct sock_filter records) into C source. */
static int
emit_c(const char *tmp, const char *var, FILE *out)
{
	struct sock_filter f;
	FILE *in;
	size_t n = 0;

	if ((in = fopen(tmp, "rb")) == NULL)
		return (-1);
	fprintf(out, "\nextern const struct sock_filter %s[];\n"
	    "extern const size_t %s_len;\n\n"
	    "const struct sock_filter %s[] = {\n", var, var, var);
	while (fread(&f, sizeof(f), 1, in) == 1) {
		fprintf(out, "\t{ 0x%04x, %3u, %3u, 0x%08x },\n", f.code,
		    f.jt, f.jf, f.k);
		n++;
	}
	fprintf(out, "};\n\nconst size_t %s_len = %zu;\n", var, n);
	fclose(in);
	return (n > 0 ? 0 : -1);
}

/* One table: its BPF as C into ${out}, its PFC text into ${pfc}. */
static int
generate(size_t i, FILE *out, FILE *pfc)
{
	char tmp[] = "/tmp/seccomp-gen.XXXXXX";
	scmp_filter_ctx ctx;
	int fd, rc = -1;

	if ((ctx = build(out_tables[i].t)) == NULL)
		return (-1);
	if ((fd = mkstemp(tmp)) < 0) {
		perror("seccomp-gen: mkstemp");
		goto done;
	}
	rc = seccomp_export_bpf(ctx, fd);
	close(fd);
	if (rc != 0) {
		fprintf(stderr, "seccomp-gen: export: %s\n", strerror(-rc));
		rc = -1;
		goto done;
	}
	rc = -1;
	if (emit_c(tmp, out_tables[i].var, out) != 0) {
		fprintf(stderr, "seccomp-gen: %s: no BPF to embed\n",
		    out_tables[i].var);
		goto done;
	}
	fprintf(pfc, "#\n# %s\n#\n", out_tables[i].var);
	fflush(pfc);
	if (seccomp_export_pfc(ctx, fileno(pfc)) != 0) {
		perror("seccomp-gen: pfc");
		goto done;
	}
	rc = 0;
done:
	unlink(tmp);
	seccomp_release(ctx);
	return (rc);
}

int
main(int argc, char **argv)
{
	FILE *out, *pfc;
	size_t i;
	int rc = 0;

	if (argc != 4) {
		fprintf(stderr, "usage: seccomp-gen ARCH OUT.c OUT.pfc\n");
		return (2);
	}
	if (set_arch(argv[1]) != 0)
		return (2);
	argv++;
	if ((out = fopen(argv[1], "w")) == NULL) {
		perror(argv[1]);
		return (1);
	}
	if ((pfc = fopen(argv[2], "w")) == NULL) {
		perror(argv[2]);
		fclose(out);
		unlink(argv[1]);
		return (1);
	}
	fprintf(out, "/* Generated by tools/seccomp-gen.c from seccomp.c. */\n"
	    "#include <stddef.h>\n#include <linux/filter.h>\n");
	for (i = 0; i < sizeof(out_tables) / sizeof(out_tables[0]); i++)
		if (generate(i, out, pfc) != 0)
			rc = 1;
	if (fclose(out) != 0)
		rc = 1;
	if (fclose(pfc) != 0)
		rc = 1;
	if (rc != 0)
		unlink(argv[1]);
	return (rc);
}
