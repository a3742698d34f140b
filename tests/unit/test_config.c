/*
 * test_config: the configuration table and its loader (config.c).
 *
 *   - the table itself: every default parses and lies within its bounds;
 *   - files: golden pairs in tests/unit/data/config/ (NAME.conf loaded,
 *     rendered, compared with NAME.expected), and edge cases written to
 *     temporary files (CR LF, no final newline, over-long lines);
 *   - the order of sources: defaults < file < ORO_<KEY> < --key flags, with
 *     --config FILE and $ORO_CONFIG choosing the file;
 *   - flags: both spellings, removal from argv, `--`, errors naming the flag;
 *   - config_set, config_print_help and config_clear.
 *
 * Runs from the source directory (the golden files). Every test starts and
 * ends with no ORO_* variable set; temporary files are made with mkstemp()
 * under /tmp and removed by the teardown.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "alloc.h"
#include "config.h"
#include "error.h"

#define NELEM(a)   (sizeof(a) / sizeof((a)[0]))
#define GOLDEN_DIR "tests/unit/data/config/"
#define MAX_ARGS   12
#define MAX_TEMP   4

/* Per-test state: the temporary files to remove. */
struct fixture {
	char paths[MAX_TEMP][32];
	int n;
};

/* Variables a test may set besides ORO_<KEY>; all are unset around each test. */
static const char *const other_vars[] = {"ORO_CONFIG", "oro_sweep_interval_ms", "SWEEP_INTERVAL_MS"};

/* Unset ORO_CONFIG, every ORO_<KEY> and the decoys above. */
static void env_clear(void)
{
	for (size_t i = 0; i < config_key_count; i++) {
		char name[64];

		snprintf(name, sizeof name, "ORO_%s", config_keys[i].name);
		for (char *p = name; *p != '\0'; p++)
			if (*p >= 'a' && *p <= 'z')
				*p = (char)(*p - 'a' + 'A');
		unsetenv(name);
	}
	for (size_t i = 0; i < NELEM(other_vars); i++)
		unsetenv(other_vars[i]);
}

/* Setup: a clean environment. */
static int setup(void **state)
{
	*state = xcalloc(1, sizeof(struct fixture));
	env_clear();
	/* no user's ~/.config/oro/oro.conf may leak into the defaults */
	setenv("XDG_CONFIG_HOME", "/nonexistent/oro-test-config-home", 1);
	return 0;
}

/* Teardown: remove the temporary files and clean the environment again. */
static int teardown(void **state)
{
	struct fixture *fx = *state;

	for (int i = 0; i < fx->n; i++)
		unlink(fx->paths[i]);
	free(fx);
	env_clear();
	return 0;
}

/* A new temporary file holding text; returns its path (removed by the teardown). */
static const char *temp_file(struct fixture *fx, const char *text)
{
	char *path;
	int fd;
	size_t len = strlen(text);

	assert_true(fx->n < MAX_TEMP);
	path = fx->paths[fx->n];
	snprintf(path, sizeof fx->paths[0], "/tmp/oro-test-config-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	fx->n++;
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
	return path;
}

/* The value of key in cfg as text: strings in double quotes, integers bare. */
static const char *value_text(const struct config *cfg, const char *key)
{
	static char buf[4200];

	for (size_t i = 0; i < config_key_count; i++) {
		const struct config_key *k = &config_keys[i];
		const char *field = (const char *)cfg + k->offset;

		if (strcmp(k->name, key) != 0)
			continue;
		if (k->type == CONFIG_INT) {
			int v;

			memcpy(&v, field, sizeof v);
			snprintf(buf, sizeof buf, "%d", v);
		} else {
			const char *s;

			memcpy(&s, field, sizeof s);
			if (s == NULL)
				snprintf(buf, sizeof buf, "(null)");
			else
				snprintf(buf, sizeof buf, "\"%s\"", s);
		}
		return buf;
	}
	fail_msg("no key %s in the table", key);
	return NULL;
}

/* The outcome of a load as the golden files write it (see data/config/README). The caller frees. */
static char *render(const struct config *cfg, int rc, const struct oro_error *err)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	assert_non_null(f);
	if (rc < 0) {
		fprintf(f, "error %s %s\n", err->code, err->field);
	} else {
		for (size_t i = 0; i < config_key_count; i++)
			fprintf(f, "%s=%s\n", config_keys[i].name, value_text(cfg, config_keys[i].name));
	}
	fclose(f);
	return text;
}

