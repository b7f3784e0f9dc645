"""Trains small XGBoost 1.7.4 models, saves them as JSON with test data and XGBoost's own
predictions, for kiln's import parity test.

  /usr/bin/python3 xgb_export.py OUT_DIR
Writes, per objective: OUT_DIR/<name>.json, <name>.csv (features + a dummy `y`), <name>.pred
(one prediction per line: probability of class 1, class probabilities, or value).
The `categorical` case trains on a DataFrame with two pandas categorical columns (30 categories
split by partition, 3 one-hot) and writes their codes to the CSV.
"""
import sys

import numpy as np
import pandas as pd
import xgboost as xgb

out = sys.argv[1]
rng = np.random.RandomState(7)
x = rng.randn(3000, 6).astype(np.float32)
x[rng.rand(3000, 6) < 0.05] = np.nan
xn = np.nan_to_num(x)
z = xn[:, 0] * xn[:, 1] + xn[:, 2] - 0.5 * xn[:, 3] ** 2
cases = {
    "binary": ("binary:logistic", (z > 0).astype(int)),
    "multi": ("multi:softprob", np.digitize(z, [-1, 0, 1])),
    "regression": ("reg:squarederror", z),
}
for name, (objective, y) in cases.items():
    params = dict(n_estimators=50, max_depth=6, learning_rate=0.3, tree_method="hist")
    if name == "regression":
        m = xgb.XGBRegressor(objective=objective, **params)
    else:
        m = xgb.XGBClassifier(objective=objective, **params)
    m.fit(x, y)
    m.save_model(f"{out}/{name}.json")
    with open(f"{out}/{name}.csv", "w") as f:
        f.write(",".join(f"f{i}" for i in range(6)) + ",y\n")
        for row in x:
            f.write(",".join("" if np.isnan(v) else repr(float(v)) for v in row) + ",0\n")
    p = m.predict(x) if name == "regression" else m.predict_proba(x)
    np.savetxt(f"{out}/{name}.pred", p.reshape(len(x), -1), fmt="%.9g", delimiter=",")

# Native categorical splits (enable_categorical): partition splits and one-hot splits.
c30 = rng.randint(0, 30, 3000)
c3 = rng.randint(0, 3, 3000)
yc = ((np.isin(c30, [1, 4, 9, 16, 25, 2]) ^ (xn[:, 0] > 0.3)) | (c3 == 2)).astype(int)
df = pd.DataFrame({f"f{i}": x[:, i] for i in range(4)})
df["f4"] = pd.Categorical(np.where(rng.rand(3000) < 0.05, np.nan, c30), categories=range(30))
df["f5"] = pd.Categorical(c3, categories=range(3))
m = xgb.XGBClassifier(n_estimators=50, max_depth=6, learning_rate=0.3, tree_method="hist",
                      enable_categorical=True, max_cat_to_onehot=4)
m.fit(df, yc)
m.save_model(f"{out}/categorical.json")
with open(f"{out}/categorical.csv", "w") as f:
    f.write("f0,f1,f2,f3,f4,f5,y\n")
    codes4, codes5 = df["f4"].cat.codes.to_numpy(), df["f5"].cat.codes.to_numpy()
    for r in range(3000):
        cells = ["" if np.isnan(v) else repr(float(v)) for v in x[r, :4]]
        cells += ["" if codes4[r] < 0 else str(codes4[r]), str(codes5[r]), "0"]
        f.write(",".join(cells) + "\n")
np.savetxt(f"{out}/categorical.pred", m.predict_proba(df), fmt="%.9g", delimiter=",")
