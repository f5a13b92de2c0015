#!/usr/bin/env bash
# Build the collection's HTML docs site into DEST/build/html (`make docs`):
# lint the documentation, render it to RST with antsibull-docs (modules,
# filters, roles with their argument specs, and the extra pages of
# docs/docsite/), then build the HTML with Sphinx. Any warning fails.
# Needs antsibull-docs, sphinx and sphinx-ansible-theme (tests/requirements.txt)
# and the collection on ANSIBLE_COLLECTIONS_PATH as autolease.sanlock.
set -euo pipefail
dest=${1:?usage: docs/site/build.sh DEST (for example .cache/docs)}
site=$(cd "$(dirname "$0")" && pwd)
collection=$(cd "$site/../.." && pwd)

(cd "$collection" && antsibull-docs lint-collection-docs --plugin-docs --check-extra-docs-refs \
    --validate-collection-refs=dependent .)

rm -rf "$dest/rst" "$dest/build"
mkdir -p "$dest/rst"
chmod og-w "$dest/rst"  # antsibull-docs wants its output directory writable by itself only
antsibull-docs --config-file "$site/antsibull-docs.cfg" collection --use-current --fail-on-error \
    --cleanup everything --dest-dir "$dest/rst" autolease.sanlock
cp "$site/index.rst" "$dest/rst/index.rst"
sphinx-build -M html "$dest/rst" "$dest/build" -c "$site" -W --keep-going -q
echo "docs site: $dest/build/html/index.html"
