"""`python -m conformance run nist ...`: the same commands as `xds-server conformance ...`."""

from conformance.cli import app

app(prog_name="python -m conformance")
