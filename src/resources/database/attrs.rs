//! The database's attributes in one shape for the file and for AWS, so an unchanged
//! instance plans as no change: the same keys, windows in lower case, log exports
//! sorted, references as addresses, and the password only as where it lives (never a
//! value). Changes AWS holds for the maintenance window count as done, so a change made
//! with `apply_immediately: false` is not planned again every time.

use crate::engine::{Addr, Attrs};
use crate::resources::ec2::Snapshot;
use crate::resources::{tags_value, Cx};
use aws_sdk_rds::types::DbInstance;
use bumarket_stack::{Database, Password};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The password attribute when RDS manages it in Secrets Manager.
pub const MANAGED: &str = "managed in Secrets Manager";

/// The file's password setting, in words (never a value).
pub fn password_words(p: &Password) -> String {
    match p {
        Password::Managed { .. } => MANAGED.to_string(),
        Password::Secret { arn } => format!("secret {arn}"),
    }
}

fn storage(size: Option<i64>, max: Option<i64>, kind: Option<&str>) -> Value {
    json!({"size_gb": size, "max_size_gb": max, "type": kind})
}

fn sorted(list: &[String]) -> Vec<String> {
    let mut l = list.to_vec();
    l.sort();
    l.dedup();
    l
}

/// What the file asks for.
pub fn desired(cx: &Cx, db: &Database, addr: &Addr) -> Attrs {
    let s = &db.storage;
    let mut a = Attrs::new();
    a.insert("identifier".into(), json!(super::identifier(cx).to_lowercase()));
    a.insert("engine".into(), json!(db.engine));
    a.insert("engine_version".into(), json!(db.engine_version));
    a.insert("license_model".into(), json!(db.license_model));
    a.insert("instance_class".into(), json!(db.instance_class));
    a.insert("port".into(), json!(db.port));
    a.insert("storage".into(), storage(Some(s.size_gb.into()), s.max_size_gb.map(i64::from), Some(&s.storage_type)));
    a.insert("storage_encrypted".into(), json!(s.encrypted));
    a.insert("admin_user".into(), json!(db.admin_user));
    a.insert("password".into(), json!(password_words(&db.password)));
    a.insert("backup_retention_days".into(), json!(db.backup_retention_days));
    a.insert("backup_window".into(), json!(db.backup_window.to_lowercase()));
    a.insert("maintenance_window".into(), json!(db.maintenance_window.to_lowercase()));
    a.insert("log_exports".into(), json!(sorted(&db.log_exports)));
    a.insert("deletion_protection".into(), json!(db.deletion_protection));
    a.insert("publicly_accessible".into(), json!(false));
    a.insert("multi_az".into(), json!(db.multi_az));
    a.insert("copy_tags_to_snapshot".into(), json!(true));
    a.insert("auto_minor_version_upgrade".into(), json!(true));
    a.insert("subnet_group".into(), json!("db_subnet_group.main"));
    a.insert("security_groups".into(), json!(["security_group.db"]));
    a.insert("tags".into(), tags_value(&cx.tags(addr)));
    a
}

