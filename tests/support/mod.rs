//! End-to-end test harness: the real `bumarket-infra` binary against a local AWS
//! emulator (the moto server), checked with an independent client (awscli).
//!
//! Needs the test bed's virtualenv: run `scripts/testbed install` once (`scripts/test`
//! does it). A missing or stale venv fails the test; it never skips it.
//!
//! ```ignore
//! let emu = Emulator::shared();
//! let stack = stack_copy("examples/minimal.yaml", "apply-twice");
//! Cli::new(emu)
//!     .args(["-f", stack.path.to_str().unwrap(), "apply", "--auto-approve"])
//!     .run()
//!     .success();
//! let buckets = emu.aws("ap-northeast-2", &["s3api", "list-buckets"]);
//! ```
#![allow(dead_code)] // each test binary uses its own part of the harness

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The repository root (the root crate's manifest directory).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The dummy credentials every child process gets.
const ACCESS_KEY: &str = "testing";
const SECRET_KEY: &str = "testing";

/// How long a single run of the binary may take before the harness kills it.
const RUN_GUARD: Duration = Duration::from_secs(5 * 60);

/// Environment variables no child inherits: every `AWS_*` (profiles, regions, CA
/// bundles, endpoints), the tool's own `BUMARKET*` settings, log filters, colour
/// forcing and `CI`, so a test behaves the same in a terminal and in CI.
fn scrub_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if key.starts_with("AWS_")
            || key.starts_with("BUMARKET")
            || matches!(
                key,
                "RUST_LOG"
                    | "CI"
                    | "CLICOLOR_FORCE"
                    | "FORCE_COLOR"
                    | "HTTP_PROXY"
                    | "HTTPS_PROXY"
                    | "http_proxy"
                    | "https_proxy"
                    | "ALL_PROXY"
                    | "all_proxy"
            )
        {
            cmd.env_remove(key);
        }
    }
    // No shared config or credentials files (they could carry a region or a profile),
    // no instance-metadata probes (169.254.169.254 is off-limits), no proxy for loopback.
    // An empty file rather than a missing one: the SDK warns about a missing one.
    let empty = repo_root().join(".moto/empty-aws-config");
    if !empty.exists() {
        let _ = std::fs::create_dir_all(empty.parent().expect("has a parent"));
        let _ = std::fs::write(&empty, "");
    }
    cmd.env("AWS_CONFIG_FILE", &empty)
        .env("AWS_SHARED_CREDENTIALS_FILE", &empty)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost");
}

/// The AWS emulator the tests talk to.
pub struct Emulator {
    /// Base URL of the emulator, e.g. `http://127.0.0.1:41965`.
    pub endpoint: String,
    /// The test bed's awscli.
    aws_bin: PathBuf,
    /// The server's log (None when `BUMARKET_TEST_ENDPOINT` names a server).
    log: Option<PathBuf>,
}

