# Every target installs what it needs first, so each works from a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
DB ?= var/eir.lmdb

.PHONY: install tshark mosquitto chromium vm test-sctp run test check lint type bench bench-store bench-replace bench-shapes bench-s13 bench-map bench-mqtt bench-merge bench-observations bench-devices bench-classes bench-lifecycle bench-versions load clean

# pysctp compiles against libsctp (Debian's libsctp-dev) with a C compiler; the tests dissect
# what we send with tshark.
$(STAMP): pyproject.toml
	@if ! { [ -f /usr/include/netinet/sctp.h ] && command -v gcc >/dev/null; }; then \
		echo "installing libsctp-dev and gcc with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libsctp-dev gcc >/dev/null; \
	fi
	@$(MAKE) --no-print-directory tshark
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

# tshark for the dissection tests; where apt-get cannot install it those tests skip and say so.
tshark:
	@command -v tshark >/dev/null || { \
		echo "installing tshark with apt-get"; \
		echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tshark >/dev/null; } \
		|| echo "warning: tshark could not be installed; its tests will skip"; }

# mosquitto (and mosquitto_passwd) for the MQTT tests: a real broker with conf/mosquitto.
mosquitto:
	@{ command -v mosquitto || [ -x /usr/sbin/mosquitto ]; } >/dev/null || { \
		echo "installing mosquitto with apt-get"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null; } \
		|| echo "warning: mosquitto could not be installed; the MQTT tests will skip"; }

# Debian's chromium, headless, for the test that renders eir-sim's HTML report and keeps its
# screenshot (var/report/report.png); where apt-get cannot install it that test skips.
chromium:
	@command -v chromium >/dev/null || { \
		echo "installing chromium with apt-get"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| echo "warning: chromium could not be installed; the report's browser test will skip"; }

# What the SCTP tests need where this kernel has no SCTP: qemu, a Debian kernel with the sctp
# module, and a static busybox for the VM's initramfs (tests/vm/sctp_vm.py).
vm:
	@python3 -c "import socket; socket.socket(socket.AF_INET, socket.SOCK_STREAM, 132)" 2>/dev/null \
	|| { command -v qemu-system-x86_64 >/dev/null && ls /boot/vmlinuz-* >/dev/null 2>&1 \
		&& [ -x /bin/busybox ] && ls /lib/modules/*/kernel/net/sctp/sctp.ko >/dev/null 2>&1; } \
	|| { echo "installing qemu-system-x86, linux-image-amd64 and busybox-static with apt-get"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			qemu-system-x86 linux-image-amd64 busybox-static >/dev/null; } \
		|| echo "warning: the VM packages could not be installed; the SCTP tests will skip"; }

# The SCTP tests, under kernel SCTP: here when the kernel has it, else in a qemu VM.
test-sctp: install vm
	@$(BIN)/python -m compileall -q eir sim tests >/dev/null  # an emulated guest compiling each import costs seconds
	@$(BIN)/python tests/vm/sctp_vm.py -- $(BIN)/python -m pytest tests/sctp -p no:cacheprovider -p no:hypothesispytest --color=no; \
	code=$$?; [ $$code -eq 77 ] && exit 0; exit $$code

run: install
	$(BIN)/eir load conf/lists/demo.csv --list black --source demo --mode replace --db $(DB)
	$(BIN)/eir devices load conf/devices/sample-gsma17.txt --db $(DB)
	$(BIN)/eir devices load --approved conf/devices/approved-sample.csv --db $(DB)
	exec $(BIN)/eir serve --config conf/eir.toml --db $(DB)

test: install tshark mosquitto chromium
	$(BIN)/python -m pytest --ignore=tests/sctp
	@$(MAKE) --no-print-directory test-sctp

lint: install
	$(BIN)/ruff check eir sim tests
	$(BIN)/ruff format --check eir sim tests

type: install
	$(BIN)/mypy

check: lint type test

# every bench runs even when an earlier one misses its target; the exit code says if any did
bench: install
	@status=0; for target in bench-store bench-s13 bench-map bench-mqtt bench-merge bench-observations bench-devices bench-classes bench-lifecycle bench-versions; do \
		$(MAKE) --no-print-directory $$target || { status=1; echo "make bench: $$target missed a target"; }; \
	done; exit $$status

bench-store: install
	$(BIN)/python tests/bench/bench_store.py

# only the store bench's last step: eir load --mode replace against a fresh load (1M rows)
bench-replace: install
	$(BIN)/python tests/bench/bench_store.py --replace-only

# only the store bench's file shapes (issue 15): eir load against raw LMDB putmulti of each
bench-shapes: install
	$(BIN)/python tests/bench/bench_store.py --shapes-only

bench-s13: install
	$(BIN)/python tests/bench/bench_signalling.py --protocol s13

bench-map: install
	$(BIN)/python tests/bench/bench_signalling.py --protocol map

# a 1M-row list update applied on three nodes through mosquitto; events while answering
bench-mqtt: install mosquitto
	$(BIN)/python tests/bench/bench_mqtt.py

# issue 17: observation deltas of 2,000 pairs merged into a store of 1M records
bench-merge: install
	$(BIN)/python tests/bench/bench_merge.py

# issue 17: answer cost with observations on and off, the writer's rate, memory at 10M pairs
bench-observations: install
	$(BIN)/python tests/bench/bench_observations.py

# issue 16: eir devices load of a generated 200,000-TAC GSMA file; the in-memory index built
bench-devices: install
	$(BIN)/python tests/bench/bench_devices.py

# issue 16: answer cost with no device database against 200,000 TACs and 5 device rules
bench-classes: install
	$(BIN)/python tests/bench/bench_classes.py

# issue 18: answer cost of entries with times (effective/expires) against entries without, 1M
bench-lifecycle: install
	$(BIN)/python tests/bench/bench_lifecycle.py

# diff and rollback of a 1-million-entry list (issue 18)
bench-versions: install
	$(BIN)/python tests/bench/bench_versions.py

# eir serve with the demo lists, driven 20 s by eir-sim (mixed S13 and MAP, fixed rate);
# fails on any wrong answer or gate
load: install
	$(BIN)/python tests/bench/load.py

clean:
	rm -rf var $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
