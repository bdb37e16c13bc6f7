/*
 * enrollment.c -- enrolling students in courses with conditional appends
 * (Dynamic Consistency Boundaries).  See README.md for a walk-through.
 */
#include "enrollment.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TAG_BUF (ENROLLMENT_ID_MAX + 16)    /* "student:" + id + NUL */
#define STREAM_BUF (ENROLLMENT_ID_MAX + 16) /* "student-" + id + NUL */
#define JSON_BUF (4 * ENROLLMENT_ID_MAX + 64)

const char *
enrollment_outcome_str(enum enrollment_outcome outcome)
{
	switch (outcome) {
	case ENROLLMENT_ENROLLED:
		return "enrolled";
	case ENROLLMENT_NO_SUCH_COURSE:
		return "no such course";
	case ENROLLMENT_COURSE_FULL:
		return "the course is full";
	case ENROLLMENT_ALREADY_ENROLLED:
		return "already enrolled in this course";
	case ENROLLMENT_TOO_MANY_COURSES:
		return "enrolled in too many courses";
	}
	return "unknown";
}

/* ------------------------------------------------------------------------
 * Names, tags and event data
 * ------------------------------------------------------------------------ */

/* The tags and streams one decision names. */
struct names {
	char course_tag[TAG_BUF];        /* course:C */
	char student_tag[TAG_BUF];       /* student:S */
	char course_stream[STREAM_BUF];  /* course-C */
	char student_stream[STREAM_BUF]; /* student-S */
};

/* Fill *n for course and (when not NULL) student.  Returns CAIRN_OK or
 * CAIRN_INVALID for a missing or overlong id; the store validates the
 * rest (UTF-8, control characters) when the names are used. */
static cairn_status
names_make(struct names *n, const char *course, const char *student)
{
	memset(n, 0, sizeof *n);
	if (course == NULL || course[0] == '\0' ||
	    strlen(course) > ENROLLMENT_ID_MAX)
		return CAIRN_INVALID;
	snprintf(n->course_tag, sizeof n->course_tag, "course:%s", course);
	snprintf(n->course_stream, sizeof n->course_stream, "course-%s",
	         course);
	if (student == NULL)
		return CAIRN_OK;
	if (student[0] == '\0' || strlen(student) > ENROLLMENT_ID_MAX)
		return CAIRN_INVALID;
	snprintf(n->student_tag, sizeof n->student_tag, "student:%s", student);
	snprintf(n->student_stream, sizeof n->student_stream, "student-%s",
	         student);
	return CAIRN_OK;
}

static int
has_tag(const cairn_event *e, const char *tag)
{
	for (size_t i = 0; i < e->ntags; i++)
		if (strcmp(e->tags[i], tag) == 0)
			return 1;
	return 0;
}

/* The part of the event's first tag starting with prefix after the
 * prefix, or NULL. */
static const char *
tag_value(const cairn_event *e, const char *prefix)
{
	size_t len = strlen(prefix);

	for (size_t i = 0; i < e->ntags; i++)
		if (strncmp(e->tags[i], prefix, len) == 0)
			return e->tags[i] + len;
	return NULL;
}

/* Append s to buf at *at as a JSON string.  Returns 0, or -1 when it does
 * not fit. */
static int
json_put_string(char *buf, size_t size, size_t *at, const char *s)
{
	size_t i = *at;

	if (i + 1 >= size)
		return -1;
	buf[i++] = '"';
	for (; *s != '\0'; s++) {
		if (i + 3 >= size)
			return -1;
		if (*s == '"' || *s == '\\')
			buf[i++] = '\\';
		buf[i++] = *s;
	}
	buf[i++] = '"';
	buf[i] = '\0';
	*at = i;
	return 0;
}

/* Append text to buf at *at.  Returns 0, or -1 when it does not fit. */
static int
json_put_raw(char *buf, size_t size, size_t *at, const char *text)
{
	size_t len = strlen(text);

	if (*at + len >= size)
		return -1;
	memcpy(buf + *at, text, len + 1);
	*at += len;
	return 0;
}

/* The unsigned integer after "key": in data (len bytes): 0 and *value,
 * or -1.  Our events are flat objects we wrote ourselves. */
static int
json_uint(const void *data, size_t len, const char *key, unsigned *value)
{
	const char *p = data;
	size_t klen = strlen(key);

	for (size_t i = 0; p != NULL && i + klen + 3 < len; i++) {
		if (p[i] != '"' || memcmp(p + i + 1, key, klen) != 0 ||
		    p[i + 1 + klen] != '"' || p[i + 2 + klen] != ':')
			continue;
		unsigned long v = 0;
		size_t j = i + klen + 3, digits = 0;
		for (; j < len && p[j] >= '0' && p[j] <= '9'; j++, digits++) {
			v = v * 10 + (unsigned long)(p[j] - '0');
			if (v > UINT32_MAX)
				return -1;
		}
		if (digits == 0)
			return -1;
		*value = (unsigned)v;
		return 0;
	}
	return -1;
}

