#!/usr/bin/env python3
"""Load products with nested variants through bulkCreateProducts over HTTP and report
whether the rate holds as the tables grow: rows/s over the whole load, over its first
tenth and over its last tenth. Standard library only.

usage: bulk_load.py URL API_KEY [--rows 1000000] [--batch 250] [--variants 3] [--clients 4] [--single]

--single sends each product as its own createProduct (the one-record path) instead of
bulkCreateProducts batches.
"""
import argparse
import http.client
import json
import threading
import time
import urllib.parse

DOC = ("mutation($inputs: [BulkCreateBigcommerceProductsInput!]!) { bigcommerce { "
       "bulkCreateProducts(inputs: $inputs) { success errors { code message } } } }")
SINGLE = ("mutation($product: CreateBigcommerceProductInput) { bigcommerce { "
          "createProduct(product: $product) { success errors { code message } } } }")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("key")
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--batch", type=int, default=250, help="products per request")
    p.add_argument("--variants", type=int, default=3)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--single", action="store_true")
    a = p.parse_args()
    u = urllib.parse.urlsplit(a.url)
    per_product = 1 + a.variants
    products = a.rows // per_product
    batches = (products + a.batch - 1) // a.batch

    def post(conn, body):
        conn.request("POST", u.path, body, {"content-type": "application/json", "authorization": f"Bearer {a.key}"})
        return json.loads(conn.getresponse().read())

    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    store = post(conn, json.dumps({"query": 'mutation { bigcommerce { createStore(store: {storeHash: "load%d", state: "installed"}) { store { id } } } }' % int(time.time())}))
    store = store["data"]["bigcommerce"]["createStore"]["store"]["id"]

    done = []  # (finish time, rows) per batch
    lock = threading.Lock()
    next_batch = [0]
    started = time.monotonic()

    def client():
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
        while True:
            with lock:
                b = next_batch[0]
                next_batch[0] += 1
            if b >= batches:
                return
            first = b * a.batch
            inputs = []
            for n in range(first, min(first + a.batch, products)):
                variants = [{"create": {"bigcommerceId": n * 10 + v, "sku": f"L{n}-{v}", "price": 10 + v, "store": {"_link": store}}}
                            for v in range(1, a.variants + 1)]
                inputs.append({"product": {"bigcommerceId": n, "name": f"Load {n}", "price": 10 + n % 90,
                                           "inventoryLevel": n % 50, "store": {"_link": store}, "variants": variants}})
            if a.single:
                outs = [post(conn, json.dumps({"query": SINGLE, "variables": {"product": i["product"]}})) for i in inputs]
                results = [(o.get("data") or {}).get("bigcommerce", {}).get("createProduct") or {} for o in outs]
            else:
                outs = [post(conn, json.dumps({"query": DOC, "variables": {"inputs": inputs}}))]
                results = [(o.get("data") or {}).get("bigcommerce", {}).get("bulkCreateProducts") or {} for o in outs]
            for out, result in zip(outs, results):
                if not result.get("success"):
                    raise SystemExit(f"batch {b} failed: {json.dumps(out)[:500]}")
            with lock:
                done.append((time.monotonic(), len(inputs) * per_product))

    threads = [threading.Thread(target=client) for _ in range(a.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.sort()
    total = sum(r for _, r in done)
    elapsed = done[-1][0] - started

    def rate(lo, hi):
        # rows/s over the batches that finished while the count went from lo to hi
        seen, t0, t1, rows = 0, None, None, 0
        prev = started
        for t, r in done:
            if lo <= seen < hi:
                t0 = prev if t0 is None else t0
                t1, rows = t, rows + r
            seen += r
            prev = t
        return rows / (t1 - t0)

    first, last = rate(0, total // 10), rate(total - total // 10, total)
    print(f"LOAD rows={total} seconds={elapsed:.1f} rows_per_s={total / elapsed:,.0f} "
          f"first_tenth={first:,.0f} last_tenth={last:,.0f} last_vs_first={last / first:.2f} "
          f"batch={a.batch} clients={a.clients} single={a.single}")


if __name__ == "__main__":
    main()
