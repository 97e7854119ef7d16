/* libFuzzer: ip-ranges.json (json.c tokenizer + allowlist.c validation). */
#include <stddef.h>
#include <stdint.h>

#include "allowlist.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct cidrset set = { NULL, 0, 0 };
	struct allowlist_info info;
	char err[256];

	(void)allowlist_parse((const char *)data, len, "us-east-1", &set,
	    &info, err, sizeof(err));
	cidrset_free(&set);
	return (0);
}
