/*
 * error.c -- status names and the thread-local last-error record.
 */
#include "core.h"

#include <stdarg.h>
#include <stdio.h>

/* Long enough for a sentence naming two stream ids and two versions. */
#define ERROR_MESSAGE_MAX 1024

static _Thread_local char last_message[ERROR_MESSAGE_MAX];
static _Thread_local int last_native;

const char *
cairn_status_str(cairn_status status)
{
	switch (status) {
	case CAIRN_OK:
		return "ok";
	case CAIRN_ROW:
		return "row";
	case CAIRN_DONE:
		return "done";
	case CAIRN_CONFLICT:
		return "conflict";
	case CAIRN_NOT_FOUND:
		return "not found";
	case CAIRN_INVALID:
		return "invalid argument";
	case CAIRN_TOO_LARGE:
		return "too large";
	case CAIRN_IO:
		return "I/O error";
	case CAIRN_CORRUPT:
		return "corrupt";
	case CAIRN_NOMEM:
		return "out of memory";
	case CAIRN_TIMEOUT:
		return "timeout";
	case CAIRN_CLOSED:
		return "closed";
	case CAIRN_REJECTED:
		return "rejected";
	case CAIRN_RETRIES_EXHAUSTED:
		return "retries exhausted";
	case CAIRN_UNSUPPORTED:
		return "unsupported";
	case CAIRN_INVALID_STREAM:
		return "invalid stream id";
	case CAIRN_INVALID_TYPE:
		return "invalid event type";
	case CAIRN_INVALID_URI:
		return "invalid store URI";
	case CAIRN_INVALID_TAG:
		return "invalid tag";
	}
	return "unknown";
}

const char *
cairn_last_error(void)
{
	return last_message;
}

int
cairn_last_error_native(void)
{
	return last_native;
}

cairn_status
cairn__error(cairn_status status, int native, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_message, sizeof(last_message), fmt, ap);
	va_end(ap);
	last_native = native;
	return status;
}

/* Successful calls clear the record so that a stale sentence is never
 * mistaken for the reason of a later failure. */
void
cairn__error_clear(void)
{
	last_message[0] = '\0';
	last_native = 0;
}
