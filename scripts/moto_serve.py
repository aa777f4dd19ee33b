#!/usr/bin/env python3
"""Run the moto server (the local AWS emulator) for tests and scripts/testbed.

Usage: moto_serve.py HOST PORT [--parent-pid PID] [--quiet] [--no-fixups]
                     [--strict [--strict-new-id-seconds S] [--strict-profile-seconds S]
                      [--strict-index-lag-seconds S] [--strict-subscription-expiry-seconds S]
                      [--strict-write-window-ms MS]]
                     [--enforce-iam]

PORT 0 lets the OS pick a free port (no race between choosing and binding).
Once the server answers HTTP, one line goes to stdout:

    READY http://HOST:PORT

and nothing more is ever written to stdout (later output goes to stderr), so a
caller may read that line and close the pipe. Request logs go to stderr.

With --parent-pid the server exits by itself within 0.5 s once that process is
gone, so a test process that dies never leaves a server behind.

Wire fix-ups (--no-fixups turns them off): moto 5.2.5 names the XML root of a few
S3 answers after the operation (`<GetBucketVersioningResponse>`) where AWS sends
`<VersioningConfiguration>`; botocore does not care, the AWS SDK for Rust fails to
parse them. FIXUPS renames those roots, nothing else (docs/moto-probe.md). And the
SDK speaks CloudWatch's rpc-v2-cbor protocol, which moto does not know (HTTP 404):
cloudwatch_cbor translates those calls to JSON 1.0 and the answers back. moto
drops the tags a CreateBucket call carries: s3_create_tags puts them on the bucket.
And DescribeLaunchTemplates answers with the tags a template had when it was made;
live_launch_template_tags makes it answer with its tags now, as AWS does. moto
answers DeleteObject with `If-Match: *` by 412 PreconditionFailed even when the
object exists (it compares `*` with the ETag); s3_delete_if_match_any makes it
delete, as AWS documents ("*" matches any ETag). An ETag that differs stays 412
PreconditionFailed and an absent key 404 NoSuchKey, as moto already answers. moto has
no SimulatePrincipalPolicy (IAM's policy simulator); scripts/iam_simulate.py answers it
from moto's own IAM data, by the evaluation logic the IAM user guide documents.

Fix-ups for the calls a preflight makes (docs/moto-probe.md, section 9; each function's
docstring names its AWS document): moto answers DescribeOrderableDBInstanceOptions with
nothing for Oracle; rds_orderable_options answers it from testbed-data/rds-orderable.json
with strict rule 7's code (the refusal at CreateDBInstance stays strict mode's). moto's
DescribeAvailabilityZones has no optInStatus; az_opt_in_status adds
`opt-in-not-required`. moto serves every account's buckets to every account; with moto's
own MOTO_S3_ALLOW_CROSSACCOUNT_ACCESS=false (set unless the environment names it) another
account's bucket answers 403 (HeadBucket without a body), and s3_foreign_buckets answers
CreateBucket of its name 409 BucketAlreadyExists. moto issues a requested ACM certificate
60 s after the request; acm_pending_until_issued keeps it PENDING_VALIDATION until its
validation CNAME is in a delegated public hosted zone of the account (as ACM sees it in
DNS), or POST /__testbed/acm/issue (unless MOTO_ACM_VALIDATION_WAIT is set). moto answers
Service Quotas for VPC quotas only (GetAWSDefaultServiceQuota: HTTP 500);
scripts/service_quotas.py answers Get/List(AWSDefault)ServiceQuota(s) for moto's VPC
quotas and testbed-data/service-quotas.json's (VPCs per Region, Running On-Demand
Standard instances), and POST /__testbed/quota sets an applied value. moto serves no
Price List Query API; scripts/price_list.py answers GetProducts from
testbed-data/price-list.json (test prices, not AWS's).

Control endpoints of the fix-ups (every mode but --no-fixups; JSON in and out):

    POST /__testbed/quota       {"service": "vpc", "quota": "L-F678F1CE", "value": 1,
                                 "region": "ap-northeast-2" (optional: every region),
                                 "account": "123456789012" (optional)}
         sets the applied value GetServiceQuota answers (value null: the default again)
    GET  /__testbed/quota       {"overrides": [...]}
    POST /__testbed/acm/issue   {"arn": "<CertificateArn>"}
         a requested certificate's validation succeeds: Status ISSUED
    POST /__testbed/route53/undelegate  {"zone": "<HostedZoneId>"}
         the zone's domain is not delegated to it: ACM never finds a record in it
    POST /__testbed/route53/registrar   {"domain": "example.com", "zone": "<HostedZoneId>" | null}
    POST /__testbed/s3/deliver-logs     {"bucket": "<source>"}: deliver its held server access logs
         the domain's registrar delegates it to that zone only (null: to none of them)

POST /moto-api/reset also forgets the quota overrides.

IAM-enforcing mode (--enforce-iam; off by default): every request is judged by the
identity-based policies of the IAM user or role session that signed it, with
scripts/iam_simulate.py's evaluation; access key id `testing` is the administrator and is
never judged, so a test creates users, policies and keys with it while the tool under
test runs with a user's key. Refusals name the action as AWS does ("User: ARN is not
authorized to perform: ec2:CreateVpc because no identity-based policy allows the
ec2:CreateVpc action"; EC2 UnauthorizedOperation, others AccessDenied(Exception)). See
scripts/iam_enforce.py for the rules, and for where AWS is stricter than this mode.

Strict mode (--strict; off by default, and nothing above changes without it)
reproduces what AWS documents where moto is kinder: see scripts/moto_strict.py for
its rules, their AWS documents, its timings and its control endpoints.
"""

