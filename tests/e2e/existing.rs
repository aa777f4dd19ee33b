//! End-to-end test of `existing:` and `network: existing`: a VPC, four subnets, an
//! internet gateway and a route table made by hand with awscli (as another team would),
//! looked up by name and tags, by id and by `Name`; the stack puts its groups, load
//! balancer, fleet and database in them. Beside them, what another team owns
//! (tests/shared_account.py): a KMS key the stack's bucket encrypts with, an imported
//! certificate its HTTPS listener serves, a hosted zone and a role, looked up by name. The plan lists what each lookup resolved to;
//! apply and destroy never touch the hand-made network (checked with awscli: the same
//! tags, routes and associations before, between and after). A lookup that matches two
//! VPCs is refused at its line, listing both, before anything is written.

use crate::support::{stack_copy, Cli, Emulator, TempStack};
use serde_json::{json, Value};

const REGION: &str = "ap-northeast-2";

fn aws(args: &[&str]) -> Value {
    Emulator::shared().aws(REGION, args)
}

fn cli(stack: &TempStack) -> Cli {
    Cli::new(Emulator::shared()).args(["-f", stack.path.to_str().unwrap()])
}

fn tags(name: &str, team: &str) -> String {
    format!("ResourceType=vpc,Tags=[{{Key=Name,Value={name}}},{{Key=team,Value={team}}}]")
}

/// A hand-made VPC named `name` with a gateway, a route table and subnets in 2a and 2c
/// (public and private): (vpc id, [public-a, public-c, private-a, private-c]).
fn hand_made(name: &str) -> (String, Vec<String>) {
    let vpc = aws(&["ec2", "create-vpc", "--cidr-block", "10.9.0.0/16", "--tag-specifications", &tags(name, "web")]);
    let vpc = vpc["Vpc"]["VpcId"].as_str().unwrap().to_string();
    let mut subnets = Vec::new();
    for (tier, zone, cidr) in [
        ("public", "a", "10.9.0.0/24"),
        ("public", "c", "10.9.1.0/24"),
        ("private", "a", "10.9.10.0/24"),
        ("private", "c", "10.9.11.0/24"),
    ] {
        let spec = format!("ResourceType=subnet,Tags=[{{Key=Name,Value={name}-{tier}-{zone}}}]");
        let az = format!("{REGION}{zone}");
        let s = aws(&[
            "ec2",
            "create-subnet",
            "--vpc-id",
            &vpc,
            "--cidr-block",
            cidr,
            "--availability-zone",
            &az,
            "--tag-specifications",
            &spec,
        ]);
        subnets.push(s["Subnet"]["SubnetId"].as_str().unwrap().to_string());
    }
    let igw = aws(&["ec2", "create-internet-gateway"]);
    let igw = igw["InternetGateway"]["InternetGatewayId"].as_str().unwrap().to_string();
    aws(&["ec2", "attach-internet-gateway", "--internet-gateway-id", &igw, "--vpc-id", &vpc]);
    let rt = aws(&["ec2", "create-route-table", "--vpc-id", &vpc]);
    let rt = rt["RouteTable"]["RouteTableId"].as_str().unwrap().to_string();
    aws(&[
        "ec2",
        "create-route",
        "--route-table-id",
        &rt,
        "--destination-cidr-block",
        "0.0.0.0/0",
        "--gateway-id",
        &igw,
    ]);
    for s in &subnets[..2] {
        aws(&["ec2", "associate-route-table", "--route-table-id", &rt, "--subnet-id", s]);
    }
    (vpc, subnets)
}

/// Everything AWS says about the hand-made network, as one value to compare over time.
fn network_of(vpc: &str) -> Value {
    let by_vpc = format!("Name=vpc-id,Values={vpc}");
    let by_attachment = format!("Name=attachment.vpc-id,Values={vpc}");
    let sorted = |mut v: Value, key: &str, id: &str| {
        let list = v[key].as_array_mut().unwrap();
        list.sort_by_key(|x| x[id].as_str().unwrap_or_default().to_string());
        v[key].clone()
    };
    serde_json::json!({
        "vpc": aws(&["ec2", "describe-vpcs", "--vpc-ids", vpc])["Vpcs"],
        "subnets": sorted(aws(&["ec2", "describe-subnets", "--filters", &by_vpc]), "Subnets", "SubnetId"),
        "gateways": aws(&["ec2", "describe-internet-gateways", "--filters", &by_attachment])["InternetGateways"],
        "route_tables": sorted(aws(&["ec2", "describe-route-tables", "--filters", &by_vpc]), "RouteTables", "RouteTableId"),
    })
}

