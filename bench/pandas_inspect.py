"""The pandas equivalent of `aisle inspect`'s core work: read the events CSV, drop exact
duplicates, factorize user and item ids, count users, items and rows."""

import json
import sys

import pandas as pd

frame = pd.read_csv(sys.argv[1])
rows = len(frame)
frame = frame.drop_duplicates()
users, _ = pd.factorize(frame["user_id"])
items, _ = pd.factorize(frame["item_id"])
print(json.dumps({
    "rows": rows,
    "kept": len(frame),
    "users": int(users.max()) + 1,
    "items": int(items.max()) + 1,
}))
