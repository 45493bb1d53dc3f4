// Decodes an ftv1 trace (base64 on stdin) with Apollo's own protobuf package, as a router
// does, and prints the Trace as JSON. Run by tests/it/federation.rs.
const load = require("./modules.cjs");
const { Trace } = load("@apollo/usage-reporting-protobuf");

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const trace = Trace.decode(Buffer.from(input.trim(), "base64"));
  const invalid = Trace.verify(trace);
  if (invalid) {
    console.error(`not a valid Trace: ${invalid}`);
    process.exit(1);
  }
  process.stdout.write(JSON.stringify(Trace.toObject(trace, { longs: Number, oneofs: true })));
});
