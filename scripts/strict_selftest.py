#!/usr/bin/env python3
"""Self-test of the test bed: `moto_serve.py --strict` (the rules are listed in
scripts/moto_strict.py), the plain fix-ups for a preflight, and `--enforce-iam`.

Usage: scripts/strict_selftest.py        (or .venv/bin/python scripts/strict_selftest.py)

Starts `moto_serve.py 127.0.0.1 0 --strict` with short timings, a second server without
--strict and a third with --enforce-iam, with the virtualenv's python (.venv, see
scripts/testbed install) and MOTO_IAM_LOAD_MANAGED_POLICIES=true. Checks every rule with
boto3 (credentials `testing`, region ap-northeast-2), printing `ok <rule>` per check; one
check runs on the plain server to see that the rules do not apply there, others check
the plain fix-ups (DescribeOrderableDBInstanceOptions, zones, another account's bucket,
pending certificates, Service Quotas) and the IAM-enforcing mode (a user's policy
allows, an explicit Deny denies, refusals name the action). Exits 0 only if every check
passes; kills the servers in any case. Takes about 30 s.
"""

import concurrent.futures
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
SERVE = ROOT / "scripts" / "moto_serve.py"
REGION = "ap-northeast-2"

NEW_ID_SECONDS = 1.0
PROFILE_SECONDS = 3.0
INDEX_LAG_SECONDS = 3.0
EXPIRY_SECONDS = 4.0
WINDOW_MS = 400
STRICT_FLAGS = [
    "--strict",
    f"--strict-new-id-seconds={NEW_ID_SECONDS}",
    f"--strict-profile-seconds={PROFILE_SECONDS}",
    f"--strict-index-lag-seconds={INDEX_LAG_SECONDS}",
    f"--strict-subscription-expiry-seconds={EXPIRY_SECONDS}",
    f"--strict-write-window-ms={WINDOW_MS}",
]

if __name__ == "__main__" and Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
    # Run again with the virtualenv's python (it has boto3).
    if not VENV_PYTHON.exists():
        sys.exit(f"strict_selftest: {VENV_PYTHON} missing; run scripts/testbed install")
    os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(Path(__file__).resolve()), *sys.argv[1:]])

import boto3  # noqa: E402
import botocore.config  # noqa: E402
import botocore.exceptions  # noqa: E402


class CheckFailed(Exception):
    pass


def expect(condition, message: str):
    if not condition:
        raise CheckFailed(message)


def expect_error(call, code: str, message: str | None = None, status: int | None = None):
    """Run `call`; it must fail with that error code (and message / HTTP status)."""
    try:
        call()
    except botocore.exceptions.ClientError as e:
        error = e.response["Error"]
        got_status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        expect(error.get("Code") == code, f"expected error {code}, got {error} (HTTP {got_status})")
        if message is not None:
            expect(error.get("Message") == message, f"expected message {message!r}, got {error.get('Message')!r}")
        if status is not None:
            expect(got_status == status, f"expected HTTP {status}, got {got_status}")
        return error
    raise CheckFailed(f"expected error {code}, but the call succeeded")


# --- servers ------------------------------------------------------------------------


