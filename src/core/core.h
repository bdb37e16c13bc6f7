/*
 * core.h -- internals shared by the files of src/core/ (not backends).
 */
#ifndef CAIRN_CORE_H
#define CAIRN_CORE_H

#include "backend.h"

#include <stdio.h>

/* An open store: the engine plus what the core keeps for it. */
struct cairn_store {
	const cairn__backend_ops *ops;
	cairn__backend *be;
	cairn_options opts;
};

void cairn__error_clear(void);

cairn_status cairn__validate_name(const char *name, size_t max,
                                  cairn_status status, const char *role,
                                  size_t *len_out);
cairn_status cairn__validate_event(const cairn_new_event *ev, size_t index,
                                   size_t max_event_size);

/* n fresh version 4 UUIDs from one draw of system randomness. */
cairn_status cairn__uuid_generate_many(cairn_uuid *ids, size_t n);

/* The engine registered for scheme (length len), or NULL. */
const cairn__backend_ops *cairn__backend_find(const char *scheme, size_t len);

#endif /* CAIRN_CORE_H */
