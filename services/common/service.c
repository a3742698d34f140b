/*
 * service: the shared program skeleton (see service.h). Signal handlers only
 * set a flag; loops poll with bounded timeouts and check it.
 */
#include "service.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>
#include <zmq.h>

#include "alloc.h"
#include "counters.h"
#include "log.h"
#include "wire.h"

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t status_requested;

/* SIGUSR1: report status at the next pass of the loop. */
static void on_status(int sig)
{
	(void)sig;
	status_requested = 1;
}

/* SIGTERM / SIGINT: finish the current step and exit. */
static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

void service_start(struct service *svc, int argc, char **argv)
{
	struct oro_error err = {0};
	struct sigaction sa;
	int level;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("%s\nConfiguration (file via --config FILE or $ORO_CONFIG; environment ORO_<KEY>; "
			       "flags):\n",
			       svc->manual);
			config_print_help(svc->users, "  ");
			exit(0);
		}
	}
	if (config_load(&svc->cfg, svc->users, &argc, argv, &err) < 0) {
		fprintf(stderr, "%s: configuration: %s: %s\n", svc->name, err.field, err.message);
		exit(2);
	}
	if (argc > 1) {
		fprintf(stderr, "%s: unexpected argument \"%s\" (see --help)\n", svc->name, argv[1]);
		exit(2);
	}
	level = log_level_parse(svc->cfg.log_level);
	if (level < 0) {
		fprintf(stderr, "%s: configuration: log_level: expected debug, info, warn or error\n", svc->name);
		exit(2);
	}
	log_init(svc->name, (enum log_level)level);

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_status;
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	svc->started_at = (int64_t)time(NULL);
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());

	svc->zmq = zmq_ctx_new();
	if (svc->zmq == NULL)
		log_fatal("zmq=context error=%s", log_quote(zmq_strerror(errno)));
	if (*svc->cfg.curve_key_file) {
		svc->curve = xcalloc(1, sizeof *svc->curve);
		if (curve_keys_load(svc->cfg.curve_key_file, svc->curve, &err) < 0)
			log_fatal("curve=unusable file=%s error=%s", log_quote(err.field), log_quote(err.message));
		/* the handler must exist before any CURVE server socket is bound */
		svc->auth = auth_new(svc->zmq, svc->curve);
	}
}

bool service_running(void)
{
	return !stop_requested;
}

/*
 * Messages a ROUTER reads ahead from one connection (ZMQ_RCVHWM) before
 * the daemon takes them. Beyond it a client's further messages wait in
 * TCP, not in the daemon's memory: under overload a department client's
 * acknowledgements filled notify's queues to ZeroMQ's default of 1000 per
 * connection, and its RSS rose by ~1.5 MiB steps (docs/performance.md).
 */
#define ROUTER_READ_AHEAD 100

void *service_socket(struct service *svc, int type, const char *endpoint, bool bind)
{
	void *s = zmq_socket(svc->zmq, type);
	int zero = 0, one = 1;
	int64_t max = svc->cfg.max_message_size;

	if (s == NULL)
		log_fatal("zmq=socket error=%s", log_quote(zmq_strerror(errno)));
	zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
	zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &max, sizeof max);
	if (type == ZMQ_ROUTER) {
		int hwm = svc->cfg.client_queue_max, read_ahead = ROUTER_READ_AHEAD;

		zmq_setsockopt(s, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
		/* before bind: a listener gives its connections the options it had */
		zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
		zmq_setsockopt(s, ZMQ_RCVHWM, &read_ahead, sizeof read_ahead);
	}
	if (type == ZMQ_SUB)
		zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
	if (strncmp(endpoint, "tcp://", 6) == 0) {
		int on = 1;

		if (svc->curve == NULL)
			log_fatal(
			        "endpoint=%s error=\"tcp:// endpoints need CURVE: set curve_key_file (oro keys new)\"",
			        log_quote(endpoint));
		zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, svc->curve->secret_key, AUTH_Z85_LEN);
		zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, svc->curve->public_key, AUTH_Z85_LEN);
		if (bind) {
			zmq_setsockopt(s, ZMQ_CURVE_SERVER, &on, sizeof on);
			zmq_setsockopt(s, ZMQ_ZAP_DOMAIN, "oro", 3);
		} else {
			/* a daemon connects only to another daemon: the services' own key */
			zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, svc->curve->public_key, AUTH_Z85_LEN);
		}
	}
	if (bind) {
		/* ipc:// socket files are for this user only */
		mode_t old = umask(077);
		int rc = zmq_bind(s, endpoint);

		umask(old);
		if (rc != 0)
			log_fatal("endpoint=%s bind=failed error=%s", log_quote(endpoint),
			          log_quote(zmq_strerror(errno)));
	} else if (zmq_connect(s, endpoint) != 0) {
		log_fatal("endpoint=%s connect=failed error=%s", log_quote(endpoint), log_quote(zmq_strerror(errno)));
	}
	return s;
}

