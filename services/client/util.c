/*
 * The oro client's shared plumbing: option parsing, output of results and
 * errors, sockets and request/reply, files and the admin database
 * connection (see client.h).
 */
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "alloc.h"
#include "client.h"
#include "log.h"

struct service svc = {
        .name = "oro",
        .users = CFG_CLIENT,
};
bool json_output;

/* Print a usage error and exit 2. */
void usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "oro: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see oro --help)\n");
	exit(EXIT_USAGE);
}

/* Print err (JSON on stdout with --json, else text on stderr) and return the exit code for it. */
int report_error(const struct oro_error *err)
{
	if (json_output) {
		json_t *j = json_pack("{s:o}", "error", oro_error_to_json(err));

		json_dumpf(j, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(j);
	} else {
		fprintf(stderr, "oro: %s%s%s: %s\n", err->code, *err->field ? " " : "", err->field, err->message);
	}
	if (strcmp(err->code, ORO_E_UNAVAILABLE) == 0 || strcmp(err->code, ORO_E_TIMEOUT) == 0)
		return EXIT_UNAVAILABLE;
	return EXIT_REFUSED;
}

/* Print j as indented JSON and release it. */
void print_json(json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2));
	putchar('\n');
	json_decref(j);
}

/* The principal this client acts as: configured, or the login name. */
const char *my_principal(void)
{
	const struct passwd *pw;

	if (svc.cfg.principal != NULL && *svc.cfg.principal != '\0')
		return svc.cfg.principal;
	pw = getpwuid(getuid());
	return pw ? pw->pw_name : "unknown";
}

/* Set CURVE client options on s from curve_key_file and curve_server_key (exit 2 when missing). */
static void client_curve(void *s)
{
	static struct curve_keys keys;
	static char server[AUTH_Z85_LEN + 1];
	struct oro_error err = {0};

	if (keys.public_key[0] == '\0') {
		if (*svc.cfg.curve_key_file == '\0' || *svc.cfg.curve_server_key == '\0')
			usage_error("tcp:// endpoints need CURVE: set curve_key_file (your keys, oro keys new) and "
			            "curve_server_key (the daemons' public key)");
		if (curve_keys_load(svc.cfg.curve_key_file, &keys, &err) < 0)
			usage_error("curve_key_file: %s", err.message);
		if (strlen(svc.cfg.curve_server_key) == AUTH_Z85_LEN && strchr(svc.cfg.curve_server_key, '/') == NULL)
			strcpy(server, svc.cfg.curve_server_key);
		else if (curve_public_key_read(svc.cfg.curve_server_key, server, &err) < 0)
			usage_error("curve_server_key: %s", err.message);
	}
	zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, server, AUTH_Z85_LEN);
	zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, keys.public_key, AUTH_Z85_LEN);
	zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, keys.secret_key, AUTH_Z85_LEN);
}

/* A DEALER socket connected to each endpoint of a comma-separated list. */
void *client_socket(const char *endpoint, int *n_endpoints)
{
	void *s = zmq_socket(svc.zmq, ZMQ_DEALER);
	int zero = 0, one = 1, n = 0;
	/* replies (an inbox of 1000 deliveries) may exceed what the daemons accept */
	int64_t max = CLIENT_MAX_REPLY;
	char *list = xstrdup(endpoint), *save = NULL;

	zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
	zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &max, sizeof max);
	/* queue only to live connections: with several notify instances, a dead one holds nothing back */
	zmq_setsockopt(s, ZMQ_IMMEDIATE, &one, sizeof one);
	if (strstr(endpoint, "tcp://") != NULL)
		client_curve(s); /* CURVE for every tcp:// endpoint; the options apply to each connect */
	for (char *e = strtok_r(list, ", ", &save); e != NULL; e = strtok_r(NULL, ", ", &save), n++) {
		if (zmq_connect(s, e) != 0) {
			fprintf(stderr, "oro: cannot connect to %s: %s\n", e, zmq_strerror(errno));
			exit(EXIT_USAGE);
		}
	}
	free(list);
	if (n == 0)
		usage_error("no endpoint configured");
	if (n_endpoints != NULL)
		*n_endpoints = n;
	return s;
}

/*
 * Wait up to timeout_ms for one reply on sock. Returns the envelope, or NULL
 * with err set (timeout or malformed reply). An Error reply is returned as
 * an envelope: callers check body_case.
 */
Oro__Envelope *await_reply(void *sock, int timeout_ms, struct oro_error *err)
{
	int64_t deadline = service_now_ms() + timeout_ms;

	for (;;) {
		zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
		int64_t left = deadline - service_now_ms();
		Oro__Envelope *env;

		if (left <= 0 || !service_running()) {
			oro_error_set(err, ORO_E_TIMEOUT, "", "no answer within %d ms: is the service running?",
			              timeout_ms);
			return NULL;
		}
		if (zmq_poll(&item, 1, (long)left) <= 0)
			continue;
		switch (wire_recv_reply(sock, &env, err)) {
		case WIRE_OK:
			return env;
		case WIRE_NONE:
			continue;
		case WIRE_REFUSED:
		case WIRE_DROPPED:
			return NULL;
		}
	}
}

