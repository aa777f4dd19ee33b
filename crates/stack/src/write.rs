//! Writing a stack file from a [`Stack`]: the way back from the model to YAML, for
//! `bumarket-infra import`, which builds the model from a live account.
//!
//! The file holds only what differs from the defaults, and the defaults are not restated
//! here: they are read by parsing a skeleton of each section with the reader itself, so
//! the writer and the reader can never disagree about them. `parse(write(stack))` gives
//! the same model back (the tests check it).
//!
//! Comments: the caller hangs lines of comment on a section (`notes`), for what the
//! file cannot express; they are written above the section's key.

use crate::model::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// What to write: the model, comments per section, and lines for the file's head.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    /// Comment lines at the top of the file.
    pub head: Vec<String>,
    /// Comment lines above a section (`network`, `fleet`, `buckets`, `access`, `adopt`, ...)
    /// or a bucket, role or group (`buckets.images`, `access.roles.app`), and `end` for
    /// the file's last lines.
    pub notes: BTreeMap<String, Vec<String>>,
}

/// The reason a loosened default gets when the writer must keep a live, less safe value
/// (the reader requires a reason; the user replaces this one).
pub const REASON_PLACEHOLDER: &str = "TODO: say why (kept as it was found live)";

/// The stack file for `stack`, with `draft`'s comments.
pub fn write(stack: &Stack, draft: &Draft) -> String {
    let mut w = Writer { out: String::new(), draft };
    for line in &draft.head {
        w.comment(0, line);
    }
    w.line(0, &format!("stack: {}", q(&stack.name)));
    w.line(0, &format!("region: {}", q(&stack.region)));
    if !stack.tags.is_empty() {
        w.line(0, "tags:");
        for (k, v) in &stack.tags {
            w.line(1, &format!("{}: {}", q(k), q(v)));
        }
    }
    if let Some(n) = &stack.network {
        w.section("network");
        network(&mut w, n);
    }
    if let Some(f) = &stack.fleet {
        w.section("fleet");
        fleet(&mut w, f);
    }
    if let Some(lb) = &stack.load_balancer {
        w.section("load_balancer");
        load_balancer(&mut w, lb);
    }
    if let Some(db) = &stack.database {
        w.section("database");
        database(&mut w, db);
    }
    if !stack.buckets.is_empty() {
        w.section("buckets");
        for (logical, b) in &stack.buckets {
            w.notes(1, &format!("buckets.{logical}"));
            w.line(1, &format!("{}:", q(logical)));
            bucket(&mut w, b);
        }
    }
    if let Some(m) = &stack.monitoring {
        w.section("monitoring");
        monitoring(&mut w, m);
    }
    if !stack.access.roles.is_empty() || !stack.access.groups.is_empty() {
        w.section("access");
        access(&mut w, &stack.access);
    }
    if let Some(c) = &stack.cloud9 {
        w.section("cloud9");
        cloud9(&mut w, c);
    }
    if !stack.adopt.is_empty() {
        w.section("adopt");
        for (addr, a) in &stack.adopt {
            if a.name.is_none() && a.description.is_none() && !a.replace {
                w.line(1, &format!("{addr}: {}", q(&a.id)));
            } else {
                let mut parts = vec![format!("id: {}", q(&a.id))];
                parts.extend(a.name.as_ref().map(|n| format!("name: {}", q(n))));
                parts.extend(a.description.as_ref().map(|d| format!("description: {}", q(d))));
                parts.extend(a.replace.then(|| "replace: true".to_string()));
                w.line(1, &format!("{addr}: {{{}}}", parts.join(", ")));
            }
        }
    }
    if draft.notes.contains_key("end") {
        w.out.push('\n');
        w.notes(0, "end");
    }
    w.out
}

struct Writer<'a> {
    out: String,
    draft: &'a Draft,
}

