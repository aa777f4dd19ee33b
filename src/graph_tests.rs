use super::Picture;
use crate::aws::{Aws, Options};
use crate::resources::Cx;
use bumarket_core::engine::{Addr, Desired, Kind};
use bumarket_core::plan::{Action, Plan, ResourceChange};
use std::path::Path;

/// The seed stack's production environment and its resources, offline.
async fn seed() -> (bumarket_stack::Stack, Vec<Desired>) {
    let file = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/stacks/bumarket.yaml"));
    let stack = bumarket_stack::load_env(file, Some("prod")).unwrap();
    let opts = Options { region: stack.region.clone(), ..Default::default() };
    let cx = Cx::new(Aws::connect(&opts).await, stack.clone(), "*".into(), None);
    let desired = crate::resources::desired(&cx);
    (stack, desired)
}

fn change(addr: &Addr, action: Action, desired: &[Desired]) -> ResourceChange {
    ResourceChange {
        addr: addr.clone(),
        action,
        reason: None,
        name: addr.name().to_string(),
        changes: vec![],
        desired: desired.iter().find(|d| &d.addr == addr).cloned(),
        observed: None,
        notes: vec![],
    }
}

fn plan_of(changes: Vec<ResourceChange>) -> Plan {
    Plan {
        format_version: 1,
        tool_version: "test".into(),
        stack: "bumarket-prod".into(),
        region: "ap-northeast-2".into(),
        resources: changes,
        not_managed: vec![],
        notices: vec![],
        uses: vec![],
    }
}

#[tokio::test]
async fn the_seed_reads_as_its_request_path_storage_alarms_and_access() {
    let (stack, desired) = seed().await;
    let dot = Picture::new(&stack, &desired, None).dot();
    // The request path, with what each hop speaks.
    for edge in [
        "internet -> load_balancer_main [label=\"HTTP :80\"]",
        "load_balancer_main -> autoscaling_group_app [label=\"HTTP :8000\"]",
        "autoscaling_group_app -> database_main [label=\"oracle-ee :1521\"]",
        "load_balancer_main -> bucket_logs [label=\"access logs\"]",
        "autoscaling_group_app -> role_app [label=\"runs as\", style=dashed]",
        "topic_alerts -> email [label=\"e-mail\"]",
    ] {
        assert!(dot.contains(edge), "no `{edge}` in\n{dot}");
    }
    // The seed's numbers on the nodes a reviewer looks at.
    assert!(dot.contains("t2.micro × 1..4 (scales out at 60 % CPU)"), "{dot}");
    assert!(dot.contains("backups kept 7 days"), "{dot}");
    // Plumbing is folded into what it serves: no subnet, route table, listener or template.
    for hidden in ["subnet_", "route_table_", "listener_", "launch_template_", "security_group_", "scaling_policy_"] {
        assert!(!dot.contains(hidden), "`{hidden}` drawn in\n{dot}");
    }
    // Every alarm is on the picture, pointing at the topic.
    for d in desired.iter().filter(|d| d.addr.kind() == Kind::Alarm) {
        let line = format!("{} -> topic_alerts [label=\"alarm\"]", super::node_id(&d.addr));
        assert!(dot.contains(&line), "no `{line}` in\n{dot}");
    }
    // Without a plan, nothing is marked.
    assert!(!dot.contains("penwidth"), "{dot}");
}

#[tokio::test]
async fn a_plan_marks_what_it_changes_on_the_node_it_is_drawn_as() {
    let (stack, desired) = seed().await;
    let template = desired.iter().find(|d| d.addr.kind() == Kind::LaunchTemplate).unwrap().addr.clone();
    let gone = Addr::new(Kind::Bucket, "old-uploads");
    let plan = plan_of(vec![
        change(&template, Action::Update, &desired),
        change(&Addr::new(Kind::Database, "main"), Action::Replace, &desired),
        change(&gone, Action::Delete, &desired),
        change(&Addr::new(Kind::Bucket, "logs"), Action::NoOp, &desired),
    ]);
    let picture = Picture::new(&stack, &desired, Some(&plan));
    assert_eq!(picture.marked(), 3);
    let dot = picture.dot();
    let node = |id: &str| {
        let line = dot
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{id} [")))
            .unwrap_or_else(|| panic!("no node {id} in\n{dot}"));
        line.to_string()
    };
    // The template is the fleet's: the fleet is marked updated.
    assert!(node("autoscaling_group_app").contains("(updated)"), "{dot}");
    assert!(node("database_main").contains("-/+ database") && node("database_main").contains("#b91c1c"), "{dot}");
    // What the plan deletes is no longer in the file, and is drawn to show it go.
    assert!(node("bucket_old_uploads").contains("(deleted)"), "{dot}");
    assert!(!node("bucket_logs").contains("penwidth"), "{dot}");

    let mermaid = picture.mermaid();
    assert!(mermaid.starts_with("flowchart LR\n"), "{mermaid}");
    assert!(mermaid.contains("  class database_main replaced\n"), "{mermaid}");
    assert!(mermaid.contains("  class bucket_old_uploads deleted\n"), "{mermaid}");
    assert!(mermaid.contains("  class autoscaling_group_app updated\n"), "{mermaid}");
    assert!(mermaid.contains("load_balancer_main -->|\"HTTP :8000\"| autoscaling_group_app"), "{mermaid}");
}

#[test]
fn labels_are_quoted_for_both_languages() {
    assert_eq!(super::quote("a \"b\"\nc\\"), r#""a \"b\"\nc\\""#);
    assert_eq!(super::mermaid_text("<b> \"x\" #1"), "#60;b#62; #quot;x#quot; #35;1");
}

#[tokio::test]
async fn the_readme_shows_the_seed_stacks_picture_as_graph_draws_it_now() {
    let (stack, desired) = seed().await;
    let mermaid = Picture::new(&stack, &desired, None).mermaid();
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(
        readme.contains(&format!("```mermaid\n{mermaid}```\n")),
        "README's picture is stale: paste `bumarket-infra graph --env prod --format mermaid`:\n{mermaid}"
    );
}
