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
PYTEST_ARGS ?=
# make bench BENCH_QUICK=1: one short repetition of 8 users (a smoke run, ~1 min); BENCH_ARGS: more bench/run.py options.
BENCH_QUICK ?=
BENCH_ARGS ?=
# Empty: a local moto server is CloudWatch for the run; "aws": real CloudWatch; else an endpoint URL.
CLOUDWATCH_ENDPOINT ?=

.PHONY: run ui test services browser test-tools deploy-tools bench bench-tools clean

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

run: $(VENV)/.installed services
	@mkdir -p $(REPORTS)
	@# --processes talks to its workers over a TCP port: take a free one, not Locust's shared 5557.
	port=$$($(PY) tools/free_port.py) && \
	CLOUDWATCH_ENDPOINT="$(CLOUDWATCH_ENDPOINT)" tools/cloudwatch_run.sh $(PY) \
		$(PY) -m locust -f locustfiles/flash_sale.py --headless -u $(USERS) -r $(SPAWN_RATE) -t $(RUN_TIME) \
		--processes $(PROCESSES) --master-port $$port --master-bind-port $$port --db-init --only-summary \
		--html $(REPORTS)/flash_sale.html --csv $(REPORTS)/flash_sale $(LOCUST_ARGS)
	@echo "Reports: $(REPORTS)/run_report.html (plots), $(REPORTS)/flash_sale.html (Locust), $(REPORTS)/flash_sale_*.csv, $(REPORTS)/db_stats.csv"

ui: $(VENV)/.installed services
	$(PY) -m locust -f locustfiles/flash_sale.py --db-init $(LOCUST_ARGS)

test: $(VENV)/.installed services browser test-tools deploy-tools
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(REPORTS) .pytest_cache

bench-tools:
	@command -v sysbench >/dev/null || { apt-get update -qq && apt-get install -y -qq sysbench >/dev/null; }
	@command -v pgbench >/dev/null || { apt-get update -qq && apt-get install -y -qq postgresql-client >/dev/null; }

# Not part of `make test`: minutes of load. Writes docs/benchmarks.md and reports/bench.csv.
bench: $(VENV)/.installed services bench-tools
	$(PY) bench/run.py $(if $(BENCH_QUICK),--quick) $(BENCH_ARGS)
	$(PY) bench/scale.py $(if $(BENCH_QUICK),--quick)
