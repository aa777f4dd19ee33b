"""Service Quotas for the test bed (a plain fix-up of moto_serve.py, on in every mode).

What AWS documents (Service Quotas API Reference, GetServiceQuota,
https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_GetServiceQuota.html,
URL by convention, read on docs.amazonaws.cn): GetServiceQuota "Retrieves the applied quota
value for the specified account-level or resource-level quota"; GetAWSDefaultServiceQuota
"Retrieves the default value for the specified quota. The default value does not reflect
any quota increases"; ListServiceQuotas and ListAWSDefaultServiceQuotas page with
MaxResults and NextToken. The defaults: Amazon VPC User Guide, "Amazon VPC quotas"
(https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html): VPCs per Region
(L-F678F1CE) 5; Amazon EC2 User Guide, "On-Demand Instance limits"
(https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-on-demand-instances.html#ec2-on-demand-instances-limits):
Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances (L-1216C47A) 1152 vCPUs,
"New AWS accounts might start with limits that are lower". testbed-data/service-quotas.json
holds those two, with its sources; the other VPC quotas are moto's own list.

What moto 5.2.5 answers (docs/moto-probe.md, section 9f): GetServiceQuota only for VPC
quotas, with QuotaArn `arn:aws:servicequotas:eu-west-1::vpc/CODE` in every region;
GetAWSDefaultServiceQuota HTTP 500 (not implemented); any EC2 quota 400
NoSuchResourceException. Here the four calls answer for the quotas above, in any region,
with QuotaArn `arn:aws:servicequotas:REGION:ACCOUNT:SERVICE/CODE` for the applied value and
`arn:aws:servicequotas:REGION::SERVICE/CODE` for the default (moto's own form; AWS does not
document the default's ARN). Other services and quota codes pass through to moto.

Quotas are not enforced: moto creates a sixth VPC in a Region as it creates the first
(AWS would answer VpcLimitExceeded). A test lowers the applied value to check a tool that
reads it:

    POST /__testbed/quota {"service": "vpc", "quota": "L-F678F1CE", "value": 1,
                           "region": "ap-northeast-2", "account": "123456789012"}
         sets the applied value (region: absent = every region; account: absent =
         123456789012; value null = back to the default); answers the quota as
         GetServiceQuota would in that region (region "*" when none was given)
    GET  /__testbed/quota
         {"overrides": [{"account", "region", "service", "quota", "value"}, ...]}

POST /moto-api/reset forgets the overrides.
"""

import copy
import json
import os
import threading

from moto_strict import (
    CONTROL_PREFIX,
    decode_token,
    encode_token,
    json_answer,
    requester_account,
)

DEFAULT_ACCOUNT = "123456789012"
JSON_11 = "application/x-amz-json-1.1"


def moto_vpc_quotas() -> list[dict]:
    """moto's own default VPC quotas (moto/servicequotas/resources/default_quotas/vpc.py)."""
    from moto.servicequotas.resources.default_quotas.vpc import VPC_DEFAULT_QUOTAS

    return copy.deepcopy(VPC_DEFAULT_QUOTAS)


