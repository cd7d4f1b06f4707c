#!/usr/bin/python3
"""tests/index/data/check_current.py: golden-objects.ndjson is what
extract_golden.py makes from the in-repo recordings (tests/golden/), so the
generated test data never drifts from its source. Regenerate with
`python3 tests/index/data/extract_golden.py > tests/index/data/golden-objects.ndjson`."""
import os
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
out = subprocess.run([sys.executable, os.path.join(here, "extract_golden.py")],
                     check=True, capture_output=True).stdout
with open(os.path.join(here, "golden-objects.ndjson"), "rb") as f:
    have = f.read()
if out != have:
    print("FAIL: tests/index/data/golden-objects.ndjson is not what extract_golden.py makes "
          "from tests/golden; regenerate it")
    sys.exit(1)
print("golden-objects.ndjson is current (%d objects)" % out.count(b"\n"))
