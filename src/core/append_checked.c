/*
 * append_checked.c -- the executor's append: writes, plus version checks
 * of streams it read but does not write (declared in exec/pipeline.h).
 *
 * One engine request carries both: the checks are writes without events,
 * which an engine checks in the same transaction as the rest and which
 * create and change nothing (src/backend.h).  So a concurrent write to a
 * stream the command only read is a conflict, whoever wrote it: another
 * thread, a plain cairn_append(), or another process.
 */
#include "core.h"
#include "exec/pipeline.h"

#include <stdlib.h>
#include <string.h>

/* Writes and checks that need no heap. */
#define STACK_WRITES 16

cairn_status
cairn__append_checked(cairn_store *st, const cairn_write *writes,
                      size_t nwrites, const cairn__check *checks,
                      size_t nchecks, cairn_append_result *result)
{
	cairn_write all_stack[STACK_WRITES], *all = all_stack;
	cairn_append_result local;
	cairn_status rc;
	size_t i;

	if (result == NULL)
		result = &local;
	memset(result, 0, sizeof(*result));
	if (st == NULL || writes == NULL || (checks == NULL && nchecks > 0))
		return cairn__error(CAIRN_INVALID, 0, "NULL %s",
		                    st == NULL       ? "store"
		                    : writes == NULL ? "writes"
		                                     : "checks");
	if (nwrites == 0)
		return cairn__error(CAIRN_INVALID, 0,
		                    "an append needs at least one write");
	if (nchecks > CAIRN_BATCH_MAX - nwrites)
		return cairn__error(CAIRN_INVALID, 0, "too many checks");
	if (nwrites + nchecks > STACK_WRITES) {
		all = cairn__malloc((nwrites + nchecks) * sizeof(*all));
		if (all == NULL)
			return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	}
	memcpy(all, writes, nwrites * sizeof(*all));
	for (i = 0; i < nchecks; i++) {
		all[nwrites + i].stream = checks[i].stream;
		all[nwrites + i].expected = checks[i].expected;
		all[nwrites + i].events = NULL;
		all[nwrites + i].nevents = 0;
	}
	rc = cairn__append_request(st, all, nwrites + nchecks, true, NULL, 0,
	                           result);
	if (all != all_stack)
		cairn__free(all);
	return rc;
}

void
cairn__note_retry(cairn_store *st)
{
	if (st && st->ops->note_retry)
		st->ops->note_retry(st->be);
}
