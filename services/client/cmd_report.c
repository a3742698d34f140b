/*
 * oro report and oro status: the reporter's commands (intake_endpoint).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include <jansson.h>

#include "alloc.h"
#include "client.h"
#include "crypto.h"

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
        {"client-key", "client_key", NULL, false},
        {"category", "category", NULL, false},
        {"urgency", "urgency", NULL, false},
        {"subject-kind", "kind", "subject", false},
        {"age", "age", "subject", true},
        {"age-band", "age_band", "subject", false},
        {"subject-name", "name", "subject", false},
        {"personal-number", "personal_number", "subject", false},
        {"subject-unit", "unit", "subject", false},
        {"setting", "setting", NULL, false},
        {"district", "district", NULL, false},
        {"grant", "association_grant", NULL, false},
        {"description", "description", NULL, false},
        {"observed-at", "observed_at", NULL, false},
        {"relatives-informed", "relatives_informed", NULL, false},
        {"reporter-unit", "unit", "reporter", false},
        {"phone", "phone", "reporter", false},
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
			json_array_append_new(
			        g, json_pack("{s:s?, s:s?}", "sv", r->guidance[i]->sv, "en", r->guidance[i]->en));
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
int cmd_report(int argc, char **argv)
{
	const char *values[N_REPORT_FIELDS] = {0};
	struct opt opts[N_REPORT_FIELDS + 3];
	const char *file = NULL;
	bool no_check = false;
	struct concern c = {0};
	struct oro_error err = {0};
	json_t *doc;
	int rc = EXIT_DONE;

	for (size_t i = 0; i < N_REPORT_FIELDS; i++)
		opts[i] = (struct opt){report_fields[i].flag, true, &values[i], NULL};
	opts[N_REPORT_FIELDS] = (struct opt){"file", true, &file, NULL};
	opts[N_REPORT_FIELDS + 1] = (struct opt){"no-check", false, NULL, &no_check};
	opts[N_REPORT_FIELDS + 2] = (struct opt){NULL, false, NULL, NULL};
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
	reply = request(svc.cfg.intake_endpoint, &env, true, &err);
	if (reply == NULL || is_error(reply, &err))
		rc = report_error(&err);
	else if (reply->body_case != ORO__ENVELOPE__BODY_FILE_REPLY)
		rc = report_error(&(struct oro_error){ORO_E_MALFORMED, "", "unexpected reply type"});
	else
		print_file_reply(reply->file_reply);
	wire_envelope_free(&reply);
	concern_clear(&c);
	return rc;
}

/* ------------------------------------------------------------------ status */

static const char status_help[] = "usage: oro status RECEIPT [--json]\n"
                                  "\n"
                                  "Shows the state of the case that RECEIPT belongs to: received (stored, not yet\n"
                                  "routed), routed (sent to the responsible departments), acknowledged (every\n"
                                  "department has confirmed it), with how many departments have acknowledged.\n";

/* oro status */
int cmd_status(int argc, char **argv)
{
	const char *pos[1];
	struct opt opts[] = {{NULL, false, NULL, NULL}};
	struct oro_error err = {0};
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
	reply = request(svc.cfg.intake_endpoint, &env, true, &err);
	if (reply == NULL || is_error(reply, &err)) {
		rc = report_error(&err);
	} else if (reply->body_case != ORO__ENVELOPE__BODY_CASE_STATUS) {
		rc = report_error(&(struct oro_error){ORO_E_MALFORMED, "", "unexpected reply type"});
	} else {
		const Oro__CaseStatus *s = reply->case_status;

		if (json_output)
			print_json(json_pack("{s:s?, s:s?, s:s?, s:s?, s:i, s:i}", "case_number", s->case_number,
			                     "state", s->state, "filed_at", s->filed_at, "routed_at", s->routed_at,
			                     "deliveries", (int)s->deliveries, "acknowledged", (int)s->acknowledged));
		else
			printf("Case %s: %s\nFiled:  %s\nRouted: %s\nAcknowledged by %u of %u departments\n",
			       s->case_number, s->state, s->filed_at, s->routed_at ? s->routed_at : "not yet",
			       s->acknowledged, s->deliveries);
	}
	wire_envelope_free(&reply);
	return rc;
}
