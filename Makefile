# Two commands for a fresh machine: `make demo` and `make test` (see README).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WHEELS ?= /opt/wheels
PIP_LINKS := $(if $(wildcard $(WHEELS)),--find-links $(WHEELS),)
# Debian packages the tests talk to: DCMTK (storescu/storescp/echoscu), dicom3tools (dciodvfy), Orthanc,
# Chromium (driven by Playwright for the dashboard tests; no browser download), OpenSSL (test CA for TLS),
# Redis (Celery broker) and PostgreSQL (shared ledger) for the scale-out tests, started on loopback by them;
# Tesseract (the anonymizer's Clean Pixel Data OCR); for OHIF (docs/viewer.md): the Orthanc DICOMweb plugin, nginx, and node/npm (OHIF's own parser libraries).
# A `cmd` that is a path is checked as a file.
SYSTEM_TOOLS := storescu:dcmtk dciodvfy:dicom3tools Orthanc:orthanc chromium:chromium openssl:openssl \
	redis-server:redis-server pg_ctlcluster:postgresql \
	/usr/share/orthanc/plugins/libOrthancDicomWeb.so:orthanc-dicomweb nginx:nginx-light node:nodejs npm:npm \
	tesseract:tesseract-ocr
# OHIF Viewer, our reference viewer: its prebuilt site (npm package, dist/ only, never committed) and the
# npm libraries of OHIF's own SEG/SR loaders for tests/viewer/ohif/ohif_parse.mjs (exact pins + lock).
OHIF_VERSION := 3.13.2
OHIF_SHA256 := b189d3963bfc58e9394a9db8c7be75d07beb029ec211dbb126d47b62969dd3f1
OHIF := .ohif
OHIF_SITE := $(OHIF)/dist/.version-$(OHIF_VERSION)
OHIF_NODE := $(OHIF)/node/.installed

.PHONY: all venv system-deps ohif viewer demo test lint typecheck pytest bench clean

all: venv

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel
	# torch first, pinned, from the local CPU wheel when present (never the CUDA build)
	$(BIN)/pip install -q $(PIP_LINKS) torch==2.13.0
	$(BIN)/pip install -q $(PIP_LINKS) -e '.[inference,scale,dev]'
	# deepbet: the atrophy pipeline's brain-extraction weights (MIT, TorchScript). --no-deps: only its two
	# model files are used; its own requirements (a GUI toolkit, pandas, cc3d, ...) are not needed
	$(BIN)/pip install -q $(PIP_LINKS) --no-deps deepbet==1.0.2
	touch $(STAMP)

venv: $(STAMP)

system-deps:
	@missing=""; for pair in $(SYSTEM_TOOLS); do \
	  cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || [ -e "$$cmd" ] || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

$(OHIF_SITE): | system-deps
	mkdir -p $(OHIF)/pack
	cd $(OHIF)/pack && npm pack --silent --prefer-offline @ohif/app@$(OHIF_VERSION) >/dev/null
	echo "$(OHIF_SHA256)  $(OHIF)/pack/ohif-app-$(OHIF_VERSION).tgz" | sha256sum --check --quiet
	rm -rf $(OHIF)/dist $(OHIF)/pack/package
	tar -xzf $(OHIF)/pack/ohif-app-$(OHIF_VERSION).tgz -C $(OHIF)/pack package/dist
	mv $(OHIF)/pack/package/dist $(OHIF)/dist
	touch $@

$(OHIF_NODE): tests/viewer/ohif/package.json tests/viewer/ohif/package-lock.json | system-deps
	mkdir -p $(OHIF)/node
	cp tests/viewer/ohif/package.json tests/viewer/ohif/package-lock.json $(OHIF)/node/
	cd $(OHIF)/node && npm ci --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error >/dev/null
	touch $@

ohif: $(OHIF_SITE) $(OHIF_NODE)

# serve the demo's studies and the results in its PACS (var/demo, from `make demo`) in OHIF on loopback
viewer: venv system-deps ohif
	$(BIN)/dicom-node viewer var/demo/studies var/demo/pacs --ohif-dist $(OHIF)/dist

demo: venv system-deps
	$(BIN)/dicom-node demo --real-data tests/data

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

pytest: venv system-deps ohif
	$(BIN)/pytest -q

test: venv system-deps lint typecheck pytest

bench: venv system-deps
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) var $(OHIF) .mypy_cache .ruff_cache .pytest_cache
