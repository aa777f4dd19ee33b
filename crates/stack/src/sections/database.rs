//! `database:` – one RDS instance in the network's private subnets.
//!
//! Engine facts (versions, licenses, ports, log types) live in `engines`. The master
//! password never appears in the file: RDS manages it, or it lives in a Secrets Manager
//! secret; a password written in the file is an error and is masked in the output. Backups
//! and maintenance have windows of at least 30 minutes that never overlap.

use super::engines::{self, family, Family};
use super::{encrypted, Known};
use crate::model::{Database, Password, Storage};
use crate::names::{is_instance_type, is_secret_arn, rds_identifier};
use crate::reader::{string, Ctx, Map, Val};
use crate::shape::{key, Shape, Ty};
use crate::time::{overlaps, window};
use crate::yaml::Kind;

pub(crate) static SHAPE: Shape = Shape::new(
    "database",
    "One RDS instance in the network's private subnets.",
    &[
        key("identifier", Ty::Str, "The RDS identifier, `<stack>-db` by default: 1-63 characters, a letter first, letters, digits and `-`, no `--`, no trailing `-`."),
        key("engine", Ty::Enum(engines::ENGINES), "The database engine.").req(),
        key("engine_version", Ty::Text, "The engine version RDS offers: Oracle 19 and 21 (21 only with a `-cdb` engine), PostgreSQL 13-17, MySQL 8.0 and 8.4, MariaDB 10.5, 10.6, 10.11 and 11.4.").req(),
        key("license_model", Ty::Enum(engines::LICENSES), "By engine: Oracle EE bring-your-own-license only; Oracle SE2 license-included (default) or BYOL; postgresql-license; general-public-license."),
        key("instance_class", Ty::Pattern("^db\\.[a-z][a-z0-9-]*\\.[a-z0-9]+$"), "The RDS instance class, `db.<family>.<size>` (`db.t3.small`).").req(),
        key("port", Ty::Int(1150, 65_535), "The port: Oracle 1521, PostgreSQL 5432, MySQL and MariaDB 3306 by default."),
        key("storage", Ty::Obj(&STORAGE), "The instance's storage."),
        key("admin_user", Ty::Str, "The master user: a letter first, then letters, digits or `_`; not a default name such as `admin` (unless `adopt:` lists `database.main`).").str("bumarket_admin"),
        key("password", Ty::AnyOf(&[Ty::Word("managed"), Ty::Obj(&PASSWORD)]), "Never the password itself: `managed` (RDS keeps it in Secrets Manager), `{managed: {kms_key_id: ...}}` or `{secret_arn: ...}`."),
        key("backups", Ty::Obj(&BACKUPS), "Automated backups."),
        key("maintenance_window", Ty::Text, "`ddd:hh:mm-ddd:hh:mm` UTC, at least 30 minutes, never overlapping the backup window.").str("sun:18:00-sun:18:30"),
        key("log_exports", Ty::List(&Ty::Str), "Log types exported to CloudWatch Logs; by default Oracle alert, audit, listener, trace; PostgreSQL postgresql, upgrade; MySQL/MariaDB error, slowquery."),
        key("deletion_protection", Ty::Bool, "Refuse to delete the database.").bool(true),
        key("apply_immediately", Ty::Bool, "`false`: changes wait for the maintenance window.").bool(false),
        key("final_snapshot", Ty::Bool, "Take a snapshot before the database is deleted.").bool(true),
        key("multi_az", Ty::Bool, "A standby in a second availability zone.").bool(false),
        key("wait_timeout", Ty::Duration, "How long apply waits for the database.").str("40m"),
    ],
);

static STORAGE: Shape = Shape::new(
    "storage",
    "The database's storage.",
    &[
        key("size_gb", Ty::Int(20, 65_536), "Allocated storage in GiB.").int(20),
        key("max_size_gb", Ty::Int(21, 65_536), "Storage autoscaling up to this size; greater than `size_gb`."),
        key("type", Ty::Enum(super::fleet::VOLUME_TYPES), "The storage type.").str("gp3"),
        key("encrypted", Ty::Bool, "`false` needs `unencrypted_reason`.").bool(true),
        key("unencrypted_reason", Ty::Text, "Why the storage is not encrypted."),
    ],
);

