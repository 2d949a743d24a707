#!/usr/bin/env bash
# Web server, Celery worker and beat together; Ctrl-C stops all three once, cleanly.
#
# Job control (set -m) puts each child in its own process group, so the terminal's Ctrl-C reaches
# only this script; it then sends each child one TERM and waits. (Ctrl-C reaching the worker too,
# followed by more signals, made Celery print thousands of "Warm shutdown" lines and crash.)
set -euo pipefail
set -m
cd "$(dirname "$0")/.."
BIN=.venv/bin
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
VAR_DIR=${VAR_DIR:-var}
mkdir -p "$VAR_DIR"

# Emails and text messages (with the rating links) printed readably on this console.
export EMAIL_BACKEND=${EMAIL_BACKEND:-outbox.backends.console.ReadableEmailBackend}
export SMS_BACKEND=${SMS_BACKEND:-outbox.backends.console.ConsoleSMSBackend}
export CELERY_WORKER_REDIRECT_STDOUTS=False

pids=()
stopping=0
stop() {
  [ "$stopping" = 1 ] && return
  stopping=1
  trap '' INT TERM
  echo
  echo "Stopping web, worker and beat ..."
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  echo "Demo stopped. Goodbye / 再见。"
  exit 0
}
trap stop INT TERM

$BIN/celery --quiet -A gov_platform worker --loglevel=WARNING --concurrency=2 --without-mingle --without-gossip \
  --logfile="$VAR_DIR/celery-worker.log" </dev/null &
pids+=($!)
$BIN/celery --quiet -A gov_platform beat --loglevel=WARNING --schedule="$VAR_DIR/celerybeat-schedule" \
  --logfile="$VAR_DIR/celery-beat.log" </dev/null >/dev/null &
pids+=($!)
echo
echo "Grid governance platform: http://$HOST:$PORT/admin/  (logins above; Ctrl-C stops everything)"
echo "Emails and text messages are printed here; worker and beat logs: $VAR_DIR/celery-worker.log, $VAR_DIR/celery-beat.log"
$BIN/python manage.py runserver "$HOST:$PORT" --noreload </dev/null &
pids+=($!)
# Any child ending on its own (a port in use, a crash) stops the others too.
wait -n "${pids[@]}" || true
stop
