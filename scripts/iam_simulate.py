"""IAM's policy simulator for the test bed: moto has no SimulatePrincipalPolicy.

AWS documents the call (IAM API reference, SimulatePrincipalPolicy): for each action and
resource it answers `allowed`, `explicitDeny` or `implicitDeny` from the identity-based
policies of the principal (a role or a user: its inline policies and attached managed
policies; a user's groups' too). Tests ask it the question a careful user asks of a real
account ("may the instance role read this secret, and no other?") with the independent
client: `aws iam simulate-principal-policy`.

What it evaluates, as the IAM user guide's "Policy evaluation logic" describes for one
account and identity-based policies: a Deny statement that matches wins; else an Allow
that matches allows; else the answer is an implicit deny. A statement matches when its
Action (or NotAction) and Resource (or NotResource) match, with `*` and `?` as wildcards
(actions case-insensitively), and every condition holds. Conditions are checked against
the call's ContextEntries for the operators StringEquals, StringLike, StringNotEquals,
ArnEquals, ArnLike and Bool (ForAnyValue:/ForAllValues: prefixes included); a condition
key the caller does not supply does not hold (the simulator reports such keys as
missing and does not allow on them), `...IfExists` operators hold without the key.
Permissions boundaries, SCPs and resource policies are not simulated (the stack sets none).

`decide` is also the evaluation of `moto_serve.py --enforce-iam` (scripts/iam_enforce.py),
called there with `known_keys`: the condition keys that mode can supply. With it, two
relaxations apply to Allow statements only, both where the emulator lacks the facts:
a resource given as "*" (moto does not know the ARN) matches any Resource and is not
excluded by any NotResource, and a condition on a key that is neither in the context nor
in `known_keys` (resource tags, request tags, iam:PassedToService, ...) holds. A Deny
statement then applies to a "*" resource only if one of its Resource patterns is "*"
itself, and its conditions on absent keys do not hold. Without `known_keys` (the
simulator) nothing is relaxed.
"""

import fnmatch
import io
import json
import re
import urllib.parse
import uuid
from xml.sax.saxutils import escape


def _match(pattern: str, value: str, case: bool) -> bool:
    rx = fnmatch.translate(pattern)
    return re.match(rx, value, 0 if case else re.IGNORECASE) is not None


def _list(v) -> list:
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def _condition_holds(op: str, conditions: dict, context: dict, lenient_keys=None) -> bool:
    """One condition operator block. `lenient_keys`: None, or the keys that may be known;
    an absent key outside them holds (see the module's text)."""
    quantifier, _, base = op.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    for key, wanted in conditions.items():
        values = context.get(key.lower())
        if values is None:
            if if_exists or (lenient_keys is not None and key.lower() not in lenient_keys):
                continue
            return False
        wanted = [str(w) for w in _list(wanted)]
        if base in ("StringEquals", "ArnEquals"):
            test = lambda v: any(v == w for w in wanted)  # noqa: E731
        elif base in ("StringLike", "ArnLike"):
            test = lambda v: any(_match(w, v, True) for w in wanted)  # noqa: E731
        elif base == "StringNotEquals":
            test = lambda v: all(v != w for w in wanted)  # noqa: E731
        elif base == "Bool":
            test = lambda v: any(v.lower() == w.lower() for w in wanted)  # noqa: E731
        else:
            return False  # an operator this simulator does not know never allows
        if quantifier == "ForAllValues":
            ok = all(test(v) for v in values)
        else:  # single-valued keys and ForAnyValue
            ok = any(test(v) for v in values)
        if not ok:
            return False
    return True


def action_matches(s: dict, action: str) -> bool:
    """The statement's Action (or NotAction) covers `action` (case-insensitively)."""
    if "Action" in s:
        return any(_match(a, action, False) for a in _list(s["Action"]))
    if "NotAction" in s:
        return not any(_match(a, action, False) for a in _list(s["NotAction"]))
    return False


def conditions_hold(s: dict, context: dict, lenient_keys=None) -> bool:
    """Every condition of the statement holds (see `_condition_holds`)."""
    return all(_condition_holds(op, c, context, lenient_keys) for op, c in (s.get("Condition") or {}).items())


def _resource_matches(s: dict, resource: str, unknown_resource: str) -> bool:
    """`unknown_resource`: "any" (an Allow in enforcing mode: "*" stands for any ARN),
    "star" (a Deny there: only a "*" pattern covers it) or "" (the simulator)."""
    if unknown_resource and resource == "*":
        if unknown_resource == "any":
            return True
        return "Resource" in s and "*" in _list(s["Resource"])
    if "Resource" in s:
        return any(_match(r, resource, True) for r in _list(s["Resource"]))
    if "NotResource" in s:
        return not any(_match(r, resource, True) for r in _list(s["NotResource"]))
    return True


