"""Trains small XGBoost 1.7.4 models, saves them as JSON with test data and XGBoost's own
predictions, for kiln's import parity test.

  /usr/bin/python3 xgb_export.py OUT_DIR
Writes, per objective: OUT_DIR/<name>.json, <name>.csv (features + a dummy `y`), <name>.pred
(one prediction per line: probability of class 1, class probabilities, or value).
"""
import sys

import numpy as np
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
