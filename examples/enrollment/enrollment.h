/*
 * enrollment.h -- course enrollment with Dynamic Consistency Boundaries.
 *
 * The rules cut across streams: a course holds at most its capacity of
 * students, a student enrolls in a course once, and takes at most
 * ENROLLMENT_MAX_COURSES courses.  No single stream holds all the facts
 * one decision needs, so each decision reads the events its query
 * matches, decides, and appends on condition that the query matches
 * nothing new (cairn_append_if()).  Events, tagged:
 *
 *   CourseDefined    {"course":"C","capacity":N}   course:C
 *                    (stream course-C)
 *   StudentEnrolled  {"course":"C","student":"S"}  course:C student:S
 *                    (stream student-S)
 */
#ifndef ENROLLMENT_H
#define ENROLLMENT_H

#include "cairn.h"

#define ENROLLMENT_MAX_COURSES 3       /* courses one student may take */
#define ENROLLMENT_DEFAULT_CAPACITY 10 /* seats of a course by default */
#define ENROLLMENT_MAX_ATTEMPTS 200    /* decisions tried per enroll */
#define ENROLLMENT_BACKOFF_BASE_US 100 /* first retry's delay */
#define ENROLLMENT_BACKOFF_MAX_US 5000 /* cap on any retry's delay */
/* Bytes of a course or student id (the tag "student:" + id must fit in
 * CAIRN_TAG_MAX, the stream "student-" + id in CAIRN_STREAM_ID_MAX). */
#define ENROLLMENT_ID_MAX 200

/* Why an enrollment was refused (or that it was not). */
enum enrollment_outcome {
	ENROLLMENT_ENROLLED = 0,
	ENROLLMENT_NO_SUCH_COURSE,
	ENROLLMENT_COURSE_FULL,
	ENROLLMENT_ALREADY_ENROLLED,
	ENROLLMENT_TOO_MANY_COURSES
};

/* A short English phrase for an outcome. */
const char *enrollment_outcome_str(enum enrollment_outcome outcome);

/* Define course with capacity seats (>= 1), once: the condition is that
 * no CourseDefined of this course exists at all.  Returns CAIRN_OK;
 * CAIRN_CONFLICT when it is defined already; CAIRN_INVALID (bad capacity,
 * bad or overlong id); the errors of cairn_append_if(). */
cairn_status enrollment_define_course(cairn_store *st, const char *course,
                                      unsigned capacity);

/* Enroll student in course: read, decide, append on condition, and on a
 * conflict do it all again (with a jittered exponential backoff), at most
 * ENROLLMENT_MAX_ATTEMPTS times.  *outcome (may be NULL) says what was
 * decided, *attempts (may be NULL) how many decisions it took.  Returns
 * CAIRN_OK (enrolled); CAIRN_REJECTED (*outcome says why);
 * CAIRN_RETRIES_EXHAUSTED; CAIRN_INVALID (bad or overlong ids); the
 * errors of cairn_read_all() and cairn_append_if(). */
cairn_status enrollment_enroll(cairn_store *st, const char *course,
                               const char *student,
                               enum enrollment_outcome *outcome,
                               unsigned *attempts);

/* A course as its events tell it. */
struct enrollment_course {
	int defined;
	unsigned capacity;
	unsigned enrolled;
};

/* Read course's events into *info and call fn (may be NULL) once per
 * enrolled student, in enrollment order.  Returns CAIRN_OK, or the
 * errors of cairn_read_all(). */
cairn_status enrollment_course_read(cairn_store *st, const char *course,
                                    struct enrollment_course *info,
                                    void (*fn)(void *ctx, const char *student),
                                    void *ctx);

#endif /* ENROLLMENT_H */
