//! `bumarket-infra permissions`: the IAM policy a CI role needs for a stack file.
//!
//! One source of truth: every provider declares the AWS calls it makes
//! ([`Provider::calls`](crate::resources::Provider::calls)), beside the code that makes
//! them, and so do the few calls outside providers ([`CORE_READS`], the lock's
//! [`LOCK_WRITES`], the preflight's reads). The policy is built from those declarations
//! only. Under `BUMARKET_INFRA_CHECK_CALLS=1` (set by the test suite for every run) each
//! command ends by comparing the calls it actually made with the policy it would print
//! and fails naming any call missing from it, so every path the tests take (creates,
//! updates, deletes, waits, failures) proves the declarations complete.
//!
//! From calls to IAM actions (Service Authorization Reference,
//! <https://docs.aws.amazon.com/service-authorization/latest/reference/>): an operation's
//! action is mostly its own name under the service's prefix; S3 names several actions
//! differently from its operations ([`s3_action`]); `sts:GetCallerIdentity` needs no
//! permission ("No permissions are required to perform this operation", STS API
//! Reference); and some calls need more than their own action ("dependent actions",
//! [`dependent`]).
//!
//! Scope: the plan policy is read-only and covers the reads of every kind (a plan must
//! find what the stack owns even of kinds the file no longer has); most read actions take
//! no resource-level permissions, so they are granted on `*`. The apply policy adds the
//! writes of the kinds in the file, each service's writes limited to the ARNs the stack's
//! names fix in advance ([`Provider::arns`](crate::resources::Provider::arns): buckets,
//! IAM paths, topics, log groups, streams, alarms, dashboards, load balancers, Auto
//! Scaling groups). EC2, RDS and Cloud9 name resources by ids (or, for RDS, also check
//! AWS's default option and parameter groups), so their writes are granted on `*`.

use crate::resources::{self, Cx, Registry};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// What the policy is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Phase {
    /// `plan` and `output`: read-only.
    Plan,
    /// `apply`, `destroy` and `force-unlock` (plan's reads included).
    Apply,
}

/// Calls every command makes whatever the stack holds: who the caller is (STS), wave
/// one's listings (the tagging API, IAM under the stack's path and by the file's names)
/// and the fleet image's SSM parameter; and the cost estimate's prices (the Price List
/// Query API: without it the estimate uses the shipped table and says so).
pub const CORE_READS: &[&str] = &[
    "sts:GetCallerIdentity",
    "pricing:GetProducts",
    "tag:GetResources",
    "ssm:GetParameter",
    "iam:ListRoles",
    "iam:ListInstanceProfiles",
    "iam:ListGroups",
    "iam:GetRole",
    "iam:GetInstanceProfile",
    "iam:GetGroup",
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:ListGroupPolicies",
    "iam:GetGroupPolicy",
    "iam:ListAttachedGroupPolicies",
];

/// The lock's calls (`aws::lock`): the lock bucket made on first use, the lock object
/// written, read and deleted. Only writers take the lock.
pub const LOCK_WRITES: &[&str] = &[
    "s3:HeadBucket",
    "s3:CreateBucket",
    "s3:PutBucketEncryption",
    "s3:PutPublicAccessBlock",
    "s3:PutBucketLifecycleConfiguration",
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
];

/// Services whose writes are limited to the ARNs the stack's kinds declare.
const SCOPED: &[&str] = &["s3", "iam", "sns", "logs", "firehose", "cloudwatch", "elasticloadbalancing", "autoscaling"];

/// Write actions of scoped services that take no resource-level permission (the
/// Service Authorization Reference lists no resource type for them): granted on `*`.
const UNSCOPED: &[&str] = &["sns:Unsubscribe"];

/// The IAM prefix of a service as the SDK names it in its operation metadata.
/// (`Auto Scaling`, `Elastic Load Balancing v2`; spaces and case do not matter).
pub fn prefix(sdk_service: &str) -> String {
    let name: String = sdk_service.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
    match name.as_str() {
        "elasticloadbalancingv2" => "elasticloadbalancing".into(),
        "cloudwatchlogs" => "logs".into(),
        "resourcegroupstaggingapi" => "tag".into(),
        _ => name,
    }
}