/* The whole file at path as a new string. The caller frees. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL)
		fail_msg("cannot open %s (tests run from the source directory)", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = xmalloc((size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/*
 * Run config_load on "prog" followed by args (NULL-terminated, at most
 * MAX_ARGS), in argv, which receives what is left; *argc likewise.
 */
static int load(struct config *cfg, unsigned users, const char *const *args, char **argv, int *argc,
                struct oro_error *err)
{
	int n = 0;

	argv[n++] = "prog";
	for (; args != NULL && args[n - 1] != NULL; n++) {
		assert_true(n < MAX_ARGS + 1);
		argv[n] = (char *)args[n - 1];
	}
	argv[n] = NULL;
	*argc = n;
	memset(err, 0, sizeof *err);
	return config_load(cfg, users, argc, argv, err);
}

/* Fail unless err holds code and a field that starts with field. */
static void check_error(const char *what, const struct oro_error *err, const char *code, const char *field)
{
	if (strcmp(err->code, code) != 0 || strncmp(err->field, field, strlen(field)) != 0)
		fail_msg("%s: got %s \"%s\" (%s), want %s \"%s\"", what, err->code, err->field, err->message, code,
		         field);
	assert_true(err->message[0] != '\0');
}

/* ---- the table ---- */

/* Every key: a sane row, and after a load with no sources its value is the table's default. */
static void test_defaults(void **state)
{
	struct config cfg;
	struct oro_error err;
	char *argv[MAX_ARGS + 2];
	int argc;

	(void)state;
	assert_int_equal(load(&cfg, CFG_ALL, NULL, argv, &argc, &err), 0);
	assert_int_equal(argc, 1);
	assert_string_equal(argv[0], "prog");
	assert_null(argv[1]);
	assert_true(config_key_count > 0);
	for (size_t i = 0; i < config_key_count; i++) {
		const struct config_key *k = &config_keys[i];
		const char *field = (const char *)&cfg + k->offset;

		assert_non_null(k->name);
		assert_true(strspn(k->name, "abcdefghijklmnopqrstuvwxyz_") == strlen(k->name));
		assert_true(strlen(k->name) + 5 < 64); /* ORO_<KEY> fits the loader's buffer */
		assert_non_null(k->default_value);
		assert_true(k->help != NULL && k->help[0] != '\0');
		assert_true((k->users & CFG_ALL) != 0 && (k->users & ~CFG_ALL) == 0);
		assert_true(k->offset + (k->type == CONFIG_INT ? sizeof(int) : sizeof(char *)) <= sizeof cfg);
		for (size_t j = 0; j < i; j++) {
			assert_string_not_equal(config_keys[j].name, k->name);
			assert_int_not_equal(config_keys[j].offset, k->offset);
		}
		if (k->type == CONFIG_INT) {
			char *end;
			long def = strtol(k->default_value, &end, 10);
			int v;

			assert_true(*k->default_value != '\0' && *end == '\0');
			assert_in_range(def, k->min, k->max);
			memcpy(&v, field, sizeof v);
			if (v != def)
				fail_msg("%s: %d, default %s", k->name, v, k->default_value);
		} else {
			const char *s;

			assert_int_equal(k->type, CONFIG_STRING);
			memcpy(&s, field, sizeof s);
			assert_non_null(s);
			if (strcmp(s, k->default_value) != 0)
				fail_msg("%s: \"%s\", default \"%s\"", k->name, s, k->default_value);
		}
	}
	config_clear(&cfg);
}

