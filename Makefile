# Top-level entry points. The build itself is meson/ninja; this file only
# names the steps a user and CI run. See README.md.

BUILD     ?= build
BUILD_SAN ?= build-asan
BUILD_FUZZ?= build-fuzz

# Debian 12 packages: building, then testing and benchmarking.
DEPS_BUILD = meson ninja-build pkg-config gcc clang libclang-rt-14-dev \
	liburing-dev libisal-dev libcmocka-dev libinih-dev libgnutls28-dev \
	libjson-c-dev
DEPS_TEST  = libnbd-bin nbdfuse python3 python3-libnbd qemu-utils fio \
	nbdkit nbdkit-plugin-python e2fsprogs fuse3 util-linux iproute2 procps \
	postgresql postgresql-contrib

.PHONY: all deps check layers demo bench torture sim clean

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	meson setup $(BUILD)

# Installs only what is missing, so a warm machine does not touch apt.
deps:
	@missing=$$(for p in $(DEPS_BUILD) $(DEPS_TEST); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		if [ "$$(id -u)" != 0 ]; then echo "make deps: run as root to apt-get install" >&2; exit 1; fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else echo "make deps: all packages present"; fi

check: deps
	BUILD=$(BUILD) BUILD_SAN=$(BUILD_SAN) BUILD_FUZZ=$(BUILD_FUZZ) tests/check.sh

# The include rule alone (also the first step of check): seconds, no build.
layers:
	python3 tests/layers.py --self-test && python3 tests/layers.py

demo: deps all
	tests/demo.sh

bench: deps all
	bench/run.sh && bench/replicated.sh && bench/resync.sh && bench/pgbench.sh && bench/perreq.sh

# The partition torture at length (bench/torture.sh): ROUNDS rounds for
# each protocol in PROTOS under one SEED (default: new each time, printed).
# make check runs a bounded, fixed-seed part of it.
ROUNDS ?= 200
PROTOS ?= C B A
torture: deps all
	ROUNDS=$(ROUNDS) PROTOS="$(PROTOS)" $(if $(SEED),SEED=$(SEED)) bench/torture.sh

# The deterministic simulator (tests/sim): SEEDS seeds from FIRST, or
# one SEED replayed with its trace, with SIMFLAGS (--strict, --direct,
# --relapse, --down-power, --stop: blockd-sim --help);
# failures are judged against tests/sim/known-failures. make check runs
# fixed ranges.
SEEDS ?= 1000
FIRST ?= 1
STEPS ?= 20000
SIMFLAGS ?=
sim: all
ifdef SEED
	$(BUILD)/tests/sim/blockd-sim --seed $(SEED) --steps $(STEPS) $(SIMFLAGS) --trace
else
	tests/sim/run-seeds.sh $(BUILD)/tests/sim/blockd-sim $(FIRST) $$(($(FIRST) + $(SEEDS) - 1)) $(STEPS) $(SIMFLAGS)
endif

clean:
	rm -rf $(BUILD) $(BUILD_SAN) $(BUILD_FUZZ)
