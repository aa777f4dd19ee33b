//! The paths between the app and the rest of the stack (seed §12 steps 5 and 6): what
//! the instances must know (the database's endpoint, port and secret, the buckets' names,
//! the app's log group) and what their role may do with it (read exactly the database's
//! secret, ship logs into exactly the app's log group).
//!
//! The instances learn the values from their user data: after the script's `#!` line,
//! the launch template carries a block that writes `/etc/bumarket-infra/stack.env`
//! (`KEY='value'` lines, readable by systemd's `EnvironmentFile=` and by `set -a; .`) and
//! exports it to the rest of the script. The file holds names and addresses, never a
//! password: the app reads the password from Secrets Manager with the instance role.
//!
//! Two values exist only once the database does: its address and, when RDS manages the
//! password, the ARN of the secret RDS made. The plan holds them as placeholders
//! (`${database.main.address}`); apply puts in the live values ([`resolve`]) and a read
//! maps live values back ([`unresolve`]), so a converged plan is stable and a changed
//! endpoint still shows as a change.

use super::{bucket, Cx};
use crate::apply::StepError;
use crate::engine::{Addr, Kind, Observed};
use bumarket_stack::Password;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The database's address (`<identifier>.<id>.<region>.rds.amazonaws.com`), known once
/// RDS made it.
pub const DB_ADDRESS: &str = "${database.main.address}";
/// The ARN of the secret RDS made for the master password (`password: managed`).
pub const DB_SECRET: &str = "${database.main.secret_arn}";

/// The database this module wires the app to.
pub fn database_addr() -> Addr {
    Addr::new(Kind::Database, "main")
}

/// Where the values live on an instance.
pub const ENV_FILE: &str = "/etc/bumarket-infra/stack.env";
const BEGIN: &str = "# >>> bumarket-infra: the stack's values (written by bumarket-infra; do not edit) >>>";
const END: &str = "# <<< bumarket-infra <<<";
const HEREDOC: &str = "STACK_ENV";

/// The values the instances get, by name (placeholders where the value is live).
pub fn values(cx: &Cx) -> BTreeMap<String, String> {
    let s = &cx.stack;
    let mut v = BTreeMap::new();
    v.insert("STACK".to_string(), s.name.clone());
    v.insert("AWS_REGION".to_string(), cx.region().to_string());
    v.insert("AWS_DEFAULT_REGION".to_string(), cx.region().to_string());
    for logical in s.buckets.keys() {
        v.insert(format!("BUCKET_{}", env_name(logical)), bucket::physical_name(cx, logical));
    }
    if let Some(db) = &s.database {
        v.insert("DB_ENGINE".to_string(), db.engine.clone());
        v.insert("DB_HOST".to_string(), DB_ADDRESS.to_string());
        v.insert("DB_PORT".to_string(), db.port.to_string());
        if let Some(name) = default_db_name(&db.engine) {
            v.insert("DB_NAME".to_string(), name.to_string());
        }
        v.insert("DB_USER".to_string(), db.admin_user.clone());
        v.insert("DB_SECRET_ARN".to_string(), secret_arn(cx).unwrap_or_else(|| DB_SECRET.to_string()));
    }
    if s.monitoring.is_some() {
        v.insert("APP_LOG_GROUP".to_string(), app_log_group(cx));
    }
    v
}

/// The database RDS makes when the request names none (CreateDBInstance, `DBName`:
/// "Oracle: the Oracle System ID (SID) ... Default: ORCL"; PostgreSQL always has
/// `postgres`; MySQL and MariaDB make none).
fn default_db_name(engine: &str) -> Option<&'static str> {
    if engine.starts_with("oracle") {
        Some("ORCL")
    } else if engine == "postgres" {
        Some("postgres")
    } else {
        None
    }
}

/// `images` → `IMAGES`, `user-uploads` → `USER_UPLOADS`.
fn env_name(logical: &str) -> String {
    logical.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect()
}

