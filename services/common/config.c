/*
 * config: the configuration table and its loader (see config.h). The table
 * below is the single list of keys; --help and docs are generated from it.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"

#define KEY(field) offsetof(struct config, field)

const struct config_key config_keys[] = {
        {"database", CONFIG_STRING, KEY(database), "dbname=oro", 0, 0, CFG_DAEMONS | CFG_CLIENT,
         "libpq connection string of the record (daemons; the strategy owner's commands rules, explain, stats)"},
        {"intake_endpoint", CONFIG_STRING, KEY(intake_endpoint), "tcp://127.0.0.1:7501", 0, 0, CFG_INTAKE | CFG_CLIENT,
         "staff clients -> oro-intake; intake binds a ROUTER socket here"},
        {"intake_prompt_endpoint", CONFIG_STRING, KEY(intake_prompt_endpoint), "tcp://127.0.0.1:7502", 0, 0,
         CFG_INTAKE | CFG_ROUTER, "oro-intake -> oro-router prompts; intake binds PUB, router connects SUB"},
        {"notify_endpoint", CONFIG_STRING, KEY(notify_endpoint), "tcp://127.0.0.1:7503", 0, 0, CFG_NOTIFY | CFG_CLIENT,
         "department clients -> oro-notify; notify binds a ROUTER socket here (clients: a comma-separated list "
         "reaches several notify instances)"},
        {"router_prompt_endpoint", CONFIG_STRING, KEY(router_prompt_endpoint), "tcp://127.0.0.1:7504", 0, 0,
         CFG_ROUTER | CFG_NOTIFY, "oro-router -> oro-notify prompts; router binds PUB, notify connects SUB"},
        {"sweep_interval_ms", CONFIG_INT, KEY(sweep_interval_ms), "2000", 50, 3600000, CFG_ALL,
         "rescan the database for undone work this often (ms), whatever the prompts (oro health: a daemon "
         "silent for three intervals is not live)"},
        {"heartbeat_ms", CONFIG_INT, KEY(heartbeat_ms), "2000", 100, 600000, CFG_NOTIFY | CFG_CLIENT,
         "department clients resend Subscribe this often (ms); notify forgets one silent for 3 intervals"},
        {"request_timeout_ms", CONFIG_INT, KEY(request_timeout_ms), "5000", 100, 600000, CFG_CLIENT,
         "how long the client waits for a reply (ms)"},
        {"max_message_size", CONFIG_INT, KEY(max_message_size), "65536", 1024, 16777216, CFG_ALL,
         "largest ZeroMQ message accepted (bytes); larger ones are dropped by the socket"},
        {"db_retry_max_ms", CONFIG_INT, KEY(db_retry_max_ms), "5000", 100, 600000, CFG_DAEMONS,
         "upper bound of the reconnect backoff to PostgreSQL (ms); jittered"},
        {"log_level", CONFIG_STRING, KEY(log_level), "info", 0, 0, CFG_ALL, "debug, info, warn or error"},
        {"instance", CONFIG_STRING, KEY(instance), "default", 0, 0, CFG_DAEMONS,
         "name of this daemon instance, recorded on decisions and in logs"},
        {"department", CONFIG_STRING, KEY(department), "", 0, 0, CFG_CLIENT,
         "department code the client acts for (inbox, show, ack)"},
        {"principal", CONFIG_STRING, KEY(principal), "", 0, 0, CFG_CLIENT,
         "who the client acts as; default: the login name"},
        {"reminder_initial_ms", CONFIG_INT, KEY(reminder_initial_ms), "600000", 100, 86400000, CFG_NOTIFY,
         "send an unacknowledged delivery again after this long (ms), doubling each time"},
        {"reminder_max_ms", CONFIG_INT, KEY(reminder_max_ms), "14400000", 100, 604800000, CFG_NOTIFY,
         "the longest interval between reminders (ms)"},
        {"request_retries", CONFIG_INT, KEY(request_retries), "3", 0, 100, CFG_CLIENT,
         "client: on no answer in request_timeout_ms, reconnect and resend this many times"},
        {"health_max_unrouted", CONFIG_INT, KEY(health_max_unrouted), "10", 0, 1000000000, CFG_CLIENT,
         "oro health fails when more reports than this wait for routing"},
        {"health_max_overdue", CONFIG_INT, KEY(health_max_overdue), "0", 0, 1000000000, CFG_CLIENT,
         "oro health fails when more deliveries than this are past their deadline unacknowledged"},
        {"key_file", CONFIG_STRING, KEY(key_file), "", 0, 0, CFG_ALL,
         "the key file (mode 0600; oro keys init makes one): the audit chain's key (\"audit HEX\") and the keys "
         "that seal report content at rest (\"ID HEX\" lines); required"},
        {"retention_content_days", CONFIG_INT, KEY(retention_content_days), "30", 0, 36500, CFG_CLIENT,
         "oro purge destroys a case's sealed content this many days after every full delivery of it was "
         "acknowledged or sent on"},
        {"retention_metadata_days", CONFIG_INT, KEY(retention_metadata_days), "1826", 1, 36500, CFG_CLIENT,
         "oro purge deletes a case's routing metadata and timeline this many days after it was filed"},
        {"curve_key_file", CONFIG_STRING, KEY(curve_key_file), "", 0, 0, CFG_ALL,
         "this program's CURVE keypair (oro keys new); required for every tcp:// endpoint. Daemons: the "
         "services' keypair; clients: the principal's own"},
        {"curve_server_key", CONFIG_STRING, KEY(curve_server_key), "", 0, 0, CFG_CLIENT,
         "client: the daemons' CURVE public key, as Z85 text or the path of its .pub file"},
        {"database_roles", CONFIG_INT, KEY(database_roles), "0", 0, 1, CFG_DAEMONS,
         "1: each daemon connects as its own least-privileged role (oro_intake, oro_router, oro_notify; "
         "sql/007_roles.sql), overriding any user in database"},
        {"batch_max", CONFIG_INT, KEY(batch_max), "256", 1, 4096, CFG_DAEMONS,
         "group commit: the most concerns (intake), reports (router) or acknowledgements (notify) written in "
         "one transaction; 1 writes each in its own"},
        {"batch_wait_ms", CONFIG_INT, KEY(batch_wait_ms), "0", 0, 100, CFG_DAEMONS,
         "group commit: once one item is waiting, wait up to this long for more before writing (0: write "
         "at once what has arrived; concurrent items still share the transaction the previous commit "
         "held up)"},
        {"client_queue_max", CONFIG_INT, KEY(client_queue_max), "1000", 10, 1000000, CFG_NOTIFY,
         "deliveries queued for one department connection that is slow to read; beyond them notify holds "
         "the rest back and sends them, in order, once the queue has room"},
        {"record_wait_ms", CONFIG_INT, KEY(record_wait_ms), "5", 0, 10000, CFG_NOTIFY,
         "oro-notify records a sending (state sent) this long after the push at the earliest, and an "
         "acknowledgement this long after it came, so that a delivery acknowledged meanwhile is written "
         "once; 0: record at once what is waiting"},
};

const size_t config_key_count = sizeof config_keys / sizeof config_keys[0];

/* The table row named key (dashes and underscores alike), or NULL. */
static const struct config_key *config_find(const char *key, size_t len)
{
	for (size_t i = 0; i < config_key_count; i++) {
		const char *name = config_keys[i].name;
		size_t j;

		if (strlen(name) != len)
			continue;
		for (j = 0; j < len; j++) {
			char c = key[j] == '-' ? '_' : key[j];

			if (c != name[j])
				break;
		}
		if (j == len)
			return &config_keys[i];
	}
	return NULL;
}

