//! What `import` reads: the region's resources that no stack owns, in three waves of
//! calls in parallel (the listings; then what hangs off the chosen ones: a template's
//! version, the load balancer's listeners and attributes, each bucket's configuration,
//! each role's and group's policies; then inline policies by name), never one resource
//! after another. The result is plain data ([`Found`]): `compose` makes the stack file
//! from it without knowing the SDK.
//!
//! Ownership, as plan judges it: EC2, Auto Scaling, RDS and S3 resources by the
//! `bumarket-infra:stack` tag (any stack's: another stack's resources are never
//! imported), load balancers and target groups by the same tag (DescribeTags), IAM by
//! the `/bumarket-infra/` path.

use super::Options;
use crate::apply::StepError;
use crate::aws::{call_error, Aws};
use crate::resources::{iam, Cx, TAG_STACK};
use bumarket_stack::Stack;
use futures::future::try_join_all;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// A resource's id and the name it goes by (a `Name` tag, or its name).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Named {
    pub id: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Subnet {
    pub id: String,
    pub name: Option<String>,
    pub cidr: String,
    pub zone: String,
    /// Routed to an internet gateway (its route table, or the VPC's main one, has a
    /// default route to an `igw-`).
    pub public: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RouteTable {
    pub id: String,
    pub name: Option<String>,
    pub subnets: Vec<String>,
    pub to_gateway: bool,
    pub main: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rule {
    pub protocol: String,
    pub from: i32,
    pub to: i32,
    pub cidrs: Vec<String>,
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
    pub description: String,
    pub ingress: Vec<Rule>,
    /// Any traffic out to anywhere (the egress rule AWS gives every new group).
    pub open_egress: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RootVolume {
    pub size_gb: Option<i32>,
    pub volume_type: Option<String>,
    pub encrypted: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LaunchTemplate {
    pub id: String,
    pub name: String,
    pub instance_type: Option<String>,
    pub image_id: Option<String>,
    /// Decoded user data.
    pub user_data: Option<String>,
    pub root_volume: Option<RootVolume>,
    pub instance_profile: Option<String>,
    pub security_groups: Vec<String>,
    /// IMDSv2 required.
    pub tokens_required: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Group {
    pub name: String,
    pub min: i32,
    pub max: i32,
    pub desired: i32,
    pub grace: i32,
    pub subnets: Vec<String>,
    pub target_groups: Vec<String>,
    /// The launch template (id) and the version it runs; `None`: a launch configuration
    /// or a mixed-instances policy, which the file cannot express.
    pub template: Option<(String, String)>,
    pub min_healthy: Option<i32>,
    pub max_healthy: Option<i32>,
    /// Target-tracking policies on average CPU: (name, target).
    pub cpu_policies: Vec<(String, f64)>,
    /// Other scaling policies, by name.
    pub other_policies: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listener {
    pub port: i32,
    pub protocol: String,
    pub certificate: Option<String>,
    /// The target group it forwards to, when its default action is a plain forward.
    pub forward_to: Option<String>,
    pub redirect: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadBalancer {
    pub arn: String,
    pub name: String,
    pub internal: bool,
    pub security_groups: Vec<String>,
    pub listeners: Vec<Listener>,
    /// DescribeLoadBalancerAttributes, key → value.
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetGroup {
    pub arn: String,
    pub name: String,
    pub port: i32,
    pub path: Option<String>,
    pub interval: Option<i32>,
    pub timeout: Option<i32>,
    pub healthy: Option<i32>,
    pub unhealthy: Option<i32>,
    pub matcher: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Database {
    pub identifier: String,
    pub engine: String,
    pub engine_version: String,
    pub license_model: Option<String>,
    pub class: String,
    pub port: Option<i32>,
    pub storage_gb: i32,
    pub max_storage_gb: Option<i32>,
    pub storage_type: Option<String>,
    pub encrypted: bool,
    pub master_user: String,
    /// The KMS key of the secret RDS keeps the password in; `Some(None)`: the default key;
    /// `None`: RDS does not manage the password.
    pub managed_secret: Option<Option<String>>,
    pub backup_days: i32,
    pub backup_window: Option<String>,
    pub maintenance_window: Option<String>,
    pub log_exports: Vec<String>,
    pub deletion_protection: bool,
    pub multi_az: bool,
    pub publicly_accessible: bool,
    pub security_groups: Vec<String>,
    pub subnet_group: Option<String>,
}

/// One bucket: its name and its configuration as the bucket provider reads it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bucket {
    pub name: String,
    pub config: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Role {
    pub name: String,
    pub path: String,
    pub description: Option<String>,
    pub trust: Value,
    pub managed: Vec<String>,
    /// Inline policies: name → document.
    pub inline: Vec<(String, Value)>,
    /// Instance profiles holding it.
    pub profiles: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct IamGroup {
    pub name: String,
    pub managed: Vec<String>,
    pub inline: Vec<(String, Value)>,
}

/// Everything import found that no stack owns, narrowed by the options.
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub account: String,
    pub region: String,
    pub vpc: Option<Named>,
    pub vpc_cidr: String,
    pub subnets: Vec<Subnet>,
    pub gateway: Option<Named>,
    pub route_tables: Vec<RouteTable>,
    pub security_groups: Vec<SecurityGroup>,
    pub template: Option<LaunchTemplate>,
    pub group: Option<Group>,
    pub load_balancer: Option<LoadBalancer>,
    pub target_group: Option<TargetGroup>,
    pub database: Option<Database>,
    pub db_subnet_group: Option<Named>,
    pub buckets: Vec<Bucket>,
    pub roles: Vec<Role>,
    pub iam_groups: Vec<IamGroup>,
    /// Topics, alarms, dashboards and the database's log groups.
    pub monitoring: monitoring::Monitoring,
    /// What was found and is not written: one line each, for the file's comments.
    pub left_out: Vec<String>,
}

/// The VPCs to choose from did not narrow to one.
#[derive(Debug)]
pub enum ReadError {
    Aws(StepError),
    /// (id, name) of every candidate.
    ManyVpcs(Vec<(String, Option<String>)>),
    NoSuchVpc(String),
}

impl From<StepError> for ReadError {
    fn from(e: StepError) -> ReadError {
        ReadError::Aws(e)
    }
}

fn ec2_tags(tags: &[aws_sdk_ec2::types::Tag]) -> BTreeMap<String, String> {
    crate::resources::ec2::tags_of(tags)
}

/// True when `tags` say some stack owns the resource.
fn owned(tags: &BTreeMap<String, String>) -> bool {
    tags.contains_key(TAG_STACK)
}

/// The options' narrowing: the name prefix, and `--tag` where a resource has tags.
fn wanted_name(o: &Options, name: &str) -> bool {
    o.prefix.as_deref().is_none_or(|p| name.starts_with(p))
}

fn wanted_tags(o: &Options, tags: &BTreeMap<String, String>) -> bool {
    o.tags.iter().all(|(k, v)| tags.get(k) == Some(v))
}

macro_rules! pages {
    ($req:expr, $op:literal, |$page:ident| $items:expr) => {{
        let mut out = Vec::new();
        let mut pages = $req.into_paginator().send();
        while let Some($page) = pages.next().await {
            let $page = $page.map_err(|e| call_error($op, e))?;
            out.extend($items);
        }
        Ok::<_, StepError>(out)
    }};
}

pub mod monitoring;
pub use monitoring::{Topic, RDS_GROUPS};

/// Reads the region.
pub async fn read(aws: &Aws, o: &Options, stack: &Stack) -> Result<Found, ReadError> {
    let ec2 = &aws.ec2;
    // Wave one: every listing at once.
    let identity = aws.identity();
    let vpcs = async { pages!(ec2.describe_vpcs(), "ec2:DescribeVpcs", |p| p.vpcs.unwrap_or_default()) };
    let subnets = async { pages!(ec2.describe_subnets(), "ec2:DescribeSubnets", |p| p.subnets.unwrap_or_default()) };
    let gateways = async {
        pages!(ec2.describe_internet_gateways(), "ec2:DescribeInternetGateways", |p| p
            .internet_gateways
            .unwrap_or_default())
    };
    let tables = async {
        pages!(ec2.describe_route_tables(), "ec2:DescribeRouteTables", |p| p.route_tables.unwrap_or_default())
    };
    let groups = async {
        pages!(ec2.describe_security_groups(), "ec2:DescribeSecurityGroups", |p| p.security_groups.unwrap_or_default())
    };
    let templates = async {
        pages!(ec2.describe_launch_templates(), "ec2:DescribeLaunchTemplates", |p| p
            .launch_templates
            .unwrap_or_default())
    };
    let asgs = async {
        pages!(aws.autoscaling.describe_auto_scaling_groups(), "autoscaling:DescribeAutoScalingGroups", |p| p
            .auto_scaling_groups
            .unwrap_or_default())
    };
    let policies = async {
        pages!(aws.autoscaling.describe_policies(), "autoscaling:DescribePolicies", |p| p
            .scaling_policies
            .unwrap_or_default())
    };
    let lbs = async {
        pages!(aws.elb.describe_load_balancers(), "elasticloadbalancing:DescribeLoadBalancers", |p| p
            .load_balancers
            .unwrap_or_default())
    };
    let tgs = async {
        pages!(aws.elb.describe_target_groups(), "elasticloadbalancing:DescribeTargetGroups", |p| p
            .target_groups
            .unwrap_or_default())
    };
    let dbs = async {
        pages!(aws.rds.describe_db_instances(), "rds:DescribeDBInstances", |p| p.db_instances.unwrap_or_default())
    };
    // Only the region's buckets, and only those the prefix names (S3 API Reference,
    // ListBuckets: `bucket-region` and `prefix` limit the response).
    let buckets = async {
        let mut req = aws.s3.list_buckets().bucket_region(&aws.region).max_buckets(1000);
        if let Some(p) = &o.prefix {
            req = req.prefix(p);
        }
        pages!(req, "s3:ListBuckets", |p| p.buckets.unwrap_or_default())
    };
    let roles = async { pages!(aws.iam.list_roles(), "iam:ListRoles", |p| p.roles) };
    let iam_groups = async { pages!(aws.iam.list_groups(), "iam:ListGroups", |p| p.groups) };
    let profiles =
        async { pages!(aws.iam.list_instance_profiles(), "iam:ListInstanceProfiles", |p| p.instance_profiles) };
    let monitoring = monitoring::lists(aws, o);
    // One wave: the two halves run side by side (a join takes so many at most).
    let (
        (identity, vpcs, subnets, gateways, tables, groups, templates, asgs, policies, lbs, tgs),
        (dbs, buckets, roles, iam_groups, profiles, monitoring),
    ) = tokio::join!(
        async { tokio::join!(identity, vpcs, subnets, gateways, tables, groups, templates, asgs, policies, lbs, tgs) },
        async { tokio::join!(dbs, buckets, roles, iam_groups, profiles, monitoring) }
    );
    let (account, _) = identity?;
    let (vpcs, subnets, gateways, tables, groups, templates) =
        (vpcs?, subnets?, gateways?, tables?, groups?, templates?);
    let (asgs, policies, lbs, tgs, dbs) = (asgs?, policies?, lbs?, tgs?, dbs?);
    let (buckets, roles, iam_groups, profiles) = (buckets?, roles?, iam_groups?, profiles?);
    let monitoring = monitoring?;
    let mut found = Found { account: account.clone(), region: aws.region.clone(), ..Found::default() };

    // The VPC: the one `--vpc` names, else the only one no stack owns (the default VPC
    // aside) that the narrowing leaves.
    let candidates: Vec<&aws_sdk_ec2::types::Vpc> = vpcs
        .iter()
        .filter(|v| {
            let tags = ec2_tags(v.tags());
            let name = tags.get("Name").map_or("", String::as_str);
            match &o.vpc {
                Some(id) => v.vpc_id() == Some(id.as_str()),
                None => {
                    v.is_default != Some(true)
                        && !owned(&tags)
                        && wanted_tags(o, &tags)
                        && (o.prefix.is_none() || wanted_name(o, name))
                }
            }
        })
        .collect();
    let vpc = match (candidates.as_slice(), &o.vpc) {
        ([], Some(id)) => return Err(ReadError::NoSuchVpc(id.clone())),
        ([], None) => None,
        ([one], _) => Some(*one),
        (many, _) => {
            let list = many
                .iter()
                .map(|v| (v.vpc_id().unwrap_or_default().to_string(), ec2_tags(v.tags()).get("Name").cloned()))
                .collect();
            return Err(ReadError::ManyVpcs(list));
        }
    };
    if let Some(v) = vpc {
        if owned(&ec2_tags(v.tags())) {
            return Err(ReadError::Aws(StepError::new(
                "ec2:DescribeVpcs",
                format!(
                    "`{}` belongs to a stack (its `{TAG_STACK}` tag): import reads only what no stack owns",
                    v.vpc_id().unwrap_or_default()
                ),
            )));
        }
    }
    let vpc_id = vpc.and_then(|v| v.vpc_id()).unwrap_or_default().to_string();
    if let Some(v) = vpc {
        found.vpc = Some(Named { id: vpc_id.clone(), name: ec2_tags(v.tags()).get("Name").cloned() });
        found.vpc_cidr = v.cidr_block().unwrap_or_default().to_string();
    }
    let in_vpc = |id: Option<&str>| vpc.is_some() && id == Some(vpc_id.as_str());

    // The network inside it.
    let gateway = gateways.iter().find(|g| g.attachments().iter().any(|a| in_vpc(a.vpc_id())));
    found.gateway = gateway.map(|g| Named {
        id: g.internet_gateway_id().unwrap_or_default().into(),
        name: ec2_tags(g.tags()).get("Name").cloned(),
    });
    for t in tables.iter().filter(|t| in_vpc(t.vpc_id())) {
        let to_gateway = t.routes().iter().any(|r| {
            r.destination_cidr_block() == Some("0.0.0.0/0") && r.gateway_id().is_some_and(|g| g.starts_with("igw-"))
        });
        found.route_tables.push(RouteTable {
            id: t.route_table_id().unwrap_or_default().into(),
            name: ec2_tags(t.tags()).get("Name").cloned(),
            subnets: t.associations().iter().filter_map(|a| a.subnet_id().map(String::from)).collect(),
            to_gateway,
            main: t.associations().iter().any(|a| a.main == Some(true)),
        });
    }
    let main_public = found.route_tables.iter().any(|t| t.main && t.to_gateway);
    for s in subnets.iter().filter(|s| in_vpc(s.vpc_id())) {
        let id = s.subnet_id().unwrap_or_default().to_string();
        let table = found.route_tables.iter().find(|t| t.subnets.contains(&id));
        found.subnets.push(Subnet {
            public: table.map_or(main_public, |t| t.to_gateway),
            name: ec2_tags(s.tags()).get("Name").cloned(),
            cidr: s.cidr_block().unwrap_or_default().into(),
            zone: s.availability_zone().unwrap_or_default().into(),
            id,
        });
    }
    found.subnets.sort_by(|a, b| (&a.zone, &a.cidr).cmp(&(&b.zone, &b.cidr)));
    let subnet_ids: BTreeSet<String> = found.subnets.iter().map(|s| s.id.clone()).collect();
    for g in groups.iter().filter(|g| in_vpc(g.vpc_id()) && !owned(&ec2_tags(g.tags()))) {
        let ingress = g
            .ip_permissions()
            .iter()
            .map(|p| Rule {
                protocol: p.ip_protocol().unwrap_or("-1").to_string(),
                from: p.from_port().unwrap_or(-1),
                to: p.to_port().unwrap_or(-1),
                cidrs: p.ip_ranges().iter().filter_map(|r| r.cidr_ip().map(String::from)).collect(),
                groups: p.user_id_group_pairs().iter().filter_map(|u| u.group_id().map(String::from)).collect(),
            })
            .collect();
        let open_egress = g
            .ip_permissions_egress()
            .iter()
            .any(|p| p.ip_protocol() == Some("-1") && p.ip_ranges().iter().any(|r| r.cidr_ip() == Some("0.0.0.0/0")));
        found.security_groups.push(SecurityGroup {
            open_egress,
            id: g.group_id().unwrap_or_default().into(),
            name: g.group_name().unwrap_or_default().into(),
            description: g.description().unwrap_or_default().into(),
            ingress,
        });
    }

    // The fleet: an Auto Scaling group no stack owns in the VPC's subnets (the prefix
    // narrows a choice of several); its template and its scaling policies.
    let fleet_groups: Vec<&aws_sdk_autoscaling::types::AutoScalingGroup> = asgs
        .iter()
        .filter(|g| {
            let tags: BTreeMap<String, String> =
                g.tags().iter().filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string()))).collect();
            let subnets = g.vpc_zone_identifier().unwrap_or_default();
            !owned(&tags)
                && wanted_tags(o, &tags)
                && wanted_name(o, g.auto_scaling_group_name().unwrap_or_default())
                && subnets.split(',').any(|s| subnet_ids.contains(s.trim()))
        })
        .collect();
    if let Some(g) = fleet_groups.first() {
        let name = g.auto_scaling_group_name().unwrap_or_default().to_string();
        let template = g.launch_template().and_then(|t| {
            let id = t.launch_template_id().map(String::from).or_else(|| {
                let name = t.launch_template_name()?;
                templates
                    .iter()
                    .find(|lt| lt.launch_template_name() == Some(name))?
                    .launch_template_id()
                    .map(String::from)
            })?;
            Some((id, t.version().unwrap_or("$Default").to_string()))
        });
        let (mut cpu, mut other) = (Vec::new(), Vec::new());
        for p in policies.iter().filter(|p| p.auto_scaling_group_name() == Some(name.as_str())) {
            let policy = p.policy_name().unwrap_or_default().to_string();
            let target = p.target_tracking_configuration().filter(|t| {
                t.predefined_metric_specification().and_then(|m| m.predefined_metric_type()).map(|m| m.as_str())
                    == Some("ASGAverageCPUUtilization")
            });
            match target {
                Some(t) => cpu.push((policy, t.target_value().unwrap_or_default())),
                None => other.push(policy),
            }
        }
        let maintenance = g.instance_maintenance_policy();
        found.group = Some(Group {
            min: g.min_size().unwrap_or_default(),
            max: g.max_size().unwrap_or_default(),
            desired: g.desired_capacity().unwrap_or_default(),
            grace: g.health_check_grace_period().unwrap_or_default(),
            subnets: g.vpc_zone_identifier().unwrap_or_default().split(',').map(|s| s.trim().to_string()).collect(),
            target_groups: g.target_group_arns().to_vec(),
            template,
            min_healthy: maintenance.and_then(|m| m.min_healthy_percentage()).filter(|v| *v >= 0),
            max_healthy: maintenance.and_then(|m| m.max_healthy_percentage()).filter(|v| *v >= 0),
            cpu_policies: cpu,
            other_policies: other,
            name,
        });
        for g in &fleet_groups[1..] {
            found.left_out.push(format!(
                "Auto Scaling group `{}`: the file has one fleet (narrow with --prefix to choose another)",
                g.auto_scaling_group_name().unwrap_or_default()
            ));
        }
    }

    // Load balancers in the VPC and the target group the fleet uses.
    let vpc_lbs: Vec<&aws_sdk_elasticloadbalancingv2::types::LoadBalancer> = lbs
        .iter()
        .filter(|l| in_vpc(l.vpc_id()) && wanted_name(o, l.load_balancer_name().unwrap_or_default()))
        .collect();
    let fleet_tg = found.group.as_ref().and_then(|g| g.target_groups.first().cloned());
    let target_group = tgs.iter().find(|t| t.target_group_arn().map(String::from) == fleet_tg);
    let databases: Vec<&aws_sdk_rds::types::DbInstance> = dbs
        .iter()
        .filter(|d| {
            let tags: BTreeMap<String, String> =
                d.tag_list().iter().filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string()))).collect();
            let vpc_of = d.db_subnet_group().and_then(|g| g.vpc_id());
            !owned(&tags)
                && wanted_tags(o, &tags)
                && wanted_name(o, d.db_instance_identifier().unwrap_or_default())
                && in_vpc(vpc_of)
        })
        .collect();
    // Roles the prefix names are read now; the fleet's, once its template names it.
    let iam_free = |path: &str| !path.starts_with("/bumarket-infra/") && !path.starts_with("/aws-service-role/");
    let prefixed = |name: &str| o.prefix.as_deref().is_some_and(|p| name.starts_with(p));
    let roles_wanted: Vec<&aws_sdk_iam::types::Role> =
        roles.iter().filter(|r| iam_free(&r.path) && prefixed(&r.role_name)).collect();
    let groups_wanted: Vec<&aws_sdk_iam::types::Group> =
        iam_groups.iter().filter(|g| iam_free(&g.path) && wanted_name(o, &g.group_name)).collect();

    // Wave two: what hangs off the chosen ones, all at once.
    let template = async {
        let Some((id, version)) = found.group.as_ref().and_then(|g| g.template.clone()) else { return Ok(None) };
        let out = ec2
            .describe_launch_template_versions()
            .launch_template_id(&id)
            .versions(version)
            .send()
            .await
            .map_err(|e| call_error("ec2:DescribeLaunchTemplateVersions", e))?;
        Ok::<_, StepError>(out.launch_template_versions.unwrap_or_default().into_iter().next().map(|v| (id, v)))
    };
    let elb_tags = async {
        let arns: Vec<String> = vpc_lbs
            .iter()
            .filter_map(|l| l.load_balancer_arn().map(String::from))
            .chain(target_group.and_then(|t| t.target_group_arn().map(String::from)))
            .collect();
        let ask = arns.chunks(20).map(|chunk| async move {
            let out = aws
                .elb
                .describe_tags()
                .set_resource_arns(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| call_error("elasticloadbalancing:DescribeTags", e))?;
            Ok::<_, StepError>(out.tag_descriptions.unwrap_or_default())
        });
        let all = try_join_all(ask).await?.concat();
        Ok::<_, StepError>(
            all.into_iter()
                .map(|d| {
                    let tags: BTreeMap<String, String> =
                        d.tags().iter().filter_map(|t| Some((t.key.clone()?, t.value.clone()?))).collect();
                    (d.resource_arn.unwrap_or_default(), tags)
                })
                .collect::<BTreeMap<_, _>>(),
        )
    };
    let listeners = try_join_all(vpc_lbs.iter().map(|l| async move {
        let arn = l.load_balancer_arn().unwrap_or_default().to_string();
        let listeners = pages!(
            aws.elb.describe_listeners().load_balancer_arn(&arn),
            "elasticloadbalancing:DescribeListeners",
            |p| p.listeners.unwrap_or_default()
        )?;
        Ok::<_, StepError>((arn, listeners))
    }));
    let lb_attributes = try_join_all(vpc_lbs.iter().map(|l| async move {
        let arn = l.load_balancer_arn().unwrap_or_default().to_string();
        let out = aws
            .elb
            .describe_load_balancer_attributes()
            .load_balancer_arn(&arn)
            .send()
            .await
            .map_err(|e| call_error("elasticloadbalancing:DescribeLoadBalancerAttributes", e))?;
        let attrs: BTreeMap<String, String> =
            out.attributes().iter().filter_map(|a| Some((a.key.clone()?, a.value.clone()?))).collect();
        Ok::<_, StepError>((arn, attrs))
    }));
    let cx = Cx::new(aws.clone(), stack.clone(), account.clone(), None);
    let bucket_reads = try_join_all(buckets.iter().filter_map(|b| b.name.clone()).map(|name| {
        let cx = &cx;
        async move {
            let (tags, config) = tokio::join!(
                crate::resources::bucket::unowned_tags(cx, &name),
                crate::resources::bucket::config(cx, &name)
            );
            Ok::<_, StepError>((name, tags?, config?))
        }
    }));
    let role_reads = try_join_all(
        roles_wanted.iter().map(|r| async move { iam::read_role(aws, &r.role_name).await.map(|x| (*r, x)) }),
    );
    let group_reads =
        try_join_all(groups_wanted.iter().map(|g| async move { iam::read_group(aws, &g.group_name).await }));
    // What the alarms of the chosen resources name in their dimensions.
    let refs = monitoring::Refs {
        values: found
            .group
            .iter()
            .map(|g| g.name.clone())
            .chain(vpc_lbs.iter().filter_map(|l| l.load_balancer_arn()).filter_map(dimension_of))
            .chain(target_group.and_then(|t| t.target_group_arn()).and_then(dimension_of))
            .chain(databases.iter().filter_map(|d| d.db_instance_identifier().map(String::from)))
            .collect(),
        databases: databases.iter().filter_map(|d| d.db_instance_identifier().map(String::from)).collect(),
    };
    let monitoring = monitoring::details(&cx, o, monitoring, &refs);
    let (template, elb_tags, listeners, lb_attributes, bucket_reads, role_reads, group_reads, monitoring) =
        tokio::join!(template, elb_tags, listeners, lb_attributes, bucket_reads, role_reads, group_reads, monitoring);
    found.monitoring = monitoring?;
    found.left_out.append(&mut found.monitoring.left_out);
    let (template, elb_tags, listeners, lb_attributes) = (template?, elb_tags?, listeners?, lb_attributes?);
    let (bucket_reads, mut role_reads, group_reads) = (bucket_reads?, role_reads?, group_reads?);

    if let Some((id, v)) = template {
        let d = v.launch_template_data;
        let d = d.as_ref();
        let user_data = d.and_then(|d| d.user_data()).map(|b64| {
            use base64::Engine as _;
            let bytes =
                base64::engine::general_purpose::STANDARD.decode(b64).unwrap_or_else(|_| b64.as_bytes().to_vec());
            String::from_utf8_lossy(&bytes).into_owned()
        });
        let root = d.and_then(|d| d.block_device_mappings().first()).map(|b| {
            let e = b.ebs();
            RootVolume {
                size_gb: e.and_then(|e| e.volume_size()),
                volume_type: e.and_then(|e| e.volume_type()).map(|t| t.as_str().to_string()),
                encrypted: e.and_then(|e| e.encrypted()),
            }
        });
        let profile = d.and_then(|d| d.iam_instance_profile()).and_then(|p| {
            p.name().map(String::from).or_else(|| p.arn().and_then(|a| a.rsplit('/').next()).map(String::from))
        });
        found.template = Some(LaunchTemplate {
            name: v.launch_template_name.unwrap_or_default(),
            id,
            instance_type: d.and_then(|d| d.instance_type()).map(|t| t.as_str().to_string()),
            image_id: d.and_then(|d| d.image_id()).map(String::from),
            user_data,
            root_volume: root,
            instance_profile: profile,
            security_groups: d.map(|d| d.security_group_ids().to_vec()).unwrap_or_default(),
            tokens_required: d.and_then(|d| d.metadata_options()).and_then(|m| m.http_tokens()).map(|t| t.as_str())
                == Some("required"),
        });
    }
    // The load balancer: the one whose listener forwards to the fleet's target group.
    let mut lbs_found: Vec<LoadBalancer> = Vec::new();
    for (arn, ls) in listeners {
        let lb = vpc_lbs.iter().find(|l| l.load_balancer_arn() == Some(arn.as_str())).expect("listed");
        if elb_tags.get(&arn).is_some_and(owned) {
            continue;
        }
        let listeners = ls
            .iter()
            .map(|l| {
                let action = l.default_actions().first();
                let forward_to = action.filter(|a| a.r#type().map(|t| t.as_str()) == Some("forward")).and_then(|a| {
                    a.target_group_arn().map(String::from).or_else(|| {
                        let groups = a.forward_config()?.target_groups();
                        (groups.len() == 1).then(|| groups[0].target_group_arn().map(String::from)).flatten()
                    })
                });
                Listener {
                    port: l.port().unwrap_or_default(),
                    protocol: l.protocol().map(|p| p.as_str().to_string()).unwrap_or_default(),
                    certificate: l.certificates().first().and_then(|c| c.certificate_arn().map(String::from)),
                    redirect: action.and_then(|a| a.r#type()).map(|t| t.as_str()) == Some("redirect"),
                    forward_to,
                }
            })
            .collect();
        lbs_found.push(LoadBalancer {
            name: lb.load_balancer_name().unwrap_or_default().into(),
            internal: lb.scheme().map(|s| s.as_str()) == Some("internal"),
            security_groups: lb.security_groups().to_vec(),
            listeners,
            attributes: lb_attributes.iter().find(|(a, _)| *a == arn).map(|(_, m)| m.clone()).unwrap_or_default(),
            arn,
        });
    }
    let tg_owned = target_group.and_then(|t| t.target_group_arn()).is_some_and(|a| elb_tags.get(a).is_some_and(owned));
    if let Some(t) = target_group.filter(|_| !tg_owned) {
        let arn = t.target_group_arn().unwrap_or_default().to_string();
        found.target_group = Some(TargetGroup {
            name: t.target_group_name().unwrap_or_default().into(),
            port: t.port().unwrap_or_default(),
            path: t.health_check_path().map(String::from),
            interval: t.health_check_interval_seconds(),
            timeout: t.health_check_timeout_seconds(),
            healthy: t.healthy_threshold_count(),
            unhealthy: t.unhealthy_threshold_count(),
            matcher: t.matcher().and_then(|m| m.http_code()).map(String::from),
            arn: arn.clone(),
        });
        let serving = lbs_found.iter().position(|l| l.listeners.iter().any(|x| x.forward_to.as_deref() == Some(&arn)));
        if let Some(i) = serving {
            found.load_balancer = Some(lbs_found.remove(i));
        }
    }
    for l in &lbs_found {
        found.left_out.push(format!("load balancer `{}`: not in front of the fleet", l.name));
    }

    if let Some(d) = databases.first() {
        let secret = d.master_user_secret().map(|s| s.kms_key_id().map(String::from));
        found.db_subnet_group = d
            .db_subnet_group()
            .and_then(|g| g.db_subnet_group_name())
            .map(|n| Named { id: n.to_string(), name: Some(n.to_string()) });
        found.database = Some(Database {
            identifier: d.db_instance_identifier().unwrap_or_default().into(),
            engine: d.engine().unwrap_or_default().into(),
            engine_version: d.engine_version().unwrap_or_default().into(),
            license_model: d.license_model().map(String::from),
            class: d.db_instance_class().unwrap_or_default().into(),
            port: d.endpoint().and_then(|e| e.port()).or(d.db_instance_port().filter(|p| *p > 0)),
            storage_gb: d.allocated_storage().unwrap_or_default(),
            max_storage_gb: d.max_allocated_storage(),
            storage_type: d.storage_type().map(String::from),
            encrypted: d.storage_encrypted().unwrap_or(false),
            master_user: d.master_username().unwrap_or_default().into(),
            managed_secret: secret,
            backup_days: d.backup_retention_period().unwrap_or_default(),
            backup_window: d.preferred_backup_window().map(String::from),
            maintenance_window: d.preferred_maintenance_window().map(String::from),
            log_exports: d.enabled_cloudwatch_logs_exports().to_vec(),
            deletion_protection: d.deletion_protection().unwrap_or(false),
            multi_az: d.multi_az().unwrap_or(false),
            publicly_accessible: d.publicly_accessible().unwrap_or(false),
            security_groups: d
                .vpc_security_groups()
                .iter()
                .filter_map(|g| g.vpc_security_group_id().map(String::from))
                .collect(),
            subnet_group: d.db_subnet_group().and_then(|g| g.db_subnet_group_name()).map(String::from),
        });
        for d in &databases[1..] {
            found.left_out.push(format!(
                "database `{}`: the file has one database (narrow with --prefix to choose another)",
                d.db_instance_identifier().unwrap_or_default()
            ));
        }
    }

    for (name, tags, config) in bucket_reads {
        let Some(tags) = tags else { continue };
        if owned(&tags) || !wanted_tags(o, &tags) {
            continue;
        }
        found.buckets.push(Bucket { name, config: config.into_iter().collect() });
    }

    // Roles: those the prefix names, and the fleet's (through its template's instance
    // profile), read in a wave of its own when the prefix did not name it; with no
    // prefix, only the fleet's (an account holds many roles of other uses).
    let fleet_profile = found.template.as_ref().and_then(|t| t.instance_profile.clone());
    let fleet_roles: Vec<&aws_sdk_iam::types::Role> = profiles
        .iter()
        .filter(|p| Some(&p.instance_profile_name) == fleet_profile.as_ref() && iam_free(&p.path))
        .flat_map(|p| p.roles.iter().map(|r| r.role_name.clone()))
        .filter(|name| !role_reads.iter().any(|(r, _)| &r.role_name == name))
        .filter_map(|name| roles.iter().find(|r| r.role_name == name && iam_free(&r.path)))
        .collect();
    let more = try_join_all(
        fleet_roles.iter().map(|r| async move { iam::read_role(aws, &r.role_name).await.map(|x| (*r, x)) }),
    );
    role_reads.extend(more.await?);
    for (r, read) in role_reads {
        // IAM cannot move a role off its path: an adopted one is the stack's by its tag.
        let Some(read) = read.filter(|r| !owned(&r.tags)) else { continue };
        let holding: Vec<String> = profiles
            .iter()
            .filter(|p| p.roles.iter().any(|x| x.role_name == r.role_name))
            .filter(|p| !p.path.starts_with("/bumarket-infra/"))
            .map(|p| p.instance_profile_name.clone())
            .collect();
        found.roles.push(Role {
            name: read.name.clone(),
            path: read.path.clone(),
            description: r.description.clone().filter(|d| !d.is_empty()),
            trust: iam::decode_document(&read.trust),
            managed: read.policies.managed.clone(),
            inline: read.policies.inline.iter().map(|(n, d)| (n.clone(), iam::decode_document(d))).collect(),
            profiles: holding,
        });
    }
    for g in group_reads.into_iter().flatten() {
        found.iam_groups.push(IamGroup {
            name: g.name.clone(),
            managed: g.policies.managed.clone(),
            inline: g.policies.inline.iter().map(|(n, d)| (n.clone(), iam::decode_document(d))).collect(),
        });
    }
    Ok(found)
}

/// What CloudWatch names a load balancer or target group by in a dimension (CloudWatch
/// metrics for Application Load Balancers: `app/<name>/<id>`, `targetgroup/<name>/<id>`):
/// the end of its ARN.
pub fn dimension_of(arn: &str) -> Option<String> {
    let (_, tail) = arn.rsplit_once(':')?;
    Some(tail.strip_prefix("loadbalancer/").unwrap_or(tail).to_string())
}
