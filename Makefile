# The README's commands. `make install` is idempotent: it bootstraps a pinned uv into .tools/,
# then installs exactly what uv.lock says into .venv/ (the `umkm` command lands at .venv/bin/umkm).
SHELL := /bin/bash
PY ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy
# this machine sets PYTHONDONTWRITEBYTECODE: without compiled bytecode in the venv every process
# recompiles its imports (Great Expectations alone: 14 s instead of 7 s)
export UV_COMPILE_BYTECODE := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 120

.PHONY: install demo test mutate lint serve bench clean

install: .venv/bin/umkm

$(UV):
	$(PY) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/bin/umkm: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-extras --python $(PY)
	@touch $@

demo: install
	.venv/bin/umkm demo

test: install
	.venv/bin/pytest -q -n 2 --dist loadscope

# the mutation test's long run: N damaged partner-days (default 300), seed SEED
mutate: install
	UMKM_MUTATIONS=$${N:-300} UMKM_MUTATION_SEED=$${SEED:-1} .venv/bin/pytest -q -p no:xdist -s tests/test_mutations.py -k many

lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

serve: install
	scripts/serve.sh

bench: install
	.venv/bin/python -m bench.run

clean:
	rm -rf .venv .tools demo .pytest_cache
