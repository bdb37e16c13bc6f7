/*
 * enrollment_test.c -- the enrollment rules under racing threads:
 *
 *   1. 50 threads enroll 50 distinct students in one course of 10 seats
 *      at once: exactly 10 are enrolled, 40 are refused as "full", and
 *      the store holds exactly the 10 winners' enrollments;
 *   2. several threads enroll the same student in the same course at
 *      once: exactly one succeeds, the others are "already enrolled",
 *      and the store holds one enrollment;
 *   3. one student races into 5 courses at once: exactly 3 succeed, 2
 *      are "too many courses", and the store holds 3 enrollments.
 *
 * Rounds 2 and 3 are repeated on fresh names to give a race many chances
 * to show.
 *
 *     enrollment_test [lmdb|memory]    (default lmdb, in a temporary dir)
 *
 * Exit status 0 when every check held; 1 otherwise, naming each failure.
 */
#include "enrollment.h"
#include "tmpstore.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FULL_THREADS 50
#define FULL_CAPACITY 10
#define SAME_THREADS 8
#define SAME_ROUNDS 20
#define MANY_COURSES 5
#define MANY_ROUNDS 20
#define ID_LEN 64

static int failures;

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);   \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			failures++;                                            \
		}                                                              \
	} while (0)

/* One racer: what to enroll, and what came of it. */
struct racer {
	cairn_store *st;
	pthread_barrier_t *start;
	char course[ID_LEN];
	char student[ID_LEN];
	cairn_status rc;
	enum enrollment_outcome outcome;
	unsigned attempts;
	char error[256];
};

static void *
racer_main(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->start);
	r->rc = enrollment_enroll(r->st, r->course, r->student, &r->outcome,
	                          &r->attempts);
	if (r->rc != CAIRN_OK && r->rc != CAIRN_REJECTED)
		snprintf(r->error, sizeof r->error, "%s", cairn_last_error());
	return NULL;
}

/* Run n racers released together; returns the retries they needed. */
static unsigned
race(struct racer *r, int n)
{
	pthread_barrier_t start;
	pthread_t *th = calloc((size_t)n, sizeof *th);
	unsigned retries = 0;

	if (th == NULL ||
	    pthread_barrier_init(&start, NULL, (unsigned)n) != 0) {
		fprintf(stderr, "cannot set up %d threads\n", n);
		exit(1);
	}
	for (int i = 0; i < n; i++) {
		r[i].start = &start;
		if (pthread_create(&th[i], NULL, racer_main, &r[i]) != 0) {
			fprintf(stderr, "pthread_create failed\n");
			exit(1);
		}
	}
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start);
	free(th);
	for (int i = 0; i < n; i++) {
		CHECK(r[i].rc == CAIRN_OK || r[i].rc == CAIRN_REJECTED,
		      "%s in %s: %s: %s", r[i].student, r[i].course,
		      cairn_status_str(r[i].rc), r[i].error);
		if (r[i].attempts > 1)
			retries += r[i].attempts - 1;
	}
	return retries;
}

/* The students the store has enrolled in a course, as read back. */
struct roster {
	int n;
	char student[FULL_THREADS * 2][ID_LEN];
};

static void
roster_add(void *ctx, const char *student)
{
	struct roster *r = ctx;

	if (r->n < FULL_THREADS * 2)
		snprintf(r->student[r->n], ID_LEN, "%s", student);
	r->n++;
}

static int
roster_has(const struct roster *r, const char *student)
{
	for (int i = 0; i < r->n && i < FULL_THREADS * 2; i++)
		if (strcmp(r->student[i], student) == 0)
			return 1;
	return 0;
}

static void
read_roster(cairn_store *st, const char *course, struct roster *ro,
            struct enrollment_course *info)
{
	memset(ro, 0, sizeof *ro);
	CHECK(enrollment_course_read(st, course, info, roster_add, ro) ==
	              CAIRN_OK,
	      "read %s: %s", course, cairn_last_error());
	CHECK(info->enrolled == (unsigned)ro->n, "%s: %u enrolled, %d listed",
	      course, info->enrolled, ro->n);
	for (int i = 0; i < ro->n && i < FULL_THREADS * 2; i++)
		for (int j = i + 1; j < ro->n && j < FULL_THREADS * 2; j++)
			CHECK(strcmp(ro->student[i], ro->student[j]) != 0,
			      "%s: %s enrolled twice", course, ro->student[i]);
}

