#!/usr/bin/python3
"""The serving benchmark's Python side (bench/peers/serving.sh), under Debian's /usr/bin/python3.

  serve_peers.py train CSV OUT.json TREES DEPTH   train the benchmark model with XGBoost 1.7
  serve_peers.py bodies CSV OUTDIR                V2 request bodies: batch 1 and 64, FP32 [N, F]
  uvicorn serve_peers:app (MODEL env var)         FastAPI + XGBoost answering the same V2 JSON
"""
import json
import os
import sys

import numpy as np


def train(csv, out, trees, depth):
    import pandas as pd
    import xgboost as xgb
    df = pd.read_csv(csv)
    x, y = df.drop(columns=["label"]), df["label"]
    m = xgb.XGBClassifier(n_estimators=int(trees), max_depth=int(depth), tree_method="hist",
                          learning_rate=0.1, max_bin=255, n_jobs=2)
    m.fit(x, y)
    m.get_booster().save_model(out)


def bodies(csv, outdir):
    data = np.loadtxt(csv, delimiter=",", skiprows=1, max_rows=64, dtype=np.float32)[:, :-1]
    for n in (1, 64):
        body = {"inputs": [{"name": "x", "shape": [n, data.shape[1]], "datatype": "FP32",
                            "data": [float(v) for v in data[:n].ravel()]}]}
        with open(os.path.join(outdir, f"body-{n}.json"), "w") as f:
            json.dump(body, f)


if __name__ == "__main__":
    if sys.argv[1] == "train":
        train(*sys.argv[2:6])
    elif sys.argv[1] == "bodies":
        bodies(*sys.argv[2:4])
    sys.exit(0)

# FastAPI + XGBoost: the same V2 request JSON in, the same outputs out.
import xgboost as xgb  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402

booster = xgb.Booster()
booster.load_model(os.environ["MODEL"])
booster.set_param({"nthread": 1})
app = FastAPI()


@app.post("/v2/models/{name}/infer")
async def infer(name: str, request: Request):
    body = await request.json()
    t = body["inputs"][0]
    x = np.asarray(t["data"], dtype=np.float32).reshape(t["shape"])
    p = booster.inplace_predict(x)
    probs = np.stack([1 - p, p], axis=1)
    return JSONResponse({"model_name": name, "model_version": "1", "outputs": [
        {"name": "predict", "datatype": "BYTES", "shape": [len(p)],
         "data": [str(int(v > 0.5)) for v in p]},
        {"name": "probabilities", "datatype": "FP32", "shape": list(probs.shape),
         "data": probs.ravel().tolist()}]})
