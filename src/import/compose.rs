//! From what import found to a stack file: the model (`bumarket_stack::Stack`) with an
//! `adopt:` entry for every live resource, comments for what the file cannot express,
//! and findings where the live resource is less safe than the tool's defaults.
//!
//! Sections follow the references between resources: the fleet is the Auto Scaling
//! group in the VPC's subnets, its launch template the one the group runs, the load
//! balancer the one whose listener forwards to the group's target group, the security
//! groups those the load balancer, the template and the database use, the instances'
//! role the one in the template's instance profile. Every physical name is written out
//! (`name:` in the sections, `adopt:` entries), so nothing is renamed.
//!
//! What is live is kept, so that adopting changes nothing by surprise: a less safe
//! setting is written as a stated loosening with a reason placeholder
//! ([`bumarket_stack::write::REASON_PLACEHOLDER`]) and listed as a finding. Where the
//! file has no way to keep a live setting (a security-group rule of its own, a
//! template without a root volume), the finding says what the plan will change.

use super::read::{self, Found};
use super::Options;
use bumarket_stack::write::{skeleton, Draft, REASON_PLACEHOLDER};
use bumarket_stack::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The file to write and what to tell the user.
#[derive(Debug, Default)]
pub struct Composed {
    pub stack: Option<Stack>,
    pub draft: Draft,
    /// Less safe than the defaults, or changed by the first apply: one line each.
    pub findings: Vec<String>,
}

struct Cx<'a> {
    found: &'a Found,
    o: &'a Options,
    draft: Draft,
    findings: Vec<String>,
    adopt: BTreeMap<String, Adoption>,
    /// Logical names taken, per kind of section.
    taken: BTreeSet<String>,
}

impl Cx<'_> {
    fn note(&mut self, section: &str, line: impl Into<String>) {
        self.draft.notes.entry(section.to_string()).or_default().push(line.into());
    }
    /// A finding, also written above the section it concerns.
    fn finding(&mut self, section: &str, line: impl Into<String>) {
        let line = line.into();
        self.note(section, format!("Finding: {line}"));
        self.findings.push(line);
    }
    fn left_out(&mut self, line: impl Into<String>) {
        let line = line.into();
        self.note("end", format!("- {line}"));
    }
    fn adopt(&mut self, addr: &str, id: &str, name: Option<&str>, description: Option<&str>) {
        self.adopt.insert(
            addr.to_string(),
            Adoption {
                id: id.to_string(),
                name: name.map(String::from),
                description: description.map(String::from),
                replace: false,
            },
        );
    }
    /// A logical name (1-20 of `a-z 0-9 -`) for a physical one: the prefix taken off,
    /// unique within `kind`.
    fn logical(&mut self, kind: &str, physical: &str) -> String {
        let stripped = self.o.prefix.as_deref().and_then(|p| physical.strip_prefix(p)).unwrap_or(physical);
        let mut s: String =
            stripped.to_ascii_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
        s = s.trim_matches('-').chars().take(20).collect::<String>().trim_end_matches('-').to_string();
        if s.is_empty() {
            s = kind.into();
        }
        let mut candidate = s.clone();
        let mut n = 2;
        while !self.taken.insert(format!("{kind}:{candidate}")) {
            let tail = format!("-{n}");
            candidate = format!("{}{tail}", s.chars().take(20 - tail.len()).collect::<String>());
            n += 1;
        }
        candidate
    }
}

/// Builds the file from `found`.
pub fn compose(found: &Found, o: &Options) -> Composed {
    let mut cx =
        Cx { found, o, draft: Draft::default(), findings: Vec::new(), adopt: BTreeMap::new(), taken: BTreeSet::new() };
    let mut stack = skeleton("");
    stack.name = o.stack.clone();
    stack.region = found.region.clone();
    stack.network = None;
    stack.buckets = buckets(&mut cx);
    stack.access = access(&mut cx);
    stack.network = network(&mut cx);
    if stack.network.is_some() {
        stack.fleet = fleet(&mut cx, &stack);
    }
    if stack.fleet.is_some() {
        stack.load_balancer = load_balancer(&mut cx, &stack);
    }
    if stack.network.as_ref().is_some_and(|n| !n.private_subnets.is_empty()) {
        stack.database = database(&mut cx);
    } else if let Some(db) = &found.database {
        cx.left_out(format!(
            "database `{}`: the file keeps a database in private subnets, one per zone, and the VPC has none such",
            db.identifier
        ));
    }
    security_groups(&mut cx, &stack);
    stack.monitoring = monitoring(&mut cx, &stack);
    for line in &found.left_out {
        cx.left_out(line.clone());
    }
    if cx.draft.notes.contains_key("end") {
        let lines = cx.draft.notes.remove("end").unwrap_or_default();
        let mut end = vec![
            "Found and not written: the file's sections make their own of these, or cannot".to_string(),
            "express them; they stay as they are, and bumarket-infra never touches them.".to_string(),
        ];
        end.extend(lines);
        cx.draft.notes.insert("end".into(), end);
    }
    cx.draft.head = vec![
        format!("Written by `bumarket-infra import` from account {} in {}.", found.account, found.region),
        "Every resource below exists already: `adopt:` lists each one's live id or name, and".into(),
        "`plan` shows it as `adopt` (tagged as the stack's, never recreated). Review the".into(),
        "findings and the TODO reasons, then:".into(),
        "".into(),
        "  bumarket-infra plan -f <this file>     # only adoptions, and the changes it names".into(),
        "  bumarket-infra apply -f <this file>".into(),
    ];
    if !cx.adopt.is_empty() {
        cx.note("adopt", "The live resources the stack takes over (address as `plan` shows it: id or name).");
    }
    stack.adopt = std::mem::take(&mut cx.adopt);
    Composed { stack: Some(stack), draft: cx.draft, findings: cx.findings }
}