class Server:
    """One moto_serve.py process; `url` once it printed READY."""

    def __init__(self, *flags: str):
        env = dict(os.environ, MOTO_IAM_LOAD_MANAGED_POLICIES="true")
        env.pop("AWS_PROFILE", None)
        self.proc = subprocess.Popen(
            [str(VENV_PYTHON), str(SERVE), "127.0.0.1", "0", "--quiet",
             "--parent-pid", str(os.getpid()), *flags],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        self.stderr: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()
        self.url = None

    def _drain(self):
        for line in self.proc.stderr:
            self.stderr.append(line)

    def wait_ready(self, timeout: float = 30) -> str:
        result = {}

        def read():
            result["line"] = self.proc.stdout.readline()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        line = result.get("line", "")
        if not line.startswith("READY "):
            raise CheckFailed(f"server did not start: {line!r}; stderr: {''.join(self.stderr)[-2000:]}")
        self.url = line.split()[1]
        return self.url

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class Aws:
    """boto3 clients for one server."""

    def __init__(self, url: str):
        self.url = url
        self.session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        self.config = botocore.config.Config(
            retries={"max_attempts": 1, "mode": "standard"}, s3={"addressing_style": "path"}
        )
        self.cache = {}

    def __getattr__(self, service: str):
        name = {"tagging": "resourcegroupstaggingapi"}.get(service, service)
        if name not in self.cache:
            self.cache[name] = self.session.client(name, endpoint_url=self.url, config=self.config)
        return self.cache[name]

    def control(self, method: str, path: str, body=None):
        """(status, JSON) of a control endpoint."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            text = e.read()
            try:
                return e.code, json.loads(text)
            except ValueError:
                return e.code, text.decode(errors="replace")


def default_subnet(aws: Aws) -> str:
    subnets = aws.ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    return subnets[0]["SubnetId"]


def some_image(aws: Aws) -> str:
    return aws.ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]


def sleep_until(deadline: float):
    time.sleep(max(0.0, deadline - time.monotonic()))


# --- rule checks (strict server) ----------------------------------------------------


def check_iam_lists_without_tags(aws: Aws):
    tags = [{"Key": "bumarket-infra:stack", "Value": "selftest"}]
    aws.iam.create_role(RoleName="st-r1", AssumeRolePolicyDocument="{}", Tags=tags)
    aws.iam.create_instance_profile(InstanceProfileName="st-p1", Tags=tags)
    aws.iam.add_role_to_instance_profile(InstanceProfileName="st-p1", RoleName="st-r1")
    for_role = aws.iam.list_instance_profiles_for_role(RoleName="st-r1")["InstanceProfiles"]
    for name, listed in (
        ("ListInstanceProfiles", aws.iam.list_instance_profiles()["InstanceProfiles"]),
        ("ListInstanceProfilesForRole", for_role),
    ):
        profile = next(p for p in listed if p["InstanceProfileName"] == "st-p1")
        expect("Tags" not in profile, f"{name} returned the profile's Tags: {profile.get('Tags')}")
        expect(all("Tags" not in r for r in profile["Roles"]), f"{name} returned a nested role's Tags")
    role = next(r for r in aws.iam.list_roles()["Roles"] if r["RoleName"] == "st-r1")
    expect("Tags" not in role, "ListRoles returned Tags")
    expect(aws.iam.get_role(RoleName="st-r1")["Role"].get("Tags") == tags, "GetRole lost the tags")
    expect(aws.iam.get_instance_profile(InstanceProfileName="st-p1")["InstanceProfile"].get("Tags") == tags,
           "GetInstanceProfile lost the tags")
    expect(aws.iam.list_instance_profile_tags(InstanceProfileName="st-p1")["Tags"] == tags,
           "ListInstanceProfileTags lost the tags")
    expect(aws.iam.list_role_tags(RoleName="st-r1")["Tags"] == tags, "ListRoleTags lost the tags")
    print("ok rule 1: IAM list calls without tags", flush=True)


def check_profile_propagation(aws: Aws):
    image, subnet = some_image(aws), default_subnet(aws)
    aws.iam.create_role(RoleName="st-r2", AssumeRolePolicyDocument="{}")
    arn = aws.iam.create_instance_profile(InstanceProfileName="st-p2")["InstanceProfile"]["Arn"]
    aws.iam.add_role_to_instance_profile(InstanceProfileName="st-p2", RoleName="st-r2")
    changed = time.monotonic()
    for name, profile in (("st-lt-name", {"Name": "st-p2"}), ("st-lt-arn", {"Arn": arn})):
        aws.ec2.create_launch_template(
            LaunchTemplateName=name,
            LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro", "IamInstanceProfile": profile},
        )
    group = dict(MinSize=0, MaxSize=1, DesiredCapacity=0, VPCZoneIdentifier=subnet)
    expect_error(
        lambda: aws.autoscaling.create_auto_scaling_group(
            AutoScalingGroupName="st-g", LaunchTemplate={"LaunchTemplateName": "st-lt-name"}, **group
        ),
        "ValidationError",
        "You must use a valid fully-formed launch template. Value (st-p2) for parameter "
        "iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name",
        400,
    )
    expect_error(
        lambda: aws.autoscaling.create_auto_scaling_group(
            AutoScalingGroupName="st-g",
            LaunchTemplate={"LaunchTemplateName": "st-lt-arn", "Version": "$Latest"},
            **group,
        ),
        "ValidationError",
        f"You must use a valid fully-formed launch template. Value ({arn}) for parameter "
        "iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN",
    )
    expect_error(
        lambda: aws.ec2.run_instances(
            ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnet, IamInstanceProfile={"Name": "st-p2"}
        ),
        "InvalidParameterValue",
        "Value (st-p2) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name",
    )
    sleep_until(changed + PROFILE_SECONDS + 0.2)
    aws.autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="st-g", LaunchTemplate={"LaunchTemplateName": "st-lt-name"}, **group
    )
    aws.autoscaling.update_auto_scaling_group(
        AutoScalingGroupName="st-g", LaunchTemplate={"LaunchTemplateName": "st-lt-arn"}
    )
    aws.ec2.run_instances(
        ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnet, IamInstanceProfile={"Name": "st-p2"}
    )
    print("ok rule 2: a new instance profile is invisible to Auto Scaling and EC2 for a while", flush=True)


def tagged_topics(aws: Aws, strict: bool = True, **extra) -> dict[str, dict]:
    """{topic name: tags} the tagging API lists for the self-test's topics (all pages)."""
    found, token = {}, ""
    while True:
        page = aws.tagging.get_resources(
            TagFilters=[{"Key": "st-index"}], ResourceTypeFilters=["sns"], PaginationToken=token, **extra
        )
        for item in page["ResourceTagMappingList"]:
            found[item["ResourceARN"].rsplit(":", 1)[-1]] = {t["Key"]: t["Value"] for t in item["Tags"]}
        token = page.get("PaginationToken", "")
        if not token:
            expect(not strict or page.get("PaginationToken") == "", 'the last page has no PaginationToken ""')
            return found


def check_lagging_tag_index(aws: Aws):
    sns = aws.sns
    arn = {name: sns.create_topic(Name=name, Tags=[{"Key": "st-index", "Value": "v1"}])["TopicArn"]
           for name in ("st-gone", "st-retag")}
    born = time.monotonic()
    expect(tagged_topics(aws) == {}, "GetResources listed topics created just now")
    sleep_until(born + INDEX_LAG_SECONDS + 0.6)
    expect(tagged_topics(aws) == {"st-gone": {"st-index": "v1"}, "st-retag": {"st-index": "v1"}},
           f"after the lag the topics are not listed: {tagged_topics(aws)}")
    sns.delete_topic(TopicArn=arn["st-gone"])
    sns.tag_resource(ResourceArn=arn["st-retag"], Tags=[{"Key": "st-index", "Value": "v2"}])
    sns.create_topic(Name="st-new", Tags=[{"Key": "st-index", "Value": "v1"}])
    changed = time.monotonic()
    now = tagged_topics(aws)
    expect(now == {"st-gone": {"st-index": "v1"}, "st-retag": {"st-index": "v1"}},
           f"right after the change GetResources should show the old state, got {now}")
    expect(tagged_topics(aws, ResourcesPerPage=1) == now, "paging one resource per page gave another list")
    sleep_until(changed + INDEX_LAG_SECONDS + 0.6)
    later = tagged_topics(aws)
    expect(later == {"st-retag": {"st-index": "v2"}, "st-new": {"st-index": "v1"}},
           f"after the lag GetResources should show the new state, got {later}")
    expect(tagged_topics(aws, ResourcesPerPage=1) == later, "paging one resource per page gave another list")
    print("ok rule 3: the tagging API answers from a lagging index", flush=True)


def check_rds_storage(aws: Aws):
    rds = aws.rds
    base = dict(Engine="oracle-ee", DBInstanceClass="db.t3.small", LicenseModel="bring-your-own-license",
                EngineVersion="19.0.0.0.ru-2025-07.rur-2025-07.r1", MasterUsername="admin",
                MasterUserPassword="password123", StorageType="gp3", AllocatedStorage=20)
    small = ("You can't specify IOPS or storage throughput for engine oracle-ee and a storage size less than 200.")
    expect_error(lambda: rds.create_db_instance(DBInstanceIdentifier="st-db-iops", Iops=3000, **base),
                 "InvalidParameterCombination", small, 400)
    rds.create_db_instance(DBInstanceIdentifier="st-db", MaxAllocatedStorage=100, **base)
    status, answer = aws.control("POST", "/__testbed/rds/grow-storage", {"id": "st-db", "gb": 30})
    expect(status == 200, f"grow-storage answered {status} {answer}")
    db = rds.describe_db_instances(DBInstanceIdentifier="st-db")["DBInstances"][0]
    expect(db["AllocatedStorage"] == 30, f"grow-storage did not grow: {db['AllocatedStorage']}")
    expect(aws.control("POST", "/__testbed/rds/grow-storage", {"id": "no-such", "gb": 30})[0] == 404,
           "grow-storage of an unknown instance is not 404")
    for gb in (20, 25):
        expect_error(lambda: rds.modify_db_instance(DBInstanceIdentifier="st-db", AllocatedStorage=gb,
                                                    ApplyImmediately=True),
                     "InvalidParameterCombination",
                     "You can't reduce the amount of storage for a DB instance after storage has been allocated.")
    expect_error(lambda: rds.modify_db_instance(DBInstanceIdentifier="st-db", Iops=3000, ApplyImmediately=True),
                 "InvalidParameterCombination", small)
    expect_error(lambda: rds.modify_db_instance(DBInstanceIdentifier="st-db", StorageThroughput=125,
                                                AllocatedStorage=40, ApplyImmediately=True),
                 "InvalidParameterCombination", small)
    expect_error(lambda: rds.modify_db_instance(DBInstanceIdentifier="st-db", AllocatedStorage=250,
                                                ApplyImmediately=True),
                 "InvalidParameterCombination",
                 "You must specify both the storage size and iops when modifying the storage size or iops "
                 "on a DB instance that has iops")
    rds.modify_db_instance(DBInstanceIdentifier="st-db", AllocatedStorage=40, ApplyImmediately=True)
    rds.modify_db_instance(DBInstanceIdentifier="st-db", AllocatedStorage=250, Iops=12000, ApplyImmediately=True)
    db = rds.describe_db_instances(DBInstanceIdentifier="st-db")["DBInstances"][0]
    expect(db["AllocatedStorage"] == 250, f"the grow to 250 GiB did not happen: {db['AllocatedStorage']}")
    print("ok rule 4: RDS storage only grows; Oracle gp3 below 200 GiB takes no IOPS", flush=True)


def check_pending_email(aws: Aws):
    sns = aws.sns
    topic = sns.create_topic(Name="st-alarms")["TopicArn"]

    def listed():
        of_topic = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        by_topic = {s["Endpoint"]: s["SubscriptionArn"] for s in of_topic}
        everywhere = {
            s["Endpoint"]: s["SubscriptionArn"]
            for s in sns.list_subscriptions()["Subscriptions"]
            if s["TopicArn"] == topic
        }
        expect(by_topic == everywhere, f"ListSubscriptions {everywhere} != ListSubscriptionsByTopic {by_topic}")
        return by_topic

    first = sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="ops@example.com")["SubscriptionArn"]
    expect(first == "pending confirmation", f"Subscribe answered {first!r}")
    arn = sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="ops@example.com",
                        ReturnSubscriptionArn=True)["SubscriptionArn"]
    expect(arn.startswith("arn:aws:sns:"), f"ReturnSubscriptionArn=true answered {arn!r}")
    again = sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="ops@example.com",
                          ReturnSubscriptionArn=True)["SubscriptionArn"]
    expect(again == arn, "a second Subscribe made another subscription")
    expect(aws.control("GET", "/__testbed/sns/mails")[1].get("ops@example.com") == 3,
           f"mails: {aws.control('GET', '/__testbed/sns/mails')}")
    expect(listed() == {"ops@example.com": "PendingConfirmation"}, f"lists: {listed()}")
    attributes = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    expect(attributes["PendingConfirmation"] == "true", f"attributes: {attributes}")
    expect_error(lambda: sns.unsubscribe(SubscriptionArn=arn), "InvalidParameter",
                 "Invalid parameter: Cannot unsubscribe a subscription that is pending confirmation", 400)
    status, answer = aws.control("POST", "/__testbed/sns/confirm", {"endpoint": "ops@example.com"})
    expect(status == 200 and answer["confirmed"] == [arn], f"confirm: {status} {answer}")
    expect(listed() == {"ops@example.com": arn}, f"a confirmed subscription is listed as {listed()}")
    expect(sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]["PendingConfirmation"] == "false",
           "confirmed, but PendingConfirmation is not false")
    confirmed = sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="ops@example.com")["SubscriptionArn"]
    expect(confirmed == arn, f"Subscribe to a confirmed subscription answered {confirmed!r}")
    sns.unsubscribe(SubscriptionArn=arn)
    expect(listed() == {}, "Unsubscribe of a confirmed subscription left it")

    sns.subscribe(TopicArn=topic, Protocol="email-json", Endpoint="json@example.com")
    status, answer = aws.control("POST", "/__testbed/sns/expire-pending")
    expect(status == 200 and len(answer["deleted"]) == 1, f"expire-pending: {status} {answer}")
    expect(listed() == {}, f"expire-pending left {listed()}")
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="late@example.com")
    made = time.monotonic()
    expect(listed() == {"late@example.com": "PendingConfirmation"}, f"lists: {listed()}")
    sleep_until(made + EXPIRY_SECONDS + 0.7)
    expect(listed() == {}, f"a pending subscription outlived the expiry: {listed()}")
    print("ok rule 5: e-mail subscriptions stay pending", flush=True)


