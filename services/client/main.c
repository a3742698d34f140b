/*
 * oro: the command-line client for reporters, departments and the
 * strategy owner.
 *
 *   oro report [--file DOC.json | FIELD FLAGS] [--no-check] [--json]
 *   oro status RECEIPT [--json]
 *   oro inbox [--department D] [--all] [--limit N] [--json]
 *   oro inbox [--department D] --follow [--ack] [--max N] [--for SECONDS] [--json]
 *   oro show DELIVERY [--department D] [--json]
 *   oro ack DELIVERY [--department D] [--json]
 *   oro rules test [--rules FILE] CASES.json [--json]
 *   oro rules import FILE [--note TEXT] [--json]
 *
 * Every command takes --help. Exit codes: 0 done; 1 refused (invalid input
 * or an error reply: code, field and message are printed); 2 usage error;
 * 3 no answer in time or the service is temporarily unavailable (nothing
 * was done that the reply did not confirm: try again).
 *
 * Endpoints (connected, never bound): intake_endpoint (DEALER, report and
 * status), notify_endpoint (DEALER, inbox, show, ack). `rules import` and
 * `rules test` without --rules use the database connection `database`.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include <jansson.h>

#include "alloc.h"
#include "concern.h"
#include "crypto.h"
#include "db.h"
#include "log.h"
#include "rules.h"
#include "service.h"
#include "strategy.h"
#include "wire.h"

#define CLIENT_MAX_REPLY (16 * 1024 * 1024)

enum exit_code { EXIT_DONE = 0, EXIT_REFUSED = 1, EXIT_USAGE = 2, EXIT_UNAVAILABLE = 3 };

static struct service svc = {
	.name = "oro",
	.users = CFG_CLIENT,
};
static bool json_output;

static const char usage_text[] =
	"usage: oro [--config FILE] [--KEY VALUE]... COMMAND [ARGS]\n"
	"\n"
	"Commands:\n"
	"  report       file a concern (from flags, or --file with a concern document)\n"
	"  status       follow a case with its receipt\n"
	"  inbox        list a department's deliveries, or --follow them live\n"
	"  show         show one delivery of your department (full content if its view is full)\n"
	"  ack          acknowledge a delivery\n"
	"  rules test   evaluate example cases against a ruleset\n"
	"  rules import store a ruleset document as the next version and activate it\n"
	"\n"
	"`oro COMMAND --help` describes a command. Every command prints JSON with --json.\n"
	"Exit codes: 0 done; 1 refused (error code, field and message printed); 2 usage;\n"
	"3 no answer in time or temporarily unavailable (try again).\n";

/* Print a usage error and exit 2. */
static void __attribute__((noreturn, format(printf, 1, 2))) usage_error(const char *fmt, ...)
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
static int report_error(const struct oro_error *err)
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
static void print_json(json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2));
	putchar('\n');
	json_decref(j);
}

/* The principal this client acts as: configured, or the login name. */
static const char *my_principal(void)
{
	const struct passwd *pw;

	if (svc.cfg.principal != NULL && *svc.cfg.principal != '\0')
		return svc.cfg.principal;
	pw = getpwuid(getuid());
	return pw ? pw->pw_name : "unknown";
}

/* A DEALER socket connected to endpoint. */
static void *client_socket(const char *endpoint)
{
	void *s = zmq_socket(svc.zmq, ZMQ_DEALER);
	int zero = 0;
	/* replies (an inbox of 1000 deliveries) may exceed what the daemons accept */
	int64_t max = CLIENT_MAX_REPLY;

	zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
	zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &max, sizeof max);
	if (zmq_connect(s, endpoint) != 0) {
		fprintf(stderr, "oro: cannot connect to %s: %s\n", endpoint, zmq_strerror(errno));
		exit(EXIT_USAGE);
	}
	return s;
}

/*
 * Wait up to timeout_ms for one reply on sock. Returns the envelope, or NULL
 * with err set (timeout or malformed reply). An Error reply is returned as
 * an envelope: callers check body_case.
 */