/* Store value into the field described by k. */
static int config_store(struct config *cfg, const struct config_key *k, const char *value, const char *source,
                        struct oro_error *err)
{
	char *field = (char *)cfg + k->offset;

	if (k->type == CONFIG_STRING) {
		char **s = (char **)(void *)field;

		free(*s);
		*s = xstrdup(value);
		return 0;
	}
	char *end;
	long v;

	errno = 0;
	v = strtol(value, &end, 10);
	if (errno != 0 || end == value || *end != '\0')
		return oro_error_set(err, ORO_E_WRONG_TYPE, source, "%s: expected an integer, got \"%.40s\"", k->name,
		                     value);
	if (v < k->min || v > k->max)
		return oro_error_set(err, ORO_E_OUT_OF_RANGE, source, "%s: %ld is outside %ld..%ld", k->name, v, k->min,
		                     k->max);
	*(int *)(void *)field = (int)v;
	return 0;
}

int config_set(struct config *cfg, const char *key, const char *value, struct oro_error *err)
{
	const struct config_key *k = config_find(key, strlen(key));

	if (k == NULL)
		return oro_error_set(err, ORO_E_UNKNOWN_FIELD, key, "unknown configuration key \"%.60s\"", key);
	return config_store(cfg, k, value, key, err);
}