def check_new_ec2_ids(aws: Aws):
    ec2 = aws.ec2
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.77.1.0/24")["Subnet"]["SubnetId"]
    made = time.monotonic()
    expect_error(lambda: ec2.describe_vpcs(VpcIds=[vpc]), "InvalidVpcID.NotFound",
                 f"The vpc ID '{vpc}' does not exist", 400)
    expect_error(lambda: ec2.describe_subnets(SubnetIds=[subnet]), "InvalidSubnetID.NotFound",
                 f"The subnet ID '{subnet}' does not exist", 400)
    by_filter = ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Vpcs"]
    expect([v["VpcId"] for v in by_filter] == [vpc], "a filter-only DescribeVpcs was affected")
    sleep_until(made + NEW_ID_SECONDS + 0.2)
    expect(ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["VpcId"] == vpc, "the VPC is still not found")
    found = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"]
    expect(found[0]["SubnetId"] == subnet, "the subnet is still not found")
    print("ok rule 6: new VPC and subnet ids are NotFound at first", flush=True)


def orderable(aws: Aws, region: str = REGION, **filters) -> list[dict]:
    client = aws.rds if region == REGION else aws.session.client(
        "rds", region_name=region, endpoint_url=aws.url, config=aws.config)
    options, marker = [], None
    while True:
        paging = {"Marker": marker} if marker else {}
        page = client.describe_orderable_db_instance_options(**paging, **filters)
        options += page["OrderableDBInstanceOptions"]
        marker = page.get("Marker")
        if not marker:
            return options


