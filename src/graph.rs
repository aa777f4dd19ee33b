//! `bumarket-infra graph`: a picture of the stack, as Graphviz DOT or as Mermaid (which
//! GitHub renders inside the markdown plan).
//!
//! The picture is drawn from what the file asks for (the desired resources, so it shows
//! exactly what `plan` would compare) and reads as the app does: the request path
//! (internet → name → load balancer → fleet → database) inside the network, the buckets
//! and what writes into them, the alarms and whom they tell, and who may do what. Plumbing
//! a reader does not review as such (subnets, routes, security groups, listeners, the
//! launch template, ...) is folded into the resource it serves: a change to it marks that
//! one. With a plan, each resource the plan would change is marked with its action.

use bumarket_core::engine::{Addr, Attrs, Desired, Kind};
use bumarket_core::plan::{Action, Plan};
use bumarket_stack::{BucketAccess, Stack};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Where a node is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Area {
    /// Outside AWS: the internet, the team's inboxes.
    Outside,
    /// The stack's network (VPC): load balancer, fleet, database.
    Network,
    /// DNS and TLS: the hosted zone, the record, the certificate.
    Domain,
    /// Buckets and the streams that fill them.
    Storage,
    /// Alarms, the topic, the dashboard, log groups.
    Monitoring,
    /// Roles, groups, Cloud9.
    Access,
}

impl Area {
    fn title(self) -> &'static str {
        match self {
            Area::Outside => "",
            Area::Network => "network (VPC)",
            Area::Domain => "domain",
            Area::Storage => "storage",
            Area::Monitoring => "monitoring",
            Area::Access => "who may do what",
        }
    }

    fn id(self) -> &'static str {
        match self {
            Area::Outside => "outside",
            Area::Network => "network",
            Area::Domain => "domain",
            Area::Storage => "storage",
            Area::Monitoring => "monitoring",
            Area::Access => "access",
        }
    }
}

#[derive(Debug, Clone)]
struct Node {
    id: String,
    /// Lines of the label: what it is, then details.
    label: Vec<String>,
    area: Area,
    /// The plan's action on it or on what is folded into it (the most serious one).
    mark: Option<Action>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    /// Requests and data flowing.
    Flow,
    /// A relation: runs as, watches, may read.
    Relation,
}

#[derive(Debug, Clone)]
struct Edge {
    from: String,
    to: String,
    label: String,
    line: Line,
}

/// The picture, ready to be written in either language.
#[derive(Debug, Clone)]
pub struct Picture {
    title: String,
    nodes: Vec<Node>,
    edges: Vec<Edge>,
}

const INTERNET: &str = "internet";
const INBOX: &str = "email";

/// The visible node a resource is drawn as (itself, or what it is folded into); `fleet`
/// is the fleet's logical name, when the stack has one.
fn shown_as(addr: &Addr, fleet: Option<&str>) -> Option<String> {
    let name = addr.name();
    let id = |kind: Kind, name: &str| Some(node_id(&Addr::new(kind, name)));
    match addr.kind() {
        Kind::Vpc | Kind::Subnet | Kind::RouteTable | Kind::InternetGateway => id(Kind::Vpc, "main"),
        Kind::SecurityGroup => match name {
            "lb" => id(Kind::LoadBalancer, "main"),
            "db" => id(Kind::Database, "main"),
            "app" => fleet.and_then(|f| id(Kind::AutoscalingGroup, f)),
            _ => id(Kind::Vpc, "main"),
        },
        Kind::Listener | Kind::TargetGroup => id(Kind::LoadBalancer, "main"),
        Kind::LaunchTemplate | Kind::InstanceProfile | Kind::ScalingPolicy => {
            fleet.and_then(|f| id(Kind::AutoscalingGroup, f))
        }
        Kind::DbSubnetGroup => id(Kind::Database, "main"),
        Kind::Subscription => Some(node_id(&crate::resources::monitoring::topic::addr())),
        // A subscription of a log group is drawn as the line to its stream.
        Kind::LogSubscription => None,
        _ => Some(node_id(addr)),
    }
}

/// Identifiers both languages take: letters, digits and `_`.
fn node_id(addr: &Addr) -> String {
    addr.as_str().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect()
}

/// How serious an action is to a reviewer: the mark shows the worst.
fn weight(a: Action) -> u8 {
    match a {
        Action::NoOp => 0,
        Action::Release => 1,
        Action::Adopt => 2,
        Action::Update => 3,
        Action::Create => 4,
        Action::Replace => 5,
        Action::Delete => 6,
    }
}

