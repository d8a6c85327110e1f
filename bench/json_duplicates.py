"""Parse cost of refusing duplicate JSON keys, by hand: a 1,000-row /v1/predict body decoded
with the server's decoder (object_pairs_hook=unique_object) and without the hook, in turns.

    .venv/bin/python bench/json_duplicates.py [--rows 1000] [--rounds 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from tabship.runtime.dataplane.json_codec import unique_object

ROW = {
    "PageValues": 10,
    "ExitRates": 0.05,
    "Administrative": 3,
    "Month": "nov",
    "VisitorType": "new_visitor",
    "OperatingSystems": "2",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    text = json.dumps([ROW] * args.rows)
    plain = json.JSONDecoder()
    checked = json.JSONDecoder(object_pairs_hook=unique_object)
    times: dict[str, list[float]] = {"plain": [], "unique_object": []}
    for _ in range(args.rounds):
        for name, decoder in (("plain", plain), ("unique_object", checked)):
            started = time.perf_counter()
            decoder.decode(text)
            times[name].append(time.perf_counter() - started)
    medians = {name: statistics.median(t) * 1e6 for name, t in times.items()}
    print(
        json.dumps(
            {
                "rows": args.rows,
                "body_bytes": len(text),
                "median_us": {k: round(v, 1) for k, v in medians.items()},
                "ratio": round(medians["unique_object"] / medians["plain"], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