def check_orderable_answers(aws: Aws, mode: str):
    """DescribeOrderableDBInstanceOptions answers from testbed-data/rds-orderable.json,
    with AWS's filters and paging, in either mode (the same code answers both)."""
    ee = orderable(aws, Engine="oracle-ee")
    expect(len(ee) == 3 * 39 * 3, f"{mode}: oracle-ee options: {len(ee)}")
    expect(not any(o["DBInstanceClass"] == "db.t3.micro" for o in ee), f"{mode}: db.t3.micro is orderable")
    first = aws.rds.describe_orderable_db_instance_options(Engine="oracle-ee", MaxRecords=20)
    expect(len(first["OrderableDBInstanceOptions"]) == 20 and first.get("Marker"), f"{mode}: MaxRecords=20 paging")
    second = aws.rds.describe_orderable_db_instance_options(Engine="oracle-ee", MaxRecords=20, Marker=first["Marker"])
    expect(second["OrderableDBInstanceOptions"][0] == ee[20], f"{mode}: the Marker does not continue the list")
    expect_error(lambda: aws.rds.describe_orderable_db_instance_options(Engine="oracle-ee", MaxRecords=10),
                 "InvalidParameterValue", "Invalid value 10 for MaxRecords. Must be between 20 and 1000", 400)
    expect_error(lambda: aws.rds.describe_orderable_db_instance_options(Engine="oracle-ee", MaxRecords=1001),
                 "InvalidParameterValue", status=400)
    small = orderable(aws, Engine="oracle-ee", DBInstanceClass="db.t3.small", EngineVersion="19")
    expect(len(small) == 9 and {o["StorageType"] for o in small} == {"gp2", "gp3", "io1"}, f"{mode}: {small}")
    gp3 = next(o for o in small if o["StorageType"] == "gp3")
    expect(gp3["MinStorageSize"] == 20 and gp3["MaxStorageSize"] == 65536 and gp3["SupportsStorageAutoscaling"]
           and gp3["MultiAZCapable"] and gp3["AvailabilityZones"][0]["Name"] == "ap-northeast-2a", f"{gp3}")
    exact = orderable(aws, Engine="oracle-ee", EngineVersion="19.0.0.0.ru-2025-07.rur-2025-07.r1")
    expect(len(exact) == 39 * 3, f"{mode}: exact EngineVersion filter")
    expect(orderable(aws, Engine="oracle-ee", LicenseModel="license-included") == [], f"{mode}: LicenseModel filter")
    expect(orderable(aws, Engine="oracle-ee", Vpc=False) == [], f"{mode}: Vpc filter")
    se2 = orderable(aws, region="us-east-1", Engine="oracle-se2", LicenseModel="license-included")
    expect(len(se2) == 3 * 13 * 3, f"{mode}: oracle-se2 options in us-east-1: {len(se2)}")
    expect(not any(o["DBInstanceClass"] == "db.m5.8xlarge" for o in se2), f"{mode}: SE2 db.m5.8xlarge is orderable")
    expect(orderable(aws, Engine="mysql") == [], f"{mode}: mysql is not passed through to moto")
    expect(orderable(aws, region="eu-west-1", Engine="oracle-ee") == [], f"{mode}: eu-west-1 is not moto's")
    print(f"ok {mode}: DescribeOrderableDBInstanceOptions answers from rds-orderable.json", flush=True)


def check_rds_orderable(aws: Aws):
    check_orderable_answers(aws, "strict")
    base = dict(Engine="oracle-ee", LicenseModel="bring-your-own-license", MasterUsername="admin",
                MasterUserPassword="password123", AllocatedStorage=20,
                EngineVersion="19.0.0.0.ru-2025-07.rur-2025-07.r1")
    expect_error(lambda: aws.rds.create_db_instance(
        DBInstanceIdentifier="st-micro", DBInstanceClass="db.t3.micro", **base),
                 "InvalidParameterCombination",
                 "RDS does not support creating a DB instance with the following combination: "
                 "DBInstanceClass=db.t3.micro, Engine=oracle-ee, EngineVersion=19.0.0.0.ru-2025-07.rur-2025-07.r1, "
                 "LicenseModel=bring-your-own-license. For supported combinations of instance class and database "
                 "engine version, see the documentation.", 400)
    expect_error(lambda: aws.rds.create_db_instance(
        DBInstanceIdentifier="st-se2", DBInstanceClass="db.m5.8xlarge",
        **dict(base, Engine="oracle-se2", LicenseModel="license-included")), "InvalidParameterCombination")
    aws.rds.create_db_instance(DBInstanceIdentifier="st-db7", DBInstanceClass="db.t3.small", **base)
    expect_error(lambda: aws.rds.modify_db_instance(DBInstanceIdentifier="st-db7", DBInstanceClass="db.t3.micro",
                                                    ApplyImmediately=True), "InvalidParameterCombination")
    aws.rds.modify_db_instance(DBInstanceIdentifier="st-db7", DBInstanceClass="db.m6i.large", ApplyImmediately=True)
    aws.rds.create_db_instance(DBInstanceIdentifier="st-mysql", DBInstanceClass="db.t3.micro", Engine="mysql",
                               MasterUsername="admin", MasterUserPassword="password123", AllocatedStorage=20)
    print("ok rule 7: only AWS's orderable Oracle combinations exist", flush=True)


def check_role_propagation(aws: Aws):
    trust = '{"Statement": [{"Effect": "Allow", "Principal": {"Service": "firehose.amazonaws.com"}, "Action": "sts:AssumeRole"}]}'
    arn = aws.iam.create_role(RoleName="st-r9", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    made = time.monotonic()
    aws.s3.create_bucket(Bucket="st-r9", CreateBucketConfiguration={"LocationConstraint": REGION})
    destination = {"RoleARN": arn, "BucketARN": "arn:aws:s3:::st-r9"}
    create = lambda: aws.firehose.create_delivery_stream(  # noqa: E731
        DeliveryStreamName="st-r9", DeliveryStreamType="DirectPut", ExtendedS3DestinationConfiguration=destination
    )
    expect_error(create, "InvalidArgumentException",
                 f"Firehose is unable to assume role {arn}. Please check the role provided.", 400)
    aws.logs.create_log_group(logGroupName="st-r9")
    stream_arn = f"arn:aws:firehose:{REGION}:123456789012:deliverystream/st-r9"
    put = lambda: aws.logs.put_subscription_filter(  # noqa: E731
        logGroupName="st-r9", filterName="f", filterPattern="", destinationArn=stream_arn, roleArn=arn
    )
    expect_error(put, "InvalidParameterException",
                 "Could not deliver test message to specified Firehose stream. "
                 "Check if the given Firehose stream is in ACTIVE state.", 400)
    sleep_until(made + PROFILE_SECONDS + 0.2)
    create()
    put()
    print("ok rule 9: a new role is not usable by Firehose and CloudWatch Logs at once", flush=True)


def check_racing_conditional_writes(aws: Aws):
    s3 = aws.s3
    s3.create_bucket(Bucket="st-race", CreateBucketConfiguration={"LocationConstraint": REGION})
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        first = pool.submit(s3.put_object, Bucket="st-race", Key="lock", Body=b"1", IfNoneMatch="*")
        time.sleep(WINDOW_MS / 4000)
        expect_error(lambda: s3.put_object(Bucket="st-race", Key="lock", Body=b"2", IfNoneMatch="*"),
                     "ConditionalRequestConflict", status=409)
        etag = first.result()["ETag"]
    expect(s3.get_object(Bucket="st-race", Key="lock")["Body"].read() == b"1", "the held write did not win")
    expect_error(lambda: s3.put_object(Bucket="st-race", Key="lock", Body=b"3", IfNoneMatch="*"),
                 "PreconditionFailed", status=412)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        put = pool.submit(s3.put_object, Bucket="st-race", Key="lock", Body=b"4", IfMatch=etag)
        time.sleep(WINDOW_MS / 4000)
        expect_error(lambda: s3.delete_object(Bucket="st-race", Key="lock", IfMatch=etag),
                     "ConditionalRequestConflict", status=409)
        put.result()
    started = time.monotonic()
    s3.put_object(Bucket="st-race", Key="plain", Body=b"x")
    expect(time.monotonic() - started < WINDOW_MS / 1000, "a plain PutObject was held")
    print("ok rule 8: racing conditional writes conflict", flush=True)


def check_delete_if_match(aws: Aws, label: str):
    """Every mode: DeleteObject If-Match (ETag or *)."""
    s3 = aws.s3
    bucket = "st-ifmatch"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"x")["ETag"]
    expect_error(lambda: s3.delete_object(Bucket=bucket, Key="k", IfMatch='"0123"'), "PreconditionFailed", status=412)
    s3.delete_object(Bucket=bucket, Key="k", IfMatch="*")
    expect(s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0, "If-Match: * did not delete")
    expect_error(lambda: s3.delete_object(Bucket=bucket, Key="k", IfMatch="*"), "NoSuchKey", status=404)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="k", IfMatch=etag)
    expect(s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0, "If-Match: ETAG did not delete")
    print(f"ok DeleteObject If-Match ({label})", flush=True)


