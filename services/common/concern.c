/*
 * concern: reading, validating and writing the concern document (see
 * concern.h). concern_from_json() checks shape only; concern_validate()
 * checks every value and resolves the routing attributes into c->v. Both
 * stop at the first problem, which is reported as one struct oro_error whose
 * field is the JSON path of the offending value ("subject.age").
 *
 * Invariants: every char * member of struct concern is NULL or an xmalloc'd,
 * NUL-terminated copy owned by the struct; a JSON null is the same as an
 * absent key; error messages never quote a value that may be sealed or
 * that came from the reporter (only names of fields and allowed values).
 */
#include "concern.h"

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "rules.h"

/* Clock skew tolerated for observed_at in the future. */
#define CONCERN_FUTURE_SKEW 3600
#define CONCERN_PHONE_MIN   5
#define CONCERN_PHONE_MAX   40

/* A string member of struct concern, by JSON key, for table-driven reading. */
struct string_field {
	const char *key;
	size_t offset;
};

static const struct string_field top_fields[] = {
        {"client_key", offsetof(struct concern, client_key)},
        {"category", offsetof(struct concern, category)},
        {"urgency", offsetof(struct concern, urgency)},
        {"setting", offsetof(struct concern, setting)},
        {"district", offsetof(struct concern, district)},
        {"association_grant", offsetof(struct concern, association_grant)},
        {"description", offsetof(struct concern, description)},
        {"observed_at", offsetof(struct concern, observed_at)},
        {"relatives_informed", offsetof(struct concern, relatives_informed)},
};

static const struct string_field subject_fields[] = {
        {"kind", offsetof(struct concern, subject_kind)},
        {"age_band", offsetof(struct concern, age_band)},
        {"name", offsetof(struct concern, subject_name)},
        {"personal_number", offsetof(struct concern, personal_number)},
        {"unit", offsetof(struct concern, subject_unit)},
};