fn network(cx: &mut Cx) -> Option<Network> {
    let found = cx.found;
    let vpc = found.vpc.as_ref()?;
    let cidr = parse_cidr(&found.vpc_cidr)?;
    let mut zones: Vec<&str> = found.subnets.iter().filter(|s| s.public).map(|s| s.zone.as_str()).collect();
    zones.dedup();
    if zones.len() < 2 {
        cx.left_out(format!(
            "VPC `{}`: the file's network has public subnets in at least two zones; this one has them in {}",
            vpc.id,
            zones.len()
        ));
        return None;
    }
    let first = |zone: &str, public: bool| found.subnets.iter().find(|s| s.zone == zone && s.public == public);
    let public: Vec<&read::Subnet> = zones.iter().filter_map(|z| first(z, true)).collect();
    let private: Vec<&read::Subnet> = zones.iter().filter_map(|z| first(z, false)).collect();
    let private = if private.len() == zones.len() { private } else { vec![] };
    let chosen: BTreeSet<&str> = public.iter().chain(&private).map(|s| s.id.as_str()).collect();
    for s in found.subnets.iter().filter(|s| !chosen.contains(s.id.as_str())) {
        cx.left_out(format!(
            "subnet `{}` ({}, {}): the file has one public and one private subnet per zone",
            s.id, s.cidr, s.zone
        ));
    }
    cx.adopt("vpc.main", &vpc.id, vpc.name.as_deref(), None);
    for (kind, list) in [("public", &public), ("private", &private)] {
        for (i, s) in list.iter().enumerate() {
            cx.adopt(&format!("subnet.{kind}-{i}"), &s.id, s.name.as_deref(), None);
        }
    }
    if let Some(g) = &found.gateway {
        cx.adopt("internet_gateway.main", &g.id, g.name.as_deref(), None);
    }
    for (kind, list) in [("public", &public), ("private", &private)] {
        let Some(s) = list.first() else { continue };
        match found.route_tables.iter().find(|t| t.subnets.contains(&s.id)) {
            Some(t) => cx.adopt(&format!("route_table.{kind}"), &t.id, t.name.as_deref(), None),
            None => cx.finding(
                "network",
                format!("the {kind} subnets use the VPC's main route table; apply gives them a route table of the stack's (same routes), the main one stays"),
            ),
        }
    }
    let cidrs = |l: &[&read::Subnet]| l.iter().filter_map(|s| parse_cidr(&s.cidr)).collect::<Vec<_>>();
    Some(Network {
        existing: false,
        cidr,
        availability_zones: zones.iter().map(|z| z.to_string()).collect(),
        public_subnets: cidrs(&public),
        private_subnets: cidrs(&private),
    })
}

