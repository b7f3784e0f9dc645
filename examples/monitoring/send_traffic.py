#!/usr/bin/env python3
"""Sends the rows of a credit CSV to a kiln server as V2 requests (one tensor per column,
BATCH rows per request, request ids "NAME-K", rows "NAME-K#R"), optionally shifted — Income
multiplied by 4 and every fifth Home an unseen "castle" — and writes the rows' ids with their
true labels, or with the labels flipped, as a feedback CSV (id,label).

    send_traffic.py URL MODEL DATA.csv FEEDBACK.csv [--shift] [--wrong] [--batch N] [--name P]
"""
import argparse
import csv
import json
import os
import urllib.request

CATEGORICAL = {"Home", "Marital", "Records", "Job"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("model")
    ap.add_argument("data")
    ap.add_argument("feedback")
    ap.add_argument("--shift", action="store_true")
    ap.add_argument("--wrong", action="store_true")
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--name", default="req")
    a = ap.parse_args()
    headers = {"Content-Type": "application/json"}
    if os.environ.get("KILN_TOKEN"):  # a server with `auth: required`
        headers["Authorization"] = "Bearer " + os.environ["KILN_TOKEN"]
    with open(a.data) as f:
        rows = list(csv.DictReader(f))
    columns = [c for c in rows[0] if c != "Status"]
    labels = []
    for k in range(0, len(rows), a.batch):
        part = rows[k:k + a.batch]
        inputs = []
        for c in columns:
            values = []
            for i, r in enumerate(part):
                v = r[c]
                if a.shift and c == "Income" and v:
                    v = str(float(v) * 4)
                if a.shift and c == "Home" and (k + i) % 5 == 0:
                    v = "castle"
                values.append(v if c in CATEGORICAL else (float(v) if v else None))
            inputs.append({"name": c, "shape": [len(part)],
                           "datatype": "BYTES" if c in CATEGORICAL else "FP64", "data": values})
        rid = f"{a.name}-{k // a.batch}"
        body = json.dumps({"id": rid, "inputs": inputs}).encode()
        req = urllib.request.Request(f"{a.url}/v2/models/{a.model}/infer", data=body,
                                     headers=headers)
        with urllib.request.urlopen(req) as resp:
            resp.read()
        for i, r in enumerate(part):
            truth = r["Status"]
            if a.wrong:
                truth = "bad" if truth == "good" else "good"
            labels.append((f"{rid}#{i}", truth))
    with open(a.feedback, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "label"])
        w.writerows(labels)
    print(f"sent {len(rows)} rows in {(len(rows) + a.batch - 1) // a.batch} requests"
          f"{' (shifted)' if a.shift else ''}; labels in {a.feedback}")


if __name__ == "__main__":
    main()
