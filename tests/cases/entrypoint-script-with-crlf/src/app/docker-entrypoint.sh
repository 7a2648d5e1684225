#!/usr/bin/env bash
set -e
python manage.py migrate --noinput
exec gunicorn portal.wsgi -b 0.0.0.0:8000