impl Emulator {
    /// The emulator of this test process, started on first use.
    ///
    /// One moto server per test process, on a port the OS picks, run as
    /// `.venv/bin/python scripts/moto_serve.py 127.0.0.1 0 --parent-pid <this pid>`
    /// with `MOTO_IAM_LOAD_MANAGED_POLICIES=true`; it exits by itself within 0.5 s of
    /// this process ending. Its log is `target/tmp/moto-<test binary>.log`.
    /// If `BUMARKET_TEST_ENDPOINT` is set (e.g. to the URL `scripts/testbed start`
    /// printed), that server is used instead and none is started.
    ///
    /// Panics (the test fails, never skips) when the venv is missing or stale, telling
    /// to run `scripts/testbed install`. Tests share the server and run in parallel:
    /// give every resource a name unique to the test (see [`stack_copy`]).
    pub fn shared() -> &'static Emulator {
        static SHARED: OnceLock<Emulator> = OnceLock::new();
        SHARED.get_or_init(|| {
            let emu = Emulator::start(&[]);
            // One account holds the VPCs of every test running at once, more than AWS's
            // default of 5 a region (which the plan's preflight enforces): as a team with
            // many stacks would, it has asked for more where the tests build. The
            // preflight's own test sets the quotas it checks in a region of its own.
            let quota =
                serde_json::json!({"service": "vpc", "quota": "L-F678F1CE", "value": 40, "region": "ap-northeast-2"});
            emu.control("/__testbed/quota", &quota);
            emu
        })
    }

    /// A second emulator of this test process, in strict mode (`moto_serve.py --strict`,
    /// scripts/moto_strict.py): it answers as AWS documents where moto is kinder (list
    /// calls without tags, a lagging tagging index, new instance profiles not yet usable,
    /// new VPCs and subnets not yet visible, only orderable database classes, e-mail
    /// subscriptions pending, storage that autoscaling grew, racing conditional writes).
    /// `BUMARKET_TEST_ENDPOINT` does not apply to it.
    pub fn strict() -> &'static Emulator {
        static STRICT: OnceLock<Emulator> = OnceLock::new();
        STRICT.get_or_init(|| Emulator::start(&["--strict"]))
    }

    /// A third emulator of this test process, enforcing IAM (`moto_serve.py
    /// --enforce-iam`, scripts/iam_enforce.py): requests signed with a created user's key
    /// are judged by that user's policies; the harness's own key `testing` stays the
    /// administrator. `BUMARKET_TEST_ENDPOINT` does not apply to it.
    pub fn enforcing() -> &'static Emulator {
        static ENFORCING: OnceLock<Emulator> = OnceLock::new();
        ENFORCING.get_or_init(|| Emulator::start(&["--enforce-iam"]))
    }

    fn start(mode: &[&str]) -> Emulator {
        let root = repo_root();
        let venv = root.join(".venv");
        let python = venv.join("bin/python");
        let aws_bin = venv.join("bin/aws");
        let reqs = std::fs::read(root.join("scripts/requirements-testbed.txt"))
            .expect("read scripts/requirements-testbed.txt");
        let stamp = std::fs::read(venv.join(".testbed-requirements")).ok();
        assert!(
            python.exists() && aws_bin.exists() && stamp.as_deref() == Some(&reqs[..]),
            "the AWS test bed in {} is missing or out of date: run `scripts/testbed install` \
             (or `scripts/test`, which does it)",
            venv.display()
        );

        if let Some(endpoint) =
            std::env::var("BUMARKET_TEST_ENDPOINT").ok().filter(|e| !e.is_empty() && mode.is_empty())
        {
            return Emulator { endpoint: endpoint.trim_end_matches('/').to_string(), aws_bin, log: None };
        }

        let exe = std::env::current_exe().expect("current_exe");
        let stem = exe.file_stem().and_then(OsStr::to_str).unwrap_or("test");
        let which = mode.first().map(|m| format!("-{}", m.trim_start_matches('-'))).unwrap_or_default();
        let log = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("moto-{stem}{which}.log"));
        let log_file = std::fs::File::create(&log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));

        let mut cmd = Command::new(&python);
        scrub_env(&mut cmd);
        let mut child = cmd
            .arg(root.join("scripts/moto_serve.py"))
            .args(["127.0.0.1", "0", "--parent-pid"])
            .arg(std::process::id().to_string())
            .args(mode)
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", python.display()));

        // moto_serve.py prints `READY <url>` once the server answers HTTP.
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
        let Some(endpoint) = line.trim().strip_prefix("READY ").map(str::to_string) else {
            let _ = child.kill();
            let _ = child.wait();
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(30).collect::<Vec<_>>();
            panic!(
                "the moto server did not start within 60 s; log {}:\n{}",
                log.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        };
        // The child is not waited for: it outlives no test process by more than 0.5 s.
        drop(child);
        Emulator { endpoint, aws_bin, log: Some(log) }
    }

    /// Runs the independent client: `aws <args> --endpoint-url <endpoint> --region
    /// <region> --output json` and parses its stdout as JSON (`Value::Null` when stdout
    /// is empty, as for `s3api put-*`). Panics with stderr when it fails.
    pub fn aws(&self, region: &str, args: &[&str]) -> Value {
        self.try_aws(region, args)
            .unwrap_or_else(|stderr| panic!("`aws {}` (region {region}) failed:\n{stderr}", args.join(" ")))
    }

    /// Runs a script of the repo with the test bed's Python (boto3 beside awscli),
    /// pointed at the emulator like [`Emulator::aws`], and parses its stdout as JSON.
    /// Panics with stderr when it fails.
    pub fn python(&self, script: &str, args: &[&str]) -> Value {
        let root = repo_root();
        let mut cmd = Command::new(root.join(".venv/bin/python"));
        scrub_env(&mut cmd);
        let out = cmd
            .arg(root.join(script))
            .args(args)
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {script}: {e}"));
        assert!(out.status.success(), "{script} {} failed:\n{}", args.join(" "), String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{script} printed no JSON ({e})"))
    }

    /// Like [`Emulator::aws`] but returns the client's stderr as the error, for calls
    /// that are expected to fail: `assert!(err.contains("NoSuchBucket"))`.
    pub fn try_aws(&self, region: &str, args: &[&str]) -> Result<Value, String> {
        self.try_aws_as(region, &[], args)
    }

    /// Like [`Emulator::aws`], with other credentials: `env` sets `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` (of another account's session, say).
    pub fn aws_as(&self, region: &str, env: &[(&str, &str)], args: &[&str]) -> Value {
        self.try_aws_as(region, env, args)
            .unwrap_or_else(|stderr| panic!("`aws {}` (region {region}) failed:\n{stderr}", args.join(" ")))
    }

    fn try_aws_as(&self, region: &str, env: &[(&str, &str)], args: &[&str]) -> Result<Value, String> {
        let mut cmd = Command::new(&self.aws_bin);
        scrub_env(&mut cmd);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd
            .args(args)
            .args(["--endpoint-url", &self.endpoint, "--region", region])
            .args(["--output", "json"])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", self.aws_bin.display()));
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(format!(
                "{}{}",
                String::from_utf8_lossy(&out.stderr),
                if stdout.trim().is_empty() { String::new() } else { format!("\nstdout: {stdout}") }
            ));
        }
        if stdout.trim().is_empty() {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("`aws {}` printed no JSON ({e}):\n{stdout}", args.join(" "))))
    }

    /// POSTs `body` to one of the test bed's control endpoints (`/__testbed/quota`, see
    /// scripts/moto_serve.py) and returns its JSON answer; panics unless it is a 2xx.
    pub fn control(&self, path: &str, body: &Value) -> Value {
        let (status, answer) = http(&self.endpoint, "POST", path, Some(&body.to_string()));
        assert!(status.starts_with('2'), "POST {path}: {status} {answer}");
        serde_json::from_str(&answer).unwrap_or(Value::Null)
    }

    /// The server's log file, when this process started the server.
    pub fn log(&self) -> Option<&Path> {
        self.log.as_deref()
    }
}

