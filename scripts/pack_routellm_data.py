"""Regenerate the packaged copy of RouteLLM's MMLU and GSM8K evaluation data.

    python scripts/pack_routellm_data.py ROUTELLM_EVALS [--out DIR]

ROUTELLM_EVALS: a RouteLLM checkout, or its ``routellm/evals`` folder. Writes, into DIR
(default: src/localrouter/evaluation/routellm_data), ``<benchmark>.jsonl.gz`` with one
``{"prompt", ["subject",] "strong", "weak"}`` object per response row (RouteLLM's order:
MMLU files by name, then rows; the long ``*_response`` text columns are dropped) and
``<benchmark>-contaminated.jsonl.gz``, RouteLLM's contamination list unchanged. The files
are read with the same code as ``localrouter routellm eval --data`` and gzip'd without a
timestamp, so the same input gives the same bytes. LICENSE, SOURCE_COMMIT and README.md
in DIR are kept by hand.
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

from localrouter.evaluation.data import (
    CONTAMINATED,
    PACKAGED,
    locate,
    packaged_files,
    packed_row,
    read_outcomes,
)

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src/localrouter/evaluation/routellm_data"


def _write_gzip(path: Path, data: bytes) -> None:
    # mtime=0 and no file name in the header: reproducible bytes.
    with path.open("wb") as raw, gzip.GzipFile("", "wb", 9, raw, mtime=0) as handle:
        handle.write(data)


def pack(evals: Path, out: Path) -> list[Path]:
    """Write the packaged files for every packaged benchmark; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for benchmark in PACKAGED:
        folder = locate(evals, benchmark)
        outcomes = read_outcomes(folder, benchmark)
        lines = (
            json.dumps(packed_row(outcomes, i), ensure_ascii=False, separators=(",", ":"))
            for i in range(len(outcomes.prompts))
        )
        outcomes_name, contaminated_name = packaged_files(benchmark)
        _write_gzip(out / outcomes_name, "".join(f"{line}\n" for line in lines).encode())
        _write_gzip(out / contaminated_name, (folder / CONTAMINATED).read_bytes())
        written += [out / outcomes_name, out / contaminated_name]
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("evals", type=Path, help="RouteLLM checkout or its routellm/evals")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    args = parser.parse_args()
    for path in pack(args.evals, args.out):
        print(f"{path}: {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
