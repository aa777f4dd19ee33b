//! End-to-end tests of the monitoring family (topic, e-mail subscriptions, log groups,
//! alarms, dashboard) on `tests/stacks/monitoring.yaml`, and on a copy with a network,
//! an empty fleet and a load balancer appended so the fleet and load balancer alarms
//! exist. Results are checked with the independent client (awscli).
//!
//! Emulator gaps (MOTO-NOTES): moto 5.2.5 does not speak CloudWatch's rpc-v2-cbor, the
//! protocol of the AWS SDK for Rust: the test bed translates it (scripts/moto_serve.py,
//! `cloudwatch_cbor`), and the alarm and dashboard reads are also tested with canned
//! answers in `src/resources/monitoring/tests.rs`. moto confirms e-mail subscriptions at
//! once, so the pending state AWS shows until someone clicks is not seen here (a pending
//! subscription reads as existing by the same code path, with `PendingConfirmation` as
//! its id); alarms start `OK` and never fire, so only their definitions are checked.

use crate::support::{stack_copy, Cli, Emulator, TempStack};
use serde_json::Value;

const REGION: &str = "ap-northeast-2";
const FILE: &str = "tests/stacks/monitoring.yaml";

/// What the alarms watch, appended to a copy of the file.
const WATCHED: &str = "
network:
  cidr: 10.0.0.0/16
  availability_zones: [ap-northeast-2a, ap-northeast-2c]
  public_subnets: [10.0.0.0/24, 10.0.1.0/24]
fleet:
  instance_type: t3.micro
  app_port: 8000
  min_size: 0
  desired_capacity: 0
  max_size: 1
load_balancer:
  listen_port: 80
  deletion_protection: false
";

fn cli(stack: &TempStack) -> Cli {
    Cli::new(Emulator::shared()).args(["-f", stack.path.to_str().unwrap()])
}

