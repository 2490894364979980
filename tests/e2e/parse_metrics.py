"""Parses Prometheus text on stdin with prometheus_client's own parser (the reference one) and
prints every family as JSON: [{"name", "type", "samples": [{"name", "labels", "value"}]}].
A text the parser refuses exits 1 with its message."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

try:
    families = [
        {
            "name": f.name,
            "type": f.type,
            "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples],
        }
        for f in text_string_to_metric_families(sys.stdin.read())
    ]
except Exception as e:  # the parser's refusal is the test's finding
    print(f"unparsable: {e}", file=sys.stderr)
    sys.exit(1)
print(json.dumps(families))