static BACKUPS: Shape = Shape::new(
    "backups",
    "Automated backups.",
    &[
        key("retention_days", Ty::Int(1, 35), "Days backups are kept.").int(7),
        key("window", Ty::Text, "The daily backup window, `hh:mm-hh:mm` UTC, at least 30 minutes.").str("00:00-00:30"),
    ],
);

static PASSWORD: Shape = Shape::new(
    "password",
    "Where the master password lives: exactly one of `managed` and `secret_arn`.",
    &[
        key(
            "managed",
            Ty::Obj(&MANAGED),
            "RDS creates and rotates it in Secrets Manager, encrypted with `kms_key_id`.",
        ),
        key("secret_arn", Ty::Str, "An existing Secrets Manager secret that holds it (`arn:aws:secretsmanager:...`)."),
    ],
)
.one_key();

static MANAGED: Shape = Shape::new(
    "managed_password",
    "A password RDS manages.",
    &[key("kms_key_id", Ty::Str, "The KMS key its secret is encrypted with, or `existing.kms_key`.")],
);
const RESERVED_USERS: &[&str] = &["admin", "root", "sys", "system", "rdsadmin", "postgres", "master", "sa"];
const SECRET_KEYS: &[&str] = &["value", "plaintext", "password", "secret", "secret_string"];
const NEVER: &str = "the password never goes in the stack file; use `managed` or `secret_arn`";

pub(crate) fn read(cx: &mut Ctx, top: &Map, known: &Known) -> Option<Database> {
    let entry = top.entry("database")?;
    match known.subnets {
        None => super::requires(cx, top, "database", "network", "the database lives in the network's private subnets"),
        Some((_, 0)) => cx.error_help(
            entry.key.span,
            "`database` requires `network.private_subnets`",
            "no private subnets",
            "add one private subnet per availability zone under `network.private_subnets`",
        ),
        _ => {}
    }
    let m = Map::shaped(cx, &entry.value, "database", entry.key.span, &SHAPE);
    m.need_all(cx);
    let identifier = m.string(cx, "identifier");
    let (id, id_span) = match &identifier {
        Val::Got(id, span) => (Some(id.clone()), *span),
        _ => (crate::names::stack_name(&known.stack).is_empty().then(|| format!("{}-db", known.stack)), m.holder),
    };
    if let (Some(id), false) = (id, matches!(identifier, Val::Bad)) {
        for p in rds_identifier(&id) {
            cx.error(id_span, format!("database identifier `{id}` {p}"), "invalid RDS identifier");
        }
    }
    let engine = m.choice(cx, "engine");
    let version = m.text(cx, "engine_version");
    let engine_name = engine.clone().get();
    if let (Some(engine), Val::Got(v, span)) = (engine_name, &version) {
        if let Some((message, label, help)) = engines::version_problem(engine, v) {
            cx.error_help(*span, message, label, help);
        }
    }
    let engine_name = engine_name.unwrap_or("oracle-ee");
    let f = family(engine_name);
    let license = m.choice(cx, "license_model");
    if let (true, Val::Got(l, span)) = (!matches!(engine, Val::Bad), &license) {
        if let Some((message, label)) = engines::license_problem(engine_name, l) {
            cx.error(*span, message, label);
        }
    }
    let class = m.string(cx, "instance_class");
    if let Val::Got(c, span) = &class {
        if !c.strip_prefix("db.").is_some_and(is_instance_type) {
            cx.error(
                *span,
                format!("`{c}` does not look like an RDS instance class"),
                "expected `db.<family>.<size>`, like `db.t3.micro`",
            );
        }
    }
    let s = m.sub(cx, "storage", &STORAGE);
    let size = s.uint(cx, "size_gb");
    let max_size = s.uint(cx, "max_size_gb");
    let default_size = crate::shape::default_int(&STORAGE, "size_gb");
    if let (Some(size), Val::Got(max, span)) = (size.clone().checked(default_size), &max_size) {
        if *max <= size {
            cx.error(
                *span,
                format!("max_size_gb {max} is not greater than size_gb {size}"),
                "storage autoscaling needs room to grow",
            );
        }
    }
    let storage = Storage {
        size_gb: size.or(default_size) as u32,
        max_size_gb: max_size.get().map(|v| v as u32),
        storage_type: s.choice_or(cx, "type").to_string(),
        encrypted: encrypted(cx, &s),
    };
    let b = m.sub(cx, "backups", &BACKUPS);
    let retention = b.uint_or(cx, "retention_days") as u32;
    let backup = b.text(cx, "window");
    let backup_window = match &backup {
        Val::Got(text, span) => window(cx, text, *span, &b.what("window"), false),
        _ => Some((0, 30)),
    };
    let maintenance = m.text(cx, "maintenance_window");
    let maintenance_window = match &maintenance {
        Val::Got(text, span) => window(cx, text, *span, &m.what("maintenance_window"), true),
        _ => Some((6 * 1440 + 18 * 60, 30)),
    };
    let backup_text = backup.clone().or(crate::shape::default_str(&BACKUPS, "window").into());
    let maintenance_text =
        maintenance.clone().or(crate::shape::default_str(&SHAPE, "maintenance_window").into()).to_lowercase();
    if let (Some(w), Some(d)) = (maintenance_window, backup_window) {
        if overlaps(w, d) {
            let span = maintenance.span().or(backup.span()).unwrap_or(m.holder);
            let message = format!("maintenance window `{maintenance_text}` overlaps the backup window `{backup_text}`");
            match (maintenance.span(), backup.span()) {
                (None, _) => cx.error_help(
                    span,
                    message,
                    "RDS needs the two windows apart",
                    "`maintenance_window` defaults to `sun:18:00-sun:18:30`",
                ),
                (_, None) => cx.error_help(
                    span,
                    message,
                    "RDS needs the two windows apart",
                    "`backups.window` defaults to `00:00-00:30`",
                ),
                _ => cx.error(span, message, "RDS needs the two windows apart"),
            }
        }
    }
    Some(Database {
        identifier: identifier.get(),
        engine: engine_name.to_string(),
        engine_version: version.or(String::new()),
        license_model: Some(license.or(engines::default_license(engine_name)).to_string()),
        instance_class: class.or(String::new()),
        port: m.uint(cx, "port").or(engines::default_port(f)) as u16,
        storage,
        admin_user: admin_user(cx, &m, f, adopts_database(top)),
        password: password(cx, &m, known),
        backup_retention_days: retention,
        backup_window: backup_text,
        maintenance_window: maintenance_text,
        log_exports: log_exports(cx, &m, f, !matches!(engine, Val::Bad)),
        deletion_protection: m.boolean_or(cx, "deletion_protection"),
        apply_immediately: m.boolean_or(cx, "apply_immediately"),
        final_snapshot: m.boolean_or(cx, "final_snapshot"),
        multi_az: m.boolean_or(cx, "multi_az"),
        wait_timeout_seconds: m.duration_or(cx, "wait_timeout"),
    })
}