fn fleet(cx: &mut Cx, stack: &Stack) -> Option<Fleet> {
    let found = cx.found;
    let group = found.group.as_ref()?;
    let Some(t) = found.template.as_ref() else {
        cx.left_out(format!(
            "Auto Scaling group `{}`: it runs a launch configuration or a mixed-instances policy; the file's fleet is a launch template",
            group.name
        ));
        return None;
    };
    let Some(instance_type) = t.instance_type.clone() else {
        cx.left_out(format!("Auto Scaling group `{}`: its template `{}` names no instance type", group.name, t.name));
        return None;
    };
    let mut f = skeleton(&format!("fleet: {{instance_type: {instance_type}}}\n")).fleet.expect("fleet");
    f.instance_type = instance_type;
    if let Some(image) = &t.image_id {
        f.image = Image::Ami(image.clone());
    }
    if let Some(tg) = &found.target_group {
        f.app_port = u16::try_from(tg.port).unwrap_or(f.app_port);
    }
    match &t.root_volume {
        Some(r) => {
            if let Some(size) = r.size_gb.and_then(|s| u32::try_from(s).ok()) {
                f.root_volume.size_gb = size;
            }
            if let Some(kind) = r.volume_type.as_ref().filter(|k| ["gp3", "gp2", "io1", "io2"].contains(&k.as_str())) {
                f.root_volume.volume_type = kind.clone();
            }
            if r.encrypted != Some(true) {
                f.root_volume.encrypted = false;
                cx.finding(
                    "fleet",
                    format!("the root volume of template `{}` is not encrypted: kept (`unencrypted_reason` says why)", t.name),
                );
            }
        }
        None => cx.finding(
            "fleet",
            format!("template `{}` sets no root volume (instances get the image's): the file's default, 8 GB gp3 encrypted, applies to instances launched after the next apply", t.name),
        ),
    }
    if !t.tokens_required {
        f.require_imdsv2 = Loosenable::Off { reason: REASON_PLACEHOLDER.into() };
        cx.finding(
            "fleet",
            format!(
                "template `{}` allows IMDSv1 (instance metadata without a session token): kept as a stated loosening",
                t.name
            ),
        );
    }
    let count = |v: i32| u32::try_from(v).unwrap_or(0);
    (f.min_size, f.desired_capacity, f.max_size) = (count(group.min), count(group.desired), count(group.max));
    f.health_check_grace_seconds = count(group.grace);
    if let Some(min) = group.min_healthy.and_then(|v| u32::try_from(v).ok()) {
        f.min_healthy_percent = min;
        f.max_healthy_percent = (min + 100).min(200);
    }
    if let Some(max) = group.max_healthy.and_then(|v| u32::try_from(v).ok()) {
        f.max_healthy_percent = max;
    }
    match group.cpu_policies.first() {
        Some((name, target)) => {
            f.cpu_target_percent = *target;
            cx.adopt("scaling_policy.cpu", name, Some(name), None);
        }
        None => cx.finding(
            "fleet",
            format!(
                "group `{}` has no target tracking on CPU: apply adds one at {} %",
                group.name, f.cpu_target_percent
            ),
        ),
    }
    for p in &group.other_policies {
        cx.left_out(format!("scaling policy `{p}` of group `{}`", group.name));
    }
    if let Some(profile) = &t.instance_profile {
        let role =
            stack.access.roles.iter().find(|(_, r)| r.instance_profile && r.name.as_deref() == Some(profile.as_str()));
        match role {
            Some((logical, _)) => f.instance_role = Some(logical.clone()),
            None => cx.finding(
                "fleet",
                format!("instance profile `{profile}` holds no role the file can keep (see the end of the file): the next template version runs without it"),
            ),
        }
    }
    if let Some(script) = &t.user_data {
        match &cx.o.user_data_file {
            Some(path) => f.user_data = Some(UserData { path: path.clone(), content: script.clone() }),
            None => cx.note(
                "fleet",
                format!("The template's user data ({} bytes) is not written to standard output: run import with --out FILE to keep it beside the file", script.len()),
            ),
        }
    }
    cx.adopt("launch_template.app", &t.name, Some(&t.name), None);
    cx.adopt("autoscaling_group.app", &group.name, Some(&group.name), None);
    Some(f)
}

