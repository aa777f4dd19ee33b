"""The IAM-enforcing mode of the test bed: `moto_serve.py HOST PORT --enforce-iam`.

Every request is judged by the identity-based policies of the IAM user, or the role of
the STS session, whose access key signed it, as the IAM User Guide's "Policy evaluation
logic" describes for one account (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):
an explicit Deny wins, else an Allow is needed, else the request is implicitly denied.
The evaluation is scripts/iam_simulate.py's `decide`, the same code that answers
SimulatePrincipalPolicy. sts:GetCallerIdentity is always allowed (STS API Reference,
GetCallerIdentity: "No permissions are required to perform this operation").

Who is who:
- Access key id `testing` (the credentials the tests and the aws CLI use) is the
  account's administrator: its requests are never judged, so a test creates users,
  policies and access keys, and inspects what the tool did, with `testing` as before.
  moto alone would refuse it (it is no IAM user's key: InvalidClientTokenId, or
  AuthFailure for EC2), and moto counts every request toward INITIAL_NO_AUTH_ACTION_COUNT,
  so "the first N requests are free" cannot serve a harness that keeps calling.
- Any other access key must be an IAM user's key (iam:CreateAccessKey) or an STS
  session's; moto checks that it exists and that the SigV4 signature is right
  (InvalidClientTokenId / SignatureDoesNotMatch, AuthFailure for EC2), then it is judged.
- An STS session of a role that does not exist in IAM is the administrator of the role's
  account: moto lets `testing` assume any ARN (sts:AssumeRole into
  arn:aws:iam::111122223333:role/anything gives credentials of account 111122223333,
  the way a test makes resources in another account), and AWS never grants such a
  session. A judged principal assuming a role that does not exist is refused.
  A session of a role that exists is judged by the role's policies (a CI role).

How moto is hooked: moto 5.2.5 reads the environment variable INITIAL_NO_AUTH_ACTION_COUNT
once, at import of moto/settings.py, into `settings.INITIAL_NO_AUTH_ACTION_COUNT`, and
moto/core/authorization.py compares its request counter with that attribute on every
request; `install()` sets the attribute to 0 (so setting it before the import is not
needed) and replaces `ActionAuthenticatorMixin._authenticate_and_authorize_action` with
`moto_hook`, which keeps moto's key and signature checks and replaces moto's decision.
(POST /moto-api/reset-auth would change the attribute again: do not call it.) moto's own
decision (moto/iam/access_control.py) passes resource "*" for every service but S3, IAM
roles, SQS and STS, so an Allow scoped to ARNs (arn:aws:ec2:REGION:ACCOUNT:vpc/*) is
denied although AWS allows it; and it evaluates every Condition with its trust-policy
code, which has no values for the request and then holds: an Allow with a tag condition
allows, but a Deny with any condition denies too, so the usual region lock (Deny ec2:*
when aws:RequestedRegion is not ap-northeast-2) denies every region (probe:
docs/moto-probe.md, section 10).

Where the decision is made: the WSGI middleware `IamEnforcement` (outside strict mode and
the plain fix-ups, inside the CloudWatch CBOR translation) judges every signed request
that names its action (query protocols' Action, JSON protocols' X-Amz-Target), so the
answers the test bed makes itself (SimulatePrincipalPolicy, Service Quotas,
DescribeOrderableDBInstanceOptions, strict mode's) are judged too. The action is
SERVICE:Action with the credential scope's service named by its IAM prefix (Service
Authorization Reference: monitoring is `cloudwatch`, tagging is `tag`, email is `ses`).
The resource is the role's ARN for IAM calls naming an existing RoleName, the RoleArn for
sts:AssumeRole, else "*". S3 (REST: the action is not in the request) is judged inside
moto by `moto_hook`, with moto's resource ARNs (arn:aws:s3:::BUCKET,
arn:aws:s3:::BUCKET/KEY) and the policy action the S3 User Guide names for the operation
("Required permissions for Amazon S3 API operations",
https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html;
table S3_ACTIONS): moto's own names are wrong for several (HeadBucket is
s3:ListBucket, not s3:HeadBucket; GetBucketEncryption s3:GetEncryptionConfiguration,
where moto checks s3:ListBucket; PutBucketEncryption s3:PutEncryptionConfiguration and
PutBucketOwnershipControls s3:PutBucketOwnershipControls, where moto checks
s3:CreateBucket; Get/PutPublicAccessBlock s3:Get/PutBucketPublicAccessBlock).
Operations the table lacks keep moto's name. DeleteObjects is judged as s3:DeleteObject
on "*" (AWS judges each key).

What AWS is stricter on (test those paths with SimulatePrincipalPolicy against real
ARNs, which scripts/iam_simulate.py answers without these relaxations):
- A resource the test bed passes as "*" (it does not know the ARN) matches the Resource
  (and escapes the NotResource) of every Allow statement. A Deny applies to it only if
  its Resource is "*".
- A condition of an Allow statement whose key has no value here holds: resource tags
  (aws:ResourceTag/...), request tags (aws:RequestTag/..., aws:TagKeys),
  iam:PassedToService, ec2:Vpc, ... The keys the test bed gives, which are judged
  exactly: aws:PrincipalArn, aws:PrincipalAccount, aws:PrincipalType, aws:username (IAM
  users), aws:RequestedRegion (the credential scope's region); for sts:AssumeRole also
  sts:ExternalId and sts:RoleSessionName. aws:SecureTransport is not given (the test bed
  speaks http; AWS https), so a Deny on it being false does not apply.
- sts:AssumeRole needs both an identity policy allowing it on the role's ARN and the
  role's trust policy allowing the principal (Principal "*", the principal's ARN (a
  session's role ARN too), the account id or arn:aws:iam::ACCOUNT:root). AWS, within one
  account, also allows a trust policy that names the user's ARN without an identity
  policy: here that case is refused (stricter).
- Not evaluated: permissions boundaries, session policies (AssumeRole's Policy), SCPs,
  resource-based policies (bucket policies: moto applies some itself), and the
  signature of requests the middleware judges (moto checks it when it answers the call).
- Strict mode's refusals and the plain fix-ups that answer S3 themselves (CreateBucket
  of another account's bucket, 409) come before moto's S3 judgement.
- An unsigned request answers 403 MissingAuthenticationToken "Request is missing
  Authentication Token" (S3: AccessDenied), where moto fails with HTTP 500. (The API
  references' Common Errors: "MissingAuthenticationToken ... HTTP Status Code: 403".)

The refusal, as AWS sends it (IAM User Guide, "Troubleshooting access denied error
messages", https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html:
"User user is not authorized to perform action on resource because context", with
"because no type policy allows the action action" for an implicit deny and "with an
explicit deny in a type policy" for an explicit one):

    User: arn:aws:iam::123456789012:user/NAME is not authorized to perform: ec2:CreateVpc
    because no identity-based policy allows the ec2:CreateVpc action

(" on resource: ARN" after the action when the resource is known; "... with an explicit
deny in an identity-based policy" for a Deny; a refused trust policy has no context).
The code and status follow the service's protocol: EC2 UnauthorizedOperation, HTTP 403,
the message after "You are not authorized to perform this operation. "
(EC2 API Reference, "Troubleshooting API request errors",
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/query-api-troubleshooting.html:
"the request returns the following error: Client.UnauthorizedOperation"; the encoded
authorization message AWS appends is not given); the other query services (IAM, STS,
RDS, Auto Scaling, ELB, SNS) AccessDenied, HTTP 403, as moto; JSON services
AccessDeniedException, HTTP 400 (e.g. Service Quotas API Reference, GetServiceQuota,
Errors: "AccessDeniedException ... HTTP Status Code: 400"), CloudWatch AccessDenied
(403, its query-compatible code); S3 moto's own 403 AccessDenied "Access Denied".
moto itself sends AccessDenied for EC2, and an XML body to JSON clients.
"""