fn access_words(a: BucketAccess) -> &'static str {
    match a {
        BucketAccess::Read => "read",
        BucketAccess::Write => "write",
        BucketAccess::ReadWrite => "read, write",
    }
}

impl Picture {
    /// The picture of `desired` (the file's resources), marked with `plan`'s changes
    /// when one is given.
    pub fn new(stack: &Stack, desired: &[Desired], plan: Option<&Plan>) -> Picture {
        let fleet = desired.iter().find(|d| d.addr.kind() == Kind::AutoscalingGroup).map(|d| d.addr.name().to_string());
        let fleet = fleet.as_deref();
        let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
        let mut add = |addr: &Addr, physical: &str, attrs: Option<&Attrs>| {
            let Some(id) = shown_as(addr, fleet) else { return };
            if id == node_id(addr) {
                nodes.entry(id.clone()).or_insert_with(|| Node {
                    id,
                    label: label(stack, addr, physical, attrs),
                    area: area(addr.kind()),
                    mark: None,
                });
            }
        };
        for d in desired {
            add(&d.addr, &d.name, Some(&d.attrs));
        }
        // What the plan deletes is no longer in the file, yet it is on the picture.
        for r in plan.iter().flat_map(|p| &p.resources) {
            add(&r.addr, &r.name, None);
        }
        // A resource folded into a node the file does not have is not drawn: its change
        // marks nothing.
        if let Some(plan) = plan {
            for r in plan.resources.iter().filter(|r| r.action != Action::NoOp) {
                let Some(id) = shown_as(&r.addr, fleet).filter(|id| nodes.contains_key(id)) else { continue };
                let node = nodes.get_mut(&id).expect("checked");
                if node.mark.is_none_or(|m| weight(r.action) > weight(m)) {
                    node.mark = Some(r.action);
                }
            }
        }
        let has = |nodes: &BTreeMap<String, Node>, kind: Kind, name: &str| {
            let id = node_id(&Addr::new(kind, name));
            nodes.contains_key(&id).then_some(id)
        };
        let lb = has(&nodes, Kind::LoadBalancer, "main");
        let fleet_id = fleet.and_then(|f| has(&nodes, Kind::AutoscalingGroup, f));
        let db = has(&nodes, Kind::Database, "main");
        let record = nodes.keys().find(|k| k.starts_with("dns_record_")).cloned();
        let mut edges = Vec::new();
        let mut edge = |from: &str, to: &str, label: &str, line: Line| {
            edges.push(Edge { from: from.into(), to: to.into(), label: label.into(), line });
        };

        // The request path.
        if let Some(lb) = &lb {
            let served = match (&stack.domain, &stack.load_balancer) {
                (Some(_), _) => "HTTPS :443 (:80 redirects)".to_string(),
                (None, Some(l)) if l.certificate_arn.is_some() => format!("HTTPS :{}", l.listen_port),
                (None, Some(l)) => format!("HTTP :{}", l.listen_port),
                (None, None) => String::new(),
            };
            match &record {
                Some(r) => {
                    edge(INTERNET, r, "DNS", Line::Flow);
                    edge(r, lb, &served, Line::Flow);
                }
                None => edge(INTERNET, lb, &served, Line::Flow),
            }
            if let (Some(f), Some(fl)) = (&fleet_id, &stack.fleet) {
                edge(lb, f, &format!("HTTP :{}", fl.app_port), Line::Flow);
            }
        }
        if let (Some(f), Some(db), Some(d)) = (&fleet_id, &db, &stack.database) {
            edge(f, db, &format!("{} :{}", d.engine, d.port), Line::Flow);
        }
        for d in desired {
            let me = node_id(&d.addr);
            for dep in &d.deps {
                let them = node_id(dep);
                let (mine, theirs) = (d.addr.kind(), dep.kind());
                match (mine, theirs) {
                    (Kind::DnsRecord, Kind::HostedZone) => edge(&them, &me, "holds", Line::Relation),
                    (Kind::Certificate, Kind::HostedZone) => edge(&them, &me, "validates", Line::Relation),
                    (Kind::Listener, Kind::Certificate) => {
                        if let Some(lb) = &lb {
                            edge(&them, lb, "TLS", Line::Relation)
                        }
                    }
                    (Kind::LoadBalancer, Kind::Bucket) => edge(&me, &them, "access logs", Line::Flow),
                    (Kind::Bucket, Kind::Bucket) => edge(&me, &them, "server access logs", Line::Flow),
                    (Kind::LogSubscription, Kind::DeliveryStream) => {
                        if let Some(group) = d.deps.iter().find(|a| a.kind() == Kind::LogGroup) {
                            edge(&node_id(group), &them, "log events", Line::Flow)
                        }
                    }
                    (Kind::DeliveryStream, Kind::Bucket) => edge(&me, &them, "logs", Line::Flow),
                    (Kind::DeliveryStream, Kind::Role) => edge(&me, &them, "runs as", Line::Relation),
                    (Kind::Alarm, Kind::Topic) => edge(&me, &them, "alarm", Line::Flow),
                    (Kind::Dashboard, _) => {
                        if let Some(watched) = shown_as(dep, fleet).filter(|id| nodes.contains_key(id)) {
                            edge(&watched, &me, "metrics", Line::Relation)
                        }
                    }
                    _ => {}
                }
            }
        }
        // An alarm watches a metric of the resource its namespace is AWS's for.
        for d in desired.iter().filter(|d| d.addr.kind() == Kind::Alarm) {
            let watched = match d.attrs.get("namespace").and_then(|n| n.as_str()) {
                Some("AWS/RDS") => db.clone(),
                Some("AWS/EC2" | "AWS/AutoScaling") => fleet_id.clone(),
                Some("AWS/ApplicationELB") => lb.clone(),
                _ => None,
            };
            if let Some(w) = watched {
                edge(&w, &node_id(&d.addr), "metrics", Line::Relation);
            }
        }
        let topic = node_id(&crate::resources::monitoring::topic::addr());
        if nodes.contains_key(&topic) {
            edge(&topic, INBOX, "e-mail", Line::Flow);
        }
        // Who may do what: the fleet's role, each role and group and what it may reach.
        if let (Some(f), Some(role)) = (&fleet_id, stack.fleet.as_ref().and_then(|f| f.instance_role.as_deref())) {
            if let Some(r) = has(&nodes, Kind::Role, role) {
                edge(f, &r, "runs as", Line::Relation);
            }
        }
        let holders = stack
            .access
            .roles
            .iter()
            .map(|(n, r)| (Kind::Role, n, &r.permissions))
            .chain(stack.access.groups.iter().map(|(n, g)| (Kind::Group, n, &g.permissions)));
        for (kind, name, permissions) in holders {
            let Some(me) = has(&nodes, kind, name) else { continue };
            for g in &permissions.grants {
                if let Some(b) = has(&nodes, Kind::Bucket, &g.bucket) {
                    let prefix = if g.prefix.is_empty() { String::new() } else { format!(" {}", g.prefix) };
                    edge(&me, &b, &format!("may {}{prefix}", access_words(g.access)), Line::Relation);
                }
            }
        }
        // The outside ends of the picture, where an edge reaches them.
        let mut all: Vec<Node> = nodes.into_values().collect();
        for (id, label) in [(INTERNET, "internet"), (INBOX, "the team's e-mail")] {
            if edges.iter().any(|e| e.from == id || e.to == id) {
                all.push(Node { id: id.into(), label: vec![label.into()], area: Area::Outside, mark: None });
            }
        }
        all.sort_by(|a, b| (a.area, &a.id).cmp(&(b.area, &b.id)));
        edges.dedup_by(|a, b| a.from == b.from && a.to == b.to && a.label == b.label);
        let title = match &stack.environment {
            Some(e) => format!("{} ({})", stack.name, e.name),
            None => stack.name.clone(),
        };
        Picture { title, nodes: all, edges }
    }

