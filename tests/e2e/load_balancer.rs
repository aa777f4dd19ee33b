//! End-to-end tests of the load balancer family (target group, load balancer, listeners)
//! on `tests/stacks/load_balancer.yaml`: the network, an empty fleet and a logs bucket
//! around it. Results are checked with the independent client (awscli).
//!
//! Emulator gaps (docs/moto-probe.md, MOTO-NOTES): moto reports a new load balancer
//! `active` at once, so the wait is tested with canned answers in `src/resources/lb/wait.rs`;
//! it does not enforce deletion protection, so the refusal tested here is the tool's own;
//! it never writes access logs, so the bucket policy is checked as a document.

use crate::support::{stack_copy, Cli, Emulator, TempStack};
use serde_json::Value;

const REGION: &str = "ap-northeast-2";
const ACCOUNT: &str = "123456789012";
const FILE: &str = "tests/stacks/load_balancer.yaml";

fn cli(stack: &TempStack) -> Cli {
    Cli::new(Emulator::shared()).args(["-f", stack.path.to_str().unwrap()])
}

fn aws(args: &[&str]) -> Value {
    Emulator::shared().aws(REGION, args)
}

fn apply(stack: &TempStack) {
    cli(stack).args(["apply", "--auto-approve"]).run().success();
}

fn edit(stack: &TempStack, from: &str, to: &str) {
    let text = std::fs::read_to_string(&stack.path).unwrap();
    let edited = text.replacen(from, to, 1);
    assert_ne!(text, edited, "{FILE} no longer holds `{from}`");
    std::fs::write(&stack.path, edited).unwrap();
}