# --- the plain fix-ups for a preflight (plain server) -------------------------------


def check_plain_orderable(aws: Aws):
    check_orderable_answers(aws, "plain")


def check_plain_zones(aws: Aws):
    zones = aws.ec2.describe_availability_zones()["AvailabilityZones"]
    expect([z["ZoneName"] for z in zones] == [f"{REGION}{c}" for c in "abcd"], f"zones: {zones}")
    expect(all(z["State"] == "available" and z["OptInStatus"] == "opt-in-not-required" for z in zones),
           f"zones: {zones}")
    offered = aws.ec2.describe_instance_type_offerings(
        LocationType="availability-zone",
        Filters=[{"Name": "instance-type", "Values": ["t2.micro", "t3.small"]}])["InstanceTypeOfferings"]
    where = {(o["InstanceType"], o["Location"]) for o in offered}
    expect(where == {("t2.micro", f"{REGION}a"), ("t2.micro", f"{REGION}c")}
           | {("t3.small", f"{REGION}{c}") for c in "abcd"}, f"offerings: {sorted(where)}")
    print("ok plain: zones carry OptInStatus; t2.micro is offered in 2a and 2c only", flush=True)


def foreign_session(aws: Aws, account: str = "111122223333") -> boto3.session.Session:
    """Credentials of another account: moto lets `testing` assume a role ARN there."""
    role = f"arn:aws:iam::{account}:role/testbed-setup"
    c = aws.sts.assume_role(RoleArn=role, RoleSessionName="setup")["Credentials"]
    return boto3.session.Session(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                                 aws_session_token=c["SessionToken"], region_name=REGION)


def check_plain_foreign_bucket(aws: Aws):
    other = foreign_session(aws)
    their_s3 = other.client("s3", endpoint_url=aws.url, config=aws.config)
    expect(other.client("sts", endpoint_url=aws.url, config=aws.config).get_caller_identity()["Account"]
           == "111122223333", "the assumed session is not of account 111122223333")
    their_s3.create_bucket(Bucket="pl-foreign", CreateBucketConfiguration={
        "LocationConstraint": REGION, "Tags": [{"Key": "owner", "Value": "them"}]})
    expect(their_s3.head_bucket(Bucket="pl-foreign")["ResponseMetadata"]["HTTPStatusCode"] == 200,
           "the owner cannot HeadBucket its bucket")
    expect(their_s3.get_bucket_tagging(Bucket="pl-foreign")["TagSet"] == [{"Key": "owner", "Value": "them"}],
           "CreateBucket's tags in another account were lost")
    expect_error(lambda: aws.s3.head_bucket(Bucket="pl-foreign"), "403", status=403)
    expect_error(lambda: aws.s3.get_bucket_tagging(Bucket="pl-foreign"), "AccessDenied", "Access Denied", 403)
    expect_error(lambda: aws.s3.put_object(Bucket="pl-foreign", Key="k", Body=b"x"), "AccessDenied", status=403)
    expect_error(lambda: aws.s3.create_bucket(Bucket="pl-foreign",
                                              CreateBucketConfiguration={"LocationConstraint": REGION}),
                 "BucketAlreadyExists", status=409)
    expect("pl-foreign" not in [b["Name"] for b in aws.s3.list_buckets()["Buckets"]], "ListBuckets shows theirs")
    expect_error(lambda: aws.s3.head_bucket(Bucket="pl-nobody-has-this"), "404", status=404)
    aws.s3.create_bucket(Bucket="pl-ours", CreateBucketConfiguration={"LocationConstraint": REGION})
    expect_error(lambda: aws.s3.create_bucket(Bucket="pl-ours", CreateBucketConfiguration={"LocationConstraint": REGION}),
                 "BucketAlreadyOwnedByYou", status=409)
    print("ok plain: another account's bucket answers 403 (HeadBucket), 409 (CreateBucket)", flush=True)


def check_plain_certificates(aws: Aws):
    acm = aws.acm
    arn = acm.request_certificate(DomainName="pl.example.com", ValidationMethod="DNS")["CertificateArn"]
    cert = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    expect(cert["Status"] == "PENDING_VALIDATION", f"a requested certificate is {cert['Status']}")
    expect(cert["DomainValidationOptions"][0]["ValidationStatus"] == "PENDING_VALIDATION", f"{cert}")
    status, answer = aws.control("POST", "/__testbed/acm/issue", {"arn": arn})
    expect(status == 200 and answer["Status"] == "ISSUED", f"acm/issue: {status} {answer}")
    cert = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    expect(cert["Status"] == "ISSUED" and cert["DomainValidationOptions"][0]["ValidationStatus"] == "SUCCESS",
           f"after acm/issue: {cert['Status']}")
    missing = arn.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    expect(aws.control("POST", "/__testbed/acm/issue", {"arn": missing})[0] == 404, "acm/issue of nothing")
    expect_error(lambda: acm.describe_certificate(CertificateArn=missing), "ResourceNotFoundException", status=400)
    print("ok plain: a requested certificate stays PENDING_VALIDATION until acm/issue", flush=True)