import threading
import urllib.parse
import uuid
from xml.sax.saxutils import escape as xml_escape

from werkzeug.exceptions import HTTPException

from iam_simulate import action_matches, conditions_hold, decide, parse_document
from moto_strict import (
    CONTROL_PREFIX,
    QUERY_XMLNS,
    Req,
    Resp,
    access_key_id,
    credential_scope,
    json_answer,
    read_body,
    requester_account,
    status_line,
)

ADMIN_ACCESS_KEY = "testing"
IAM_PREFIX = {"monitoring": "cloudwatch", "tagging": "tag", "email": "ses"}
KNOWN_KEYS = frozenset({
    "aws:principalarn", "aws:principalaccount", "aws:principaltype", "aws:username",
    "aws:requestedregion", "sts:externalid", "sts:rolesessionname",
})

# S3 policy actions by (bucket or key, method, sub-resource); "" is the operation without one.
# S3 User Guide, "Required permissions for Amazon S3 API operations" (see the module's text).
S3_ACTIONS = {
    ("bucket", "HEAD", ""): "ListBucket",
    ("bucket", "GET", ""): "ListBucket",
    ("bucket", "GET", "versions"): "ListBucketVersions",
    ("bucket", "GET", "uploads"): "ListBucketMultipartUploads",
    ("bucket", "GET", "location"): "GetBucketLocation",
    ("bucket", "GET", "versioning"): "GetBucketVersioning",
    ("bucket", "PUT", "versioning"): "PutBucketVersioning",
    ("bucket", "GET", "tagging"): "GetBucketTagging",
    ("bucket", "PUT", "tagging"): "PutBucketTagging",
    ("bucket", "DELETE", "tagging"): "PutBucketTagging",
    ("bucket", "GET", "policy"): "GetBucketPolicy",
    ("bucket", "PUT", "policy"): "PutBucketPolicy",
    ("bucket", "DELETE", "policy"): "DeleteBucketPolicy",
    ("bucket", "GET", "policyStatus"): "GetBucketPolicyStatus",
    ("bucket", "GET", "lifecycle"): "GetLifecycleConfiguration",
    ("bucket", "PUT", "lifecycle"): "PutLifecycleConfiguration",
    ("bucket", "DELETE", "lifecycle"): "PutLifecycleConfiguration",
    ("bucket", "GET", "encryption"): "GetEncryptionConfiguration",
    ("bucket", "PUT", "encryption"): "PutEncryptionConfiguration",
    ("bucket", "DELETE", "encryption"): "PutEncryptionConfiguration",
    ("bucket", "GET", "publicAccessBlock"): "GetBucketPublicAccessBlock",
    ("bucket", "PUT", "publicAccessBlock"): "PutBucketPublicAccessBlock",
    ("bucket", "DELETE", "publicAccessBlock"): "PutBucketPublicAccessBlock",
    ("bucket", "GET", "ownershipControls"): "GetBucketOwnershipControls",
    ("bucket", "PUT", "ownershipControls"): "PutBucketOwnershipControls",
    ("bucket", "DELETE", "ownershipControls"): "PutBucketOwnershipControls",
    ("bucket", "GET", "logging"): "GetBucketLogging",
    ("bucket", "PUT", "logging"): "PutBucketLogging",
    ("bucket", "GET", "notification"): "GetBucketNotification",
    ("bucket", "PUT", "notification"): "PutBucketNotification",
    ("bucket", "GET", "acl"): "GetBucketAcl",
    ("bucket", "PUT", "acl"): "PutBucketAcl",
    ("bucket", "GET", "cors"): "GetBucketCORS",
    ("bucket", "PUT", "cors"): "PutBucketCORS",
    ("bucket", "DELETE", "cors"): "PutBucketCORS",
    ("bucket", "GET", "website"): "GetBucketWebsite",
    ("bucket", "PUT", "website"): "PutBucketWebsite",
    ("bucket", "DELETE", "website"): "DeleteBucketWebsite",
    ("bucket", "GET", "accelerate"): "GetAccelerateConfiguration",
    ("bucket", "PUT", "accelerate"): "PutAccelerateConfiguration",
    ("bucket", "GET", "object-lock"): "GetBucketObjectLockConfiguration",
    ("bucket", "PUT", "object-lock"): "PutBucketObjectLockConfiguration",
    ("bucket", "GET", "replication"): "GetReplicationConfiguration",
    ("bucket", "PUT", "replication"): "PutReplicationConfiguration",
    ("bucket", "DELETE", "replication"): "PutReplicationConfiguration",
    ("bucket", "GET", "requestPayment"): "GetBucketRequestPayment",
    ("bucket", "PUT", "requestPayment"): "PutBucketRequestPayment",
    ("bucket", "PUT", ""): "CreateBucket",
    ("bucket", "DELETE", ""): "DeleteBucket",
    ("bucket", "POST", "delete"): "DeleteObject",
    ("key", "HEAD", ""): "GetObject",
    ("key", "GET", ""): "GetObject",
    ("key", "GET", "acl"): "GetObjectAcl",
    ("key", "PUT", "acl"): "PutObjectAcl",
    ("key", "GET", "tagging"): "GetObjectTagging",
    ("key", "PUT", "tagging"): "PutObjectTagging",
    ("key", "DELETE", "tagging"): "DeleteObjectTagging",
    ("key", "GET", "attributes"): "GetObjectAttributes",
    ("key", "GET", "uploadId"): "ListMultipartUploadParts",
    ("key", "PUT", ""): "PutObject",
    ("key", "PUT", "uploadId"): "PutObject",
    ("key", "POST", "uploads"): "PutObject",
    ("key", "POST", "uploadId"): "PutObject",
    ("key", "DELETE", "uploadId"): "AbortMultipartUpload",
    ("key", "DELETE", ""): "DeleteObject",
}
S3_VERSIONED = {"GetObject": "GetObjectVersion", "DeleteObject": "DeleteObjectVersion",
                "GetObjectTagging": "GetObjectVersionTagging", "PutObjectTagging": "PutObjectVersionTagging",
                "DeleteObjectTagging": "DeleteObjectVersionTagging", "GetObjectAcl": "GetObjectVersionAcl",
                "PutObjectAcl": "PutObjectVersionAcl"}


