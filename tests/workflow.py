"""Runs the jobs of the example GitHub Actions workflow (examples/github/infrastructure.yml)
against the emulator, step by step in the order GitHub would, with `bash -eo pipefail`
as GitHub's runners do: the `run:` steps as written, the `uses:` steps stood in for (the
checkout is the test's stack file, the credentials are the emulator's, and the install
is the binary under test, first on PATH), and `gh` a stand-in that keeps the pull
request's comments in a JSON file, so a test can count them.

    python tests/workflow.py BINARY STACK STORE JOB [PR]

JOB is `plan` (a pull request's push) or `apply` (a merge). Prints one JSON object:
{"steps": [{"name", "code", "stdout", "stderr"}...], "failed": name or null,
 "comments": [...]}. The run stops at the first failing step, as a job does.
"""

import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKFLOW = os.path.join(ROOT, "examples", "github", "infrastructure.yml")

# A stand-in for the GitHub CLI's `gh api`: the calls the workflow makes on a pull
# request's comments, kept in $FAKE_GH_STORE.
FAKE_GH = r'''#!/usr/bin/env python3
import json, os, re, sys
store = os.environ["FAKE_GH_STORE"]
comments = json.load(open(store)) if os.path.exists(store) else []
args = sys.argv[1:]
assert args[0] == "api", args
method, path, body, jq = "GET", None, None, None
i = 1
while i < len(args):
    a = args[i]
    if a == "-X": method = args[i + 1]; i += 2; continue
    if a == "-F":
        key, value = args[i + 1].split("=", 1)
        assert key == "body", key
        body = open(value[1:]).read() if value.startswith("@") else value
        i += 2; continue
    if a == "--jq": jq = args[i + 1]; i += 2; continue
    if a == "--paginate": i += 1; continue
    path = a; i += 1
if method == "GET" and re.fullmatch(r"repos/[^/]+/[^/]+/issues/\d+/comments", path):
    prefix = re.search(r'startswith\("(.*)"\)', jq).group(1)
    for c in comments:
        if c["body"].startswith(prefix):
            print(c["id"])
elif method == "POST":
    comments.append({"id": len(comments) + 1, "body": body, "edits": 0})
elif method == "PATCH":
    cid = int(path.rsplit("/", 1)[1])
    for c in comments:
        if c["id"] == cid:
            c["body"] = body
            c["edits"] += 1
else:
    sys.exit(f"gh stand-in: unexpected {method} {path}")
json.dump(comments, open(store, "w"))
'''


def expand(text, context):
    """`${{ a.b.c }}` of the contexts the workflow uses, as GitHub would fill them in."""

    def one(m):
        value = context
        for part in m.group(1).strip().split("."):
            value = value[part]
        return str(value)

    return re.sub(r"\$\{\{(.*?)\}\}", one, text)


def main():
    binary, stack, store, job_name = sys.argv[1:5]
    pr = sys.argv[5] if len(sys.argv) > 5 else "1"
    workflow = yaml.safe_load(open(WORKFLOW))
    job = workflow["jobs"][job_name]
    work = tempfile.mkdtemp(prefix="workflow-")
    bin_dir = os.path.join(work, "bin")
    os.makedirs(bin_dir)
    os.symlink(binary, os.path.join(bin_dir, "bumarket-infra"))
    gh = os.path.join(bin_dir, "gh")
    with open(gh, "w") as f:
        f.write(FAKE_GH)
    os.chmod(gh, 0o755)
    output, summary = os.path.join(work, "output"), os.path.join(work, "summary")
    env = dict(os.environ)
    env.update({k: str(v) for k, v in workflow.get("env", {}).items()})
    env.update(
        {
            # The checkout: the test's stack file, in a work tree of its own.
            "STACK": stack,
            "PATH": bin_dir + os.pathsep + env["PATH"],
            "GITHUB_REPOSITORY": "bumarket/shop",
            "GITHUB_OUTPUT": output,
            "GITHUB_STEP_SUMMARY": summary,
            "FAKE_GH_STORE": store,
            "BUMARKET_INFRA_CHECK_CALLS": "1",
            "NO_COLOR": "1",
        }
    )
    context = {
        "github": {"token": "t", "event": {"pull_request": {"number": pr}}},
        "env": env,
        "steps": {},
        "secrets": {"PLAN_ROLE_ARN": "arn:aws:iam::123456789012:role/plan"},
    }
    report = {"steps": [], "failed": None}
    for step in job["steps"]:
        if "uses" in step or step.get("name", "").startswith("Install"):
            continue  # stood in for: checkout, credentials, the binary under test
        open(output, "w").close()
        step_env = dict(env)
        step_env.update({k: expand(str(v), context) for k, v in step.get("env", {}).items()})
        script = expand(step["run"], context)
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            cwd=work,
            env=step_env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        outputs = dict(line.split("=", 1) for line in open(output).read().splitlines() if "=" in line)
        if "id" in step:
            context["steps"][step["id"]] = {"outputs": outputs}
        report["steps"].append(
            {"name": step["name"], "code": done.returncode, "stdout": done.stdout, "stderr": done.stderr}
        )
        if done.returncode != 0:
            report["failed"] = step["name"]
            break
    report["comments"] = json.load(open(store)) if os.path.exists(store) else []
    report["workdir"] = work
    print(json.dumps(report))


if __name__ == "__main__":
    main()