/* The number of courses student is enrolled in, read back. */
static int
courses_of(cairn_store *st, const char *student)
{
	char tag[ID_LEN + 16];
	const char *tags[] = {tag};
	const char *types[] = {"StudentEnrolled"};
	cairn_query_item item = {types, 1, tags, 1};
	cairn_query q = {&item, 1};
	cairn_read_opts ro = CAIRN_READ_OPTS_INIT;
	cairn_iter *it = NULL;
	const cairn_event *e;
	cairn_status rc;
	int n = 0;

	snprintf(tag, sizeof tag, "student:%s", student);
	ro.query = &q;
	if (cairn_read_all(st, &ro, &it) != CAIRN_OK)
		return -1;
	while ((rc = cairn_iter_next(it, &e)) == CAIRN_ROW)
		n++;
	cairn_iter_free(it);
	return rc == CAIRN_DONE ? n : -1;
}

static unsigned
test_course_capacity(cairn_store *st)
{
	static struct racer r[FULL_THREADS];
	struct enrollment_course info;
	struct roster *ro = calloc(1, sizeof *ro);
	int won = 0, full = 0;
	unsigned retries;

	CHECK(ro != NULL, "out of memory");
	if (ro == NULL)
		return 0;
	CHECK(enrollment_define_course(st, "algebra", FULL_CAPACITY) ==
	              CAIRN_OK,
	      "define algebra: %s", cairn_last_error());
	CHECK(enrollment_define_course(st, "algebra", 99) == CAIRN_CONFLICT,
	      "algebra is defined once");
	for (int i = 0; i < FULL_THREADS; i++) {
		r[i].st = st;
		snprintf(r[i].course, ID_LEN, "algebra");
		snprintf(r[i].student, ID_LEN, "student-%02d", i);
	}
	retries = race(r, FULL_THREADS);
	for (int i = 0; i < FULL_THREADS; i++) {
		if (r[i].rc == CAIRN_OK)
			won++;
		else if (r[i].rc == CAIRN_REJECTED &&
		         r[i].outcome == ENROLLMENT_COURSE_FULL)
			full++;
		else
			CHECK(0, "%s: %s (%s)", r[i].student,
			      cairn_status_str(r[i].rc),
			      enrollment_outcome_str(r[i].outcome));
	}
	CHECK(won == FULL_CAPACITY, "%d enrolled in a course of %d", won,
	      FULL_CAPACITY);
	CHECK(full == FULL_THREADS - FULL_CAPACITY, "%d refused as full", full);
	read_roster(st, "algebra", ro, &info);
	CHECK(info.defined && info.capacity == FULL_CAPACITY,
	      "algebra: defined %d capacity %u", info.defined, info.capacity);
	CHECK(ro->n == FULL_CAPACITY, "the store holds %d enrollments", ro->n);
	for (int i = 0; i < FULL_THREADS; i++)
		CHECK(roster_has(ro, r[i].student) == (r[i].rc == CAIRN_OK),
		      "%s: returned %s but %s in the store", r[i].student,
		      cairn_status_str(r[i].rc),
		      roster_has(ro, r[i].student) ? "is" : "is not");

	/* one more, after the race: full */
	enum enrollment_outcome outcome;
	CHECK(enrollment_enroll(st, "algebra", "late", &outcome, NULL) ==
	                      CAIRN_REJECTED &&
	              outcome == ENROLLMENT_COURSE_FULL,
	      "a late student is refused as full");
	CHECK(enrollment_enroll(st, "nope", "late", &outcome, NULL) ==
	                      CAIRN_REJECTED &&
	              outcome == ENROLLMENT_NO_SUCH_COURSE,
	      "no such course");
	free(ro);
	return retries;
}

