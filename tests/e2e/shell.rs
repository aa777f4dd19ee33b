//! Shell completions and the manual page, generated from the command line's definition:
//! what a packager installs. No emulator: neither reads a stack file nor calls AWS.

use std::process::{Command, Stdio};

fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_bumarket-infra"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run bumarket-infra {args:?}: {e}"));
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn bash_completes_commands_and_their_options_once_sourced() {
    let script = run(&["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bumarket-infra.bash");
    std::fs::write(&file, &script).unwrap();
    // What bash offers after `bumarket-infra pl<TAB>` and `bumarket-infra plan --fa<TAB>`.
    let complete = |line: &str| {
        let words: Vec<&str> = line.split(' ').collect();
        let probe = format!(
            "source '{}'; COMP_WORDS=({}); COMP_CWORD={}; COMP_LINE='{line}'; COMP_POINT={}; f=$(complete -p bumarket-infra | sed -E 's/.*-F ([^ ]+).*/\\1/'); \"$f\" bumarket-infra \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            file.display(),
            words.iter().map(|w| format!("'{w}'")).collect::<Vec<_>>().join(" "),
            words.len() - 1,
            line.len()
        );
        let out = Command::new("bash").args(["--norc", "-c", &probe]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let commands = complete("bumarket-infra pl");
    assert_eq!(commands.trim(), "plan", "{commands}");
    let options = complete("bumarket-infra plan --fa");
    assert_eq!(options.trim(), "--fail-on", "{options}");
}

#[test]
fn zsh_and_fish_completions_and_the_manual_page_name_every_command() {
    let zsh = run(&["completions", "zsh"]);
    assert!(zsh.starts_with("#compdef bumarket-infra"), "{zsh}");
    let fish = run(&["completions", "fish"]);
    let man = run(&["man"]);
    assert!(man.contains(".TH bumarket-infra"), "{man}");
    for command in ["validate", "plan", "apply", "destroy", "release", "import", "permissions", "output", "completions"]
    {
        assert!(zsh.contains(&format!("'{command}:")), "zsh: no {command}");
        assert!(fish.contains(&format!("-a \"{command}\"")), "fish: no {command}");
        assert!(man.contains(&format!(".SH \"BUMARKET-INFRA {}\"", command.to_uppercase())), "man: no {command}");
    }
    assert!(man.contains("fail\\-on"), "{man}");
}