/// ARNs of everything the tagging API lists for the stack.
fn tagged(stack: &TempStack) -> Vec<String> {
    let tag = format!("Key=bumarket-infra:stack,Values={}", stack.name);
    let out = aws(&["resourcegroupstaggingapi", "get-resources", "--tag-filters", &tag]);
    out["ResourceTagMappingList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["ResourceARN"].as_str().unwrap().into())
        .collect()
}

fn load_balancer(stack: &TempStack) -> Value {
    let name = format!("{}-lb", stack.name);
    aws(&["elbv2", "describe-load-balancers", "--names", &name])["LoadBalancers"][0].clone()
}

fn target_group(stack: &TempStack) -> Value {
    let name = format!("{}-app", stack.name);
    aws(&["elbv2", "describe-target-groups", "--names", &name])["TargetGroups"][0].clone()
}

fn listeners(lb: &Value) -> Vec<Value> {
    let arn = lb["LoadBalancerArn"].as_str().unwrap();
    let mut all =
        aws(&["elbv2", "describe-listeners", "--load-balancer-arn", arn])["Listeners"].as_array().unwrap().clone();
    all.sort_by_key(|l| l["Port"].as_i64());
    all
}

fn attributes(lb: &Value) -> serde_json::Map<String, Value> {
    let arn = lb["LoadBalancerArn"].as_str().unwrap();
    let out = aws(&["elbv2", "describe-load-balancer-attributes", "--load-balancer-arn", arn]);
    out["Attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["Key"].as_str().unwrap().into(), a["Value"].clone()))
        .collect()
}

/// Ids of the stack's EC2 resources of one kind whose address starts with `prefix`.
fn ec2_ids(stack: &TempStack, what: &str, prefix: &str) -> Vec<String> {
    let (cmd, list, key) = match what {
        "subnets" => ("describe-subnets", "Subnets", "SubnetId"),
        _ => ("describe-security-groups", "SecurityGroups", "GroupId"),
    };
    let filter = format!("Name=tag:bumarket-infra:stack,Values={}", stack.name);
    let out = aws(&["ec2", cmd, "--filters", &filter]);
    let mut ids: Vec<String> = out[list]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| {
            x["Tags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["Key"] == "bumarket-infra:resource" && t["Value"].as_str().unwrap().starts_with(prefix))
        })
        .map(|x| x[key].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[test]
fn apply_puts_the_load_balancer_in_front_of_the_fleet_and_destroy_removes_it() {
    let stack = stack_copy(FILE, "apply");
    apply(&stack);

    // The load balancer: public, in both public subnets, behind the lb security group.
    let lb = load_balancer(&stack);
    assert_eq!(lb["Scheme"], "internet-facing", "{lb}");
    assert_eq!(lb["Type"], "application");
    let mut subnets: Vec<String> =
        lb["AvailabilityZones"].as_array().unwrap().iter().map(|z| z["SubnetId"].as_str().unwrap().into()).collect();
    subnets.sort();
    assert_eq!(subnets.len(), 2);
    assert_eq!(subnets, ec2_ids(&stack, "subnets", "subnet.public-"));
    assert_eq!(lb["SecurityGroups"], serde_json::json!(ec2_ids(&stack, "groups", "security_group.lb")));

    // The target group: the fleet's port, the file's health check.
    let tg = target_group(&stack);
    assert_eq!((tg["Port"].as_i64(), tg["Protocol"].as_str()), (Some(8000), Some("HTTP")), "{tg}");
    assert_eq!(tg["TargetType"], "instance");
    assert_eq!(tg["HealthCheckPath"], "/health/");
    assert_eq!(tg["HealthCheckIntervalSeconds"], 30);
    assert_eq!(tg["HealthCheckTimeoutSeconds"], 10);
    assert_eq!((tg["HealthyThresholdCount"].as_i64(), tg["UnhealthyThresholdCount"].as_i64()), (Some(2), Some(5)));
    assert_eq!(tg["Matcher"]["HttpCode"], "200-399");

    // One listener on 80, forwarding to the target group.
    let ls = listeners(&lb);
    assert_eq!(ls.len(), 1, "{ls:?}");
    assert_eq!((ls[0]["Port"].as_i64(), ls[0]["Protocol"].as_str()), (Some(80), Some("HTTP")));
    assert_eq!(ls[0]["DefaultActions"][0]["Type"], "forward");
    assert_eq!(ls[0]["DefaultActions"][0]["TargetGroupArn"], tg["TargetGroupArn"]);

    // Access logs into the logs bucket, which lets the region's ELB account write there.
    let logs = format!("{}-logs-{ACCOUNT}-{REGION}", stack.name);
    let attrs = attributes(&lb);
    assert_eq!(attrs["access_logs.s3.enabled"], "true", "{attrs:?}");
    assert_eq!(attrs["access_logs.s3.bucket"], logs.as_str());
    assert_eq!(attrs["access_logs.s3.prefix"], "alb");
    assert_eq!(attrs["routing.http.drop_invalid_header_fields.enabled"], "true");
    assert_eq!(attrs["deletion_protection.enabled"], "false");
    let policy = aws(&["s3api", "get-bucket-policy", "--bucket", &logs]);
    let policy: Value = serde_json::from_str(policy["Policy"].as_str().unwrap()).unwrap();
    let statements = policy["Statement"].as_array().unwrap();
    let delivery = statements.iter().find(|s| s["Sid"] == "AllowLoadBalancerAccessLogs").expect("delivery statement");
    assert_eq!(delivery["Effect"], "Allow");
    // A one-element list or a plain string: both are what was written.
    let one = |v: &Value| v.as_array().map_or(v.clone(), |a| a[0].clone());
    assert_eq!(one(&delivery["Principal"]["AWS"]), "arn:aws:iam::600734575887:root", "{delivery}");
    assert_eq!(one(&delivery["Action"]), "s3:PutObject");
    assert_eq!(one(&delivery["Resource"]), format!("arn:aws:s3:::{logs}/alb/AWSLogs/{ACCOUNT}/*").as_str());

    // Tagged as the stack's; nothing to do on a second look.
    let arn = lb["LoadBalancerArn"].as_str().unwrap();
    let tags = aws(&["elbv2", "describe-tags", "--resource-arns", arn]);
    let tags = tags["TagDescriptions"][0]["Tags"].to_string();
    assert!(tags.contains(r#""Key":"bumarket-infra:resource","Value":"load_balancer.main""#), "{tags}");
    let again = cli(&stack).args(["plan", "--detailed-exitcode"]).run().code_is(0);
    assert!(again.stdout.contains("No changes."), "{}", again.stdout);

    // `output` gives the address clients use.
    let out = cli(&stack).args(["output", "--json"]).run().success();
    let out: Value = serde_json::from_str(&out.stdout).unwrap();
    let dns = lb["DNSName"].as_str().unwrap();
    assert_eq!(out["load_balancer.main"]["url"], format!("http://{dns}/"));
    assert_eq!(out["load_balancer.main"]["dns_name"], dns);

    let run = cli(&stack).args(["destroy", "--auto-approve"]).run().success();
    assert!(run.stderr.contains("Destroy complete"), "{}", run.stderr);
    assert!(tagged(&stack).is_empty(), "{:?}", tagged(&stack));
    let name = format!("{}-lb", stack.name);
    let gone = Emulator::shared().try_aws(REGION, &["elbv2", "describe-load-balancers", "--names", &name]);
    assert!(gone.unwrap_err().contains("LoadBalancerNotFound"));
}

#[test]
fn health_check_and_attributes_change_in_place_and_a_new_app_port_replaces_the_target_group() {
    let stack = stack_copy(FILE, "change");
    apply(&stack);
    let first = target_group(&stack);

    edit(&stack, "path: /health/", "path: /up/");
    edit(&stack, "idle_timeout_seconds: 60", "idle_timeout_seconds: 120");
    let plan = cli(&stack).args(["plan", "--detailed-exitcode"]).run().code_is(2);
    assert!(plan.stdout.contains("~ target_group.app"), "{}", plan.stdout);
    assert!(plan.stdout.contains(r#"health_check.path"#), "{}", plan.stdout);
    assert!(plan.stdout.contains(r#""/health/" -> "/up/""#), "{}", plan.stdout);
    assert!(plan.stdout.contains("~ load_balancer.main"), "{}", plan.stdout);
    assert!(plan.stdout.contains("idle_timeout_seconds") && plan.stdout.contains("60 -> 120"), "{}", plan.stdout);
    assert!(!plan.stdout.contains("-/+"), "nothing is replaced: {}", plan.stdout);
    assert!(plan.stdout.contains("Plan: 0 to add, 2 to change, 0 to destroy."), "{}", plan.stdout);
    apply(&stack);
    let tg = target_group(&stack);
    assert_eq!(tg["TargetGroupArn"], first["TargetGroupArn"], "changed in place");
    assert_eq!(tg["HealthCheckPath"], "/up/");
    assert_eq!(attributes(&load_balancer(&stack))["idle_timeout.timeout_seconds"], "120");
    cli(&stack).args(["plan", "--detailed-exitcode"]).run().code_is(0);

    // A new port needs a new target group; the listener and the fleet move over to it.
    edit(&stack, "app_port: 8000", "app_port: 9000");
    let plan = cli(&stack).args(["plan"]).run().success();
    assert!(plan.stdout.contains("-/+ target_group.app"), "{}", plan.stdout);
    assert!(plan.stdout.contains("8000 -> 9000   (forces replacement)"), "{}", plan.stdout);
    apply(&stack);
    let tg = target_group(&stack);
    assert_ne!(tg["TargetGroupArn"], first["TargetGroupArn"]);
    assert_eq!(tg["Port"], 9000);
    let ls = listeners(&load_balancer(&stack));
    assert_eq!(ls[0]["DefaultActions"][0]["TargetGroupArn"], tg["TargetGroupArn"], "{ls:?}");
    let group = format!("{}-app", stack.name);
    let asg = aws(&["autoscaling", "describe-auto-scaling-groups", "--auto-scaling-group-names", &group]);
    assert_eq!(asg["AutoScalingGroups"][0]["TargetGroupARNs"], serde_json::json!([tg["TargetGroupArn"]]));
    cli(&stack).args(["plan", "--detailed-exitcode"]).run().code_is(0);
    cli(&stack).args(["destroy", "--auto-approve"]).run().success();
    assert!(tagged(&stack).is_empty());
}

#[test]
fn deletion_protection_refuses_destroy_until_the_file_lifts_it() {
    let stack = stack_copy(FILE, "protect");
    edit(&stack, "deletion_protection: false", "deletion_protection: true");
    apply(&stack);
    assert_eq!(attributes(&load_balancer(&stack))["deletion_protection.enabled"], "true");
    let before = tagged(&stack).len();

    let run = cli(&stack).args(["destroy", "--auto-approve"]).run().code_is(1);
    assert!(run.stderr.contains("has deletion protection on"), "{}", run.stderr);
    assert!(run.stderr.contains("set `deletion_protection: false`"), "{}", run.stderr);
    assert_eq!(tagged(&stack).len(), before, "nothing may be deleted");

    edit(&stack, "deletion_protection: true", "deletion_protection: false");
    apply(&stack);
    cli(&stack).args(["destroy", "--auto-approve"]).run().success();
    assert!(tagged(&stack).is_empty());
}

#[test]
fn with_a_certificate_https_forwards_and_http_redirects_to_it() {
    let stack = stack_copy(FILE, "https");
    // Issued at once, as ACM issues a private CA's certificates (a public one waits for
    // its validation, and the plan's preflight stops on it: see tests/e2e/preflight.rs).
    let cert = aws(&[
        "acm",
        "request-certificate",
        "--domain-name",
        "shop.example.com",
        "--certificate-authority-arn",
        "arn:aws:acm-pca:ap-northeast-2:123456789012:certificate-authority/11111111-2222-3333-4444-555555555555",
    ]);
    let cert = cert["CertificateArn"].as_str().unwrap();
    edit(&stack, "  listen_port: 80\n", &format!("  certificate_arn: {cert}\n"));
    apply(&stack);

    let lb = load_balancer(&stack);
    let tg = target_group(&stack);
    let ls = listeners(&lb);
    assert_eq!(ls.len(), 2, "{ls:?}");
    let (http, https) = (&ls[0], &ls[1]);
    assert_eq!((https["Port"].as_i64(), https["Protocol"].as_str()), (Some(443), Some("HTTPS")));
    assert_eq!(https["Certificates"][0]["CertificateArn"], cert);
    assert_eq!(https["SslPolicy"], "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09");
    assert_eq!(https["DefaultActions"][0]["TargetGroupArn"], tg["TargetGroupArn"]);
    assert_eq!((http["Port"].as_i64(), http["Protocol"].as_str()), (Some(80), Some("HTTP")));
    let redirect = &http["DefaultActions"][0];
    assert_eq!(redirect["Type"], "redirect", "{redirect}");
    let config = &redirect["RedirectConfig"];
    assert_eq!((config["Protocol"].as_str(), config["Port"].as_str()), (Some("HTTPS"), Some("443")));
    assert_eq!(config["StatusCode"], "HTTP_301");

    cli(&stack).args(["plan", "--detailed-exitcode"]).run().code_is(0);
    let out = cli(&stack).args(["output", "--json"]).run().success();
    let out: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(out["load_balancer.main"]["url"], format!("https://{}/", lb["DNSName"].as_str().unwrap()));
    cli(&stack).args(["destroy", "--auto-approve"]).run().success();
    assert!(tagged(&stack).is_empty());
}

#[test]
fn a_target_group_that_is_not_ours_is_never_touched() {
    let stack = stack_copy(FILE, "foreign");
    let vpc = aws(&["ec2", "create-vpc", "--cidr-block", "10.9.0.0/16"])["Vpc"]["VpcId"].as_str().unwrap().to_string();
    let name = format!("{}-app", stack.name);
    let args =
        ["elbv2", "create-target-group", "--name", &name, "--protocol", "HTTP", "--port", "8000", "--vpc-id", &vpc];
    let arn = aws(&args)["TargetGroups"][0]["TargetGroupArn"].as_str().unwrap().to_string();

    let run = cli(&stack).args(["plan"]).run().code_is(1);
    assert!(run.stderr.contains(&format!("`target_group.app` wants the name `{name}`")), "{}", run.stderr);
    assert!(run.stderr.contains("the target group exists without the tag"), "{}", run.stderr);
    cli(&stack).args(["apply", "--auto-approve"]).run().code_is(1);
    assert!(tagged(&stack).is_empty(), "nothing of the stack is created");
    aws(&["elbv2", "describe-target-groups", "--target-group-arns", &arn]);
    aws(&["elbv2", "delete-target-group", "--target-group-arn", &arn]);
    aws(&["ec2", "delete-vpc", "--vpc-id", &vpc]);
}
