//! `database.main`: the RDS instance in the private subnet group behind `security_group.db`:
//! encrypted storage, never publicly accessible, backups, windows and log exports from
//! the file, tags copied to snapshots, and the master password managed by RDS in Secrets
//! Manager (`output` shows the secret's ARN and the endpoint, never a password).
//!
//! A change is one ModifyDBInstance with only what changed, applied now or in the
//! maintenance window as the file's `apply_immediately` says. The identifier, engine,
//! encryption, admin user and subnet group need a new instance: the plan says plainly
//! that the data is not copied. Deletion protection refuses a delete (or replacement)
//! before anything runs; a delete keeps a final snapshot `<stack>-final-<UTC time>`.
//!
//! A password in an existing secret (`password: {secret_arn: ...}`) is read at apply
//! time and handed to RDS, never shown (see `secret`).

use super::attrs::{self, DOWNTIME};
use super::modify::{final_snapshot_name, modify_request};
use super::{converge_tags, identifier, ownership, tags_of, to_tags};
use crate::apply::{ErrorKind, Progress, StepError};
use crate::aws::{call_error, is_code};
use crate::engine::{Addr, AttrSpec, Desired, Kind, Observed, Schema};
use crate::plan::{attr, strings, Action, AttrChange, ResourceChange};
use crate::resources::wait::{self, Poll};
use crate::resources::{tags_from, Cx, Live, Provider, TAG_STACK};
use async_trait::async_trait;
use aws_sdk_rds::types::DbInstance;
use bumarket_stack::{Database, Password};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

pub struct Instances;

/// How often waits look again.
const POLL: Duration = Duration::from_secs(30);

fn db(cx: &Cx) -> Result<&Database, StepError> {
    cx.stack.database.as_ref().ok_or_else(|| StepError::new("plan", "the stack has no `database`"))
}

fn timeout(cx: &Cx) -> Duration {
    Duration::from_secs(cx.stack.database.as_ref().map_or(2400, |d| d.wait_timeout_seconds))
}

/// Describe one instance; `None` when it does not exist.
pub async fn describe(cx: &Cx, id: &str) -> Result<Option<DbInstance>, StepError> {
    match cx.aws.rds.describe_db_instances().db_instance_identifier(id).send().await {
        Ok(out) => Ok(out.db_instances.unwrap_or_default().into_iter().next()),
        Err(e) if is_code(&e, "DBInstanceNotFound") || is_code(&e, "DBInstanceNotFoundFault") => Ok(None),
        Err(e) => Err(call_error("rds:DescribeDBInstances", e)),
    }
}

/// Wait until the instance is `available`, saying its state meanwhile.
pub async fn wait_available(cx: &Cx, id: &str, what: &str, p: &Progress<'_>) -> Result<(), StepError> {
    wait::until(&|m| p.say(m), what, timeout(cx), POLL, || async {
        let Some(i) = describe(cx, id).await? else {
            return Err(StepError::of(
                ErrorKind::Failed,
                "rds:DescribeDBInstances",
                format!("the instance `{id}` is gone"),
            ));
        };
        match i.db_instance_status.as_deref().unwrap_or_default() {
            "available" => {
                // What the app's instances and role name once the database exists.
                let address = i.endpoint.as_ref().and_then(|e| e.address.as_deref());
                let secret = i.master_user_secret.as_ref().and_then(|s| s.secret_arn.as_deref());
                crate::resources::app_env::note_database(cx, address, secret);
                Ok(Poll::Ready(()))
            }
            s @ ("failed"
            | "incompatible-parameters"
            | "incompatible-network"
            | "incompatible-option-group"
            | "inaccessible-encryption-credentials"
            | "storage-full") => Err(StepError::of(
                ErrorKind::Failed,
                "rds:DescribeDBInstances",
                format!("the instance `{id}` is `{s}`; see its events in the RDS console"),
            )),
            s => Ok(Poll::Pending(s.to_string())),
        }
    })
    .await
}