/* Send env and wait for the reply, again on a new connection if need be (see client.h). */
Oro__Envelope *request(const char *endpoint, Oro__Envelope *env, bool idempotent, struct oro_error *err)
{
	int attempts = 1 + (idempotent ? svc.cfg.request_retries : 0);
	Oro__Envelope *reply = NULL;

	/* Lazy Pirate: no answer in time, or "unavailable", means close, reconnect
	 * and send the same request again (its client_key makes filing idempotent) */
	for (int attempt = 1; attempt <= attempts && service_running(); attempt++) {
		void *sock = client_socket(endpoint, NULL);

		zmq_pollitem_t out = {sock, 0, ZMQ_POLLOUT, 0};

		memset(err, 0, sizeof *err);
		/* ZMQ_IMMEDIATE: wait (bounded) until a connection is up to take the request */
		if (zmq_poll(&out, 1, svc.cfg.request_timeout_ms) <= 0 || wire_send_request(sock, env) < 0)
			oro_error_set(err, ORO_E_UNAVAILABLE, "", "cannot send to %s", endpoint);
		else
			reply = await_reply(sock, svc.cfg.request_timeout_ms, err);
		zmq_close(sock);
		if (reply != NULL && attempt < attempts && reply->body_case == ORO__ENVELOPE__BODY_ERROR &&
		    reply->error->code != NULL && strcmp(reply->error->code, ORO_E_UNAVAILABLE) == 0) {
			oro_error_set(err, ORO_E_UNAVAILABLE, "", "%s",
			              reply->error->message ? reply->error->message : "");
			wire_envelope_free(&reply);
		}
		if (reply != NULL || attempt == attempts)
			break;
		fprintf(stderr, "oro: %s: %s; trying again (%d of %d)\n", err->code, err->message, attempt + 1,
		        attempts);
		usleep(200000u * (unsigned)attempt);
	}
	return reply;
}

/* If env is an Error reply, copy it to err and return true. */
bool is_error(const Oro__Envelope *env, struct oro_error *err)
{
	if (env->body_case != ORO__ENVELOPE__BODY_ERROR)
		return false;
	oro_error_set(err, env->error->code ? env->error->code : ORO_E_INTERNAL, env->error->field, "%s",
	              env->error->message ? env->error->message : "");
	return true;
}

/* Read a whole file into a new string (*len bytes); NULL with errno on failure. */
char *read_file(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (f == NULL)
		return NULL;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			buf = xrealloc(buf, cap);
		}
		size_t got = fread(buf + n, 1, cap - n - 1, f);

		n += got;
		if (got == 0)
			break;
	}
	if (f != stdin)
		fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/*
 * Parse argv[first..argc) against opts; positional arguments go to pos
 * (at most max_pos). --help prints help and exits 0.
 */
int parse_opts(int argc, char **argv, int first, const struct opt *opts, const char **pos, int max_pos,
               const char *help)
{
	int n_pos = 0;

	for (int i = first; i < argc; i++) {
		const char *a = argv[i];
		const struct opt *o;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(help, stdout);
			printf("\nConfiguration keys (also ORO_<KEY> and --KEY VALUE):\n");
			config_print_help(CFG_CLIENT, "  ");
			exit(EXIT_DONE);
		}
		if (strcmp(a, "--json") == 0) {
			json_output = true;
			continue;
		}
		if (strncmp(a, "--", 2) != 0 || strcmp(a, "-") == 0) {
			if (n_pos == max_pos)
				usage_error("unexpected argument \"%s\"", a);
			pos[n_pos++] = a;
			continue;
		}
		for (o = opts; o->name != NULL; o++)
			if (strcmp(a + 2, o->name) == 0)
				break;
		if (o->name == NULL)
			usage_error("unknown option %s", a);
		if (o->has_value) {
			if (i + 1 >= argc)
				usage_error("%s needs a value", a);
			*o->value = argv[++i];
		} else {
			*o->flag = true;
		}
	}
	return n_pos;
}

/* The department the client acts for, or a usage error. */
const char *my_department(void)
{
	if (svc.cfg.department == NULL || *svc.cfg.department == '\0')
		usage_error("--department is required (or department in the configuration)");
	return svc.cfg.department;
}

/* Parse a delivery id argument. */
int64_t parse_delivery_id(const char *s)
{
	char *end;
	long long v = strtoll(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v <= 0)
		usage_error("\"%s\" is not a delivery id (a positive number)", s);
	return v;
}

/* A database connection for the admin commands, or exit 3. */
struct db *admin_db(const struct db_statement *stmts, size_t n)
{
	struct db *db = db_new(svc.cfg.database, "oro", stmts, n, 1000);

	if (!db_ready(db)) {
		fprintf(stderr, "oro: database unavailable: %s\n", db_last_error(db));
		exit(EXIT_UNAVAILABLE);
	}
	return db;
}
