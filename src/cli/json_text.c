/*
 * json_text.c -- the JSON text writers of src/common/json_text.h
 * (strings, base64, times) adapted to the CLI's checked output, struct
 * cli_out.  The rules themselves (escaping, canonical base64, what
 * payload is embeddable) are shared with cairnd and live there.
 */
#include "cli.h"

/* Every common writer writes through this. */
static int
out_sink(void *sink, const void *p, size_t n)
{
	return cli_out_write(sink, p, n);
}

int
cli_json_string(struct cli_out *out, const char *s, size_t n)
{
	return ct_json_string(out_sink, out, s, n);
}

int
cli_base64(struct cli_out *out, const void *p, size_t n)
{
	return ct_base64(out_sink, out, p, n);
}

int
cli_json_time(struct cli_out *out, int64_t ns)
{
	return ct_json_time(out_sink, out, ns);
}