/// One ModifyDBInstance changes everything but the identifier, the engine, storage
/// encryption, the admin user and the subnet group, which need a new instance. The
/// password is named only by where it lives, and still never shown.
pub static SCHEMA: Schema = Schema {
    kind: Kind::Database,
    layer: 3,
    attrs: &[
        AttrSpec::replace("identifier"),
        AttrSpec::replace("engine"),
        AttrSpec::update("engine_version"),
        AttrSpec::update("license_model"),
        AttrSpec::update("instance_class"),
        AttrSpec::update("port"),
        AttrSpec::update("storage"),
        AttrSpec::replace("storage_encrypted"),
        AttrSpec::replace("admin_user"),
        AttrSpec::update("password").sensitive(),
        AttrSpec::update("backup_retention_days"),
        AttrSpec::update("backup_window"),
        AttrSpec::update("maintenance_window"),
        AttrSpec::update("log_exports").set(),
        AttrSpec::update("deletion_protection"),
        AttrSpec::update("publicly_accessible"),
        AttrSpec::update("multi_az"),
        AttrSpec::update("copy_tags_to_snapshot"),
        AttrSpec::update("auto_minor_version_upgrade"),
        AttrSpec::replace("subnet_group"),
        AttrSpec::update("security_groups").set(),
        AttrSpec::update("tags"),
    ],
    deleted_after: &[],
};

#[async_trait]
impl Provider for Instances {
    fn place(&self, _cx: &Cx, _d: &Desired) -> Vec<String> {
        vec!["database".into(), "identifier".into()]
    }
    fn calls(&self) -> crate::resources::Calls {
        crate::resources::Calls {
            reads: &["rds:DescribeDBInstances", "secretsmanager:GetSecretValue"],
            writes: &[
                "rds:CreateDBInstance",
                "rds:DeleteDBInstance",
                "rds:ModifyDBInstance",
                "rds:AddTagsToResource",
                "rds:RemoveTagsFromResource",
            ],
        }
    }
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn desired(&self, cx: &Cx) -> Vec<Desired> {
        let (Some(d), Some(_)) = (&cx.stack.database, &cx.stack.network) else { return vec![] };
        let addr = Addr::new(Kind::Database, "main");
        let attrs = attrs::desired(cx, d, &addr);
        let mut deps = vec![Addr::new(Kind::DbSubnetGroup, "main"), Addr::new(Kind::SecurityGroup, "db")];
        // The groups RDS writes its exported logs into: made before it, and released with
        // it (its logs are its data).
        deps.extend(
            crate::resources::monitoring::log_group::groups(cx)
                .into_iter()
                .filter(|(_, _, source)| *source == "database")
                .map(|(logical, _, _)| Addr::new(Kind::LogGroup, &logical)),
        );
        vec![Desired { addr, name: identifier(cx).to_lowercase(), attrs, deps }]
    }

    async fn read(&self, cx: &Cx, live: &Live, wanted: &[&Desired]) -> Result<Vec<Observed>, StepError> {
        // Without a database in the file, look only when the stack still owns one.
        if wanted.is_empty() && !live.owns_any("rds").await? {
            return Ok(vec![]);
        }
        // The file's instance by its identifier; the stack's others (a former identifier),
        // which only the tagging index names, by theirs: never the whole account's list.
        // Whose one is comes from its own tags, which RDS answers with it.
        let by_file = futures::future::try_join_all(wanted.iter().map(|d| describe(cx, &d.name)));
        let others = async {
            let tagged = live.tagged().await?;
            let ids = tagged
                .iter()
                .filter_map(|t| {
                    t.arn.split_once(":rds:").and_then(|(_, rest)| rest.rsplit_once(":db:")).map(|(_, id)| id)
                })
                .filter(|id| !wanted.iter().any(|d| d.name == *id));
            futures::future::try_join_all(ids.map(|id| describe(cx, id))).await
        };
        let (by_file, others) = tokio::try_join!(by_file, others)?;
        let found: Vec<(DbInstance, String, BTreeMap<String, String>)> = by_file
            .into_iter()
            .chain(others)
            .flatten()
            .map(|i| {
                let tags = tags_of(i.tag_list());
                let name = i.db_instance_identifier.clone().unwrap_or_default();
                (i, name, tags)
            })
            .filter(|(_, name, tags)| {
                tags.get(TAG_STACK) == Some(&cx.stack.name) || wanted.iter().any(|d| d.name == *name)
            })
            .collect();
        if found.is_empty() {
            return Ok(vec![]);
        }
        let snap = live.ec2().await?;
        Ok(found
            .into_iter()
            .map(|(i, name, tags)| {
                let attrs = attrs::observed(cx, snap, &i, &tags);
                let mut outputs = BTreeMap::from([("arn".to_string(), i.db_instance_arn.clone().unwrap_or_default())]);
                // What RDS has, beside the attributes (where the file's size is a floor).
                if let Some(gb) = i.allocated_storage {
                    outputs.insert("allocated_storage_gb".into(), gb.to_string());
                }
                if let Some(iops) = i.iops {
                    outputs.insert("iops".into(), iops.to_string());
                }
                if let Some(e) = &i.endpoint {
                    let port = e.port.unwrap_or_default();
                    outputs.insert("endpoint".into(), format!("{}:{port}", e.address.as_deref().unwrap_or_default()));
                }
                if let Some(arn) = i.master_user_secret.as_ref().and_then(|s| s.secret_arn.clone()) {
                    outputs.insert("secret".into(), arn);
                }
                let deps = ["subnet_group", "security_groups"]
                    .iter()
                    .flat_map(|k| match attr(&attrs, k) {
                        Some(Value::String(s)) => vec![s.clone()],
                        v => strings(v),
                    })
                    .filter_map(|a| Addr::parse(&a).ok())
                    .collect();
                let (addr, ownership) =
                    cx.placed(Kind::Database, &name, &tags, wanted, ownership(cx, "an RDS instance", &tags));
                Observed { addr, ownership, id: name.clone(), name, attrs, outputs, deps }
            })
            .collect())
    }