import argparse
import copy
import dataclasses
import json
import logging
import os
import re
import signal
import sys
import threading
import time
import types
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from iam_simulate import simulate_principal_policy  # noqa: E402
from moto_strict import (  # noqa: E402
    CONTROL_PREFIX,
    RdsOrderableOptions,
    Req,
    StrictConfig,
    StrictMode,
    call_app,
    credential_scope,
    json_answer,
    requester_account,
    s3_bucket_key,
)
from price_list import PriceList  # noqa: E402
from service_quotas import ServiceQuotas  # noqa: E402


def parent_alive(pid: int, original_ppid: int) -> bool:
    """True while `pid` exists (and, if it was our parent, is still our parent)."""
    if original_ppid == pid and os.getppid() != pid:
        return False  # reparented: our parent died
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    try:  # a zombie (dead, not yet reaped) counts as gone
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (not Linux): trust kill(0)


# S3 sub-resource (GET /bucket?KEY) -> (root moto sends, root AWS sends).
FIXUPS = {
    "versioning": (b"GetBucketVersioningResponse", b"VersioningConfiguration"),
    "accelerate": (b"GetBucketAccelerateConfigurationResponse", b"AccelerateConfiguration"),
    "notification": (b"GetBucketNotificationResponse", b"NotificationConfiguration"),
}


def fix_s3_roots(app):
    """WSGI middleware: rename the wrong XML roots listed in FIXUPS."""

    def wrapped(environ, start_response):
        if environ.get("REQUEST_METHOD") != "GET":
            return app(environ, start_response)
        keys = {
            part.split("=", 1)[0]
            for part in environ.get("QUERY_STRING", "").split("&")
        }
        fix = next((FIXUPS[k] for k in keys if k in FIXUPS), None)
        if fix is None:
            return app(environ, start_response)
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["args"] = (status, headers, exc_info)
            return lambda data: None  # moto never uses write()

        chunks = app(environ, capture)
        try:
            body = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        status, headers, exc_info = captured["args"]
        wrong, right = fix
        if status.startswith("200") and b"<" + wrong in body:
            body = body.replace(b"<" + wrong, b"<" + right, 1)
            body = body.replace(b"</" + wrong + b">", b"</" + right + b">", 1)
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            headers.append(("Content-Length", str(len(body))))
        start_response(status, headers, exc_info)
        return [body]

    return wrapped