fn load_balancer(cx: &mut Cx, stack: &Stack) -> Option<LoadBalancer> {
    let found = cx.found;
    let lb = found.load_balancer.as_ref()?;
    let tg = found.target_group.as_ref()?;
    if lb.internal {
        cx.left_out(format!("load balancer `{}`: internal; the file's load balancer faces the internet", lb.name));
        return None;
    }
    let forward = lb.listeners.iter().find(|l| l.forward_to.as_deref() == Some(tg.arn.as_str()))?;
    let certificate = forward.certificate.clone().filter(|_| forward.protocol == "HTTPS");
    let sections = match &certificate {
        Some(arn) => {
            format!("fleet: {{instance_type: t3.micro}}\nload_balancer: {{certificate_arn: {}}}\n", write::q(arn))
        }
        None => "fleet: {instance_type: t3.micro}\nload_balancer: {}\n".to_string(),
    };
    let mut l = skeleton(&sections).load_balancer.expect("load balancer");
    l.listen_port = u16::try_from(forward.port).unwrap_or(l.listen_port);
    l.certificate_arn = certificate;
    for other in lb.listeners.iter().filter(|x| x.port != forward.port) {
        if !(other.redirect && l.certificate_arn.is_some() && other.port == 80) {
            cx.left_out(format!(
                "listener on port {} of `{}`: the file has one listener (and 80 → 443 with HTTPS)",
                other.port, lb.name
            ));
        }
    }
    let h = &mut l.health_check;
    let n = |v: Option<i32>, d: u32| v.and_then(|v| u32::try_from(v).ok()).unwrap_or(d);
    h.path = tg.path.clone().unwrap_or_else(|| h.path.clone());
    h.interval_seconds = n(tg.interval, h.interval_seconds);
    h.timeout_seconds = n(tg.timeout, h.timeout_seconds);
    h.healthy_threshold = n(tg.healthy, h.healthy_threshold);
    h.unhealthy_threshold = n(tg.unhealthy, h.unhealthy_threshold);
    h.matcher = tg.matcher.clone().unwrap_or_else(|| h.matcher.clone());
    let attr = |k: &str| lb.attributes.get(k).map(String::as_str);
    l.deletion_protection = attr("deletion_protection.enabled") == Some("true");
    // AWS's default keeps invalid header fields; the tool's drops them.
    if attr("routing.http.drop_invalid_header_fields.enabled") != Some("true") {
        l.drop_invalid_header_fields = false;
        cx.finding(
            "load_balancer",
            format!("`{}` passes HTTP headers with invalid names to the app (AWS's default): kept as `drop_invalid_header_fields: false`; the tool's default drops them", lb.name),
        );
    }
    if let Some(idle) = attr("idle_timeout.timeout_seconds").and_then(|v| v.parse().ok()) {
        l.idle_timeout_seconds = idle;
    }
    if attr("access_logs.s3.enabled") == Some("true") {
        let bucket = attr("access_logs.s3.bucket").unwrap_or_default();
        let prefix = attr("access_logs.s3.prefix").unwrap_or_default();
        let logical = stack.buckets.iter().find(|(_, b)| b.name.as_deref() == Some(bucket)).map(|(l, _)| l.clone());
        match logical {
            Some(logical) if !prefix.is_empty() => {
                l.access_logs = Some(AccessLogs { bucket: logical, prefix: prefix.into() })
            }
            _ => cx.finding(
                "load_balancer",
                format!(
                    "`{}` logs into `{bucket}`{}, which the file cannot name: the next apply turns its access logs off",
                    lb.name,
                    if prefix.is_empty() { " without a prefix" } else { "" }
                ),
            ),
        }
    } else {
        cx.finding("load_balancer", format!("`{}` keeps no access logs", lb.name));
    }
    cx.adopt("load_balancer.main", &lb.name, Some(&lb.name), None);
    cx.adopt("target_group.app", &tg.name, Some(&tg.name), None);
    Some(l)
}

/// The major version the file writes: RDS's versions start with it (`19` of
/// `19.0.0.0.ru-2024-01.rur-2024-01.r1`, `16` of `16.4`, `8.0` of `8.0.35`).
fn major_version(engine: &str, version: &str) -> String {
    let take = if matches!(engine, "mysql" | "mariadb") { 2 } else { 1 };
    version.split('.').take(take).collect::<Vec<_>>().join(".")
}

