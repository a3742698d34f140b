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
 *   oro reroute DELIVERY --to DEPARTMENT --reason TEXT [--department D] [--json]
 *   oro rules validate|publish|list|export|activate|diff|test ...
 *   oro explain CASE [--json]
 *   oro stats [--from DATE] [--to DATE] [--by KEY]... [--json]
 *   oro health [--json]
 *   oro keys new PATH | init FILE | rotate [--resume]
 *   oro principal add NAME --kind K [--department D] --key PUB | revoke NAME | list
 *   oro audit verify [--json]
 *   oro purge [--dry-run] [--json]
 *   oro hold CASE --reason TEXT | --release [--json]
 *
 * Every command takes --help. Exit codes: 0 done; 1 refused (invalid input
 * or an error reply: code, field and message are printed); 2 usage error;
 * 3 no answer in time or the service is temporarily unavailable (nothing
 * was done that the reply did not confirm: try again).
 *
 * Endpoints (connected, never bound): intake_endpoint (DEALER, report and
 * status), notify_endpoint (DEALER, inbox, show, ack, reroute). The strategy
 * owner's commands (rules, explain, stats) use the database connection
 * `database` directly (cmd_rules.c says why).
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include <jansson.h>

#include "client.h"
#include "log.h"

static const char usage_text[] =
        "usage: oro [--config FILE] [--KEY VALUE]... COMMAND [ARGS]\n"
        "(configuration: --config FILE, else $ORO_CONFIG, else ~/.config/oro/oro.conf if it exists)\n"
        "\n"
        "Commands:\n"
        "  report       file a concern (from flags, or --file with a concern document)\n"
        "  status       follow a case with its receipt\n"
        "  inbox        list a department's deliveries, or --follow them live\n"
        "  show         show one delivery of your department (full content if its view is full)\n"
        "  ack          acknowledge a delivery\n"
        "  reroute      send a delivery on to another department\n"
        "  rules        the strategy: validate, publish, list, export, activate, diff, test\n"
        "  explain      how a routed case was routed, rule by rule\n"
        "  stats        de-identified counts for the situation picture (lägesbild)\n"
        "  health       is the stack doing its job? (exit 1 when not, for monitoring)\n"
        "  keys         keys: new (a CURVE keypair), init (a sealing key file), rotate\n"
        "  principal    who may connect: add, revoke, list\n"
        "  audit        verify the audit trail's chain\n"
        "  purge        destroy what retention says is due (--dry-run lists it)\n"
        "  hold         put a case on legal hold, or release it\n"
        "\n"
        "`oro COMMAND --help` describes a command. Every command prints JSON with --json.\n"
        "Exit codes: 0 done; 1 refused (error code, field and message printed); 2 usage;\n"
        "3 no answer in time or temporarily unavailable (try again).\n";

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(int, char **);
	} commands[] = {
	        {"report", cmd_report},   {"status", cmd_status}, {"inbox", cmd_inbox},         {"show", cmd_show},
	        {"ack", cmd_ack},         {"rules", cmd_rules},   {"reroute", cmd_reroute},     {"stats", cmd_stats},
	        {"explain", cmd_explain}, {"health", cmd_health}, {"keys", cmd_keys},           {"audit", cmd_audit},
	        {"purge", cmd_purge},     {"hold", cmd_hold},     {"principal", cmd_principal},
	};
	struct oro_error err = {0};
	int rc;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(usage_text, argc < 2 ? stderr : stdout);
		if (argc >= 2) {
			printf("\nConfiguration keys (file via --config FILE or $ORO_CONFIG; ORO_<KEY>; --KEY "
			       "VALUE):\n");
			config_print_help(CFG_CLIENT, "  ");
		}
		return argc < 2 ? EXIT_USAGE : EXIT_DONE;
	}
	if (config_load(&svc.cfg, CFG_CLIENT, &argc, argv, &err) < 0) {
		fprintf(stderr, "oro: configuration: %s: %s\n", err.field, err.message);
		return EXIT_USAGE;
	}
	/* a command's own output is its result: the library logs only warnings, or everything with debug */
	log_init("oro", log_level_parse(svc.cfg.log_level) == LOG_DEBUG ? LOG_DEBUG : LOG_WARN);
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