/// Whether `adopt:` lists the database (its entry's shape is `adopt`'s to check).
fn adopts_database(top: &Map) -> bool {
    top.entry("adopt").is_some_and(|e| match &e.value.kind {
        Kind::Map(entries) => entries.iter().any(|x| x.key.name == "database.main"),
        _ => false,
    })
}

fn admin_user(cx: &mut Ctx, m: &Map, f: Family, adopted: bool) -> String {
    let Val::Got(user, span) = m.string(cx, "admin_user") else {
        return crate::shape::default_str(&SHAPE, "admin_user").into();
    };
    let max = engines::admin_max_len(f);
    let n = user.chars().count();
    // An adopted database keeps its master user whatever its name: RDS cannot rename it
    // (ModifyDBInstance takes a new password, never a new user name), and the console's
    // default is `admin`.
    if RESERVED_USERS.contains(&user.to_lowercase().as_str()) && !adopted {
        let message = format!("`{user}` is a default or reserved database user name");
        cx.error_help(
            span,
            message,
            "a non-default name is required",
            "choose a name of your own, like `bumarket_admin` (a database made outside bumarket-infra and listed under `adopt:` keeps the one it has)",
        );
    } else if !(1..=max).contains(&n) {
        cx.error(span, format!("admin user `{user}` is {n} characters long"), format!("this engine allows 1 to {max}"));
    } else if !user.starts_with(|c: char| c.is_ascii_alphabetic())
        || !user.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        cx.error(
            span,
            format!("admin user `{user}` is not a valid name"),
            "expected a letter, then letters, digits or `_`",
        );
    }
    user
}