/// What AWS has, with changes pending for the maintenance window counted as made.
pub fn observed(cx: &Cx, snap: &Snapshot, i: &DbInstance, tags: &BTreeMap<String, String>) -> Attrs {
    let pending = i.pending_modified_values.as_ref();
    let class = pending.and_then(|p| p.db_instance_class.clone()).or(i.db_instance_class.clone());
    let port = pending
        .and_then(|p| p.port)
        .or(i.endpoint.as_ref().and_then(|e| e.port))
        .or(i.db_instance_port.filter(|p| *p != 0));
    let multi_az = pending.and_then(|p| p.multi_az).or(i.multi_az).unwrap_or(false);
    let live_version = pending.and_then(|p| p.engine_version.clone()).or(i.engine_version.clone()).unwrap_or_default();
    // The file may name a major version ("19"); AWS answers with the full one.
    let version = match &cx.stack.database {
        Some(db) if live_version.starts_with(&format!("{}.", db.engine_version)) => db.engine_version.clone(),
        _ => live_version,
    };
    let live_size = pending.and_then(|p| p.allocated_storage).or(i.allocated_storage).map(i64::from);
    // The file's size is a floor: RDS never shrinks storage ("You can't reduce the
    // amount of storage for a DB instance after storage has been allocated", RDS user
    // guide), and storage autoscaling grows it past the file's size by itself. Live
    // storage at or above the file's size is what the file asks for.
    let floor = cx.stack.database.as_ref().map(|d| i64::from(d.storage.size_gb));
    let size = match (live_size, floor) {
        (Some(live), Some(floor)) if live >= floor => Some(floor),
        _ => live_size,
    };
    let kind = pending.and_then(|p| p.storage_type.clone()).or(i.storage_type.clone());
    let retention = pending.and_then(|p| p.backup_retention_period).or(i.backup_retention_period);
    // RDS does not say where a password it does not manage came from: when the file names
    // a secret, a password RDS does not manage is taken to be that one.
    let password = match (&i.master_user_secret, cx.stack.database.as_ref().map(|d| &d.password)) {
        (Some(_), _) => MANAGED.to_string(),
        (None, Some(p @ Password::Secret { .. })) => password_words(p),
        (None, _) => "not in Secrets Manager".to_string(),
    };
    let group = i.db_subnet_group.as_ref().and_then(|g| g.db_subnet_group_name.clone()).map(|n| {
        if n == super::subnet_group_name(cx) {
            "db_subnet_group.main".to_string()
        } else {
            n
        }
    });
    let mut groups: Vec<String> = i
        .vpc_security_groups()
        .iter()
        .filter_map(|g| g.vpc_security_group_id.as_deref())
        .map(|id| snap.addr_of(id).map_or_else(|| id.to_string(), |a| a.to_string()))
        .collect();
    groups.sort();
    let lower = |s: &Option<String>| s.as_ref().map(|s| s.to_lowercase());
    let mut a = Attrs::new();
    a.insert("identifier".into(), json!(i.db_instance_identifier));
    a.insert("engine".into(), json!(i.engine));
    a.insert("engine_version".into(), json!(version));
    a.insert("license_model".into(), json!(i.license_model));
    a.insert("instance_class".into(), json!(class));
    a.insert("port".into(), json!(port));
    a.insert("storage".into(), storage(size, i.max_allocated_storage.map(i64::from), kind.as_deref()));
    a.insert("storage_encrypted".into(), json!(i.storage_encrypted.unwrap_or(false)));
    a.insert("admin_user".into(), json!(i.master_username));
    a.insert("password".into(), json!(password));
    a.insert("backup_retention_days".into(), json!(retention));
    a.insert("backup_window".into(), json!(lower(&i.preferred_backup_window)));
    a.insert("maintenance_window".into(), json!(lower(&i.preferred_maintenance_window)));
    a.insert("log_exports".into(), json!(sorted(i.enabled_cloudwatch_logs_exports())));
    a.insert("deletion_protection".into(), json!(i.deletion_protection.unwrap_or(false)));
    a.insert("publicly_accessible".into(), json!(i.publicly_accessible.unwrap_or(false)));
    a.insert("multi_az".into(), json!(multi_az));
    a.insert("copy_tags_to_snapshot".into(), json!(i.copy_tags_to_snapshot.unwrap_or(false)));
    a.insert("auto_minor_version_upgrade".into(), json!(i.auto_minor_version_upgrade.unwrap_or(false)));
    a.insert("subnet_group".into(), json!(group));
    a.insert("security_groups".into(), json!(groups));
    a.insert("tags".into(), tags_value(tags));
    a
}

/// Attributes whose change takes the database down for a while (a restart or failover).
pub const DOWNTIME: [&str; 4] = ["instance_class", "port", "engine_version", "storage"];
