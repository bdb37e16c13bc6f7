/*
 * readmodel.c -- the projection of todo events into SQLite, and the
 * queries served from it.  See README.md, "The projection".
 */
#include "readmodel.h"
#include "todo.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char schema[] =
        "CREATE TABLE IF NOT EXISTS position ("
        " id INTEGER PRIMARY KEY CHECK (id = 1),"
        " position INTEGER NOT NULL);"
        "INSERT OR IGNORE INTO position VALUES (1, 0);"
        "CREATE TABLE IF NOT EXISTS lists ("
        " id TEXT PRIMARY KEY, name TEXT NOT NULL,"
        " archived INTEGER NOT NULL DEFAULT 0,"
        " created INTEGER NOT NULL);"
        "CREATE TABLE IF NOT EXISTS items ("
        " list TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL,"
        " done INTEGER NOT NULL DEFAULT 0, added INTEGER NOT NULL,"
        " PRIMARY KEY (list, id));";

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static sqlite3 *
open_db(const char *path)
{
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(path, &db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	                            SQLITE_OPEN_NOMUTEX,
	                    NULL) != SQLITE_OK) {
		fprintf(stderr, "todo: %s: %s\n", path,
		        db != NULL ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return NULL;
	}
	/* WAL: queries read while the projection writes */
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		fprintf(stderr, "todo: %s: %s\n", path, sqlite3_errmsg(db));
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

static int
load_position(sqlite3 *db, uint64_t *position)
{
	sqlite3_stmt *st;
	int ok = 0;

	if (sqlite3_prepare_v2(db, "SELECT position FROM position", -1, &st,
	                       NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW) {
		*position = (uint64_t)sqlite3_column_int64(st, 0);
		ok = 1;
	}
	sqlite3_finalize(st);
	return ok ? 0 : -1;
}

int
readmodel_open(struct todo_readmodel *rm, const char *path)
{
	pthread_condattr_t ca;

	memset(rm, 0, sizeof *rm);
	rm->w = open_db(path);
	if (rm->w == NULL)
		return -1;
	if (sqlite3_exec(rm->w, schema, NULL, NULL, NULL) != SQLITE_OK ||
	    load_position(rm->w, &rm->position) != 0) {
		fprintf(stderr, "todo: %s: %s\n", path, sqlite3_errmsg(rm->w));
		sqlite3_close(rm->w);
		return -1;
	}
	rm->r = open_db(path);
	if (rm->r == NULL) {
		sqlite3_close(rm->w);
		return -1;
	}
	pthread_mutex_init(&rm->lock, NULL);
	pthread_mutex_init(&rm->rlock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&rm->moved, &ca);
	pthread_condattr_destroy(&ca);
	return 0;
}

void
readmodel_close(struct todo_readmodel *rm)
{
	sqlite3_close(rm->r);
	sqlite3_close(rm->w);
	pthread_cond_destroy(&rm->moved);
	pthread_mutex_destroy(&rm->rlock);
	pthread_mutex_destroy(&rm->lock);
}

int
readmodel_drop(struct todo_readmodel *rm)
{
	if (sqlite3_exec(rm->w,
	                 "BEGIN IMMEDIATE;"
	                 "DELETE FROM items; DELETE FROM lists;"
	                 "UPDATE position SET position = 0;"
	                 "COMMIT;",
	                 NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "todo: drop: %s\n", sqlite3_errmsg(rm->w));
		sqlite3_exec(rm->w, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	rm->position = 0;
	return 0;
}

/* ------------------------------------------------------------------------
 * The projection
 * ------------------------------------------------------------------------ */

/* Run one statement with ?1 = list, ?2 = item, ?3 = name, ?4 = position
 * (the ones it uses).  Values are bound, never pasted into the SQL. */
static int
run(sqlite3 *db, const char *sql, const char *list, const char *item,
    const char *name, uint64_t position)
{
	const char *text[3] = {list, item, name};
	sqlite3_stmt *st;
	int count, rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	count = sqlite3_bind_parameter_count(st);
	for (int i = 0; i < 3 && i < count; i++)
		sqlite3_bind_text(st, i + 1, text[i], -1, SQLITE_STATIC);
	if (count >= 4)
		sqlite3_bind_int64(st, 4, (sqlite3_int64)position);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* The SQL that folds one event type into the tables. */
static const struct {
	const char *type;
	const char *sql;
} folds[] = {
        {"ListCreated",
         "INSERT INTO lists (id, name, created) VALUES (?1, ?3, ?4)"},
        {"ItemAdded", "INSERT INTO items (list, id, name, added)"
                      " VALUES (?1, ?2, ?3, ?4)"},
        {"ItemRenamed", "UPDATE items SET name = ?3"
                        " WHERE list = ?1 AND id = ?2"},
        {"ItemCompleted", "UPDATE items SET done = 1"
                          " WHERE list = ?1 AND id = ?2"},
        {"ListArchived", "UPDATE lists SET archived = 1 WHERE id = ?1"},
};

static int
apply_event(sqlite3 *db, const cairn_event *e)
{
	json_t *o;
	int rc = 0;

	for (size_t i = 0; i < sizeof folds / sizeof folds[0]; i++) {
		if (strcmp(e->type, folds[i].type) != 0)
			continue;
		o = json_loadb(e->data, e->data_len, 0, NULL);
		if (o == NULL)
			return -1;
		rc = run(db, folds[i].sql,
		         json_string_value(json_object_get(o, "list")),
		         json_string_value(json_object_get(o, "item")),
		         json_string_value(json_object_get(o, "name")),
		         e->position);
		json_decref(o);
		return rc;
	}
	return 0; /* a type this version does not show */
}

static void
report_progress(struct todo_readmodel *rm, uint64_t position)
{
	int64_t now = now_ns();

	if (rm->progress == NULL || now - rm->last_report_ns < 1000000000)
		return;
	rm->last_report_ns = now;
	fprintf(rm->progress, "rebuild: position %llu of %llu (%llu%%)\n",
	        (unsigned long long)position, (unsigned long long)rm->target,
	        rm->target ? (unsigned long long)(position * 100 / rm->target)
	                   : 100ULL);
}

/* One append's events, and the read model's position, in one SQLite
 * transaction: after a crash either all of it is there or none, and the
 * runner resumes after the position that is. */
static cairn_status
on_batch(void *ctx, const cairn_event *batch, size_t n)
{
	struct todo_readmodel *rm = ctx;
	uint64_t last = batch[n - 1].position;

	if (sqlite3_exec(rm->w, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK)
		goto fail;
	for (size_t i = 0; i < n; i++)
		if (apply_event(rm->w, &batch[i]) != 0)
			goto fail;
	if (run(rm->w, "UPDATE position SET position = ?4", NULL, NULL, NULL,
	        last) != 0 ||
	    sqlite3_exec(rm->w, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	pthread_mutex_lock(&rm->lock);
	rm->position = last;
	pthread_cond_broadcast(&rm->moved);
	pthread_mutex_unlock(&rm->lock);
	report_progress(rm, last);
	return CAIRN_OK;
fail:
	fprintf(stderr, "todo: read model, event at position %llu: %s\n",
	        (unsigned long long)batch[0].position, sqlite3_errmsg(rm->w));
	sqlite3_exec(rm->w, "ROLLBACK", NULL, NULL, NULL);
	return CAIRN_IO; /* stops the runner: nothing half-applied */
}

static cairn_status
on_load_position(void *ctx, uint64_t *position)
{
	struct todo_readmodel *rm = ctx;

	return load_position(rm->w, position) == 0 ? CAIRN_OK : CAIRN_IO;
}

cairn_status
readmodel_projection(cairn_store *st, struct todo_readmodel *rm,
                     cairn_projection **out)
{
	cairn_projection_opts po;

	cairn_projection_opts_init(&po);
	po.sub.prefix = TODO_STREAM_PREFIX;
	po.handle = on_batch;
	po.load_position = on_load_position;
	po.ctx = rm;
	return cairn_projection_open(st, &po, out);
}

int
readmodel_wait(struct todo_readmodel *rm, uint64_t min, int timeout_ms)
{
	struct timespec until;
	int reached;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&rm->lock);
	while (rm->position < min &&
	       pthread_cond_timedwait(&rm->moved, &rm->lock, &until) == 0)
		;
	reached = rm->position >= min;
	pthread_mutex_unlock(&rm->lock);
	return reached ? 0 : -1;
}

/* ------------------------------------------------------------------------
 * Queries: one read transaction each, so that the position reported is
 * the one the rows are at.
 * ------------------------------------------------------------------------ */

static char *
lists_json(sqlite3 *db)
{
	uint64_t position;
	sqlite3_stmt *st;
	json_t *lists, *o;
	char *text = NULL;

	if (load_position(db, &position) != 0 ||
	    sqlite3_prepare_v2(db,
	                       "SELECT id, name, archived,"
	                       " (SELECT count(*) FROM items i"
	                       "  WHERE i.list = l.id),"
	                       " (SELECT count(*) FROM items i"
	                       "  WHERE i.list = l.id AND i.done)"
	                       " FROM lists l ORDER BY created",
	                       -1, &st, NULL) != SQLITE_OK)
		return NULL;
	lists = json_array();
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(
		        lists,
		        json_pack(
		                "{s:s, s:s, s:b, s:I, s:I}", "id",
		                (const char *)sqlite3_column_text(st, 0),
		                "name",
		                (const char *)sqlite3_column_text(st, 1),
		                "archived", sqlite3_column_int(st, 2), "items",
		                (json_int_t)sqlite3_column_int64(st, 3), "done",
		                (json_int_t)sqlite3_column_int64(st, 4)));
	if (sqlite3_finalize(st) == SQLITE_OK) {
		o = json_pack("{s:I, s:o}", "position", (json_int_t)position,
		              "lists", lists);
		text = json_dumps(o, JSON_COMPACT);
		json_decref(o);
	} else {
		json_decref(lists);
	}
	return text;
}

static char *
list_json(sqlite3 *db, const char *id, int *found)
{
	uint64_t position;
	sqlite3_stmt *st;
	json_t *o, *items;
	char *text = NULL;

	*found = 1;
	if (load_position(db, &position) != 0 ||
	    sqlite3_prepare_v2(db,
	                       "SELECT name, archived FROM lists WHERE id = ?1",
	                       -1, &st, NULL) != SQLITE_OK)
		return NULL;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		*found = 0;
		sqlite3_finalize(st);
		return NULL;
	}
	o = json_pack("{s:I, s:s, s:s, s:b}", "position", (json_int_t)position,
	              "id", id, "name",
	              (const char *)sqlite3_column_text(st, 0), "archived",
	              sqlite3_column_int(st, 1));
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(db,
	                       "SELECT id, name, done FROM items"
	                       " WHERE list = ?1 ORDER BY added",
	                       -1, &st, NULL) != SQLITE_OK) {
		json_decref(o);
		return NULL;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	items = json_array();
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(
		        items,
		        json_pack("{s:s, s:s, s:b}", "id",
		                  (const char *)sqlite3_column_text(st, 0),
		                  "name",
		                  (const char *)sqlite3_column_text(st, 1),
		                  "done", sqlite3_column_int(st, 2)));
	if (sqlite3_finalize(st) == SQLITE_OK) {
		json_object_set_new(o, "items", items);
		text = json_dumps(o, JSON_COMPACT);
	} else {
		json_decref(items);
	}
	json_decref(o);
	return text;
}

char *
readmodel_lists_json(struct todo_readmodel *rm)
{
	char *text;

	pthread_mutex_lock(&rm->rlock);
	sqlite3_exec(rm->r, "BEGIN", NULL, NULL, NULL);
	text = lists_json(rm->r);
	sqlite3_exec(rm->r, "COMMIT", NULL, NULL, NULL);
	pthread_mutex_unlock(&rm->rlock);
	return text;
}

char *
readmodel_list_json(struct todo_readmodel *rm, const char *id, int *found)
{
	char *text;

	pthread_mutex_lock(&rm->rlock);
	sqlite3_exec(rm->r, "BEGIN", NULL, NULL, NULL);
	text = list_json(rm->r, id, found);
	sqlite3_exec(rm->r, "COMMIT", NULL, NULL, NULL);
	pthread_mutex_unlock(&rm->rlock);
	return text;
}