/// The secret's ARN when the file names it (`password: {secret_arn: ...}`).
fn secret_arn(cx: &Cx) -> Option<String> {
    match &cx.stack.database.as_ref()?.password {
        Password::Secret { arn } => Some(arn.clone()),
        Password::Managed { .. } => None,
    }
}

/// The app's log group, where the instances' CloudWatch agent ships gunicorn and Django.
pub fn app_log_group(cx: &Cx) -> String {
    format!("/bumarket-infra/{}/app", cx.stack.name)
}

/// Whether `script` can carry the values: a shell script with a line after its `#!`.
pub fn takes_values(script: &str) -> bool {
    script.starts_with("#!") && script.contains('\n')
}

/// Whether the values hold a placeholder for the database (the launch template then
/// waits for the database).
pub fn needs_database(values: &BTreeMap<String, String>) -> bool {
    values.values().any(|v| v == DB_ADDRESS || v == DB_SECRET)
}

/// The user data an instance gets: the script with the block of values after its `#!`
/// line. A script without one (cloud-config, say) is sent as written: only a shell
/// script can run the block.
pub fn render(script: &str, values: &BTreeMap<String, String>) -> String {
    let Some(first_line_end) = script.find('\n').filter(|_| takes_values(script)) else {
        return script.to_string();
    };
    let (shebang, rest) = script.split_at(first_line_end + 1);
    let dir = ENV_FILE.rsplit_once('/').map_or("/", |(d, _)| d);
    let mut out = String::with_capacity(script.len() + 512);
    out.push_str(shebang);
    out.push_str(BEGIN);
    out.push('\n');
    out.push_str(&format!("install -d -m 0755 {dir}\n"));
    out.push_str(&format!("cat > {ENV_FILE} <<'{HEREDOC}'\n"));
    for (k, v) in values {
        out.push_str(&format!("{k}='{v}'\n"));
    }
    out.push_str(HEREDOC);
    out.push('\n');
    out.push_str(&format!("set -a; . {ENV_FILE}; set +a\n"));
    out.push_str(END);
    out.push('\n');
    out.push_str(rest);
    out
}

/// The script and the values in live user data made by [`render`]; user data without
/// the block is all script.
pub fn parse(user_data: &str) -> (String, BTreeMap<String, String>) {
    let mut values = BTreeMap::new();
    let (Some(begin), Some(end)) = (user_data.find(&format!("\n{BEGIN}\n")), user_data.find(&format!("\n{END}\n")))
    else {
        return (user_data.to_string(), values);
    };
    if end < begin {
        return (user_data.to_string(), values);
    }
    let block = &user_data[begin + 1..end];
    let mut inside = false;
    for line in block.lines() {
        if line.starts_with("cat > ") {
            inside = true;
        } else if line == HEREDOC {
            inside = false;
        } else if inside {
            if let Some((k, v)) = line.split_once('=') {
                values.insert(k.to_string(), v.trim_matches('\'').to_string());
            }
        }
    }
    let script = format!("{}{}", &user_data[..=begin], &user_data[end + END.len() + 2..]);
    (script, values)
}