void service_auth_poll(struct service *svc)
{
	if (svc->auth != NULL)
		auth_handle(svc->auth);
}

void service_auth_refresh(struct service *svc, struct db *db)
{
	if (svc->auth != NULL && db_ready(db) && auth_refresh(svc->auth, db) != DB_OK)
		log_warn("auth=refresh_failed error=%s", log_quote(db_last_error(db)));
}

const struct principal *service_principal(const struct service *svc, const char *user_id)
{
	return svc->auth != NULL ? auth_find(svc->auth, user_id) : NULL;
}

void service_stop(struct service *svc)
{
	auth_destroy(&svc->auth);
	free(svc->curve);
	svc->curve = NULL;
	if (svc->zmq != NULL)
		zmq_ctx_term(svc->zmq);
	svc->zmq = NULL;
	config_clear(&svc->cfg);
}

int64_t service_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool service_status_requested(void)
{
	if (!status_requested)
		return false;
	status_requested = 0;
	return true;
}

void service_status_write(struct service *svc, struct db *db, json_t *details, bool log_it)
{
	char pid[16], started[24], host[256] = "";
	char *text;

	json_object_set_new(details, "counters", counters_json());
	text = json_dumps(details, JSON_COMPACT);
	snprintf(pid, sizeof pid, "%d", (int)getpid());
	snprintf(started, sizeof started, "%lld", (long long)svc->started_at);
	gethostname(host, sizeof host - 1);

	const char *params[6] = {svc->name, svc->cfg.instance, pid, host, started, text};

	if (log_it)
		log_info("event=status uptime_s=%lld status=%s", (long long)(time(NULL) - svc->started_at),
		         log_quote(text));
	if (db_ready(db))
		(void)db_exec(db, "service_status", 6, params, NULL);
	free(text);
	json_decref(details);
}

struct db *service_db(const struct service *svc, const struct db_statement *stmts, size_t n_stmts)
{
	/* in a libpq connection string a later keyword wins */
	char *conninfo = svc->cfg.database_roles
	                         ? xasprintf("%s user=oro_%s", svc->cfg.database, svc->name + strlen("oro-"))
	                         : xstrdup(svc->cfg.database);
	struct db *db = db_new(conninfo, svc->name, stmts, n_stmts, svc->cfg.db_retry_max_ms);

	free(conninfo);
	return db;
}

void service_refuse(void *sock, const struct wire_peer *peer, const char *request_id, const struct oro_error *err)
{
	log_info("request=refused code=%s field=%s", err->code, log_quote(err->field));
	counter_add(err->code, 1);
	wire_send_error(sock, peer, request_id, err);
}

/* The committer's thread: runs each job handed over on its end of the pipe, until "q". */
static void *committer_main(void *arg)
{
	struct committer *c = arg;
	void *pipe = zmq_socket(c->zmq, ZMQ_PAIR);
	char cmd = 0;

	if (pipe == NULL || zmq_connect(pipe, c->endpoint) != 0)
		log_panic("event=committer_failed error=%s", log_quote(zmq_strerror(zmq_errno())));
	/* signals are blocked on this thread (main): no EINTR */
	while (zmq_recv(pipe, &cmd, 1, 0) == 1 && cmd == 'j') {
		c->run(c->arg);
		if (zmq_send(pipe, "d", 1, 0) != 1)
			break;
	}
	zmq_close(pipe);
	return NULL;
}

/* Send the committer a command ('j': the job is yours; 'q': stop). */
static void committer_tell(struct committer *c, const char *cmd)
{
	while (zmq_send(c->pipe, cmd, 1, 0) != 1)
		if (zmq_errno() != EINTR)
			log_panic("event=committer_failed error=%s", log_quote(zmq_strerror(zmq_errno())));
}

void committer_start(struct committer *c, const struct service *svc, void (*run)(void *arg), void *arg)
{
	sigset_t all, old;

	c->run = run;
	c->arg = arg;
	c->zmq = svc->zmq;
	snprintf(c->endpoint, sizeof c->endpoint, "inproc://%s-committer", svc->name);
	c->pipe = zmq_socket(svc->zmq, ZMQ_PAIR);
	if (c->pipe == NULL || zmq_bind(c->pipe, c->endpoint) != 0)
		log_fatal("event=committer_failed error=%s", log_quote(zmq_strerror(zmq_errno())));
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (pthread_create(&c->thread, NULL, committer_main, c) != 0)
		log_fatal("event=committer_failed error=\"cannot start a thread\"");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void committer_hand(struct committer *c)
{
	committer_tell(c, "j");
}

void committer_done(struct committer *c)
{
	char cmd;

	while (zmq_recv(c->pipe, &cmd, 1, 0) != 1)
		if (zmq_errno() != EINTR)
			log_panic("event=committer_failed error=%s", log_quote(zmq_strerror(zmq_errno())));
}

void committer_stop(struct committer *c)
{
	committer_tell(c, "q");
	pthread_join(c->thread, NULL);
	zmq_close(c->pipe);
}
