//! ModifyDBInstance for `database.main`: only the attributes that changed, with the
//! file's `apply_immediately` (false: RDS holds restarts for the maintenance window), log
//! exports as lists to enable and disable; and the name of the final snapshot a delete
//! keeps.

use super::attrs::MANAGED;
use crate::apply::StepError;
use crate::engine::{Desired, Observed};
use crate::plan::{attr, strings, AttrChange};
use crate::resources::Cx;
use aws_sdk_rds::operation::modify_db_instance::builders::ModifyDBInstanceFluentBuilder;
use aws_sdk_rds::types::CloudwatchLogsExportConfiguration;
use bumarket_stack::Database;
use serde_json::Value;

/// `<stack>-final-<UTC yyyymmddhhmmss>`.
pub fn final_snapshot_name(stack: &str, now: std::time::SystemTime) -> String {
    let stamp = aws_smithy_types::DateTime::from(now)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_digit)
        .take(14)
        .collect::<String>();
    format!("{stack}-final-{stamp}")
}

/// The IOPS a gp3 storage change must send, if any (RDS user guide, "General Purpose SSD
/// storage", gp3 table): below the engine's threshold (200 GiB for Oracle, 400 GiB for
/// MariaDB, MySQL and PostgreSQL) IOPS and throughput are a fixed baseline that may not
/// be sent at all; at or above it, a change of allocated storage must carry IOPS ("When
/// you increase the allocated storage for a DB instance that uses Provisioned IOPS
/// (gp3, io1, or io2 storage type), you must also specify the Iops parameter",
/// ModifyDBInstance API reference): the current value, or the baseline of 12,000.
pub fn gp3_iops(engine: &str, size_gb: i32, current: Option<i32>) -> Option<i32> {
    let threshold = if engine.starts_with("oracle") {
        200
    } else if engine.starts_with("sqlserver") {
        return None;
    } else {
        400
    };
    (size_gb >= threshold).then(|| current.unwrap_or(0).max(12_000))
}

/// ModifyDBInstance with only the changed attributes.
pub fn modify_request(
    cx: &Cx,
    db: &Database,
    d: &Desired,
    o: &Observed,
    changes: &[AttrChange],
    secret_password: Option<String>,
) -> Result<ModifyDBInstanceFluentBuilder, StepError> {
    let changed = |k: &str| changes.iter().any(|c| c.name == k);
    let mut r = cx.aws.rds.modify_db_instance().db_instance_identifier(&d.name).apply_immediately(db.apply_immediately);
    let s = &db.storage;
    if changed("instance_class") {
        r = r.db_instance_class(&db.instance_class);
    }
    if changed("engine_version") {
        r = r.engine_version(&db.engine_version);
    }
    if changed("license_model") {
        r = r.set_license_model(db.license_model.clone());
    }
    if changed("port") {
        r = r.db_port_number(i32::from(db.port));
    }
    if let Some(c) = changes.iter().find(|c| c.name == "storage") {
        let part = |v: &Option<Value>, k: &str| v.as_ref().map(|v| v[k].clone()).unwrap_or(Value::Null);
        let live_size = o.outputs.get("allocated_storage_gb").and_then(|n| n.parse::<i32>().ok()).unwrap_or(0);
        let want = i32::try_from(s.size_gb).unwrap_or(20);
        // Only to grow: RDS never shrinks storage, and live storage above the file's size
        // (autoscaling grew it) is no change (see `attrs::observed`).
        let grow = want > live_size;
        if grow {
            r = r.allocated_storage(want);
        }
        if part(&c.before, "max_size_gb") != part(&c.after, "max_size_gb") {
            r = r.max_allocated_storage(s.max_size_gb.and_then(|m| i32::try_from(m).ok()).unwrap_or(0));
        }
        let new_type = part(&c.before, "type") != part(&c.after, "type");
        if new_type {
            r = r.storage_type(&s.storage_type);
        }
        if (grow || new_type) && s.storage_type == "gp3" {
            let current = o.outputs.get("iops").and_then(|n| n.parse::<i32>().ok());
            r = r.set_iops(gp3_iops(&db.engine, want.max(live_size), current));
        }
    }
    if changed("password") {
        r = match &db.password {
            bumarket_stack::Password::Managed { kms_key_id } => {
                if attr(&o.attrs, "password").and_then(Value::as_str) == Some(MANAGED) {
                    r
                } else {
                    r.manage_master_user_password(true)
                        .set_master_user_secret_kms_key_id(kms_key_id.as_deref().map(|k| cx.kms_key(k)))
                }
            }
            bumarket_stack::Password::Secret { .. } => {
                let value =
                    secret_password.ok_or_else(|| StepError::new("plan", "the secret's password was not read"))?;
                r.manage_master_user_password(false).master_user_password(value)
            }
        };
    }
    if changed("backup_retention_days") {
        r = r.backup_retention_period(i32::try_from(db.backup_retention_days).unwrap_or(7));
    }
    if changed("backup_window") {
        r = r.preferred_backup_window(&db.backup_window);
    }
    if changed("maintenance_window") {
        r = r.preferred_maintenance_window(&db.maintenance_window);
    }
    if changed("log_exports") {
        let before = strings(attr(&o.attrs, "log_exports"));
        let after = strings(attr(&d.attrs, "log_exports"));
        let config = CloudwatchLogsExportConfiguration::builder()
            .set_enable_log_types(Some(after.iter().filter(|l| !before.contains(l)).cloned().collect()))
            .set_disable_log_types(Some(before.iter().filter(|l| !after.contains(l)).cloned().collect()))
            .build();
        r = r.cloudwatch_logs_export_configuration(config);
    }
    if changed("deletion_protection") {
        r = r.deletion_protection(db.deletion_protection);
    }
    if changed("publicly_accessible") {
        r = r.publicly_accessible(false);
    }
    if changed("multi_az") {
        r = r.multi_az(db.multi_az);
    }
    if changed("copy_tags_to_snapshot") {
        r = r.copy_tags_to_snapshot(true);
    }
    if changed("auto_minor_version_upgrade") {
        r = r.auto_minor_version_upgrade(true);
    }
    if changed("security_groups") {
        let ids =
            strings(attr(&d.attrs, "security_groups")).iter().map(|g| cx.id_in(g)).collect::<Result<Vec<_>, _>>()?;
        r = r.set_vpc_security_group_ids(Some(ids));
    }
    Ok(r)
}
