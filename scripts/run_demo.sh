#!/usr/bin/env bash
# Web server, Celery worker and beat together, stopped together with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
mkdir -p var
trap 'kill 0' EXIT INT TERM
$BIN/celery -A gov_platform worker --loglevel=WARNING --concurrency=2 --without-mingle --without-gossip \
  --logfile=var/celery-worker.log &
$BIN/celery -A gov_platform beat --loglevel=WARNING --schedule=var/celerybeat-schedule \
  --logfile=var/celery-beat.log &
echo
echo "Grid governance platform: http://$HOST:$PORT/admin/  (logins above; Ctrl-C stops everything)"
echo "Worker and beat logs: var/celery-worker.log, var/celery-beat.log"
$BIN/python manage.py runserver "$HOST:$PORT" --noreload &
wait
