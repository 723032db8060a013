"""model.tar.gz extraction takes the model's flat files and nothing that would land elsewhere."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import model_io


def test_only_plain_files_inside_the_target_are_extracted(tmp_path: Path) -> None:
    archive = tmp_path / model_io.MODEL_ARCHIVE_NAME
    with tarfile.open(archive, "w:gz") as tar:
        for name in (model_io.MODEL_FILE_NAME, "../escaped.txt", "/absolute.txt"):
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"{}"))
        link = tarfile.TarInfo("link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)

    extracted = model_io.extract_model_archive(tmp_path)

    assert sorted(path.name for path in extracted.iterdir()) == [model_io.MODEL_FILE_NAME]
    assert not (tmp_path / "escaped.txt").exists()
    assert not (extracted.parent / "escaped.txt").exists()