/* ---- files ---- */

/* Golden pairs: NAME.conf must load into NAME.expected. */
static const char *const golden_files[] = {
        "full",          "comments-only", "unknown-key", "empty-key",      "not-integer",
        "trailing-junk", "below-min",     "above-max",   "missing-equals",
};

/* Each golden .conf gives exactly its .expected. */
static void test_file_golden(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(golden_files); i++) {
		char conf[128], expected[128];
		const char *args[] = {"--config", conf, NULL};
		char *argv[MAX_ARGS + 2];
		struct config cfg;
		struct oro_error err;
		char *got, *want;
		int argc, rc;

		snprintf(conf, sizeof conf, GOLDEN_DIR "%s.conf", golden_files[i]);
		snprintf(expected, sizeof expected, GOLDEN_DIR "%s.expected", golden_files[i]);
		rc = load(&cfg, CFG_ALL, args, argv, &argc, &err);
		got = render(&cfg, rc, &err);
		want = slurp(expected);
		if (strcmp(got, want) != 0) {
			print_error("%s:\n--- expected\n%s--- got\n%s", conf, want, got);
			fail_msg("%s: the result differs from %s", conf, expected);
		}
		if (rc == 0)
			assert_int_equal(argc, 1);
		free(got);
		free(want);
		config_clear(&cfg); /* also after a failed load: defaults were set */
	}
}

/* Files that are awkward to keep in the repository: CR LF, long lines, no file. */
static void test_file_edges(void **state)
{
	struct fixture *fx = *state;
	char *long_value = xmalloc(4001);
	char *long_line = xmalloc(5001);
	char *text, want_field[64];
	const char *path;
	struct config cfg;
	struct oro_error err;
	char *argv[MAX_ARGS + 2];
	int argc;

	/* CR LF line ends are white space */
	path = temp_file(fx, "sweep_interval_ms = 300\r\n# c\r\n\r\nlog_level = warn\r\n");
	assert_int_equal(load(&cfg, CFG_ALL, (const char *const[]){"--config", path, NULL}, argv, &argc, &err), 0);
	assert_int_equal(cfg.sweep_interval_ms, 300);
	assert_string_equal(cfg.log_level, "warn");
	config_clear(&cfg);

	/* a value of 4000 bytes fits in a line */
	memset(long_value, 'x', 4000);
	long_value[4000] = '\0';
	text = xasprintf("instance = %s\n", long_value);
	path = temp_file(fx, text);
	free(text);
	assert_int_equal(load(&cfg, CFG_ALL, (const char *const[]){"--config", path, NULL}, argv, &argc, &err), 0);
	assert_string_equal(cfg.instance, long_value);
	config_clear(&cfg);

	/* a line of 5000 bytes is refused, even a comment, naming its line */
	memset(long_line, 'x', 5000);
	long_line[0] = '#';
	long_line[5000] = '\0';
	text = xasprintf("log_level = warn\n\n%s\nlog_level = error\n", long_line);
	path = temp_file(fx, text);
	free(text);
	assert_int_equal(load(&cfg, CFG_ALL, (const char *const[]){"--config", path, NULL}, argv, &argc, &err), -1);
	snprintf(want_field, sizeof want_field, "%s:3", path);
	check_error("long line", &err, ORO_E_TOO_LONG, want_field);
	assert_string_equal(err.field, want_field);
	config_clear(&cfg);

	/* no such file */
	assert_int_equal(load(&cfg, CFG_ALL, (const char *const[]){"--config", "/nonexistent/oro.conf", NULL}, argv,
	                      &argc, &err),
	                 -1);
	check_error("no file", &err, ORO_E_NOT_FOUND, "/nonexistent/oro.conf");
	config_clear(&cfg);

	free(long_line);
	free(long_value);
}