    async fn create(&self, cx: &Cx, d: &Desired, p: &Progress<'_>) -> Result<(), StepError> {
        let db = db(cx)?;
        let (managed, kms, password) = match &db.password {
            Password::Managed { kms_key_id } => (true, kms_key_id.as_deref().map(|k| cx.kms_key(k)), None),
            Password::Secret { arn } => (false, None, Some(super::secret::password(cx, arn).await?)),
        };
        let groups =
            strings(attr(&d.attrs, "security_groups")).iter().map(|g| cx.id_in(g)).collect::<Result<Vec<_>, _>>()?;
        let s = &db.storage;
        let created = cx
            .aws
            .rds
            .create_db_instance()
            .db_instance_identifier(&d.name)
            .engine(&db.engine)
            .engine_version(&db.engine_version)
            .set_license_model(db.license_model.clone())
            .db_instance_class(&db.instance_class)
            .port(i32::from(db.port))
            .allocated_storage(i32::try_from(s.size_gb).unwrap_or(20))
            .set_max_allocated_storage(s.max_size_gb.and_then(|m| i32::try_from(m).ok()))
            .storage_type(&s.storage_type)
            .storage_encrypted(s.encrypted)
            .master_username(&db.admin_user)
            .manage_master_user_password(managed)
            .set_master_user_secret_kms_key_id(kms)
            .set_master_user_password(password)
            .backup_retention_period(i32::try_from(db.backup_retention_days).unwrap_or(7))
            .preferred_backup_window(&db.backup_window)
            .preferred_maintenance_window(&db.maintenance_window)
            .set_enable_cloudwatch_logs_exports(Some(db.log_exports.clone()))
            .deletion_protection(db.deletion_protection)
            .publicly_accessible(false)
            .multi_az(db.multi_az)
            .copy_tags_to_snapshot(true)
            .auto_minor_version_upgrade(true)
            .db_subnet_group_name(cx.id_of(&Addr::new(Kind::DbSubnetGroup, "main"))?)
            .set_vpc_security_group_ids(Some(groups))
            .set_tags(Some(to_tags(&tags_from(attr(&d.attrs, "tags")))))
            .send()
            .await;
        match created {
            Ok(_) => {}
            // A re-run after an interrupted apply: follow the instance being made.
            Err(e) if is_code(&e, "DBInstanceAlreadyExists") || is_code(&e, "DBInstanceAlreadyExistsFault") => {}
            Err(e) => return Err(call_error("rds:CreateDBInstance", e)),
        }
        cx.set_id(&d.addr, &d.name);
        p.say("creating the database; RDS usually takes 10-20 min");
        wait_available(cx, &d.name, "the database to be available", p).await
    }

