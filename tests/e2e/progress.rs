//! Apply's progress as a person at a terminal sees it: a live line per resource in
//! progress, with how long it has taken and what it waits for, and an `N of M done`
//! line; without a terminal (CI), the plain timestamped lines, one per event. The load
//! balancer is kept provisioning for a few seconds by the fault proxy (`--slow lb=…`),
//! as AWS keeps it for minutes, so its wait shows.

use crate::support::{stack_copy, Emulator, Proxy};

#[test]
fn on_a_terminal_apply_shows_what_is_in_progress_and_how_much_is_done() {
    let stack = stack_copy("tests/stacks/load_balancer.yaml", "live");
    let proxy = Proxy::start(Emulator::shared(), &["--slow", "lb=4"]);
    let run = proxy.cli(Emulator::shared(), &stack).args(["apply", "--auto-approve"]).on_terminal().run().success();
    let screen = run.stdout;
    // What the terminal showed, without the escapes that redraw it.
    let shown = strip_escapes(&screen);
    // The live lines: the load balancer in progress, for seconds, with its wait.
    let waiting = format!("{:28} {:>4}  waiting for the load balancer to be activ", "load_balancer.main", "2s");
    assert!(shown.contains(&waiting), "no `{waiting}` line:\n{shown}");
    // The count of steps, from none to some done.
    assert!(shown.contains("  0 of 14 done, "), "{shown}");
    assert!((1..14).any(|n| shown.contains(&format!("  {n} of 14 done, "))), "{shown}");
    // Each step's end is printed once, as a plain line, and the summary follows.
    assert!(shown.contains("✓ load_balancer.main created"), "{shown}");
    assert!(shown.contains("Apply complete: 14 created"), "{shown}");

    // Without a terminal: timestamped lines, no live ones.
    let again = stack_copy("tests/stacks/load_balancer.yaml", "plain");
    let run = proxy.cli(Emulator::shared(), &again).args(["apply", "--auto-approve"]).run().success();
    assert!(!run.stderr.contains(" done, "), "{}", run.stderr);
    let line = run.stderr.lines().find(|l| l.contains("✓ load_balancer.main")).expect("its line");
    assert!(line.starts_with("20") && line.contains("Z ✓ load_balancer.main"), "{line}");
    for s in [&stack, &again] {
        proxy.cli(Emulator::shared(), s).args(["destroy", "--auto-approve"]).run().success();
    }
}

/// The text of terminal output without its control sequences (`ESC [ … letter`).
fn strip_escapes(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
