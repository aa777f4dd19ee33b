"""Builds a BuMarket-shaped stack by hand, the way the seed's team did in the console:
no bumarket-infra tags, console-style names, some settings left at AWS's defaults, a few
objects in the image bucket. The adoption tests (tests/e2e/adopt.rs) run it against the
emulator and then take the result over with `bumarket-infra`.

    python tests/handbuilt.py PREFIX REGION [--other-stack NAME]

Prints one JSON object on stdout: every id and name it made, so the test can write the
`adopt:` entries and check that each is the same after adoption. `--other-stack NAME`
tags the extra bucket `PREFIX-other` as belonging to stack NAME (never to be adopted).
Credentials and `AWS_ENDPOINT_URL` come from the environment, as for awscli.
"""

import json
import sys

import boto3


def main() -> None:
    prefix, region = sys.argv[1], sys.argv[2]
    other_stack = sys.argv[sys.argv.index("--other-stack") + 1] if "--other-stack" in sys.argv else None
    ec2 = boto3.client("ec2", region_name=region)
    rds = boto3.client("rds", region_name=region)
    s3 = boto3.client("s3", region_name=region)
    out: dict = {}

    def name_tag(kind: str, name: str) -> list:
        return [{"ResourceType": kind, "Tags": [{"Key": "Name", "Value": name}]}]

    # The VPC wizard's shape: a /16, two public and two private subnets, a gateway, a
    # public route table with the default route and a private one.
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=name_tag("vpc", f"{prefix}-vpc"))["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": True})
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    out["vpc"] = vpc
    zones = [f"{region}a", f"{region}c"]
    subnets = {}
    for i, zone in enumerate(zones):
        for kind, cidr in (("public", f"10.0.{i}.0/24"), ("private", f"10.0.{10 + i}.0/24")):
            sid = ec2.create_subnet(
                VpcId=vpc,
                CidrBlock=cidr,
                AvailabilityZone=zone,
                TagSpecifications=name_tag("subnet", f"{prefix}-subnet-{kind}{i + 1}-{zone}"),
            )["Subnet"]["SubnetId"]
            if kind == "public":
                ec2.modify_subnet_attribute(SubnetId=sid, MapPublicIpOnLaunch={"Value": True})
            subnets[f"{kind}-{i}"] = sid
    out["subnets"] = subnets
    igw = ec2.create_internet_gateway(TagSpecifications=name_tag("internet-gateway", f"{prefix}-igw"))
    igw = igw["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    out["internet_gateway"] = igw
    tables = {}
    for kind in ("public", "private"):
        rtb = ec2.create_route_table(VpcId=vpc, TagSpecifications=name_tag("route-table", f"{prefix}-rtb-{kind}"))
        rtb = rtb["RouteTable"]["RouteTableId"]
        if kind == "public":
            ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
        for i in range(2):
            ec2.associate_route_table(RouteTableId=rtb, SubnetId=subnets[f"{kind}-{i}"])
        tables[kind] = rtb
    out["route_tables"] = tables

    # Security groups as the console makes them (each keeps AWS's allow-all egress): the
    # load balancer open on 80, the app on 8000 from it, the database on 1521 from the app.
    def group(name: str, description: str) -> str:
        return ec2.create_security_group(GroupName=name, Description=description, VpcId=vpc)["GroupId"]

    def allow(sg: str, port: int, peer: dict) -> None:
        ec2.authorize_security_group_ingress(
            GroupId=sg, IpPermissions=[{"IpProtocol": "tcp", "FromPort": port, "ToPort": port, **peer}]
        )

    sg_lb = group(f"{prefix}-alb-sg", "web traffic")
    sg_app = group(f"{prefix}-web-sg", "django servers")
    sg = group(f"{prefix}-db-sg", "Oracle for the app")
    allow(sg_lb, 80, {"IpRanges": [{"CidrIp": "0.0.0.0/0"}]})
    allow(sg_app, 8000, {"UserIdGroupPairs": [{"GroupId": sg_lb}]})
    allow(sg, 1521, {"UserIdGroupPairs": [{"GroupId": sg_app}]})
    out["security_groups"] = {"lb": sg_lb, "app": sg_app, "db": sg}
    group = f"{prefix}-db-subnets"
    rds.create_db_subnet_group(
        DBSubnetGroupName=group,
        DBSubnetGroupDescription="private subnets of the database",
        SubnetIds=[subnets["private-0"], subnets["private-1"]],
    )
    out["db_subnet_group"] = group
    db = f"{prefix}-oracle"
    rds.create_db_instance(
        DBInstanceIdentifier=db,
        Engine="oracle-ee",
        EngineVersion="19.0.0.0.ru-2024-01.rur-2024-01.r1",
        LicenseModel="bring-your-own-license",
        DBInstanceClass="db.t3.small",
        AllocatedStorage=20,
        MaxAllocatedStorage=100,
        StorageType="gp3",
        StorageEncrypted=True,
        MasterUsername="bumarket_admin",
        ManageMasterUserPassword=True,
        DBSubnetGroupName=group,
        VpcSecurityGroupIds=[sg],
        Port=1521,
        BackupRetentionPeriod=7,
        PreferredBackupWindow="00:00-00:30",
        PreferredMaintenanceWindow="sun:18:00-sun:18:30",
        EnableCloudwatchLogsExports=["alert", "audit", "listener", "trace"],
        DeletionProtection=True,
        MultiAZ=False,
        PubliclyAccessible=False,
        CopyTagsToSnapshot=True,
    )
    db_info = rds.describe_db_instances(DBInstanceIdentifier=db)["DBInstances"][0]
    out["database"] = {"identifier": db, "resource_id": db_info.get("DbiResourceId"), "arn": db_info["DBInstanceArn"]}

    # The instances' role with its profile, and the developers' group.
    iam = boto3.client("iam", region_name=region)
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    role = f"{prefix}-ec2-role"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust), Description="django servers")
    iam.create_instance_profile(InstanceProfileName=role)
    iam.add_role_to_instance_profile(InstanceProfileName=role, RoleName=role)
    iam.create_group(GroupName=f"{prefix}-developers")
    out["iam"] = {"role": role, "instance_profile": role, "group": f"{prefix}-developers"}

    # The fleet: a launch template, an Auto Scaling group of one t2.micro in the public
    # subnets behind an application load balancer, scaling on 60 % CPU.
    lt = f"{prefix}-django"
    ec2.create_launch_template(
        LaunchTemplateName=lt,
        LaunchTemplateData={
            "ImageId": "ami-0123456789abcdef0",
            "InstanceType": "t2.micro",
            "SecurityGroupIds": [sg_app],
            "IamInstanceProfile": {"Name": role},
        },
    )
    elb = boto3.client("elbv2", region_name=region)
    lb = elb.create_load_balancer(
        Name=f"{prefix}-alb",
        Subnets=[subnets["public-0"], subnets["public-1"]],
        SecurityGroups=[sg_lb],
        Scheme="internet-facing",
        Type="application",
    )["LoadBalancers"][0]
    tg = elb.create_target_group(
        Name=f"{prefix}-django-tg", Protocol="HTTP", Port=8000, VpcId=vpc, TargetType="instance"
    )["TargetGroups"][0]
    listener = elb.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}],
    )["Listeners"][0]
    autoscaling = boto3.client("autoscaling", region_name=region)
    asg = f"{prefix}-asg"
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=asg,
        LaunchTemplate={"LaunchTemplateName": lt, "Version": "$Default"},
        MinSize=1,
        MaxSize=4,
        DesiredCapacity=1,
        VPCZoneIdentifier=f"{subnets['public-0']},{subnets['public-1']}",
        TargetGroupARNs=[tg["TargetGroupArn"]],
        HealthCheckType="ELB",
        HealthCheckGracePeriod=600,
    )
    autoscaling.put_scaling_policy(
        AutoScalingGroupName=asg,
        # Named per stack: moto keeps policies by name alone, AWS by group and name.
        PolicyName=f"{prefix}-cpu60",
        PolicyType="TargetTrackingScaling",
        TargetTrackingConfiguration={
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
            "TargetValue": 60.0,
        },
    )
    instances = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[asg])["AutoScalingGroups"][0]
    out["fleet"] = {
        "launch_template": lt,
        "autoscaling_group": asg,
        "instances": sorted(i["InstanceId"] for i in instances["Instances"]),
        "load_balancer": lb["LoadBalancerArn"],
        "load_balancer_name": lb["LoadBalancerName"],
        "target_group": tg["TargetGroupArn"],
        "target_group_name": tg["TargetGroupName"],
        "listener": listener["ListenerArn"],
    }

    # Monitoring as the console makes it: a topic mailing the team, an alarm on the
    # fleet's CPU and one on the database's, one on its connections (not one of the
    # tool's), a dashboard, and the log groups RDS makes for the exports (never expire).
    sns = boto3.client("sns", region_name=region)
    cloudwatch = boto3.client("cloudwatch", region_name=region)
    logs = boto3.client("logs", region_name=region)
    topic = sns.create_topic(Name=f"{prefix}-alarms")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="dev-team@example.com")
    alarms = {
        f"{prefix}-cpu-high": ("AWS/EC2", "CPUUtilization", "AutoScalingGroupName", asg, 70.0),
        f"{prefix}-db-cpu": ("AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", db, 75.0),
        f"{prefix}-db-connections": ("AWS/RDS", "DatabaseConnections", "DBInstanceIdentifier", db, 50.0),
    }
    for name, (namespace, metric, dimension, value, threshold) in alarms.items():
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace=namespace,
            MetricName=metric,
            Dimensions=[{"Name": dimension, "Value": value}],
            Statistic="Average",
            Period=300,
            EvaluationPeriods=1,
            Threshold=threshold,
            ComparisonOperator="GreaterThanThreshold",
            AlarmActions=[topic],
        )
    widget = {"type": "metric", "properties": {"metrics": [["AWS/EC2", "CPUUtilization", "AutoScalingGroupName", asg]]}}
    cloudwatch.put_dashboard(DashboardName=f"{prefix}-dashboard", DashboardBody=json.dumps({"widgets": [widget]}))
    log_groups = [f"/aws/rds/instance/{db}/{t}" for t in ("alert", "audit", "listener", "trace")]
    for g in log_groups:
        try:
            logs.create_log_group(logGroupName=g)
        except logs.exceptions.ResourceAlreadyExistsException:
            pass
    out["monitoring"] = {"topic": topic, "alarms": sorted(alarms), "dashboard": f"{prefix}-dashboard", "log_groups": log_groups}

    # The image bucket with a few product images; the log bucket at AWS's defaults.
    config = {"LocationConstraint": region}
    images, logs = f"{prefix}-images", f"{prefix}-logs"
    for b in (images, logs):
        s3.create_bucket(Bucket=b, CreateBucketConfiguration=config)
    for i in range(3):
        s3.put_object(Bucket=images, Key=f"products/{i}.jpg", Body=b"\xff\xd8\xff" + bytes([i]) * 64)
    out["buckets"] = {"images": images, "logs": logs}
    if other_stack:
        other = f"{prefix}-other"
        s3.create_bucket(Bucket=other, CreateBucketConfiguration=config)
        s3.put_bucket_tagging(
            Bucket=other,
            Tagging={"TagSet": [{"Key": "bumarket-infra:stack", "Value": other_stack}]},
        )
        out["buckets"]["other"] = other
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