/* $ORO_CONFIG names the file unless --config does; "" names none. */
static void test_config_file_choice(void **state)
{
	struct fixture *fx = *state;
	const char *a = temp_file(fx, "heartbeat_ms = 700\n");
	const char *b = temp_file(fx, "heartbeat_ms = 900\n");
	static const struct {
		const char *name;
		const char *oro_config; /* "@A", "@B", a path, or NULL for unset */
		const char *args[3];
		int rc, heartbeat;
		const char *code;
	} rows[] = {
	        {"no file at all", NULL, {NULL}, 0, 2000, NULL},
	        {"$ORO_CONFIG", "@A", {NULL}, 0, 700, NULL},
	        {"$ORO_CONFIG empty: no file", "", {NULL}, 0, 2000, NULL},
	        {"$ORO_CONFIG missing", "/nonexistent/oro.conf", {NULL}, -1, 0, ORO_E_NOT_FOUND},
	        {"--config wins", "@A", {"--config", "@B"}, 0, 900, NULL},
	        {"--config wins, $ORO_CONFIG not even opened", "/nonexistent/oro.conf", {"--config=@B"}, 0, 900, NULL},
	        {"--config= empty: no file", "@A", {"--config="}, 0, 2000, NULL},
	};

	for (size_t r = 0; r < NELEM(rows); r++) {
		const char *args[4] = {NULL};
		char arg[96];
		char *argv[MAX_ARGS + 2];
		struct config cfg;
		struct oro_error err;
		int argc, rc;

		env_clear();
		if (rows[r].oro_config != NULL) {
			const char *v = rows[r].oro_config;

			setenv("ORO_CONFIG", strcmp(v, "@A") == 0 ? a : strcmp(v, "@B") == 0 ? b : v, 1);
		}
		for (int i = 0; rows[r].args[i] != NULL; i++) {
			const char *s = rows[r].args[i];

			if (strcmp(s, "@B") == 0) {
				s = b;
			} else if (strcmp(s, "--config=@B") == 0) {
				snprintf(arg, sizeof arg, "--config=%s", b);
				s = arg;
			}
			args[i] = s;
		}
		rc = load(&cfg, CFG_ALL, args, argv, &argc, &err);
		if (rc != rows[r].rc)
			fail_msg("%s: rc %d (%s %s)", rows[r].name, rc, err.code, err.field);
		if (rc == 0) {
			if (cfg.heartbeat_ms != rows[r].heartbeat)
				fail_msg("%s: heartbeat_ms %d, want %d", rows[r].name, cfg.heartbeat_ms,
				         rows[r].heartbeat);
			assert_int_equal(argc, 1);
		} else {
			check_error(rows[r].name, &err, rows[r].code, "");
		}
		config_clear(&cfg);
	}
}

/* ---- environment ---- */

/* ORO_<KEY> over a file ($ORO_CONFIG) that sets sweep_interval_ms = 300 and log_level = warn. */
static const struct env_row {
	const char *name;
	const char *var, *value;
	const char *key, *want; /* value_text() of key */
	const char *code, *field;
} env_rows[] = {
        {"the file alone", NULL, NULL, "sweep_interval_ms", "300", NULL, NULL},
        {"ORO_SWEEP_INTERVAL_MS overrides the file", "ORO_SWEEP_INTERVAL_MS", "400", "sweep_interval_ms", "400", NULL,
         NULL},
        {"a string key", "ORO_DATABASE", "host=/run/pg dbname=x", "database", "\"host=/run/pg dbname=x\"", NULL, NULL},
        {"over a key the file set", "ORO_LOG_LEVEL", "error", "log_level", "\"error\"", NULL, NULL},
        {"an empty string", "ORO_DEPARTMENT", "", "department", "\"\"", NULL, NULL},
        {"lower case is not read", "oro_sweep_interval_ms", "400", "sweep_interval_ms", "300", NULL, NULL},
        {"no prefix is not read", "SWEEP_INTERVAL_MS", "400", "sweep_interval_ms", "300", NULL, NULL},
        {"not an integer", "ORO_SWEEP_INTERVAL_MS", "fast", NULL, NULL, ORO_E_WRONG_TYPE, "ORO_SWEEP_INTERVAL_MS"},
        {"an empty integer", "ORO_HEARTBEAT_MS", "", NULL, NULL, ORO_E_WRONG_TYPE, "ORO_HEARTBEAT_MS"},
        {"out of range", "ORO_HEARTBEAT_MS", "99", NULL, NULL, ORO_E_OUT_OF_RANGE, "ORO_HEARTBEAT_MS"},
};

