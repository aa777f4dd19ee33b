//! What RDS offers per database engine: versions, licenses, ports, log types, user names.
//!
//! Versions reflect RDS today: Oracle 19c and 21c (11g, 12c and 18c are retired; 21c only as
//! a container database), PostgreSQL 13-17, MySQL 8.0 and 8.4, MariaDB 10.5, 10.6, 10.11 and
//! 11.4. Oracle Enterprise Edition is bring-your-own-license only; license-included exists
//! only for Standard Edition 2.

use crate::suggest::list;

pub(crate) const ENGINES: &[&str] =
    &["oracle-ee", "oracle-ee-cdb", "oracle-se2", "oracle-se2-cdb", "postgres", "mysql", "mariadb"];
pub(crate) const LICENSES: &[&str] =
    &["bring-your-own-license", "license-included", "postgresql-license", "general-public-license"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Oracle,
    Postgres,
    Mysql,
    Mariadb,
}

pub(crate) fn family(engine: &str) -> Family {
    match engine {
        "postgres" => Family::Postgres,
        "mysql" => Family::Mysql,
        "mariadb" => Family::Mariadb,
        _ => Family::Oracle,
    }
}

pub(crate) fn default_port(f: Family) -> u64 {
    match f {
        Family::Oracle => 1521,
        Family::Postgres => 5432,
        Family::Mysql | Family::Mariadb => 3306,
    }
}

pub(crate) fn default_license(engine: &str) -> &'static str {
    match engine {
        "oracle-ee" | "oracle-ee-cdb" => "bring-your-own-license",
        "oracle-se2" | "oracle-se2-cdb" => "license-included",
        "postgres" => "postgresql-license",
        _ => "general-public-license",
    }
}

/// A license model that does not fit the engine: (message, label).
pub(crate) fn license_problem(engine: &str, license: &str) -> Option<(String, String)> {
    let allowed: &[&str] = match engine {
        "oracle-ee" | "oracle-ee-cdb" if license == "license-included" => {
            return Some((
                "only Standard Edition 2 (oracle-se2) is license-included".into(),
                "Oracle Enterprise Edition on RDS is bring-your-own-license".into(),
            ))
        }
        "oracle-ee" | "oracle-ee-cdb" => &["bring-your-own-license"],
        "oracle-se2" | "oracle-se2-cdb" => &["bring-your-own-license", "license-included"],
        "postgres" => &["postgresql-license"],
        _ => &["general-public-license"],
    };
    (!allowed.contains(&license)).then(|| {
        (
            format!("license model `{license}` is not available for `{engine}`"),
            format!("expected {}", list(allowed.iter().copied())),
        )
    })
}

pub(crate) fn default_logs(f: Family) -> &'static [&'static str] {
    match f {
        Family::Oracle => &["alert", "audit", "listener", "trace"],
        Family::Postgres => &["postgresql", "upgrade"],
        Family::Mysql | Family::Mariadb => &["error", "slowquery"],
    }
}

pub(crate) fn valid_logs(f: Family) -> &'static [&'static str] {
    match f {
        Family::Oracle => &["alert", "audit", "listener", "trace", "oemagent"],
        Family::Postgres => &["postgresql", "upgrade", "iam-db-auth-error"],
        Family::Mysql => &["audit", "error", "general", "slowquery", "iam-db-auth-error"],
        Family::Mariadb => &["audit", "error", "general", "slowquery"],
    }
}

/// Longest master user name RDS accepts for the engine.
pub(crate) fn admin_max_len(f: Family) -> usize {
    match f {
        Family::Oracle => 30,
        Family::Postgres => 63,
        Family::Mysql | Family::Mariadb => 16,
    }
}

/// Why RDS would refuse `version` of `engine`: (message, label, help).
pub(crate) fn version_problem(engine: &str, version: &str) -> Option<(String, String, String)> {
    let f = family(engine);
    let (name, major, supported, retired): (&str, String, &[&str], bool) = match f {
        Family::Oracle => {
            let major = version.split('.').next().unwrap_or("").to_string();
            let retired = ["11", "12", "18"].contains(&major.as_str());
            ("Oracle", major, &["19", "21"], retired)
        }
        Family::Postgres => {
            let major = version.split('.').next().unwrap_or("").to_string();
            let retired = major.parse::<u32>().is_ok_and(|m| m < 13);
            ("PostgreSQL", major, &["13", "14", "15", "16", "17"], retired)
        }
        Family::Mysql | Family::Mariadb => {
            let major: String = version.split('.').take(2).collect::<Vec<_>>().join(".");
            let (name, supported): (&str, &[&str]) = if f == Family::Mysql {
                ("MySQL", &["8.0", "8.4"])
            } else {
                ("MariaDB", &["10.5", "10.6", "10.11", "11.4"])
            };
            let number = |v: &str| -> Option<(u32, u32)> {
                let (a, b) = v.split_once('.')?;
                Some((a.parse().ok()?, b.parse().ok()?))
            };
            let lowest = number(supported[0]);
            let retired = number(&major).is_some_and(|v| Some(v) < lowest);
            (name, major, supported, retired)
        }
    };
    let help = format!("RDS for {name} supports major versions {}", list(supported.iter().copied()));
    if retired {
        return Some((format!("{name} {major} is retired on RDS"), "retired version".into(), help));
    }
    if !supported.contains(&major.as_str()) {
        return Some((format!("{name} version `{version}` is not offered by RDS"), "unknown version".into(), help));
    }
    if f == Family::Oracle && major == "21" && !engine.ends_with("-cdb") {
        let help = format!("use engine `{engine}-cdb`");
        return Some((
            "Oracle 21 runs only as a container database on RDS".into(),
            "needs a `-cdb` engine".into(),
            help,
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(version_problem("oracle-ee", "19").is_none());
        assert!(version_problem("oracle-ee", "19.0.0.0.ru-2024-01.rur-2024-01.r1").is_none());
        assert_eq!(version_problem("oracle-ee", "12.1.0.2").unwrap().0, "Oracle 12 is retired on RDS");
        assert!(version_problem("oracle-ee", "21").unwrap().0.contains("container"));
        assert!(version_problem("oracle-ee-cdb", "21").is_none());
        assert!(version_problem("oracle-se2", "23").unwrap().0.contains("not offered"));
        assert!(version_problem("postgres", "16.4").is_none());
        assert!(version_problem("postgres", "12").unwrap().0.contains("retired"));
        assert!(version_problem("mysql", "8.0.35").is_none());
        assert!(version_problem("mysql", "5.7").unwrap().0.contains("retired"));
        assert!(version_problem("mariadb", "10.11.6").is_none());
        assert!(version_problem("mariadb", "10.4").unwrap().0.contains("retired"));
        assert!(version_problem("mariadb", "10.7").unwrap().0.contains("not offered"));
    }

    #[test]
    fn licenses() {
        assert!(license_problem("oracle-ee", "license-included").unwrap().0.contains("Standard Edition 2"));
        assert!(license_problem("oracle-se2", "license-included").is_none());
        assert!(license_problem("postgres", "bring-your-own-license").is_some());
    }
}