def check_plain_quotas(aws: Aws):
    sq = aws.session.client("service-quotas", endpoint_url=aws.url, config=aws.config)
    vpcs = sq.get_service_quota(ServiceCode="vpc", QuotaCode="L-F678F1CE")["Quota"]
    expect(vpcs["Value"] == 5.0 and vpcs["QuotaName"] == "VPCs per Region"
           and vpcs["QuotaArn"] == f"arn:aws:servicequotas:{REGION}:123456789012:vpc/L-F678F1CE", f"{vpcs}")
    default = sq.get_aws_default_service_quota(ServiceCode="vpc", QuotaCode="L-F678F1CE")["Quota"]
    expect(default["Value"] == 5.0 and default["QuotaArn"] == f"arn:aws:servicequotas:{REGION}::vpc/L-F678F1CE",
           f"{default}")
    vcpus = sq.get_service_quota(ServiceCode="ec2", QuotaCode="L-1216C47A")["Quota"]
    expect(vcpus["Value"] == 1152.0 and vcpus["QuotaName"].startswith("Running On-Demand Standard"), f"{vcpus}")
    listed, token = [], None
    while True:
        page = sq.list_service_quotas(ServiceCode="vpc", MaxResults=10, **({"NextToken": token} if token else {}))
        listed += page["Quotas"]
        token = page.get("NextToken")
        if not token:
            break
    expect(len(listed) == 25 and len({q["QuotaCode"] for q in listed}) == 25, f"ListServiceQuotas: {len(listed)}")
    status, answer = aws.control("POST", "/__testbed/quota",
                                 {"service": "vpc", "quota": "L-F678F1CE", "value": 1, "region": REGION})
    expect(status == 200 and answer["Quota"]["Value"] == 1.0, f"quota: {status} {answer}")
    expect(len(aws.ec2.describe_vpcs()["Vpcs"]) >= 1, "no VPC in the region")
    expect(sq.get_service_quota(ServiceCode="vpc", QuotaCode="L-F678F1CE")["Quota"]["Value"] == 1.0,
           "the lowered quota is not applied")
    expect(sq.get_aws_default_service_quota(ServiceCode="vpc", QuotaCode="L-F678F1CE")["Quota"]["Value"] == 5.0,
           "the default moved with the applied value")
    east = aws.session.client("service-quotas", region_name="us-east-1", endpoint_url=aws.url, config=aws.config)
    expect(east.get_service_quota(ServiceCode="vpc", QuotaCode="L-F678F1CE")["Quota"]["Value"] == 5.0,
           "a quota lowered in one region is lowered in another")
    expect(aws.control("GET", "/__testbed/quota")[1]["overrides"][0]["value"] == 1.0, "GET quota")
    expect(aws.control("POST", "/__testbed/quota", {"service": "vpc", "quota": "L-NOPE", "value": 1})[0] == 404,
           "an unknown quota code is accepted")
    expect(aws.control("POST", "/__testbed/quota", {"service": "vpc", "quota": "L-F678F1CE", "value": -1})[0] == 400,
           "a negative quota is accepted")
    aws.control("POST", "/__testbed/quota", {"service": "vpc", "quota": "L-F678F1CE", "value": None, "region": REGION})
    expect(sq.get_service_quota(ServiceCode="vpc", QuotaCode="L-F678F1CE")["Quota"]["Value"] == 5.0,
           "value null does not restore the default")
    expect_error(lambda: sq.get_service_quota(ServiceCode="vpc", QuotaCode="L-00000000"),
                 "NoSuchResourceException", status=400)
    print("ok plain: Service Quotas answer AWS's defaults; /__testbed/quota lowers one", flush=True)


def check_plain_reset(aws: Aws):
    """Last on the plain server: POST /moto-api/reset forgets the quota overrides."""
    aws.control("POST", "/__testbed/quota", {"service": "ec2", "quota": "L-1216C47A", "value": 2})
    status, _ = aws.control("POST", "/moto-api/reset")
    expect(status == 200, f"reset answered {status}")
    expect(aws.control("GET", "/__testbed/quota")[1] == {"overrides": []}, "reset kept the quota overrides")
    print("ok plain: /moto-api/reset forgets the quota overrides", flush=True)


def check_strict_controls(aws: Aws):
    """Strict mode passes the plain fix-ups' control endpoints on."""
    status, answer = aws.control("GET", "/__testbed/quota")
    expect(status == 200 and "overrides" in answer, f"strict: GET /__testbed/quota: {status} {answer}")
    status, answer = aws.control("GET", "/__testbed/nothing")
    expect(status == 404 and "POST /__testbed/quota" in answer["endpoints"]
           and "POST /__testbed/sns/confirm" in answer["endpoints"], f"strict: unknown control: {answer}")
    print("ok strict: the plain fix-ups' control endpoints answer in strict mode", flush=True)


# --- the IAM-enforcing mode (--enforce-iam server) -----------------------------------


def make_user(aws: Aws, name: str, *statements) -> boto3.session.Session:
    """An IAM user with one inline policy, made with the admin key; its session."""
    aws.iam.create_user(UserName=name)
    if statements:
        document = {"Version": "2012-10-17", "Statement": list(statements)}
        aws.iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(document))
    key = aws.iam.create_access_key(UserName=name)["AccessKey"]
    return boto3.session.Session(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                                 region_name=REGION)


def denied(arn: str, action: str, resource: str = "", explicit: bool = False) -> str:
    on = f" on resource: {resource}" if resource else ""
    if explicit:
        return f"User: {arn} is not authorized to perform: {action}{on} with an explicit deny in an identity-based policy"
    return f"User: {arn} is not authorized to perform: {action}{on} because no identity-based policy allows the {action} action"