def s3_action(method: str, query: str, resource: str, moto_action: str) -> tuple[str, str]:
    """(policy action, resource) of an S3 request, from S3_ACTIONS (else moto's action)."""
    if resource == "arn:aws:s3:::*":  # ListBuckets
        return moto_action, resource
    keys = set(urllib.parse.parse_qs(query, keep_blank_values=True)) - {"x-id"}
    level = "key" if "/" in resource.split(":::", 1)[-1] else "bucket"
    name = None
    for sub in sorted(keys):
        name = S3_ACTIONS.get((level, method, sub))
        if name:
            break
    if name is None and not (keys - {"versionId", "list-type", "prefix", "delimiter", "max-keys",
                                      "continuation-token", "start-after", "encoding-type", "fetch-owner",
                                      "marker", "key-marker", "version-id-marker", "partNumber"}):
        name = S3_ACTIONS.get((level, method, ""))
    if name is None:
        return moto_action, resource
    if "versionId" in keys:
        name = S3_VERSIONED.get(name, name)
    if name == "DeleteObject" and level == "bucket":
        resource = "*"  # DeleteObjects: AWS judges each key
    return "s3:" + name, resource


_local = threading.local()  # .decided: the middleware judged the request moto now handles


def partition_of(region: str | None) -> str:
    from moto.utilities.utils import get_partition

    return get_partition(region or "us-east-1")