impl Writer<'_> {
    fn line(&mut self, depth: usize, text: &str) {
        let _ = writeln!(self.out, "{:width$}{text}", "", width = depth * 2);
    }
    fn comment(&mut self, depth: usize, text: &str) {
        if text.is_empty() {
            self.line(depth, "#");
        } else {
            self.line(depth, &format!("# {text}"));
        }
    }
    fn notes(&mut self, depth: usize, key: &str) {
        for line in self.draft.notes.get(key).into_iter().flatten() {
            self.comment(depth, line);
        }
    }
    fn section(&mut self, key: &str) {
        self.out.push('\n');
        self.notes(0, key);
        self.line(0, &format!("{key}:"));
    }
    /// `key: value` when `value` differs from `default`.
    fn differing<T: PartialEq>(
        &mut self,
        depth: usize,
        key: &str,
        value: &T,
        default: &T,
        text: impl Fn(&T) -> String,
    ) {
        if value != default {
            self.line(depth, &format!("{key}: {}", text(value)));
        }
    }
    /// A nested mapping of the lines given, or nothing when there are none.
    fn nested(&mut self, depth: usize, key: &str, lines: Vec<String>) {
        if !lines.is_empty() {
            self.line(depth, &format!("{key}:"));
            for l in lines {
                self.line(depth + 1, &l);
            }
        }
    }
}

/// A YAML scalar for `s`: plain when that reads back as the same string, else JSON-quoted
/// (a JSON string is a YAML double-quoted scalar).
pub fn q(s: &str) -> String {
    let plain_chars = s.chars().all(|c| c.is_ascii_alphanumeric() || "._/-@+".contains(c));
    let first_ok = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '/');
    let looks_typed = s.parse::<f64>().is_ok()
        || matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null" | "~" | ".inf" | ".nan"
        );
    if plain_chars && first_ok && !looks_typed {
        s.to_string()
    } else {
        serde_json::Value::String(s.to_string()).to_string()
    }
}

fn list<T>(items: &[T], f: impl Fn(&T) -> String) -> String {
    format!("[{}]", items.iter().map(f).collect::<Vec<_>>().join(", "))
}

fn num(n: &f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", *n as i64)
    } else {
        n.to_string()
    }
}

