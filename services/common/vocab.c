/*
 * vocab: the name tables of the closed vocabularies (see vocab.h).
 *
 * Invariant: each table lists its enum's values in enum order, so that
 * table[value] is the value's name and vocab_lookup() returns the value.
 * The same spellings appear in sql/ CHECK constraints and in docs/rules.md.
 */
#include "vocab.h"

#include <string.h>

const char *const category_names[CAT_COUNT] = {
        [CAT_VIOLENT_RHETORIC] = "violent_rhetoric",
        [CAT_EXTREMIST_SYMBOLS] = "extremist_symbols",
        [CAT_PROPAGANDA] = "propaganda",
        [CAT_EXTREMIST_CONTACTS] = "extremist_contacts",
        [CAT_RECRUITMENT] = "recruitment",
        [CAT_TRAVEL_CONFLICT_ZONE] = "travel_conflict_zone",
        [CAT_FINANCING] = "financing",
        [CAT_WEAPONS] = "weapons",
        [CAT_THREAT_OF_VIOLENCE] = "threat_of_violence",
        [CAT_PLANNED_ATTACK] = "planned_attack",
        [CAT_THREAT_AGAINST_STAFF] = "threat_against_staff",
        [CAT_ASSOCIATION_ACTIVITY] = "association_activity",
        [CAT_RETURNEE] = "returnee",
        [CAT_OTHER] = "other",
};

const char *const urgency_names[URG_COUNT] = {
        [URG_ACUTE] = "acute",
        [URG_URGENT] = "urgent",
        [URG_CONCERN] = "concern",
};

const char *const subject_kind_names[KIND_COUNT] = {
        [KIND_CHILD] = "child",       [KIND_ADULT] = "adult",
        [KIND_GROUP] = "group",       [KIND_ASSOCIATION] = "association",
        [KIND_EMPLOYEE] = "employee", [KIND_MATERIAL] = "material",
        [KIND_UNKNOWN] = "unknown",
};

const char *const age_band_names[BAND_COUNT] = {
        [BAND_0_11] = "0-11",   [BAND_12_17] = "12-17",     [BAND_18_20] = "18-20",
        [BAND_21_PLUS] = "21+", [BAND_UNKNOWN] = "unknown",
};

const char *const setting_names[SET_COUNT] = {
        [SET_SCHOOL] = "school",
        [SET_LEISURE] = "leisure",
        [SET_SOCIAL_SERVICES] = "social_services",
        [SET_SPORTS_FACILITY] = "sports_facility",
        [SET_ONLINE] = "online",
        [SET_PUBLIC_SPACE] = "public_space",
        [SET_WORKPLACE] = "workplace",
        [SET_OTHER] = "other",
};

const char *const tristate_names[TRI_COUNT] = {
        [TRI_YES] = "yes",
        [TRI_NO] = "no",
        [TRI_UNKNOWN] = "unknown",
};

const char *const view_names[VIEW_COUNT] = {
        [VIEW_NOTICE] = "notice",
        [VIEW_FULL] = "full",
};

const char *const priority_names[PRIO_COUNT] = {
        [PRIO_P0] = "P0",
        [PRIO_P1] = "P1",
        [PRIO_P2] = "P2",
        [PRIO_P3] = "P3",
};

/* Linear search: the tables are at most 14 entries long. */
int vocab_lookup(const char *const *names, size_t n, const char *s)
{
	size_t i;

	if (s == NULL)
		return -1;
	for (i = 0; i < n; i++)
		if (names[i] != NULL && strcmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

/* Band boundaries as in STRATEGY.md: 0-11, 12-17, 18-20, 21+. */
enum age_band age_band_of(int age)
{
	if (age < 0)
		return BAND_UNKNOWN;
	if (age <= 11)
		return BAND_0_11;
	if (age <= 17)
		return BAND_12_17;
	if (age <= 20)
		return BAND_18_20;
	return BAND_21_PLUS;
}