def check_enforce_iam(aws: Aws):
    client = lambda session, name, region=REGION: session.client(  # noqa: E731
        name, region_name=region, endpoint_url=aws.url, config=aws.config)
    user_arn = "arn:aws:iam::123456789012:user/"
    # 1. A user allowed ec2:DescribeVpcs and s3:ListAllMyBuckets.
    ci = make_user(aws, "en-ci", {"Effect": "Allow", "Action": ["ec2:DescribeVpcs", "s3:ListAllMyBuckets"],
                                  "Resource": "*"})
    client(ci, "ec2").describe_vpcs()
    client(ci, "s3").list_buckets()
    expect(client(ci, "sts").get_caller_identity()["Account"] == "123456789012", "GetCallerIdentity")
    expect_error(lambda: client(ci, "ec2").create_vpc(CidrBlock="10.60.0.0/16"), "UnauthorizedOperation",
                 "You are not authorized to perform this operation. " + denied(user_arn + "en-ci", "ec2:CreateVpc"), 403)
    expect_error(lambda: client(ci, "iam").create_role(RoleName="en-r", AssumeRolePolicyDocument="{}"),
                 "AccessDenied", denied(user_arn + "en-ci", "iam:CreateRole"), 403)
    expect_error(lambda: client(ci, "service-quotas").get_service_quota(ServiceCode="vpc", QuotaCode="L-F678F1CE"),
                 "AccessDeniedException", denied(user_arn + "en-ci", "servicequotas:GetServiceQuota"), 400)
    expect_error(lambda: client(ci, "rds").describe_orderable_db_instance_options(Engine="oracle-ee"),
                 "AccessDenied", denied(user_arn + "en-ci", "rds:DescribeOrderableDBInstanceOptions"), 403)
    expect_error(lambda: client(ci, "cloudwatch").describe_alarms(), "AccessDenied",
                 denied(user_arn + "en-ci", "cloudwatch:DescribeAlarms"))
    expect_error(lambda: client(ci, "s3").create_bucket(
        Bucket="en-nope", CreateBucketConfiguration={"LocationConstraint": REGION}), "AccessDenied", status=403)
    # The admin key still does everything, and inspects.
    expect(aws.iam.get_user(UserName="en-ci")["User"]["UserName"] == "en-ci", "the admin cannot read IAM")
    # 2. Policies scoped to ARNs and tag conditions allow (moto alone would deny them).
    scoped = make_user(aws, "en-scoped",
                       {"Effect": "Allow", "Action": "ec2:CreateVpc",
                        "Resource": "arn:aws:ec2:ap-northeast-2:123456789012:vpc/*",
                        "Condition": {"StringEquals": {"aws:ResourceTag/team": "shop",
                                                       "aws:RequestedRegion": REGION}}},
                       {"Effect": "Allow", "Action": ["s3:CreateBucket", "s3:ListBucket"],
                        "Resource": "arn:aws:s3:::en-scoped-*"})
    client(scoped, "ec2").create_vpc(CidrBlock="10.61.0.0/16")
    expect_error(lambda: client(scoped, "ec2", "us-east-1").create_vpc(CidrBlock="10.62.0.0/16"),
                 "UnauthorizedOperation", status=403)  # aws:RequestedRegion is known, and differs
    client(scoped, "s3").create_bucket(Bucket="en-scoped-a", CreateBucketConfiguration={"LocationConstraint": REGION})
    client(scoped, "s3").head_bucket(Bucket="en-scoped-a")  # HeadBucket needs s3:ListBucket (moto: s3:HeadBucket)
    expect_error(lambda: client(scoped, "s3").get_bucket_encryption(Bucket="en-scoped-a"), "AccessDenied", status=403)
    expect_error(lambda: client(scoped, "s3").create_bucket(
        Bucket="en-other", CreateBucketConfiguration={"LocationConstraint": REGION}), "AccessDenied", status=403)
    # SimulatePrincipalPolicy (the admin's) stays exact: the ARN and the tag decide.
    sim = lambda **kw: aws.iam.simulate_principal_policy(  # noqa: E731
        PolicySourceArn=user_arn + "en-scoped", ActionNames=["ec2:CreateVpc"], **kw)["EvaluationResults"][0]["EvalDecision"]
    vpc_arn = "arn:aws:ec2:ap-northeast-2:123456789012:vpc/vpc-1"
    tag = [{"ContextKeyName": "aws:ResourceTag/team", "ContextKeyValues": ["shop"], "ContextKeyType": "string"},
           {"ContextKeyName": "aws:RequestedRegion", "ContextKeyValues": [REGION], "ContextKeyType": "string"}]
    expect(sim(ResourceArns=[vpc_arn], ContextEntries=tag) == "allowed", "simulator: scoped call not allowed")
    expect(sim(ResourceArns=[vpc_arn]) == "implicitDeny", "simulator: a missing tag allowed")
    expect(sim(ResourceArns=["arn:aws:ec2:us-east-1:123456789012:vpc/vpc-1"], ContextEntries=tag) == "implicitDeny",
           "simulator: another region's ARN allowed")
    # 3. An explicit Deny wins over an Allow.
    denier = make_user(aws, "en-deny", {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"},
                       {"Effect": "Deny", "Action": "ec2:CreateVpc", "Resource": "*"},
                       {"Effect": "Deny", "Action": "ec2:*", "Resource": "*",
                        "Condition": {"StringNotEquals": {"aws:RequestedRegion": REGION}}})
    client(denier, "ec2").describe_vpcs()  # moto alone denies: it holds every condition, Deny's too
    expect_error(lambda: client(denier, "ec2", "us-east-1").describe_vpcs(), "UnauthorizedOperation",
                 "You are not authorized to perform this operation. "
                 + denied(user_arn + "en-deny", "ec2:DescribeVpcs", explicit=True), 403)
    expect_error(lambda: client(denier, "ec2").create_vpc(CidrBlock="10.63.0.0/16"), "UnauthorizedOperation",
                 "You are not authorized to perform this operation. "
                 + denied(user_arn + "en-deny", "ec2:CreateVpc", explicit=True), 403)
    # 4. Managed policies and groups count; a user with no policy is denied.
    nobody = make_user(aws, "en-nobody")
    expect_error(lambda: client(nobody, "ec2").describe_vpcs(), "UnauthorizedOperation", status=403)
    aws.iam.create_group(GroupName="en-readers")
    aws.iam.attach_group_policy(GroupName="en-readers", PolicyArn="arn:aws:iam::aws:policy/AmazonEC2ReadOnlyAccess")
    aws.iam.add_user_to_group(GroupName="en-readers", UserName="en-nobody")
    client(nobody, "ec2").describe_vpcs()
    # 5. A CI role: assumed by a user its trust policy lets in; the session has the role's rights.
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}]}
    role_arn = aws.iam.create_role(RoleName="en-ci-role", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    aws.iam.put_role_policy(RoleName="en-ci-role", PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:DescribeVpcs", "Resource": "*"}]}))
    assumer = make_user(aws, "en-assumer", {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn})
    c = client(assumer, "sts").assume_role(RoleArn=role_arn, RoleSessionName="ci")["Credentials"]
    session = boto3.session.Session(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                                    aws_session_token=c["SessionToken"], region_name=REGION)
    client(session, "ec2").describe_vpcs()
    expect_error(lambda: client(session, "ec2").create_vpc(CidrBlock="10.64.0.0/16"), "UnauthorizedOperation",
                 "You are not authorized to perform this operation. "
                 + denied("arn:aws:sts::123456789012:assumed-role/en-ci-role/ci", "ec2:CreateVpc"), 403)
    ghost = "arn:aws:iam::123456789012:role/en-no-such-role"
    expect_error(lambda: client(assumer, "sts").assume_role(RoleArn=ghost, RoleSessionName="probe"), "AccessDenied",
                 f"User: {user_arn}en-assumer is not authorized to perform: sts:AssumeRole on resource: {ghost}", 403)
    expect_error(lambda: client(ci, "sts").assume_role(RoleArn=role_arn, RoleSessionName="probe"), "AccessDenied",
                 denied(user_arn + "en-ci", "sts:AssumeRole", role_arn), 403)
    # 6. The admin's session in another account is that account's admin; unknown keys are refused.
    other = foreign_session(aws, "444455556666")
    client(other, "s3").create_bucket(Bucket="en-foreign", CreateBucketConfiguration={"LocationConstraint": REGION})
    client(other, "ec2").describe_vpcs()
    stranger = boto3.session.Session(aws_access_key_id="AKIAIOSFODNN7NOTREAL", aws_secret_access_key="x",
                                     region_name=REGION)
    expect_error(lambda: client(stranger, "iam").list_users(), "InvalidClientTokenId", status=403)
    print("ok enforce-iam: policies allow and deny as IAM documents; refusals name the action", flush=True)


# --- the plain server ---------------------------------------------------------------


def check_plain_server(aws: Aws):
    """Without --strict none of the rules apply."""
    iam = aws.iam
    iam.create_role(RoleName="pl-r", AssumeRolePolicyDocument="{}", Tags=[{"Key": "a", "Value": "b"}])
    iam.create_instance_profile(InstanceProfileName="pl-p", Tags=[{"Key": "a", "Value": "b"}])
    iam.add_role_to_instance_profile(InstanceProfileName="pl-p", RoleName="pl-r")
    profiles = iam.list_instance_profiles()["InstanceProfiles"]
    profile = next(p for p in profiles if p["InstanceProfileName"] == "pl-p")
    expect("Tags" in profile, "plain: ListInstanceProfiles lost its tags")
    image, subnet = some_image(aws), default_subnet(aws)
    aws.ec2.create_launch_template(LaunchTemplateName="pl-lt", LaunchTemplateData={
        "ImageId": image, "InstanceType": "t3.micro", "IamInstanceProfile": {"Name": "pl-p"}})
    aws.autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="pl-g", LaunchTemplate={"LaunchTemplateName": "pl-lt"},
        MinSize=0, MaxSize=1, VPCZoneIdentifier=subnet,
    )
    vpc = aws.ec2.create_vpc(CidrBlock="10.88.0.0/16")["Vpc"]["VpcId"]
    expect(aws.ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["VpcId"] == vpc, "plain: a new VPC is not found")
    topic = aws.sns.create_topic(Name="pl-t", Tags=[{"Key": "st-index", "Value": "v1"}])["TopicArn"]
    subscribed = aws.sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="a@example.com")
    expect(subscribed["SubscriptionArn"].startswith("arn:"), "plain: e-mail subscription is pending")
    expect("pl-t" in tagged_topics(aws, strict=False), "plain: the tagging API lags")
    aws.rds.create_db_instance(DBInstanceIdentifier="pl-db", DBInstanceClass="db.t3.micro", Engine="oracle-ee",
                               MasterUsername="admin", MasterUserPassword="password123", AllocatedStorage=30)
    aws.rds.modify_db_instance(DBInstanceIdentifier="pl-db", AllocatedStorage=20, ApplyImmediately=True)
    expect(aws.control("GET", "/__testbed/sns/mails")[0] != 200, "plain: control endpoints answer")
    s3 = aws.s3
    s3.create_bucket(Bucket="pl-race", CreateBucketConfiguration={"LocationConstraint": REGION})
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        writes = [
            pool.submit(s3.put_object, Bucket="pl-race", Key="k", Body=b"x", IfNoneMatch="*"),
            pool.submit(s3.put_object, Bucket="pl-race", Key="k", Body=b"y", IfNoneMatch="*"),
        ]
        results = []
        for write in writes:
            try:
                results.append(write.result()["ResponseMetadata"]["HTTPStatusCode"])
            except botocore.exceptions.ClientError as e:
                results.append(e.response["ResponseMetadata"]["HTTPStatusCode"])
    expect(sorted(results) == [200, 412], f"plain: racing conditional writes answered {results}")
    print("ok plain server: no strict rule applies", flush=True)


