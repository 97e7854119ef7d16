/* libFuzzer: /etc/resolv.conf, /etc/hosts and CIDR text. */
#include <stddef.h>
#include <stdint.h>

#include "cidr.h"
#include "resolvconf.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct cidr_addr out[HOSTS_MAX_ADDRS];
	struct resolvconf rc;
	struct cidr c;

	resolvconf_parse((const char *)data, len, &rc);
	(void)hosts_lookup((const char *)data, len,
	    "email-smtp.us-east-1.amazonaws.com", out, HOSTS_MAX_ADDRS);
	if (cidr_parse((const char *)data, len, &c) == 0)
		(void)cidr_contains(&c, &c.net);
	return (0);
}
