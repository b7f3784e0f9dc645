"""Reference scores from XGBoost 1.7.4 (Debian python3-xgboost) for the accuracy sanity test.

  /usr/bin/python3 xgb_reference.py TRAIN.csv TEST.csv TARGET TASK TREES DEPTH

Trains `hist` with the same parameters kiln uses (learning rate 0.1, lambda 1, 255 bins,
min_child_weight 1e-3) and prints the test metric: AUC (binary), accuracy (multiclass) or
RMSE (regression). Categorical columns use XGBoost's native categorical support.
"""
import sys

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import mean_squared_error, roc_auc_score

train_path, test_path, target, task, trees, depth = sys.argv[1:7]
train, test = pd.read_csv(train_path), pd.read_csv(test_path)
classes = list(dict.fromkeys(train[target]))  # first-seen order, as kiln
for df in (train, test):
    for c in df.columns:
        if c != target and df[c].dtype == object:
            df[c] = pd.Categorical(df[c], categories=sorted(set(train[c].dropna())))
def xy(df):
    x = df.drop(columns=[target])
    if task == "regression":
        return x, df[target].astype(float)
    return x, df[target].map({c: i for i, c in enumerate(classes)})
xtr, ytr = xy(train)
xte, yte = xy(test)
params = dict(tree_method="hist", max_depth=int(depth), learning_rate=0.1, reg_lambda=1.0,
              max_bin=255, min_child_weight=1e-3, enable_categorical=True, n_estimators=int(trees),
              nthread=2)
if task == "binary":
    m = xgb.XGBClassifier(objective="binary:logistic", **params).fit(xtr, ytr)
    print(roc_auc_score(yte, m.predict_proba(xte)[:, 1]))
elif task == "multiclass":
    m = xgb.XGBClassifier(objective="multi:softprob", **params).fit(xtr, ytr)
    print(float(np.mean(m.predict(xte) == yte)))
else:
    m = xgb.XGBRegressor(objective="reg:squarederror", **params).fit(xtr, ytr)
    print(mean_squared_error(yte, m.predict(xte)) ** 0.5)
