/*
 * vocab: the closed vocabularies of a concern (STRATEGY.md). These are the
 * only enumerations fixed in code, because rules and statistics refer to
 * them; department codes, districts, deadlines and texts are data in the
 * ruleset. Each enum's order matches its name table, and the names are the
 * strings used on the wire, in JSON and in the database CHECK constraints
 * (sql/), which must list the same values.
 */
#ifndef ORO_VOCAB_H
#define ORO_VOCAB_H

#include <stddef.h>

enum category {
	CAT_VIOLENT_RHETORIC,
	CAT_EXTREMIST_SYMBOLS,
	CAT_PROPAGANDA,
	CAT_EXTREMIST_CONTACTS,
	CAT_RECRUITMENT,
	CAT_TRAVEL_CONFLICT_ZONE,
	CAT_FINANCING,
	CAT_WEAPONS,
	CAT_THREAT_OF_VIOLENCE,
	CAT_PLANNED_ATTACK,
	CAT_THREAT_AGAINST_STAFF,
	CAT_ASSOCIATION_ACTIVITY,
	CAT_RETURNEE,
	CAT_OTHER,
	CAT_COUNT
};

enum urgency { URG_ACUTE, URG_URGENT, URG_CONCERN, URG_COUNT };

enum subject_kind {
	KIND_CHILD,
	KIND_ADULT,
	KIND_GROUP,
	KIND_ASSOCIATION,
	KIND_EMPLOYEE,
	KIND_MATERIAL,
	KIND_UNKNOWN,
	KIND_COUNT
};

enum age_band { BAND_0_11, BAND_12_17, BAND_18_20, BAND_21_PLUS, BAND_UNKNOWN, BAND_COUNT };

enum setting {
	SET_SCHOOL,
	SET_LEISURE,
	SET_SOCIAL_SERVICES,
	SET_SPORTS_FACILITY,
	SET_ONLINE,
	SET_PUBLIC_SPACE,
	SET_WORKPLACE,
	SET_OTHER,
	SET_COUNT
};

/* yes / no / unknown: association grant, relatives informed. */
enum tristate { TRI_YES, TRI_NO, TRI_UNKNOWN, TRI_COUNT };

/* Ordered: a wider view compares greater. */
enum view { VIEW_NOTICE, VIEW_FULL, VIEW_COUNT };

/* Ordered: a more urgent priority compares smaller. */
enum priority { PRIO_P0, PRIO_P1, PRIO_P2, PRIO_P3, PRIO_COUNT };

extern const char *const category_names[CAT_COUNT];
extern const char *const urgency_names[URG_COUNT];
extern const char *const subject_kind_names[KIND_COUNT];
extern const char *const age_band_names[BAND_COUNT];
extern const char *const setting_names[SET_COUNT];
extern const char *const tristate_names[TRI_COUNT];
extern const char *const view_names[VIEW_COUNT];
extern const char *const priority_names[PRIO_COUNT];

/* Index of s in names[0..n), or -1 when s is NULL or not there. */
int vocab_lookup(const char *const *names, size_t n, const char *s);

/* The age band an age in years falls in (age < 0 gives BAND_UNKNOWN). */
enum age_band age_band_of(int age);

#define VOCAB_LOOKUP(table, s) vocab_lookup((table), sizeof(table) / sizeof((table)[0]), (s))

#endif
