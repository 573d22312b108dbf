/* fuzz_config.c - libFuzzer target for the configuration parser.
 *
 * The input is a config file as an operator might write it (or mistype
 * it). It is loaded the way blockctl and blockd load it (config_load with
 * -c FILE -n alice, through a memfd), and then checked against this
 * machine as blockd --check-config does (config_check). Either may refuse
 * it, with a message; neither may crash, and what config_load accepts
 * must hold together: one or two named nodes, self among them, the peer
 * the other one, every string terminated, a protocol of A, B or C.
 *
 * Build: see meson.build (-Dfuzz=true). Seeds: tests/fuzz/corpus_config.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "blockd/core/config.h"
#include "tests/fuzz/fuzz_check.h"

static int devnull = -1, saved_stderr = -1;

static bool terminated(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

static void check_loaded(const struct config *cfg)
{
	CHECK(cfg->n_nodes >= 1 && cfg->n_nodes <= CONFIG_NODES_MAX);
	CHECK(cfg->self >= 0 && (unsigned)cfg->self < cfg->n_nodes);
	CHECK(cfg->peer == -1 || ((unsigned)cfg->peer < cfg->n_nodes &&
				  cfg->peer != cfg->self));
	CHECK(cfg->n_nodes == 1 || cfg->peer >= 0);
	CHECK(cfg->protocol == 'A' || cfg->protocol == 'B' || cfg->protocol == 'C');
	CHECK(terminated(cfg->name, sizeof(cfg->name)) && cfg->name[0]);
	CHECK(terminated(cfg->path, sizeof(cfg->path)));
	for (unsigned i = 0; i < cfg->n_nodes; i++) {
		const struct config_node *n = &cfg->nodes[i];

		CHECK(terminated(n->name, sizeof(n->name)) && n->name[0]);
		CHECK(terminated(n->address, sizeof(n->address)));
		CHECK(terminated(n->disk, sizeof(n->disk)));
		CHECK(terminated(n->meta, sizeof(n->meta)));
		CHECK(terminated(n->nbd, sizeof(n->nbd)));
		CHECK(terminated(n->control, sizeof(n->control)));
		CHECK(terminated(n->metrics, sizeof(n->metrics)));
		for (unsigned j = 0; j < i; j++)
			CHECK(strcmp(n->name, cfg->nodes[j].name) != 0);
	}
	CHECK(!strcmp(cfg->nodes[cfg->self].name, "alice"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config cfg;
	char path[64], c[] = "-c", n[] = "-n", node[] = "alice";
	char *argv[] = { c, path, n, node };
	char **rest;
	int fd, nrest, ret;

	fd = memfd_create("fuzz-config", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	/* The parser explains every refusal on stderr: keep the fuzzer's
	 * own output readable. */
	if (devnull < 0) {
		devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
		saved_stderr = dup(2);
	}
	dup2(devnull, 2);
	ret = config_load(&cfg, 4, argv, &nrest, &rest);
	if (ret == 0)
		config_check(&cfg);
	dup2(saved_stderr, 2);
	close(fd);
	if (ret == 0) {
		CHECK(nrest == 0);
		check_loaded(&cfg);
	}
	return 0;
}
