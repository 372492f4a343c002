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
# Redis (Celery broker) and PostgreSQL (shared ledger) for the scale-out tests, started on loopback by them,
# and Tesseract (the anonymizer's Clean Pixel Data OCR).
SYSTEM_TOOLS := storescu:dcmtk dciodvfy:dicom3tools Orthanc:orthanc chromium:chromium openssl:openssl \
	redis-server:redis-server pg_ctlcluster:postgresql tesseract:tesseract-ocr

.PHONY: all venv system-deps demo test lint typecheck pytest bench clean

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
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

demo: venv system-deps
	$(BIN)/dicom-node demo

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

pytest: venv system-deps
	$(BIN)/pytest -q

test: venv system-deps lint typecheck pytest

bench: venv system-deps
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