static Oro__Envelope *await_reply(void *sock, int timeout_ms, struct oro_error *err)
{
	int64_t deadline = service_now_ms() + timeout_ms;

	for (;;) {
		zmq_pollitem_t item = { sock, 0, ZMQ_POLLIN, 0 };
		int64_t left = deadline - service_now_ms();
		Oro__Envelope *env;

		if (left <= 0 || !service_running()) {
			oro_error_set(err, ORO_E_TIMEOUT, "", "no answer within %d ms: is the service running?", timeout_ms);
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

/* Send env to endpoint and wait for its reply (see await_reply). */
static Oro__Envelope *request(const char *endpoint, Oro__Envelope *env, struct oro_error *err)
{
	void *sock = client_socket(endpoint);
	Oro__Envelope *reply = NULL;

	if (wire_send_request(sock, env) < 0)
		oro_error_set(err, ORO_E_UNAVAILABLE, "", "cannot send to %s", endpoint);
	else
		reply = await_reply(sock, svc.cfg.request_timeout_ms, err);
	zmq_close(sock);
	return reply;
}

/* If env is an Error reply, copy it to err and return true. */
static bool is_error(const Oro__Envelope *env, struct oro_error *err)
{
	if (env->body_case != ORO__ENVELOPE__BODY_ERROR)
		return false;
	oro_error_set(err, env->error->code ? env->error->code : ORO_E_INTERNAL, env->error->field,
		      "%s", env->error->message ? env->error->message : "");
	return true;
}

/* Read a whole file into a new string (*len bytes); NULL with errno on failure. */
static char *read_file(const char *path, size_t *len)
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

/* Option table entry of a command: name, whether it takes a value, where to store it. */
struct opt {
	const char *name;
	bool has_value;
	const char **value; /* for has_value */
	bool *flag;         /* for flags */
};

/*
 * Parse argv[first..argc) against opts; positional arguments go to pos
 * (at most max_pos). --help prints help and exits 0.
 */
static int parse_opts(int argc, char **argv, int first, const struct opt *opts, const char **pos, int max_pos,
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

/* ------------------------------------------------------------------ report */

static const char report_help[] =
	"usage: oro report --file DOC.json [--no-check] [--json]\n"
	"       oro report --category C --urgency U --subject-kind K --setting S --district D\n"
	"                  --description TEXT [--client-key K] [--age N | --age-band B]\n"
	"                  [--subject-name N] [--personal-number P] [--subject-unit U]\n"
	"                  [--grant yes|no|unknown] [--observed-at RFC3339]\n"
	"                  [--relatives-informed yes|no|unknown] [--reporter-unit U] [--phone P] [--json]\n"
	"\n"
	"Files a concern with oro-intake and prints its case number, its receipt (keep it:\n"
	"it is shown once and lets you follow the case with `oro status`) and the guidance.\n"
	"The concern document format is in docs/protocol.md. Without --client-key a new\n"
	"random key is chosen; sending the same key again returns the same case.\n"
	"--no-check sends without validating locally (oro-intake validates anyway).\n";

/* Field flags of `oro report`: flag name, JSON key, sub-object or NULL. */
static const struct {
	const char *flag, *key, *object;
	bool integer;
} report_fields[] = {
	{ "client-key", "client_key", NULL, false },
	{ "category", "category", NULL, false },
	{ "urgency", "urgency", NULL, false },
	{ "subject-kind", "kind", "subject", false },
	{ "age", "age", "subject", true },
	{ "age-band", "age_band", "subject", false },
	{ "subject-name", "name", "subject", false },
	{ "personal-number", "personal_number", "subject", false },
	{ "subject-unit", "unit", "subject", false },
	{ "setting", "setting", NULL, false },
	{ "district", "district", NULL, false },
	{ "grant", "association_grant", NULL, false },
	{ "description", "description", NULL, false },
	{ "observed-at", "observed_at", NULL, false },
	{ "relatives-informed", "relatives_informed", NULL, false },
	{ "reporter-unit", "unit", "reporter", false },
	{ "phone", "phone", "reporter", false },
};
#define N_REPORT_FIELDS (sizeof report_fields / sizeof report_fields[0])

/* The concern document that report's flags describe. */
static json_t *report_doc_from_flags(const char **values)
{
	json_t *doc = json_object();

	for (size_t i = 0; i < N_REPORT_FIELDS; i++) {
		json_t *parent = doc, *v;
		char *end;
		long n;

		if (values[i] == NULL)
			continue;
		if (report_fields[i].object != NULL) {
			parent = json_object_get(doc, report_fields[i].object);
			if (parent == NULL) {
				parent = json_object();
				json_object_set_new(doc, report_fields[i].object, parent);
			}
		}
		n = strtol(values[i], &end, 10);
		v = report_fields[i].integer && *values[i] && *end == '\0' ? json_integer(n) : json_string(values[i]);
		if (v == NULL)
			usage_error("--%s is not valid UTF-8", report_fields[i].flag);
		json_object_set_new(parent, report_fields[i].key, v);
	}
	if (json_object_get(doc, "client_key") == NULL) {
		unsigned char r[12];
		char key[32];

		crypto_random(r, sizeof r);
		snprintf(key, sizeof key, "cli-");
		for (size_t i = 0; i < sizeof r; i++)
			snprintf(key + 4 + 2 * i, 3, "%02x", r[i]);
		json_object_set_new(doc, "client_key", json_string(key));
	}
	return doc;
}

/* Print a FileReply. */
static void print_file_reply(const Oro__FileReply *r)
{
	if (json_output) {
		json_t *g = json_array();

		for (size_t i = 0; i < r->n_guidance; i++)
			json_array_append_new(g, json_pack("{s:s?, s:s?}", "sv", r->guidance[i]->sv, "en",
							   r->guidance[i]->en));
		print_json(json_pack("{s:s?, s:s?, s:s?, s:b, s:o}", "case_number", r->case_number, "receipt",
				     r->receipt, "filed_at", r->filed_at, "duplicate", r->duplicate, "guidance", g));
		return;
	}
	printf("Case number: %s%s\n", r->case_number, r->duplicate ? " (already filed with this client key)" : "");
	printf("Receipt:     %s\n", r->receipt);
	printf("             Keep the receipt: it is shown once and lets you follow the case with `oro status`.\n");
	for (size_t i = 0; i < r->n_guidance; i++)
		printf("\n%s\n%s\n", r->guidance[i]->sv ? r->guidance[i]->sv : "",
		       r->guidance[i]->en ? r->guidance[i]->en : "");
}

/* oro report */
static int cmd_report(int argc, char **argv)
{
	const char *values[N_REPORT_FIELDS] = { 0 };
	struct opt opts[N_REPORT_FIELDS + 3];
	const char *file = NULL;
	bool no_check = false;
	struct concern c = { 0 };
	struct oro_error err = { 0 };
	json_t *doc;
	int rc = EXIT_DONE;

	for (size_t i = 0; i < N_REPORT_FIELDS; i++)
		opts[i] = (struct opt){ report_fields[i].flag, true, &values[i], NULL };
	opts[N_REPORT_FIELDS] = (struct opt){ "file", true, &file, NULL };
	opts[N_REPORT_FIELDS + 1] = (struct opt){ "no-check", false, NULL, &no_check };
	opts[N_REPORT_FIELDS + 2] = (struct opt){ NULL, false, NULL, NULL };
	parse_opts(argc, argv, 2, opts, NULL, 0, report_help);

	if (file != NULL) {
		size_t len;
		char *text;

		for (size_t i = 0; i < N_REPORT_FIELDS; i++)
			if (values[i] != NULL)
				usage_error("--file and --%s exclude each other", report_fields[i].flag);
		text = read_file(file, &len);
		if (text == NULL)
			usage_error("cannot read %s: %s", file, strerror(errno));
		rc = concern_parse(text, len, &c, &err);
		free(text);
	} else {
		doc = report_doc_from_flags(values);
		rc = concern_from_json(doc, &c, &err);
		json_decref(doc);
	}
	if (rc < 0 || (!no_check && concern_validate(&c, NULL, 0, &err) < 0)) {
		concern_clear(&c);
		return report_error(&err);
	}
	c.reporter_principal = xstrdup(my_principal());

	Oro__Envelope env, *reply;
	Oro__FileConcern m;
	Oro__Subject subject;
	Oro__Reporter reporter;

	wire_envelope_init(&env);
	wire_concern_to_pb(&c, &m, &subject, &reporter);
	env.body_case = ORO__ENVELOPE__BODY_FILE_CONCERN;
	env.file_concern = &m;
	reply = request(svc.cfg.intake_endpoint, &env, &err);
	if (reply == NULL || is_error(reply, &err))
		rc = report_error(&err);
	else if (reply->body_case != ORO__ENVELOPE__BODY_FILE_REPLY)
		rc = report_error(&(struct oro_error){ ORO_E_MALFORMED, "", "unexpected reply type" });
	else
		print_file_reply(reply->file_reply);
	wire_envelope_free(&reply);
	concern_clear(&c);
	return rc;
}

/* ------------------------------------------------------------------ status */

static const char status_help[] =
	"usage: oro status RECEIPT [--json]\n"
	"\n"
	"Shows the state of the case that RECEIPT belongs to: received (stored, not yet\n"
	"routed), routed (sent to the responsible departments), acknowledged (every\n"
	"department has confirmed it), with how many departments have acknowledged.\n";

/* oro status */
static int cmd_status(int argc, char **argv)
{
	const char *pos[1];
	struct opt opts[] = { { NULL, false, NULL, NULL } };
	struct oro_error err = { 0 };
	Oro__Envelope env, *reply;
	Oro__FollowReceipt m;
	int rc = EXIT_DONE;

	if (parse_opts(argc, argv, 2, opts, pos, 1, status_help) != 1)
		usage_error("status needs a RECEIPT");
	wire_envelope_init(&env);
	oro__follow_receipt__init(&m);
	m.receipt = (char *)pos[0];
	env.body_case = ORO__ENVELOPE__BODY_FOLLOW_RECEIPT;
	env.follow_receipt = &m;
	reply = request(svc.cfg.intake_endpoint, &env, &err);
	if (reply == NULL || is_error(reply, &err)) {
		rc = report_error(&err);
	} else if (reply->body_case != ORO__ENVELOPE__BODY_CASE_STATUS) {
		rc = report_error(&(struct oro_error){ ORO_E_MALFORMED, "", "unexpected reply type" });
	} else {
		const Oro__CaseStatus *s = reply->case_status;

		if (json_output)
			print_json(json_pack("{s:s?, s:s?, s:s?, s:s?, s:i, s:i}", "case_number", s->case_number, "state",
					     s->state, "filed_at", s->filed_at, "routed_at", s->routed_at, "deliveries",
					     (int)s->deliveries, "acknowledged", (int)s->acknowledged));
		else
			printf("Case %s: %s\nFiled:  %s\nRouted: %s\nAcknowledged by %u of %u departments\n",
			       s->case_number, s->state, s->filed_at, s->routed_at ? s->routed_at : "not yet",
			       s->acknowledged, s->deliveries);
	}
	wire_envelope_free(&reply);
	return rc;
}

/* ------------------------------------------------------- department side */

/* A delivery as JSON (only the fields present). */
static json_t *delivery_json(const Oro__Delivery *d)
{
	json_t *j = json_pack("{s:I, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?}",
			      "delivery_id", (json_int_t)d->delivery_id, "case_number", d->case_number, "department",
			      d->department, "view", d->view, "priority", d->priority, "deadline", d->deadline, "state",
			      d->state, "category", d->category, "urgency", d->urgency, "subject_kind", d->subject_kind,
			      "age_band", d->age_band, "setting", d->setting, "district", d->district);
	const struct {
		const char *key, *value;
	} extra[] = {
		{ "filed_at", d->filed_at },
		{ "disclosure_basis", d->disclosure_basis },
		{ "association_grant", d->association_grant },
		{ "relatives_informed", d->relatives_informed },
		{ "observed_at", d->observed_at },
		{ "acknowledged_at", d->acknowledged_at },
		{ "acknowledged_by", d->acknowledged_by },
		{ "description", d->description },
		{ "reporter_principal", d->reporter_principal },
	};

	for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
		if (extra[i].value != NULL)
			json_object_set_new(j, extra[i].key, json_string(extra[i].value));
	if (d->subject != NULL) {
		json_t *s = json_object();

		if (d->subject->has_age)
			json_object_set_new(s, "age", json_integer(d->subject->age));
		if (d->subject->name)
			json_object_set_new(s, "name", json_string(d->subject->name));
		if (d->subject->personal_number)
			json_object_set_new(s, "personal_number", json_string(d->subject->personal_number));
		if (d->subject->unit)
			json_object_set_new(s, "unit", json_string(d->subject->unit));
		json_object_set_new(j, "subject", s);
	}
	if (d->reporter != NULL) {
		json_t *r = json_object();

		if (d->reporter->unit)
			json_object_set_new(r, "unit", json_string(d->reporter->unit));
		if (d->reporter->phone)
			json_object_set_new(r, "phone", json_string(d->reporter->phone));
		json_object_set_new(j, "reporter", r);
	}
	return j;
}

/* Print a delivery for people. */
static void print_delivery(const Oro__Delivery *d, bool brief)
{
#define S(x) ((x) ? (x) : "-")
	printf("Delivery %lld  %s  %s  %s view  %s  acknowledge by %s%s\n", (long long)d->delivery_id,
	       S(d->case_number), S(d->department), S(d->view), S(d->priority), S(d->deadline),
	       d->acknowledged_at ? "  (acknowledged)" : "");
	printf("  %s, %s; subject %s (age %s); %s, %s\n", S(d->category), S(d->urgency), S(d->subject_kind),
	       S(d->age_band), S(d->setting), S(d->district));
	if (brief)
		return;
	if (d->disclosure_basis)
		printf("  Disclosure basis: %s\n", d->disclosure_basis);
	if (d->observed_at)
		printf("  Observed: %s   Relatives informed: %s   Association grant: %s\n", d->observed_at,
		       S(d->relatives_informed), S(d->association_grant));
	if (d->description)
		printf("  Description: %s\n", d->description);
	if (d->subject && (d->subject->name || d->subject->personal_number || d->subject->unit || d->subject->has_age)) {
		printf("  Subject:");
		if (d->subject->name)
			printf(" %s", d->subject->name);
		if (d->subject->personal_number)
			printf(", %s", d->subject->personal_number);
		if (d->subject->has_age)
			printf(", %u years", d->subject->age);
		if (d->subject->unit)
			printf(", %s", d->subject->unit);
		printf("\n");
	}
	if (d->reporter_principal)
		printf("  Reported by: %s%s%s%s%s\n", d->reporter_principal, d->reporter && d->reporter->unit ? ", " : "",
		       d->reporter && d->reporter->unit ? d->reporter->unit : "",
		       d->reporter && d->reporter->phone ? ", " : "", d->reporter && d->reporter->phone ? d->reporter->phone : "");
	if (d->acknowledged_at)
		printf("  Acknowledged %s by %s\n", d->acknowledged_at, S(d->acknowledged_by));
#undef S
}

/* The department the client acts for, or a usage error. */
static const char *my_department(void)
{
	if (svc.cfg.department == NULL || *svc.cfg.department == '\0')
		usage_error("--department is required (or department in the configuration)");
	return svc.cfg.department;
}

/* Parse a delivery id argument. */
static int64_t parse_delivery_id(const char *s)
{
	char *end;
	long long v = strtoll(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v <= 0)
		usage_error("\"%s\" is not a delivery id (a positive number)", s);
	return v;
}

/* Send Acknowledge for delivery id on sock (request id "ack"). */
static int send_ack(void *sock, int64_t id)
{
	Oro__Envelope env;
	Oro__Acknowledge m;

	wire_envelope_init(&env);
	oro__acknowledge__init(&m);
	m.has_delivery_id = true;
	m.delivery_id = id;
	m.department = (char *)my_department();
	m.principal = (char *)my_principal();
	env.request_id = "ack";
	env.body_case = ORO__ENVELOPE__BODY_ACKNOWLEDGE;
	env.acknowledge = &m;
	return wire_send_request(sock, &env);
}

/* Print an AckConfirmed (one JSON line with --json). */
static void print_ack(const Oro__AckConfirmed *a)
{
	if (json_output) {
		json_t *j = json_pack("{s:{s:I, s:s?, s:s?, s:b}}", "acknowledged", "delivery_id", (json_int_t)a->delivery_id,
				      "acknowledged_at", a->acknowledged_at, "acknowledged_by", a->acknowledged_by,
				      "already", a->already);

		json_dumpf(j, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(j);
	} else {
		printf("Acknowledged delivery %lld at %s by %s%s\n", (long long)a->delivery_id, a->acknowledged_at,
		       a->acknowledged_by, a->already ? " (earlier)" : "");
	}
	fflush(stdout);
}

static const char ack_help[] =
	"usage: oro ack DELIVERY [--department D] [--json]\n"
	"\n"
	"Acknowledges a delivery of your department: records that it reached a person,\n"
	"with the time and your principal, and stops its redelivery. Acknowledging again\n"
	"is harmless and reports the first acknowledgement.\n";

/* oro ack */
static int cmd_ack(int argc, char **argv)
{
	const char *pos[1];
	struct opt opts[] = { { NULL, false, NULL, NULL } };
	struct oro_error err = { 0 };
	Oro__Envelope *reply = NULL;
	void *sock;
	int rc = EXIT_DONE;

	if (parse_opts(argc, argv, 2, opts, pos, 1, ack_help) != 1)
		usage_error("ack needs a DELIVERY id");
	sock = client_socket(svc.cfg.notify_endpoint);
	if (send_ack(sock, parse_delivery_id(pos[0])) < 0)
		oro_error_set(&err, ORO_E_UNAVAILABLE, "", "cannot send to %s", svc.cfg.notify_endpoint);
	else
		reply = await_reply(sock, svc.cfg.request_timeout_ms, &err);
	if (reply == NULL || is_error(reply, &err))
		rc = report_error(&err);
	else if (reply->body_case != ORO__ENVELOPE__BODY_ACK_CONFIRMED)
		rc = report_error(&(struct oro_error){ ORO_E_MALFORMED, "", "unexpected reply type" });
	else
		print_ack(reply->ack_confirmed);
	wire_envelope_free(&reply);
	zmq_close(sock);
	return rc;
}

static const char show_help[] =
	"usage: oro show DELIVERY [--department D] [--json]\n"
	"\n"
	"Shows one delivery of your department: with view full, the description, the\n"
	"subject's identity and the reporter's contact; with view notice, only the\n"
	"de-identified fields.\n";

/* oro show */
static int cmd_show(int argc, char **argv)
{
	const char *pos[1];
	struct opt opts[] = { { NULL, false, NULL, NULL } };
	struct oro_error err = { 0 };
	Oro__Envelope env, *reply;
	Oro__ShowDelivery m;
	int rc = EXIT_DONE;

	if (parse_opts(argc, argv, 2, opts, pos, 1, show_help) != 1)
		usage_error("show needs a DELIVERY id");
	wire_envelope_init(&env);
	oro__show_delivery__init(&m);
	m.has_delivery_id = true;
	m.delivery_id = parse_delivery_id(pos[0]);
	m.department = (char *)my_department();
	env.body_case = ORO__ENVELOPE__BODY_SHOW_DELIVERY;
	env.show_delivery = &m;
	reply = request(svc.cfg.notify_endpoint, &env, &err);
	if (reply == NULL || is_error(reply, &err))
		rc = report_error(&err);
	else if (reply->body_case != ORO__ENVELOPE__BODY_DELIVERY)
		rc = report_error(&(struct oro_error){ ORO_E_MALFORMED, "", "unexpected reply type" });
	else if (json_output)
		print_json(delivery_json(reply->delivery));
	else
		print_delivery(reply->delivery, false);
	wire_envelope_free(&reply);
	return rc;
}

static const char inbox_help[] =
	"usage: oro inbox [--department D] [--all] [--limit N] [--json]\n"
	"       oro inbox [--department D] --follow [--ack] [--max N] [--for SECONDS] [--json]\n"
	"\n"
	"Lists your department's unacknowledged deliveries (--all: also acknowledged\n"
	"ones; newest first, at most --limit, default 100), with the de-identified\n"
	"fields only: use `oro show` for the content.\n"
	"\n"
	"--follow subscribes and prints each delivery as it arrives (every open one\n"
	"first), with its content when the view is full; --ack acknowledges each one\n"
	"as it is printed. It stops after --max deliveries or --for seconds, or on\n"
	"Ctrl-C. With --json, follow prints one JSON object per line.\n"
	"Exit code 3 when --max was not reached within --for.\n";

/* Send Subscribe on sock. */
static void subscribe(void *sock)
{
	Oro__Envelope env;
	Oro__Subscribe m;

	wire_envelope_init(&env);
	oro__subscribe__init(&m);
	m.department = (char *)my_department();
	m.principal = (char *)my_principal();
	env.request_id = "subscribe";
	env.body_case = ORO__ENVELOPE__BODY_SUBSCRIBE;
	env.subscribe = &m;
	wire_send_request(sock, &env);
}

/*
 * oro inbox --follow: subscribe, heartbeat, print what arrives and, with
 * ack, acknowledge it without waiting (confirmations arrive in the same
 * stream as further deliveries). Ends after max deliveries (and their
 * confirmations), after for_s seconds, or on a signal.
 */
static int inbox_follow(bool ack, long max, long for_s)
{
	void *sock = client_socket(svc.cfg.notify_endpoint);
	int64_t end = for_s > 0 ? service_now_ms() + for_s * 1000 : INT64_MAX;
	int64_t next_beat = 0, last_heard = service_now_ms();
	int hb = svc.cfg.heartbeat_ms;
	long seen = 0, unconfirmed = 0;
	int rc = EXIT_DONE;

	while (service_running() && (max <= 0 || seen < max || unconfirmed > 0)) {
		zmq_pollitem_t item = { sock, 0, ZMQ_POLLIN, 0 };
		int64_t now = service_now_ms();
		Oro__Envelope *env;
		struct oro_error err = { 0 };

		if (now >= end) {
			if (max > 0)
				rc = EXIT_UNAVAILABLE;
			break;
		}
		if (now - last_heard > 3 * (int64_t)hb) {
			/* oro-notify went silent: a new connection gets the backlog again */
			zmq_close(sock);
			sock = client_socket(svc.cfg.notify_endpoint);
			last_heard = now;
			next_beat = 0;
			unconfirmed = 0;
		}
		if (now >= next_beat) {
			subscribe(sock);
			next_beat = now + hb;
		}
		if (zmq_poll(&item, 1, (long)(next_beat < end ? next_beat - now : end - now)) <= 0)
			continue;
		if (wire_recv_reply(sock, &env, &err) != WIRE_OK)
			continue;
		last_heard = service_now_ms();
		switch (env->body_case) {
		case ORO__ENVELOPE__BODY_DELIVERY:
			seen++;
			if (json_output) {
				json_t *j = json_pack("{s:o}", "delivery", delivery_json(env->delivery));

				json_dumpf(j, stdout, JSON_COMPACT);
				putchar('\n');
				json_decref(j);
			} else {
				print_delivery(env->delivery, false);
			}
			fflush(stdout);
			if (ack && send_ack(sock, env->delivery->delivery_id) == 0)
				unconfirmed++;
			break;
		case ORO__ENVELOPE__BODY_ACK_CONFIRMED:
			unconfirmed--;
			print_ack(env->ack_confirmed);
			break;
		case ORO__ENVELOPE__BODY_ERROR:
			is_error(env, &err);
			rc = report_error(&err);
			if (env->request_id == NULL || strcmp(env->request_id, "ack") != 0) {
				wire_envelope_free(&env);
				goto out; /* a refused subscription: nothing to follow */
			}
			unconfirmed--;
			break;
		case ORO__ENVELOPE__BODY_SUBSCRIBED:
			/* the heartbeat's answer; the server says how often it wants one */
			if (env->subscribed->has_heartbeat_ms && env->subscribed->heartbeat_ms >= 100)
				hb = (int)env->subscribed->heartbeat_ms;
			break;
		default:
			break;
		}
		wire_envelope_free(&env);
	}
out:
	zmq_close(sock);
	return rc;
}

/* oro inbox */
static int cmd_inbox(int argc, char **argv)
{
	bool follow = false, ack = false, all = false;
	const char *max_s = NULL, *for_s = NULL, *limit_s = NULL;
	struct opt opts[] = { { "follow", false, NULL, &follow }, { "ack", false, NULL, &ack },
			      { "all", false, NULL, &all },       { "max", true, &max_s, NULL },
			      { "for", true, &for_s, NULL },      { "limit", true, &limit_s, NULL },
			      { NULL, false, NULL, NULL } };
	struct oro_error err = { 0 };
	Oro__Envelope env, *reply;
	Oro__ListInbox m;
	long max = max_s ? atol(max_s) : 0, limit;
	int rc = EXIT_DONE;

	parse_opts(argc, argv, 2, opts, NULL, 0, inbox_help);
	max = max_s ? atol(max_s) : 0;
	if (follow)
		return inbox_follow(ack, max, for_s ? atol(for_s) : 0);
	if (ack || max_s || for_s)
		usage_error("--ack, --max and --for go with --follow");
	limit = limit_s ? atol(limit_s) : 100;
	wire_envelope_init(&env);
	oro__list_inbox__init(&m);
	m.department = (char *)my_department();
	m.has_include_acknowledged = true;
	m.include_acknowledged = all;
	m.has_limit = true;
	m.limit = limit > 0 && limit < 100000 ? (uint32_t)limit : 0;
	env.body_case = ORO__ENVELOPE__BODY_LIST_INBOX;
	env.list_inbox = &m;
	reply = request(svc.cfg.notify_endpoint, &env, &err);
	if (reply == NULL || is_error(reply, &err)) {
		rc = report_error(&err);
	} else if (reply->body_case != ORO__ENVELOPE__BODY_INBOX) {
		rc = report_error(&(struct oro_error){ ORO_E_MALFORMED, "", "unexpected reply type" });
	} else if (json_output) {
		json_t *arr = json_array();

		for (size_t i = 0; i < reply->inbox->n_deliveries; i++)
			json_array_append_new(arr, delivery_json(reply->inbox->deliveries[i]));
		print_json(json_pack("{s:s, s:o}", "department", m.department, "deliveries", arr));
	} else {
		printf("%zu deliveries for %s\n", reply->inbox->n_deliveries, m.department);
		for (size_t i = 0; i < reply->inbox->n_deliveries; i++)
			print_delivery(reply->inbox->deliveries[i], true);
	}
	wire_envelope_free(&reply);
	return rc;
}

/* ------------------------------------------------------------------ rules */

static const char rules_help[] =
	"usage: oro rules test [--rules FILE] CASES.json [--json]\n"
	"       oro rules import FILE [--note TEXT] [--json]\n"
	"\n"
	"test:   evaluates each concern document of the JSON array in CASES.json with the\n"
	"        same code as oro-router: against FILE with --rules (no server needed), else\n"
	"        against the database's active ruleset. Prints, per case, the matched rules\n"
	"        (1-based positions), the recipients (department, view, priority, ack_within\n"
	"        in seconds, disclosure_basis) and the guidance, or an error for an invalid case.\n"
	"import: validates FILE and, in one transaction, stores it as the next ruleset\n"
	"        version with its rules and departments and makes it active. Importing the\n"
	"        document that is already active changes nothing.\n"
	"The ruleset format is in docs/rules.md.\n";

/* Load and validate a ruleset file, printing every problem; NULL when invalid. */
static struct ruleset *load_rules(const char *path)
{
	struct rules_diags diags = { 0 };
	struct ruleset *rs = ruleset_load_file(path, &diags);

	if (rs == NULL) {
		if (json_output) {
			print_json(json_pack("{s:o}", "errors", rules_diags_to_json(&diags)));
		} else {
			for (size_t i = 0; i < diags.count; i++) {
				const struct rules_diag *d = &diags.items[i];

				fprintf(stderr, "%s: %s: rule %d (%s) %s: %s\n", path, d->warning ? "warning" : "error",
					d->rule, d->rule_name, d->field, d->message);
			}
		}
	}
	rules_diags_free(&diags);
	return rs;
}

/* A database connection for the admin commands, or exit 3. */
static struct db *admin_db(const struct db_statement *stmts, size_t n)
{
	struct db *db = db_new(svc.cfg.database, "oro", stmts, n, 1000);

	if (!db_ready(db)) {
		fprintf(stderr, "oro: database unavailable: %s\n", db_last_error(db));
		exit(EXIT_UNAVAILABLE);
	}
	return db;
}

/* oro rules test */
static int rules_test(const char *rules_file, const char *cases_file)
{
	static const struct db_statement stmts[] = { STRATEGY_STATEMENTS };
	struct ruleset *rs = NULL;
	json_error_t jerr;
	json_t *cases, *results;

	if (rules_file != NULL) {
		rs = load_rules(rules_file);
		if (rs == NULL)
			return EXIT_REFUSED;
	} else {
		struct db *db = admin_db(stmts, 1);

		if (strategy_refresh(db, &rs) != DB_OK || rs == NULL) {
			fprintf(stderr, "oro: no active ruleset could be loaded from the database\n");
			db_destroy(&db);
			return EXIT_UNAVAILABLE;
		}
		db_destroy(&db);
	}
	cases = json_load_file(cases_file, JSON_REJECT_DUPLICATES, &jerr);
	if (cases == NULL || !json_is_array(cases)) {
		struct oro_error err;

		oro_error_set(&err, cases ? ORO_E_WRONG_TYPE : ORO_E_INVALID_JSON, "", "%s: %s", cases_file,
			      cases ? "expected a JSON array of concern documents" : jerr.text);
		json_decref(cases);
		ruleset_destroy(&rs);
		return report_error(&err);
	}
	results = rules_test_cases(rs, cases);
	if (json_output) {
		print_json(json_incref(results));
	} else {
		for (size_t i = 0; i < json_array_size(results); i++) {
			json_t *r = json_array_get(results, i), *e = json_object_get(r, "error");
			size_t j;
			json_t *v;

			printf("case %zu:", i + 1);
			if (e != NULL) {
				printf(" error %s %s: %s\n", json_string_value(json_object_get(e, "code")),
				       json_string_value(json_object_get(e, "field")),
				       json_string_value(json_object_get(e, "message")));
				continue;
			}
			printf(" rules");
			json_array_foreach(json_object_get(r, "matched_rules"), j, v)
				printf(" %lld", (long long)json_integer_value(v));
			printf("\n");
			json_array_foreach(json_object_get(r, "recipients"), j, v) {
				const char *basis = json_string_value(json_object_get(v, "disclosure_basis"));

				printf("  %-16s %-6s %s  within %llds%s%s\n",
				       json_string_value(json_object_get(v, "department")),
				       json_string_value(json_object_get(v, "view")),
				       json_string_value(json_object_get(v, "priority")),
				       (long long)json_integer_value(json_object_get(v, "ack_within")),
				       basis ? "  basis: " : "", basis ? basis : "");
			}
		}
	}
	json_decref(results);
	json_decref(cases);
	ruleset_destroy(&rs);
	return EXIT_DONE;
}

/* oro rules import: one transaction; no-op when the same document is active. */
static int rules_import(const char *path, const char *note)
{
	static const struct db_statement stmts[] = {
		{ "active_sha", "SELECT r.version, r.sha256 FROM ruleset_active a JOIN ruleset r USING (version)" },
		{ "next_version", "SELECT coalesce(max(version), 0) + 1 FROM ruleset" },
		{ "insert_ruleset",
		  "INSERT INTO ruleset (version, name, document, sha256, note, published_by) VALUES ($1, $2, $3, $4, $5, $6)" },
		{ "insert_rule", "INSERT INTO rule (ruleset_version, position, name, document) VALUES ($1, $2, $3, $4)" },
		{ "upsert_department",
		  "INSERT INTO department (code, name, escalates_to, disclosure_basis_required) VALUES ($1, $2, $3, $4)"
		  " ON CONFLICT (code) DO UPDATE SET name = excluded.name, escalates_to = excluded.escalates_to,"
		  " disclosure_basis_required = excluded.disclosure_basis_required, updated_at = now()" },
		{ "activate",
		  "INSERT INTO ruleset_active (singleton, version, activated_by) VALUES (true, $1, $2)"
		  " ON CONFLICT (singleton) DO UPDATE SET version = excluded.version,"
		  " activated_by = excluded.activated_by, activated_at = now()" },
	};
	struct ruleset *rs = load_rules(path);
	struct db *db;
	struct db_result *res = NULL;
	char sha[2 * CRYPTO_SHA256_LEN + 1];
	char version[16] = "";
	char *text;
	size_t len;
	json_t *doc;
	int rc;

	if (rs == NULL)
		return EXIT_REFUSED;
	text = read_file(path, &len);
	doc = json_loadb(text, len, 0, NULL);
	crypto_sha256_hex(text, len, sha);
	db = admin_db(stmts, sizeof stmts / sizeof stmts[0]);

	rc = db_begin(db);
	if (rc == DB_OK)
		rc = db_command(db, "LOCK TABLE ruleset IN EXCLUSIVE MODE");
	if (rc == DB_OK)
		rc = db_exec(db, "active_sha", 0, NULL, &res);
	if (rc == DB_OK && db_result_rows(res) == 1 && strcmp(db_result_value(res, 0, 1), sha) == 0) {
		snprintf(version, sizeof version, "%s", db_result_value(res, 0, 0));
		db_rollback(db);
		if (json_output)
			print_json(json_pack("{s:i, s:b}", "version", atoi(version), "changed", 0));
		else
			printf("Ruleset version %s is this document and already active: nothing changed.\n", version);
		goto out;
	}
	db_result_free(&res);
	if (rc == DB_OK)
		rc = db_exec(db, "next_version", 0, NULL, &res);
	if (rc == DB_OK) {
		snprintf(version, sizeof version, "%s", db_result_value(res, 0, 0));
		const char *p[6] = { version, ruleset_name(rs), text, sha, note, my_principal() };

		rc = db_exec(db, "insert_ruleset", 6, p, NULL);
	}
	for (size_t i = 0; rc == DB_OK && i < ruleset_department_count(rs); i++) {
		const struct department *d = ruleset_department(rs, i);
		const char *p[4] = { d->code, d->name, d->escalates_to, d->disclosure_basis_required ? "true" : "false" };

		rc = db_exec(db, "upsert_department", 4, p, NULL);
	}
	for (size_t i = 0; rc == DB_OK && i < json_array_size(json_object_get(doc, "rules")); i++) {
		char pos[24];
		char *rule = json_dumps(json_array_get(json_object_get(doc, "rules"), i), JSON_COMPACT);
		const char *p[4] = { version, pos, ruleset_rule_name(rs, i + 1), rule };

		snprintf(pos, sizeof pos, "%zu", i + 1);
		rc = db_exec(db, "insert_rule", 4, p, NULL);
		free(rule);
	}
	if (rc == DB_OK) {
		const char *p[2] = { version, my_principal() };

		rc = db_exec(db, "activate", 2, p, NULL);
	}
	if (rc == DB_OK)
		rc = db_commit(db);
	if (rc != DB_OK) {
		fprintf(stderr, "oro: import failed, nothing changed: %s\n", db_last_error(db));
		db_rollback(db);
		rc = rc == DB_ERR_CONNECTION ? EXIT_UNAVAILABLE : EXIT_REFUSED;
		goto out;
	}
	if (json_output)
		print_json(json_pack("{s:i, s:b}", "version", atoi(version), "changed", 1));
	else
		printf("Ruleset \"%s\" stored as version %s and active (%zu rules).\n", ruleset_name(rs), version,
		       ruleset_rule_count(rs));
out:
	db_result_free(&res);
	db_destroy(&db);
	json_decref(doc);
	free(text);
	ruleset_destroy(&rs);
	return rc;
}

/* oro rules ... */
static int cmd_rules(int argc, char **argv)
{
	const char *rules_file = NULL, *note = NULL;
	const char *pos[1];
	struct opt test_opts[] = { { "rules", true, &rules_file, NULL }, { NULL, false, NULL, NULL } };
	struct opt import_opts[] = { { "note", true, &note, NULL }, { NULL, false, NULL, NULL } };

	if (argc < 3 || strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0) {
		fputs(rules_help, argc < 3 ? stderr : stdout);
		return argc < 3 ? EXIT_USAGE : EXIT_DONE;
	}
	if (strcmp(argv[2], "test") == 0) {
		if (parse_opts(argc, argv, 3, test_opts, pos, 1, rules_help) != 1)
			usage_error("rules test needs CASES.json");
		return rules_test(rules_file, pos[0]);
	}
	if (strcmp(argv[2], "import") == 0) {
		if (parse_opts(argc, argv, 3, import_opts, pos, 1, rules_help) != 1)
			usage_error("rules import needs a ruleset FILE");
		return rules_import(pos[0], note);
	}
	usage_error("unknown rules command \"%s\"", argv[2]);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(int, char **);
	} commands[] = {
		{ "report", cmd_report }, { "status", cmd_status }, { "inbox", cmd_inbox },
		{ "show", cmd_show },     { "ack", cmd_ack },       { "rules", cmd_rules },
	};
	struct oro_error err = { 0 };
	int rc;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(usage_text, argc < 2 ? stderr : stdout);
		if (argc >= 2) {
			printf("\nConfiguration keys (file via --config FILE or $ORO_CONFIG; ORO_<KEY>; --KEY VALUE):\n");
			config_print_help(CFG_CLIENT, "  ");
		}
		return argc < 2 ? EXIT_USAGE : EXIT_DONE;
	}
	if (config_load(&svc.cfg, CFG_CLIENT, &argc, argv, &err) < 0) {
		fprintf(stderr, "oro: configuration: %s: %s\n", err.field, err.message);
		return EXIT_USAGE;
	}
	log_init("oro", (enum log_level)(log_level_parse(svc.cfg.log_level) < 0 ? LOG_WARN : LOG_WARN));
	if (argc < 2)
		usage_error("no command");
	svc.zmq = zmq_ctx_new();
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (strcmp(argv[1], commands[i].name) == 0) {
			rc = commands[i].run(argc, argv);
			service_stop(&svc);
			return rc;
		}
	}
	usage_error("unknown command \"%s\"", argv[1]);
}
