"""Drive OHIF 3.13.2 in Debian's chromium (Playwright, no browser download) as a radiologist would.

Open a study, double-click a series thumbnail, answer OHIF's prompts ("Do you want to open this
Segmentation?", "Do you want to continue tracking measurements for this study?"), read what the viewer
shows: the Segmentation panel's rows, the slice the viewport jumped to, the SR labels drawn on the image
(SVG text of the annotation layer), and the screenshots. Selectors are OHIF 3.13.2's data-cy attributes
(the ohif-check kit found them; docs/viewer.md).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
# headless chromium renders WebGL on the CPU (SwiftShader); OHIF needs WebGL for its viewports
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--ignore-gpu-blocklist",
    "--disable-dev-shm-usage",
]
THUMBNAILS = "[data-cy=study-browser-thumbnail-no-image], [data-cy=study-browser-thumbnail]"
SLICE = re.compile(r"(\d+)\s*/\s*(\d+)")


@dataclass
class OhifPage:
    page: Any
    shots: Path
    console: list[str] = field(default_factory=list)

    @classmethod
    def new(cls, browser: Any, shots: Path) -> OhifPage:
        context = browser.new_context(viewport={"width": 1600, "height": 1000})
        # OHIF's first-visit tour would cover the viewport
        context.add_init_script("localStorage.setItem('shownTours', JSON.stringify(['basicViewerTour']));")
        page = context.new_page()
        page.set_default_timeout(30000)
        found = cls(page, shots)
        page.on("console", lambda m: found.console.append(f"[{m.type}] {m.text[:500]}"))
        page.on("pageerror", lambda e: found.console.append(f"[pageerror] {str(e)[:500]}"))
        return found

    def close(self) -> None:
        self.page.context.close()

    def shot(self, name: str) -> Path:
        self.shots.mkdir(parents=True, exist_ok=True)
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def errors(self) -> list[str]:
        return [c for c in self.console if c.startswith(("[error]", "[pageerror]")) or "Error Boundary" in c]

    def open_study(self, url: str, study_uid: str) -> None:
        self.page.goto(f"{url}/viewer?StudyInstanceUIDs={study_uid}", wait_until="domcontentloaded")
        self.page.wait_for_selector("[data-cy=viewport-pane]", timeout=90000)
        self.page.wait_for_selector("[data-cy=series-description-label]", timeout=90000)

    def open_series(self, modality: str, number: int) -> None:
        """Double-click the thumbnail of series ``number`` (OHIF labels it 'S:<number>' and the modality)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            thumbs = self.page.locator(THUMBNAILS)
            for index in range(thumbs.count()):
                text = thumbs.nth(index).inner_text()
                if modality in text and re.search(rf"S:\s*{number}\b", text):
                    thumbs.nth(index).dblclick()
                    return
            self.page.wait_for_timeout(500)
        raise AssertionError(f"no {modality} thumbnail for series {number} in OHIF's study browser")

    def answer_yes(self, timeout_s: float) -> bool:
        """Press 'Yes' if OHIF asks within ``timeout_s`` seconds."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            yes = self.page.get_by_role("button", name="Yes")
            if yes.count():
                yes.first.click()
                return True
            self.page.wait_for_timeout(250)
        return False

    def viewport_text(self) -> str:
        script = "() => document.querySelector('[data-cy=viewport-grid]')?.innerText ?? ''"
        return str(self.page.evaluate(script))

    def slice_shown(self) -> tuple[int, int] | None:
        """(index from 0, count) of the image in the active viewport ('n/N', bottom right)."""
        text = self.page.locator("[data-cy=viewport-overlay-bottom-right]").first.inner_text()
        found = SLICE.search(text)
        return (int(found.group(1)) - 1, int(found.group(2))) if found else None

    def segment_rows(self, expected: int, timeout_s: float = 90) -> list[str]:
        """Open the Segmentation panel and wait until it lists ``expected`` segments; their labels."""
        self.page.locator("[data-cy=panelSegmentation-btn]").first.click()
        rows = self.page.locator("[data-cy=data-row]")
        deadline = time.monotonic() + timeout_s
        while rows.count() < expected and time.monotonic() < deadline:
            if any("failed to load" in c for c in self.console):
                break
            self.page.wait_for_timeout(500)
        return [" ".join(rows.nth(i).inner_text().split()) for i in range(rows.count())]

    def jump_to_segment(self, index: int) -> tuple[int, int] | None:
        """Click segment row ``index`` (OHIF jumps to the segment); the slice the viewport then shows."""
        before = self.slice_shown()
        self.page.locator("[data-cy=data-row]").nth(index).click()
        deadline = time.monotonic() + 2  # the next segment may lie on the slice already shown
        while self.slice_shown() == before and time.monotonic() < deadline:
            self.page.wait_for_timeout(200)
        self.page.mouse.move(5, 995)  # away from the row: its statistics card would cover the image
        self.page.wait_for_timeout(500)
        return self.slice_shown()

    def sr_labels(self) -> list[str]:
        """The text of every annotation drawn in the viewport (each 'concept: value unit' line joined)."""
        found = self.page.evaluate(
            "() => Array.from(document.querySelectorAll('[data-cy=viewport-grid] svg text'))"
            ".map(t => t.textContent).filter(t => t && t.trim())"
        )
        return [str(t) for t in found]

    def next_measurement(self) -> None:
        """The SR viewport's '>' arrow: jump to the next measurement (and its image)."""
        self.page.locator("[data-cy=viewport-action-arrows-right]").first.click()
        self.page.wait_for_timeout(1200)
