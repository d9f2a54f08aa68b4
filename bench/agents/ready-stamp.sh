#!/bin/bash
# Bench agent whose first instruction stamps *ready*: a runtime that starts in a few ms, so the time
# up to its stamp is orch's path to the agent, not the agent's own start-up (sigterm-stamp.mjs adds
# a node start-up). Then it waits for SIGTERM.
#
#   bash ready-stamp.sh <stamp dir>
#
# Appends {"event":"ready","t":<ms>,"pid":…} to <dir>/<ORCH_TASK_KEY>.jsonl, as sigterm-stamp.mjs
# does; t is the wall clock ($EPOCHREALTIME, µs) in milliseconds.
us=${EPOCHREALTIME/[.,]/}
printf '{"event":"ready","t":%s.%s,"pid":%d}\n' "${us:0:${#us}-3}" "${us:${#us}-3}" "$$" >> "$1/$ORCH_TASK_KEY.jsonl"
trap 'kill $! 2>/dev/null; exit 143' TERM
while :; do
  sleep 3600 &
  wait $!
done