/* Each variable overrides the file, or is refused naming the variable. */
static void test_environment(void **state)
{
	struct fixture *fx = *state;
	const char *file = temp_file(fx, "sweep_interval_ms = 300\nlog_level = warn\n");

	for (size_t r = 0; r < NELEM(env_rows); r++) {
		const struct env_row *row = &env_rows[r];
		char *argv[MAX_ARGS + 2];
		struct config cfg;
		struct oro_error err;
		int argc, rc;

		env_clear();
		setenv("ORO_CONFIG", file, 1);
		if (row->var != NULL)
			setenv(row->var, row->value, 1);
		rc = load(&cfg, CFG_ALL, NULL, argv, &argc, &err);
		if (row->code != NULL) {
			if (rc != -1)
				fail_msg("%s: accepted", row->name);
			check_error(row->name, &err, row->code, row->field);
			assert_string_equal(err.field, row->field);
		} else {
			if (rc != 0)
				fail_msg("%s: %s %s", row->name, err.code, err.field);
			if (strcmp(value_text(&cfg, row->key), row->want) != 0)
				fail_msg("%s: %s=%s, want %s", row->name, row->key, value_text(&cfg, row->key),
				         row->want);
		}
		config_clear(&cfg);
	}
}

/* ---- flags ---- */

/*
 * Each row runs with $ORO_CONFIG = file A (sweep_interval_ms 300,
 * heartbeat_ms 700, log_level warn) and ORO_SWEEP_INTERVAL_MS=400; "@B" in
 * args or rest stands for file B (heartbeat_ms 900). The program is the
 * client, to show that every key is accepted by every program.
 */
