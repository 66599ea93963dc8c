"""The largest inputs a reader accepts, in one place (SECURITY.md states them and the tests that
prove them). Each is far above what real records hold — the corpora's maxima are in the comments —
so a file over a limit is damaged or hostile, and is refused with a message naming the limit.
Time and memory of a read are bounded through these: reading any accepted file takes seconds, not
minutes, and memory a small multiple of the file's size.
"""
from __future__ import annotations

MB = 1024 * 1024

#: one legacy XML record (largest real one: 0.8 MB, NCT00460603)
MAX_XML_BYTES = 20 * MB
#: one API v2 JSON file; API pages of many studies are larger than single records (~10,000 studies)
MAX_JSON_BYTES = 200 * MB
#: one TOP-format CSV (the largest TOP split is ~10 MB)
MAX_CSV_BYTES = 500 * MB
#: JSON nesting is bounded by Python's recursion limit (~1,000 levels; a real study nests 6): a
#: deeper document is refused ("nested too deeply") instead of exhausting the stack
#: a record's eligibility text (largest real one: 16,870 characters, NCT02465060); splitting text of
#: this size into items takes ~1 s
MAX_CRITERIA_CHARS = 500_000
#: criteria items a record may hold (largest real: 91, NCT00000800); the model reads the first
#: `engine.predict.MAX_MODEL_CRITERIA` of them and says so
MAX_CRITERIA_ITEMS = 5_000
#: distinct drug interventions of a record (largest real: 22, NCT02465060)
MAX_DRUGS = 200
#: distinct conditions of a record (largest real: 127, NCT00004074)
MAX_CONDITIONS = 1_000
