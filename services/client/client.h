/*
 * client: what the oro client's command files share. Each command lives in
 * a cmd_*.c file as `int cmd_NAME(int argc, char **argv)`, called by main()
 * with argv[1] the command name; it returns the process exit code.
 */
#ifndef ORO_CLIENT_H
#define ORO_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "concern.h"
#include "db.h"
#include "error.h"
#include "rules.h"
#include "service.h"
#include "wire.h"

/* Largest reply accepted: an inbox of 1000 deliveries exceeds what the daemons accept. */
#define CLIENT_MAX_REPLY (16 * 1024 * 1024)

enum exit_code { EXIT_DONE = 0, EXIT_REFUSED = 1, EXIT_USAGE = 2, EXIT_UNAVAILABLE = 3 };

extern struct service svc; /* configuration and ZeroMQ context */
extern bool json_output;   /* --json was given */

/* Print a usage error and exit 2. */
void usage_error(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* Print err (JSON on stdout with --json, else on stderr); returns the exit code for it. */
int report_error(const struct oro_error *err);
/* Print j indented and release it. */
void print_json(json_t *j);

/* Who the client acts as (configured principal, else the login name); borrowed. */
const char *my_principal(void);
/* The configured department, or a usage error; borrowed. */
const char *my_department(void);
/* A positive delivery id from argument s, or a usage error. */
int64_t parse_delivery_id(const char *s);

/* A DEALER socket connected to each endpoint of a comma-separated list (how
 * many, into *n_endpoints when not NULL); exit 2 when one is invalid. */
void *client_socket(const char *endpoint, int *n_endpoints);
/* Wait for one reply; NULL with err set on timeout or a malformed reply. */
Oro__Envelope *await_reply(void *sock, int timeout_ms, struct oro_error *err);
/*
 * Send env to endpoint and wait for the reply (see await_reply). An
 * idempotent request is sent again on a new connection when no answer comes
 * in request_timeout_ms or the answer is "unavailable", up to
 * request_retries times (the Lazy Pirate pattern).
 */
Oro__Envelope *request(const char *endpoint, Oro__Envelope *env, bool idempotent, struct oro_error *err);
/* True (and err filled) when env is an Error reply. */
bool is_error(const Oro__Envelope *env, struct oro_error *err);

/* A whole file ("-": standard input) as a new NUL-terminated string; NULL with errno. */
char *read_file(const char *path, size_t *len);

/* One option of a command: --name VALUE (has_value) or a --name flag. */
struct opt {
	const char *name;
	bool has_value;
	const char **value;
	bool *flag;
};
/*
 * Parse argv[first..argc) against opts (terminated by a NULL name); --json
 * sets json_output and --help prints help and exits 0. Positional arguments
 * go to pos, at most max_pos; returns how many there were.
 */
int parse_opts(int argc, char **argv, int first, const struct opt *opts, const char **pos, int max_pos,
               const char *help);

/* A connection to the database for the strategy owner's commands, or exit 3. */
struct db *admin_db(const struct db_statement *stmts, size_t n);

int cmd_report(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_inbox(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_ack(int argc, char **argv);
int cmd_reroute(int argc, char **argv);
int cmd_rules(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_health(int argc, char **argv);
int cmd_keys(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_purge(int argc, char **argv);
int cmd_hold(int argc, char **argv);
int cmd_principal(int argc, char **argv);
/* oro keys new PATH (in cmd_principal.c) and its help text. */
int keys_new(const char *path);
const char *keys_new_usage(void);

#endif