/// The S3 action an S3 operation needs, where S3 names it otherwise (Service
/// Authorization Reference, "Actions defined by Amazon S3", and the S3 API Reference's
/// "Permissions" section of each operation).
fn s3_action(operation: &str) -> &str {
    match operation {
        "HeadBucket" | "ListObjectsV2" => "ListBucket",
        // S3 API Reference, ListBuckets: "you must add the s3:ListAllMyBuckets policy action".
        "ListBuckets" => "ListAllMyBuckets",
        "ListObjectVersions" => "ListBucketVersions",
        "GetBucketEncryption" => "GetEncryptionConfiguration",
        "PutBucketEncryption" => "PutEncryptionConfiguration",
        "GetBucketLifecycleConfiguration" => "GetLifecycleConfiguration",
        "PutBucketLifecycleConfiguration" | "DeleteBucketLifecycle" => "PutLifecycleConfiguration",
        "GetPublicAccessBlock" => "GetBucketPublicAccessBlock",
        "PutPublicAccessBlock" => "PutBucketPublicAccessBlock",
        // DeleteObjects deletes versions too when emptying a versioned bucket.
        "DeleteObjects" => "DeleteObject",
        other => other,
    }
}

/// The IAM actions a declared call (`service:Operation`) needs by itself.
fn actions_of(call: &str) -> Vec<String> {
    let (service, operation) = call.split_once(':').expect("calls are `service:Operation`");
    match (service, operation) {
        ("sts", "GetCallerIdentity") => vec![],
        ("s3", "DeleteObjects") => vec!["s3:DeleteObject".into(), "s3:DeleteObjectVersion".into()],
        // S3 API Reference, CreateBucketConfiguration.Tags: "You must have the
        // s3:TagResource permission to create a general purpose bucket with tags".
        ("s3", "CreateBucket") => vec!["s3:CreateBucket".into(), "s3:TagResource".into()],
        ("s3", op) => vec![format!("s3:{}", s3_action(op))],
        ("ssm", "GetParameter") => vec!["ssm:GetParameters".into(), "ssm:GetParameter".into()],
        _ => vec![call.to_string()],
    }
}

/// The ARNs (patterns) of the role `existing.role` looks up, when the fleet uses it.
fn existing_role_arns(cx: &Cx) -> Option<Vec<String>> {
    let fleet_role = cx.stack.fleet.as_ref()?.instance_role.as_deref()?;
    let lookup = cx.stack.existing.as_ref()?.role.as_ref()?;
    if fleet_role != bumarket_stack::EXISTING_ROLE {
        return None;
    }
    let p = cx.partition();
    Some(match (&lookup.id, &lookup.name) {
        (Some(arn), _) => vec![arn.clone()],
        (None, Some(name)) => vec![format!("arn:{p}:iam::*:role/{name}"), format!("arn:{p}:iam::*:role/*/{name}")],
        (None, None) => vec![],
    })
}

/// One statement of a policy, before it is written out.
#[derive(Debug, Clone)]
struct Statement {
    sid: String,
    actions: BTreeSet<String>,
    resources: Vec<String>,
    condition: Option<Value>,
}

