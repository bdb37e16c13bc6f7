/*
 * postgres_conninfo.c -- what follows "postgres:" in a store URI, made
 * into a libpq connection string and cairn's own settings.
 *
 * Two spellings, as libpq itself accepts:
 *
 *   postgres://user@host:port/db?sslmode=disable&pool_size=8&schema=app
 *   postgres:host=127.0.0.1 port=5432 dbname=db pool_size=8 schema=app
 *
 * (also "postgresql://").  pool_size and schema are cairn's and are taken
 * out before the rest goes to libpq, which refuses keywords it does not
 * know; everything else is passed through untouched.  An empty rest
 * ("postgres:") connects with libpq's defaults (PGHOST, PGDATABASE, ...).
 */
#include "postgres_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A schema name cairn accepts: an unquoted SQL identifier in lower case,
 * so that it needs no quoting anywhere. */
static bool
schema_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > PG_SCHEMA_MAX)
		return false;
	if (!((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return false;
	for (i = 1; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/*
 * One of cairn's own settings, key = value (value len bytes, not
 * terminated).  Returns CAIRN_OK when key was cairn's (ci updated),
 * CAIRN_DONE when it is libpq's, or CAIRN_INVALID_URI.
 */
static cairn_status
own_setting(pg_conninfo *ci, const char *key, size_t klen, const char *val,
            size_t vlen)
{
	char num[16];
	char *end;
	long n;

	if (klen == 9 && memcmp(key, "pool_size", 9) == 0) {
		if (vlen == 0 || vlen >= sizeof(num))
			goto bad_pool;
		memcpy(num, val, vlen);
		num[vlen] = '\0';
		n = strtol(num, &end, 10);
		if (*end != '\0' || n < 1 || n > PG_POOL_MAX)
			goto bad_pool;
		ci->pool_size = (unsigned)n;
		return CAIRN_OK;
	}
	if (klen == 6 && memcmp(key, "schema", 6) == 0) {
		if (!schema_ok(val, vlen))
			return cairn__error(CAIRN_INVALID_URI, 0,
			                    "postgres: schema '%.*s' is not a "
			                    "lower-case SQL name of 1..%d "
			                    "characters ([a-z_][a-z0-9_]*)",
			                    (int)(vlen > 80 ? 80 : vlen), val,
			                    PG_SCHEMA_MAX);
		memcpy(ci->schema, val, vlen);
		ci->schema[vlen] = '\0';
		return CAIRN_OK;
	}
	return CAIRN_DONE;
bad_pool:
	return cairn__error(CAIRN_INVALID_URI, 0,
	                    "postgres: pool_size must be 1..%d", PG_POOL_MAX);
}

/* Append len bytes to ci->conninfo (sized by the caller). */
static void
put(pg_conninfo *ci, size_t *o, const char *s, size_t len)
{
	memcpy(ci->conninfo + *o, s, len);
	*o += len;
	ci->conninfo[*o] = '\0';
}

/* "//user@host/db?a=b&pool_size=4": the query's cairn settings out. */
static cairn_status
parse_uri(pg_conninfo *ci, const char *rest)
{
	const char *q = strchr(rest, '?'), *p, *amp, *eq;
	size_t o = 0, klen;
	bool first = true;
	cairn_status st;

	put(ci, &o, "postgresql:", 11);
	put(ci, &o, rest, q ? (size_t)(q - rest) : strlen(rest));
	if (q == NULL)
		return CAIRN_OK;
	for (p = q + 1; *p; p = *amp ? amp + 1 : amp) {
		amp = strchr(p, '&');
		if (amp == NULL)
			amp = p + strlen(p);
		if (amp == p)
			continue;
		eq = memchr(p, '=', (size_t)(amp - p));
		klen = eq ? (size_t)(eq - p) : (size_t)(amp - p);
		st = eq ? own_setting(ci, p, klen, eq + 1,
		                      (size_t)(amp - eq - 1))
		        : CAIRN_DONE;
		if (st == CAIRN_OK)
			continue;
		if (st != CAIRN_DONE)
			return st;
		put(ci, &o, first ? "?" : "&", 1);
		put(ci, &o, p, (size_t)(amp - p));
		first = false;
	}
	return CAIRN_OK;
}

/*
 * "host=h port=5 dbname='my db' pool_size=4": keyword = value pairs as
 * libpq reads them (spaces around '=', values quoted with '...' and
 * backslash escapes); cairn's pairs are dropped, the others kept as
 * written.
 */
static cairn_status
parse_keywords(pg_conninfo *ci, const char *s)
{
	const char *key, *start, *val, *vend;
	size_t o = 0, klen;
	cairn_status st;
	bool quoted;

	while (*s) {
		while (*s == ' ' || *s == '\t' || *s == '\n')
			s++;
		if (*s == '\0')
			break;
		start = key = s;
		while (*s && *s != '=' && *s != ' ' && *s != '\t')
			s++;
		klen = (size_t)(s - key);
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s != '=' || klen == 0)
			return cairn__error(
			        CAIRN_INVALID_URI, 0,
			        "postgres: '%.*s' in the connection "
			        "string is not keyword=value",
			        (int)(klen > 80 ? 80 : klen), key);
		s++;
		while (*s == ' ' || *s == '\t')
			s++;
		quoted = *s == '\'';
		val = quoted ? ++s : s;
		while (*s && (quoted ? *s != '\'' : *s != ' ' && *s != '\t')) {
			if (*s == '\\' && s[1])
				s++;
			s++;
		}
		if (quoted && *s != '\'')
			return cairn__error(
			        CAIRN_INVALID_URI, 0,
			        "postgres: an unterminated quote in "
			        "the connection string");
		vend = s;
		if (quoted)
			s++;
		st = own_setting(ci, key, klen, val, (size_t)(vend - val));
		if (st == CAIRN_OK)
			continue;
		if (st != CAIRN_DONE)
			return st;
		if (o > 0)
			put(ci, &o, " ", 1);
		put(ci, &o, start, (size_t)(s - start));
	}
	return CAIRN_OK;
}

cairn_status
cairn__pg_conninfo_parse(const char *rest, pg_conninfo *ci)
{
	size_t len = strlen(rest);

	memset(ci, 0, sizeof(*ci));
	ci->pool_size = PG_POOL_DEFAULT;
	ci->conninfo = cairn__malloc(len + sizeof("postgresql:") + 1);
	if (ci->conninfo == NULL)
		return cairn__error(CAIRN_NOMEM, 0, "out of memory");
	ci->conninfo[0] = '\0';
	if (rest[0] == '/' && rest[1] == '/')
		return parse_uri(ci, rest);
	return parse_keywords(ci, rest);
}