fn duration(seconds: &u64) -> String {
    match seconds {
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// The model of a skeleton file: `sections` (YAML text, top-level keys) under a fixed
/// stack, region and network, with every default the reader fills in. The writer's
/// defaults come from here, and so can an importer's. The skeletons are fixed text the
/// reader accepts; a failure is a bug in the caller.
pub fn skeleton(sections: &str) -> Stack {
    let text = format!(
        "stack: s\nregion: ap-northeast-2\nnetwork: {{cidr: 10.0.0.0/16, availability_zones: [ap-northeast-2a, ap-northeast-2c], public_subnets: [10.0.0.0/24, 10.0.1.0/24], private_subnets: [10.0.10.0/24, 10.0.11.0/24]}}\n{sections}"
    );
    crate::parse(Path::new("skeleton.yaml"), &text).unwrap_or_else(|e| panic!("writer skeleton invalid: {e}"))
}

fn network(w: &mut Writer, n: &Network) {
    let cidrs = |v: &Vec<Cidr>| list(v, |c| c.to_string());
    w.line(1, &format!("cidr: {}", n.cidr));
    w.line(1, &format!("availability_zones: {}", list(&n.availability_zones, |z| q(z))));
    w.line(1, &format!("public_subnets: {}", cidrs(&n.public_subnets)));
    if !n.private_subnets.is_empty() {
        w.line(1, &format!("private_subnets: {}", cidrs(&n.private_subnets)));
    }
}

fn image_text(i: &Image) -> String {
    match i {
        Image::Ami(id) => q(id),
        Image::SsmParameter(p) => q(&format!("ssm:{p}")),
    }
}

fn fleet(w: &mut Writer, f: &Fleet) {
    let d = skeleton(&format!("fleet: {{instance_type: {}}}\n", q(&f.instance_type))).fleet.expect("fleet");
    let n = |v: &u32| v.to_string();
    w.line(1, &format!("instance_type: {}", q(&f.instance_type)));
    w.differing(1, "image", &f.image, &d.image, image_text);
    w.differing(1, "app_port", &f.app_port, &d.app_port, |v| v.to_string());
    if let Some(u) = &f.user_data {
        w.line(1, &format!("user_data: {}", q(&u.path.to_string_lossy())));
    }
    let (r, dr) = (&f.root_volume, &d.root_volume);
    let mut volume = Vec::new();
    if r.size_gb != dr.size_gb {
        volume.push(format!("size_gb: {}", r.size_gb));
    }
    if r.volume_type != dr.volume_type {
        volume.push(format!("type: {}", q(&r.volume_type)));
    }
    if !r.encrypted {
        volume.push("encrypted: false".into());
        volume.push(format!("unencrypted_reason: {}", q(REASON_PLACEHOLDER)));
    }
    w.nested(1, "root_volume", volume);
    if let Loosenable::Off { reason } = &f.require_imdsv2 {
        w.line(1, &format!("require_imdsv2: {{enabled: false, reason: {}}}", q(reason)));
    }
    w.differing(1, "min_size", &f.min_size, &d.min_size, n);
    w.differing(1, "desired_capacity", &f.desired_capacity, &d.desired_capacity, n);
    w.differing(1, "max_size", &f.max_size, &d.max_size, n);
    w.differing(1, "cpu_target_percent", &f.cpu_target_percent, &d.cpu_target_percent, num);
    w.differing(1, "health_check_grace_seconds", &f.health_check_grace_seconds, &d.health_check_grace_seconds, n);
    w.differing(1, "min_healthy_percent", &f.min_healthy_percent, &d.min_healthy_percent, n);
    // The maximum's default follows the minimum: compare with what the minimum implies.
    let max_default = (f.min_healthy_percent + 100).min(200);
    w.differing(1, "max_healthy_percent", &f.max_healthy_percent, &max_default, n);
    if let Some(role) = &f.instance_role {
        w.line(1, &format!("instance_role: {}", q(role)));
    }
    w.differing(1, "wait_timeout", &f.wait_timeout_seconds, &d.wait_timeout_seconds, duration);
}

fn load_balancer(w: &mut Writer, lb: &LoadBalancer) {
    let sections = match &lb.certificate_arn {
        Some(arn) => format!("fleet: {{instance_type: t3.micro}}\nload_balancer: {{certificate_arn: {}}}\n", q(arn)),
        None => "fleet: {instance_type: t3.micro}\nload_balancer: {}\n".to_string(),
    };
    let d = skeleton(&sections).load_balancer.expect("load balancer");
    let n = |v: &u32| v.to_string();
    w.differing(1, "listen_port", &lb.listen_port, &d.listen_port, |v| v.to_string());
    if let Some(arn) = &lb.certificate_arn {
        w.line(1, &format!("certificate_arn: {}", q(arn)));
    }
    let (h, dh) = (&lb.health_check, &d.health_check);
    let mut health = Vec::new();
    let mut push = |key: &str, v: String, dv: String| {
        if v != dv {
            health.push(format!("{key}: {v}"));
        }
    };
    push("path", q(&h.path), q(&dh.path));
    push("interval_seconds", n(&h.interval_seconds), n(&dh.interval_seconds));
    push("timeout_seconds", n(&h.timeout_seconds), n(&dh.timeout_seconds));
    push("healthy_threshold", n(&h.healthy_threshold), n(&dh.healthy_threshold));
    push("unhealthy_threshold", n(&h.unhealthy_threshold), n(&dh.unhealthy_threshold));
    push("matcher", q(&h.matcher), q(&dh.matcher));
    w.nested(1, "health_check", health);
    if let Some(a) = &lb.access_logs {
        w.line(1, &format!("access_logs: {{bucket: {}, prefix: {}}}", q(&a.bucket), q(&a.prefix)));
    }
    let b = |v: &bool| v.to_string();
    w.differing(1, "deletion_protection", &lb.deletion_protection, &d.deletion_protection, b);
    w.differing(1, "drop_invalid_header_fields", &lb.drop_invalid_header_fields, &d.drop_invalid_header_fields, b);
    w.differing(1, "idle_timeout_seconds", &lb.idle_timeout_seconds, &d.idle_timeout_seconds, n);
    w.differing(1, "wait_timeout", &lb.wait_timeout_seconds, &d.wait_timeout_seconds, duration);
}

fn database(w: &mut Writer, db: &Database) {
    let sections = format!(
        "database: {{engine: {}, engine_version: {}, instance_class: {}}}\n",
        q(&db.engine),
        q(&db.engine_version),
        q(&db.instance_class)
    );
    let d = skeleton(&sections).database.expect("database");
    let b = |v: &bool| v.to_string();
    if let Some(id) = &db.identifier {
        w.line(1, &format!("identifier: {}", q(id)));
    }
    w.line(1, &format!("engine: {}", q(&db.engine)));
    // Always quoted: `19` must stay a string.
    w.line(1, &format!("engine_version: {}", serde_json::Value::String(db.engine_version.clone())));
    w.differing(1, "license_model", &db.license_model, &d.license_model, |v| q(v.as_deref().unwrap_or_default()));
    w.line(1, &format!("instance_class: {}", q(&db.instance_class)));
    w.differing(1, "port", &db.port, &d.port, |v| v.to_string());
    let (s, ds) = (&db.storage, &d.storage);
    let mut storage = Vec::new();
    if s.size_gb != ds.size_gb {
        storage.push(format!("size_gb: {}", s.size_gb));
    }
    if let Some(max) = s.max_size_gb {
        storage.push(format!("max_size_gb: {max}"));
    }
    if s.storage_type != ds.storage_type {
        storage.push(format!("type: {}", q(&s.storage_type)));
    }
    if !s.encrypted {
        storage.push("encrypted: false".into());
        storage.push(format!("unencrypted_reason: {}", q(REASON_PLACEHOLDER)));
    }
    w.nested(1, "storage", storage);
    w.differing(1, "admin_user", &db.admin_user, &d.admin_user, |v| q(v));
    match &db.password {
        Password::Managed { kms_key_id: None } => {}
        Password::Managed { kms_key_id: Some(k) } => {
            w.line(1, &format!("password: {{managed: {{kms_key_id: {}}}}}", q(k)))
        }
        Password::Secret { arn } => w.line(1, &format!("password: {{secret_arn: {}}}", q(arn))),
    }
    let mut backups = Vec::new();
    if db.backup_retention_days != d.backup_retention_days {
        backups.push(format!("retention_days: {}", db.backup_retention_days));
    }
    if db.backup_window != d.backup_window {
        backups.push(format!("window: {}", q(&db.backup_window)));
    }
    w.nested(1, "backups", backups);
    w.differing(1, "maintenance_window", &db.maintenance_window, &d.maintenance_window, |v| q(v));
    w.differing(1, "log_exports", &db.log_exports, &d.log_exports, |v| list(v, |t| q(t)));
    w.differing(1, "deletion_protection", &db.deletion_protection, &d.deletion_protection, b);
    w.differing(1, "apply_immediately", &db.apply_immediately, &d.apply_immediately, b);
    w.differing(1, "final_snapshot", &db.final_snapshot, &d.final_snapshot, b);
    w.differing(1, "multi_az", &db.multi_az, &d.multi_az, b);
    w.differing(1, "wait_timeout", &db.wait_timeout_seconds, &d.wait_timeout_seconds, duration);
}

fn json_flow(v: &serde_json::Value) -> String {
    v.to_string()
}

fn bucket(w: &mut Writer, b: &Bucket) {
    let d = skeleton("buckets: {x: {}}\n").buckets.remove("x").expect("bucket");
    if let Some(name) = &b.name {
        w.line(2, &format!("name: {}", q(name)));
    }
    w.differing(2, "encryption", &b.encryption, &d.encryption, |e| match e {
        Encryption::S3Managed => "sse-s3".into(),
        Encryption::Kms { key_id: None } => "sse-kms".into(),
        Encryption::Kms { key_id: Some(k) } => format!("{{sse-kms: {{key_id: {}}}}}", q(k)),
    });
    if let Loosenable::Off { reason } = &b.public_access {
        w.line(2, &format!("public_access: {{blocked: false, reason: {}}}", q(reason)));
    }
    if let Loosenable::Off { reason } = &b.require_tls {
        w.line(2, &format!("require_tls: {{enabled: false, reason: {}}}", q(reason)));
    }
    w.differing(2, "versioning", &b.versioning, &d.versioning, |v| v.to_string());
    if !b.lifecycle.is_empty() {
        w.line(2, "lifecycle:");
        for r in &b.lifecycle {
            let mut parts = vec![format!("id: {}", q(&r.id))];
            if !r.prefix.is_empty() {
                parts.push(format!("prefix: {}", q(&r.prefix)));
            }
            let days = [
                ("expire_after_days", r.expire_after_days),
                ("noncurrent_expire_after_days", r.noncurrent_expire_after_days),
                ("abort_incomplete_upload_days", r.abort_incomplete_upload_days),
            ];
            parts.extend(days.iter().filter_map(|(k, v)| v.map(|v| format!("{k}: {v}"))));
            w.line(3, &format!("- {{{}}}", parts.join(", ")));
        }
    }
    if !b.policy_statements.is_empty() {
        w.line(2, "policy_statements:");
        for s in &b.policy_statements {
            w.line(3, &format!("- {}", json_flow(s)));
        }
    }
    w.differing(2, "force_destroy", &b.force_destroy, &d.force_destroy, |v| v.to_string());
    match &b.access_logs {
        crate::model::BucketLogs::Default => {}
        crate::model::BucketLogs::To(to) => {
            w.line(2, &format!("access_logs: {{bucket: {}, prefix: {}}}", q(&to.bucket), q(&to.prefix)))
        }
        crate::model::BucketLogs::Off { reason } => {
            w.line(2, &format!("access_logs: {{enabled: false, reason: {}}}", q(reason)))
        }
    }
}

fn monitoring(w: &mut Writer, m: &Monitoring) {
    let sections = "monitoring: {emails: [a@example.com]}\n";
    let d = skeleton(sections).monitoring.expect("monitoring");
    w.line(1, &format!("emails: {}", list(&m.emails, |e| q(e))));
    let (a, da) = (&m.alarms, &d.alarms);
    let mut alarms = Vec::new();
    for (key, v, dv) in [
        ("fleet_cpu_percent", a.fleet_cpu_percent, da.fleet_cpu_percent),
        ("unhealthy_hosts", a.unhealthy_hosts, da.unhealthy_hosts),
        ("http_5xx_per_5_minutes", a.http_5xx_per_5_minutes, da.http_5xx_per_5_minutes),
        ("database_cpu_percent", a.database_cpu_percent, da.database_cpu_percent),
        ("database_free_storage_mb", a.database_free_storage_mb, da.database_free_storage_mb),
    ] {
        if v != dv {
            alarms.push(format!("{key}: {}", num(&v)));
        }
    }
    w.nested(1, "alarms", alarms);
    w.differing(1, "dashboard", &m.dashboard, &d.dashboard, |v| v.to_string());
    w.differing(1, "log_retention_days", &m.log_retention_days, &d.log_retention_days, |v| v.to_string());
    for (key, to) in
        [("database_logs_to_bucket", &m.database_logs_to_bucket), ("app_logs_to_bucket", &m.app_logs_to_bucket)]
    {
        if let Some(t) = to {
            w.line(1, &format!("{key}: {{bucket: {}, prefix: {}}}", q(&t.bucket), q(&t.prefix)));
        }
    }
}

fn managed_policy(arn: &str) -> String {
    match arn.strip_prefix("arn:aws:iam::aws:policy/") {
        Some(name) if !name.contains('/') => q(name),
        _ => q(arn),
    }
}

fn permissions(w: &mut Writer, depth: usize, p: &Permissions) {
    if !p.managed_policies.is_empty() {
        w.line(depth, &format!("managed_policies: {}", list(&p.managed_policies, |a| managed_policy(a))));
    }
    if !p.grants.is_empty() {
        w.line(depth, "grants:");
        for g in &p.grants {
            let access = match g.access {
                BucketAccess::Read => "read",
                BucketAccess::Write => "write",
                BucketAccess::ReadWrite => "read-write",
            };
            let prefix = if g.prefix.is_empty() { String::new() } else { format!(", prefix: {}", q(&g.prefix)) };
            w.line(depth + 1, &format!("- {{bucket: {}, access: {access}{prefix}}}", q(&g.bucket)));
        }
    }
    if !p.statements.is_empty() {
        w.line(depth, "statements:");
        for s in &p.statements {
            w.line(depth + 1, &format!("- {}", json_flow(s)));
        }
    }
}

fn access(w: &mut Writer, a: &Access) {
    if !a.roles.is_empty() {
        w.line(1, "roles:");
        for (logical, r) in &a.roles {
            w.notes(2, &format!("access.roles.{logical}"));
            w.line(2, &format!("{}:", q(logical)));
            if let Some(n) = &r.name {
                w.line(3, &format!("name: {}", q(n)));
            }
            if let Some(d) = &r.description {
                w.line(3, &format!("description: {}", q(d)));
            }
            let trust = match &r.assumed_by {
                Trust::Service(s) => q(s),
                Trust::Account { require_mfa: false } => "account".into(),
                Trust::Account { require_mfa: true } => "{account: {require_mfa: true}}".into(),
            };
            w.line(3, &format!("assumed_by: {trust}"));
            if r.instance_profile {
                w.line(3, "instance_profile: true");
            }
            permissions(w, 3, &r.permissions);
        }
    }
    if !a.groups.is_empty() {
        w.line(1, "groups:");
        for (logical, g) in &a.groups {
            w.notes(2, &format!("access.groups.{logical}"));
            let empty = g.name.is_none() && g.permissions == Permissions::default();
            w.line(2, &format!("{}:{}", q(logical), if empty { " {}" } else { "" }));
            if let Some(n) = &g.name {
                w.line(3, &format!("name: {}", q(n)));
            }
            permissions(w, 3, &g.permissions);
        }
    }
}

fn cloud9(w: &mut Writer, c: &Cloud9) {
    let d = skeleton("cloud9: {}\n").cloud9.expect("cloud9");
    let mut any = false;
    if let Some(n) = &c.name {
        w.line(1, &format!("name: {}", q(n)));
        any = true;
    }
    let before = w.out.len();
    w.differing(1, "instance_type", &c.instance_type, &d.instance_type, |v| q(v));
    w.differing(1, "automatic_stop_minutes", &c.automatic_stop_minutes, &d.automatic_stop_minutes, |v| v.to_string());
    w.differing(1, "image_id", &c.image_id, &d.image_id, |v| q(v));
    w.differing(1, "subnet", &c.subnet_index, &d.subnet_index, |v| v.to_string());
    if let Some(g) = &c.members_group {
        w.line(1, &format!("members_group: {}", q(g)));
    }
    if !any && w.out.len() == before {
        // `cloud9:` with nothing under it is null; write the empty mapping.
        w.out.truncate(w.out.len() - "cloud9:\n".len());
        w.line(0, "cloud9: {}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(path: &str) {
        let text = std::fs::read_to_string(path).unwrap();
        let path = Path::new(path);
        // A file of environments as one of them: written out, it is that stack.
        let env = crate::environment_names(path).unwrap().last().cloned();
        let stack = crate::parse_env(path, &text, env.as_deref()).unwrap();
        let written = write(&stack, &Draft::default());
        let again = crate::parse(path, &written).unwrap_or_else(|e| panic!("{e}\n{written}"));
        assert_eq!(Stack { source: again.source.clone(), environment: None, ..stack }, again, "{written}");
    }

    #[test]
    fn the_shipped_stacks_read_back_as_the_same_model() {
        // The seed stack uses every section; the sample the minimal one.
        round_trip(concat!(env!("CARGO_MANIFEST_DIR"), "/../../stacks/bumarket.yaml"));
        round_trip(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/minimal.yaml"));
        round_trip(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/stacks/handbuilt.yaml"));
    }

    #[test]
    fn only_what_differs_from_the_defaults_is_written() {
        let text = "stack: s\nregion: ap-northeast-2\nnetwork: {cidr: 10.0.0.0/16, availability_zones: [ap-northeast-2a, ap-northeast-2c], public_subnets: [10.0.0.0/24, 10.0.1.0/24]}\nfleet: {instance_type: t3.micro, app_port: 8000, min_size: 1, max_size: 4, min_healthy_percent: 50}\nbuckets:\n  data: {versioning: false, public_access: {blocked: false, reason: \"a website\"}}\n";
        let stack = crate::parse(Path::new("t.yaml"), text).unwrap();
        let mut draft = Draft::default();
        draft.notes.insert("buckets.data".into(), vec!["a note".into()]);
        let out = write(&stack, &draft);
        assert!(out.contains("fleet:\n  instance_type: t3.micro\n  min_healthy_percent: 50\n\nbuckets:"), "{out}");
        assert!(!out.contains("max_healthy_percent"), "150 follows from 50: {out}");
        assert!(
            out.contains("  # a note\n  data:\n    public_access: {blocked: false, reason: \"a website\"}\n"),
            "{out}"
        );
    }

    #[test]
    fn scalars_are_quoted_when_plain_would_change_their_meaning() {
        assert_eq!(q("hb-images"), "hb-images");
        assert_eq!(q("19"), "\"19\"");
        assert_eq!(q("yes"), "\"yes\"");
        assert_eq!(q("web traffic"), "\"web traffic\"");
        assert_eq!(q("sun:18:00-sun:18:30"), "\"sun:18:00-sun:18:30\"");
        assert_eq!(q("-x"), "\"-x\"");
        assert_eq!(q(""), "\"\"");
    }
}
