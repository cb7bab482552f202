"""Run Jupyter Book on a prepared book folder, check it is offline, print a PDF.

The book template lives in ``books/template`` (shipped inside the wheel as
``evalkit/_bundled/book``). The build is offline: nothing is fetched from the
web; after the build the HTML is checked for external script, stylesheet,
image and font URLs. The one URL Jupyter Book 1.x always writes (the Thebe
loader, fetched only when a reader presses a live-code button, which evalkit
turns off) is removed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from ..errors import EvalkitError, InputError

__all__ = ["book_template_dir", "run_jupyter_book", "strip_external_urls",
           "external_urls", "find_chromium", "print_pdf", "ReportBuildError"]


class ReportBuildError(EvalkitError):
    """The book failed to build (a cell failed, a warning under -W, a leak found)."""


def book_template_dir() -> Path:
    """The book template folder (inside the wheel, or the source tree)."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "_bundled" / "book", here.parent / "books" / "template"):
        if (candidate / "_config.yml").exists():
            return candidate
    raise InputError("evalkit's report template is missing from this installation; "
                     "reinstall evalkit.")


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run_jupyter_book(book_dir: Path, *, builder: str = "html", progress: bool = True,
                     env: dict[str, str] | None = None, log_file: Path | None = None) -> Path:
    """Run ``jupyter-book build -W --keep-going`` on ``book_dir``; return the output folder.

    The full log goes to ``log_file``; with ``progress`` each chapter is named
    on stderr as it executes.

    Raises
    ------
    ReportBuildError
        With the end of the log when the build fails (a failing cell or any warning).
    """
    cmd = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()",
           "build", str(book_dir), "--builder", builder, "-W", "--keep-going", "--all"]
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env.setdefault("MPLBACKEND", "Agg")
    # The chapters' kernel must import the same evalkit as this process.
    pkg_root = str(Path(__file__).resolve().parents[2])
    full_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (pkg_root, full_env.get("PYTHONPATH", "")) if p)
    full_env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    log_file = log_file or (book_dir.parent / f"jupyter-book-{builder}.log")
    lines: list[str] = []
    with open(log_file, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env=full_env, cwd=book_dir)
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            lines.append(line)
            clean = _ANSI.sub("", line).strip()
            if progress and "Executing notebook" in clean or (progress and "Executing:" in clean):
                print(f"    {clean[:120]}", file=sys.stderr, flush=True)
        rc = proc.wait()
    if rc != 0:
        tail = _ANSI.sub("", "".join(lines[-80:]))
        raise ReportBuildError(
            f"The report book failed to build (jupyter-book exit code {rc}). The end of the "
            f"build log ({log_file}) says:\n{tail}")
    return book_dir / "_build" / builder


_THEBE_RE = re.compile(r'const THEBE_JS_URL = "https?://[^"]*";')
_EXTERNAL_RE = re.compile(
    r'<(?:script|link|img|iframe|source|embed|object)\b[^>]*?\b(?:src|href|data)='
    r'"((?:https?:)?//[^"]+)"', re.I)
_CSS_URL_RE = re.compile(r"url\(\s*['\"]?((?:https?:)?//[^'\")]+)", re.I)
_IMPORT_RE = re.compile(r"@import\s+(?:url\()?['\"]?((?:https?:)?//[^'\")]+)", re.I)


def strip_external_urls(html_dir: Path) -> int:
    """Remove the Thebe loader URL from every page. Returns the number of pages changed."""
    changed = 0
    for page in html_dir.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        new = _THEBE_RE.sub('const THEBE_JS_URL = "";', text)
        if new != text:
            page.write_text(new, encoding="utf-8")
            changed += 1
    return changed


def external_urls(html_dir: Path) -> list[tuple[str, str]]:
    """(file, url) for every script, stylesheet, image or font a page loads from the web."""
    found = []
    for f in sorted(html_dir.rglob("*")):
        suffix = f.suffix.lower()
        if suffix not in (".html", ".css"):
            continue
        text = f.read_text(encoding="utf-8", errors="replace")
        pats = [_CSS_URL_RE, _IMPORT_RE] + ([_EXTERNAL_RE] if suffix == ".html" else [])
        for pat in pats:
            for m in pat.finditer(text):
                found.append((str(f.relative_to(html_dir)), m.group(1)))
        if suffix == ".html" and _THEBE_RE.search(text):
            found.append((str(f.relative_to(html_dir)), "THEBE_JS_URL"))
    return found


def find_chromium() -> str | None:
    """Path of a headless-capable Chromium/Chrome on PATH, or ``None``."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable",
                 "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def print_pdf(single_html: Path, pdf_path: Path, *, timeout: int = 180) -> Path:
    """Print a single-page HTML build to PDF with headless Chromium.

    Raises
    ------
    ReportBuildError
        If Chromium is not installed (saying how to install it) or printing fails.
    """
    chromium = find_chromium()
    if chromium is None:
        raise ReportBuildError(
            "--pdf needs Chromium to print the report, and none was found on PATH. Install "
            "it (Debian/Ubuntu: 'sudo apt install chromium'; elsewhere install Google Chrome "
            "and put it on PATH) and run the command again. The HTML report was built.")
    profile = pdf_path.parent / ".chromium-profile"
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={profile}", "--no-pdf-header-footer",
           f"--print-to-pdf={pdf_path}", single_html.resolve().as_uri()]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ReportBuildError(f"Chromium did not finish printing the PDF in {timeout} s."
                               ) from None
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    if res.returncode != 0 or not pdf_path.exists():
        raise ReportBuildError(f"Chromium failed to print the PDF: {res.stderr[-2000:]}")
    return pdf_path