    async fn update(
        &self,
        cx: &Cx,
        d: &Desired,
        o: &Observed,
        changes: &[AttrChange],
        p: &Progress<'_>,
    ) -> Result<(), StepError> {
        let db = db(cx)?;
        if changes.iter().any(|c| c.name != "tags") {
            let secret = match (&db.password, changes.iter().any(|c| c.name == "password")) {
                (Password::Secret { arn }, true) => Some(super::secret::password(cx, arn).await?),
                _ => None,
            };
            let req = modify_request(cx, db, d, o, changes, secret)?;
            req.send().await.map_err(|e| call_error("rds:ModifyDBInstance", e))?;
            if db.apply_immediately {
                wait_available(cx, &d.name, "the database to apply the change", p).await?;
            } else {
                p.say(format!("changes that wait for the maintenance window apply then ({})", db.maintenance_window));
            }
        }
        // Tags last: they carry the applied record, true only once the rest is done.
        if let Some(c) = changes.iter().find(|c| c.name == "tags") {
            let arn = o.outputs.get("arn").cloned().unwrap_or_default();
            converge_tags(cx, &arn, &tags_from(attr(&o.attrs, "tags")), &tags_from(c.after.as_ref())).await?;
        }
        Ok(())
    }

    async fn delete(&self, cx: &Cx, o: &Observed, _d: Option<&Desired>, p: &Progress<'_>) -> Result<(), StepError> {
        let keep = cx.stack.database.as_ref().is_none_or(|d| d.final_snapshot);
        // Automated backups stay with a final snapshot (RDS keeps them for their retention
        // period); `final_snapshot: false` asks for no copy at all, so they go too.
        let mut req = cx.aws.rds.delete_db_instance().db_instance_identifier(&o.name).delete_automated_backups(!keep);
        if keep {
            let snapshot = final_snapshot_name(&cx.stack.name, std::time::SystemTime::now());
            p.say(format!("keeping a final snapshot `{snapshot}`"));
            req = req.final_db_snapshot_identifier(snapshot);
        } else {
            req = req.skip_final_snapshot(true);
        }
        match req.send().await {
            Ok(_) => {}
            Err(e) if is_code(&e, "DBInstanceNotFound") || is_code(&e, "DBInstanceNotFoundFault") => {}
            Err(e) => return Err(call_error("rds:DeleteDBInstance", e)),
        }
        wait::until(&|m| p.say(m), "the database to be deleted", timeout(cx), POLL, || async {
            Ok(match describe(cx, &o.name).await? {
                None => Poll::Ready(()),
                Some(i) => Poll::Pending(i.db_instance_status.unwrap_or_default()),
            })
        })
        .await?;
        cx.forget_id(o);
        Ok(())
    }

    fn annotate(&self, cx: &Cx, change: &mut ResourceChange) {
        let Some(db) = &cx.stack.database else { return };
        match change.action {
            Action::Replace => change.notes.push(format!(
                "a new database is created and the old one deleted: its data is not copied{}",
                if db.final_snapshot { " (the old one leaves a final snapshot)" } else { "" }
            )),
            Action::Update | Action::Adopt => {
                let storage_type = |v: &Option<Value>| v.as_ref().and_then(|v| v.get("type")).cloned();
                let down: Vec<&str> = change
                    .changes
                    .iter()
                    .filter(|c| DOWNTIME.contains(&c.name.as_str()))
                    .filter(|c| c.name != "storage" || storage_type(&c.before) != storage_type(&c.after))
                    .map(|c| if c.name == "storage" { "storage type" } else { c.name.as_str() })
                    .collect();
                // RDS changes the port at once, whatever `apply_immediately` says.
                let (now, later): (Vec<&str>, Vec<&str>) =
                    down.into_iter().partition(|a| *a == "port" || db.apply_immediately);
                let verb = |l: &[&str]| if l.len() == 1 { "causes" } else { "cause" };
                if !now.is_empty() {
                    change.notes.push(format!("{} {} downtime now", now.join(", "), verb(&now)));
                }
                if !later.is_empty() {
                    change.notes.push(format!(
                        "{} {} downtime in the maintenance window {}",
                        later.join(", "),
                        verb(&later),
                        db.maintenance_window
                    ));
                }
            }
            _ => {}
        }
    }

    async fn refuse_delete(&self, _cx: &Cx, o: &Observed, _d: Option<&Desired>) -> Result<Option<String>, StepError> {
        if attr(&o.attrs, "deletion_protection") == Some(&Value::Bool(true)) {
            return Ok(Some(format!(
                "the database `{}` has deletion protection on: set `deletion_protection: false` under `database:` \
                 in the stack file and apply first",
                o.name
            )));
        }
        Ok(None)
    }
}
