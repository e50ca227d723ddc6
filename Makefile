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

APT_PACKAGES := e2fsprogs util-linux mount fuse3 chromium
APT_NODE := $(shell command -v npm >/dev/null 2>&1 || echo nodejs npm)

.PHONY: run test lint system-deps deps labextension clean

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

# The Data panel (labextension/, TypeScript): compiled and built into nbspaces/labextension, which
# the wheel ships as share/jupyter/labextensions/nbspaces. The venv links to the build, so an editable
# install always serves the latest one (`jupyter labextension list` shows nbspaces enabled).
LABEXT := labextension
LABEXT_OUT := nbspaces/labextension/package.json
LABEXT_SRC := $(wildcard $(LABEXT)/src/*.ts $(LABEXT)/style/*.css $(LABEXT)/style/*.js \
                        $(LABEXT)/style/icons/*.svg $(LABEXT)/schema/*.json) $(LABEXT)/tsconfig.json

$(LABEXT)/node_modules/.installed: $(LABEXT)/package.json $(LABEXT)/package-lock.json
	cd $(LABEXT) && npm install --no-audit --no-fund --silent
	@touch $@

$(LABEXT_OUT): $(STAMP) $(LABEXT)/node_modules/.installed $(LABEXT_SRC)
	cd $(LABEXT) && node_modules/.bin/tsc -b
	$(BIN)/jupyter-builder build $(LABEXT)
	@mkdir -p $(VENV)/share/jupyter/labextensions
	rm -rf $(VENV)/share/jupyter/labextensions/nbspaces
	ln -s $(CURDIR)/nbspaces/labextension $(VENV)/share/jupyter/labextensions/nbspaces
	@touch $@

labextension: $(LABEXT_OUT)

deps: system-deps $(STAMP) node_modules/.installed $(LABEXT_OUT)

run: deps
	$(BIN)/jupyterhub -f hub_config/jupyterhub_config.py

lint: deps
	$(BIN)/ruff check .

test: deps lint
	cd $(LABEXT) && node_modules/.bin/vitest run
	$(BIN)/python -m pytest -q -ra

clean:
	rm -rf $(VENV) node_modules .nbspaces-data $(LABEXT)/node_modules $(LABEXT)/lib $(LABEXT)/tsconfig.tsbuildinfo nbspaces/labextension
