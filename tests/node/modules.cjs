// The npm packages scripts/test installs (LG_NODE_MODULES), for the node scripts the Rust
// tests run: \`const load = require("./modules.cjs"); load("graphql")\`.
const path = require("node:path");
const { createRequire } = require("node:module");

const modules = process.env.LG_NODE_MODULES;
if (!modules) {
  console.error("LG_NODE_MODULES is not set: run the tests with scripts/test");
  process.exit(2);
}
module.exports = createRequire(path.join(modules, "index.js"));
