# Berth: `make run` serves the app, `make test` runs the whole suite (SQLite and PostgreSQL side by side).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT := $(or $(BERTH_PORT),5000)
PG_URL ?= postgresql+psycopg://root@127.0.0.1:5432/postgres
export CONTAINERS_CONF ?= $(CURDIR)/instance/containers.conf

.PHONY: run serve test test-sqlite test-postgres lint bench deps dev-deps system-deps clean

$(BIN)/.deps: requirements.txt constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt -c constraints.txt
	touch $@

$(BIN)/.dev-deps: $(BIN)/.deps requirements-dev.txt constraints.txt
	$(BIN)/pip install -q -r requirements-dev.txt -c constraints.txt
	touch $@

deps: $(BIN)/.deps
dev-deps: $(BIN)/.dev-deps

instance/containers.conf:
	mkdir -p instance
	printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n[engine]\nruntime = "runc"\n' > $@

# Debian packages the suite drives for real; installed only when missing and running as root.
system-deps:
	@scripts/system-deps.sh

run: deps instance/containers.conf
	$(BIN)/flask --app app db upgrade
	$(BIN)/flask --app app run --host 127.0.0.1 --port $(PORT)

serve: deps instance/containers.conf
	BERTH_ENV=production $(BIN)/flask --app app db upgrade
	BERTH_ENV=production $(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

# Both databases side by side, each over several workers (scripts/run-tests.sh); test-sqlite and
# test-postgres run one pass alone.
test: dev-deps system-deps instance/containers.conf
	scripts/ensure-postgres.sh
	BIN=$(BIN) scripts/run-tests.sh

test-sqlite: dev-deps instance/containers.conf
	$(BIN)/pytest -q -p no:cacheprovider -n $(or $(BERTH_TEST_WORKERS),4) --durations=15 $(PYTEST_ARGS)

test-postgres: dev-deps instance/containers.conf
	scripts/ensure-postgres.sh
	BERTH_TEST_DATABASE=postgresql $(BIN)/pytest -q -p no:cacheprovider -n $(or $(BERTH_TEST_WORKERS),4) \
		--durations=15 $(PYTEST_ARGS)

lint: dev-deps
	$(BIN)/ruff check .

bench: dev-deps system-deps instance/containers.conf
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache
