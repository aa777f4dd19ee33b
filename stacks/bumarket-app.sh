#!/bin/bash
# BuMarket app instance bootstrap: EC2 user data for Amazon Linux 2023, run once as root.
# Seed §12 step 2: Django runs in a Python virtual environment and answers on port 8000.
# This starts a minimal Django project with the `/health/` view the load balancer checks;
# deploy the real BuMarket code into /opt/bumarket the same way.
#
# bumarket-infra puts the stack's values right after the first line of this file, in
# /etc/bumarket-infra/stack.env, and exports them here: DB_ENGINE, DB_HOST, DB_PORT,
# DB_NAME, DB_USER, DB_SECRET_ARN (seed §12 step 5: the app reaches its database),
# BUCKET_IMAGES and BUCKET_LOGS (seed §8), APP_LOG_GROUP (seed §12 step 6), AWS_REGION.
# No password is among them: the app reads it from Secrets Manager with the instance
# role, which may read exactly that secret.
set -euo pipefail

APP_DIR=/opt/bumarket
APP_USER=bumarket
LOG_DIR=/var/log/bumarket
ENV_FILE=/etc/bumarket-infra/stack.env

# The database driver for the engine the stack runs (python-oracledb needs no Oracle
# client in its default thin mode).
case "${DB_ENGINE:-}" in
  oracle*) DRIVER="oracledb>=2,<4" ;;
  postgres) DRIVER="psycopg[binary]>=3.2,<4" ;;
  *) DRIVER="" ;;
esac

dnf install -y python3.11 python3.11-pip amazon-cloudwatch-agent
id -u "$APP_USER" >/dev/null 2>&1 || useradd --system --home-dir "$APP_DIR" --shell /sbin/nologin "$APP_USER"
mkdir -p "$APP_DIR" "$LOG_DIR"
python3.11 -m venv "$APP_DIR/venv"
# shellcheck disable=SC2086 # DRIVER is one word or none
"$APP_DIR/venv/bin/pip" install --quiet "Django>=5.2,<5.3" "gunicorn>=23,<24" "boto3>=1.35,<2" $DRIVER

cd "$APP_DIR"
if [ ! -f manage.py ]; then
  "$APP_DIR/venv/bin/django-admin" startproject bumarket .
  mkdir -p bumarket/db
  touch bumarket/db/__init__.py
  # A database backend that reads the password from Secrets Manager for each new
  # connection: RDS rotates a managed master password (every 7 days by default), and a
  # password read once at start would stop working after the next rotation.
  cat > bumarket/db/base.py <<'PY'
import importlib
import json
import os

import boto3

_ENGINES = {"oracle": "django.db.backends.oracle", "postgres": "django.db.backends.postgresql"}
_family = next((f for f in _ENGINES if os.environ.get("DB_ENGINE", "").startswith(f)), "oracle")
_base = importlib.import_module(_ENGINES[_family] + ".base")


def credentials():
    client = boto3.client("secretsmanager", region_name=os.environ["AWS_REGION"])
    secret = json.loads(client.get_secret_value(SecretId=os.environ["DB_SECRET_ARN"])["SecretString"])
    return secret.get("username", os.environ.get("DB_USER", "")), secret["password"]


class DatabaseWrapper(_base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        self.settings_dict["USER"], self.settings_dict["PASSWORD"] = credentials()
        if _family == "postgres":
            conn_params.update(user=self.settings_dict["USER"], password=self.settings_dict["PASSWORD"])
        return super().get_new_connection(conn_params)
PY
  cat >> bumarket/settings.py <<'PY'

import os

DEBUG = False
# The load balancer's health checks use the instance's private IP as the Host header.
ALLOWED_HOSTS = ["*"]

# Seed §12 step 5: the database the stack made, from /etc/bumarket-infra/stack.env.
if os.environ.get("DB_HOST") and os.environ.get("DB_SECRET_ARN"):
    DATABASES = {
        "default": {
            "ENGINE": "bumarket.db",
            "HOST": os.environ["DB_HOST"],
            "PORT": os.environ.get("DB_PORT", ""),
            "NAME": os.environ.get("DB_NAME", ""),
            "USER": os.environ.get("DB_USER", ""),
            "PASSWORD": "",  # read from Secrets Manager for each connection
            "CONN_MAX_AGE": 300,
        }
    }

# Seed §8: product images live in this bucket; the database keeps only their URLs.
IMAGES_BUCKET = os.environ.get("BUCKET_IMAGES", "")

# Seed §12 step 6: Django's own log, shipped by the CloudWatch agent (below).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"file": {"class": "logging.FileHandler", "filename": "/var/log/bumarket/django.log"}},
    "root": {"handlers": ["file"], "level": "INFO"},
}
PY
  cat > bumarket/urls.py <<'PY'
from django.http import HttpResponse
from django.urls import path


def health(request):
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [path("health/", health)]
PY
fi
chown -R "$APP_USER:" "$APP_DIR" "$LOG_DIR"

cat > /etc/systemd/system/bumarket.service <<UNIT
[Unit]
Description=BuMarket Django app (gunicorn on port 8000)
After=network-online.target
Wants=network-online.target

[Service]
User=$APP_USER
WorkingDirectory=$APP_DIR
EnvironmentFile=-$ENV_FILE
ExecStart=$APP_DIR/venv/bin/gunicorn --bind 0.0.0.0:8000 --workers 2 --access-logfile $LOG_DIR/access.log --error-logfile $LOG_DIR/error.log bumarket.wsgi:application
Restart=always

[Install]
WantedBy=multi-user.target
UNIT

# Seed §12 step 6: gunicorn's and Django's logs go to the app's log group, a stream per
# instance and file; from there the stack delivers them into the log bucket.
if [ -n "${APP_LOG_GROUP:-}" ]; then
  cat > /opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json <<JSON
{
  "agent": {"run_as_user": "root"},
  "logs": {
    "logs_collected": {
      "files": {
        "collect_list": [
          {"file_path": "$LOG_DIR/access.log", "log_group_name": "$APP_LOG_GROUP", "log_stream_name": "{instance_id}/gunicorn-access"},
          {"file_path": "$LOG_DIR/error.log", "log_group_name": "$APP_LOG_GROUP", "log_stream_name": "{instance_id}/gunicorn-error"},
          {"file_path": "$LOG_DIR/django.log", "log_group_name": "$APP_LOG_GROUP", "log_stream_name": "{instance_id}/django"}
        ]
      }
    }
  }
}
JSON
  /opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s \
    -c file:/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json
fi

systemctl daemon-reload
systemctl enable --now bumarket.service