/// What the instance role may do beyond the file's grants: read the database's secret
/// (and decrypt it with the file's KMS key), write into the app's log group.
pub fn instance_role_statements(cx: &Cx) -> Vec<Value> {
    let s = &cx.stack;
    let (p, region, account) = (cx.partition(), cx.region(), &cx.account);
    let mut out = Vec::new();
    if let Some(db) = &s.database {
        let secret = secret_arn(cx).unwrap_or_else(|| DB_SECRET.to_string());
        out.push(json!({"Sid": "ReadTheDatabaseSecret", "Effect": "Allow",
                        "Action": ["secretsmanager:GetSecretValue"], "Resource": [secret]}));
        if let Password::Managed { kms_key_id: Some(key) } = &db.password {
            let key = &cx.kms_key(key);
            // Secrets Manager decrypts with the key on the caller's behalf (Secrets
            // Manager user guide, "Secret encryption and decryption": the caller needs
            // kms:Decrypt on a customer managed key, through Secrets Manager only).
            let via = format!("secretsmanager.{region}.amazonaws.com");
            let statement = match key.strip_prefix("alias/") {
                Some(_) => json!({"Sid": "DecryptTheDatabaseSecret", "Effect": "Allow", "Action": ["kms:Decrypt"],
                                  "Resource": [format!("arn:{p}:kms:{region}:{account}:key/*")],
                                  "Condition": {"StringEquals": {"kms:ViaService": via},
                                                "ForAnyValue:StringEquals": {"kms:ResourceAliases": [key]}}}),
                None => {
                    let arn = if key.starts_with("arn:") {
                        key.clone()
                    } else {
                        format!("arn:{p}:kms:{region}:{account}:key/{key}")
                    };
                    json!({"Sid": "DecryptTheDatabaseSecret", "Effect": "Allow", "Action": ["kms:Decrypt"],
                           "Resource": [arn], "Condition": {"StringEquals": {"kms:ViaService": via}}})
                }
            };
            out.push(statement);
        }
    }
    if s.monitoring.is_some() {
        // The CloudWatch agent makes a stream per instance and file and puts events into
        // it, in a group the stack made (so it never needs logs:CreateLogGroup), with no
        // retention of its own (nor logs:PutRetentionPolicy): CloudWatch Logs user guide,
        // "Using identity-based policies (IAM policies) for CloudWatch Logs", scoped to
        // the group's ARN as that page shows.
        let group = format!("arn:{p}:logs:{region}:{account}:log-group:{}", app_log_group(cx));
        out.push(json!({"Sid": "ShipTheAppLogs", "Effect": "Allow",
                        "Action": ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
                        "Resource": [group.clone(), format!("{group}:log-stream:*")]}));
    }
    out
}

/// Whether the instance role's policy waits for the database (its secret's ARN).
pub fn role_needs_database(cx: &Cx) -> bool {
    cx.stack.database.as_ref().is_some_and(|db| matches!(db.password, Password::Managed { .. }))
}

/// The live values of the placeholders, from the database as read or made.
pub fn note_database(cx: &Cx, address: Option<&str>, secret: Option<&str>) {
    let mut live = cx.live_values.lock().expect("live values");
    if let Some(a) = address.filter(|a| !a.is_empty()) {
        live.insert(DB_ADDRESS.to_string(), a.to_string());
    }
    if let Some(s) = secret.filter(|s| !s.is_empty()) {
        live.insert(DB_SECRET.to_string(), s.to_string());
    }
}

/// Note the database's live values from what the read found.
pub fn note_read(cx: &Cx, observed: &[Observed]) {
    let addr = database_addr();
    // Ours, or the one `adopt:` takes over (the plan adopts it before anything uses it).
    let usable = |o: &Observed| {
        o.is_ours()
            || (matches!(o.ownership, crate::engine::Ownership::Unowned(_))
                && cx.stack.adopt.contains_key(addr.as_str()))
    };
    if let Some(o) = observed.iter().find(|o| o.addr == addr && usable(o)) {
        let address = o.outputs.get("endpoint").and_then(|e| e.rsplit_once(':')).map(|(a, _)| a);
        note_database(cx, address, o.outputs.get("secret").map(String::as_str));
    }
}

/// `v` with every placeholder replaced by its live value; an error names what is not
/// there yet.
pub fn resolve(cx: &Cx, v: &Value) -> Result<Value, StepError> {
    let live = cx.live_values.lock().expect("live values").clone();
    resolve_with(&live, v)
}

fn resolve_with(live: &BTreeMap<String, String>, v: &Value) -> Result<Value, StepError> {
    Ok(match v {
        Value::String(s) if s == DB_ADDRESS || s == DB_SECRET => match live.get(s) {
            Some(l) => Value::String(l.clone()),
            None => {
                return Err(StepError::new(
                    "plan",
                    format!("`{}` is not known yet: the database must exist first", s.trim_matches(['$', '{', '}'])),
                ))
            }
        },
        Value::Array(a) => Value::Array(a.iter().map(|x| resolve_with(live, x)).collect::<Result<_, _>>()?),
        Value::Object(o) => Value::Object(
            o.iter().map(|(k, x)| Ok((k.clone(), resolve_with(live, x)?))).collect::<Result<_, StepError>>()?,
        ),
        _ => v.clone(),
    })
}

