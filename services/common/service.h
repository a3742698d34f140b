/*
 * service: the skeleton every Oro program shares: configuration and --help,
 * logging, signals, the ZeroMQ context and socket set-up, clocks, and a
 * daemon's committer thread. A daemon's main() declares what it is and runs
 * its own poll loop between service_start() and service_stop().
 */
#ifndef ORO_SERVICE_H
#define ORO_SERVICE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "auth.h"
#include "config.h"
#include "db.h"

struct service {
	const char *name;   /* program name, e.g. "oro-intake" */
	unsigned users;     /* CFG_* bit of this program */
	const char *manual; /* the header comment's synopsis, printed by --help */
	struct config cfg;
	void *zmq;                /* ZeroMQ context */
	int64_t started_at;       /* Unix seconds */
	struct curve_keys *curve; /* CURVE keypair, when curve_key_file is set */
	struct auth *auth;        /* daemons with curve: the ZAP handler */
};

/* The statement service_status_write() runs; include in the daemon's table. */
#define SERVICE_STATUS_STATEMENTS                                                                                      \
	{                                                                                                              \
		"service_status",                                                                                      \
		        "INSERT INTO daemon_status (daemon, instance, pid, host, started_at, heartbeat_at, details)"   \
		        " VALUES ($1, $2, $3, $4, to_timestamp($5), now(), $6::jsonb) ON CONFLICT (daemon, instance) " \
		        "DO UPDATE"                                                                                    \
		        " SET pid = excluded.pid, host = excluded.host, started_at = excluded.started_at,"             \
		        " heartbeat_at = now(), details = excluded.details"                                            \
	}

/*
 * Load configuration (printing --help or an error and exiting as needed),
 * start logging, install SIGTERM/SIGINT handlers and create the ZeroMQ
 * context. Exits with status 2 on a configuration error.
 */
void service_start(struct service *svc, int argc, char **argv);

/* False once SIGTERM or SIGINT arrived. */
bool service_running(void);

/* True once after each SIGUSR1: the operator asks for a status report now. */
bool service_status_requested(void);

/*
 * Record this instance's status in daemon_status (for `oro health`):
 * details (stolen) plus the process's counters under "counters". Logs the
 * same at info level when `log_it`. Failures are ignored: the next sweep
 * writes again.
 */
void service_status_write(struct service *svc, struct db *db, json_t *details, bool log_it);

/*
 * A socket of `type` (ZMQ_ROUTER, ZMQ_PUB, ...) bound (bind true) or
 * connected to endpoint, with Oro's options: no linger, the configured
 * maximum message size, ROUTER_MANDATORY on ROUTER sockets; on tcp://
 * endpoints CURVE (as server with the ZAP domain "oro" when bound; as a
 * client of the services' own key when connected), which is required: a
 * tcp:// endpoint without curve_key_file is fatal; for ipc:// endpoints
 * that we bind, a socket file only the owner may use. Fatal when the
 * endpoint cannot be bound or connected.
 */
void *service_socket(struct service *svc, int type, const char *endpoint, bool bind);

struct wire_peer;
/* Refuse a request: log it (code and field only), count it by code and
 * send Error{code, field, message} to peer on sock. */
void service_refuse(void *sock, const struct wire_peer *peer, const char *request_id, const struct oro_error *err);

/* Answer ZAP requests and, every call with db ready, reload principals
 * (daemons with CURVE; nothing otherwise). */
void service_auth_poll(struct service *svc);
void service_auth_refresh(struct service *svc, struct db *db);

/* The principal a message came from: with CURVE, the authenticated one
 * (NULL when not registered any more); without, NULL. */
const struct principal *service_principal(const struct service *svc, const char *user_id);

/* The daemon's database connection object (not yet connected): database,
 * and with database_roles its own role (oro_intake, ...), with the
 * statements stmts (a static table) prepared on every connection. */
struct db *service_db(const struct service *svc, const struct db_statement *stmts, size_t n_stmts);

/*
 * A committer: a second thread that runs one job at a time for the main
 * thread (a daemon's transactions, on a database connection of its own),
 * with every signal blocked on it. The main thread hands a job over
 * (committer_hand), may poll `pipe` for ZMQ_POLLIN (the job is done), and
 * takes it back with committer_done (which waits for it); in between the
 * job's data is the committer's. One committer per process.
 */
struct committer {
	void *pipe; /* the main thread's end of an inproc PAIR */
	pthread_t thread;
	void (*run)(void *arg);
	void *arg;
	void *zmq;
	char endpoint[96];
};

/* Start c, which runs run(arg) for each job. Fatal when it cannot. */
void committer_start(struct committer *c, const struct service *svc, void (*run)(void *arg), void *arg);
/* Hand c a job (it must be idle). */
void committer_hand(struct committer *c);
/* Wait until c has done the job handed over. */
void committer_done(struct committer *c);
/* Stop c (idle) and wait for its thread. */
void committer_stop(struct committer *c);

/* Close the context and free the configuration. */
void service_stop(struct service *svc);

/* Monotonic milliseconds. */
int64_t service_now_ms(void);

#endif
