// Opens the app's load URL in headless Chromium, as the control panel would, and
// reports what the merchant sees: the product names, then the names after a search.
// Usage: node e2e.mjs <load url> <search term>
import { chromium } from "playwright-core";

const [url, term] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url);
  await page.waitForSelector('[data-testid="product"]', { timeout: 20000 });
  const names = () => page.$$eval('[data-testid="product"]', (els) => els.map((e) => e.textContent));
  const store = await page.textContent('[data-testid="store"]');
  const before = await names();
  await page.fill('input[aria-label="Search products"]', term);
  await page.waitForFunction(
    (t) => {
      const items = [...document.querySelectorAll('[data-testid="product"]')].map((e) => e.textContent);
      return items.length > 0 && items.every((n) => n.toLowerCase().includes(t.toLowerCase()));
    },
    term,
    { timeout: 20000 },
  );
  const after = await names();
  console.log(JSON.stringify({ store, before, after, errors }));
} finally {
  await browser.close();
}