fn aws(args: &[&str]) -> Value {
    Emulator::shared().aws(REGION, args)
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

fn log_group(stack: &TempStack) -> Value {
    let name = format!("/bumarket-infra/{}/app", stack.name);
    let out = aws(&["logs", "describe-log-groups", "--log-group-name-prefix", &name]);
    out["logGroups"][0].clone()
}

fn alarms(stack: &TempStack) -> Vec<Value> {
    let prefix = format!("{}-", stack.name);
    aws(&["cloudwatch", "describe-alarms", "--alarm-name-prefix", &prefix])["MetricAlarms"].as_array().unwrap().clone()
}

#[test]
fn apply_makes_topic_subscription_log_group_and_dashboard_and_reverts_drift() {
    let stack = stack_copy(FILE, "apply");
    cli(&stack).args(["apply", "--auto-approve"]).run().success();

    // The topic and the team's subscription to it.
    let topic = tagged(&stack).into_iter().find(|a| a.contains(":sns:")).expect("tagged topic");
    assert!(topic.ends_with(&format!(":{}-alerts", stack.name)), "{topic}");
    let subs = aws(&["sns", "list-subscriptions-by-topic", "--topic-arn", &topic])["Subscriptions"].clone();
    let subs = subs.as_array().unwrap();
    assert_eq!(subs.len(), 1, "{subs:?}");
    assert_eq!((subs[0]["Protocol"].as_str(), subs[0]["Endpoint"].as_str()), (Some("email"), Some("ops@shop.example")));

    // The app's log group keeps 180 days.
    assert_eq!(log_group(&stack)["retentionInDays"], 180);

    // The dashboard: the file has no fleet, load balancer or database, so no graph.
    let dash = aws(&["cloudwatch", "get-dashboard", "--dashboard-name", &stack.name]);
    let body: Value = serde_json::from_str(dash["DashboardBody"].as_str().unwrap()).unwrap();
    assert_eq!(body, serde_json::json!({"widgets": []}));
    assert!(alarms(&stack).is_empty(), "nothing to watch");
    cli(&stack).args(["plan", "--detailed-exitcode"]).run().code_is(0);

    // Retention changed outside the tool shows in the plan and apply puts it back.
    let name = format!("/bumarket-infra/{}/app", stack.name);
    aws(&["logs", "put-retention-policy", "--log-group-name", &name, "--retention-in-days", "30"]);
    let plan = cli(&stack).args(["plan", "--detailed-exitcode"]).run().code_is(2);
    assert!(plan.stdout.contains("~ log_group.app"), "{}", plan.stdout);
    assert!(plan.stdout.contains("30 -> 180"), "{}", plan.stdout);
    cli(&stack).args(["apply", "--auto-approve"]).run().success();
    assert_eq!(log_group(&stack)["retentionInDays"], 180);

    // A new address replaces the subscription; no duplicate of the unchanged one.
    let text = std::fs::read_to_string(&stack.path).unwrap();
    std::fs::write(&stack.path, text.replace("[ops@shop.example]", "[ops@shop.example, oncall@shop.example]")).unwrap();
    cli(&stack).args(["apply", "--auto-approve"]).run().success();
    let text = std::fs::read_to_string(&stack.path).unwrap();
    std::fs::write(&stack.path, text.replace("oncall@", "pager@")).unwrap();
    let plan = cli(&stack).args(["plan"]).run().success();
    assert!(plan.stdout.contains("Plan: 1 to add, 0 to change, 1 to destroy."), "{}", plan.stdout);
    cli(&stack).args(["apply", "--auto-approve"]).run().success();
    let subs = aws(&["sns", "list-subscriptions-by-topic", "--topic-arn", &topic])["Subscriptions"].clone();
    let mut endpoints: Vec<&str> = subs.as_array().unwrap().iter().map(|s| s["Endpoint"].as_str().unwrap()).collect();
    endpoints.sort();
    assert_eq!(endpoints, ["ops@shop.example", "pager@shop.example"]);
    cli(&stack).args(["plan", "--detailed-exitcode"]).run().code_is(0);

    cli(&stack).args(["destroy", "--auto-approve"]).run().success();
    assert!(tagged(&stack).is_empty(), "{:?}", tagged(&stack));
    let gone = Emulator::shared().try_aws(REGION, &["cloudwatch", "get-dashboard", "--dashboard-name", &stack.name]);
    assert!(gone.unwrap_err().contains("ResourceNotFound"));
    assert!(log_group(&stack).is_null());
}

#[test]
fn alarms_watch_the_fleet_and_load_balancer_and_notify_the_topic() {
    let stack = stack_copy(FILE, "alarms");
    let text = std::fs::read_to_string(&stack.path).unwrap();
    std::fs::write(&stack.path, format!("{text}{WATCHED}")).unwrap();
    cli(&stack).args(["apply", "--auto-approve"]).run().success();

    let topic = tagged(&stack).into_iter().find(|a| a.contains(":sns:")).expect("tagged topic");
    let all = alarms(&stack);
    let mut names: Vec<&str> = all.iter().map(|a| a["AlarmName"].as_str().unwrap()).collect();
    names.sort();
    let want = |l: &str| format!("{}-{l}", stack.name);
    assert_eq!(names, [want("fleet-cpu"), want("http-5xx"), want("unhealthy-hosts")], "{all:?}");
    let by = |l: &str| all.iter().find(|a| a["AlarmName"] == want(l).as_str()).unwrap().clone();
    let cpu = by("fleet-cpu");
    assert_eq!((cpu["Namespace"].as_str(), cpu["MetricName"].as_str()), (Some("AWS/EC2"), Some("CPUUtilization")));
    assert_eq!((cpu["Threshold"].as_f64(), cpu["Period"].as_i64()), (Some(60.0), Some(300)));
    assert_eq!(cpu["EvaluationPeriods"], 2);
    assert_eq!(cpu["ComparisonOperator"], "GreaterThanThreshold");
    assert_eq!(cpu["AlarmActions"], serde_json::json!([topic]));
    assert_eq!(cpu["Dimensions"][0]["Value"], format!("{}-app", stack.name).as_str());

    // The load balancer's alarms name it and its target group by their ARN suffixes.
    let hosts = by("unhealthy-hosts");
    let dims: Vec<String> = hosts["Dimensions"].as_array().unwrap().iter().map(|d| d["Value"].to_string()).collect();
    assert!(dims.iter().any(|d| d.starts_with("\"targetgroup/")), "{dims:?}");
    assert!(dims.iter().any(|d| d.starts_with("\"app/")), "{dims:?}");
    assert_eq!(by("http-5xx")["TreatMissingData"], "notBreaching");

    // Graphs of the fleet and the load balancer, the latter by its ARN suffix.
    let dash = aws(&["cloudwatch", "get-dashboard", "--dashboard-name", &stack.name]);
    let body = dash["DashboardBody"].as_str().unwrap();
    assert!(body.contains("NetworkOut") && body.contains("RequestCount"), "{body}");
    assert!(body.contains("\"app/") && !body.contains("load_balancer.main"), "{body}");
    cli(&stack).args(["plan", "--detailed-exitcode"]).run().code_is(0);

    // A threshold changed outside is put back.
    let name = want("fleet-cpu");
    let group = format!("Name=AutoScalingGroupName,Value={}-app", stack.name);
    let args = [
        "cloudwatch",
        "put-metric-alarm",
        "--alarm-name",
        &name,
        "--namespace",
        "AWS/EC2",
        "--metric-name",
        "CPUUtilization",
        "--statistic",
        "Average",
        "--period",
        "300",
        "--evaluation-periods",
        "2",
        "--threshold",
        "90",
        "--comparison-operator",
        "GreaterThanThreshold",
        "--dimensions",
        &group,
        "--alarm-actions",
        &topic,
        "--datapoints-to-alarm",
        "2",
    ];
    aws(&args);
    let plan = cli(&stack).args(["plan", "--detailed-exitcode"]).run().code_is(2);
    assert!(plan.stdout.contains("~ alarm.fleet-cpu"), "{}", plan.stdout);
    cli(&stack).args(["apply", "--auto-approve"]).run().success();
    assert_eq!(by_name(&stack, &name)["Threshold"], 60.0);
    cli(&stack).args(["plan", "--detailed-exitcode"]).run().code_is(0);

    cli(&stack).args(["destroy", "--auto-approve"]).run().success();
    assert!(tagged(&stack).is_empty(), "{:?}", tagged(&stack));
    assert!(alarms(&stack).is_empty());
}

fn by_name(stack: &TempStack, name: &str) -> Value {
    alarms(stack).into_iter().find(|a| a["AlarmName"] == name).unwrap()
}
