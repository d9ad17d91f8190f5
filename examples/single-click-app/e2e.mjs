// Opens the app's load URL in headless Chromium, as the control panel would, and
// reports what the merchant sees, one JSON line per step on stdout. Between steps it
// reads commands, one JSON line each, on stdin, so that the test can change things
// behind the page's back (a webhook from BigCommerce) while the page stays open.
//
// Usage: node e2e.mjs <load url> <search term>
//
// Steps (stdout)                         Commands (stdin)
//   {"event":"listed", ...}                {"cmd":"edit","product":NAME,"name":NAME,"price":TEXT,"screenshot":PATH?}
//   {"event":"edited", ...}                {"cmd":"watch","expect":NAME}
//   {"event":"watching"}
//   {"event":"seen", ...}                  {"cmd":"hold","product":NAME,"name":NAME}
//   {"event":"holding"}
//   {"event":"refused", ...}               {"cmd":"finish","screenshot":PATH}
//   {"event":"done", ...}
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const [url, term] = process.argv.slice(2);
const TIMEOUT = 20000;

const lines = createInterface({ input: process.stdin });
const commands = lines[Symbol.asyncIterator]();
async function command(cmd) {
  const { value, done } = await commands.next();
  if (done) throw new Error(`stdin closed while waiting for "${cmd}"`);
  const parsed = JSON.parse(value);
  if (parsed.cmd !== cmd) throw new Error(`expected the command "${cmd}", got ${value}`);
  return parsed;
}
const report = (event, fields = {}) => console.log(JSON.stringify({ event, ...fields }));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  // What the page logs as errors (a failed request, a failed operation), reported as is.
  const consoleErrors = [];
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
  // Every document the tab loads: the load URL's redirect and the app, then nothing more.
  const documents = [];
  page.on("framenavigated", (frame) => frame === page.mainFrame() && documents.push(frame.url()));
  // Every product name the table ever shows, however briefly, is remembered in the page.
  await page.addInitScript(() => {
    window.__namesEverShown = new Set();
    new MutationObserver(() => {
      for (const el of document.querySelectorAll('[data-testid="product"]')) window.__namesEverShown.add(el.textContent);
    }).observe(document, { subtree: true, childList: true, characterData: true });
  });

  const names = () => page.$$eval('[data-testid="product"]', (els) => els.map((e) => e.textContent));
  const namesAre = (expected) =>
    page.waitForFunction(
      (want) => JSON.stringify([...document.querySelectorAll('[data-testid="product"]')].map((e) => e.textContent)) === want,
      JSON.stringify(expected),
      { timeout: TIMEOUT, polling: "raf" },
    );

  await page.goto(url);
  await page.waitForSelector('[data-testid="product"]', { timeout: TIMEOUT });
  const store = await page.textContent('[data-testid="store"]');
  const before = await names();

  // A search narrows the list; clearing it brings the rest back.
  const search = page.getByRole("searchbox", { name: "Search products" }).or(page.locator('input[aria-label="Search products"]'));
  await search.first().fill(term);
  await page.waitForFunction(
    (t) => {
      const items = [...document.querySelectorAll('[data-testid="product"]')].map((e) => e.textContent);
      return items.length > 0 && items.every((n) => n.toLowerCase().includes(t.toLowerCase()));
    },
    term,
    { timeout: TIMEOUT },
  );
  const searched = await names();
  await search.first().fill("");
  await namesAre(before);

  // Sorting by name, descending, then back.
  await page.getByRole("columnheader", { name: /Name/ }).click();
  const sortedOnce = await page
    .waitForFunction(
      (asc) => {
        const now = [...document.querySelectorAll('[data-testid="product"]')].map((e) => e.textContent);
        return now.length === asc.length && JSON.stringify(now) !== JSON.stringify(asc) ? now : null;
      },
      before,
      { timeout: TIMEOUT },
    )
    .then((h) => h.jsonValue());
  await page.getByRole("columnheader", { name: /Name/ }).click();
  await namesAre(before);

  // A search that matches nothing shows the empty state.
  await search.first().fill("no-such-product");
  await page.waitForSelector('[data-testid="empty"]', { timeout: TIMEOUT });
  const empty = await page.textContent('[data-testid="empty"]');
  await search.first().fill("");
  await namesAre(before);

  // The next page by cursor, and back.
  await page.getByRole("button", { name: "Next page" }).click();
  await page.waitForFunction(
    (first) => {
      const now = [...document.querySelectorAll('[data-testid="product"]')].map((e) => e.textContent);
      return now.length > 0 && !now.includes(first);
    },
    before[0],
    { timeout: TIMEOUT },
  );
  const nextPage = await names();
  await page.getByRole("button", { name: "Previous page" }).click();
  await namesAre(before);

  report("listed", { store, before, searched, empty, nextPage, sortedOnce });

  // Edit a product through the modal; the live table shows what was saved.
  const edit = await command("edit");
  await page.getByRole("button", { name: `Edit ${edit.product}` }).click();
  await page.getByTestId("product-name-input").fill(edit.name);
  await page.getByTestId("product-price-input").fill(edit.price);
  if (edit.screenshot) await page.screenshot({ path: edit.screenshot });
  await page.getByTestId("save-product").click();
  await page.waitForSelector('[data-testid="edit-form"]', { state: "detached", timeout: TIMEOUT });
  await page.waitForFunction(
    (name) => [...document.querySelectorAll('[data-testid="product"]')].some((e) => e.textContent === name),
    edit.name,
    { timeout: TIMEOUT },
  );
  const row = await page.evaluate((name) => {
    const cell = [...document.querySelectorAll('[data-testid="product"]')].find((e) => e.textContent === name);
    const text = (id) => cell.closest("tr").querySelector(`[data-testid="${id}"]`).textContent;
    return { sku: text("product-sku"), price: text("product-price"), inventory: text("product-inventory") };
  }, edit.name);
  report("edited", { names: await names(), row });

  // The test changes a product at BigCommerce and its webhook arrives; the open page
  // shows it without a reload.
  const { expect } = await command("watch");
  await page.evaluate(() => (window.__stillTheSameDocument = true));
  const waiting = page.waitForFunction(
    (name) => [...document.querySelectorAll('[data-testid="product"]')].some((e) => e.textContent === name),
    expect,
    { timeout: TIMEOUT, polling: "raf" },
  );
  const watchingSince = Date.now();
  report("watching");
  await waiting;
  const seenAfterMs = Date.now() - watchingSince;
  const sameDocument = await page.evaluate(() => window.__stillTheSameDocument === true);
  report("seen", { names: await names(), seenAfterMs, sameDocument });

  // Editing a product that BigCommerce deletes meanwhile: the row goes by itself, and
  // saving shows why it failed in the modal.
  const hold = await command("hold");
  await page.getByRole("button", { name: `Edit ${hold.product}` }).click();
  await page.getByTestId("product-name-input").fill(hold.name);
  report("holding");
  await page.waitForFunction(
    (name) => ![...document.querySelectorAll('[data-testid="product"]')].some((e) => e.textContent === name),
    hold.product,
    { timeout: TIMEOUT },
  );
  await page.getByTestId("save-product").click();
  await page.waitForSelector('[data-testid="edit-error"]', { timeout: TIMEOUT });
  const message = await page.textContent('[data-testid="edit-error"]');
  await page.getByRole("button", { name: "Cancel" }).click();
  await page.waitForSelector('[data-testid="edit-form"]', { state: "detached", timeout: TIMEOUT });
  report("refused", { names: await names(), message });

  // A screenshot of the page as the merchant sees it, then a sync through the global action.
  const { screenshot } = await command("finish");
  await page.screenshot({ path: screenshot, fullPage: true });
  await page.getByTestId("sync").click();
  await page.waitForSelector('[data-testid="sync-started"]', { timeout: TIMEOUT });
  const syncMessage = await page.textContent('[data-testid="sync-started"]');
  const everShown = await page.evaluate(() => [...window.__namesEverShown].sort());
  report("done", { names: await names(), everShown, syncMessage, documents, errors, consoleErrors });
} finally {
  await browser.close();
  // An open stdin would keep node running after the last step.
  lines.close();
  process.stdin.destroy();
}