fn without_counts(mut v: Value) -> Value {
    // Free addresses drop while the load balancer and database have interfaces there.
    for s in v["subnets"].as_array_mut().unwrap() {
        s.as_object_mut().unwrap().remove("AvailableIpAddressCount");
    }
    v
}

#[test]
fn a_stack_inside_a_hand_made_vpc_uses_it_and_never_changes_it() {
    let stack = stack_copy("tests/stacks/existing.yaml", "vpc");
    let shared = format!("shared-{}", stack.name);
    let (vpc, subnets) = hand_made(&shared);
    let owned = Emulator::shared().python("tests/shared_account.py", &[&shared, REGION]);
    let text = std::fs::read_to_string(&stack.path).unwrap();
    let text = text
        .replace("SHARED", &shared)
        .replace("PUBLIC_A", &subnets[0])
        .replace("PRIVATE_A", &subnets[2])
        .replace("PRIVATE_C", &subnets[3]);
    std::fs::write(&stack.path, &text).unwrap();
    let before = without_counts(network_of(&vpc));

    // What each lookup found, apart from the changes; nothing of the network to make.
    let plan = cli(&stack).args(["plan"]).run().success();
    assert!(plan.stdout.contains("Uses, never changes (`existing:`):"), "{}", plan.stdout);
    assert!(
        plan.stdout.contains(&format!("existing.vpc                 {vpc} ({shared}, 10.9.0.0/16)")),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains(&format!(
            "existing.public_subnets[1]   {} ({shared}-public-c, {REGION}c, 10.9.1.0/24)",
            subnets[1]
        )),
        "{}",
        plan.stdout
    );
    for (key, id) in [("hosted_zone", "zone"), ("certificate", "certificate"), ("kms_key", "key"), ("role", "role")] {
        let line = plan.stdout.lines().find(|l| l.trim_start().starts_with(&format!("existing.{key} ")));
        let line = line.unwrap_or_else(|| panic!("no `existing.{key}`:\n{}", plan.stdout));
        assert!(line.contains(owned[id].as_str().unwrap()), "{line}");
    }
    assert!(plan.stdout.contains(&format!("instance profile {shared}-ops")), "{}", plan.stdout);
    for kind in ["vpc.", "subnet.", "internet_gateway.", "route_table."] {
        assert!(!plan.stdout.contains(&format!("+ {kind}")), "{kind} planned:\n{}", plan.stdout);
    }

    cli(&stack).args(["apply", "--auto-approve"]).run().success();
    let plan = cli(&stack).args(["plan", "--detailed-exitcode"]).run().success();
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);

    // The rest of the stack stands in the hand-made network.
    let lb = aws(&["elbv2", "describe-load-balancers", "--names", &format!("{}-lb", stack.name)]);
    let lb = &lb["LoadBalancers"][0];
    assert_eq!(lb["VpcId"], vpc.as_str());
    let mut lb_subnets: Vec<&str> =
        lb["AvailabilityZones"].as_array().unwrap().iter().map(|z| z["SubnetId"].as_str().unwrap()).collect();
    lb_subnets.sort();
    let mut public = vec![subnets[0].as_str(), subnets[1].as_str()];
    public.sort();
    assert_eq!(lb_subnets, public);
    let groups = aws(&[
        "ec2",
        "describe-security-groups",
        "--filters",
        &format!("Name=tag:bumarket-infra:stack,Values={}", stack.name),
    ]);
    let groups = groups["SecurityGroups"].as_array().unwrap();
    assert_eq!(groups.len(), 3, "{groups:?}");
    assert!(groups.iter().all(|g| g["VpcId"] == vpc.as_str()), "{groups:?}");
    let db = aws(&["rds", "describe-db-subnet-groups", "--db-subnet-group-name", &format!("{}-db", stack.name)]);
    let mut db_subnets: Vec<&str> = db["DBSubnetGroups"][0]["Subnets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["SubnetIdentifier"].as_str().unwrap())
        .collect();
    db_subnets.sort();
    let mut private = vec![subnets[2].as_str(), subnets[3].as_str()];
    private.sort();
    assert_eq!(db_subnets, private);
    assert_eq!(without_counts(network_of(&vpc)), before, "apply changed the hand-made network");
    // The shared certificate on the HTTPS listener, the shared key on the bucket.
    let listeners =
        aws(&["elbv2", "describe-listeners", "--load-balancer-arn", lb["LoadBalancerArn"].as_str().unwrap()]);
    let https = listeners["Listeners"].as_array().unwrap().iter().find(|l| l["Port"] == 443).expect("a 443 listener");
    assert_eq!(https["Protocol"], "HTTPS");
    assert_eq!(https["Certificates"][0]["CertificateArn"], owned["certificate"]);
    let bucket = format!("{}-images-123456789012-{REGION}", stack.name);
    let sse = aws(&["s3api", "get-bucket-encryption", "--bucket", &bucket]);
    let rule = &sse["ServerSideEncryptionConfiguration"]["Rules"][0]["ApplyServerSideEncryptionByDefault"];
    assert_eq!(rule["SSEAlgorithm"], "aws:kms");
    assert_eq!(rule["KMSMasterKeyID"], owned["key"]);
    // The fleet's instances carry the shared role's instance profile; the role is as it was.
    let template = format!("{}-app", stack.name);
    let versions = aws(&["ec2", "describe-launch-template-versions", "--launch-template-name", &template]);
    let data = &versions["LaunchTemplateVersions"][0]["LaunchTemplateData"];
    assert_eq!(data["IamInstanceProfile"]["Name"], format!("{shared}-ops"), "{data}");
    let inline = aws(&["iam", "list-role-policies", "--role-name", &format!("{shared}-ops")]);
    assert_eq!(inline["PolicyNames"], json!([]), "the shared role was given a policy");

    cli(&stack).args(["destroy", "--auto-approve"]).run().success();
    // What the lookups found is still there.
    aws(&["kms", "describe-key", "--key-id", owned["key"].as_str().unwrap()]);
    aws(&["acm", "describe-certificate", "--certificate-arn", owned["certificate"].as_str().unwrap()]);
    aws(&["route53", "get-hosted-zone", "--id", owned["zone"].as_str().unwrap()]);
    aws(&["iam", "get-role", "--role-name", &format!("{shared}-ops")]);
    let groups = aws(&[
        "ec2",
        "describe-security-groups",
        "--filters",
        &format!("Name=tag:bumarket-infra:stack,Values={}", stack.name),
    ]);
    assert_eq!(groups["SecurityGroups"].as_array().unwrap().len(), 0);
    assert_eq!(without_counts(network_of(&vpc)), before, "destroy changed the hand-made network");
}

