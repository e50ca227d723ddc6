# nbspaces: `make run` starts a hub on http://127.0.0.1:8000; `make test` runs every test.
# Both install what they need on a fresh Debian machine (run as root, as CI does).

SHELL := /bin/bash
PYTHON ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_BIN := $(CURDIR)/node_modules/.bin
export PATH := $(CURDIR)/$(BIN):$(NODE_BIN):$(PATH)
export NBSPACES_DATA_DIR ?= $(CURDIR)/.nbspaces-data

APT_PACKAGES := e2fsprogs util-linux mount fuse3
APT_NODE := $(shell command -v npm >/dev/null 2>&1 || echo nodejs npm)

.PHONY: run test lint system-deps deps clean

system-deps:
	@missing=""; for p in $(APT_PACKAGES) $(APT_NODE); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "nbspaces: please install:$$missing (sudo apt-get install$$missing)"; exit 1; fi; \
	fi

$(STAMP): pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	@touch $@

node_modules/.installed: package.json
	npm install --no-audit --no-fund --silent
	@touch $@

deps: system-deps $(STAMP) node_modules/.installed

run: deps
	$(BIN)/jupyterhub -f hub_config/jupyterhub_config.py

lint: deps
	$(BIN)/ruff check .

test: deps lint
	$(BIN)/python -m pytest -q -ra

clean:
	rm -rf $(VENV) node_modules .nbspaces-data
