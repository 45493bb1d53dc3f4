// GraphiQL in a real browser (Debian's Chromium, driven by playwright-core): loads the page
// the service serves, runs the Discovery example and checks the results render. Fails on any
// console error, page error, CSP violation, failed asset, or request to a host other than the
// service (they are blocked too: the page must work with no route to the internet).
// Run by tests/it/graphiql.rs.
//
//   node tests/node/graphiql.cjs <service origin> <screenshot.png>
//
// Prints one JSON line: { requests, blocked, errors, tabs, variables, result } (result: the
// response pane's text; variables: what the Variables editor shows).
const { chromium } = require("./modules.cjs")("playwright-core");

const [origin, screenshot] = process.argv.slice(2);
const chromiumPath = process.env.LG_CHROMIUM || "/usr/bin/chromium";

(async () => {
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  const report = { requests: [], blocked: [], errors: [], result: "" };
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on("console", (m) => { if (m.type() === "error") report.errors.push(`console: ${m.text()}`); });
    page.on("pageerror", (e) => report.errors.push(`page: ${e.message}`));
    page.on("requestfailed", (r) => {
      if (!report.blocked.includes(r.url())) report.errors.push(`failed: ${r.url()} ${r.failure()?.errorText}`);
    });
    // nothing leaves the service's origin (data: URLs are the page's own inline images)
    await page.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith(origin + "/") || url.startsWith("data:")) {
        report.requests.push(url.slice(origin.length));
        return route.continue();
      }
      report.blocked.push(url);
      return route.abort();
    });
    const response = await page.goto(origin + "/graphql", { waitUntil: "networkidle" });
    report.status = response.status();
    report.csp = response.headers()["content-security-policy"] || "";
    await page.waitForSelector(".graphiql-container", { timeout: 30000 });
    // the first tab is Discovery: run it
    const tabs = await page.locator(".graphiql-tab").allInnerTexts();
    report.tabs = tabs.map((t) => t.trim()).filter(Boolean);
    // the visible editor below the query: Variables, with the Discovery example's variables
    report.variables = await page.evaluate(() => {
      const editor = document.querySelector(".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror");
      return editor && editor.CodeMirror ? editor.CodeMirror.getValue() : null;
    });
    await page.locator(".graphiql-execute-button").click();
    await page.waitForFunction(
      () => (document.querySelector(".result-window")?.innerText || "").includes('"totalCount"'),
      null,
      { timeout: 30000 },
    );
    report.result = await page.locator(".result-window").innerText();
    await page.screenshot({ path: screenshot, fullPage: false });
  } catch (e) {
    report.errors.push(`test: ${e.message}`);
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(report));
})();
