// The graphql-http package's server audits (GraphQL over HTTP conformance) against a running
// LearnGraph: one JSON line per audit. Run by tests/it/http_audit.rs with LG_NODE_MODULES
// pointing at the packages scripts/test installed.
//
//   node tests/node/http_audit.cjs http://127.0.0.1:PORT/graphql
const load = require("./modules.cjs");
const { auditServer } = load("graphql-http");

(async () => {
  const results = await auditServer({ url: process.argv[2] });
  for (const r of results) {
    let body = null;
    if (r.status !== "ok" && r.response) {
      try {
        body = (await r.response.text()).slice(0, 300);
      } catch {
        body = null;
      }
    }
    console.log(JSON.stringify({
      id: r.id,
      name: r.name,
      status: r.status,
      reason: r.reason ?? null,
      httpStatus: r.response ? r.response.status : null,
      body,
    }));
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
