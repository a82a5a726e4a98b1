"""The e2e tiers' runner: root check, DRFWD_E2E_ONLY selection, PASS/FAIL lines, exit status."""
import os
import sys
import time


def run(tests):
    if os.geteuid() != 0:
        print("e2e tests need root (network namespaces): skipped")
        sys.exit(77)
    only = os.environ.get("DRFWD_E2E_ONLY")
    failed = 0
    for t in tests:
        if only and only not in t.__name__:
            continue
        start = time.time()
        try:
            t()
            print("PASS %s (%.1fs)" % (t.__name__, time.time() - start), flush=True)
        except Exception as e:  # noqa: BLE001 - every failure is reported, the other tests still run
            failed += 1
            print("FAIL %s: %s" % (t.__name__, e), flush=True)
    sys.exit(1 if failed else 0)