/// One run of the real binary, built fluently and started by [`Cli::run`].
///
/// Environment: the emulator's `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID` and
/// `AWS_SECRET_ACCESS_KEY` = `testing`, `NO_COLOR=1`, no region (set `AWS_REGION`
/// with [`Cli::env`] or use the stack's), no profile, no shared AWS config, and none of
/// `CI`, `RUST_LOG`, `BUMARKET*` inherited. Stdin is empty (not a terminal); the
/// working directory is the repo root unless [`Cli::current_dir`] says otherwise.
pub struct Cli {
    cmd: Command,
    stdin: String,
    shown: String,
    closed_stdout: Option<std::io::PipeWriter>,
}

impl Cli {
    /// A run of `bumarket-infra` against `emu`, with no arguments yet.
    pub fn new(emu: &Emulator) -> Cli {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bumarket-infra"));
        scrub_env(&mut cmd);
        // Every run checks the calls it made against what `permissions` grants.
        cmd.env("AWS_ENDPOINT_URL", &emu.endpoint).env("NO_COLOR", "1").env("BUMARKET_INFRA_CHECK_CALLS", "1");
        Cli { cmd, stdin: String::new(), shown: "bumarket-infra".to_string(), closed_stdout: None }
    }

    /// Appends arguments (paths work too: anything `AsRef<OsStr>`).
    pub fn args<I, S>(mut self, args: I) -> Cli
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for arg in args {
            let arg = arg.as_ref();
            self.shown.push(' ');
            self.shown.push_str(&arg.to_string_lossy());
            self.cmd.arg(arg);
        }
        self
    }

    /// Sets an environment variable for this run (e.g. `AWS_REGION`, `CI`, `RUST_LOG`).
    pub fn env(mut self, key: &str, value: &str) -> Cli {
        self.cmd.env(key, value);
        self
    }

    /// Removes an environment variable the harness sets (`NO_COLOR`).
    pub fn env_remove(mut self, key: &str) -> Cli {
        self.cmd.env_remove(key);
        self
    }

    /// Gives the binary a stdout whose reader is already gone, as `plan | head` does
    /// once `head` has exited: every write to it fails with a broken pipe.
    pub fn stdout_closed(mut self) -> Cli {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        self.closed_stdout = Some(writer);
        self.shown.push_str(" | (closed)");
        self
    }

    /// Starts the binary on a terminal (through `script`, as [`Cli::on_terminal`]) and
    /// hands back the session, to read what it shows and type into it while it runs.
    pub fn start_on_terminal(self) -> Session {
        let mut cli = self.on_terminal();
        let mut child = cli
            .cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start `{}`: {e}", cli.shown));
        let (tx, rx) = mpsc::channel();
        let mut stdout = child.stdout.take().expect("piped stdout");
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let stderr = reader(child.stderr.take().expect("piped stderr"));
        Session { child, seen: String::new(), output: rx, stderr: Some(stderr), shown: std::mem::take(&mut cli.shown) }
    }

    /// Feeds `text` on stdin (default: empty stdin).
    pub fn stdin(mut self, text: &str) -> Cli {
        self.stdin = text.to_string();
        self
    }

    /// Runs on a terminal: through `script` (util-linux), which gives the binary a
    /// pseudo-terminal and types stdin into it. Its stdout and stderr then both arrive
    /// in `Run::stdout`, as on a screen.
    pub fn on_terminal(self) -> Cli {
        self.terminal(None)
    }

    /// Runs on a terminal as [`Cli::on_terminal`] does, but with stdout going to the
    /// file `path` (stderr stays the terminal), as `bumarket-infra plan > plan.txt` does.
    pub fn on_terminal_stdout_to(self, path: &Path) -> Cli {
        self.terminal(Some(path))
    }

    fn terminal(mut self, stdout_to: Option<&Path>) -> Cli {
        let quote = |s: &OsStr| format!("'{}'", s.to_string_lossy().replace('\'', r"'\''"));
        let mut line: Vec<String> =
            std::iter::once(self.cmd.get_program()).chain(self.cmd.get_args()).map(quote).collect();
        if let Some(path) = stdout_to {
            line.push(format!("> {}", quote(path.as_os_str())));
        }
        // `script -c` runs the line through `$SHELL -c`; dash (often `/bin/sh`) then stays
        // the binary's parent in the terminal's process group, so Ctrl-C would kill it and
        // `script` would report 130 whatever the binary did. `exec` puts the binary there alone.
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &format!("exec {}", line.join(" ")), "/dev/null"]);
        for (key, value) in self.cmd.get_envs() {
            match value {
                Some(v) => cmd.env(key, v),
                None => cmd.env_remove(key),
            };
        }
        if let Some(dir) = self.cmd.get_current_dir() {
            cmd.current_dir(dir);
        }
        self.cmd = cmd;
        self.shown = format!("(on a terminal) {}", self.shown);
        self
    }

    /// Runs in `dir` instead of the repo root.
    pub fn current_dir(mut self, dir: &Path) -> Cli {
        self.cmd.current_dir(dir);
        self
    }

    /// Runs the binary to the end and captures its output. Panics if it cannot start,
    /// dies by a signal, or runs longer than 5 minutes (it is killed then).
    pub fn run(self) -> Run {
        self.run_to_end(false)
    }

    /// Like [`Cli::run`], but a death by a signal (`kill -9` from the fault proxy) is a
    /// result, with `code` -1, not a failure.
    pub fn run_or_killed(self) -> Run {
        self.run_to_end(true)
    }

    fn run_to_end(mut self, killed_is_fine: bool) -> Run {
        let stdout = match self.closed_stdout.take() {
            Some(w) => Stdio::from(w),
            None => Stdio::piped(),
        };
        let mut child = self
            .cmd
            .stdin(Stdio::piped())
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start `{}`: {e}", self.shown));
        let mut stdin = child.stdin.take().expect("piped stdin");
        let text = std::mem::take(&mut self.stdin);
        let feeder = thread::spawn(move || {
            let _ = stdin.write_all(text.as_bytes()); // the binary may not read it all
        });
        let stdout = match child.stdout.take() {
            Some(out) => reader(out),
            None => thread::spawn(String::new),
        };
        let stderr = reader(child.stderr.take().expect("piped stderr"));

        let deadline = Instant::now() + RUN_GUARD;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for bumarket-infra") {
                break Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            thread::sleep(Duration::from_millis(5));
        };
        let _ = feeder.join();
        let run = Run {
            code: status.and_then(|s| s.code()).unwrap_or(-1),
            stdout: stdout.join().expect("stdout reader"),
            stderr: stderr.join().expect("stderr reader"),
            shown: self.shown,
        };
        match status {
            None => run.fail(&format!("was killed after {} s", RUN_GUARD.as_secs())),
            Some(s) if s.code().is_none() && !killed_is_fine => run.fail(&format!("died: {s}")),
            Some(_) => run,
        }
    }
}