    /// Graphviz DOT: `dot -Tsvg` draws it.
    pub fn dot(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "digraph {} {{", quote(&self.title));
        let _ = writeln!(out, "  label={};", quote(&format!("bumarket-infra: {}", self.title)));
        out.push_str("  labelloc=t;\n  rankdir=LR;\n  node [shape=box, style=\"rounded,filled\", fillcolor=white, fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n");
        for area in self.areas() {
            let inside: Vec<&Node> = self.nodes.iter().filter(|n| n.area == area).collect();
            let indent = if area == Area::Outside { "  " } else { "    " };
            if area != Area::Outside {
                let _ = writeln!(
                    out,
                    "  subgraph cluster_{} {{\n    label={};\n    style=rounded;",
                    area.id(),
                    quote(area.title())
                );
            }
            for n in inside {
                let mut label = n.label.join("\n");
                let mut attrs = String::new();
                if let Some(m) = n.mark {
                    label = format!("{} {label}\n({})", m.symbol().trim(), words(m));
                    let (color, fill) = colors(m);
                    let _ = write!(attrs, ", color=\"{color}\", fillcolor=\"{fill}\", penwidth=2");
                }
                if n.area == Area::Outside {
                    attrs.push_str(", shape=ellipse");
                }
                let _ = writeln!(out, "{indent}{} [label={}{attrs}];", n.id, quote(&label));
            }
            if area != Area::Outside {
                out.push_str("  }\n");
            }
        }
        for e in &self.edges {
            let style = if e.line == Line::Relation { ", style=dashed" } else { "" };
            let _ = writeln!(out, "  {} -> {} [label={}{style}];", e.from, e.to, quote(&e.label));
        }
        out.push_str("}\n");
        out
    }

    /// Mermaid flowchart: GitHub draws a ```` ```mermaid ```` block.
    pub fn mermaid(&self) -> String {
        let mut out = String::from("flowchart LR\n");
        for area in self.areas() {
            let inside: Vec<&Node> = self.nodes.iter().filter(|n| n.area == area).collect();
            let indent = if area == Area::Outside { "  " } else { "    " };
            if area != Area::Outside {
                let _ = writeln!(out, "  subgraph {}[\"{}\"]", area.id(), mermaid_text(area.title()));
            }
            for n in inside {
                let mut label = n.label.iter().map(|l| mermaid_text(l)).collect::<Vec<_>>().join("<br/>");
                if let Some(m) = n.mark {
                    label = format!("{} {label}<br/>({})", mermaid_text(m.symbol().trim()), words(m));
                }
                let (open, close) = if n.area == Area::Outside { ("([\"", "\"])") } else { ("[\"", "\"]") };
                let _ = writeln!(out, "{indent}{}{open}{label}{close}", n.id);
            }
            if area != Area::Outside {
                out.push_str("  end\n");
            }
        }
        for e in &self.edges {
            let arrow = if e.line == Line::Relation { "-.->" } else { "-->" };
            if e.label.is_empty() {
                let _ = writeln!(out, "  {} {arrow} {}", e.from, e.to);
            } else {
                let _ = writeln!(out, "  {} {arrow}|\"{}\"| {}", e.from, mermaid_text(&e.label), e.to);
            }
        }
        let marked: Vec<(&Node, Action)> = self.nodes.iter().filter_map(|n| n.mark.map(|m| (n, m))).collect();
        for m in [Action::Create, Action::Update, Action::Replace, Action::Delete, Action::Adopt, Action::Release] {
            let ids: Vec<&str> = marked.iter().filter(|(_, a)| *a == m).map(|(n, _)| n.id.as_str()).collect();
            if !ids.is_empty() {
                let (color, fill) = colors(m);
                let _ = writeln!(out, "  classDef {} fill:{fill},stroke:{color},stroke-width:2px", words(m));
                let _ = writeln!(out, "  class {} {}", ids.join(","), words(m));
            }
        }
        out
    }

    fn areas(&self) -> Vec<Area> {
        let mut areas: Vec<Area> = self.nodes.iter().map(|n| n.area).collect();
        areas.dedup();
        areas
    }

    /// The number of resources the picture marks as changed.
    pub fn marked(&self) -> usize {
        self.nodes.iter().filter(|n| n.mark.is_some()).count()
    }
}