fn password(cx: &mut Ctx, m: &Map, known: &Known) -> Password {
    let managed = Password::Managed { kms_key_id: None };
    let Some(node) = m.node("password") else { return managed };
    match &node.kind {
        Kind::Str(s) if s == "managed" => managed,
        Kind::Map(entries) => {
            let mut keys: Vec<&str> = PASSWORD.keys();
            for e in entries.iter().filter(|e| SECRET_KEYS.contains(&e.key.name.as_str())) {
                cx.secrets.push(e.value.span);
                cx.error(e.value.span, NEVER, "remove this value");
                keys.push(&e.key.name);
            }
            // The secrets found are reported once, above, not again as unknown keys.
            let p = Map {
                shape: Some(&PASSWORD),
                ..Map::open(cx, node, &m.child("password"), m.key_span("password"), Some(&keys))
            };
            let (has_managed, has_secret) = (p.entry("managed").is_some(), p.entry("secret_arn").is_some());
            if has_managed && has_secret {
                cx.error(
                    p.key_span("secret_arn"),
                    "use either `managed` or `secret_arn` for `database.password`, not both",
                    "second source",
                );
            }
            if has_secret {
                p.need(cx, "secret_arn");
                if let Val::Got(arn, span) = p.string(cx, "secret_arn") {
                    if !is_secret_arn(&arn) {
                        cx.error(
                            span,
                            format!("`{arn}` is not a Secrets Manager secret ARN"),
                            "expected `arn:aws:secretsmanager:<region>:<account>:secret:<name>`",
                        );
                    }
                    return Password::Secret { arn };
                }
            } else if has_managed {
                let kms = p.sub(cx, "managed", &MANAGED);
                let key = kms.string(cx, "kms_key_id");
                super::existing_ref(cx, &key, "kms_key", known.existing_kms_key);
                return Password::Managed { kms_key_id: key.get() };
            } else if keys.len() == 2 {
                cx.error(
                    node.span,
                    "`database.password` needs `managed` or `secret_arn`",
                    "expected `managed` or `{secret_arn: ...}`",
                );
            }
            managed
        }
        Kind::Seq(_) => {
            string(cx, node, &m.what("password"));
            managed
        }
        _ => {
            cx.secrets.push(node.span);
            cx.error_help(
                node.span,
                NEVER,
                "remove this value",
                "`password: managed` has RDS keep it in Secrets Manager; `{secret_arn: ...}` uses your own secret",
            );
            managed
        }
    }
}

fn log_exports(cx: &mut Ctx, m: &Map, f: Family, engine_ok: bool) -> Vec<String> {
    if m.node("log_exports").is_none() {
        return engines::default_logs(f).iter().map(|s| s.to_string()).collect();
    }
    let valid = engines::valid_logs(f);
    let mut out: Vec<String> = Vec::new();
    for (i, node) in m.seq(cx, "log_exports").iter().enumerate() {
        let Val::Got(log, span) = string(cx, node, &format!("`log_exports[{i}]` in `database`")) else { continue };
        if engine_ok && !valid.contains(&log.as_str()) {
            cx.not_one_of(span, format!("log type `{log}` is not exported by this engine"), &log, valid);
        } else if out.contains(&log) {
            cx.error(span, format!("log type `{log}` is listed twice"), "duplicate");
        }
        out.push(log);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    const FILE: &str = "stack: s\nregion: ap-northeast-2\nnetwork: {cidr: 10.0.0.0/16, availability_zones: [ap-northeast-2a, ap-northeast-2c], public_subnets: [10.0.0.0/24, 10.0.1.0/24], private_subnets: [10.0.10.0/24, 10.0.11.0/24]}\ndatabase: {engine: oracle-ee, engine_version: \"19\", instance_class: db.t3.small, admin_user: admin}\n";

    #[test]
    fn a_default_master_user_is_refused_unless_the_database_is_adopted() {
        let e = crate::parse(Path::new("t.yaml"), FILE).unwrap_err();
        assert!(e.to_string().contains("`admin` is a default or reserved database user name"), "{e}");
        assert!(e.to_string().contains("listed under `adopt:` keeps the one it has"), "{e}");
        let adopted = format!("{FILE}adopt: {{database.main: console-db}}\n");
        let stack = crate::parse(Path::new("t.yaml"), &adopted).unwrap();
        assert_eq!(stack.database.unwrap().admin_user, "admin");
    }
}
