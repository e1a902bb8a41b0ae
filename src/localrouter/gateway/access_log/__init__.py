"""The access log (README "Access log entry"): one typed record (record.py), written by one
background writer (writer.py) into daily files (files.py), read back by one reader
(reader.py) for the statistics, calibration and the tests."""

from localrouter.gateway.access_log.record import AccessRecord
from localrouter.gateway.access_log.writer import AccessLog

__all__ = ["AccessLog", "AccessRecord"]
