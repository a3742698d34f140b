/*
 * fuzz_config: libFuzzer harness for the configuration file (config.h).
 * Each input is the content of a file named by --config: it is written to
 * an anonymous in-memory file (memfd) and config_load() reads it through
 * /proc/self/fd/N, exactly as a program started with `--config FILE` does.
 * The same input, cut at its first '=', is also given to config_set() as a
 * key and a value, the path of the --key=value flags.
 *
 * The environment is emptied of ORO_CONFIG and every ORO_<KEY> at start, so
 * that only the input configures. Checked besides memory safety and
 * undefined behaviour: a refusal carries an error; a success consumed the
 * two --config arguments and terminated argv.
 */
#define _GNU_SOURCE /* memfd_create */

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "alloc.h"
#include "config.h"
#include "error.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, what)                                                      \
	do {                                                                        \
		if (!(cond)) {                                                      \
			fprintf(stderr, "fuzz_config: broken promise: %s\n", what); \
			abort();                                                    \
		}                                                                   \
	} while (0)

/* The in-memory file and its path; they live as long as the process. */
static int config_fd = -1;
static char config_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	unsetenv("ORO_CONFIG");
	for (size_t i = 0; i < config_key_count; i++) {
		char env[64];

		snprintf(env, sizeof env, "ORO_%s", config_keys[i].name);
		for (char *p = env + 4; *p != '\0'; p++)
			*p = (char)toupper((unsigned char)*p);
		unsetenv(env);
	}
	config_fd = memfd_create("fuzz-config", 0);
	if (config_fd < 0) {
		perror("fuzz_config: memfd_create");
		exit(2);
	}
	snprintf(config_path, sizeof config_path, "/proc/self/fd/%d", config_fd);
	return 0;
}

/* Make the in-memory file hold exactly data. */
static void fuzz_write_file(const uint8_t *data, size_t size)
{
	size_t done = 0;

	if (ftruncate(config_fd, 0) < 0) {
		perror("fuzz_config: ftruncate");
		abort();
	}
	while (done < size) {
		ssize_t n = pwrite(config_fd, data + done, size - done, (off_t)done);

		if (n <= 0) {
			perror("fuzz_config: pwrite");
			abort();
		}
		done += (size_t)n;
	}
}

/* config_set() with the input as "key=value" (no '=': all key, empty value). */
static void fuzz_config_set(const uint8_t *data, size_t size)
{
	struct config cfg;
	struct oro_error err;
	char *text = xstrndup((const char *)data, size);
	char *eq = strchr(text, '=');
	const char *value = "";

	if (eq != NULL) {
		*eq = '\0';
		value = eq + 1;
	}
	memset(&cfg, 0, sizeof cfg);
	memset(&err, 0, sizeof err);
	if (config_set(&cfg, text, value, &err) < 0)
		FUZZ_CHECK(oro_error_isset(&err), "config_set refused without an error");
	config_clear(&cfg);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	struct oro_error err;
	char *argv[] = {"fuzz", "--config", config_path, NULL};
	int argc = 3;

	fuzz_write_file(data, size);
	memset(&err, 0, sizeof err);
	if (config_load(&cfg, CFG_ALL, &argc, argv, &err) < 0) {
		FUZZ_CHECK(oro_error_isset(&err), "config_load refused without an error");
	} else {
		FUZZ_CHECK(argc == 1 && argv[1] == NULL, "config_load left --config in argv");
	}
	config_clear(&cfg);
	fuzz_config_set(data, size);
	return 0;
}