/* ------------------------------------------------------------------------
 * The decision
 * ------------------------------------------------------------------------ */

/* What an enrollment decision needs to know, folded from the events its
 * query matches. */
struct course_facts {
	int defined;
	unsigned capacity;
	unsigned enrolled;        /* students in the course */
	int already;              /* this student among them */
	unsigned student_courses; /* courses this student takes */
};

static void
facts_fold(struct course_facts *f, const struct names *n, const cairn_event *e)
{
	int in_course = has_tag(e, n->course_tag);

	if (strcmp(e->type, "CourseDefined") == 0 && in_course) {
		unsigned capacity = ENROLLMENT_DEFAULT_CAPACITY;

		json_uint(e->data, e->data_len, "capacity", &capacity);
		f->defined = 1;
		f->capacity = capacity;
	} else if (strcmp(e->type, "StudentEnrolled") == 0) {
		int is_student =
		        n->student_tag[0] != '\0' && has_tag(e, n->student_tag);

		if (in_course)
			f->enrolled++;
		if (is_student)
			f->student_courses++;
		if (in_course && is_student)
			f->already = 1;
	}
}

static enum enrollment_outcome
decide(const struct course_facts *f)
{
	if (!f->defined)
		return ENROLLMENT_NO_SUCH_COURSE;
	if (f->already)
		return ENROLLMENT_ALREADY_ENROLLED;
	if (f->enrolled >= f->capacity)
		return ENROLLMENT_COURSE_FULL;
	if (f->student_courses >= ENROLLMENT_MAX_COURSES)
		return ENROLLMENT_TOO_MANY_COURSES;
	return ENROLLMENT_ENROLLED;
}

/* Read every event q matches, folding it into *f, and the head the read
 * covered into *head: the `after` of the conditional append. */
static cairn_status
read_facts(cairn_store *st, const cairn_query *q, const struct names *n,
           struct course_facts *f, uint64_t *head)
{
	cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
	cairn_iter *it = NULL;
	const cairn_event *e;
	cairn_status rc;

	memset(f, 0, sizeof *f);
	ro.query = q;
	rc = cairn_read_all(st, &ro, &it);
	if (rc != CAIRN_OK)
		return rc;
	while ((rc = cairn_iter_next(it, &e)) == CAIRN_ROW)
		facts_fold(f, n, e);
	if (rc == CAIRN_DONE)
		rc = cairn_iter_head(it, head);
	cairn_iter_free(it);
	return rc;
}

/* ------------------------------------------------------------------------
 * Retry backoff
 * ------------------------------------------------------------------------ */

/* A per-thread xorshift generator: jitter needs no quality, only that
 * threads do not sleep in lock step. */
static uint64_t
jitter_random(void)
{
	static _Thread_local uint64_t state;

	if (state == 0) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		state = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^
		        (uint64_t)(uintptr_t)&state;
		if (state == 0)
			state = 1;
	}
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return state;
}

/* Sleep before attempt number `attempt` (2 for the first retry): the
 * exponential delay, capped, scaled by a random factor in [0.5, 1]. */