fn words(a: Action) -> &'static str {
    match a {
        Action::NoOp => "unchanged",
        Action::Create => "created",
        Action::Update => "updated",
        Action::Replace => "replaced",
        Action::Delete => "deleted",
        Action::Adopt => "adopted",
        Action::Release => "released",
    }
}

/// (line, fill) colours of a mark: red for what goes away, green for what is new.
fn colors(a: Action) -> (&'static str, &'static str) {
    match a {
        Action::Delete | Action::Replace => ("#b91c1c", "#fee2e2"),
        Action::Create => ("#15803d", "#dcfce7"),
        _ => ("#b45309", "#fef3c7"),
    }
}

fn area(kind: Kind) -> Area {
    match kind {
        Kind::Vpc | Kind::LoadBalancer | Kind::AutoscalingGroup | Kind::Database => Area::Network,
        Kind::HostedZone | Kind::DnsRecord | Kind::Certificate => Area::Domain,
        Kind::Bucket | Kind::DeliveryStream => Area::Storage,
        Kind::Topic | Kind::Alarm | Kind::Dashboard | Kind::LogGroup => Area::Monitoring,
        _ => Area::Access,
    }
}

/// What a node says: its kind in words, its logical name, then what a reviewer wants.
fn label(stack: &Stack, addr: &Addr, physical: &str, attrs: Option<&Attrs>) -> Vec<String> {
    let text =
        |key: &str| attrs.and_then(|a| a.get(key)).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string));
    let name = addr.name();
    let mut lines = match addr.kind() {
        Kind::Vpc => {
            let cidr = stack.network.as_ref().map(|n| n.cidr.to_string()).unwrap_or_default();
            vec!["network".into(), format!("{cidr} subnets, routes, gateway").trim().to_string()]
        }
        Kind::LoadBalancer => vec!["load balancer".into()],
        Kind::AutoscalingGroup => match &stack.fleet {
            Some(f) => vec![
                format!("fleet {name}"),
                format!(
                    "{} × {}..{} ({} at {} % CPU)",
                    f.instance_type, f.min_size, f.max_size, "scales out", f.cpu_target_percent
                ),
            ],
            None => vec![format!("fleet {name}")],
        },
        Kind::Database => match &stack.database {
            Some(d) => vec![
                "database".into(),
                format!(
                    "{} {} {} GB{}",
                    d.engine,
                    d.instance_class,
                    d.storage.size_gb,
                    if d.multi_az { ", Multi-AZ" } else { "" }
                ),
                format!("backups kept {} days", d.backup_retention_days),
            ],
            None => vec!["database".into()],
        },
        Kind::Bucket => vec![format!("bucket {name}"), physical.to_string()],
        Kind::Role => {
            let mut l = vec![format!("role {name}")];
            if let Some(r) = stack.access.roles.get(name) {
                l.extend(r.permissions.managed_policies.iter().map(|p| p.rsplit('/').next().unwrap_or(p).to_string()));
            }
            l
        }
        Kind::Group => {
            let mut l = vec![format!("group {name}")];
            if let Some(g) = stack.access.groups.get(name) {
                l.extend(g.permissions.managed_policies.iter().map(|p| p.rsplit('/').next().unwrap_or(p).to_string()));
            }
            l
        }
        Kind::Topic => {
            let emails = stack.monitoring.as_ref().map_or(0, |m| m.emails.len());
            vec!["alarm topic".into(), format!("{emails} e-mail address{}", if emails == 1 { "" } else { "es" })]
        }
        Kind::Alarm => {
            let sign = match text("comparison").as_deref() {
                Some("GreaterThanThreshold") => ">",
                Some("GreaterThanOrEqualToThreshold") => "≥",
                Some("LessThanThreshold") => "<",
                Some("LessThanOrEqualToThreshold") => "≤",
                _ => "vs",
            };
            let threshold = text("threshold").map(|t| t.strip_suffix(".0").map(str::to_string).unwrap_or(t));
            let metric = text("metric").map(|m| format!("{m} {sign} {}", threshold.unwrap_or_default()));
            vec![format!("alarm {name}"), metric.unwrap_or_default()]
        }
        Kind::LogGroup => vec!["log group".into(), physical.to_string()],
        Kind::DeliveryStream => vec![format!("log stream {name}")],
        Kind::Dashboard => vec!["dashboard".into()],
        Kind::Cloud9 => vec!["Cloud9".into(), physical.to_string()],
        Kind::HostedZone => vec!["hosted zone".into(), physical.to_string()],
        Kind::DnsRecord => {
            vec!["name".into(), stack.domain.as_ref().map(|d| d.name.clone()).unwrap_or_else(|| physical.into())]
        }
        Kind::Certificate => vec!["certificate".into(), physical.to_string()],
        other => vec![format!("{other} {name}")],
    };
    lines.retain(|l| !l.is_empty());
    lines
}

fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"))
}

/// Mermaid labels are in double quotes; a quote, `#` (which starts Mermaid's codes) and
/// what HTML would read are written as Mermaid's entity codes (`#quot;`, `#60;`: its
/// flowchart syntax documents them for characters a label cannot hold).
fn mermaid_text(text: &str) -> String {
    text.replace('#', "#35;").replace('"', "#quot;").replace('`', "").replace('<', "#60;").replace('>', "#62;")
}

#[cfg(test)]
#[path = "graph_tests.rs"]
mod tests;