fn database(cx: &mut Cx) -> Option<Database> {
    let found = cx.found;
    let db = found.database.as_ref()?;
    let supported = ["oracle-ee", "oracle-ee-cdb", "oracle-se2", "oracle-se2-cdb", "postgres", "mysql", "mariadb"];
    if !supported.contains(&db.engine.as_str()) {
        cx.left_out(format!("database `{}`: engine `{}` is not one the file runs", db.identifier, db.engine));
        return None;
    }
    let version = major_version(&db.engine, &db.engine_version);
    let sections = format!(
        "database: {{engine: {}, engine_version: {}, instance_class: {}}}\n",
        db.engine,
        serde_json::Value::String(version.clone()),
        write::q(&db.class)
    );
    let mut d = skeleton(&sections).database.expect("database");
    d.identifier = Some(db.identifier.clone());
    d.engine_version = version;
    d.license_model = db.license_model.clone().or(d.license_model);
    if let Some(port) = db.port.and_then(|p| u16::try_from(p).ok()) {
        d.port = port;
    }
    d.storage.size_gb = u32::try_from(db.storage_gb).unwrap_or(d.storage.size_gb);
    d.storage.max_size_gb = db.max_storage_gb.and_then(|m| u32::try_from(m).ok()).filter(|m| *m > d.storage.size_gb);
    if let Some(kind) = db.storage_type.as_ref().filter(|k| ["gp3", "gp2", "io1", "io2"].contains(&k.as_str())) {
        d.storage.storage_type = kind.clone();
    }
    if !db.encrypted {
        d.storage.encrypted = false;
        cx.finding("database", format!("`{}` stores its data unencrypted: kept (`unencrypted_reason` says why; RDS encrypts only a new instance, restored from an encrypted snapshot copy)", db.identifier));
    }
    d.admin_user = db.master_user.clone();
    match &db.managed_secret {
        Some(kms) => {
            let kms = kms.clone().filter(|k| !k.ends_with("alias/aws/secretsmanager"));
            d.password = Password::Managed { kms_key_id: kms };
        }
        None => {
            cx.note("database", "The password: RDS does not keep this database's master password in Secrets Manager.");
            cx.note(
                "database",
                "Before apply, either store it in a secret and write `password: {secret_arn: <its ARN>}`",
            );
            cx.note(
                "database",
                "(nothing changes), or keep `managed`: RDS then sets a new password it keeps in a secret,",
            );
            cx.note("database", "and whatever connects with the old one must read DB_SECRET_ARN instead.");
            cx.findings.push(format!(
                "the master password of `{}` is not in Secrets Manager: see the comment above `database:`",
                db.identifier
            ));
        }
    }
    if db.backup_days >= 1 {
        d.backup_retention_days = u32::try_from(db.backup_days).unwrap_or(d.backup_retention_days);
    } else {
        cx.finding(
            "database",
            format!(
                "`{}` keeps no automated backups: the file turns them on, {} days",
                db.identifier, d.backup_retention_days
            ),
        );
    }
    if let Some(w) = &db.backup_window {
        d.backup_window = w.clone();
    }
    if let Some(w) = &db.maintenance_window {
        d.maintenance_window = w.to_ascii_lowercase();
    }
    let mut exports = db.log_exports.clone();
    exports.sort();
    d.log_exports = exports;
    d.deletion_protection = db.deletion_protection;
    if !db.deletion_protection {
        cx.finding(
            "database",
            format!("`{}` has no deletion protection: kept as `deletion_protection: false`", db.identifier),
        );
    }
    d.multi_az = db.multi_az;
    if db.publicly_accessible {
        cx.finding("database", format!("`{}` is publicly accessible: the next apply makes it private", db.identifier));
    }
    cx.adopt("database.main", &db.identifier, None, None);
    if let Some(g) = &found.db_subnet_group {
        cx.adopt("db_subnet_group.main", &g.id, g.name.as_deref(), None);
    }
    Some(d)
}

/// The security groups the load balancer, the template and the database use, adopted
/// with the names and descriptions they have (neither can change).
/// The alarms the file makes, each with what it watches (namespace, metric, the
/// dimensions that name the resource) and the `monitoring.alarms` key of its threshold.
fn alarm_specs(found: &Found, stack: &Stack) -> Vec<(&'static str, &'static str, &'static str, Vec<String>)> {
    let mut out = Vec::new();
    if let (Some(_), Some(g)) = (&stack.fleet, &found.group) {
        out.push(("fleet-cpu", "AWS/EC2", "CPUUtilization", vec![g.name.clone()]));
    }
    if let (Some(_), Some(lb), Some(tg)) = (&stack.load_balancer, &found.load_balancer, &found.target_group) {
        let dims: Vec<String> = [&lb.arn, &tg.arn].iter().filter_map(|a| read::dimension_of(a)).collect();
        out.push(("unhealthy-hosts", "AWS/ApplicationELB", "UnHealthyHostCount", dims.clone()));
        out.push(("http-5xx", "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", dims));
    }
    if let (Some(_), Some(db)) = (&stack.database, &found.database) {
        out.push(("database-cpu", "AWS/RDS", "CPUUtilization", vec![db.identifier.clone()]));
        out.push(("database-free-storage", "AWS/RDS", "FreeStorageSpace", vec![db.identifier.clone()]));
    }
    out
}