/// One HTTP/1.0 exchange with a test-bed server at `endpoint` (`http://host:port`):
/// its status code and body.
fn http(endpoint: &str, method: &str, path: &str, json: Option<&str>) -> (String, String) {
    let addr = endpoint.trim_start_matches("http://");
    let mut conn = std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {endpoint}: {e}"));
    let body = json.unwrap_or("");
    let kind = if json.is_some() { "Content-Type: application/json\r\n" } else { "" };
    let request =
        format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n{kind}Content-Length: {}\r\n\r\n{body}", body.len());
    conn.write_all(request.as_bytes()).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap_or_else(|e| panic!("{method} {path}: read the answer: {e}"));
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (head.split_whitespace().nth(1).unwrap_or_default().to_string(), body.to_string())
}

fn reader(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// A run of the binary on a terminal, while it runs: what it showed so far, and keys
/// to type. Dropping it kills the run.
pub struct Session {
    child: std::process::Child,
    seen: String,
    output: mpsc::Receiver<Vec<u8>>,
    stderr: Option<thread::JoinHandle<String>>,
    shown: String,
}

impl Session {
    /// Waits up to `timeout` until the terminal shows `text`; panics with what it showed.
    #[track_caller]
    pub fn wait_for(&mut self, text: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.seen.contains(text) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(bytes) => self.seen.push_str(&String::from_utf8_lossy(&bytes)),
                Err(_) => panic!("`{}` showed no {text:?} within {timeout:?}; it showed:\n{}", self.shown, self.seen),
            }
        }
    }

    /// Types `keys` on the terminal (`"\x03"` is Ctrl-C).
    pub fn type_keys(&mut self, keys: &str) {
        let stdin = self.child.stdin.as_mut().expect("piped stdin");
        stdin.write_all(keys.as_bytes()).expect("type on the terminal");
        stdin.flush().expect("type on the terminal");
    }

    /// Waits up to `timeout` for the run to end; panics if it does not.
    #[track_caller]
    pub fn finish(mut self, timeout: Duration) -> Run {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for bumarket-infra") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("`{}` did not end within {timeout:?}; it showed:\n{}", self.shown, self.seen);
            }
            thread::sleep(Duration::from_millis(10));
        };
        while let Ok(bytes) = self.output.recv_timeout(Duration::from_secs(2)) {
            self.seen.push_str(&String::from_utf8_lossy(&bytes));
        }
        let stderr = self.stderr.take().map(|h| h.join().expect("stderr reader")).unwrap_or_default();
        Run {
            code: status.code().unwrap_or(-1),
            stdout: std::mem::take(&mut self.seen),
            stderr,
            shown: self.shown.clone(),
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one run of the binary did.
pub struct Run {
    /// Exit code (-1 never reaches a test: a run killed by a signal panics).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    shown: String,
}

impl Run {
    /// Panics, showing the command, stdout and stderr, unless the exit code is 0.
    #[track_caller]
    pub fn success(self) -> Run {
        self.code_is(0)
    }

    /// Panics, showing the command, stdout and stderr, unless the exit code is `code`.
    #[track_caller]
    pub fn code_is(self, code: i32) -> Run {
        if self.code != code {
            let why = format!("exited with {}, expected {code}", self.code);
            self.fail(&why);
        }
        self
    }

    #[track_caller]
    fn fail(&self, why: &str) -> ! {
        panic!("`{}` {why}\n--- stdout ---\n{}\n--- stderr ---\n{}", self.shown, self.stdout, self.stderr)
    }
}

/// A stack file copied into a fresh temp dir under a unique stack name.
pub struct TempStack {
    /// The temp dir (deleted on drop: keep the `TempStack` alive during the test).
    pub dir: tempfile::TempDir,
    /// The copied stack file (same file name as the original).
    pub path: PathBuf,
    /// The new stack name: `<original name>-<unique_suffix>`.
    pub name: String,
}

/// Copies the stack file `repo_relative` (an absolute path works too) into a temp dir,
/// renaming the stack in its top-level `stack: <name>` line to
/// `<name>-<unique_suffix>`, so tests can share one emulator in parallel without
/// resetting it. The files beside it are copied too (user data scripts). Panics if the
/// file has no such line.
pub fn stack_copy(repo_relative: &str, unique_suffix: &str) -> TempStack {
    let src = repo_root().join(repo_relative);
    let text = std::fs::read_to_string(&src).unwrap_or_else(|e| panic!("read {}: {e}", src.display()));
    let mut name = None;
    let mut out = String::with_capacity(text.len() + unique_suffix.len() + 1);
    for line in text.split_inclusive('\n') {
        if name.is_none() {
            if let Some(rest) = line.strip_prefix("stack:") {
                // `stack: shop  # comment`, `stack: "shop"`, `stack: 'shop'`
                let value = rest.split(" #").next().unwrap_or("").trim();
                let value = value.trim_matches(|c| c == '"' || c == '\'');
                assert!(!value.is_empty(), "{}: empty `stack:` line", src.display());
                let new = format!("{value}-{unique_suffix}");
                out.push_str("stack: ");
                out.push_str(&new);
                out.push('\n');
                name = Some(new);
                continue;
            }
        }
        out.push_str(line);
    }
    let name = name.unwrap_or_else(|| panic!("{}: no top-level `stack:` line", src.display()));
    let dir = tempfile::Builder::new().prefix("bumarket-stack-").tempdir().expect("create temp dir");
    // Files beside the stack (user data scripts) are referenced relative to it.
    let home = src.parent().expect("stack file's folder");
    for entry in std::fs::read_dir(home).unwrap_or_else(|e| panic!("read {}: {e}", home.display())) {
        let entry = entry.expect("folder entry");
        if entry.file_type().is_ok_and(|t| t.is_file()) && entry.path() != src {
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copy a file beside the stack");
        }
    }
    let path = dir.path().join(src.file_name().expect("stack file name"));
    std::fs::write(&path, out).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    TempStack { dir, path, name }
}

/// The test bed's fault-injecting proxy (`scripts/fault_proxy.py`) in front of the
/// emulator: throttling, 5xx, dropped connections, lost answers, denied calls, latency,
/// a kill of the client after its k-th call, slow in-progress states. One per test: it
/// exits when the test process ends, or when dropped.
pub struct Proxy {
    /// The URL to give the binary as its endpoint.
    pub endpoint: String,
    child: std::process::Child,
}

impl Proxy {
    /// Starts `fault_proxy.py <emulator> <args>` (see its `--help` for the options).
    pub fn start(emu: &Emulator, args: &[&str]) -> Proxy {
        let root = repo_root();
        let mut cmd = Command::new(root.join(".venv/bin/python"));
        scrub_env(&mut cmd);
        let mut child = cmd
            .arg(root.join("scripts/fault_proxy.py"))
            .arg(&emu.endpoint)
            .args(["--quiet", "--parent-pid", &std::process::id().to_string()])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start scripts/fault_proxy.py");
        let mut line = String::new();
        let _ = BufReader::new(child.stdout.take().expect("piped stdout")).read_line(&mut line);
        let Some(endpoint) = line.trim().strip_prefix("READY ").map(str::to_string) else {
            let _ = child.kill();
            panic!("scripts/fault_proxy.py {args:?} did not start: {line:?}");
        };
        Proxy { endpoint, child }
    }

    /// A run of the binary on `stack` (`-f`), through this proxy.
    pub fn cli(&self, emu: &Emulator, stack: &TempStack) -> Cli {
        Cli::new(emu).env("AWS_ENDPOINT_URL", &self.endpoint).args([Path::new("-f"), &stack.path])
    }

    /// The proxy's counters: `requests`, `forwarded`, `faults` (by kind), `operations`
    /// (`service:Operation` in arrival order), `rewrites`, `killed` (pid or null).
    pub fn stats(&self) -> Value {
        let (_, body) = http(&self.endpoint, "GET", "/__proxy/stats", None);
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("proxy stats are not JSON ({e}): {body}"))
    }

    /// How many faults of `kind` (`throttle`, `server-error`, `reset-before`,
    /// `reset-after`, `deny`) were injected.
    pub fn faults(&self, kind: &str) -> u64 {
        self.stats()["faults"][kind].as_u64().unwrap_or(0)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
