"""Times pandas.read_csv on a file: /usr/bin/python3 pandas_read_csv.py FILE"""
import sys
import time

import pandas as pd

t0 = time.perf_counter()
df = pd.read_csv(sys.argv[1])
print(f"{time.perf_counter() - t0} {len(df)}")