def iam_backend(account: str, partition: str):
    from moto.iam.models import iam_backends

    return iam_backends[account][partition]


def policy_text(policy):
    """A policy of moto's collect_policies(): inline (dict or text) or managed (Policy)."""
    if isinstance(policy, dict):
        return policy["policy_document"]
    if isinstance(policy, str):
        return policy
    version = next(v for v in policy.versions if v.is_default)
    return version.document


class Principal:
    """The IAM user or role session behind a moto access-key object."""

    def __init__(self, key, account: str, partition: str):
        self.key = key
        self.account = account
        self.arn = key.arn
        self.admin = False
        if hasattr(key, "_owner_user_name"):
            self.kind, self.name, self.arns = "User", key._owner_user_name, [key.arn]
        else:
            self.kind, self.name = "AssumedRole", key._owner_role_name
            try:
                role = iam_backend(account, partition).get_role(self.name)
            except Exception:  # no such role: only the administrator can have made it
                self.admin, self.arns = True, [key.arn]
            else:
                self.arns = [key.arn, role.arn]

    def documents(self) -> list[dict]:
        return [parse_document(policy_text(p)) for p in self.key.collect_policies()]

    def context(self, region: str | None) -> dict:
        ctx = {
            "aws:principalarn": [self.arns[-1]],
            "aws:principalaccount": [self.account],
            "aws:principaltype": [self.kind],
        }
        if region:
            ctx["aws:requestedregion"] = [region]
        if self.kind == "User":
            ctx["aws:username"] = [self.name]
        return ctx