/// Actions a call needs beyond its own (the reference's "Dependent actions", and the
/// user guides' permission pages), with the resources they act on.
fn dependent(call: &str, cx: &Cx) -> Vec<Statement> {
    let p = cx.partition();
    let region = cx.region();
    let one = |sid: &str, actions: &[&str], resources: Vec<String>, condition: Option<Value>| Statement {
        sid: sid.into(),
        actions: actions.iter().map(|a| a.to_string()).collect(),
        resources,
        condition,
    };
    let pass_stack_roles =
        || one("PassTheStacksRoles", &["iam:PassRole"], vec![format!("arn:{p}:iam::*:role{}*", cx.iam_path())], None);
    let service_linked = |service: &str| {
        // The first load balancer, Auto Scaling group, database or Cloud9 environment of
        // an account makes the service's linked role (each service's "Using
        // service-linked roles" page); `iam:AWSServiceName` limits it to that service.
        one(
            "ServiceLinkedRoles",
            &["iam:CreateServiceLinkedRole"],
            vec![format!("arn:{p}:iam::*:role/aws-service-role/*")],
            Some(json!({"StringEquals": {"iam:AWSServiceName": [service]}})),
        )
    };
    match call {
        // Amazon EC2 Auto Scaling User Guide, "Permissions to use launch templates":
        // creating or updating a group with a launch template needs ec2:RunInstances
        // (and ec2:CreateTags for the template's tags), and iam:PassRole for the role of
        // the template's instance profile.
        "autoscaling:CreateAutoScalingGroup" | "autoscaling:UpdateAutoScalingGroup" => {
            let mut s = vec![
                one("LaunchTheFleet", &["ec2:RunInstances", "ec2:CreateTags"], vec!["*".into()], None),
                pass_stack_roles(),
                service_linked("autoscaling.amazonaws.com"),
            ];
            // The fleet's role is `existing.role`: passed as well, by its ARN or name (at
            // any IAM path).
            if let Some(arns) = existing_role_arns(cx) {
                s.push(one("PassTheExistingRole", &["iam:PassRole"], arns, None));
            }
            s
        }
        "elasticloadbalancing:CreateLoadBalancer" => vec![service_linked("elasticloadbalancing.amazonaws.com")],
        // Amazon RDS User Guide, "Password management with Amazon RDS and Secrets
        // Manager", required permissions: secretsmanager:CreateSecret and
        // secretsmanager:TagResource for ManageMasterUserPassword; RDS names the secret
        // `rds!db-<id>`.
        "rds:CreateDBInstance" | "rds:ModifyDBInstance" => vec![
            one(
                "DatabaseManagedSecret",
                &["secretsmanager:CreateSecret", "secretsmanager:TagResource"],
                vec![format!("arn:{p}:secretsmanager:{region}:*:secret:rds!*")],
                None,
            ),
            service_linked("rds.amazonaws.com"),
        ],
        // Firehose assumes the stack's delivery role; CloudWatch Logs the role that puts
        // into Firehose: both are passed (Firehose Developer Guide, "Controlling access";
        // CloudWatch Logs User Guide, "Subscription filters with Amazon Data Firehose").
        "firehose:CreateDeliveryStream" | "firehose:UpdateDestination" | "logs:PutSubscriptionFilter" => {
            vec![pass_stack_roles()]
        }
        // AWS Cloud9 User Guide, "Accessing no-ingress EC2 instances with AWS Systems
        // Manager": the environment's instance gets AWSCloud9SSMInstanceProfile.
        "cloud9:CreateEnvironmentEC2" => vec![
            one(
                "Cloud9InstanceRole",
                &["iam:PassRole"],
                vec![format!("arn:{p}:iam::*:role/service-role/AWSCloud9SSMAccessRole")],
                None,
            ),
            service_linked("cloud9.amazonaws.com"),
        ],
        _ => vec![],
    }
}

/// The reads of every command: the core's, the preflight's, import's and every kind's.
fn reads() -> impl Iterator<Item = &'static str> {
    let kinds = bumarket_core::engine::Kind::ALL.iter().flat_map(|k| resources::provider(*k).calls().reads.iter());
    CORE_READS.iter().chain(crate::preflight::CALLS).chain(crate::import::CALLS).chain(kinds).copied()
}

/// The reads of a run of this stack: every command's, and the file's `existing:`
/// lookups' when it has some.
fn reads_of(registry: &Registry) -> impl Iterator<Item = &'static str> {
    let lookups: &[&str] = if registry.cx.stack.existing.is_some() { resources::existing::CALLS } else { &[] };
    reads().chain(lookups.iter().copied())
}

