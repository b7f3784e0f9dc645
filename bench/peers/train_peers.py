"""Trains XGBoost 1.7.4 `hist` or scikit-learn HistGradientBoosting on a CSV split and prints
one JSON line: binning (DMatrix construction) seconds, training seconds, test metric.

  /usr/bin/python3 train_peers.py xgboost|sklearn TRAIN.csv TEST.csv TREES DEPTH LEAVES THREADS

DEPTH 0 means unlimited depth (leaf-wise with LEAVES leaves); LEAVES 0 means depth-wise.
Loading the CSV with pandas is not timed. The label column is `label` (binary).
"""
import json
import os
import sys
import time

tool, train_path, test_path, trees, depth, leaves, threads = sys.argv[1:8]
trees, depth, leaves, threads = int(trees), int(depth), int(leaves), int(threads)
os.environ["OMP_NUM_THREADS"] = str(threads)

import pandas as pd
from sklearn.metrics import roc_auc_score

train, test = pd.read_csv(train_path), pd.read_csv(test_path)
for df in (train, test):
    for c in df.columns:
        if df[c].dtype == object:
            df[c] = pd.Categorical(df[c], categories=sorted(set(train[c].dropna())))
xtr, ytr = train.drop(columns=["label"]), train["label"]
xte, yte = test.drop(columns=["label"]), test["label"]

if tool == "xgboost":
    import xgboost as xgb
    t0 = time.perf_counter()
    dtrain = xgb.QuantileDMatrix(xtr, ytr, max_bin=255, enable_categorical=True, nthread=threads)
    t1 = time.perf_counter()
    params = {"tree_method": "hist", "objective": "binary:logistic", "eta": 0.1, "max_bin": 255,
              "nthread": threads, "lambda": 1.0, "min_child_weight": 1e-3}
    if leaves:
        params.update(grow_policy="lossguide", max_leaves=leaves, max_depth=depth)
    else:
        params.update(max_depth=depth)
    booster = xgb.train(params, dtrain, num_boost_round=trees)
    t2 = time.perf_counter()
    dtest = xgb.DMatrix(xte, enable_categorical=True, nthread=threads)
    p = booster.inplace_predict(xte)
    t3 = time.perf_counter()
    p = booster.inplace_predict(xte)
    t4 = time.perf_counter()
else:
    from sklearn.ensemble import HistGradientBoostingClassifier
    cats = [c for c in xtr.columns if str(xtr[c].dtype) == "category"]
    for c in cats:
        xtr[c], xte[c] = xtr[c].cat.codes, xte[c].cat.codes
    # scikit-learn 1.2 accepts at most 255 categories per feature; wider ones stay ordinal codes.
    cats = [c for c in cats if xtr[c].max() < 255]
    m = HistGradientBoostingClassifier(
        max_iter=trees, learning_rate=0.1, max_depth=depth or None,
        max_leaf_nodes=leaves or None if leaves else 2 ** depth, max_bins=255,
        early_stopping=False, l2_regularization=1.0, min_samples_leaf=1,
        categorical_features=[xtr.columns.get_loc(c) for c in cats] or None)
    t0 = t1 = time.perf_counter()
    m.fit(xtr, ytr)
    t2 = time.perf_counter()
    p = m.predict_proba(xte)[:, 1]
    t3 = time.perf_counter()
    p = m.predict_proba(xte)[:, 1]
    t4 = time.perf_counter()
print(json.dumps({"binning_seconds": t1 - t0, "train_seconds": t2 - t1,
                  "predict_rows_per_s": len(xte) / (t4 - t3), "auc": roc_auc_score(yte, p)}))
