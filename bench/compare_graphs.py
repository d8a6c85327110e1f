"""Are two exports of the same reference pipeline bit-identical on the gate's row sets? By hand.

    .venv/bin/python bench/compare_graphs.py BEFORE_VERSION_DIR AFTER_VERSION_DIR

A graph rewrite that should not change what is computed (issue 13) is checked here beyond the
gate's 1e-6 bar: every output of both graphs, on every gate set, scored as one batch and one
row at a time (a sample), must be equal bit for bit. Exit 1 if any differs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tabship.training import evidence

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

OUTPUTS = ["label", "probabilities", "decision"]


def main(argv: list[str]) -> int:
    import numpy as np
    import onnxruntime as ort

    from tabship.parity_tests.compare import feeds_for
    from tabship.parity_tests.generated import generated_rows
    from tabship.parity_tests.rows import boundary_rows, hostile_rows
    from tabship.runtime.model.session import session_options

    if len(argv) != 2:
        print(__doc__.splitlines()[2].strip(), file=sys.stderr)
        return 2
    before, after = (Path(a) for a in argv)
    pipeline = evidence.read(before).pipeline
    data = evidence.read(before).reference_data
    inputs = json.loads((before / "manifest.json").read_text())["inputs"]
    sessions = [
        ort.InferenceSession(
            (folder / "model.onnx").read_bytes(),
            sess_options=session_options(1),
            providers=["CPUExecutionProvider"],
        )
        for folder in (before, after)
    ]
    test, train = data["test_frame"], data["train_frame"]
    sets = {
        "test": test,
        "train": train,
        "boundary": boundary_rows(pipeline, test.head(2)).rows,
        "hostile": hostile_rows(test, inputs),
        "generated": generated_rows(inputs, train, rows=2000),
    }

    def same(frame: object) -> bool:
        a, b = (s.run(OUTPUTS, feeds_for(s, frame)) for s in sessions)  # type: ignore[arg-type]
        return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))

    equal = True
    for name, frame in sets.items():
        step = max(1, len(frame) // 300)
        batch = same(frame)
        single = all(same(frame.iloc[[i]]) for i in range(0, len(frame), step))
        equal &= batch and single
        print(
            f"{name}: {len(frame)} rows; as one batch equal: {batch}; one row at a time "
            f"(every {step}th row) equal: {single}"
        )
    print("bit-identical" if equal else "DIFFERENT")
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
