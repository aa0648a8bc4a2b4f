# SureHA — build, install, test.
#   make                      release build
#   make install HAHOME=DIR   install the tree of DESIGN §2 (default /opt/sureha)
#   make uninstall HAHOME=DIR stop and remove it, keeping etc/ (PURGE=1: that too)
#   make deb                  a Debian package (HAHOME /usr/lib/sureha, etc/ in /etc/sureha)
#   make test                 every test (unit, simulation, cluster; cluster tests need root)
#   make bench                idle footprint and timing benchmarks (medians of several runs),
#                             side by side with keepalived (root; apt-get install keepalived)
#   make demo                 two-node failover demo in network namespaces (root)
#   make fuzz                 the fuzz targets, long (FUZZ_ITERS inputs a target; make test runs 20,000)
#   make pg-long              PostgreSQL on the shared volume through 100 crashes (make test: 20)
#   make chaos                random overlapping faults on a real pair, judged from outside
#                             (FAULTS=M, default 200; CHAOS_SEED=N replays; make test: 50)

HAHOME ?= /opt/sureha
CARGO ?= cargo
RELEASE = target/release
PROGRAMS = hamond hasvrd haadm haapi hahb-sock hahb-serial hahb-disk havip havol haconsole
API_TOOLS = APIOPEN.x APIOK.x APIERROR.x APICLOSE.x APICMD.x
AGENTS = agents/ha_ag_tmp.sh agents/ha_ag_tmp.c
# The agents and scripts of the service types SureHA runs itself (DESIGN §12).
TYPE_SCRIPTS = agents/ha_ag_ocf.sh agents/ocf_start.sh agents/ocf_stop.sh \
	agents/ha_ag_lsb.sh agents/lsb_start.sh agents/lsb_stop.sh \
	agents/ha_ag_pgsql.sh agents/pgsql_start.sh agents/pgsql_stop.sh \
	agents/ha_ag_mysql.sh agents/mysql_start.sh agents/mysql_stop.sh \
	agents/ha_ag_www.sh agents/www_start.sh agents/www_stop.sh \
	agents/ha_ag_nfs.sh agents/nfs_start.sh agents/nfs_stop.sh \
	agents/ha_ag_oracle.sh agents/oracle_start.sh agents/oracle_stop.sh \
	agents/ha_ag_sybase.sh agents/sybase_start.sh agents/sybase_stop.sh \
	agents/ha_ag_informix.sh agents/informix_start.sh agents/informix_stop.sh
TYPE_LIBS = agents/shipped_lib.sh agents/ocf_common.sh agents/lsb_common.sh \
	agents/pgsql_common.sh agents/mysql_common.sh agents/www_common.sh agents/nfs_common.sh agents/oracle_common.sh \
	agents/sybase_common.sh agents/informix_common.sh
CC ?= cc
AR ?= ar
HAAPI = target/c/libhaapi.a target/c/libhaapi.so.1
HAAPI_CFLAGS = -Os -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -fPIC -Iagents

.PHONY: chaos mutants upgrade-check all build install uninstall deb deps test bench demo sim fuzz pg-long clean

all: build

build: $(HAAPI)
	$(CARGO) build --release

# libhaapi: the C agents' API, a small C shim over the request FIFO (agents/libhaapi.c), so
# an agent linked with the manual's `cc ... -lhaapi` weighs kilobytes.

target/c/libhaapi.a: agents/libhaapi.c agents/clusterapi.h
	mkdir -p target/c
	$(CC) $(HAAPI_CFLAGS) -c agents/libhaapi.c -o target/c/libhaapi.o
	rm -f $@ && $(AR) rcs $@ target/c/libhaapi.o

target/c/libhaapi.so.1: agents/libhaapi.c agents/clusterapi.h
	mkdir -p target/c
	$(CC) $(HAAPI_CFLAGS) -shared -Wl,-soname,libhaapi.so.1 agents/libhaapi.c -o $@

