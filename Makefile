# Targets read like the README. Each says what it does and fails loudly.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

# Kubernetes and image settings (override on the command line).
OVERLAY ?= k8s/overlays/example
KUBE_CONTEXT ?=
IMAGE ?=
WEBHOOK_OVERLAY ?= k8s/webhook/overlays/cert-manager
PLATFORMS ?= linux/amd64

# Where cargo builds (CARGO_TARGET_DIR honoured, as cargo reads it).
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
# Each recipe line that compiles or tests runs through this, so `make test` ends with a table
# of where the time went: $(TIMED) compile|test COMMAND...
export TIMING_DIR ?= $(CURDIR)/.cache/timing
TIMED = tests/timing.sh run $@

.PHONY: help venv venv-demo node-deps build release release-test lint test test-rust test-terraform test-k8s test-monitoring test-demo \
        test-docs demo-build test-release test-supply-chain test-fuzz fuzz timing-reset demo bench bench-webhook bench-audit release-webhook \
        release-audit audit plan apply destroy k8s-config verify smoke webhook-deploy image monitoring

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

## --- Try it -------------------------------------------------------------------------------

# The plan (what it does, how long) first, then only the demo's Python tools and one cargo build.
demo: ## Run the whole chain locally on emulators (moto, metadata emulator); prints its plan and the time to expect
	@scripts/demo.sh --plan
	@$(MAKE) --no-print-directory venv-demo demo-build
	DEMO_PLAN_SHOWN=1 scripts/demo.sh

test: timing-reset venv lint test-rust test-terraform test-k8s test-monitoring test-demo test-docs test-release test-supply-chain test-fuzz ## Every check: Rust, Terraform, Kubernetes, alert rules, demo, documented commands, shipping build, supply chain, fuzz smoke
	@tests/timing.sh table
	@echo "==> all checks passed"

# The benchmarks measure what ships (make release*); the peers they run against (emulators,
# the API stand-in) come from the release-test build.
bench: venv release release-webhook release-test ## Benchmark against today's Python credential_process pipeline, then the webhook
	bench/run.sh
	bench/webhook_bench.sh

bench-audit: venv release-audit release-test ## The audit of 200,000 pods (10,000 opted in), 100,000 KSAs, 20,000 workloads on the API stand-in: wall time, peak RSS
	bench/audit_bench.sh

bench-webhook: venv release release-webhook release-test ## Webhook time to ready and peak RSS with 10,000 and 100,000 KSAs, latency with wrk and under dripping connections
	bench/webhook_bench.sh

## --- Platform engineers --------------------------------------------------------------------

plan: ## terraform plan of terraform/ (needs terraform.tfvars and cloud credentials)
	@echo "==> terraform plan"
	terraform -chdir=terraform init -input=false
	terraform -chdir=terraform plan -input=false

apply: ## terraform apply of terraform/
	@echo "==> terraform apply"
	terraform -chdir=terraform init -input=false
	terraform -chdir=terraform apply -input=false

destroy: ## terraform destroy of terraform/
	@echo "==> terraform destroy"
	terraform -chdir=terraform destroy -input=false

k8s-config: ## Write k8s/overlays/<workload>/ from Terraform's workloads (IMAGE= required; DEDICATED=, COMPONENTS=)
	@echo "==> writing kustomize overlays from Terraform's workloads output"
	scripts/k8s-config.sh

verify: ## Prove the chain in the cluster with a one-off Job (OVERLAY=...); fails if not proven
	@echo "==> verifying $(OVERLAY) with a one-off Job"
	OVERLAY=$(OVERLAY) KUBE_CONTEXT=$(KUBE_CONTEXT) scripts/verify-job.sh verify

smoke: ## Deploy the smoke-test CronJob (OVERLAY=...); the script says which namespace mode it applies
	@echo "==> deploying $(OVERLAY) with its smoke-test CronJob"
	OVERLAY=$(OVERLAY) KUBE_CONTEXT=$(KUBE_CONTEXT) scripts/verify-job.sh smoke

audit: ## Install the audit CronJob (it stays, hourly) and run it once against the current context (IMAGE= required; KUBE_CONTEXT=), print its report
	@echo "==> audit: one run of the audit CronJob (k8s/examples/audit)"
	IMAGE=$(IMAGE) KUBE_CONTEXT=$(KUBE_CONTEXT) scripts/audit-job.sh

