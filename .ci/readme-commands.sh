#!/usr/bin/env bash
# Runs the README's two commands exactly as written (taken from its "Two commands" block, so they
# cannot drift apart), before CI installs anything: the install + lab command runs until an echo
# from the peer namespace comes back, then gets Ctrl-C (SIGINT) like a user would give it and must
# exit 0; then the test command.
set -euo pipefail
cd "$(dirname "$0")/.."
block=$(awk '/^## Two commands/{f=1} f&&/^```sh/{g=1;next} g&&/^```/{exit} g' README.md)
mapfile -t commands < <(printf '%s\n' "$block" | grep -vE '^\s*(#|$)')
[ ${#commands[@]} -eq 2 ] || { echo "README: expected two commands, found ${#commands[@]}" >&2; exit 1; }
lab_cmd=${commands[0]}
test_cmd=${commands[1]}
echo "README command 1: $lab_cmd"
log=$(mktemp)
setsid bash -c "$lab_cmd" >"$log" 2>&1 &
lab_pid=$!
stop_lab() { kill -INT -- -"$lab_pid" 2>/dev/null || true; }
trap stop_lab EXIT
bash .ci/lab-echo-check.sh "$lab_pid" 300 || { tail -50 "$log"; exit 1; }
stop_lab
trap - EXIT
rc=0; wait "$lab_pid" || rc=$?
tail -5 "$log"
[ "$rc" -eq 0 ] || { echo "the lab exited $rc after SIGINT" >&2; tail -50 "$log"; exit 1; }
echo "README command 2: $test_cmd"
bash -c "$test_cmd"
