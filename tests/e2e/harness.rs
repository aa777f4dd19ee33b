//! Smoke test of the end-to-end harness itself (tests/support): the emulator starts,
//! the independent client round-trips and reports errors, the binary runs, and stack
//! files are copied under unique names.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::support::{stack_copy, Cli, Emulator};

/// A bucket name no other test (or earlier run against a long-lived server) uses.
fn unique_bucket(tag: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
    format!("smoke-{tag}-{}-{nanos}", std::process::id())
}

/// The strict test bed's own rules, each checked with boto3 against a strict server
/// and, for contrast, a plain one (scripts/strict_selftest.py).
#[test]
fn the_strict_test_bed_answers_as_aws_documents() {
    let root = crate::support::repo_root();
    let out = std::process::Command::new(root.join(".venv/bin/python"))
        .arg(root.join("scripts/strict_selftest.py"))
        .env("NO_PROXY", "127.0.0.1,localhost")
        .output()
        .expect("run scripts/strict_selftest.py");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "scripts/strict_selftest.py failed:\n{text}");
    assert!(text.contains("PASS"), "{text}");
}

#[test]
fn emulator_is_one_per_process() {
    let handles: Vec<_> =
        (0..4).map(|_| std::thread::spawn(|| std::ptr::from_ref(Emulator::shared()) as usize)).collect();
    let addrs: Vec<usize> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(addrs.windows(2).all(|w| w[0] == w[1]), "{addrs:?}");
    assert!(Emulator::shared().endpoint.starts_with("http://127.0.0.1:"));
}

#[test]
fn aws_round_trips_buckets() {
    let emu = Emulator::shared();
    let east = unique_bucket("east");
    let west = unique_bucket("west");

    let created = emu.aws("us-east-1", &["s3api", "create-bucket", "--bucket", &east]);
    assert_eq!(created["Location"], format!("/{east}"), "{created}");
    emu.aws(
        "eu-west-1",
        &["s3api", "create-bucket", "--bucket", &west, "--create-bucket-configuration", "LocationConstraint=eu-west-1"],
    );
    // An empty answer is Null.
    let tagged = emu.aws(
        "us-east-1",
        &[
            "s3api",
            "put-bucket-tagging",
            "--bucket",
            &east,
            "--tagging",
            r#"{"TagSet":[{"Key":"bumarket-infra:stack","Value":"smoke"}]}"#,
        ],
    );
    assert!(tagged.is_null(), "{tagged}");

    let listed = emu.aws("us-east-1", &["s3api", "list-buckets"]);
    let names: Vec<&str> =
        listed["Buckets"].as_array().expect("Buckets").iter().filter_map(|b| b["Name"].as_str()).collect();
    assert!(names.contains(&east.as_str()) && names.contains(&west.as_str()), "{listed}");

    let location = emu.aws("eu-west-1", &["s3api", "get-bucket-location", "--bucket", &west]);
    assert_eq!(location["LocationConstraint"], "eu-west-1");
    let tags = emu.aws("us-east-1", &["s3api", "get-bucket-tagging", "--bucket", &east]);
    assert_eq!(tags["TagSet"][0]["Value"], "smoke", "{tags}");
}

#[test]
fn try_aws_returns_the_error() {
    let emu = Emulator::shared();
    let missing = unique_bucket("missing");
    let err =
        emu.try_aws("us-east-1", &["s3api", "get-bucket-tagging", "--bucket", &missing]).expect_err("no such bucket");
    assert!(err.contains("NoSuchBucket"), "{err}");
    let err = emu.try_aws("us-east-1", &["s3api", "head-bucket", "--bucket", &missing]).expect_err("no such bucket");
    assert!(err.contains("404"), "{err}");
}

#[test]
#[should_panic(expected = "NoSuchBucket")]
fn aws_panics_with_stderr() {
    let emu = Emulator::shared();
    emu.aws("us-east-1", &["s3api", "get-bucket-policy", "--bucket", &unique_bucket("nope")]);
}

#[test]
fn managed_policies_are_loaded() {
    let emu = Emulator::shared();
    let policy = emu.aws("us-east-1", &["iam", "get-policy", "--policy-arn", "arn:aws:iam::aws:policy/ReadOnlyAccess"]);
    assert_eq!(policy["Policy"]["PolicyName"], "ReadOnlyAccess", "{policy}");
}

#[test]
fn binary_runs_with_the_emulator_env() {
    let emu = Emulator::shared();
    let run = Cli::new(emu).args(["--help"]).stdin("ignored\n").run().success();
    assert_eq!(run.code, 0);
}

#[test]
#[should_panic(expected = "expected 3")]
fn run_reports_an_unexpected_exit_code() {
    Cli::new(Emulator::shared()).args(["--help"]).run().code_is(3);
}

#[test]
fn stack_copy_renames_the_stack() {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("shop.yaml");
    std::fs::write(&file, "# a stack\nstack: shop   # the name\nregion: eu-west-1\n").unwrap();

    let copy = stack_copy(file.to_str().unwrap(), "t1");
    assert_eq!(copy.name, "shop-t1");
    assert_eq!(copy.path.file_name().unwrap(), "shop.yaml");
    assert!(copy.path.starts_with(copy.dir.path()));
    assert_eq!(std::fs::read_to_string(&copy.path).unwrap(), "# a stack\nstack: shop-t1\nregion: eu-west-1\n");
}

/// `scripts/moto_serve.py` gives `GetBucketVersioning` the XML root AWS sends (moto's own
/// `<GetBucketVersioningResponse>` makes the Rust SDK fail; docs/moto-probe.md 4b).
#[test]
fn versioning_answers_with_the_aws_xml_root() {
    use std::io::{Read, Write};

    let emu = Emulator::shared();
    let bucket = unique_bucket("versioning");
    emu.aws("us-east-1", &["s3api", "create-bucket", "--bucket", &bucket]);
    let addr = emu.endpoint.trim_start_matches("http://");
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    write!(
        conn,
        "GET /{bucket}?versioning HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, \
         SignedHeaders=host, Signature=00\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("<VersioningConfiguration"), "{answer}");
}