/// Every attribute of `observed` (but the database's own) with each live value of a
/// placeholder replaced by the placeholder.
pub fn unresolve_all(cx: &Cx, observed: &mut [Observed]) {
    let live = cx.live_values.lock().expect("live values").clone();
    if live.is_empty() {
        return;
    }
    let back: BTreeMap<&String, &String> = live.iter().map(|(k, v)| (v, k)).collect();
    let db = database_addr();
    for o in observed.iter_mut().filter(|o| o.addr != db) {
        for v in o.attrs.values_mut() {
            *v = unresolve_with(&back, v);
        }
    }
}

fn unresolve_with(back: &BTreeMap<&String, &String>, v: &Value) -> Value {
    match v {
        Value::String(s) => back.get(s).map_or_else(|| v.clone(), |p| Value::String((*p).clone())),
        Value::Array(a) => Value::Array(a.iter().map(|x| unresolve_with(back, x)).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), unresolve_with(back, x))).collect()),
        _ => v.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("DB_HOST".to_string(), "db.abc.ap-northeast-2.rds.amazonaws.com".to_string()),
            ("DB_PORT".to_string(), "1521".to_string()),
            (
                "DB_SECRET_ARN".to_string(),
                "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:rds!db-1-AbC".into(),
            ),
        ])
    }

    #[test]
    fn the_block_follows_the_shebang_and_reads_back_to_the_script_and_its_values() {
        let script = "#!/bin/bash\nset -euo pipefail\necho hi\n";
        let rendered = render(script, &values());
        assert!(rendered.starts_with("#!/bin/bash\n# >>> bumarket-infra"), "{rendered}");
        assert!(rendered.contains("\nDB_HOST='db.abc.ap-northeast-2.rds.amazonaws.com'\n"), "{rendered}");
        assert!(rendered.contains("\nset -a; . /etc/bumarket-infra/stack.env; set +a\n"), "{rendered}");
        assert!(rendered.ends_with("# <<< bumarket-infra <<<\nset -euo pipefail\necho hi\n"), "{rendered}");
        assert_eq!(parse(&rendered), (script.to_string(), values()));
    }

    #[test]
    fn user_data_that_is_no_shell_script_is_sent_as_written() {
        let cloud_config = "#cloud-config\npackages: [nginx]\n";
        assert_eq!(render(cloud_config, &values()), cloud_config);
        assert_eq!(render("#!/bin/sh", &values()), "#!/bin/sh", "no line to put the block after");
        assert_eq!(parse(cloud_config), (cloud_config.to_string(), BTreeMap::new()));
    }

    #[test]
    fn placeholders_resolve_to_live_values_and_back() {
        let live = BTreeMap::from([(DB_ADDRESS.to_string(), "db.abc.rds.amazonaws.com".to_string())]);
        let v = json!({"Resource": [DB_ADDRESS], "other": "x"});
        let resolved = resolve_with(&live, &v).unwrap();
        assert_eq!(resolved, json!({"Resource": ["db.abc.rds.amazonaws.com"], "other": "x"}));
        let back: BTreeMap<&String, &String> = live.iter().map(|(k, v)| (v, k)).collect();
        assert_eq!(unresolve_with(&back, &resolved), v);
        let missing = resolve_with(&BTreeMap::new(), &json!([DB_SECRET])).unwrap_err();
        assert!(missing.to_string().contains("database.main.secret_arn"), "{missing}");
    }

    #[test]
    fn env_names_are_shell_words() {
        assert_eq!(env_name("images"), "IMAGES");
        assert_eq!(env_name("user-uploads"), "USER_UPLOADS");
    }
}
