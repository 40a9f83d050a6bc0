# dbswarm: `make run` runs the flash sale against the local MariaDB,
# `make test` runs the whole suite against the real local databases.

PYTHON   ?= python3
VENV     ?= .venv
PY       := $(VENV)/bin/python
REPORTS  ?= reports
USERS    ?= 300
SPAWN_RATE ?= 50
RUN_TIME ?= 60s
PROCESSES ?= 2
LOCUST_ARGS ?=
WEB_HOST ?= 127.0.0.1
PYTEST_ARGS ?=
# make test: processes for the parallel part of the suite
TEST_JOBS ?= 3
# make bench BENCH_QUICK=1: one short repetition of 8 users (a smoke run, ~1 min; bench/rate.py's short runs ~4 min more);
# BENCH_ARGS: more bench/run.py options.
BENCH_QUICK ?=
BENCH_ARGS ?=
# Empty: a local moto server is CloudWatch for the run; "aws": real CloudWatch; else an endpoint URL.
CLOUDWATCH_ENDPOINT ?=
# make run AURORA_DEMO=1: a synthetic Aurora Serverless v2 ACU series in the local CloudWatch, read back
# into the run report's chart (reports/run_report.html: Orders/s against ACU).
AURORA_DEMO ?=

.PHONY: run ui test services browser test-tools deploy-tools plugins-venv bench bench-tools clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

services:
	@tools/services.sh

browser:
	@tools/chromium.sh

test-tools:
	@tools/test-tools.sh

deploy-tools:
	@tools/deploy-tools.sh

# .venv-plugins: the runtime beside locust-plugins (tests/test_locust_plugins.py); cached.
plugins-venv:
	@tools/plugins-venv.sh $(PYTHON)

run: $(VENV)/.installed services
	@mkdir -p $(REPORTS)
	@# --processes talks to its workers over a TCP port: take a free one, not Locust's shared 5557.
	port=$$($(PY) tools/free_port.py) && \
	CLOUDWATCH_ENDPOINT="$(CLOUDWATCH_ENDPOINT)" AURORA_DEMO="$(AURORA_DEMO)" RUN_TIME="$(RUN_TIME)" \
	tools/cloudwatch_run.sh $(PY) \
		$(PY) -m locust -f locustfiles/flash_sale.py --headless -u $(USERS) -r $(SPAWN_RATE) -t $(RUN_TIME) \
		--processes $(PROCESSES) --master-port $$port --master-bind-port $$port --db-init --only-summary \
		--html $(REPORTS)/flash_sale.html --csv $(REPORTS)/flash_sale $(LOCUST_ARGS)
	@echo "Reports: $(REPORTS)/run_report.html (plots), $(REPORTS)/flash_sale.html (Locust), $(REPORTS)/flash_sale_*.csv, $(REPORTS)/db_stats.csv"

# The web UI on this machine only; WEB_HOST=0.0.0.0 shares it (protect it: README.md, "Web UI").
ui: $(VENV)/.installed services
	$(PY) -m locust -f locustfiles/flash_sale.py --db-init --web-host $(WEB_HOST) $(LOCUST_ARGS)

# Two parts: most tests in TEST_JOBS processes, longest files first (tests/conftest.py), since they wait on
# Locust runs more than they compute,
# then the `serial` ones (rates and outage windows held to tight bounds) alone. Exit 5 (none selected) is fine.
test: $(VENV)/.installed services browser test-tools deploy-tools plugins-venv
	@rc=0; \
	$(PY) -m pytest -n $(TEST_JOBS) --dist loadfile --no-loadscope-reorder -m "not serial" $(PYTEST_ARGS) || rc=$$?; \
	[ $$rc -eq 5 ] && rc=0; \
	$(PY) -m pytest -p no:xdist -m serial $(PYTEST_ARGS) || { r=$$?; [ $$r -eq 5 ] || rc=$$r; }; \
	exit $$rc

clean:
	rm -rf $(VENV) .venv-plugins $(REPORTS) .pytest_cache

bench-tools:
	@command -v sysbench >/dev/null || { apt-get update -qq && apt-get install -y -qq sysbench >/dev/null; }
	@command -v pgbench >/dev/null || { apt-get update -qq && apt-get install -y -qq postgresql-client >/dev/null; }

# Not part of `make test`: minutes of load. Writes docs/benchmarks.md, reports/bench.csv and reports/bench_rate.csv.
bench: $(VENV)/.installed services bench-tools
	$(PY) bench/run.py $(if $(BENCH_QUICK),--quick) $(BENCH_ARGS)
	$(PY) bench/scale.py $(if $(BENCH_QUICK),--quick)
	$(PY) bench/rate.py $(if $(BENCH_QUICK),--quick)
