#!/usr/bin/env bash
# ansible-test sanity on a copy of the collection laid out as
# ansible_collections/autolease/sanlock (ansible-test needs that path and a git
# checkout). Ignore files stay empty: fix the code, not the ignores.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv="$repo/.venv/bin"
work="$repo/tests/output/sanity/ansible_collections/autolease/sanlock"

# ansible-test bootstraps pip in its virtualenvs with a script it downloads
# from a host this network does not reach; ensurepip does the same job.
at="$("$venv/python" -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')"
cache="$HOME/.ansible/test/cache"
mkdir -p "$cache"
for v in $(grep -hoE "pip='[0-9.]+'" "$at/_internal/python_requirements.py" | grep -oE "[0-9.]+" | sort -u); do
    f="$cache/get_pip_${v//./_}.py"
    [ -s "$f" ] || echo "import ensurepip, sys; sys.exit(ensurepip._main(['--upgrade', '--default-pip']))" > "$f"
done

rm -rf "$work"
mkdir -p "$work"
(cd "$repo" && git ls-files -co --exclude-standard -z | rsync -a --from0 --files-from=- ./ "$work/")
cd "$work"
git init -q && git add -A && git -c user.name=sanity -c user.email=sanity@localhost commit -qm sanity
PATH="$venv:$PATH" ansible-test sanity --python 3.11 --requirements --color no "$@"