# --- main ---------------------------------------------------------------------------


def main() -> int:
    started = time.monotonic()
    servers = {"strict": Server(*STRICT_FLAGS), "plain": Server(), "enforce": Server("--enforce-iam")}
    failures = 0
    try:
        strict = Aws(servers["strict"].wait_ready())
        plain = Aws(servers["plain"].wait_ready())
        enforce = Aws(servers["enforce"].wait_ready())
        checks = [
            (check_iam_lists_without_tags, strict),
            (check_profile_propagation, strict),
            (check_lagging_tag_index, strict),
            (check_rds_storage, strict),
            (check_pending_email, strict),
            (check_new_ec2_ids, strict),
            (check_rds_orderable, strict),
            (check_racing_conditional_writes, strict),
            (check_role_propagation, strict),
            (lambda aws: check_delete_if_match(aws, "strict"), strict),
            (check_strict_controls, strict),
            (lambda aws: check_delete_if_match(aws, "plain"), plain),
            (check_plain_server, plain),
            (check_plain_orderable, plain),
            (check_plain_zones, plain),
            (check_plain_foreign_bucket, plain),
            (check_plain_certificates, plain),
            (check_plain_quotas, plain),
            (check_plain_reset, plain),  # last on the plain server: it forgets everything
            (check_enforce_iam, enforce),
        ]
        # The other servers' checks run beside the strict ones (those mostly wait).
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            plain_run = pool.submit(run_checks, [c for c in checks if c[1] is not strict])
            failures += run_checks([c for c in checks if c[1] is strict])
            failures += plain_run.result()
    except CheckFailed as e:
        print(f"FAIL {e}", flush=True)
        failures += 1
    finally:
        for server in servers.values():
            server.stop()
        if failures:
            for name, server in servers.items():
                tail = "".join(server.stderr)[-3000:]
                if tail.strip():
                    print(f"--- stderr of the {name} server (tail) ---\n{tail}", flush=True)
    elapsed = time.monotonic() - started
    print(f"{'PASS' if not failures else f'{failures} FAILED'} in {elapsed:.1f} s", flush=True)
    return 0 if not failures else 1


def run_checks(checks) -> int:
    failures = 0
    for check, aws in checks:
        try:
            check(aws)
        except Exception as e:  # report every failing check, not only the first
            name = getattr(check, "__name__", "check")
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
            failures += 1
    return failures


if __name__ == "__main__":
    sys.exit(main())