def find_principal(key_id: str, account: str, partition: str, token: str | None) -> Principal | None:
    """The principal of an access key moto knows, or None (moto will refuse the key)."""
    from moto.iam.access_control import CreateAccessKeyFailure, create_access_key

    headers = {"X-Amz-Security-Token": token} if token else {}
    try:
        key = create_access_key(account_id=account, partition=partition, access_key_id=key_id, headers=headers)
    except CreateAccessKeyFailure:
        return None
    return Principal(key, account, partition)


# --- the refusal --------------------------------------------------------------------


def denied_message(arn: str, action: str, resource: str, decision: str) -> str:
    on = f" on resource: {resource}" if resource and resource != "*" else ""
    text = f"User: {arn} is not authorized to perform: {action}{on}"
    if decision == "explicitDeny":
        return text + " with an explicit deny in an identity-based policy"
    if decision == "implicitDeny":
        return text + f" because no identity-based policy allows the {action} action"
    return text  # a trust policy refused: AWS gives no context


def refusal(service: str, json_protocol: bool, code: str, message: str, status: int) -> Resp:
    """An error answer in the service's protocol: EC2's, AWS JSON or AWS query."""
    rid = str(uuid.uuid4())
    if service == "ec2":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
            f"<Code>{code}</Code><Message>{xml_escape(message)}</Message>"
            f"</Error></Errors><RequestID>{rid}</RequestID></Response>"
        )
        return Resp(status_line(status), [("Content-Type", "text/xml")], body.encode())
    if json_protocol:
        resp = json_answer(status, {"__type": code, "message": message}, "application/x-amz-json-1.1")
        resp.headers.append(("x-amzn-RequestId", rid))
        if service == "monitoring":  # CloudWatch's query-compatible JSON
            resp.headers.append(("x-amzn-query-error", f"{code};Sender"))
        return resp
    body = (
        f'<ErrorResponse xmlns="{QUERY_XMLNS.get(service, "")}"><Error><Type>Sender</Type>'
        f"<Code>{code}</Code><Message>{xml_escape(message)}</Message></Error>"
        f"<RequestId>{rid}</RequestId></ErrorResponse>"
    )
    return Resp(status_line(status), [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid)], body.encode())


