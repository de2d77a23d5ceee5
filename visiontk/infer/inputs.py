"""What `visiontk predict` reads: its SOURCE arguments, checked at once and expanded lazily into the
images and videos they name.

A source is an image file, a folder (its images, recursively, in name order), a glob (quoted:
`'data/**/*.jpg'`), a text file of paths (.txt: one per line, `#` comments, relative paths from the
file's folder), a video file, a camera index (`0`) or a stream URL (rtsp://, http://). A COCO
dataset folder (annotations/instances_<split>.json, as `visiontk data convert --to coco` writes it)
gives the images of one split in the annotation file's order, with their image ids.

Each source is checked before anything is predicted (a missing path, a glob that matches nothing,
a camera that cannot be opened: a SourceError); the files inside are listed as they are read, so a
folder of 100,000 images costs no memory up front. A file that turns out unreadable is the reader's
to report (visiontk/infer/reader.py), not a reason to stop here.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from visiontk.errors import SourceError
from visiontk.infer.sources import IMAGE_SUFFIXES

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg"}
LIST_SUFFIXES = {".txt"}
GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class Item:
    """One thing to predict: an image file, a video file or a live source (camera, stream).

    Attributes:
        path: the file (as named or found), or the camera index / URL.
        kind: image | video | live.
        rel: the path below the folder or glob it came from (annotated copies keep that layout).
        image_id: the image's id in the COCO annotation file it is listed in, when known.
    """

    path: str
    kind: str = "image"
    rel: str = ""
    image_id: object = None


class Source:
    """A SOURCE argument: `items()` lazily; `count()` the images and video frames it will give
    (None when not known without reading), for the progress bar only."""

    def items(self) -> Iterator[Item]:
        raise NotImplementedError

    def count(self) -> Optional[int]:
        return None


def kind_of(path: Path) -> str:
    """image or video, by the suffix (a file of another suffix is tried as an image)."""
    return "video" if path.suffix.lower() in VIDEO_SUFFIXES else "image"


class Files(Source):
    """Files named one by one: an image or video argument, or the matches of a glob."""

    def __init__(self, paths: list[Path], base: Path | None = None):
        self.paths, self.base = paths, base

    def items(self):
        for p in self.paths:
            rel = os.path.relpath(p, self.base) if self.base is not None else p.name
            yield Item(str(p), kind_of(p), rel)

    def count(self):
        return sum(_video_frames(p) if kind_of(p) == "video" else 1 for p in self.paths)


class Folder(Source):
    """The images below a folder, recursively, in name order (sub-folders in name order too)."""

    def __init__(self, root: Path):
        self.root = root

    def _walk(self, folder: Path, rel: str = "") -> Iterator[tuple[str, str]]:
        """(path, path below the root) of each image, as str(folder / name) and os.path.relpath
        write them, built from strings (a Path and a relpath per file cost 10 us, a tenth of
        decoding a small image)."""
        names, folders = [], set()
        try:            # names only (not DirEntry objects): a folder's listing stays small
            with os.scandir(folder) as entries:
                for entry in entries:
                    names.append(entry.name)
                    if entry.is_dir():           # from the listing itself: no stat per file
                        folders.add(entry.name)
        except OSError:
            return                               # an unreadable sub-folder: nothing in it
        head = str(folder / "_")[:-1]            # "photos/", or "" for the folder "."
        for name in sorted(names):
            image = os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES
            if name not in folders:
                if image:
                    yield head + name, rel + name
            elif not image:                      # (a folder named like an image is not read)
                yield from self._walk(folder / name, f"{rel}{name}{os.sep}")

    def items(self):
        for path, rel in self._walk(self.root):
            yield Item(path, "image", rel)

    def count(self):
        return sum(1 for _ in self._walk(self.root))


class ListFile(Source):
    """A text file of image or video paths, one per line (blank lines and `#` comments skipped);
    a relative path is read from the list file's folder."""

    def __init__(self, path: Path):
        self.path = path

    def _paths(self) -> Iterator[Path]:
        with open(self.path, encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    p = Path(line).expanduser()
                    yield p if p.is_absolute() else self.path.parent / p

    def items(self):
        for p in self._paths():
            yield Item(str(p), kind_of(p), p.name)

    def count(self):
        return sum(1 for _ in self._paths())


class CocoSplit(Source):
    """The images of one split of a COCO dataset folder, in the annotation file's order, with
    their ids."""

    def __init__(self, root: Path, split: str):
        from visiontk.infer.coco_ids import CocoIndex

        self.index = CocoIndex.of_split(root, split)

    def items(self):
        for path, image_id in self.index.images():
            yield Item(str(path), "image", path.name, image_id)

    def count(self):
        return len(self.index.ids)


class Live(Source):
    """A camera index or a stream URL, opened when checked (a camera that is missing or busy fails
    before the model is loaded); frames until it ends, --max-frames, or Ctrl-C."""

    def __init__(self, spec: str):
        from visiontk.infer.sources import CaptureSource
        from visiontk.runtime.errors import InputError

        try:
            self.capture = CaptureSource(int(spec) if spec.isdigit() else spec)
        except InputError as exc:
            raise SourceError(str(exc)) from None
        self.spec = spec

    def items(self):
        yield Item(self.spec, "live", self.capture.name.replace(" ", "-"))


def _video_frames(path: Path) -> int:
    """The frame count a video file declares (0 when it does not say), for the progress bar."""
    import cv2

    from visiontk.runtime.opencv_io import quiet_opencv

    with quiet_opencv():
        cap = cv2.VideoCapture(str(path))
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if cap.isOpened() else 0
        cap.release()
    return max(n, 0)


def open_sources(specs, *, split: str = "val") -> list[Source]:
    """Each SOURCE argument checked and classified (nothing is decoded yet).

    Args:
        specs: image / video / list files, folders, globs, camera indexes and URLs.
        split: the split a COCO dataset folder gives (its annotations/instances_<split>.json).

    Raises:
        SourceError: a path that does not exist, a glob that matches nothing, a folder without
            images, a list file that cannot be read, a camera or stream that cannot be opened.

    Example:
        >>> [type(s).__name__ for s in open_sources(["images/", "todo.txt", "a.png"])]
        ['Folder', 'ListFile', 'Files']
    """
    from visiontk.infer.coco_ids import is_coco_root

    sources: list[Source] = []
    for spec in map(str, specs):
        path = Path(spec).expanduser()
        if spec.isdigit() or "://" in spec:
            sources.append(Live(spec))
        elif path.is_dir():
            if is_coco_root(path):
                sources.append(CocoSplit(path, split))
            elif next(Folder(path)._walk(path), None) is None:
                raise SourceError(f"{spec}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in "
                                  f"this folder or below it")
            else:
                sources.append(Folder(path))
        elif path.is_file():
            if path.suffix.lower() in LIST_SUFFIXES:
                _check_readable(path)
                sources.append(ListFile(path))
            else:
                sources.append(Files([path]))
        elif GLOB_CHARS & set(spec):
            sources.append(_glob(spec))
        else:
            raise SourceError(f"{spec}: not found (no such file or folder; a SOURCE is an image, "
                              f"a folder, a quoted glob such as 'images/*.jpg', a .txt list of "
                              f"paths, a video, a camera index or a stream URL)")
    return sources


def _glob(pattern: str) -> Files:
    """The image and video files a glob matches (`**` spans folders), in name order."""
    found = sorted(Path(p) for p in glob.iglob(os.path.expanduser(pattern), recursive=True))
    media = [p for p in found
             if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES]
    if not media:
        raise SourceError(f"{pattern}: the glob matches no image or video file"
                          f"{f' ({len(found)} other paths)' if found else ''}")
    base = Path(os.path.expanduser(pattern.split("*")[0].split("?")[0].split("[")[0]))
    return Files(media, base if base.is_dir() else base.parent)


def _check_readable(path: Path) -> None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            f.read(1)
    except OSError as exc:
        raise SourceError(f"{path}: cannot read this list of paths ({exc.strerror})") from None
