# Two commands for a fresh machine (see README): `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test install install-dev golden bench clean mutate

# setup.py builds the C extensions (the PostgreSQL COPY decoder, the MySQL row decoder); a change to their
# sources re-runs the editable install, which compiles them in place (drivers/*/_*.so)
$(VENV)/.installed: pyproject.toml constraints.txt setup.py drivers/postgres/_pgcopy.c drivers/postgres/pgcopy_core.c \
		drivers/postgres/pgcopy_core.h drivers/postgres/pgcopy_pool.c drivers/postgres/pgcopy_pool.h \
		drivers/mysql/_myrows.c drivers/mysql/myrows_core.c drivers/mysql/myrows_core.h drivers/common/utf8_valid.h
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c constraints.txt --upgrade pip setuptools wheel
	$(PY) -m pip install -q -c constraints.txt -e '.[all,dev]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/osiris run examples/quickstart/pipeline.yaml

test: install
	$(PY) -m pytest

golden: install
	$(PY) tests/compiler/golden_harness.py --update

# Mutation testing of the modules that guard safety (docs/testing.md); MODULE=path for one of them,
# MUTATE_ARGS=--head to start from the last commit. Installs only when mutmut is missing, so several
# people can run it at once in one venv.
MODULE ?=
MUTATE_ARGS ?=
mutate: $(if $(wildcard $(VENV)/bin/mutmut),,install)
	$(PY) .ci/mutate.py $(MUTATE_ARGS) $(MODULE)

clean:
	rm -rf $(VENV) .osiris out .pytest_cache .hypothesis .mutate