webhook-deploy: ## Deploy the injection webhook (IMAGE= required; WEBHOOK_OVERLAY= cert-manager overlay (default, checks its CRDs) or k8s/webhook/overlays/self-signed; KUBE_CONTEXT=)
	IMAGE=$(IMAGE) KUBE_CONTEXT=$(KUBE_CONTEXT) WEBHOOK_OVERLAY=$(WEBHOOK_OVERLAY) scripts/webhook-deploy.sh

monitoring: venv ## Render the alert rules (plain, GMP, prometheus-operator) and the dashboard from k8s/monitoring/source.yaml
	@echo "==> k8s/monitoring/generate.py: rules, ClusterRules, PrometheusRule, Grafana dashboard"
	python3 k8s/monitoring/generate.py

image: ## Build and push the verifier image (IMAGE=REGISTRY/gke-aws-verifier:TAG)
	@test -n "$(IMAGE)" || { echo "image: set IMAGE=REGISTRY/gke-aws-verifier:TAG (never latest)" >&2; exit 2; }
	@echo "==> building and pushing $(IMAGE) for $(PLATFORMS)"
	mkdir -p .cache
	docker buildx build --platform $(PLATFORMS) --tag $(IMAGE) --metadata-file .cache/image-metadata.json --push .
	@echo "==> pushed $(IMAGE) digest $$(python3 -c 'import json; print(json.load(open(".cache/image-metadata.json"))["containerimage.digest"])')"
	@echo "    pin it: make k8s-config IMAGE=<repository>@<digest>"

FUZZ_SECONDS ?= 60
fuzz: ## Fuzz each parser for FUZZ_SECONDS (default 60) each, with AddressSanitizer
	@echo "==> cargo fuzz, $(FUZZ_SECONDS) s per target"
	tests/supply-chain/fuzz.sh $(FUZZ_SECONDS)

## --- Development ---------------------------------------------------------------------------

# uv installs the same pins as pip would, in seconds instead of a minute and a half.
UV_VERSION := 0.9.30
$(VENV)/bin/uv:
	@echo "==> Python venv $(VENV) with uv $(UV_VERSION)"
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

venv: $(VENV)/.installed ## Python tools for tests, demo and benchmark (moto, aws CLI, checkov, ...)
$(VENV)/.installed: requirements-dev.txt requirements-demo.txt | $(VENV)/bin/uv
	@echo "==> Python tools for the tests into $(VENV) (requirements-dev.txt)"
	$(TIMED) compile $(VENV)/bin/uv pip install --quiet --python $(VENV)/bin/python -r requirements-dev.txt
	touch $@ $(VENV)/.installed-demo

venv-demo: $(VENV)/.installed-demo ## Only what the demo runs: moto, boto3, the aws CLI
$(VENV)/.installed-demo: requirements-demo.txt | $(VENV)/bin/uv
	@echo "==> Python tools for the demo into $(VENV) (requirements-demo.txt)"
	$(VENV)/bin/uv pip install --quiet --python $(VENV)/bin/python -r requirements-demo.txt
	touch $@

build: ## Debug build of the workspace
	@echo "==> cargo build"
	cargo build --workspace --locked

# The shipping builds, as the image's Dockerfile runs them (scripts/build-release.sh): each
# package on its own, so that no other package's dependency features reach it.
release: ## Shipping build of the verifier (fat LTO, checked against its 8 MB budget)
	scripts/build-release.sh verifier

release-webhook: ## Shipping build of the injection webhook
	scripts/build-release.sh webhook

release-audit: ## Shipping build of the audit (gke-aws-verifier audit runs it)
	scripts/build-release.sh audit

# What the tests, the demo and the benchmarks' peers run: every binary in one cargo invocation,
# profile release-test (release without fat LTO: the AWS SDK compiled once, not three times).
release-test: ## Optimised build of every binary, the API stand-ins and the webhook's render, for tests and the demo
	@echo "==> cargo build --profile release-test (verifier, emulators, webhook, audit, kube-stand-in, ksa-stand-in, render)"
	$(TIMED) compile cargo build --locked --profile release-test -p gke-aws-verifier -p gke-metadata-emulator \
	  -p gke-aws-webhook -p gke-aws-audit --bins --example kube-stand-in --example ksa-stand-in --example render