install: build
	install -d -m 755 $(HAHOME)/bin $(HAHOME)/etc $(HAHOME)/include $(HAHOME)/lib $(HAHOME)/gui
	install -d -m 700 $(HAHOME)/tmp
	for p in $(PROGRAMS); do install -m 755 $(RELEASE)/$$p $(HAHOME)/bin/$$p; done
	for t in $(API_TOOLS); do ln -sf haapi $(HAHOME)/bin/$$t; done
	install -m 755 $(RELEASE)/newpass $(HAHOME)/bin/NewPass
	install -m 755 $(RELEASE)/setpass $(HAHOME)/bin/SetPass
	install -m 755 $(RELEASE)/hostid $(HAHOME)/bin/hostid
	install -m 755 rc/S999sureha $(HAHOME)/bin/S999sureha
	install -m 755 rc/uninstall $(HAHOME)/bin/uninstall
	install -m 755 agents/ha_ag_tmp.sh $(HAHOME)/bin/ha_ag_tmp.sh
	install -m 755 agents/alerts/alert_*.sh $(HAHOME)/bin/
	install -m 755 $(TYPE_SCRIPTS) $(HAHOME)/bin/
	install -m 644 $(TYPE_LIBS) $(HAHOME)/bin/
	install -m 644 agents/ha_ag_tmp.c $(HAHOME)/bin/ha_ag_tmp.c
	install -m 644 agents/clusterapi.h agents/hafile.h $(HAHOME)/include/
	# Only the static library answers -lhaapi, so agents run without LD_LIBRARY_PATH;
	# the shared one is there for -l:libhaapi.so.1 with an rpath.
	install -m 644 target/c/libhaapi.a $(HAHOME)/lib/libhaapi.a
	install -m 755 target/c/libhaapi.so.1 $(HAHOME)/lib/libhaapi.so.1
	install -d -m 755 $(HAHOME)/lib/ocf/resource.d/sureha
	install -m 755 agents/ocf/service $(HAHOME)/lib/ocf/resource.d/sureha/service
	install -m 755 gui/gui.sh $(HAHOME)/gui/gui.sh
	install -m 644 gui/index.html gui/console.js gui/console.css gui/favicon.svg $(HAHOME)/gui/
	install -m 644 rc/sureha.service $(HAHOME)/etc/sureha.service.sample
	install -m 644 rc/haadm.bash $(HAHOME)/etc/haadm.bash
	install -d -m 755 $(HAHOME)/man/man1 $(HAHOME)/man/man5
	install -m 644 man/*.1 $(HAHOME)/man/man1/
	install -m 644 man/*.5 $(HAHOME)/man/man5/
	for t in $(API_TOOLS); do ln -sf haapi.1 $(HAHOME)/man/man1/$$t.1; done
	test -e $(HAHOME)/etc/sureha.conf || install -m 644 etc/sureha.conf $(HAHOME)/etc/sureha.conf
	test -e $(HAHOME)/etc/passwd || install -m 600 /dev/null $(HAHOME)/etc/passwd
	test -e $(HAHOME)/etc/authkey || (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > $(HAHOME)/etc/authkey && echo >> $(HAHOME)/etc/authkey)
	chmod 600 $(HAHOME)/etc/authkey $(HAHOME)/etc/passwd

# A Debian package: target/deb/sureha_VERSION_ARCH.deb (pkg/deb/build).
deb: build
	bash pkg/deb/build

# Stops the node, removes programs, rc links and unit; keeps etc/ unless PURGE=1.
uninstall:
	HAHOME=$(HAHOME) sh rc/uninstall $(if $(PURGE),--purge)

SEEDS ?= 100000

# What the tests need (root on Debian: installed; otherwise said). DEPS=0 skips it.
deps:
	@[ "$(DEPS)" = 0 ] || bash tests/install-deps.sh

test: deps
	$(CARGO) build --all-targets
	$(CARGO) test -- --test-threads=2
	SIM_SEEDS=10000 $(CARGO) test --profile sim --lib random_schedules -- --nocapture

# More simulated schedules: make sim SEEDS=N (SIM_FIRST=K to start elsewhere).
sim:
	SIM_SEEDS=$(SEEDS) $(CARGO) test --profile sim --lib random_schedules -- --nocapture

# Mutation testing of the engine (cargo install cargo-mutants): every mutant of lib/engine
# (not the simulator) against its unit tests, the regression seeds and 2,000 random seeds.
# MUTANTS_SHARD=k/n runs a share; MUTANTS_ARGS=--iterate skips what the last run caught.
# The oracle takes about 2 s: a mutant past 20 s has made the engine spin (a timeout).
# Survivors are judged in tests/mutants/survivors.md. Each job builds in a copy of the tree
# made when the job starts (after the baseline): edit nothing until every job has begun.
MUTANTS_SHARD ?= 0/1
MUTANTS_JOBS ?= 2
mutants:
	SIM_SEEDS=2000 $(CARGO) mutants --profile mutants --shard $(MUTANTS_SHARD) --timeout 20 \
		-j $(MUTANTS_JOBS) -C --lib $(MUTANTS_ARGS) \
		-f 'lib/engine/**/*.rs' -e 'lib/engine/sim/**' -e 'lib/engine/tests/**' \
		-- engine::
	bash tests/mutants/replay.sh

bench: build
	@[ "$(DEPS)" = 0 ] || bash tests/install-deps.sh bench
	bash bench/footprint.sh
	bash bench/idle-pair.sh
	$(CARGO) test -q --release --test it bench_ -- --ignored --nocapture --test-threads=1

# A pair across an upgrade: one node on an earlier release (built from git in a worktree
# under /tmp: OLD speaks protocol version 1, OLD2 version 2), the other on this one; then
# both on this one.
OLD ?= 8f6f605
OLD2 ?= 1271819
upgrade-check: build
	rm -rf /tmp/sureha-old /tmp/sureha-old2 && git worktree prune
	git worktree add -f /tmp/sureha-old $(OLD) && git worktree add -f /tmp/sureha-old2 $(OLD2)
	cd /tmp/sureha-old && CARGO_TARGET_DIR=/tmp/sureha-old/target $(CARGO) build -q --bins
	cd /tmp/sureha-old2 && CARGO_TARGET_DIR=/tmp/sureha-old2/target $(CARGO) build -q --bins
	SUREHA_OLD_BIN=/tmp/sureha-old/target/debug SUREHA_OLD2_BIN=/tmp/sureha-old2/target/debug \
		$(CARGO) test -q --test it upgrade:: -- --ignored --nocapture --test-threads=1
	git worktree remove --force /tmp/sureha-old && git worktree remove --force /tmp/sureha-old2

FUZZ_ITERS ?= 5000000

# Every parser and decoder under mutated inputs (tests/fuzz); a failure prints FUZZ_SEED.
fuzz:
	FUZZ_ITERS=$(FUZZ_ITERS) $(CARGO) test --release --test fuzz -- --nocapture --test-threads=2

# The database test's long run (root, postgresql, bindfs): every acknowledged commit survives
# 100 crashes of the node running it, alternating; prints the median client outage.
pg-long:
	PG_FAILOVERS=100 $(CARGO) test --release --test it postgres -- --nocapture

# Random overlapping faults on a real pair, judged by what the kernel and the clients show
# (root; DESIGN §15). History and report in target/chaos/SEED/; exit 1 on any violation.
FAULTS ?= 200
chaos: deps
	FAULTS=$(FAULTS) CHAOS_SEED=$(CHAOS_SEED) $(CARGO) test --release --test it chaos_ -- --nocapture --test-threads=1

# Two nodes and a client in network namespaces, a crash and a failover, narrated (root).
demo:
	@test "$$(id -u)" = 0 || { echo "make demo needs root (network namespaces)"; exit 1; }
	@[ "$(DEPS)" = 0 ] || bash tests/install-deps.sh demo
	$(CARGO) test -q --release --test it demo -- --ignored --nocapture --test-threads=1

clean:
	$(CARGO) clean