def denial(service: str, json_protocol: bool, message: str) -> Resp:
    """The refusal of a judged request in the service's protocol (see the module's text)."""
    if service == "ec2":
        return refusal(service, False, "UnauthorizedOperation",
                       "You are not authorized to perform this operation. " + message, 403)
    if json_protocol and service != "monitoring":
        return refusal(service, True, "AccessDeniedException", message, 400)
    return refusal(service, json_protocol, "AccessDenied", message, 403)


class Denied(HTTPException):
    """A refusal raised inside moto (moto renders `description` with `code`)."""

    def __init__(self, resp: Resp):
        super().__init__()
        self.code = resp.code
        self.description = resp.body.decode()


# --- judging ------------------------------------------------------------------------


def principal_listed(principal_element, principal: Principal) -> bool:
    """A trust statement's Principal names this principal (see the module's text)."""
    if principal_element == "*":
        return True
    if not isinstance(principal_element, dict):
        return False
    named = principal_element.get("AWS", [])
    named = named if isinstance(named, list) else [named]
    root = f"arn:aws:iam::{principal.account}:root"
    return any(p == "*" or p in principal.arns or p in (principal.account, root) for p in named)


def trust_allows(document: dict, principal: Principal, context: dict) -> bool:
    allowed = False
    statements = document.get("Statement", [])
    for s in statements if isinstance(statements, list) else [statements]:
        if not action_matches(s, "sts:AssumeRole") or not principal_listed(s.get("Principal"), principal):
            continue
        allow = s.get("Effect") == "Allow"
        if not conditions_hold(s, context, KNOWN_KEYS if allow else None):
            continue
        if not allow:
            return False
        allowed = True
    return allowed


def judge(req: Req, principal: Principal, action: str) -> Resp | None:
    """None if allowed, else the refusal."""
    json_protocol = bool(req.environ.get("HTTP_X_AMZ_TARGET"))
    context = principal.context(req.region)
    partition = partition_of(req.region)
    resource = "*"
    if req.service == "iam" and req.param("RoleName"):
        try:
            resource = iam_backend(principal.account, partition).get_role(req.param("RoleName")).arn
        except Exception:
            resource = "*"
    if action == "sts:AssumeRole":
        resource = req.param("RoleArn", "")
        parts = resource.split(":")
        try:
            role = iam_backend(parts[4], partition).get_role_by_arn(resource)
        except Exception:  # AWS refuses a role that does not exist the same way
            return denial(req.service, json_protocol, denied_message(principal.arn, action, resource, ""))
        decision = decide(principal.documents(), action, resource, context, KNOWN_KEYS)
        if decision != "allowed":
            return denial(req.service, json_protocol, denied_message(principal.arn, action, resource, decision))
        trust_context = dict(context)
        if req.param("ExternalId") is not None:
            trust_context["sts:externalid"] = [req.param("ExternalId")]
        if req.param("RoleSessionName") is not None:
            trust_context["sts:rolesessionname"] = [req.param("RoleSessionName")]
        if not trust_allows(parse_document(role.assume_role_policy_document), principal, trust_context):
            return denial(req.service, json_protocol, denied_message(principal.arn, action, resource, ""))
        return None
    decision = decide(principal.documents(), action, resource, context, KNOWN_KEYS)
    if decision == "allowed":
        return None
    return denial(req.service, json_protocol, denied_message(principal.arn, action, resource, decision))