/// Services whose every `Describe*` action reads configuration only (no data, no
/// secret: Service Authorization Reference, "Actions defined by Elastic Load Balancing
/// V2" and "by Amazon EC2 Auto Scaling", access level List or Read), whose reads the
/// policy grants as `Describe*` to stay within IAM's size quotas.
const DESCRIBE_ANY: &[&str] = &["elasticloadbalancing", "autoscaling"];

/// Read actions with the `Describe*` of [`DESCRIBE_ANY`]'s services in one.
fn collapsed(actions: BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for a in actions {
        match a.split_once(':') {
            Some((service, op)) if DESCRIBE_ANY.contains(&service) && op.starts_with("Describe") => {
                out.insert(format!("{service}:Describe*"))
            }
            _ => out.insert(a),
        };
    }
    out
}

/// The calls made that no read declares: `import`, which only reads, is checked so.
pub fn undeclared_reads(made: &BTreeSet<(String, String)>) -> Vec<String> {
    let declared: BTreeSet<&str> = reads().collect();
    made.iter()
        .map(|(service, operation)| format!("{}:{operation}", prefix(service)))
        .filter(|call| !declared.contains(call.as_str()))
        .collect()
}

/// Every call the policy of `phase` covers, as declared (`service:Operation`).
pub fn declared(registry: &Registry, phase: Phase) -> BTreeSet<&'static str> {
    let mut calls: BTreeSet<&'static str> = reads_of(registry).collect();
    if phase == Phase::Apply {
        calls.extend(LOCK_WRITES.iter().copied());
        for kind in kinds_in_file(registry) {
            calls.extend(resources::provider(kind).calls().writes.iter().copied());
        }
    }
    calls
}

fn kinds_in_file(registry: &Registry) -> BTreeSet<bumarket_core::engine::Kind> {
    registry.desired().iter().map(|d| d.addr.kind()).collect()
}

/// The policy document of `phase` for the stack of `registry` (whose account may be `*`).
pub fn policy(registry: &Registry, phase: Phase) -> Value {
    let cx = &registry.cx;
    let p = cx.partition();
    let mut statements = vec![Statement {
        sid: "ReadWhatThePlanCompares".into(),
        actions: collapsed(reads_of(registry).flat_map(actions_of).collect()),
        resources: vec!["*".into()],
        condition: None,
    }];
    if phase == Phase::Apply {
        // The ARNs each scoped service's writes may act on.
        let mut arns: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let desired = registry.desired();
        for d in &desired {
            for arn in resources::provider(d.addr.kind()).arns(cx, d) {
                let service = arn.split(':').nth(2).unwrap_or_default().to_string();
                arns.entry(service).or_default().insert(arn);
            }
        }
        let mut writes: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut extra: Vec<Statement> = Vec::new();
        for kind in kinds_in_file(registry) {
            for call in resources::provider(kind).calls().writes {
                for action in actions_of(call) {
                    let service = action.split(':').next().unwrap_or_default().to_string();
                    writes.entry(service).or_default().insert(action);
                }
                extra.extend(dependent(call, cx));
            }
        }
        let (unscoped, writes): (BTreeSet<String>, _) = {
            let mut unscoped = BTreeSet::new();
            for actions in writes.values_mut() {
                let free: Vec<String> = actions.iter().filter(|a| UNSCOPED.contains(&a.as_str())).cloned().collect();
                for a in free {
                    actions.remove(&a);
                    unscoped.insert(a);
                }
            }
            (unscoped, writes)
        };
        if !unscoped.is_empty() {
            extra.push(Statement {
                sid: "WriteWithoutResourceLevelPermissions".into(),
                actions: unscoped,
                resources: vec!["*".into()],
                condition: None,
            });
        }
        for (service, actions) in writes {
            let resources = match arns.get(&service) {
                Some(a) if SCOPED.contains(&service.as_str()) => {
                    let mut v: Vec<String> = a.iter().cloned().collect();
                    // Bucket writes include emptying it: its objects too.
                    if service == "s3" {
                        v.extend(a.iter().map(|b| format!("{b}/*")));
                    }
                    v
                }
                _ => vec!["*".into()],
            };
            statements.push(Statement {
                sid: format!("Write{}", title(&service)),
                actions,
                resources,
                condition: None,
            });
        }
        let (bucket, key) = crate::aws::lock::location("*", cx.region(), &cx.stack.name);
        let lock: BTreeSet<String> = LOCK_WRITES.iter().copied().flat_map(actions_of).collect();
        statements.push(Statement {
            sid: "TheStacksLock".into(),
            actions: lock,
            resources: vec![format!("arn:{p}:s3:::{bucket}"), format!("arn:{p}:s3:::{bucket}/{key}")],
            condition: None,
        });
        statements.extend(merge(extra));
    }
    json!({
        "Version": "2012-10-17",
        "Statement": statements.into_iter().map(|s| {
            let mut v = json!({
                "Sid": s.sid,
                "Effect": "Allow",
                "Action": s.actions.into_iter().collect::<Vec<_>>(),
                "Resource": if s.resources.len() == 1 { json!(s.resources[0]) } else { json!(s.resources) },
            });
            if let Some(c) = s.condition {
                v["Condition"] = c;
            }
            v
        }).collect::<Vec<_>>(),
    })
}