/* Strip leading and trailing white space in place. */
static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Read `key = value` lines from path. */
static int config_read_file(struct config *cfg, const char *path, struct oro_error *err)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	int lineno = 0;
	int rc = 0;

	if (f == NULL)
		return oro_error_set(err, ORO_E_NOT_FOUND, path, "cannot open configuration file: %s", strerror(errno));
	while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
		char source[96];
		char *s, *eq;
		const struct config_key *k;

		lineno++;
		snprintf(source, sizeof source, "%.80s:%d", path, lineno);
		if (strchr(line, '\n') == NULL && !feof(f)) {
			rc = oro_error_set(err, ORO_E_TOO_LONG, source, "line longer than %zu bytes", sizeof line - 1);
			break;
		}
		s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		eq = strchr(s, '=');
		if (eq == NULL) {
			rc = oro_error_set(err, ORO_E_MALFORMED, source, "expected `key = value`");
			break;
		}
		*eq = '\0';
		char *key = trim(s);
		char *value = trim(eq + 1);

		k = config_find(key, strlen(key));
		if (k == NULL)
			rc = oro_error_set(err, ORO_E_UNKNOWN_FIELD, source, "unknown key \"%.60s\"", key);
		else
			rc = config_store(cfg, k, value, source, err);
	}
	fclose(f);
	return rc;
}

int config_load(struct config *cfg, unsigned users, int *argc, char **argv, struct oro_error *err)
{
	const char *file = getenv("ORO_CONFIG");
	char user_file[512] = "";
	int out = 1;

	(void)users; /* every key is accepted everywhere, so one file serves the stack */
	memset(cfg, 0, sizeof *cfg);
	for (size_t i = 0; i < config_key_count; i++)
		if (config_store(cfg, &config_keys[i], config_keys[i].default_value, "default", err) < 0)
			return -1;

	/* --config must be known before the file is read; flags are applied last */
	for (int i = 1; i < *argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strncmp(argv[i], "--config=", 9) == 0) {
			file = argv[i] + 9;
		} else if (strcmp(argv[i], "--config") == 0) {
			if (i + 1 >= *argc)
				return oro_error_set(err, ORO_E_MISSING, "--config", "--config needs a value");
			file = argv[++i];
		}
	}
	if (file == NULL || *file == '\0') {
		/* the user's own file, like other clients' (~/.config/oro/oro.conf) */
		const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");

		file = NULL;
		if (xdg != NULL && *xdg != '\0')
			snprintf(user_file, sizeof user_file, "%s/oro/oro.conf", xdg);
		else if (home != NULL && *home != '\0')
			snprintf(user_file, sizeof user_file, "%s/.config/oro/oro.conf", home);
		if (user_file[0] != '\0' && access(user_file, R_OK) == 0)
			file = user_file;
	}
	if (file != NULL && config_read_file(cfg, file, err) < 0)
		return -1;

	for (size_t i = 0; i < config_key_count; i++) {
		char env[64];
		const char *v;
		size_t j;

		snprintf(env, sizeof env, "ORO_%s", config_keys[i].name);
		for (j = 4; env[j] != '\0'; j++)
			env[j] = (char)toupper((unsigned char)env[j]);
		v = getenv(env);
		if (v != NULL && config_store(cfg, &config_keys[i], v, env, err) < 0)
			return -1;
	}

	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i];
		const char *eq;
		const struct config_key *k;
		size_t len;

		if (strcmp(a, "--") == 0) {
			while (i < *argc)
				argv[out++] = argv[i++];
			break;
		}
		if (strncmp(a, "--", 2) != 0) {
			argv[out++] = argv[i];
			continue;
		}
		eq = strchr(a, '=');
		len = eq ? (size_t)(eq - a - 2) : strlen(a) - 2;
		if (len == 6 && strncmp(a + 2, "config", 6) == 0) {
			if (eq == NULL)
				i++;
			continue;
		}
		k = config_find(a + 2, len);
		if (k == NULL) {
			argv[out++] = argv[i];
			continue;
		}
		if (eq == NULL && i + 1 >= *argc)
			return oro_error_set(err, ORO_E_MISSING, a, "%s needs a value", a);
		if (config_store(cfg, k, eq ? eq + 1 : argv[++i], a, err) < 0)
			return -1;
	}
	argv[out] = NULL;
	*argc = out;
	return 0;
}

void config_print_help(unsigned users, const char *indent)
{
	for (size_t i = 0; i < config_key_count; i++) {
		const struct config_key *k = &config_keys[i];
		char flag[64];

		if ((k->users & users) == 0)
			continue;
		snprintf(flag, sizeof flag, "--%s", k->name);
		for (char *p = flag + 2; *p != '\0'; p++)
			if (*p == '_')
				*p = '-';
		printf("%s%-28s %s\n%s%-28s (default: %s)\n", indent, flag, k->help, indent, "",
		       *k->default_value ? k->default_value : "none");
	}
}

void config_clear(struct config *cfg)
{
	for (size_t i = 0; i < config_key_count; i++) {
		if (config_keys[i].type == CONFIG_STRING) {
			char **s = (char **)(void *)((char *)cfg + config_keys[i].offset);

			free(*s);
			*s = NULL;
		}
	}
}