class ServiceQuotas:
    """The four read calls of Service Quotas and the /__testbed/quota control."""

    def __init__(self, data_dir: str):
        with open(os.path.join(data_dir, "service-quotas.json"), encoding="utf-8") as f:
            data = json.load(f)
        self.defaults: dict[tuple[str, str], dict] = {}
        for quota in moto_vpc_quotas() + data["quotas"]:  # the file's entries win
            quota = {k: v for k, v in quota.items() if k != "QuotaArn"}
            self.defaults[(quota["ServiceCode"], quota["QuotaCode"])] = quota
        self.services = {service for service, _ in self.defaults}
        self.overrides: dict[tuple[str, str, str, str], float] = {}  # (account, region|*, service, code)
        self.lock = threading.Lock()

    def reset(self):
        with self.lock:
            self.overrides.clear()

    def routes(self):
        return {
            ("servicequotas", "GetServiceQuota"): self.get_applied,
            ("servicequotas", "GetAWSDefaultServiceQuota"): self.get_default,
            ("servicequotas", "ListServiceQuotas"): self.list_applied,
            ("servicequotas", "ListAWSDefaultServiceQuotas"): self.list_default,
        }

    def controls(self):
        return {
            ("POST", CONTROL_PREFIX + "quota"): self.set_quota,
            ("GET", CONTROL_PREFIX + "quota"): self.list_overrides,
        }

    # --- answers ------------------------------------------------------------------

    def applied_value(self, account: str, region: str, key: tuple[str, str]) -> float:
        with self.lock:
            for where in (region, "*"):
                value = self.overrides.get((account, where, *key))
                if value is not None:
                    return value
        return self.defaults[key]["Value"]

    def quota(self, key, region: str, account: str | None) -> dict:
        """The quota as AWS answers it: applied (account given) or default (None)."""
        quota = dict(self.defaults[key])
        service, code = key
        quota["QuotaArn"] = f"arn:aws:servicequotas:{region}:{account or ''}:{service}/{code}"
        if account is not None:
            quota["Value"] = float(self.applied_value(account, region, key))
        return quota

    def get(self, req, forward, applied: bool):
        body = req.json()
        key = (str(body.get("ServiceCode")), str(body.get("QuotaCode")))
        if key not in self.defaults or not req.region:
            return forward()
        account = requester_account(req.environ) if applied else None
        return json_answer(200, {"Quota": self.quota(key, req.region, account)}, JSON_11)

    def get_applied(self, req, forward):
        return self.get(req, forward, True)

    def get_default(self, req, forward):
        return self.get(req, forward, False)

    def list_quotas(self, req, forward, applied: bool):
        body = req.json()
        service = str(body.get("ServiceCode"))
        if service not in self.services or not req.region:
            return forward()
        account = requester_account(req.environ) if applied else None
        keys = sorted(k for k in self.defaults if k[0] == service)
        try:
            per_page = int(body.get("MaxResults") or 100)
        except (TypeError, ValueError):
            per_page = 100
        per_page = min(max(per_page, 1), 100)
        start = (decode_token(body.get("NextToken")) or {}).get("o", 0)
        start = start if isinstance(start, int) else 0
        page = keys[start : start + per_page]
        answer = {"Quotas": [self.quota(k, req.region, account) for k in page]}
        if start + per_page < len(keys):
            answer["NextToken"] = encode_token({"o": start + per_page})
        return json_answer(200, answer, JSON_11)

    def list_applied(self, req, forward):
        return self.list_quotas(req, forward, True)

    def list_default(self, req, forward):
        return self.list_quotas(req, forward, False)

    # --- control ------------------------------------------------------------------

    def set_quota(self, req):
        body = req.json()
        usage = ('expected {"service": "vpc", "quota": "L-F678F1CE", "value": N or null, '
                 '"region": "..." (optional), "account": "123456789012" (optional)}')
        key = (body.get("service"), body.get("quota"))
        value = body.get("value")
        region = body.get("region", "*")
        account = body.get("account", DEFAULT_ACCOUNT)
        if (
            not all(isinstance(v, str) and v for v in (*key, region, account))
            or isinstance(value, bool)
            or not (value is None or (isinstance(value, (int, float)) and value >= 0))
        ):
            return json_answer(400, {"error": usage})
        if key not in self.defaults:
            known = sorted(f"{s} {c}" for s, c in self.defaults)
            return json_answer(404, {"error": f"no quota {key[0]} {key[1]} in the test bed", "known": known})
        with self.lock:
            if value is None:
                self.overrides.pop((account, region, *key), None)
            else:
                self.overrides[(account, region, *key)] = float(value)
        return json_answer(200, {"Quota": self.quota(key, region, account)})

    def list_overrides(self, req):
        with self.lock:
            items = sorted(self.overrides.items())
        overrides = [
            {"account": a, "region": r, "service": s, "quota": c, "value": v} for (a, r, s, c), v in items
        ]
        return json_answer(200, {"overrides": overrides})