static const struct flag_row {
	const char *name;
	const char *args[MAX_ARGS];
	const char *want[3][2]; /* key, value_text() */
	const char *rest[MAX_ARGS];
	const char *code, *field; /* field: a prefix of err.field */
} flag_rows[] = {
        {.name = "no flags: the environment over the file",
         .want = {{"sweep_interval_ms", "400"}, {"heartbeat_ms", "700"}, {"log_level", "\"warn\""}}},
        {.name = "--key value", .args = {"--sweep-interval-ms", "100"}, .want = {{"sweep_interval_ms", "100"}}},
        {.name = "--key=value with underscores",
         .args = {"--sweep_interval_ms=100"},
         .want = {{"sweep_interval_ms", "100"}}},
        {.name = "--key value with underscores",
         .args = {"--sweep_interval_ms", "150"},
         .want = {{"sweep_interval_ms", "150"}}},
        {.name = "--key=value with dashes",
         .args = {"--sweep-interval-ms=160"},
         .want = {{"sweep_interval_ms", "160"}}},
        {.name = "the last flag wins",
         .args = {"--sweep-interval-ms=100", "--sweep-interval-ms", "200"},
         .want = {{"sweep_interval_ms", "200"}}},
        {.name = "other arguments stay, in order",
         .args = {"report", "--file", "x.json", "--heartbeat-ms=800", "-v", "--sweep-interval-ms", "100", "--json"},
         .want = {{"sweep_interval_ms", "100"}, {"heartbeat_ms", "800"}},
         .rest = {"report", "--file", "x.json", "-v", "--json"}},
        {.name = "-- ends the flags and stays",
         .args = {"--sweep-interval-ms=100", "--", "--sweep-interval-ms=200", "x"},
         .want = {{"sweep_interval_ms", "100"}},
         .rest = {"--", "--sweep-interval-ms=200", "x"}},
        {.name = "-- first: --config after it is not read",
         .args = {"--", "--sweep-interval-ms=200", "--config", "@B"},
         .want = {{"sweep_interval_ms", "400"}, {"heartbeat_ms", "700"}},
         .rest = {"--", "--sweep-interval-ms=200", "--config", "@B"}},
        {.name = "--config FILE is read and removed",
         .args = {"a", "--config", "@B", "b"},
         .want = {{"heartbeat_ms", "900"}, {"sweep_interval_ms", "400"}, {"log_level", "\"info\""}},
         .rest = {"a", "b"}},
        {.name = "a flag over --config",
         .args = {"--heartbeat-ms=1000", "--config", "@B"},
         .want = {{"heartbeat_ms", "1000"}}},
        {.name = "a value with '='",
         .args = {"--database=host=/tmp port=5 dbname=oro"},
         .want = {{"database", "\"host=/tmp port=5 dbname=oro\""}}},
        {.name = "a separate value with '='",
         .args = {"--database", "host=/tmp port=5"},
         .want = {{"database", "\"host=/tmp port=5\""}}},
        {.name = "an empty value", .args = {"--department="}, .want = {{"department", "\"\""}}},
        {.name = "the next argument is the value, whatever it looks like",
         .args = {"--instance", "--json"},
         .want = {{"instance", "\"--json\""}}},
        {.name = "one dash is not a flag",
         .args = {"-sweep-interval-ms=100"},
         .want = {{"sweep_interval_ms", "400"}},
         .rest = {"-sweep-interval-ms=100"}},
        {.name = "a flag that is no key stays",
         .args = {"--sweep-interval=100", "--help"},
         .want = {{"sweep_interval_ms", "400"}},
         .rest = {"--sweep-interval=100", "--help"}},
        {.name = "missing value",
         .args = {"--sweep-interval-ms"},
         .code = ORO_E_MISSING,
         .field = "--sweep-interval-ms"},
        {.name = "not an integer",
         .args = {"--sweep-interval-ms=soon"},
         .code = ORO_E_WRONG_TYPE,
         .field = "--sweep-interval-ms"},
        {.name = "not an integer, separate",
         .args = {"--heartbeat-ms", "1s"},
         .code = ORO_E_WRONG_TYPE,
         .field = "--heartbeat-ms"},
        {.name = "out of range",
         .args = {"--heartbeat-ms", "99"},
         .code = ORO_E_OUT_OF_RANGE,
         .field = "--heartbeat-ms"},
        {.name = "--config of a missing file",
         .args = {"--config", "/nonexistent/oro.conf"},
         .code = ORO_E_NOT_FOUND,
         .field = "/nonexistent/oro.conf"},
};

/* Each row: the values it sets and the arguments it leaves, or its error. */
static void test_flags(void **state)
{
	struct fixture *fx = *state;
	const char *a = temp_file(fx, "sweep_interval_ms = 300\nheartbeat_ms = 700\nlog_level = warn\n");
	const char *b = temp_file(fx, "heartbeat_ms = 900\n");

	for (size_t r = 0; r < NELEM(flag_rows); r++) {
		const struct flag_row *row = &flag_rows[r];
		const char *args[MAX_ARGS + 1] = {NULL};
		char *argv[MAX_ARGS + 2];
		struct config cfg;
		struct oro_error err;
		int argc, rc, n;

		env_clear();
		setenv("ORO_CONFIG", a, 1);
		setenv("ORO_SWEEP_INTERVAL_MS", "400", 1);
		for (int i = 0; i < MAX_ARGS && row->args[i] != NULL; i++)
			args[i] = strcmp(row->args[i], "@B") == 0 ? b : row->args[i];
		rc = load(&cfg, CFG_CLIENT, args, argv, &argc, &err);
		if (row->code != NULL) {
			if (rc != -1)
				fail_msg("%s: accepted", row->name);
			check_error(row->name, &err, row->code, row->field);
			config_clear(&cfg);
			continue;
		}
		if (rc != 0)
			fail_msg("%s: %s %s (%s)", row->name, err.code, err.field, err.message);
		for (int i = 0; i < 3 && row->want[i][0] != NULL; i++)
			if (strcmp(value_text(&cfg, row->want[i][0]), row->want[i][1]) != 0)
				fail_msg("%s: %s=%s, want %s", row->name, row->want[i][0],
				         value_text(&cfg, row->want[i][0]), row->want[i][1]);
		for (n = 0; n < MAX_ARGS && row->rest[n] != NULL; n++) {
			const char *want = strcmp(row->rest[n], "@B") == 0 ? b : row->rest[n];

			if (n + 1 >= argc || strcmp(argv[n + 1], want) != 0)
				fail_msg("%s: argument %d is \"%s\", want \"%s\"", row->name, n + 1,
				         n + 1 < argc ? argv[n + 1] : "(none)", want);
		}
		if (argc != n + 1)
			fail_msg("%s: argc %d, want %d", row->name, argc, n + 1);
		assert_string_equal(argv[0], "prog");
		assert_null(argv[argc]);
		config_clear(&cfg);
	}
}

