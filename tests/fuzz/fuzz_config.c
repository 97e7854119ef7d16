/* libFuzzer: the command line and environment (NUL-separated words). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define MAXARGS	32

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char *argv[MAXARGS + 1], *envp[MAXARGS + 1], *buf, *p, *end;
	int argc = 0, envc = 0;
	struct config cfg;
	char err[512];

	if ((buf = malloc(len + 1)) == NULL)
		return (0);
	memcpy(buf, data, len);
	buf[len] = '\0';
	argv[argc++] = (char *)"ses-smtp-proxy";
	/* Words with '=' (not starting with "--") go to the environment. */
	for (p = buf, end = buf + len; p < end; p += strlen(p) + 1) {
		if (strchr(p, '=') != NULL && strncmp(p, "--", 2) != 0) {
			if (envc < MAXARGS)
				envp[envc++] = p;
		} else if (argc < MAXARGS) {
			argv[argc++] = p;
		}
	}
	argv[argc] = NULL;
	envp[envc] = NULL;
	/* Lists may be half-filled on failure: free in both cases. */
	(void)config_parse(&cfg, argc, argv, envp, err, sizeof(err));
	config_free(&cfg);
	free(buf);
	return (0);
}