# What the demo runs, in one cargo invocation: release-test's build without the KSA stand-in (the
# webhook's render example writes the demo's two-role pod; `--bins` applies to every package, so
# the webhook's binary comes along, a small link: the audit links the webhook's library anyway). Every crate gets the same features as in
# release-test (`cargo tree -e normal,build,dev -f '{p} {f}'` prints the same for both sets of
# packages), so the two share all they compile in target/release-test, the AWS SDK built once.
demo-build: ## Optimised build of what the demo runs (profile release-test): verifier, audit, emulators, kube-stand-in, render
	@echo "==> cargo build --profile release-test (verifier, emulators, audit, kube-stand-in, render: what the demo runs)"
	$(TIMED) compile cargo build --locked --profile release-test -p gke-aws-verifier -p gke-metadata-emulator \
	  -p gke-aws-audit --bins --example kube-stand-in -p gke-aws-webhook --example render

lint: venv ## rustfmt, no import circles between a crate's files or folders, clippy with warnings as errors
	@echo "==> cargo fmt --check, import circles (files and folders), cargo clippy"
	cargo fmt --all --check
	python3 -m pytest -q tests/rust/test_import_circles.py
	python3 tests/rust/import_circles.py $$(for c in */Cargo.toml; do d=$${c%/Cargo.toml}; [ ! -d $$d/src ] || echo $$d/src; done)
	$(TIMED) compile cargo clippy --workspace --all-targets --locked -- -D warnings

node-deps: ## The AWS SDK for JavaScript v3 for the webhook's injected-pod test (npm ci in tests/node)
	@command -v npm >/dev/null || { echo "node-deps: npm is missing (Debian: apt-get install nodejs npm)" >&2; exit 1; }
	@echo "==> npm ci in tests/node"
	cd tests/node && $(CURDIR)/$(TIMED) compile npm ci --no-audit --no-fund

# release-test: the webhook's hostile tests measure the peak RSS of its optimised binary.
test-rust: venv node-deps release-test ## Unit and integration tests against moto, the emulator, the aws CLI, boto3, the JS SDK, Pushgateway
	@echo "==> cargo nextest (moto_server: $$(command -v moto_server))"
	$(TIMED) compile cargo nextest run --workspace --locked --no-run
	$(TIMED) test cargo nextest run --workspace --locked --no-fail-fast
	$(TIMED) test tests/rust/unprivileged.sh

test-terraform: venv release-test ## fmt, validate, terraform test, end-to-end on moto, google schema, checkov, explain on real plans
	@echo "==> Terraform checks"
	$(TIMED) test tests/terraform/run.sh

test-k8s: venv ## kustomize builds, strict schema validation, checkov, hadolint, script tests
	@echo "==> Kubernetes checks"
	$(TIMED) test tests/k8s/run.sh

test-monitoring: venv release-test ## The alert rules: rendered files current, promtool check and test rules, CRD objects against the published CRDs, the live Prometheus test
	@echo "==> monitoring checks"
	$(TIMED) test tests/monitoring/run.sh

test-demo: venv release-test ## make demo passes and leaves nothing running
	@echo "==> demo test"
	$(TIMED) test tests/demo/run.sh

test-docs: venv release-test ## Every command block of README.md and docs/*.md runs as shown on the emulators, or is marked illustrative
	@echo "==> documented commands (tests/docs/run.sh)"
	$(TIMED) test tests/docs/run.sh

test-release: ## The shipping build of the verifier, as the image builds it, within its 8 MB budget
	@echo "==> shipping build (scripts/build-release.sh verifier)"
	$(TIMED) compile scripts/build-release.sh verifier

test-supply-chain: ## cargo deny (licences, bans, sources; offline), lock files current
	@echo "==> supply chain"
	$(TIMED) test tests/supply-chain/deny.sh

test-fuzz: ## Fuzz smoke: each target for 10 s (no sanitizer, for build time)
	@echo "==> fuzz smoke"
	FUZZ_SANITIZER=none $(TIMED) compile tests/supply-chain/fuzz.sh --build-only
	FUZZ_SANITIZER=none $(TIMED) test tests/supply-chain/fuzz.sh 10

timing-reset:
	@tests/timing.sh reset