/// `monitoring:` from the topic the team's alarms mail: its e-mail addresses, the alarms
/// that watch what the file's alarms watch (adopted under their names, their thresholds
/// kept), the database's log groups (their longest retention kept). The file's other
/// alarms and the app's log group are new; a dashboard of the console's is left as it
/// is (`dashboard: false`), its graphs not being the file's to say.
fn monitoring(cx: &mut Cx, stack: &Stack) -> Option<Monitoring> {
    let found = cx.found;
    let m = &found.monitoring;
    let notified = |t: &read::Topic| m.alarms.iter().filter(|a| a.actions.contains(&t.arn)).count();
    let mut topics: Vec<&read::Topic> = m.topics.iter().filter(|t| !t.emails.is_empty()).collect();
    topics.sort_by_key(|t| std::cmp::Reverse(notified(t)));
    let Some(topic) = topics.first().copied() else {
        for t in &m.topics {
            cx.left_out(format!("SNS topic `{}`: mails no e-mail address, which `monitoring` needs", t.name));
        }
        for a in &m.alarms {
            cx.left_out(format!("CloudWatch alarm `{}` ({} {})", a.name, a.namespace, a.metric));
        }
        for d in &m.dashboards {
            cx.left_out(format!("CloudWatch dashboard `{d}`"));
        }
        return None;
    };
    for t in m.topics.iter().filter(|t| t.arn != topic.arn) {
        cx.left_out(format!("SNS topic `{}`: the file mails through one topic, `{}`", t.name, topic.name));
    }
    for other in &topic.others {
        cx.left_out(format!(
            "subscription `{other}` of `{}`: kept as it is (the file manages e-mail ones)",
            topic.name
        ));
    }
    let mut out = skeleton("monitoring: {emails: [a@example.com]}\n").monitoring.expect("monitoring");
    out.emails.clone_from(&topic.emails);
    cx.adopt("topic.alerts", &topic.name, Some(&topic.name), None);

    let mut taken: BTreeSet<&str> = BTreeSet::new();
    let mut added = Vec::new();
    for (logical, namespace, metric, dims) in alarm_specs(found, stack) {
        let matching = m.alarms.iter().find(|a| {
            !taken.contains(a.name.as_str())
                && a.namespace == namespace
                && a.metric == metric
                && !dims.is_empty()
                && dims.iter().all(|d| a.dimensions.values().any(|v| v == d))
        });
        let Some(a) = matching else {
            added.push(format!("`{}-{logical}`", stack.name));
            continue;
        };
        taken.insert(&a.name);
        let t = a.threshold;
        match logical {
            "fleet-cpu" => out.alarms.fleet_cpu_percent = t,
            "unhealthy-hosts" => out.alarms.unhealthy_hosts = t,
            "http-5xx" => out.alarms.http_5xx_per_5_minutes = t,
            "database-cpu" => out.alarms.database_cpu_percent = t,
            _ => out.alarms.database_free_storage_mb = (t / (1024.0 * 1024.0)).round().max(1.0),
        }
        cx.adopt(&format!("alarm.{logical}"), &a.name, Some(&a.name), None);
    }
    for a in m.alarms.iter().filter(|a| !taken.contains(a.name.as_str())) {
        cx.left_out(format!(
            "CloudWatch alarm `{}` ({} {}): not one the file makes; it stays as it is",
            a.name, a.namespace, a.metric
        ));
    }

    // The database's log groups, which RDS made for its exports.
    // Their longest retention (`Some(None)`: one keeps events forever).
    let mut retention: Option<Option<i32>> = None;
    if let (Some(d), Some(db)) = (&stack.database, &found.database) {
        for t in &d.log_exports {
            let name = format!("{}{}/{t}", read::RDS_GROUPS, db.identifier);
            let Some(g) = m.log_groups.iter().find(|g| g.name == name) else { continue };
            cx.adopt(&format!("log_group.database-{t}"), &g.name, None, None);
            retention = Some(match (retention, g.retention_days) {
                (Some(None), _) | (_, None) => None,
                (Some(Some(a)), Some(b)) => Some(a.max(b)),
                (None, Some(b)) => Some(b),
            });
        }
    }
    match retention {
        Some(None) => {
            out.log_retention_days = *LOG_RETENTION_DAYS.last().expect("retentions") as u32;
            cx.finding(
                "monitoring",
                format!(
                    "the database's log groups keep events forever: kept as long as the file can say, `log_retention_days: {}`",
                    out.log_retention_days
                ),
            );
        }
        Some(Some(days)) => {
            let days = u64::try_from(days).unwrap_or(0);
            out.log_retention_days = LOG_RETENTION_DAYS.iter().find(|d| **d >= days).copied().unwrap_or(3653) as u32;
        }
        None => {}
    }

    // Dashboards: the console's stays as it is, unless it has the stack's name (then
    // it is the stack's, and its graphs become the file's).
    out.dashboard = false;
    for d in &m.dashboards {
        if *d == stack.name {
            out.dashboard = true;
            cx.finding("monitoring", format!("dashboard `{d}` has the name of the stack's dashboard: the first apply replaces its graphs with the file's"));
        } else {
            cx.left_out(format!("CloudWatch dashboard `{d}`: its graphs are not the file's to say; `dashboard: true` adds the stack's own, `{}`", stack.name));
        }
    }
    let mut new = added;
    if stack.fleet.is_some() {
        new.push(format!("the app's log group `/bumarket-infra/{}/app`", stack.name));
    }
    if !new.is_empty() {
        cx.note(
            "monitoring",
            format!("New with the first apply: {} (what the console stack did not have).", new.join(", ")),
        );
    }
    Some(out)
}

