# autolease.sanlock: one-command setup, lab, tests and benchmarks.
# Every target installs what it needs on a fresh Debian 12 machine (as root)
# and is quick the second time.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        := .venv
PY          := $(VENV)/bin/python
COLLECTIONS := $(CURDIR)/.cache/collections
LAB_DIR     ?= /var/tmp/autolease-lab
LAB_HOSTS   ?= 3
export LAB_DIR LAB_HOSTS
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

# Debian packages: the stack of ../shared/LAB-NOTES.md plus what the toolchain needs
# (chromium and its WebDriver: the docs site test opens the built pages in a headless browser).
DEB_PACKAGES := sanlock python3-sanlock libvirt-daemon-system libvirt-sanlock libvirt-clients \
	python3-libvirt qemu-system-x86 qemu-utils augeas-tools systemd-container debootstrap \
	python3-venv python3-pip git rsync chromium chromium-driver

LAB_INVENTORY := $(LAB_DIR)/inventory.yml

.PHONY: help deps lab lab-up lab-down lab-status test lint sanity unit docs bench reliability-doc build ee changelog clean

help:
	@echo "make build     the collection tarball in .cache/build (needs only ansible-core's ansible-galaxy)"
	@echo "make lab       boot the lab cluster (or reuse it) and roll out playbooks/site.yml on it"
	@echo "make test      lint, sanity, unit, molecule and lab integration tests"
	@echo "make lab-down  stop the lab hosts; nothing stays mounted or running"
	@echo "make bench     benchmarks against the stock tools (results in bench-results/)"
	@echo "make ee        the execution environment's build context in .cache/ee (ansible-builder create)"
	@echo "make changelog CHANGELOG.rst from changelogs/ (antsibull-changelog)"
	@echo "make docs      the collection's HTML docs site (in .cache/docs/build/html)"

## Setup ------------------------------------------------------------------
deps: .cache/apt.ok $(VENV)/.ok $(COLLECTIONS)/ansible_collections/autolease/sanlock

.cache/apt.ok: Makefile
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@mkdir -p .cache && touch $@

$(VENV)/.ok: tests/requirements.txt
	test -x $(PY) || /usr/bin/python3 -m venv --system-site-packages $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r tests/requirements.txt
	$(PY) -c 'import sanlock, libvirt'
	touch $@

$(COLLECTIONS)/ansible_collections/autolease/sanlock:
	mkdir -p $(dir $@)
	ln -sfn ../../../.. $@

## Lab --------------------------------------------------------------------
lab-up: deps
	$(PY) tests/lab/lab.py up

lab: lab-up
	ansible-playbook -i $(LAB_INVENTORY) playbooks/site.yml
	$(PY) tests/lab/proof.py

lab-down:
	@test -x $(PY) && $(PY) tests/lab/lab.py down || /usr/bin/python3 tests/lab/lab.py down

lab-status:
	@$(PY) tests/lab/lab.py status

## Tests ------------------------------------------------------------------
lint: deps
	yamllint -s .
	ansible-lint --profile production

# antsibull-docs lints the documentation, renders it and Sphinx builds the HTML
# site (modules, filters, roles, playbooks); any warning fails the build.
docs: deps
	docs/site/build.sh $(CURDIR)/.cache/docs

sanity: deps
	tests/sanity.sh

unit: deps
	$(PY) -m pytest tests/unit

# The lab tests (molecule scenarios and tests/integration) boot their own lab
# hosts; the final pytest summary line is the result of the whole run.
test: deps lint sanity docs
	$(PY) -m pytest tests/unit tests/integration

bench: deps
	$(PY) tests/bench/run.py

# docs/DEVELOPING.md's Reliability section from the fault table and bench-results/*.json
reliability-doc: deps
	$(PY) tests/bench/reliability_doc.py

# The tarball needs ansible-galaxy alone (ansible-core on any controller): no
# Debian packages, no lab stack, no virtualenv (.venv/bin is used if present).
build:
	@command -v ansible-galaxy >/dev/null || { echo "make build: ansible-galaxy not found; install ansible-core (pip install ansible-core) and run it again" >&2; exit 1; }
	ansible-galaxy collection build --force --output-path .cache/build

# The build context of the AWX/AAP execution environment (execution-environment.yml):
# build it with `podman build -f .cache/ee/Containerfile -t autolease-sanlock-ee .cache/ee`.
ee: deps build
	ansible-builder create --output-filename Containerfile -f execution-environment.yml -c .cache/ee

# CHANGELOG.rst: antsibull-changelog's rendering of changelogs/changelog.yaml and the
# fragments as the release of galaxy.yml's version (changelogs/ itself is not changed).
changelog: deps
	$(PY) tests/changelog.py write

clean: lab-down
	rm -rf .cache $(VENV) tests/output bench-results