/*
 * Regression: --config as the last argument, with no file after it, was
 * silently ignored; it is now a missing_field error.
 */
static void test_config_without_value(void **state)
{
	struct fixture *fx = *state;
	const char *a = temp_file(fx, "heartbeat_ms = 700\n");
	char *argv[MAX_ARGS + 2];
	struct config cfg;
	struct oro_error err;
	int argc, rc;

	setenv("ORO_CONFIG", a, 1);
	rc = load(&cfg, CFG_ALL, (const char *const[]){"--config", NULL}, argv, &argc, &err);
	config_clear(&cfg);
	if (rc == 0)
		fail_msg("`--config` with no file was accepted (and $ORO_CONFIG read instead)");
	check_error("--config", &err, ORO_E_MISSING, "--config");
}

/* ---- config_set, help, clear ---- */

/* config_set: one key from text, with the same checks as the loader. */
static void test_config_set(void **state)
{
	static const struct {
		const char *key, *value;
		const char *code; /* NULL: accepted */
		const char *want; /* value_text() after */
	} rows[] = {
	        {"sweep_interval_ms", "100", NULL, "100"},
	        {"sweep-interval-ms", "101", NULL, "101"},
	        {"sweep_interval_ms", "50", NULL, "50"},
	        {"sweep_interval_ms", "3600000", NULL, "3600000"},
	        {"sweep_interval_ms", "3600001", ORO_E_OUT_OF_RANGE, NULL},
	        {"sweep_interval_ms", "-5", ORO_E_OUT_OF_RANGE, NULL},
	        {"heartbeat_ms", "1e3", ORO_E_WRONG_TYPE, NULL},
	        {"heartbeat_ms", "", ORO_E_WRONG_TYPE, NULL},
	        {"heartbeat_ms", "0x100", ORO_E_WRONG_TYPE, NULL},
	        {"max_message_size", "16777216", NULL, "16777216"},
	        {"database", "host=/tmp port=5 dbname=oro", NULL, "\"host=/tmp port=5 dbname=oro\""},
	        {"database", "", NULL, "\"\""},
	        {"log-level", "debug", NULL, "\"debug\""},
	        {"nope", "1", ORO_E_UNKNOWN_FIELD, NULL},
	        {"", "1", ORO_E_UNKNOWN_FIELD, NULL},
	        {"LOG_LEVEL", "debug", ORO_E_UNKNOWN_FIELD, NULL},
	};
	struct config cfg;

	(void)state;
	memset(&cfg, 0, sizeof cfg);
	for (size_t r = 0; r < NELEM(rows); r++) {
		struct oro_error err = {0};
		int rc = config_set(&cfg, rows[r].key, rows[r].value, &err);
		char key[64];

		if (rows[r].code != NULL) {
			if (rc != -1)
				fail_msg("%s=%s: accepted", rows[r].key, rows[r].value);
			check_error(rows[r].key, &err, rows[r].code, rows[r].key);
			continue;
		}
		if (rc != 0)
			fail_msg("%s=%s: %s %s", rows[r].key, rows[r].value, err.code, err.message);
		snprintf(key, sizeof key, "%s", rows[r].key);
		for (char *p = key; *p != '\0'; p++)
			if (*p == '-')
				*p = '_';
		assert_string_equal(value_text(&cfg, key), rows[r].want);
	}
	/* a refused value leaves the old one */
	assert_int_equal(config_set(&cfg, "heartbeat_ms", "500", NULL), 0);
	assert_int_equal(config_set(&cfg, "heartbeat_ms", "x", NULL), -1);
	assert_int_equal(cfg.heartbeat_ms, 500);
	config_clear(&cfg);
}