static unsigned
test_same_student(cairn_store *st)
{
	struct racer r[SAME_THREADS];
	struct roster *ro = calloc(1, sizeof *ro);
	struct enrollment_course info;
	unsigned retries = 0;

	CHECK(ro != NULL, "out of memory");
	if (ro == NULL)
		return 0;
	for (int round = 0; round < SAME_ROUNDS; round++) {
		char course[ID_LEN], student[ID_LEN];
		int won = 0, already = 0;

		snprintf(course, sizeof course, "poetry-%d", round);
		snprintf(student, sizeof student, "twin-%d", round);
		CHECK(enrollment_define_course(st, course, 10) == CAIRN_OK,
		      "define %s", course);
		memset(r, 0, sizeof r);
		for (int i = 0; i < SAME_THREADS; i++) {
			r[i].st = st;
			snprintf(r[i].course, ID_LEN, "%s", course);
			snprintf(r[i].student, ID_LEN, "%s", student);
		}
		retries += race(r, SAME_THREADS);
		for (int i = 0; i < SAME_THREADS; i++) {
			if (r[i].rc == CAIRN_OK)
				won++;
			else if (r[i].outcome == ENROLLMENT_ALREADY_ENROLLED)
				already++;
		}
		CHECK(won == 1, "round %d: %s enrolled %d times", round,
		      student, won);
		CHECK(already == SAME_THREADS - 1,
		      "round %d: %d refused as already enrolled", round,
		      already);
		read_roster(st, course, ro, &info);
		CHECK(ro->n == 1 && roster_has(ro, student),
		      "round %d: the store holds %d enrollments", round, ro->n);
	}
	free(ro);
	return retries;
}

static unsigned
test_course_limit(cairn_store *st)
{
	struct racer r[MANY_COURSES];
	unsigned retries = 0;

	for (int round = 0; round < MANY_ROUNDS; round++) {
		char student[ID_LEN];
		int won = 0, too_many = 0;

		snprintf(student, sizeof student, "eager-%d", round);
		memset(r, 0, sizeof r);
		for (int i = 0; i < MANY_COURSES; i++) {
			r[i].st = st;
			snprintf(r[i].course, ID_LEN, "course-%d-%d", round, i);
			snprintf(r[i].student, ID_LEN, "%s", student);
			CHECK(enrollment_define_course(st, r[i].course, 10) ==
			              CAIRN_OK,
			      "define %s", r[i].course);
		}
		retries += race(r, MANY_COURSES);
		for (int i = 0; i < MANY_COURSES; i++) {
			if (r[i].rc == CAIRN_OK)
				won++;
			else if (r[i].outcome == ENROLLMENT_TOO_MANY_COURSES)
				too_many++;
		}
		CHECK(won == ENROLLMENT_MAX_COURSES,
		      "round %d: %s got %d courses", round, student, won);
		CHECK(too_many == MANY_COURSES - ENROLLMENT_MAX_COURSES,
		      "round %d: %d refused as too many", round, too_many);
		CHECK(courses_of(st, student) == ENROLLMENT_MAX_COURSES,
		      "round %d: the store holds %d enrollments of %s", round,
		      courses_of(st, student), student);
	}
	return retries;
}

int
main(int argc, char **argv)
{
	const char *backend = argc > 1 ? argv[1] : "lmdb";
	struct tmpstore ts;
	unsigned r1, r2, r3;

	if (tmpstore_open(&ts, backend, "cairn-enrollment") != 0)
		return 1;
	r1 = test_course_capacity(ts.st);
	r2 = test_same_student(ts.st);
	r3 = test_course_limit(ts.st);
	printf("enrollment_test (%s): retries after conflicts: %u "
	       "(capacity race), %u (same student, %d rounds), %u (course "
	       "limit, %d rounds)\n",
	       backend, r1, r2, SAME_ROUNDS, r3, MANY_ROUNDS);
	uint64_t problems = 1;
	CHECK(cairn_verify(ts.st, NULL, NULL, &problems) == CAIRN_OK &&
	              problems == 0,
	      "cairn_verify: %llu problems", (unsigned long long)problems);
	tmpstore_close(&ts);
	if (failures > 0) {
		printf("enrollment_test: %d check(s) failed\n", failures);
		return 1;
	}
	printf("enrollment_test: ok\n");
	return 0;
}
