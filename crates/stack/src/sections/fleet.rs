//! `fleet:` – the launch template and Auto Scaling group that run the app.
//!
//! Defaults follow the seed where it speaks (port 8000, CPU target 60, at most 4 instances)
//! and AWS's usual values elsewhere. `user_data` names a file next to the stack file; it is
//! read here (at most 14 KiB: EC2's limit is 16, and the stack's values go with it) so that the plan can show when it changes.

use super::{encrypted, reference, requires, Known};
use crate::model::{Fleet, Image, RootVolume, UserData};
use crate::names::is_instance_type;
use crate::reader::{Ctx, Map, Val};
use crate::shape::{key, Shape, Ty};
use std::path::PathBuf;

pub(crate) const VOLUME_TYPES: &[&str] = &["gp3", "gp2", "io1", "io2"];
/// Amazon Linux 2023, resolved through SSM at plan time, as the file writes it.
const DEFAULT_IMAGE_WRITTEN: &str = "ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64";
/// Its SSM parameter.
pub const DEFAULT_IMAGE: &str = DEFAULT_IMAGE_WRITTEN.split_at(4).1;
/// An EC2 instance type: `family.size`.
pub(crate) const INSTANCE_TYPE: &str = "^[a-z][a-z0-9-]*\\.[a-z0-9]+$";

pub(crate) static SHAPE: Shape = Shape::new(
    "fleet",
    "The launch template and Auto Scaling group that run the app.",
    &[
        key("instance_type", Ty::Pattern(INSTANCE_TYPE), "The EC2 instance type, `family.size` (`t3.micro`).").req(),
        key("image", Ty::Pattern("^(ssm:/[^\\s]+|ami-[0-9a-f]{8,17})$"), "`ssm:/<parameter>` (resolved when planning) or an AMI id (`ami-` and 8-17 hex digits).")
            .str(DEFAULT_IMAGE_WRITTEN),
        key("app_port", Ty::Int(1, 65_535), "The port the app listens on.").int(8000),
        key("user_data", Ty::Str, "A file next to the stack file run at boot (at most 14 KiB); a shell script gets the stack's values after its `#!` line."),
        key("root_volume", Ty::Obj(&ROOT_VOLUME), "The instances' EBS root volume."),
        key("require_imdsv2", Ty::AnyOf(&[Ty::True, Ty::Obj(&super::ENABLED)]), "Instance metadata only with a session token (IMDSv2); off only as `{enabled: false, reason: \"...\"}`."),
        key("min_size", Ty::Int(0, 100), "Fewest instances; min_size <= desired_capacity <= max_size.").int(1),
        key("desired_capacity", Ty::Int(0, 100), "Instances to start with.").int(1),
        key("max_size", Ty::Int(0, 100), "Most instances.").int(4),
        key("cpu_target_percent", Ty::Num(1.0, 100.0), "Target tracking on the fleet's average CPU.").num(60.0),
        key("health_check_grace_seconds", Ty::Int(0, 7200), "Seconds a new instance has before health checks count.").int(300),
        key("min_healthy_percent", Ty::Int(0, 100), "The share of the fleet an instance refresh keeps healthy.").int(100),
        key("max_healthy_percent", Ty::Int(100, 200), "The share an instance refresh may run meanwhile; at most min_healthy_percent + 100 (the default, capped at 200)."),
        key("instance_role", Ty::Str, "An `access.roles` entry with `instance_profile: true`, or `existing.role`."),
        key("wait_timeout", Ty::Duration, "How long apply waits for the fleet.").str("15m"),
    ],
);

static ROOT_VOLUME: Shape = Shape::new(
    "root_volume",
    "The instances' EBS root volume.",
    &[
        key("size_gb", Ty::Int(1, 16_384), "Size in GiB.").int(8),
        key("type", Ty::Enum(VOLUME_TYPES), "The EBS volume type.").str("gp3"),
        key("encrypted", Ty::Bool, "`false` needs `unencrypted_reason`.").bool(true),
        key("unencrypted_reason", Ty::Text, "Why the volume is not encrypted."),
    ],
);
/// EC2 takes 16 KiB of user data; bumarket-infra adds the stack's values to a script
/// (a few hundred bytes, see the binary's `app_env`), so the file may use 14 of them.
const MAX_USER_DATA: usize = 14 * 1024;