static const struct string_field reporter_fields[] = {
        {"unit", offsetof(struct concern, reporter_unit)},
        {"phone", offsetof(struct concern, reporter_phone)},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* The member of c that f names. */
static char **field_ptr(struct concern *c, const struct string_field *f)
{
	return (char **)(void *)((char *)c + f->offset);
}

/* Copy JSON string v into *dst; null leaves *dst NULL. */
static int read_string(json_t *v, char **dst, const char *path, struct oro_error *err)
{
	const char *s;

	if (json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return oro_error_set(err, ORO_E_WRONG_TYPE, path, "must be a string");
	s = json_string_value(v);
	if (strlen(s) != json_string_length(v))
		return oro_error_set(err, ORO_E_INVALID_UTF8, path, "contains a NUL character");
	free(*dst);
	*dst = xstrdup(s);
	return 0;
}

/* Read the string keys of object obj listed in fields into c; extra keys
 * (handled by the caller) are reported through *other. */
static int read_object(json_t *obj, const struct string_field *fields, size_t n, const char *prefix, struct concern *c,
                       struct oro_error *err,
                       int (*other)(const char *key, json_t *v, struct concern *c, struct oro_error *err))
{
	const char *key;
	json_t *v;
	char path[96];
	size_t i;

	json_object_foreach(obj, key, v)
	{
		char *q;

		/* the key may be anything: keep the path printable ASCII */
		snprintf(path, sizeof path, "%s%.60s", prefix, key);
		for (q = path; *q; q++)
			if ((unsigned char)*q < 0x20 || (unsigned char)*q > 0x7e)
				*q = '?';
		for (i = 0; i < n; i++)
			if (strcmp(fields[i].key, key) == 0)
				break;
		if (i < n) {
			if (read_string(v, field_ptr(c, &fields[i]), path, err) < 0)
				return -1;
			continue;
		}
		if (other != NULL) {
			int r = other(key, v, c, err);

			if (r < 0)
				return -1;
			if (r == 0)
				continue;
		}
		return oro_error_set(err, ORO_E_UNKNOWN_FIELD, path, "not a field of a concern");
	}
	return 0;
}

/* subject keys that are not strings: age. Returns 1 for an unknown key. */
static int subject_other(const char *key, json_t *v, struct concern *c, struct oro_error *err)
{
	json_int_t age;

	if (strcmp(key, "age") != 0)
		return 1;
	if (json_is_null(v))
		return 0;
	if (!json_is_integer(v))
		return oro_error_set(err, ORO_E_WRONG_TYPE, "subject.age", "must be an integer");
	age = json_integer_value(v);
	/* range is checked by concern_validate(); clamp only to fit an int */
	if (age > INT_MAX)
		age = INT_MAX;
	if (age < INT_MIN)
		age = INT_MIN;
	c->has_age = true;
	c->age = (int)age;
	return 0;
}

/* A nested object: subject or reporter. */
static int read_nested(json_t *v, const char *name, const struct string_field *fields, size_t n, struct concern *c,
                       struct oro_error *err,
                       int (*other)(const char *, json_t *, struct concern *, struct oro_error *))
{
	char prefix[32];

	if (json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return oro_error_set(err, ORO_E_WRONG_TYPE, name, "must be an object");
	snprintf(prefix, sizeof prefix, "%s.", name);
	return read_object(v, fields, n, prefix, c, err, other);
}

/* Top-level keys that are not strings: subject and reporter. */
static int top_other(const char *key, json_t *v, struct concern *c, struct oro_error *err)
{
	if (strcmp(key, "subject") == 0)
		return read_nested(v, "subject", subject_fields, NELEM(subject_fields), c, err, subject_other);
	if (strcmp(key, "reporter") == 0)
		return read_nested(v, "reporter", reporter_fields, NELEM(reporter_fields), c, err, NULL);
	return 1;
}

int concern_from_json(json_t *doc, struct concern *c, struct oro_error *err)
{
	if (!json_is_object(doc))
		return oro_error_set(err, ORO_E_WRONG_TYPE, "", "a concern must be a JSON object");
	return read_object(doc, top_fields, NELEM(top_fields), "", c, err, top_other);
}

int concern_parse(const char *text, size_t len, struct concern *c, struct oro_error *err)
{
	json_error_t jerr;
	json_t *doc;
	int r;

	doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL) {
		const char *code =
		        json_error_code(&jerr) == json_error_invalid_utf8 ? ORO_E_INVALID_UTF8 : ORO_E_INVALID_JSON;

		return oro_error_set(err, code, "", "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
	}
	r = concern_from_json(doc, c, err);
	json_decref(doc);
	return r;
}

/* ---- validation ---- */

bool utf8_valid_text(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	if (s == NULL)
		return len == 0;
	while (i < len) {
		unsigned char b = p[i];
		unsigned int cp, need, k;

		if (b < 0x80) {
			if (b == 0 || (b < 0x20 && b != '\t' && b != '\r' && b != '\n'))
				return false;
			i++;
			continue;
		}
		if (b >= 0xc2 && b <= 0xdf) {
			need = 1;
			cp = b & 0x1f;
		} else if (b >= 0xe0 && b <= 0xef) {
			need = 2;
			cp = b & 0x0f;
		} else if (b >= 0xf0 && b <= 0xf4) {
			need = 3;
			cp = b & 0x07;
		} else {
			return false; /* continuation byte, overlong lead or > U+10FFFF */
		}
		if (len - i <= need)
			return false;
		for (k = 1; k <= need; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		/* reject overlong forms, surrogates and values past U+10FFFF */
		if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += need + 1;
	}
	return true;
}

/* UTF-8 text of at most max bytes. */
static int check_text(const char *s, size_t max, const char *path, struct oro_error *err)
{
	size_t len = strlen(s);

	if (!utf8_valid_text(s, len))
		return oro_error_set(err, ORO_E_INVALID_UTF8, path, "must be UTF-8 text without control characters");
	if (len > max)
		return oro_error_set(err, ORO_E_TOO_LONG, path, "longer than %zu bytes", max);
	return 0;
}

/* Look s up in names; fills *out. Absent is an error only when required. */
static int check_enum(const char *s, const char *const *names, size_t n, bool required, const char *path, int *out,
                      struct oro_error *err)
{
	char allowed[200];
	size_t i, used = 0;

	if (s == NULL) {
		if (required)
			return oro_error_set(err, ORO_E_MISSING, path, "is required");
		return 0;
	}
	*out = vocab_lookup(names, n, s);
	if (*out >= 0)
		return 0;
	allowed[0] = '\0';
	for (i = 0; i < n && used < sizeof allowed; i++) {
		int w = snprintf(allowed + used, sizeof allowed - used, "%s%s", i ? ", " : "", names[i]);

		if (w < 0)
			break;
		used += (size_t)w;
	}
	return oro_error_set(err, ORO_E_INVALID_VALUE, path, "must be one of: %s", allowed);
}

/* Days in month m (1..12) of year y, Gregorian. */
static int days_in_month(int y, int m)
{
	static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : dim[m - 1];
}

/* Value of n decimal digits at s, or -1 if any is not a digit. */
static int digits(const char *s, int n)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/*
 * A Swedish personal identity number (personnummer) or coordination number
 * (samordningsnummer, day + 60): YYMMDD-NNNN, YYMMDD+NNNN, YYYYMMDDNNNN or
 * YYYYMMDD-NNNN, a real calendar date, and the Luhn check digit over the ten
 * digits YYMMDDNNNN.
 */
static bool personal_number_valid(const char *s)
{
	char ten[10];
	size_t len = strlen(s);
	int year, month, day, sum = 0, i;

	if (len == 11 && (s[6] == '-' || s[6] == '+')) {
		memcpy(ten, s, 6);
		memcpy(ten + 6, s + 7, 4);
		year = digits(s, 2);
		/* the century is unknown: 2000 + YY only decides 29 February */
		if (year >= 0)
			year += 2000;
	} else if (len == 12 || (len == 13 && s[8] == '-')) {
		year = digits(s, 4);
		if (year < 1800 || year > 2099)
			return false;
		memcpy(ten, s + 2, 6);
		memcpy(ten + 6, s + len - 4, 4);
	} else {
		return false;
	}
	if (year < 0)
		return false;
	for (i = 0; i < 10; i++)
		if (ten[i] < '0' || ten[i] > '9')
			return false;
	month = digits(ten + 2, 2);
	day = digits(ten + 4, 2);
	if (month < 1 || month > 12)
		return false;
	if (day > 60)
		day -= 60;
	if (day < 1 || day > days_in_month(year, month))
		return false;
	for (i = 0; i < 9; i++) {
		int d = (ten[i] - '0') * (i % 2 == 0 ? 2 : 1);

		sum += d > 9 ? d - 9 : d;
	}
	return (10 - sum % 10) % 10 == ten[9] - '0';
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; Hinnant's algorithm). */
static int64_t days_from_civil(int y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/*
 * RFC 3339 date-time (YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)) to Unix
 * seconds; fractions are dropped. Returns false for anything else.
 */
static bool rfc3339_parse(const char *s, int64_t *out)
{
	int y, mo, d, h, mi, sec, oh, om, sign;
	const char *p;

	if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
	    s[16] != ':')
		return false;
	y = digits(s, 4);
	mo = digits(s + 5, 2);
	d = digits(s + 8, 2);
	h = digits(s + 11, 2);
	mi = digits(s + 14, 2);
	sec = digits(s + 17, 2);
	if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h < 0 || h > 23 || mi < 0 || mi > 59 ||
	    sec < 0 || sec > 60)
		return false;
	p = s + 19;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
		sign = 0;
		oh = om = 0;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		sign = *p == '+' ? 1 : -1;
		oh = digits(p + 1, 2);
		om = digits(p + 4, 2);
		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return false;
	} else {
		return false;
	}
	*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - sign * (oh * 3600 + om * 60);
	return true;
}

/* Phone: digits, spaces, + - ( ), 5..40 characters, at least one digit. */
static bool phone_valid(const char *s)
{
	size_t len = strlen(s), i;
	bool digit = false;

	if (len < CONCERN_PHONE_MIN || len > CONCERN_PHONE_MAX)
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			digit = true;
		else if (strchr(" +-()", s[i]) == NULL)
			return false;
	}
	return digit;
}

/* An optional free text of at most CONCERN_TEXT_MAX bytes. */
static int check_opt_text(const char *s, const char *path, struct oro_error *err)
{
	return s == NULL ? 0 : check_text(s, CONCERN_TEXT_MAX, path, err);
}

/* True when s holds something other than white space. */
static bool has_content(const char *s)
{
	for (; *s; s++)
		if (strchr(" \t\r\n", *s) == NULL)
			return true;
	return false;
}

/* client_key: printable ASCII, 1..CONCERN_CLIENT_KEY_MAX bytes. */
static int check_client_key(const char *s, unsigned flags, struct oro_error *err)
{
	size_t len, i;

	if (s == NULL) {
		if (flags & CONCERN_ROUTING_ONLY)
			return 0;
		return oro_error_set(err, ORO_E_MISSING, "client_key", "is required");
	}
	len = strlen(s);
	if (len == 0)
		return oro_error_set(err, ORO_E_INVALID_VALUE, "client_key", "must not be empty");
	if (len > CONCERN_CLIENT_KEY_MAX)
		return oro_error_set(err, ORO_E_TOO_LONG, "client_key", "longer than %d bytes", CONCERN_CLIENT_KEY_MAX);
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return oro_error_set(err, ORO_E_INVALID_VALUE, "client_key", "must be printable ASCII");
	return 0;
}

/* Subject: kind, age, age band and their agreement, identity fields. */
static int check_subject(struct concern *c, struct oro_error *err)
{
	int kind = -1, band = BAND_UNKNOWN;

	if (check_enum(c->subject_kind, subject_kind_names, KIND_COUNT, true, "subject.kind", &kind, err) < 0)
		return -1;
	c->v.kind = (enum subject_kind)kind;
	if (c->has_age && (c->age < 0 || c->age > CONCERN_AGE_MAX))
		return oro_error_set(err, ORO_E_OUT_OF_RANGE, "subject.age", "must be 0..%d years", CONCERN_AGE_MAX);
	if (check_enum(c->age_band, age_band_names, BAND_COUNT, false, "subject.age_band", &band, err) < 0)
		return -1;
	if (c->has_age) {
		enum age_band of = age_band_of(c->age);

		if (c->age_band != NULL && (enum age_band)band != of)
			return oro_error_set(err, ORO_E_INVALID_VALUE, "subject.age_band",
			                     "age %d is in band %s, not %s", c->age, age_band_names[of],
			                     age_band_names[band]);
		band = of;
	}
	if (c->v.kind == KIND_CHILD) {
		if (c->has_age && c->age >= 18)
			return oro_error_set(err, ORO_E_OUT_OF_RANGE, "subject.age", "a child is under 18");
		if (band == BAND_18_20 || band == BAND_21_PLUS)
			return oro_error_set(err, ORO_E_INVALID_VALUE, "subject.age_band", "a child is under 18");
	}
	c->v.band = (enum age_band)band;
	if (check_opt_text(c->subject_name, "subject.name", err) < 0)
		return -1;
	if (c->personal_number != NULL && !personal_number_valid(c->personal_number))
		return oro_error_set(err, ORO_E_INVALID_VALUE, "subject.personal_number",
		                     "must be YYMMDD-NNNN, YYMMDD+NNNN, YYYYMMDDNNNN or "
		                     "YYYYMMDD-NNNN with a valid date and check digit");
	return check_opt_text(c->subject_unit, "subject.unit", err);
}

int concern_validate(struct concern *c, const struct ruleset *rs, unsigned flags, struct oro_error *err)
{
	int v;

	memset(&c->v, 0, sizeof c->v);
	c->v.band = BAND_UNKNOWN;
	c->v.district = -1;
	c->v.grant = TRI_UNKNOWN;
	c->v.relatives = TRI_UNKNOWN;

	if (check_client_key(c->client_key, flags, err) < 0)
		return -1;
	if (check_enum(c->category, category_names, CAT_COUNT, true, "category", &v, err) < 0)
		return -1;
	c->v.category = (enum category)v;
	if (check_enum(c->urgency, urgency_names, URG_COUNT, true, "urgency", &v, err) < 0)
		return -1;
	c->v.urgency = (enum urgency)v;
	if (check_subject(c, err) < 0)
		return -1;
	if (check_enum(c->setting, setting_names, SET_COUNT, true, "setting", &v, err) < 0)
		return -1;
	c->v.setting = (enum setting)v;

	if (c->district == NULL)
		return oro_error_set(err, ORO_E_MISSING, "district", "is required");
	if (check_text(c->district, CONCERN_TEXT_MAX, "district", err) < 0)
		return -1;
	if (c->district[0] == '\0')
		return oro_error_set(err, ORO_E_INVALID_VALUE, "district", "must not be empty");
	if (rs != NULL) {
		c->v.district = ruleset_district_index(rs, c->district);
		if (c->v.district < 0)
			return oro_error_set(err, ORO_E_INVALID_VALUE, "district", "not a district of the ruleset");
	}

	v = TRI_UNKNOWN;
	if (check_enum(c->association_grant, tristate_names, TRI_COUNT, false, "association_grant", &v, err) < 0)
		return -1;
	c->v.grant = (enum tristate)v;

	if (c->description == NULL) {
		if (!(flags & CONCERN_ROUTING_ONLY))
			return oro_error_set(err, ORO_E_MISSING, "description", "is required");
	} else {
		if (check_text(c->description, CONCERN_DESCRIPTION_MAX, "description", err) < 0)
			return -1;
		if (!(flags & CONCERN_ROUTING_ONLY) && !has_content(c->description))
			return oro_error_set(err, ORO_E_INVALID_VALUE, "description", "must not be empty");
	}

	if (c->observed_at != NULL) {
		if (!rfc3339_parse(c->observed_at, &c->v.observed_at))
			return oro_error_set(err, ORO_E_INVALID_VALUE, "observed_at",
			                     "must be an RFC 3339 time such as "
			                     "2026-11-27T14:05:00+01:00");
		if (c->v.observed_at > (int64_t)time(NULL) + CONCERN_FUTURE_SKEW)
			return oro_error_set(err, ORO_E_OUT_OF_RANGE, "observed_at", "is in the future");
	}

	v = TRI_UNKNOWN;
	if (check_enum(c->relatives_informed, tristate_names, TRI_COUNT, false, "relatives_informed", &v, err) < 0)
		return -1;
	c->v.relatives = (enum tristate)v;

	if (check_opt_text(c->reporter_unit, "reporter.unit", err) < 0)
		return -1;
	if (c->reporter_phone != NULL && !phone_valid(c->reporter_phone))
		return oro_error_set(err, ORO_E_INVALID_VALUE, "reporter.phone",
		                     "must be %d..%d characters: digits, spaces, +, -, ( or )", CONCERN_PHONE_MIN,
		                     CONCERN_PHONE_MAX);
	return 0;
}

/* Set key to a copy of s in obj when s is not NULL. */
static void put_string(json_t *obj, const char *key, const char *s)
{
	if (s != NULL)
		json_object_set_new(obj, key, json_string(s));
}

json_t *concern_to_json(const struct concern *c)
{
	json_t *doc = json_object();
	json_t *subject = json_object();
	json_t *reporter = json_object();
	size_t i;

	for (i = 0; i < NELEM(top_fields); i++) {
		put_string(doc, top_fields[i].key, *field_ptr((struct concern *)c, &top_fields[i]));
		/* keep the document's order: subject follows urgency */
		if (strcmp(top_fields[i].key, "urgency") == 0)
			json_object_set(doc, "subject", subject);
	}
	put_string(subject, "kind", c->subject_kind);
	if (c->has_age)
		json_object_set_new(subject, "age", json_integer(c->age));
	for (i = 1; i < NELEM(subject_fields); i++)
		put_string(subject, subject_fields[i].key, *field_ptr((struct concern *)c, &subject_fields[i]));
	for (i = 0; i < NELEM(reporter_fields); i++)
		put_string(reporter, reporter_fields[i].key, *field_ptr((struct concern *)c, &reporter_fields[i]));
	if (json_object_size(subject) == 0)
		json_object_del(doc, "subject");
	if (json_object_size(reporter) > 0)
		json_object_set(doc, "reporter", reporter);
	json_decref(subject);
	json_decref(reporter);
	return doc;
}

void concern_clear(struct concern *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < NELEM(top_fields); i++)
		free(*field_ptr(c, &top_fields[i]));
	for (i = 0; i < NELEM(subject_fields); i++)
		free(*field_ptr(c, &subject_fields[i]));
	for (i = 0; i < NELEM(reporter_fields); i++)
		free(*field_ptr(c, &reporter_fields[i]));
	free(c->reporter_principal);
	memset(c, 0, sizeof *c);
}

void concern_from_stored(struct concern *c, const struct ruleset *rs, const char *const attrs[CONCERN_STORED_ATTRS],
                         const char *age)
{
	c->v.category = (enum category)VOCAB_LOOKUP(category_names, attrs[0]);
	c->v.urgency = (enum urgency)VOCAB_LOOKUP(urgency_names, attrs[1]);
	c->v.kind = (enum subject_kind)VOCAB_LOOKUP(subject_kind_names, attrs[2]);
	c->v.band = (enum age_band)VOCAB_LOOKUP(age_band_names, attrs[3]);
	c->v.setting = (enum setting)VOCAB_LOOKUP(setting_names, attrs[4]);
	c->v.district = rs ? ruleset_district_index(rs, attrs[5]) : -1;
	c->v.grant = (enum tristate)VOCAB_LOOKUP(tristate_names, attrs[6]);
	c->v.relatives = (enum tristate)VOCAB_LOOKUP(tristate_names, attrs[7]);
	c->has_age = age != NULL;
	c->age = age ? atoi(age) : 0;
}