fn security_groups(cx: &mut Cx, stack: &Stack) {
    let found = cx.found;
    let lb =
        found.load_balancer.as_ref().filter(|_| stack.load_balancer.is_some()).and_then(|l| l.security_groups.first());
    let app = found.template.as_ref().filter(|_| stack.fleet.is_some()).and_then(|t| t.security_groups.first());
    let db = found.database.as_ref().filter(|_| stack.database.is_some()).and_then(|d| d.security_groups.first());
    let mut seen = BTreeSet::new();
    for (tier, id) in [("lb", lb), ("app", app), ("db", db)] {
        let Some(g) = id.and_then(|id| found.security_groups.iter().find(|g| &g.id == id)) else { continue };
        if !seen.insert(g.id.clone()) {
            cx.finding(
                "adopt",
                format!(
                    "security group `{}` serves more than one tier: the {tier} tier gets a group of its own",
                    g.name
                ),
            );
            continue;
        }
        cx.adopt(&format!("security_group.{tier}"), &g.id, Some(&g.name), Some(&g.description));
        // The app's instances reach out (packages, AWS's APIs); the others need not.
        if g.open_egress && tier != "app" {
            cx.finding(
                "adopt",
                format!("security group `{}` lets the {tier} tier reach anywhere (AWS's default egress): the stack's rules narrow it to what the tier needs", g.name),
            );
        }
        for r in &g.ingress {
            let open = r.cidrs.iter().any(|c| c == "0.0.0.0/0");
            let port = if r.from == r.to { format!("port {}", r.from) } else { format!("ports {}-{}", r.from, r.to) };
            let expected_open = tier == "lb";
            if open && (!expected_open || r.from == 22) {
                cx.finding(
                    "adopt",
                    format!(
                        "security group `{}` lets the internet in on {port}: the stack's rules take its place",
                        g.name
                    ),
                );
            }
        }
    }
}

fn buckets(cx: &mut Cx) -> BTreeMap<String, Bucket> {
    let found = cx.found;
    let log_bucket = found.load_balancer.as_ref().and_then(|l| l.attributes.get("access_logs.s3.bucket")).cloned();
    let mut out = BTreeMap::new();
    for b in &found.buckets {
        let logical = cx.logical("bucket", &b.name);
        let section = format!("buckets.{logical}");
        let mut bucket = skeleton("buckets: {x: {}}\n").buckets.remove("x").expect("bucket");
        bucket.name = Some(b.name.clone());
        let c = &b.config;
        if let Some(e) = c.get("encryption").filter(|e| e["algorithm"] != "AES256" && !e.is_null()) {
            let key = e["kms_key_id"].as_str().filter(|k| !k.ends_with("alias/aws/s3")).map(String::from);
            bucket.encryption = Encryption::Kms { key_id: key };
        }
        let pab = c.get("public_access_block").cloned().unwrap_or(Value::Null);
        let blocked = ["block_public_acls", "ignore_public_acls", "block_public_policy", "restrict_public_buckets"]
            .iter()
            .all(|k| pab[k] == true);
        if !blocked {
            bucket.public_access = Loosenable::Off { reason: REASON_PLACEHOLDER.into() };
            cx.finding(
                &section,
                format!("bucket `{}` does not block public access: kept as a stated loosening", b.name),
            );
        }
        let statements: Vec<Value> =
            c.get("policy").and_then(|p| p["Statement"].as_array().cloned()).unwrap_or_default();
        let is_tls = |s: &Value| {
            s["Effect"] == "Deny" && s["Condition"]["Bool"]["aws:SecureTransport"].as_str() == Some("false")
        };
        let is_log_delivery = |s: &Value| {
            log_bucket.as_deref() == Some(b.name.as_str())
                && s["Principal"].to_string().contains("elasticloadbalancing")
                || s["Principal"]["AWS"].as_str().is_some_and(|p| {
                    p.starts_with("arn:aws:iam::")
                        && p.ends_with(":root")
                        && s["Action"].to_string().contains("s3:PutObject")
                        && log_bucket.as_deref() == Some(b.name.as_str())
                })
        };
        if !statements.iter().any(is_tls) {
            bucket.require_tls = Loosenable::Off { reason: REASON_PLACEHOLDER.into() };
            cx.finding(
                &section,
                format!("bucket `{}` accepts requests without TLS: kept as a stated loosening", b.name),
            );
        }
        bucket.policy_statements = statements.into_iter().filter(|s| !is_tls(s) && !is_log_delivery(s)).collect();
        bucket.versioning = c.get("versioning") == Some(&Value::Bool(true));
        let rules = c.get("lifecycle").and_then(Value::as_array).cloned().unwrap_or_default();
        let day = |v: &Value| v.as_u64().and_then(|d| u32::try_from(d).ok());
        for (i, r) in rules.iter().enumerate() {
            let id = r["id"].as_str().filter(|s| !s.is_empty()).map_or_else(|| format!("rule-{}", i + 1), String::from);
            bucket.lifecycle.push(LifecycleRule {
                id,
                prefix: r["prefix"].as_str().unwrap_or_default().to_string(),
                expire_after_days: day(&r["expire_after_days"]),
                noncurrent_expire_after_days: day(&r["noncurrent_expire_after_days"]),
                abort_incomplete_upload_days: day(&r["abort_incomplete_upload_days"]),
            });
        }
        if c.get("object_ownership").and_then(Value::as_str) != Some("BucketOwnerEnforced") {
            cx.finding(
                &section,
                format!(
                    "bucket `{}` has ACLs enabled: the next apply turns them off (the bucket owner owns every object)",
                    b.name
                ),
            );
        }
        cx.adopt(&format!("bucket.{logical}"), &b.name, None, None);
        out.insert(logical, bucket);
    }
    out
}

