#!/bin/bash
# BuMarket app instance bootstrap: EC2 user data for Amazon Linux 2023, run once as root.
# Seed §12 step 2: Django runs in a Python virtual environment and answers on port 8000.
# This starts a minimal Django project with the `/health/` view the load balancer checks;
# deploy the real BuMarket code into /opt/bumarket the same way.
set -euo pipefail

APP_DIR=/opt/bumarket
APP_USER=bumarket

dnf install -y python3.11 python3.11-pip
id -u "$APP_USER" >/dev/null 2>&1 || useradd --system --home-dir "$APP_DIR" --shell /sbin/nologin "$APP_USER"
mkdir -p "$APP_DIR"
python3.11 -m venv "$APP_DIR/venv"
"$APP_DIR/venv/bin/pip" install --quiet "Django>=5.2,<5.3" "gunicorn>=23,<24"

cd "$APP_DIR"
if [ ! -f manage.py ]; then
  "$APP_DIR/venv/bin/django-admin" startproject bumarket .
  cat >> bumarket/settings.py <<'PY'

DEBUG = False
# The load balancer's health checks use the instance's private IP as the Host header.
ALLOWED_HOSTS = ["*"]
PY
  cat > bumarket/urls.py <<'PY'
from django.http import HttpResponse
from django.urls import path


def health(request):
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [path("health/", health)]
PY
fi
chown -R "$APP_USER:" "$APP_DIR"

cat > /etc/systemd/system/bumarket.service <<UNIT
[Unit]
Description=BuMarket Django app (gunicorn on port 8000)
After=network-online.target
Wants=network-online.target

[Service]
User=$APP_USER
WorkingDirectory=$APP_DIR
ExecStart=$APP_DIR/venv/bin/gunicorn --bind 0.0.0.0:8000 --workers 2 bumarket.wsgi:application
Restart=always

[Install]
WantedBy=multi-user.target
UNIT

systemctl daemon-reload
systemctl enable --now bumarket.service