pub(crate) fn read(cx: &mut Ctx, top: &Map, known: &Known) -> Option<Fleet> {
    let entry = top.entry("fleet")?;
    if known.subnets.is_none() {
        requires(cx, top, "fleet", "network", "the fleet's instances run in the network's public subnets");
    }
    let m = Map::shaped(cx, &entry.value, "fleet", entry.key.span, &SHAPE);
    m.need_all(cx);
    let instance_type = m.string(cx, "instance_type");
    if let Val::Got(t, span) = &instance_type {
        if !is_instance_type(t) {
            cx.error(
                *span,
                format!("`{t}` does not look like an EC2 instance type"),
                "expected `family.size`, like `t3.micro`",
            );
        }
    }
    let volume = m.sub(cx, "root_volume", &ROOT_VOLUME);
    let root_volume = RootVolume {
        size_gb: volume.uint_or(cx, "size_gb") as u32,
        volume_type: volume.choice_or(cx, "type").to_string(),
        encrypted: encrypted(cx, &volume),
    };
    let (min, desired, max) = sizes(cx, &m);
    let (min_healthy_percent, max_healthy_percent) = healthy(cx, &m);
    Some(Fleet {
        instance_type: instance_type.or(String::new()),
        image: image(cx, &m),
        app_port: m.uint_or(cx, "app_port") as u16,
        user_data: user_data(cx, &m),
        root_volume,
        require_imdsv2: super::loosenable(cx, &m, "require_imdsv2", &super::ENABLED),
        min_size: min,
        desired_capacity: desired,
        max_size: max,
        cpu_target_percent: m.number_or(cx, "cpu_target_percent"),
        health_check_grace_seconds: m.uint_or(cx, "health_check_grace_seconds") as u32,
        min_healthy_percent,
        max_healthy_percent,
        instance_role: instance_role(cx, &m, known),
        wait_timeout_seconds: m.duration_or(cx, "wait_timeout"),
    })
}

fn image(cx: &mut Ctx, m: &Map) -> Image {
    let Val::Got(text, span) = m.string(cx, "image") else { return Image::SsmParameter(DEFAULT_IMAGE.into()) };
    if let Some(parameter) = text.strip_prefix("ssm:") {
        if parameter.starts_with('/') && parameter.len() > 1 && !parameter.contains(char::is_whitespace) {
            return Image::SsmParameter(parameter.to_string());
        }
    } else if let Some(hex) = text.strip_prefix("ami-") {
        if (8..=17).contains(&hex.len()) && hex.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)) {
            return Image::Ami(text);
        }
    }
    let label = "expected `ssm:/<parameter>` or an AMI id like `ami-0123456789abcdef0`";
    cx.error(span, format!("invalid image `{text}` for {}", m.what("image")), label);
    Image::SsmParameter(DEFAULT_IMAGE.into())
}

fn user_data(cx: &mut Ctx, m: &Map) -> Option<UserData> {
    let Val::Got(text, span) = m.string(cx, "user_data") else { return None };
    let path = PathBuf::from(&text);
    let full = cx.dir.join(&path);
    match std::fs::read(&full) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            cx.error(
                span,
                format!("user data file `{text}` does not exist"),
                format!("looked for `{}`", full.display()),
            );
        }
        Err(e) => cx.error(span, format!("cannot read user data file `{text}`: {e}"), "unreadable file"),
        Ok(bytes) if bytes.len() > MAX_USER_DATA => {
            let message = format!("user data file `{text}` is {} bytes; at most {MAX_USER_DATA} fit", bytes.len());
            cx.error(span, message, "too large: EC2 takes 16 KiB, and the stack's values for the app need room");
        }
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(content) => return Some(UserData { path, content }),
            Err(_) => cx.error(span, format!("user data file `{text}` is not UTF-8 text"), "not text"),
        },
    }
    None
}

