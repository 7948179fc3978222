"""What a failed browser test leaves behind: a screenshot of each step and of every open page."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page


def slug(text: str) -> str:
    """Return ``text`` as a safe file or directory name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:120] or "step"


@dataclass
class Artifacts:
    """The steps of one test, kept in memory and written out only if the test fails."""

    pages: list[Page] = field(default_factory=list)
    steps: list[tuple[str, bytes]] = field(default_factory=list)
    saved: bool = False

    def shot(self, page: Page, name: str) -> None:
        """Remember how ``page`` looks at this step (what the window shows: whole long pages
        would cost up to a second each; the pages left open are taken whole at the end)."""
        self.steps.append((name, page.screenshot()))

    def save(self, directory: Path) -> list[Path]:
        """Write the steps, then each page still open as the test ended; return the images."""
        if directory.exists():
            for old in directory.iterdir():
                old.unlink()
        if not self.steps and not self.pages:
            return []
        directory.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        for number, (name, png) in enumerate(self.steps, start=1):
            path = directory / f"{number:02d}-{slug(name)}.png"
            path.write_bytes(png)
            written.append(path)
        for number, page in enumerate(self.pages, start=1):
            if page.is_closed():
                continue
            final = directory / f"end-page{number}.png"
            try:
                page.screenshot(path=str(final), full_page=True)
                (directory / f"end-page{number}.html").write_text(
                    f"<!-- {page.url} -->\n{page.content()}", encoding="utf-8"
                )
            except PlaywrightError as error:  # a crashed page must not hide the test's failure
                (directory / f"end-page{number}.txt").write_text(
                    f"{page.url}: no screenshot ({error})", encoding="utf-8"
                )
                continue
            written.append(final)
        return written
