"""What every side of tabship agrees on, with no dependency of its own (numpy at most).

- values: how one raw value becomes a feed (category_text, number_value)
- spelling: how text is matched to a category label (the same patterns run in the graph)
- rules: which values a feeder accepts, the reasons (with codes) it refuses, the limits
- manifest: the manifest's keys, input kinds and ONNX types, outputs, and the one check
- errors: ModelRefused; object_store: reading s3:// / gs:// / az:// model locations
- progress: the console progress line of long steps (training, batch scoring)

runtime, training, export and the parity gate import it; it imports none of them
(tests/test_layers.py). clients/node/src/rules.js is generated from it (scripts/node_rules.py).
"""