static void
backoff(unsigned attempt)
{
	unsigned shift = attempt - 2 < 16 ? attempt - 2 : 16;
	uint64_t us = (uint64_t)ENROLLMENT_BACKOFF_BASE_US << shift;
	struct timespec ts;

	if (us > ENROLLMENT_BACKOFF_MAX_US)
		us = ENROLLMENT_BACKOFF_MAX_US;
	us = us / 2 + jitter_random() % (us / 2 + 1);
	ts.tv_sec = (time_t)(us / 1000000);
	ts.tv_nsec = (long)(us % 1000000) * 1000;
	nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------------
 * Commands
 * ------------------------------------------------------------------------ */

cairn_status
enrollment_define_course(cairn_store *st, const char *course, unsigned capacity)
{
	static const char *const types[] = {"CourseDefined"};
	struct names n;
	char data[JSON_BUF], tail[64];
	size_t at = 0;
	cairn_status rc;

	if (capacity == 0)
		return CAIRN_INVALID;
	rc = names_make(&n, course, NULL);
	if (rc != CAIRN_OK)
		return rc;
	const char *tags[] = {n.course_tag};
	cairn_query_item item = {types, 1, tags, 1};
	cairn_query q = {&item, 1};

	snprintf(tail, sizeof tail, ",\"capacity\":%u}", capacity);
	if (json_put_raw(data, sizeof data, &at, "{\"course\":") != 0 ||
	    json_put_string(data, sizeof data, &at, course) != 0 ||
	    json_put_raw(data, sizeof data, &at, tail) != 0)
		return CAIRN_INVALID;

	cairn_new_event ev = CAIRN_NEW_EVENT_INIT;
	ev.type = "CourseDefined";
	ev.data = data;
	ev.data_len = strlen(data);
	ev.tags = tags;
	ev.ntags = 1;
	cairn_write w = {n.course_stream, CAIRN_ANY, &ev, 1};
	/* after 0: the course must not be defined at all, ever */
	return cairn_append_if(st, &q, 0, &w, 1, NULL);
}

cairn_status
enrollment_enroll(cairn_store *st, const char *course, const char *student,
                  enum enrollment_outcome *outcome, unsigned *attempts)
{
	static const char *const course_types[] = {"CourseDefined",
	                                           "StudentEnrolled"};
	static const char *const student_types[] = {"StudentEnrolled"};
	enum enrollment_outcome decided = ENROLLMENT_ENROLLED;
	struct course_facts f;
	struct names n;
	char data[JSON_BUF];
	size_t at = 0;
	unsigned attempt;
	cairn_status rc;

	if (attempts != NULL)
		*attempts = 0;
	rc = names_make(&n, course, student);
	if (rc != CAIRN_OK)
		return rc;

	/* The consistency boundary of this decision: the course's
	 * definition and enrollments, and the student's enrollments. */
	const char *course_tags[] = {n.course_tag};
	const char *student_tags[] = {n.student_tag};
	cairn_query_item items[2] = {{course_types, 2, course_tags, 1},
	                             {student_types, 1, student_tags, 1}};
	cairn_query q = {items, 2};

	/* The event to write, if the decision is yes. */
	const char *tags[] = {n.course_tag, n.student_tag};
	if (json_put_raw(data, sizeof data, &at, "{\"course\":") != 0 ||
	    json_put_string(data, sizeof data, &at, course) != 0 ||
	    json_put_raw(data, sizeof data, &at, ",\"student\":") != 0 ||
	    json_put_string(data, sizeof data, &at, student) != 0 ||
	    json_put_raw(data, sizeof data, &at, "}") != 0)
		return CAIRN_INVALID;
	cairn_new_event ev = CAIRN_NEW_EVENT_INIT;
	ev.type = "StudentEnrolled";
	ev.data = data;
	ev.data_len = strlen(data);
	ev.tags = tags;
	ev.ntags = 2;
	cairn_write w = {n.student_stream, CAIRN_ANY, &ev, 1};

	for (attempt = 1; attempt <= ENROLLMENT_MAX_ATTEMPTS; attempt++) {
		uint64_t head = 0;

		if (attempt > 1)
			backoff(attempt);
		if (attempts != NULL)
			*attempts = attempt;
		rc = read_facts(st, &q, &n, &f, &head);
		if (rc != CAIRN_OK)
			return rc;
		decided = decide(&f);
		if (outcome != NULL)
			*outcome = decided;
		if (decided != ENROLLMENT_ENROLLED)
			return CAIRN_REJECTED;
		/* Append only if nothing the query matches came in after
		 * what we read: otherwise our facts are stale. */
		rc = cairn_append_if(st, &q, head, &w, 1, NULL);
		if (rc != CAIRN_CONFLICT)
			return rc;
	}
	return CAIRN_RETRIES_EXHAUSTED;
}

cairn_status
enrollment_course_read(cairn_store *st, const char *course,
                       struct enrollment_course *info,
                       void (*fn)(void *ctx, const char *student), void *ctx)
{
	static const char *const types[] = {"CourseDefined", "StudentEnrolled"};
	cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
	struct course_facts f;
	struct names n;
	cairn_iter *it = NULL;
	const cairn_event *e;
	cairn_status rc;

	memset(info, 0, sizeof *info);
	rc = names_make(&n, course, NULL);
	if (rc != CAIRN_OK)
		return rc;
	const char *tags[] = {n.course_tag};
	cairn_query_item item = {types, 2, tags, 1};
	cairn_query q = {&item, 1};

	memset(&f, 0, sizeof f);
	ro.query = &q;
	rc = cairn_read_all(st, &ro, &it);
	if (rc != CAIRN_OK)
		return rc;
	while ((rc = cairn_iter_next(it, &e)) == CAIRN_ROW) {
		const char *student = tag_value(e, "student:");

		facts_fold(&f, &n, e);
		if (fn != NULL && strcmp(e->type, "StudentEnrolled") == 0 &&
		    student != NULL)
			fn(ctx, student);
	}
	cairn_iter_free(it);
	if (rc != CAIRN_DONE)
		return rc;
	info->defined = f.defined;
	info->capacity = f.capacity;
	info->enrolled = f.enrolled;
	return CAIRN_OK;
}
