# MigraDesk — `make run` starts everything, `make test` runs every test against real Kafka and a real store.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
TOOLS := .local/tools
UV := $(TOOLS)/bin/uv
PY := .venv/bin/python
# Renders deploy/k8s's overlays for their offline checks (tests/unit/test_deploy_manifests.py); a Go module, pinned.
KUSTOMIZE_VERSION := v5.7.1
KUSTOMIZE := $(TOOLS)/bin/kustomize
# A standard policy checker over the rendered manifests, in a virtualenv of its own (its dependencies would pin
# ours down), from its own lock file.
CHECKOV := $(TOOLS)/checkov/bin/checkov
PYTEST_ARGS ?=
export UV_PYTHON_DOWNLOADS := never

.PHONY: help bootstrap lock prepare run up test test-unit test-service test-e2e lint typecheck schemas bench rebuild-metrics k8s-topics chaos clean \
        i18n-extract i18n-compile

help:
	@echo "make run        set up and start Kafka, the store, the three services and demo data"
	@echo "make test       run the whole test suite against a real Kafka broker and store"
	@echo "make test-unit  only the pure domain tests (no infrastructure)"
	@echo "make test-service  each service's use cases over in-memory repositories (seconds)"
	@echo "make lint       ruff and mypy"
	@echo "make schemas    regenerate docs/contracts (JSON Schema, AsyncAPI)"
	@echo "make i18n-extract  extract the pages' messages and update every language's .po"
	@echo "make i18n-compile  compile the .po catalogs to .mo (prepare does it)"
	@echo "make bench      benchmarks: ratios against baselines measured in the same run"
	@echo "make up         only Kafka and the store"
	@echo "make lock       re-resolve the dependencies and rewrite requirements*.lock"
	@echo "make clean      remove the local environment, downloads, builds and data"

$(UV):
	@command -v python3 >/dev/null || { echo "python3 (3.11) is required"; exit 1; }
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

WORKSPACE := -e shared -e services/intake -e services/referral -e services/metrics

# requirements.lock pins every dependency with its hashes (the services' and the tools'); the workspace's own
# packages are installed editable on top, without resolving anything again.
.venv/.synced: $(UV) requirements.lock pyproject.toml shared/pyproject.toml services/*/pyproject.toml
	$(UV) venv --quiet --allow-existing --python python3.11 .venv
	$(UV) pip sync --quiet --python .venv/bin/python --require-hashes requirements.lock
	$(UV) pip install --quiet --python .venv/bin/python --no-deps --no-build-isolation $(WORKSPACE)
	@touch $@

# After changing a dependency in a pyproject.toml: resolve again and rewrite the lock files.
lock: $(UV)
	$(UV) lock --python python3.11
	$(UV) export --frozen --all-groups --no-emit-workspace --format requirements-txt -o requirements.lock
	$(UV) export --frozen --no-dev --no-emit-workspace --format requirements-txt -o requirements-runtime.lock

bootstrap: .venv/.synced

# Translations of the pages: one gettext catalog per package with a locale/ folder (the shared layout's, each
# service's), a .po per supported language. The .mo files are build output (ignored by git).
PYBABEL := .venv/bin/pybabel
I18N_PACKAGES := $(patsubst %/locale/,%,$(wildcard shared/migradesk_shared/web/locale/ services/*/migradesk_*/locale/))
I18N_PO := $(wildcard $(addsuffix /locale/*/LC_MESSAGES/messages.po,$(I18N_PACKAGES)))
# Read from the code when used, so the list of languages lives in one place.
I18N_LOCALES = $(shell $(PY) -c 'from migradesk_shared.web.i18n import LOCALE_CODES; print(*LOCALE_CODES)')

# After changing a page's text: new messages arrive in every .po untranslated (or fuzzy, when like an old one);
# tests/unit/test_i18n.py fails until each is translated and reviewed.
i18n-extract: bootstrap
	@for package in $(I18N_PACKAGES); do \
	  $(PYBABEL) --quiet extract -F babel.cfg --add-location=file --add-comments=Translators: \
	    --project=MigraDesk --version=0.1.0 -o $$package/locale/messages.pot $$package || exit 1; \
	  for locale in $(I18N_LOCALES); do \
	    $(PYBABEL) --quiet update --init-missing --ignore-obsolete --ignore-pot-creation-date -l $$locale \
	      -i $$package/locale/messages.pot -d $$package/locale || exit 1; \
	  done; \
	done

i18n-compile: $(I18N_PO:.po=.mo)

%/LC_MESSAGES/messages.mo: %/LC_MESSAGES/messages.po .venv/.synced
	$(PYBABEL) --quiet compile -i $< -o $@

prepare: bootstrap i18n-compile
	$(PY) -m infra.local prepare

run: prepare
	$(PY) -m infra.local run

up: prepare
	$(PY) -m infra.local up

test: prepare lint $(KUSTOMIZE) $(CHECKOV)
	@$(PY) -m pytest $(PYTEST_ARGS); status=$$?; \
	  if [ $$status -eq 5 ]; then echo "pytest collected no tests: that is a failure, not a pass" >&2; fi; \
	  exit $$status

test-unit: bootstrap i18n-compile
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

# The same use-case tests also run against the real store in `make test` (their `mongo` variants).
test-service: bootstrap i18n-compile
	$(PY) -m pytest tests/service -m "not infra" $(PYTEST_ARGS)

test-e2e: prepare
	$(PY) -m pytest tests/e2e $(PYTEST_ARGS)

lint: bootstrap
	.venv/bin/ruff check .
	.venv/bin/mypy shared services infra scripts bench

schemas: bootstrap
	$(PY) -m scripts.contract_docs

clean:
	rm -rf .venv .local

$(CHECKOV): $(UV) infra/checkov/requirements.lock
	$(UV) venv --quiet --allow-existing --python python3.11 $(TOOLS)/checkov
	$(UV) pip sync --quiet --python $(TOOLS)/checkov/bin/python --require-hashes infra/checkov/requirements.lock
	@touch $@

$(KUSTOMIZE):
	GOBIN=$(abspath $(TOOLS)/bin) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

# The KafkaTopics of deploy/k8s are generated from the topic list; the tests fail when they drift.
k8s-topics: bootstrap
	$(PY) -m scripts.k8s_topics

bench: prepare
	$(PY) -m bench.run

# Faults under load, the full plan (each service killed 3 times, the store stopped 10 s, the broker 30 s...):
# prints the table of faults, events offered, lost, duplicated and recovery times (.local/chaos-report.txt).
chaos: prepare
	CHAOS_FULL=1 $(PY) -m pytest tests/chaos -s -p no:cacheprovider $(PYTEST_ARGS)

# Rebuild the metrics store from the event log into a new database while the service runs, then switch over.
# Against the stack of `make run` by default; in a deployment, run the same command with the service's settings.
rebuild-metrics: bootstrap
	$(PY) -m migradesk_metrics rebuild
