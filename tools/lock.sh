#!/usr/bin/env bash
# Refresh the dependency lock from pyproject.toml: the one command to run after adding,
# removing or re-ranging a dependency there (tests/test_deploy.py fails until it has run).
#
#   requirements.txt      the runtime set: what the README's run command and the image install
#   requirements-dev.txt  the runtime set at the same versions, plus the test, lint and build
#                         tools: what the README's test command and CI install
#
# Both are resolved for CPython 3.11 on Linux (the image's and CI's interpreter), every file
# pinned by its sha256, so pip refuses anything the lock does not name. Versions already in
# the lock are kept while pyproject still admits them; pass --upgrade to move everything to
# the newest releases pyproject admits, or --upgrade-package NAME for one package.
#
# pip-compile runs from a throwaway virtualenv, so the tool and its own dependencies never
# enter the lock. Needs only the package registry.
set -euo pipefail
cd "$(dirname "$0")/.."

PIP_TOOLS_VERSION=7.6.2
python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    echo "tools/lock.sh: $python is not CPython 3.11; set PYTHON=python3.11" >&2
    exit 2
fi

tool=$(mktemp -d)
trap 'rm -rf "$tool"' EXIT
"$python" -m venv "$tool"
"$tool/bin/pip" install --quiet --disable-pip-version-check "pip-tools==$PIP_TOOLS_VERSION"

# The header pip-compile writes names this script as the command that produced the file.
export CUSTOM_COMPILE_COMMAND="tools/lock.sh"
compile=(
    "$tool/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --strip-extras
    --no-emit-index-url --no-emit-find-links --no-emit-trusted-host
)
"${compile[@]}" "$@" --output-file requirements.txt pyproject.toml
# The runtime lock constrains the dev lock: CI tests exactly the versions the image ships.
"${compile[@]}" "$@" --extra dev --constraint requirements.txt \
    --output-file requirements-dev.txt pyproject.toml
