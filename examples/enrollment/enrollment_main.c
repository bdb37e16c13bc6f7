/*
 * enrollment_main.c -- course enrollment from the shell:
 *
 *     enrollment-example --store URI define COURSE [CAPACITY]
 *     enrollment-example --store URI enroll COURSE STUDENT
 *     enrollment-example --store URI show COURSE
 *
 * The store defaults to lmdb:./enrollment-data; CAPACITY to 10.  Exit
 * status: 0 done; 1 refused (course full, already enrolled, too many
 * courses, no such course, course defined already); 2 usage or store
 * error.
 */
#include "enrollment.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENROLLMENT_DEFAULT_STORE "lmdb:./enrollment-data"

static void
usage(FILE *f)
{
	fprintf(f, "usage: enrollment-example [--store URI] define COURSE "
	           "[CAPACITY]\n"
	           "       enrollment-example [--store URI] enroll COURSE "
	           "STUDENT\n"
	           "       enrollment-example [--store URI] show COURSE\n"
	           "  URI defaults to " ENROLLMENT_DEFAULT_STORE "\n");
}

static int
store_error(const char *what, cairn_status rc)
{
	fprintf(stderr, "enrollment-example: %s: %s: %s\n", what,
	        cairn_status_str(rc), cairn_last_error());
	return 2;
}

static int
cmd_define(cairn_store *st, const char *course, const char *capacity_text)
{
	unsigned long capacity = ENROLLMENT_DEFAULT_CAPACITY;
	cairn_status rc;

	if (capacity_text != NULL) {
		char *end;

		errno = 0;
		capacity = strtoul(capacity_text, &end, 10);
		if (errno != 0 || *end != '\0' || capacity == 0 ||
		    capacity > 1000000 || capacity_text[0] == '-') {
			fprintf(stderr,
			        "enrollment-example: bad capacity \"%s\"\n",
			        capacity_text);
			return 2;
		}
	}
	rc = enrollment_define_course(st, course, (unsigned)capacity);
	if (rc == CAIRN_CONFLICT) {
		fprintf(stderr,
		        "enrollment-example: course %s is defined already\n",
		        course);
		return 1;
	}
	if (rc != CAIRN_OK)
		return store_error("define", rc);
	printf("defined %s with %lu seats\n", course, capacity);
	return 0;
}

static int
cmd_enroll(cairn_store *st, const char *course, const char *student)
{
	enum enrollment_outcome outcome;
	unsigned attempts;
	cairn_status rc =
	        enrollment_enroll(st, course, student, &outcome, &attempts);

	if (rc == CAIRN_REJECTED) {
		fprintf(stderr, "enrollment-example: refused: %s\n",
		        enrollment_outcome_str(outcome));
		return 1;
	}
	if (rc != CAIRN_OK)
		return store_error("enroll", rc);
	printf("enrolled %s in %s (%u attempt%s)\n", student, course, attempts,
	       attempts == 1 ? "" : "s");
	return 0;
}

static void
print_student(void *ctx, const char *student)
{
	(void)ctx;
	printf("  %s\n", student);
}

static int
cmd_show(cairn_store *st, const char *course)
{
	struct enrollment_course info;
	cairn_status rc;

	printf("%s:\n", course);
	rc = enrollment_course_read(st, course, &info, print_student, NULL);
	if (rc != CAIRN_OK)
		return store_error("show", rc);
	if (!info.defined) {
		fprintf(stderr, "enrollment-example: no course %s\n", course);
		return 1;
	}
	printf("%u of %u seats taken\n", info.enrolled, info.capacity);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *uri = ENROLLMENT_DEFAULT_STORE;
	cairn_store *st = NULL;
	cairn_status rc;
	int i = 1, code;

	if (argc > 1 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc > 2 && strcmp(argv[1], "--store") == 0) {
		uri = argv[2];
		i = 3;
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[i];
	int nargs = argc - i - 1;
	if (!((strcmp(cmd, "define") == 0 && (nargs == 1 || nargs == 2)) ||
	      (strcmp(cmd, "enroll") == 0 && nargs == 2) ||
	      (strcmp(cmd, "show") == 0 && nargs == 1))) {
		usage(stderr);
		return 2;
	}
	rc = cairn_open(uri, NULL, &st);
	if (rc != CAIRN_OK)
		return store_error(uri, rc);
	if (strcmp(cmd, "define") == 0)
		code = cmd_define(st, argv[i + 1],
		                  nargs == 2 ? argv[i + 2] : NULL);
	else if (strcmp(cmd, "enroll") == 0)
		code = cmd_enroll(st, argv[i + 1], argv[i + 2]);
	else
		code = cmd_show(st, argv[i + 1]);
	cairn_close(st);
	return code;
}