def _statement_matches(s: dict, action: str, resource: str, context: dict, known_keys=None) -> bool:
    if not action_matches(s, action):
        return False
    allow = s.get("Effect") == "Allow"
    if known_keys is None:
        unknown_resource, lenient_keys = "", None
    else:
        unknown_resource = "any" if allow else "star"
        lenient_keys = known_keys if allow else None
    if not _resource_matches(s, resource, unknown_resource):
        return False
    return conditions_hold(s, context, lenient_keys)


def decide(documents: list, action: str, resource: str, context: dict, known_keys=None) -> str:
    """`allowed`, `explicitDeny` or `implicitDeny` for one action on one resource.

    `context` maps lower-case condition keys to lists of values. `known_keys` (lower
    case) switches on the enforcing mode's relaxations (see the module's text)."""
    known = None if known_keys is None else {k.lower() for k in known_keys}
    allowed = False
    for doc in documents:
        for s in _list(doc.get("Statement")):
            if _statement_matches(s, action, resource, context, known):
                if s.get("Effect") == "Deny":
                    return "explicitDeny"
                allowed = allowed or s.get("Effect") == "Allow"
    return "allowed" if allowed else "implicitDeny"


def parse_document(doc) -> dict:
    """A policy document as moto stores it (JSON text, URL-encoded or not, or a dict)."""
    if isinstance(doc, dict):
        return doc
    text = doc.strip()
    return json.loads(urllib.parse.unquote(text) if text.startswith("%") else text)


def _documents(arn: str) -> list | None:
    """The identity-based policy documents of the role or user `arn` in moto."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam.models import iam_backends

    backend = iam_backends[DEFAULT_ACCOUNT_ID]["global"]
    name = arn.rsplit("/", 1)[-1]
    try:
        if ":role/" in arn:
            holders = [backend.get_role(name)]
        elif ":user/" in arn:
            user = backend.get_user(name)
            holders = [user] + [g for g in backend.groups.values() if user in g.users]
        else:
            return None
    except Exception:
        return None
    docs = []
    for h in holders:
        for text in h.policies.values():
            docs.append(parse_document(text))
        for policy in h.managed_policies.values():
            version = next((v for v in policy.versions if v.version_id == policy.default_version_id), None)
            if version is not None:
                docs.append(parse_document(version.document))
    return docs


def _members(form: dict, prefix: str) -> list[str]:
    keys = sorted((k for k in form if re.fullmatch(re.escape(prefix) + r"\.member\.\d+", k)),
                  key=lambda k: int(k.rsplit(".", 1)[1]))
    return [form[k] for k in keys]


def _context(form: dict) -> dict:
    out = {}
    n = 1
    while f"ContextEntries.member.{n}.ContextKeyName" in form:
        key = form[f"ContextEntries.member.{n}.ContextKeyName"].lower()
        out[key] = _members(form, f"ContextEntries.member.{n}.ContextKeyValues")
        n += 1
    return out


def simulate_principal_policy(app):
    """WSGI middleware answering IAM's SimulatePrincipalPolicy (see the module's text)."""

    def wrapped(environ, start_response):
        if environ.get("REQUEST_METHOD") != "POST" or "/iam/" not in environ.get("HTTP_AUTHORIZATION", ""):
            return app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(raw)
        form = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode("utf-8", "replace")).items()}
        if form.get("Action") != "SimulatePrincipalPolicy":
            return app(environ, start_response)
        source = form.get("PolicySourceArn", "")
        docs = _documents(source)
        rid = str(uuid.uuid4())
        if docs is None:
            body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>NoSuchEntity</Code>"
                    f"<Message>{escape(source)} does not exist</Message></Error>"
                    f"<RequestId>{rid}</RequestId></ErrorResponse>").encode()
            start_response("404 Not Found", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
            return [body]
        context = _context(form)
        resources = _members(form, "ResourceArns") or ["*"]
        results = []
        for action in _members(form, "ActionNames"):
            for resource in resources:
                decision = decide(docs, action, resource, context)
                results.append(f"<member><EvalActionName>{escape(action)}</EvalActionName>"
                               f"<EvalResourceName>{escape(resource)}</EvalResourceName>"
                               f"<EvalDecision>{decision}</EvalDecision>"
                               f"<MatchedStatements/><MissingContextValues/></member>")
        body = ('<SimulatePrincipalPolicyResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
                "<SimulatePrincipalPolicyResult><IsTruncated>false</IsTruncated>"
                f"<EvaluationResults>{''.join(results)}</EvaluationResults></SimulatePrincipalPolicyResult>"
                f"<ResponseMetadata><RequestId>{rid}</RequestId></ResponseMetadata>"
                "</SimulatePrincipalPolicyResponse>").encode()
        start_response("200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
        return [body]

    return wrapped
