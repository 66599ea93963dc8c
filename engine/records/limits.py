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

# -- cut, not refused: a record over these is read, with a warning on the Trial saying what was cut ---
#: characters kept of one drug or condition name (longest real: 156, NCT05979467); name rules and
#: lookups then take milliseconds even for a 2,000,000-character name
MAX_NAME_CHARS = 1_000
#: characters kept of a one-line field: title, sponsor, status, dates, study type, NCT id (longest
#: real title: 300, NCT00002359); a 180 MB title used to peak at 2.4 GB while its spaces were tidied
MAX_LINE_CHARS = 2_000
#: conditions and drug interventions kept for the model (largest real: 127 and 22, as above): each
#: is one ablation over a sequence that grows with them, so 999 conditions took minutes to predict
KEPT_CONDITIONS = 128
KEPT_DRUGS = 32

#: one Excel workbook of in-house trials (engine/records/table_import.py), and what it may unpack to:
#: openpyxl holds a sheet's shared strings in memory, so a "zip bomb" workbook is refused before it is opened
MAX_EXCEL_BYTES = 100 * MB
MAX_EXCEL_UNPACKED_BYTES = 1024 * MB

#: record files one ZIP archive may hold (ClinicalTrials.gov's download of a search: up to 10,000 studies)
MAX_ZIP_MEMBERS = 20_000
#: bytes of all its record files together, once unpacked; a member that unpacks to more than its own
#: reader's limit (above) is refused by name, so a "zip bomb" is stopped before it is written out
MAX_ZIP_UNPACKED_BYTES = 4 * 1024 * MB