def s3_create_tags(app):
    """WSGI middleware: AWS tags a bucket with the `Tags` of its CreateBucketConfiguration
    in the same call; moto 5.2.5 accepts and drops them. Without this, an apply killed
    between CreateBucket and PutBucketTagging leaves a bucket no tag says is ours, which
    cannot happen on AWS. The tags are put with moto's own backend once moto has
    created the bucket."""
    import io
    import xml.etree.ElementTree as ET

    def wrapped(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") != "PUT" or environ.get("QUERY_STRING") or path.strip("/").count("/"):
            return app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(raw)
        tags = {}
        if b"<Tags>" in raw:
            try:
                for tag in ET.fromstring(raw).iter():
                    if tag.tag.endswith("}Tag") or tag.tag == "Tag":
                        kv = {c.tag.rsplit("}", 1)[-1]: c.text or "" for c in tag}
                        tags[kv.get("Key", "")] = kv.get("Value", "")
            except ET.ParseError:
                tags = {}
        status_seen = {}

        def capture(status, headers, exc_info=None):
            status_seen["status"] = status
            return start_response(status, headers, exc_info)

        out = app(environ, capture)
        if tags and status_seen.get("status", "").startswith("200"):
            bucket_backend(path.strip("/")).put_bucket_tagging(path.strip("/"), tags)
        return out

    return wrapped


def bucket_owner(bucket: str) -> tuple[str, str] | None:
    """(partition, account) of the account that owns `bucket` in moto, or None."""
    from moto.s3.models import s3_backends

    return s3_backends.bucket_accounts.get(bucket)


def bucket_backend(bucket: str):
    """moto's S3 backend of the account that owns `bucket` (the default account's if none)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    partition, account = bucket_owner(bucket) or ("aws", DEFAULT_ACCOUNT_ID)
    return s3_backends[account][partition]


def s3_object_exists(bucket: str, key: str) -> bool:
    """True if moto's S3 holds a current version of bucket/key."""
    try:
        return bucket_backend(bucket).get_object(bucket, key) is not None
    except Exception:  # no such bucket: moto answers NoSuchBucket itself
        return False


def s3_delete_if_match_any(app):
    """WSGI middleware: DeleteObject with `If-Match: *` deletes an object that exists.

    S3 API Reference, DeleteObject, If-Match (text from aws-sdk-s3;
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObject.html, URL by
    convention): "If-Match does accept a string value of an '*' (asterisk) character to
    denote a match of any ETag"; S3 User Guide, "How to perform conditional deletes"
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-deletes.html).
    moto 5.2.5 compares the `*` with the ETag and answers 412
    PreconditionFailed. Here the header is dropped before moto sees it when the object
    exists; when it does not, moto's 404 NoSuchKey stands (as on AWS), and an ETag that
    differs stays moto's 412 PreconditionFailed."""

    def wrapped(environ, start_response):
        if (
            environ.get("REQUEST_METHOD") == "DELETE"
            and environ.get("HTTP_IF_MATCH", "").strip().strip('"') == "*"
            and credential_scope(environ)[1] == "s3"
        ):
            bucket, key = s3_bucket_key(environ)
            if key and s3_object_exists(bucket, key):
                environ = dict(environ)
                del environ["HTTP_IF_MATCH"]
        return app(environ, start_response)

    return wrapped


# CloudWatch calls in the rpc-v2-cbor protocol (the AWS SDK for Rust's) are sent here.
CLOUDWATCH_CBOR = "/service/GraniteServiceVersion20100801/operation/"


def cloudwatch_cbor(app):
    """WSGI middleware: moto 5.2.5 answers CloudWatch's rpc-v2-cbor calls with 404, so
    they are turned into the JSON 1.0 calls it knows, and the answers back into CBOR."""
    import io
    import json

    import cbor_json

    def wrapped(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not path.startswith(CLOUDWATCH_CBOR):
            return app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        body = json.dumps(cbor_json.decode(raw) if raw else {}).encode()
        inner = dict(environ)
        inner.pop("HTTP_SMITHY_PROTOCOL", None)
        inner.update({
            "PATH_INFO": "/",
            "CONTENT_TYPE": "application/x-amz-json-1.0",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
            "HTTP_X_AMZ_TARGET": "GraniteServiceVersion20100801." + path.rsplit("/", 1)[-1],
            "HTTP_X_AMZN_QUERY_MODE": "true",
            # The client signed the CBOR request, not this JSON one: --enforce-iam cannot
            # check that signature (scripts/iam_enforce.py skips it for this mark only).
            "HTTP_X_TESTBED_TRANSLATED": "rpc-v2-cbor",
        })
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"] = status
            return lambda data: None  # moto never uses write()

        chunks = app(inner, capture)
        try:
            text = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        status = captured["status"]
        out = json.loads(text) if text.strip() else {}
        headers = [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")]
        if int(status.split()[0]) >= 400:
            code = out.get("__type", "Error").split("#")[-1]
            out = {"__type": code, "message": out.get("message", "")}
            headers.append(("x-amzn-query-error", code + ";Sender"))
        payload = cbor_json.encode(out)
        headers.append(("Content-Length", str(len(payload))))
        start_response(status, headers)
        return [payload]

    return wrapped


def routed(app, routes: dict):
    """WSGI middleware: a request whose (service, action) is in `routes` is answered by
    handler(req, forward) -> Resp (moto_strict.Req / Resp; forward() asks the wrapped
    app); every other request goes to the wrapped app untouched."""
    services = {service for service, _ in routes}

    def wrapped(environ, start_response):
        if credential_scope(environ)[1] not in services:
            return app(environ, start_response)
        req = Req(environ)
        handler = routes.get((req.service, req.action))
        if handler is None:
            return app(environ, start_response)
        return handler(req, lambda: call_app(app, environ)).send(start_response)

    return wrapped


def rds_orderable_options(app):
    """WSGI middleware: DescribeOrderableDBInstanceOptions answered from
    testbed-data/rds-orderable.json for its engines and regions, by strict rule 7's own
    code (moto_strict.RdsOrderableOptions.describe: AWS's filters Engine, EngineVersion,
    DBInstanceClass, LicenseModel, Vpc; paging MaxRecords 20-1000, Marker). moto 5.2.5
    answers nothing for Oracle. Other engines and regions go to moto; the refusal of
    other combinations at CreateDBInstance stays strict mode's."""
    return routed(app, RdsOrderableOptions(StrictConfig()).describe_routes())


ZONE_ITEM = re.compile(rb"<item>(?:(?!</item>).)*?<zoneType>availability-zone</zoneType>(?:(?!</item>).)*?</item>", re.S)


def az_opt_in_status(app):
    """WSGI middleware: DescribeAvailabilityZones items carry optInStatus. EC2 API
    Reference, AvailabilityZone (text of the SDKs' model, e.g. AWS SDK for Ruby
    Types::AvailabilityZone): OptInStatus "For Availability Zones, this parameter always
    has the value of opt-in-not-required". moto 5.2.5 leaves it out, so a tool that keeps
    the zones it may use (opt-in-not-required or opted-in) would find none."""

    def add(req, forward):
        resp = forward()
        if resp.code == 200:
            def fix(found):
                item = found.group(0)
                if b"<optInStatus>" in item:
                    return item
                return item.replace(b"</item>", b"<optInStatus>opt-in-not-required</optInStatus></item>")
            resp.body = ZONE_ITEM.sub(fix, resp.body)
        return resp

    return routed(app, {("ec2", "DescribeAvailabilityZones"): add})


def s3_foreign_buckets(app):
    """Buckets of another account answer 403, as AWS does without a bucket policy that
    grants access. S3 API Reference, HeadBucket
    (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html): "If the
    bucket does not exist or if you do not have permission to access it, the HEAD
    request returns a generic 400 Bad Request, 403 Forbidden or 404 Not Found". moto
    5.2.5 serves any account's bucket to every account (HeadBucket 200, PutObject 200)
    unless MOTO_S3_ALLOW_CROSSACCOUNT_ACCESS=false, its own setting, which main() sets
    unless the environment names it: then HeadBucket answers 403 (no body), every other
    call on the bucket 403 AccessDenied "Access Denied". With that setting moto also
    answers CreateBucket of the name 403; AWS answers 409 BucketAlreadyExists (S3 API
    Reference, CreateBucket, and "Error responses": "The requested bucket name is not
    available. The bucket namespace is shared by all users of the system. Please select
    a different name and try again."), which this middleware answers. Bucket policies
    are not consulted: a bucket of another account is never readable here."""
    import xml.sax.saxutils

    message = ("The requested bucket name is not available. The bucket namespace is shared by all "
               "users of the system. Please select a different name and try again.")

    def wrapped(environ, start_response):
        if environ.get("REQUEST_METHOD") == "PUT" and credential_scope(environ)[1] == "s3":
            bucket, key = s3_bucket_key(environ)
            query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
            owner = bucket_owner(bucket) if bucket and not key and set(query) <= {"x-id"} else None
            if owner is not None and owner[1] != requester_account(environ):
                rid = os.urandom(8).hex().upper()
                body = (
                    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>BucketAlreadyExists</Code>'
                    f"<Message>{message}</Message><BucketName>{xml.sax.saxutils.escape(bucket)}</BucketName>"
                    f"<RequestId>{rid}</RequestId><HostId>{rid}</HostId></Error>"
                ).encode()
                length = int(environ.get("CONTENT_LENGTH") or 0)
                if length:
                    environ["wsgi.input"].read(length)
                start_response("409 Conflict", [("Content-Type", "application/xml"),
                                                ("x-amz-request-id", rid), ("Content-Length", str(len(body)))])
                return [body]
        return app(environ, start_response)

    return wrapped


def acm_pending_until_issued() -> None:
    """A requested certificate stays PENDING_VALIDATION until a test issues it. ACM API
    Reference, CertificateDetail, Status (text of the ACM API model, as in the AWS SDK for
    Kotlin reference; https://docs.aws.amazon.com/acm/latest/APIReference/API_CertificateDetail.html
    by convention): "A certificate enters status PENDING_VALIDATION upon being requested
    ... ACM makes repeated attempts to validate a certificate for 72 hours and then times
    out ... If validation succeeds, the certificate enters status ISSUED." moto 5.2.5
    issues a requested certificate at the first DescribeCertificate (or GetCertificate)
    60 s after the request (settings.ACM_VALIDATION_WAIT, from MOTO_ACM_VALIDATION_WAIT),
    as if its DNS record had been found; no DNS exists here, so the test bed never
    validates by itself (unless MOTO_ACM_VALIDATION_WAIT is set: then moto's wait
    stands). POST /__testbed/acm/issue {"arn": ARN} issues it (validation succeeded);
    ImportCertificate gives ISSUED at once, as on AWS."""
    if "MOTO_ACM_VALIDATION_WAIT" not in os.environ:
        from moto import settings

        settings.ACM_VALIDATION_WAIT = 10**12
    from moto.acm.models import CertBundle

    moto_check = CertBundle.check

    def check(self) -> None:
        moto_check(self)
        if self.type == "AMAZON_ISSUED" and self.status == "PENDING_VALIDATION" and validation_records_found(self):
            self.status = "ISSUED"

    CertBundle.check = check


# Control endpoints the fix-ups installed at start (method, path) -> handler(req).
CONTROLS: dict = {}

# Hosted zone ids whose domain is not delegated to them (POST /__testbed/route53/undelegate).
UNDELEGATED: set = set()
# Domain (lower case, no final dot) -> the one hosted zone id its registrar delegates it to,
# or None for none of the account's (POST /__testbed/route53/registrar).
REGISTRAR: dict = {}


def delegated(zone_id: str, zone_name: str) -> bool:
    """Whether the registrar delegates the zone's domain to this zone."""
    if zone_id in UNDELEGATED:
        return False
    name = zone_name.lower().rstrip(".")
    return name not in REGISTRAR or REGISTRAR[name] == zone_id


def validation_records_found(cert) -> bool:
    """As ACM does, by DNS ("ACM ... checks for the CNAME record in DNS", ACM user guide,
    DNS validation): the validation CNAME of every name of the certificate is in a public
    hosted zone of the account that holds the name, and that zone is the name's delegation
    (every zone is, unless POST /__testbed/route53/undelegate or /registrar said otherwise). The
    record's name and value are the ones DescribeCertificate gives (moto's own)."""
    from moto.route53.models import route53_backends

    account = cert.arn.split(":")[4]
    backend = route53_backends[account]["aws"] if account in route53_backends else None
    if backend is None:
        return False
    options = cert.describe()["Certificate"].get("DomainValidationOptions", [])
    norm = lambda n: n.lower().rstrip(".")  # noqa: E731
    for option in options:
        record = option["ResourceRecord"]
        name, value = norm(record["Name"]), norm(record["Value"])
        found = False
        for zone_id, zone in backend.zones.items():
            zone_name = norm(zone.name)
            holds = name == zone_name or name.endswith("." + zone_name)
            if zone.private_zone or not holds or not delegated(zone_id, zone.name):
                continue
            for rr in zone.rrsets:
                if rr.type == "CNAME" and norm(rr.name) == name and any(norm(v) == value for v in rr.records):
                    found = True
        if not found:
            return False
    return bool(options)


def route53_undelegate(req):
    """POST /__testbed/route53/undelegate {"zone": "<HostedZoneId>"}: the registrar does not
    delegate the zone's domain to it, so no record in it is seen by ACM."""
    zone = str(req.json().get("zone", "")).split("/")[-1]
    if not zone:
        return json_answer(400, {"error": 'expected {"zone": "<HostedZoneId>"}'})
    UNDELEGATED.add(zone)
    return json_answer(200, {"zone": zone, "delegated": False})


def route53_registrar(req):
    """POST /__testbed/route53/registrar {"domain": "example.com", "zone": "<HostedZoneId>"}:
    the domain's registrar delegates it to that zone only (`"zone": null`: to none of the
    account's zones, as for a zone just made whose name servers the registrar was not told)."""
    body = req.json()
    domain = str(body.get("domain", "")).lower().rstrip(".")
    zone = body.get("zone")
    if not domain or not (zone is None or isinstance(zone, str)):
        return json_answer(400, {"error": 'expected {"domain": "example.com", "zone": "<HostedZoneId>" or null}'})
    REGISTRAR[domain] = zone.split("/")[-1] if zone else None
    return json_answer(200, {"domain": domain, "zone": REGISTRAR[domain]})


def acm_issue(req):
    """POST /__testbed/acm/issue {"arn": "<CertificateArn>"}: the certificate is ISSUED."""
    arn = req.json().get("arn")
    parts = arn.split(":", 5) if isinstance(arn, str) else []
    if len(parts) != 6 or parts[2] != "acm":
        return json_answer(400, {"error": 'expected {"arn": "arn:aws:acm:REGION:ACCOUNT:certificate/ID"}'})
    from moto.acm.models import acm_backends

    region, account = parts[3], parts[4]
    backend = dict.get(acm_backends[account], region) if account in acm_backends else None
    cert = backend._certificates.get(arn) if backend is not None else None
    if cert is None:
        return json_answer(404, {"error": f"no certificate {arn}"})
    if cert.status == "PENDING_VALIDATION":
        cert.status = "ISSUED"
    return json_answer(200, {"arn": arn, "Status": cert.status, "Type": cert.type})


class PlainControls:
    """WSGI middleware: the control endpoints of the plain fix-ups (every mode), and
    POST /moto-api/reset also forgets their state. Strict mode's own endpoints are
    served by moto_strict.StrictMode, which passes the others on to here."""

    def __init__(self, app, controls: dict, resets: list):
        self.app, self.controls, self.resets = app, controls, resets

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith(CONTROL_PREFIX):
            req = Req(environ)
            handler = self.controls.get((req.method, req.path))
            if handler is None:
                known = sorted(f"{method} {path}" for method, path in self.controls)
                error = f"no control endpoint {req.method} {req.path}"
                return json_answer(404, {"error": error, "endpoints": known}).send(start_response)
            return handler(req).send(start_response)
        if environ.get("REQUEST_METHOD") == "POST" and path.rstrip("/") == "/moto-api/reset":
            resp = call_app(self.app, environ)
            for reset in self.resets:
                reset()
            return resp.send(start_response)
        return self.app(environ, start_response)


def plain_fixups(app):
    """The fix-ups of the module's text around moto's app, innermost first."""
    quotas = ServiceQuotas(StrictConfig().data_dir)
    app = fix_s3_roots(app)
    app = az_opt_in_status(app)
    app = s3_delete_if_match_any(app)
    app = s3_create_tags(app)
    app = s3_foreign_buckets(app)
    app = rds_orderable_options(app)
    app = routed(app, quotas.routes())
    app = routed(app, PriceList(StrictConfig().data_dir).routes())
    app = simulate_principal_policy(app)
    controls = {
        **quotas.controls(),
        **CONTROLS,
        ("POST", CONTROL_PREFIX + "acm/issue"): acm_issue,
        ("POST", CONTROL_PREFIX + "route53/undelegate"): route53_undelegate,
        ("POST", CONTROL_PREFIX + "route53/registrar"): route53_registrar,
    }
    return PlainControls(app, controls, [quotas.reset, UNDELEGATED.clear, REGISTRAR.clear, PENDING_LOGS.clear])


def wait_until_answering(url: str, timeout: float) -> None:
    """Poll GET url until any HTTP answer arrives (proxies bypassed)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while True:
        try:
            with opener.open(url, timeout=5) as resp:
                resp.read()
            return
        except urllib.error.HTTPError:
            return  # any HTTP status means the server answers
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def live_launch_template_tags() -> None:
    """moto 5.2.5 copies a launch template's tags when it is made and answers
    DescribeLaunchTemplates with that copy: tags changed later (CreateTags, DeleteTags)
    never show there, as they do on AWS. Answer with the tags as they are now."""
    from moto.ec2.models.launch_templates import LaunchTemplate

    LaunchTemplate.tags = property(lambda self: self.get_tags(), lambda self, _copy: None)


def logging_policy_as_aws_reads_it() -> None:
    """moto 5.2.5's PutBucketLogging checks the target bucket's policy for a statement
    granting the logging service, and reads it more narrowly than AWS does: it fails with
    HTTP 500 (AttributeError) when any statement's Principal is the string "*" (as a
    deny-without-TLS statement's is), and it matches the principal's Service and the
    Resource only as single strings. IAM User Guide, "AWS JSON policy elements: Principal"
    and "Resource": `"Principal": "*"` is valid, and each of Service, Action and Resource
    may be a string or an array of them. The check here skips statements whose principal
    is not a map (they grant the logging service nothing) and tries each Service and
    Resource of the rest, with moto's own rule for each."""
    from moto.s3.models import FakeBucket

    original = FakeBucket._log_permissions_enabled_policy

    def listed(v):
        return v if isinstance(v, list) else [v]

    def check(target_bucket, target_prefix):
        policy = target_bucket.policy
        if not policy:
            return original(target_bucket, target_prefix)
        doc = json.loads(policy.decode())
        single = []
        for st in doc.get("Statement", []):
            principal = st.get("Principal", {})
            if not isinstance(principal, dict):
                continue
            for service in listed(principal.get("Service")):
                for resource in listed(st.get("Resource")):
                    single.append({**st, "Principal": {"Service": service}, "Resource": resource})
        shadow = copy.copy(target_bucket)
        shadow.policy = json.dumps({**doc, "Statement": single}).encode()
        return original(shadow, target_prefix)

    FakeBucket._log_permissions_enabled_policy = staticmethod(check)


# Server access log records moto would write at once, held until POST
# /__testbed/s3/deliver-logs (see server_access_logs_later).
PENDING_LOGS: list = []
PENDING_LOCK = threading.Lock()


def server_access_logs_later() -> None:
    """moto 5.2.5 writes a server access log object into the target bucket during the very
    request it logs. S3 User Guide, "Logging requests with server access logging": logs
    are delivered on a best-effort basis, most within a few hours of the request. Here a
    record waits until POST /__testbed/s3/deliver-logs {"bucket": SOURCE} (as hours later,
    that bucket's records only), so a destroy
    right after an apply finds the log bucket as AWS would then: still empty."""
    from moto.s3.models import S3Backend

    original = S3Backend.log_incoming_request

    def hold(self, request, bucket_name):
        # What moto's record reads of the request, copied now: the request is gone later.
        seen = types.SimpleNamespace(method=request.method, url=request.url, headers=dict(request.headers))
        with PENDING_LOCK:
            PENDING_LOGS.append((self, seen, bucket_name))

    def deliver(req):
        # Only the named source bucket's: tests share the server and run in parallel.
        source = req.json().get("bucket")
        if not source:
            return json_answer(400, {"error": 'expected {"bucket": "<source bucket>"}'})
        with PENDING_LOCK:
            held = [p for p in PENDING_LOGS if p[2] == source]
            PENDING_LOGS[:] = [p for p in PENDING_LOGS if p[2] != source]
        for backend, request, bucket_name in held:
            original(backend, request, bucket_name)
        return json_answer(200, {"delivered": len(held)})

    S3Backend.log_incoming_request = hold
    CONTROLS[("POST", CONTROL_PREFIX + "s3/deliver-logs")] = deliver


def group_path_moves() -> None:
    """moto 5.2.5's UpdateGroup changes a group's path only along with a new name. IAM API
    Reference, UpdateGroup: "Updates the name and/or the path of the specified IAM group";
    NewPath: "New path for the IAM group. Only include this if changing the group's path."
    Adopting a hand-made group moves it under the stack's path, releasing it moves it
    back: with NewPath alone, the path changes (and the ARN, which moto derives from it)."""
    from moto.iam.models import IAMBackend

    original = IAMBackend.update_group

    def update_group(self, group_name, new_group_name, new_path):
        if new_path and not new_group_name:
            group = self.get_group(group_name)
            group.path = new_path
            return None
        return original(self, group_name, new_group_name, new_path)

    IAMBackend.update_group = update_group


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("host")
    parser.add_argument("port", type=int, help="0 = any free port")
    parser.add_argument("--parent-pid", type=int, default=None)
    parser.add_argument(
        "--quiet", action="store_true", help="do not log every request to stderr"
    )
    parser.add_argument(
        "--no-fixups", action="store_true", help="serve moto's answers unchanged"
    )
    parser.add_argument(
        "--strict", action="store_true", help="answer as AWS documents where moto is kinder"
    )
    parser.add_argument(
        "--enforce-iam", action="store_true",
        help="judge every request by the signer's IAM policies (access key `testing` is the admin)",
    )
    defaults = StrictConfig()
    for flag, field, unit in (
        ("--strict-new-id-seconds", "new_id_seconds", "s"),
        ("--strict-profile-seconds", "profile_seconds", "s"),
        ("--strict-index-lag-seconds", "index_lag_seconds", "s"),
        ("--strict-subscription-expiry-seconds", "subscription_expiry_seconds", "s"),
        ("--strict-write-window-ms", "write_window_ms", "ms"),
    ):
        default = getattr(defaults, field)
        parser.add_argument(
            flag, dest=field, type=float, default=default, metavar=unit.upper(),
            help=f"strict mode timing (default {default:g} {unit})",
        )
    args = parser.parse_args()

    original_ppid = os.getppid()
    if args.parent_pid is not None and not parent_alive(args.parent_pid, original_ppid):
        print(f"moto_serve: parent {args.parent_pid} is already gone", file=sys.stderr)
        return 1

    if args.quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    # Imported late: the import takes about a second.
    from werkzeug.serving import make_server

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )

    # What moto.server.ThreadedMotoServer does, with the fix-ups around the app.
    app = DomainDispatcherApplication(create_backend_app)
    if not args.no_fixups:
        os.environ.setdefault("MOTO_S3_ALLOW_CROSSACCOUNT_ACCESS", "false")  # s3_foreign_buckets
        server_access_logs_later()  # before plain_fixups: it adds a control endpoint
        app = plain_fixups(app)
        live_launch_template_tags()
        group_path_moves()
        logging_policy_as_aws_reads_it()
        acm_pending_until_issued()
    if args.strict:
        app = StrictMode(app, StrictConfig(**{
            f.name: getattr(args, f.name)
            for f in dataclasses.fields(StrictConfig) if hasattr(args, f.name)
        }))
    if args.enforce_iam:
        import iam_enforce

        iam_enforce.install()
        app = iam_enforce.IamEnforcement(app)
    if not args.no_fixups:
        app = cloudwatch_cbor(app)  # outermost: the layers inside see CloudWatch's JSON 1.0
    server = make_server(
        args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    # moto builds some URLs in its answers (SQS queue URLs, ...) from MOTO_PORT.
    os.environ["MOTO_PORT"] = str(port)
    url = f"http://{host}:{port}"
    wait_until_answering(f"{url}/moto-api/", timeout=30)

    print(f"READY {url}", flush=True)
    # From now on stdout is stderr: the caller may have closed its end of stdout.
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.5):
        if args.parent_pid is not None and not parent_alive(args.parent_pid, original_ppid):
            print(f"moto_serve: parent {args.parent_pid} is gone; exiting", file=sys.stderr)
            break
    # Do not wait for in-flight requests or daemon threads: exit now.
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
