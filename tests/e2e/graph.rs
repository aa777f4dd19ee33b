//! `bumarket-infra graph`: the picture of the stack. The seed stack's DOT is rendered by
//! Graphviz (`dot`, Debian's package) to SVG, whose nodes and edges are what a reader
//! sees; a saved plan's deletion is marked on the picture, and the markdown plan carries
//! the same picture as Mermaid.

use crate::support::{repo_root, stack_copy, Cli, Emulator, TempStack};
use std::io::Write;
use std::process::{Command, Stdio};

/// Graphviz's SVG of a DOT text.
fn svg(dot: &str) -> String {
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("Graphviz's `dot` (scripts/test installs it)");
    child.stdin.take().unwrap().write_all(dot.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "dot refused the graph: {}\n{dot}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The node and edge titles Graphviz writes into its SVG (`<title>a&#45;&gt;b</title>`).
fn titles(svg: &str) -> Vec<String> {
    svg.split("<title>")
        .skip(1)
        .filter_map(|t| t.split_once("</title>").map(|(t, _)| t.replace("&#45;", "-").replace("&gt;", ">")))
        .collect()
}

#[test]
fn graphviz_draws_the_seed_stacks_request_path_buckets_alarms_and_roles() {
    let seed = repo_root().join("stacks/bumarket.yaml");
    let run = Cli::new(Emulator::shared()).args(["-f", seed.to_str().unwrap(), "--env", "prod", "graph"]).run();
    let svg = svg(&run.success().stdout);
    let titles = titles(&svg);
    let has = |t: &str| assert!(titles.iter().any(|x| x == t), "no `{t}` among {titles:?}");
    for node in [
        "internet",
        "load_balancer_main",
        "autoscaling_group_app",
        "database_main",
        "bucket_images",
        "bucket_logs",
        "alarm_fleet_cpu",
        "topic_alerts",
        "role_app",
        "group_viewers",
    ] {
        has(node);
    }
    for edge in [
        "internet->load_balancer_main",
        "load_balancer_main->autoscaling_group_app",
        "autoscaling_group_app->database_main",
        "autoscaling_group_app->role_app",
        "role_app->bucket_images",
        "alarm_fleet_cpu->topic_alerts",
        "topic_alerts->email",
    ] {
        has(edge);
    }
    // What the reader is told on the picture: the seed's numbers.
    assert!(svg.contains("t2.micro × 1..4"), "{svg}");
    assert!(svg.contains("HTTP :8000"), "{svg}");
}

fn cli(stack: &TempStack) -> Cli {
    Cli::new(Emulator::shared()).args(["-f", stack.path.to_str().unwrap()])
}

#[test]
fn a_saved_plans_deletion_is_marked_on_the_picture_and_in_the_markdown_plan() {
    let stack = stack_copy("examples/minimal.yaml", "graph");
    cli(&stack).args(["apply", "--auto-approve"]).run().success();
    let before = cli(&stack).args(["graph", "--format", "mermaid"]).run().success().stdout;
    assert!(before.contains("bucket_images[\"bucket images"), "{before}");
    assert!(!before.contains("classDef"), "nothing changes yet:\n{before}");

    let text = std::fs::read_to_string(&stack.path).unwrap();
    let kept: Vec<&str> = text.lines().filter(|l| !l.contains("images")).collect();
    std::fs::write(&stack.path, kept.join("\n")).unwrap();
    let saved = stack.path.with_extension("plan");
    cli(&stack).args(["plan", "--out", saved.to_str().unwrap()]).run().success();

    let dot = cli(&stack).args(["graph", "--plan", saved.to_str().unwrap()]).run().success().stdout;
    let svg = svg(&dot);
    assert!(titles(&svg).iter().any(|t| t == "bucket_images"), "the bucket to delete is drawn:\n{svg}");
    assert!(svg.contains("(deleted)") && svg.contains("#b91c1c"), "{svg}");

    let md = cli(&stack).args(["plan", "--format", "markdown"]).run().success().stdout;
    // The bucket; the role and group that lose their grant on it; the log bucket, whose
    // policy no longer lets the bucket's server access logs in.
    assert!(md.contains("<summary>Picture of the stack, 4 marked as changed</summary>"), "{md}");
    assert!(md.contains("```mermaid\nflowchart LR\n") && md.contains("  class bucket_images deleted\n"), "{md}");

    // A plan of another stack is refused, not drawn over this one.
    let other = stack_copy("examples/minimal.yaml", "graph-other");
    let run = cli(&other).args(["graph", "--plan", saved.to_str().unwrap()]).run().code_is(1);
    assert!(run.stderr.contains("the saved plan is of the stack"), "{}", run.stderr);
}