class IamEnforcement:
    """WSGI middleware of --enforce-iam (see the module's text)."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        # moto checks the signature over the body it re-encodes from the parsed form
        # (werkzeug leaves it no raw body once the form is read), which differs from what
        # the client signed whenever the two encoders differ (the AWS SDK for Rust
        # percent-encodes `(`, `)` and spaces otherwise than botocore): moto_hook checks
        # it over the bytes as sent, kept here.
        _local.raw_body = read_body(environ) if credential_scope(environ)[1] not in (None, "s3") else b""
        try:
            return self.route(environ, start_response)
        finally:
            _local.raw_body = b""

    def route(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        region, service = credential_scope(environ)
        if service is None or service == "s3" or path.startswith(("/moto-api", CONTROL_PREFIX)):
            return self.app(environ, start_response)
        req = Req(environ)
        key_id = access_key_id(environ)
        if not req.action or not key_id:
            return self.app(environ, start_response)  # judged inside moto, if at all
        if key_id == ADMIN_ACCESS_KEY:
            return self.judged(environ, start_response)
        account = requester_account(environ)
        principal = find_principal(key_id, account, partition_of(region), environ.get("HTTP_X_AMZ_SECURITY_TOKEN"))
        if principal is None:
            return self.app(environ, start_response)  # moto refuses the unknown key
        action = f"{IAM_PREFIX.get(service, service)}:{req.action}"
        if not principal.admin and action != "sts:GetCallerIdentity":
            refusal = judge(req, principal, action)
            if refusal is not None:
                return refusal.send(start_response)
        return self.judged(environ, start_response)

    def judged(self, environ, start_response):
        _local.decided = True
        try:
            return self.app(environ, start_response)
        finally:
            _local.decided = False


def moto_hook(self, iam_request_cls, resource: str = "*") -> None:
    """Replaces moto's ActionAuthenticatorMixin._authenticate_and_authorize_action: moto's
    key and signature checks, then (for what the middleware did not judge, i.e. S3) the
    decision of `decide`."""
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam.access_control import S3IAMRequest

    if self.headers.get("X-Amz-Target") in ActionAuthenticatorMixin.PUBLIC_OPERATIONS:
        return
    # moto's own get_access_key() knows only 20-character keys: not `testing`.
    if access_key_id({"HTTP_AUTHORIZATION": self.headers.get("Authorization", "")}) == ADMIN_ACCESS_KEY:
        return
    if "Authorization" not in self.headers:  # moto would fail with HTTP 500 (KeyError)
        if iam_request_cls is S3IAMRequest:
            from moto.s3.exceptions import S3AccessDeniedError

            raise S3AccessDeniedError()
        raise Denied(refusal(getattr(self, "service_name", "") or "", bool(self.headers.get("X-Amz-Target")),
                             "MissingAuthenticationToken", "Request is missing Authentication Token", 403))
    parsed = urllib.parse.urlparse(self.uri)
    path = self.raw_path + ("?" + parsed.query if parsed.query else "")
    iam_request = iam_request_cls(
        account_id=self.current_account,
        method=self.method,
        path=path,
        data=self.data,
        body=self.raw_body or getattr(_local, "raw_body", b""),
        headers=self.headers,
        action=self._get_action(),
    )
    # A CloudWatch request translated from CBOR (moto_serve.cloudwatch_cbor) carries a
    # signature of the request as sent, which no longer matches what moto sees: the key
    # was found above, its signature cannot be checked.
    if self.headers.get("X-Testbed-Translated") != "rpc-v2-cbor":
        iam_request.check_signature()
    if getattr(_local, "decided", False):
        return
    partition = partition_of(getattr(self, "region", None))
    principal = Principal(iam_request._access_key, self.current_account, partition)
    service, _, name = iam_request._action.partition(":")
    action = f"{IAM_PREFIX.get(service, service)}:{name}"
    if iam_request_cls is S3IAMRequest:
        action, resource = s3_action(self.method, parsed.query, resource, action)
    if principal.admin or action == "sts:GetCallerIdentity":
        return
    region = getattr(self, "region", None)
    decision = decide(principal.documents(), action, resource, principal.context(region), KNOWN_KEYS)
    if decision == "allowed":
        return
    if iam_request_cls is S3IAMRequest:
        iam_request._raise_access_denied()
    json_protocol = bool(self.headers.get("X-Amz-Target"))
    raise Denied(denial(service, json_protocol, denied_message(principal.arn, action, resource, decision)))


def install() -> None:
    """Turn moto's enforcement on with `moto_hook` as its decision (see the module's text)."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0
    ActionAuthenticatorMixin._authenticate_and_authorize_action = moto_hook