#[test]
fn a_lookup_matching_two_vpcs_is_refused_at_its_line_listing_both() {
    let stack = stack_copy("tests/stacks/existing.yaml", "two");
    let shared = format!("shared-{}", stack.name);
    let (first, subnets) = hand_made(&shared);
    let (second, _) = hand_made(&shared);
    // A role without an instance profile: the fleet cannot carry it.
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    let bare = format!("{shared}-bare");
    aws(&["iam", "create-role", "--role-name", &bare, "--assume-role-policy-document", &trust.to_string()]);
    let text = std::fs::read_to_string(&stack.path).unwrap();
    let text = text
        .replace("SHARED-ops", &bare)
        .replace("SHARED-public-c", &format!("{shared}-public-c"))
        .replace("{name: SHARED, tags: {team: web}}", &format!("{{name: {shared}}}"))
        .replace("PUBLIC_A", &subnets[0])
        .replace("PRIVATE_A", &subnets[2])
        .replace("PRIVATE_C", &subnets[3]);
    std::fs::write(&stack.path, &text).unwrap();
    let run = cli(&stack).args(["apply", "--auto-approve"]).run().code_is(1);
    assert!(run.stderr.contains("`existing.vpc`: 2 VPCs match name "), "{}", run.stderr);
    assert!(run.stderr.contains(&first) && run.stderr.contains(&second), "{}", run.stderr);
    assert!(run.stderr.contains("existing.yaml:10:8"), "{}", run.stderr);
    assert!(run.stderr.contains("has no instance profile"), "{}", run.stderr);
    assert!(run.stderr.contains("existing.yaml:24:18"), "{}", run.stderr);
    assert!(run.stderr.contains("nothing was changed"), "{}", run.stderr);
    let groups = aws(&[
        "ec2",
        "describe-security-groups",
        "--filters",
        &format!("Name=tag:bumarket-infra:stack,Values={}", stack.name),
    ]);
    assert_eq!(groups["SecurityGroups"].as_array().unwrap().len(), 0);
}