/* --help lists the keys a program reads, as flags with dashes, with defaults. */
static void test_print_help(void **state)
{
	struct fixture *fx = *state;
	static const struct {
		unsigned users;
		const char *text;
		bool present;
	} rows[] = {
	        {CFG_CLIENT, "  --request-timeout-ms ", true},
	        {CFG_CLIENT, "(default: 5000)", true},
	        {CFG_CLIENT, "  --department ", true},
	        {CFG_CLIENT, "(default: none)", true},     /* department: empty default */
	        {CFG_CLIENT, "--sweep-interval-ms", true}, /* oro health judges liveness by it */
	        {CFG_CLIENT, "--db-retry-max-ms", false},
	        {CFG_CLIENT, "--request_timeout_ms", false}, /* flags are spelt with dashes */
	        {CFG_ROUTER, "  --sweep-interval-ms ", true},
	        {CFG_ROUTER, "(default: 2000)", true},
	        {CFG_ROUTER, "--request-timeout-ms", false},
	        {CFG_ROUTER, "--notify-endpoint", false},
	        {CFG_NOTIFY, "  --notify-endpoint ", true},
	        {CFG_NOTIFY, "(default: tcp://127.0.0.1:7503)", true},
	};

	const char *path = temp_file(fx, "");

	for (size_t r = 0; r < NELEM(rows); r++) {
		int saved, fd;
		char *out;

		/* the help goes to stdout: point stdout at the temporary file for the call */
		fflush(stdout);
		saved = dup(STDOUT_FILENO);
		fd = open(path, O_WRONLY | O_TRUNC);
		assert_true(saved >= 0 && fd >= 0);
		assert_true(dup2(fd, STDOUT_FILENO) >= 0);
		close(fd);
		config_print_help(rows[r].users, "  ");
		fflush(stdout);
		assert_true(dup2(saved, STDOUT_FILENO) >= 0);
		close(saved);
		out = slurp(path);
		if ((strstr(out, rows[r].text) != NULL) != rows[r].present)
			fail_msg("help for 0x%x: \"%s\" %s", rows[r].users, rows[r].text,
			         rows[r].present ? "missing" : "present");
		free(out);
	}
}

/* config_clear frees every string and is safe twice and on a zeroed struct. */
static void test_clear(void **state)
{
	struct config cfg;
	struct oro_error err;
	char *argv[MAX_ARGS + 2];
	int argc;

	(void)state;
	memset(&cfg, 0, sizeof cfg);
	config_clear(&cfg);
	assert_int_equal(load(&cfg, CFG_ALL, (const char *const[]){"--instance=x", NULL}, argv, &argc, &err), 0);
	config_clear(&cfg);
	for (size_t i = 0; i < config_key_count; i++) {
		if (config_keys[i].type == CONFIG_STRING) {
			const char *s;

			memcpy(&s, (const char *)&cfg + config_keys[i].offset, sizeof s);
			assert_null(s);
		}
	}
	config_clear(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_file_golden, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_file_edges, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_config_file_choice, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_environment, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_flags, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_config_set, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_print_help, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_clear, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_config_without_value, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
