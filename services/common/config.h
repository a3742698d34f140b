/*
 * config: Oro's one configuration table. Every key every program reads is a
 * row of settings.c (name, type, default, bounds, which programs use it,
 * description), so one file can configure the whole stack and a typo is an
 * error rather than a silently ignored key.
 *
 * Sources, later overriding earlier:
 *   1. built-in defaults (they work on one machine: the demo stack),
 *   2. the file named by --config FILE, or else by $ORO_CONFIG, or else
 *      the user's $XDG_CONFIG_HOME/oro/oro.conf (~/.config/oro/oro.conf)
 *      if it exists (lines `key = value`, `#` comments, blank lines; a key
 *      not in the table, a value of the wrong type or out of bounds is an
 *      error naming the line),
 *   3. environment variables ORO_<KEY> (upper case),
 *   4. command-line flags --key=value or --key value (dashes or underscores).
 */
#ifndef ORO_CONFIG_H
#define ORO_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* Which programs use a key (bitmask). */
#define CFG_INTAKE  0x1u
#define CFG_ROUTER  0x2u
#define CFG_NOTIFY  0x4u
#define CFG_CLIENT  0x8u
#define CFG_DAEMONS (CFG_INTAKE | CFG_ROUTER | CFG_NOTIFY)
#define CFG_ALL     (CFG_DAEMONS | CFG_CLIENT)

/* The configuration values. Strings are owned by the struct. */
struct config {
	char *database;               /* libpq connection string */
	char *intake_endpoint;        /* staff clients -> oro-intake (ROUTER, bound by intake) */
	char *intake_prompt_endpoint; /* oro-intake -> oro-router prompts (PUB, bound by intake) */
	char *router_prompt_endpoint; /* oro-router -> oro-notify prompts (PUB, bound by router) */
	char *notify_endpoint;        /* department clients -> oro-notify (ROUTER, bound by notify) */
	int sweep_interval_ms;        /* rescan of undone work */
	int heartbeat_ms;             /* department client Subscribe interval */
	int request_timeout_ms;       /* client: wait for a reply */
	int max_message_size;         /* bytes; larger frames are dropped by ZeroMQ */
	int db_retry_max_ms;          /* upper bound of reconnect backoff */
	char *log_level;              /* debug, info, warn, error */
	char *instance;               /* name of this daemon instance in records and logs */
	char *department;             /* client: default department */
	char *principal;              /* client: who I am (until keys identify principals) */
	int reminder_initial_ms;      /* notify: first reminder of an unacknowledged delivery */
	int reminder_max_ms;          /* notify: reminders back off up to this interval */
	int request_retries;          /* client: resend a request this many times on no answer */
	int health_max_unrouted;      /* oro health: more unrouted reports than this is unhealthy */
	int health_max_overdue;       /* oro health: more overdue deliveries than this is unhealthy */
	char *key_file;               /* the sealing keys (mode 0600) */
	int retention_content_days;   /* purge sealed content this long after its last full delivery closed */
	int retention_metadata_days;  /* purge a case's routing metadata and timeline this long after filing */
	char *curve_key_file;         /* this program's CURVE keypair (daemons: the services' keypair) */
	char *curve_server_key;       /* client: the daemons' CURVE public key (Z85, or a .pub file) */
	int database_roles;           /* daemons connect as their own role (oro_intake, ...) */
	int batch_max;                /* group commit: most items written in one transaction */
	int batch_wait_ms;            /* group commit: wait this long for more items once one is waiting */
	int client_queue_max;         /* notify: messages queued for one department connection (ZMQ_SNDHWM) */
	int record_wait_ms;           /* notify: record a sending or an acknowledgement no sooner than this */
};

enum config_type { CONFIG_STRING, CONFIG_INT };

struct config_key {
	const char *name;
	enum config_type type;
	size_t offset; /* in struct config */
	const char *default_value;
	long min, max;  /* CONFIG_INT bounds */
	unsigned users; /* CFG_* */
	const char *help;
};

extern const struct config_key config_keys[];
extern const size_t config_key_count;

/*
 * Fill cfg from defaults, file, environment and flags for program `users`.
 * Flags consumed (--config and every --key) are removed from argv and *argc
 * updated, so that the caller sees only its own arguments. Returns 0, or -1
 * with err naming the source ("file:LINE", "ORO_X" or "--x") in err->field.
 */
int config_load(struct config *cfg, unsigned users, int *argc, char **argv, struct oro_error *err);

/* Set one key from text; used by the loader and by tests. */
int config_set(struct config *cfg, const char *key, const char *value, struct oro_error *err);

/* Print the keys that `users` reads, with default and description, for --help. */
void config_print_help(unsigned users, const char *indent);

/* Free the strings in cfg. Safe twice. */
void config_clear(struct config *cfg);

#endif