/// min_size <= desired_capacity <= max_size <= 100, pointing at what was written.
fn sizes(cx: &mut Ctx, m: &Map) -> (u32, u32, u32) {
    let keys = ["min_size", "desired_capacity", "max_size"];
    let defaults = keys.map(|k| crate::shape::default_int(&SHAPE, k));
    let vals: Vec<Val<u64>> = keys.iter().map(|k| m.uint(cx, k)).collect();
    let spans: Vec<_> = vals.iter().map(Val::span).collect();
    let got: Vec<Option<u64>> = vals.iter().zip(defaults).map(|(v, d)| v.clone().checked(d)).collect();
    if let [Some(min), Some(desired), Some(max)] = got[..] {
        let pairs = [(0, 2, min, max), (0, 1, min, desired), (1, 2, desired, max)];
        if let Some(&(a, b, va, vb)) = pairs.iter().find(|(_, _, va, vb)| va > vb) {
            let span = spans[a].or(spans[b]).unwrap_or(m.holder);
            let message = format!("{} {va} is greater than {} {vb} in `fleet`", keys[a], keys[b]);
            let label = format!("expected {} <= {}", keys[a], keys[b]);
            match (spans[a], spans[b]) {
                (Some(_), Some(_)) => cx.error(span, message, label),
                (None, _) => cx.error_help(span, message, label, format!("`{}` defaults to {va}", keys[a])),
                (_, None) => cx.error_help(span, message, label, format!("`{}` defaults to {vb}", keys[b])),
            }
        }
    }
    let v = |i: usize| got[i].unwrap_or(defaults[i]) as u32;
    (v(0), v(1), v(2))
}

/// The instance refresh's bounds: at least `min` % of the fleet healthy, at most `max` %
/// running. AWS takes min 0-100, max 100-200, and max at most 100 above min, and with a
/// maximum set it launches a new instance before terminating an old one whenever both
/// bounds cannot hold at once (Auto Scaling API reference, RefreshPreferences). So the
/// defaults, min 100 and max min + 100 (at most 200), never lose the only instance of a
/// fleet of one.
fn healthy(cx: &mut Ctx, m: &Map) -> (u32, u32) {
    let min = m.uint(cx, "min_healthy_percent");
    let max = m.uint(cx, "max_healthy_percent");
    let (min_span, max_span) = (min.span(), max.span());
    let lo = min.or(crate::shape::default_int(&SHAPE, "min_healthy_percent"));
    let hi = max.or((lo + 100).min(200));
    if let Some(span) = max_span.filter(|_| hi > lo + 100) {
        let message = format!("max_healthy_percent {hi} is more than 100 above min_healthy_percent {lo} in `fleet`");
        let label = format!("expected at most {}", lo + 100);
        match min_span {
            Some(_) => cx.error(span, message, label),
            None => cx.error_help(span, message, label, "`min_healthy_percent` defaults to 100"),
        }
    }
    (lo as u32, hi as u32)
}

fn instance_role(cx: &mut Ctx, m: &Map, known: &Known) -> Option<String> {
    let Val::Got(role, span) = m.string(cx, "instance_role") else { return None };
    // The role `existing.role` finds, used as it is (its instance profile: checked at plan time).
    if role == crate::EXISTING_ROLE {
        super::existing_ref(cx, &Val::Got(role.clone(), span), "role", known.existing_role);
        return Some(role);
    }
    let defined: Vec<&str> = known.roles.keys().map(String::as_str).collect();
    if reference(cx, &role, span, "role", "access.roles", &defined) && known.roles.get(&role) == Some(&false) {
        cx.error_help(
            span,
            format!("role `{role}` has no instance profile"),
            "the fleet's instances need an instance profile",
            format!("set `instance_profile: true` in `access.roles.{role}`"),
        );
    }
    Some(role)
}
