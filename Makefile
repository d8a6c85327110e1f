# The two commands of README.md.
.PHONY: run test

run:  ## set up, train + export + gate both variants, serve shoppers-full on 127.0.0.1
	scripts/main.sh

test:  ## set up the dev environment and pass every check CI runs
	scripts/setup.sh dev
	scripts/node_install.sh
	scripts/java_install.sh
	scripts/go_install.sh
	scripts/browser_install.sh
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/pytest
	scripts/release_check.sh