/// A role's trust in the file's terms; `None` when the file cannot say it.
fn trust(doc: &Value, account: &str) -> Option<Trust> {
    let statements = doc["Statement"].as_array()?;
    let [s] = statements.as_slice() else { return None };
    let action_ok = s["Action"] == "sts:AssumeRole" || s["Action"] == serde_json::json!(["sts:AssumeRole"]);
    if s["Effect"] != "Allow" || !action_ok {
        return None;
    }
    let p = &s["Principal"];
    let one = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(a) if a.len() == 1 => a[0].as_str().map(String::from),
        _ => None,
    };
    let condition = s.get("Condition").filter(|c| !c.is_null());
    if let Some(service) = one(&p["Service"]) {
        return condition.is_none().then_some(Trust::Service(service));
    }
    let aws = one(&p["AWS"])?;
    if aws != account && aws != format!("arn:aws:iam::{account}:root") {
        return None;
    }
    match condition {
        None => Some(Trust::Account { require_mfa: false }),
        Some(c) if c["Bool"]["aws:MultiFactorAuthPresent"] == "true" && c.as_object().is_some_and(|m| m.len() == 1) => {
            Some(Trust::Account { require_mfa: true })
        }
        Some(_) => None,
    }
}

fn permissions_of(managed: &[String], inline: &[(String, Value)]) -> Permissions {
    let statements =
        inline.iter().flat_map(|(_, doc)| doc["Statement"].as_array().cloned().unwrap_or_default()).collect();
    Permissions { managed_policies: managed.to_vec(), grants: vec![], statements }
}

fn access(cx: &mut Cx) -> Access {
    let found = cx.found;
    let fleet_profile = found.template.as_ref().and_then(|t| t.instance_profile.clone());
    let mut a = Access::default();
    for r in &found.roles {
        let for_fleet = fleet_profile.as_ref().is_some_and(|p| r.profiles.contains(p));
        let logical = if for_fleet && !cx.taken.contains("role:app") {
            cx.taken.insert("role:app".into());
            "app".to_string()
        } else {
            cx.logical("role", &r.name)
        };
        let Some(assumed_by) = trust(&r.trust, &found.account) else {
            cx.left_out(format!("role `{}`: its trust policy is not one the file can write ({})", r.name, r.trust));
            continue;
        };
        let section = format!("access.roles.{logical}");
        let instance_profile = r.profiles.contains(&r.name) && assumed_by == Trust::Service("ec2.amazonaws.com".into());
        for p in r.profiles.iter().filter(|p| **p != r.name) {
            cx.finding(&section, format!("instance profile `{p}` holds role `{}` under another name: the file's profile is named as the role", r.name));
        }
        if r.path != "/" {
            cx.note(&section, format!("IAM path `{}`: kept (IAM cannot move a role)", r.path));
        }
        if !r.inline.is_empty() {
            let names: Vec<&str> = r.inline.iter().map(|(n, _)| n.as_str()).collect();
            cx.note(&section, format!("`statements` are those of the inline policies {}: apply keeps them in one policy, `bumarket-infra`", names.join(", ")));
        }
        a.roles.insert(
            logical.clone(),
            Role {
                name: Some(r.name.clone()),
                description: r.description.clone(),
                assumed_by,
                instance_profile,
                permissions: permissions_of(&r.managed, &r.inline),
            },
        );
        cx.adopt(&format!("role.{logical}"), &r.name, None, None);
        if instance_profile {
            cx.adopt(&format!("instance_profile.{logical}"), &r.name, None, None);
        }
    }
    for g in &found.iam_groups {
        let logical = cx.logical("group", &g.name);
        a.groups.insert(
            logical.clone(),
            Group { name: Some(g.name.clone()), permissions: permissions_of(&g.managed, &g.inline) },
        );
        cx.adopt(&format!("group.{logical}"), &g.name, None, None);
    }
    a
}

#[cfg(test)]
mod tests;
