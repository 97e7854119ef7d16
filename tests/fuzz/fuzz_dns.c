/* libFuzzer: DNS responses as the stub resolver receives them. */
#include <stddef.h>
#include <stdint.h>

#include "dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct dns_answer ans;
	uint16_t id;

	if (len < 2)
		return (0);
	/* Use the packet's own ID so that parsing gets past the header. */
	id = (uint16_t)(data[0] << 8 | data[1]);
	(void)dns_parse(data, len, id, "email-smtp.us-east-1.amazonaws.com",
	    DNS_TYPE_A, &ans);
	(void)dns_parse(data, len, id, "email-smtp.us-east-1.amazonaws.com",
	    DNS_TYPE_AAAA, &ans);
	return (0);
}