/// Statements of one Sid merged into one (their actions, resources and condition values).
fn merge(statements: Vec<Statement>) -> Vec<Statement> {
    let mut by_sid: BTreeMap<String, Statement> = BTreeMap::new();
    for s in statements {
        match by_sid.get_mut(&s.sid) {
            None => {
                by_sid.insert(s.sid.clone(), s);
            }
            Some(have) => {
                have.actions.extend(s.actions);
                for r in s.resources {
                    if !have.resources.contains(&r) {
                        have.resources.push(r);
                    }
                }
                if let (Some(Value::Object(a)), Some(Value::Object(b))) = (&mut have.condition, s.condition) {
                    merge_condition(a, b);
                }
            }
        }
    }
    by_sid.into_values().collect()
}

fn merge_condition(into: &mut serde_json::Map<String, Value>, from: serde_json::Map<String, Value>) {
    for (op, keys) in from {
        let Value::Object(keys) = keys else { continue };
        let target = into.entry(op).or_insert_with(|| json!({}));
        for (key, values) in keys {
            let slot = target
                .as_object_mut()
                .expect("condition operators hold objects")
                .entry(key)
                .or_insert_with(|| json!([]));
            for v in values.as_array().cloned().unwrap_or_default() {
                if let Some(list) = slot.as_array_mut() {
                    if !list.contains(&v) {
                        list.push(v);
                    }
                }
            }
        }
    }
}

fn title(service: &str) -> String {
    match service {
        "elasticloadbalancing" => "ElasticLoadBalancing".into(),
        "autoscaling" => "AutoScaling".into(),
        "cloudwatch" => "CloudWatch".into(),
        "secretsmanager" => "SecretsManager".into(),
        s if s.len() <= 3 => s.to_ascii_uppercase(),
        s => {
            let mut c = s.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        }
    }
}

/// The calls made (`sdk service`, `operation`) that the policy of `phase` does not cover.
pub fn undeclared(registry: &Registry, phase: Phase, made: &BTreeSet<(String, String)>) -> Vec<String> {
    let declared = declared(registry, phase);
    made.iter()
        .map(|(service, operation)| format!("{}:{operation}", prefix(service)))
        .filter(|call| !declared.contains(call.as_str()))
        .collect()
}

/// Size of a policy as IAM counts it against its quotas: its JSON without whitespace
/// (IAM User Guide, "IAM and AWS STS quotas": managed policies 6,144 characters, inline
/// role policies 10,240 in total).
pub fn size(policy: &Value) -> usize {
    serde_json::to_string(policy).expect("policies serialise").chars().filter(|c| !c.is_whitespace()).count()
}

/// IAM's quota on one managed policy's size.
pub const MANAGED_POLICY_LIMIT: usize = 6_144;
/// IAM's quota on a role's inline policies, all together.
pub const INLINE_POLICIES_LIMIT: usize = 10_240;

#[cfg(test)]
#[path = "permissions_tests.rs"]
mod tests;
