"""The message catalogs as files: extract the marked messages, merge them into each ``.po``, compile ``.mo``,
and check that every message is translated with the same placeholders. Uses Babel (the dev extra; a build
requirement), imported inside each function: running the tool never needs it.

Used by ``setup.py`` (the ``.mo`` compiled at build time), by ``tuner.i18n`` (a ``.po`` newer than its
``.mo`` in a source tree), by ``scripts/i18n`` and by ``tests/test_i18n.py``.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parent
REPO = PACKAGE.parent
LOCALE_DIR = PACKAGE / "locale"
DOMAIN = "chatchat_tune"
KEYWORDS = {"_": None, "ngettext": (1, 2)}
# {name}, {name:spec}, {name!r}, {} (not {{ }}), and printf's %s, %(name)s, %d, %.1f.
_PLACEHOLDER = re.compile(
    r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*|)(![rsa])?(:[^{}]*)?\}(?!\})|%(\([a-z_]+\))?[-#0 +]*\d*(\.\d+)?[sdifr]"
)


@dataclass(frozen=True)
class Problem:
    """One message that fails the check: its English text and what is wrong."""

    message: str
    problem: str


def po_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def locales() -> list[str]:
    return sorted(p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def _version() -> str:
    from tuner import __version__

    return __version__


def extract(root: Path = PACKAGE) -> Any:
    """Every message marked with ``_`` or ``ngettext`` under ``root``, as a Babel ``Catalog``."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir

    catalog = Catalog(
        project="chatchat-tune",
        version=_version(),
        domain=DOMAIN,
        charset="utf-8",
        fuzzy=False,
        msgid_bugs_address="chatchat-tune issues",
        header_comment="# Messages of chatchat-tune (tuner/); regenerate with scripts/i18n update.",
    )
    for filename, lineno, message, comments, context in extract_from_dir(
        str(root),
        method_map=[("**.py", "python")],
        keywords=KEYWORDS,
        comment_tags=("i18n:",),
        strip_comment_tags=True,
    ):
        location = ((Path(root.name) / filename).as_posix(), lineno)  # tuner/..., stable across machines
        catalog.add(message, None, [location], auto_comments=comments, context=context)
    for docstring, location in command_docstrings(root):
        catalog.add(docstring, None, [location], auto_comments=["the command's help (its docstring)"])
    return catalog


def command_docstrings(root: Path = PACKAGE) -> list[tuple[str, tuple[str, int]]]:
    """The docstrings of the commands in ``tuner.cli.app.COMMANDS``: their help, which
    ``tuner.cli.lazy.docstring_help`` translates (Babel's extractor does not see docstrings). Both files are
    read with ``ast`` (the core never imports the CLI); dedented as ``inspect.cleandoc`` does."""
    import ast

    app = ast.parse((root / "cli" / "app.py").read_text(encoding="utf-8"))
    targets = [
        element.elts[0].value
        for node in app.body
        if isinstance(node, ast.AnnAssign | ast.Assign) and isinstance(node.value, ast.Dict)
        and "COMMANDS" in ast.unparse(node.targets[0] if isinstance(node, ast.Assign) else node.target)
        for element in node.value.values
        if isinstance(element, ast.Tuple) and isinstance(element.elts[0], ast.Constant)
    ]  # fmt: skip
    found: list[tuple[str, tuple[str, int]]] = []
    for target in targets:
        module, _sep, function = str(target).partition(":")
        path = root.parent / Path(*module.split(".")).with_suffix(".py")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == function:
                doc = ast.get_docstring(node, clean=True)
                if doc:
                    location = (path.relative_to(root.parent).as_posix(), node.lineno)
                    found.append((doc, location))
    return found


def _read(path: Path, locale: str | None = None) -> Any:
    from babel.messages.pofile import read_po

    with path.open("rb") as fp:
        return read_po(fp, locale=locale, domain=DOMAIN)


def _write(path: Path, catalog: Any, **options: Any) -> None:
    from babel.messages.pofile import write_po

    buffer = io.BytesIO()
    write_po(buffer, catalog, width=100, omit_header=False, include_lineno=False, **options)  # fewer diffs
    data = re.sub(rb'"POT-Creation-Date: [^"]*\\n"\n', b"", buffer.getvalue())  # stable diffs
    data = re.sub(rb'"PO-Revision-Date: [^"]*\\n"\n', b"", data)
    if not path.is_file() or path.read_bytes() != data:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def update() -> list[Path]:
    """Extract, write the ``.pot``, merge it into every ``.po`` (no fuzzy guesses; messages gone are kept
    as obsolete ``#~`` entries), compile every ``.mo``. The files written."""
    template = extract()
    pot = LOCALE_DIR / f"{DOMAIN}.pot"
    _write(pot, template, ignore_obsolete=True)
    written = [pot]
    for locale in locales():
        po = po_path(locale)
        catalog = _read(po, locale)
        catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
        _write(po, catalog)
        written.append(po)
    written.extend(compile_all())
    return written


def compile_po(po: Path) -> bytes | None:
    """The ``.mo`` bytes for ``po`` (fuzzy and empty entries left out); ``None`` when Babel is missing."""
    try:
        from babel.messages.mofile import write_mo
    except ImportError:
        return None
    buffer = io.BytesIO()
    write_mo(buffer, _read(po), use_fuzzy=False)
    return buffer.getvalue()


def compile_all(locale_dir: Path = LOCALE_DIR) -> list[Path]:
    """Compile every ``.po`` under ``locale_dir`` into the ``.mo`` beside it (rewritten only if changed)."""
    written = []
    for po in sorted(locale_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        data = compile_po(po)
        if data is None:
            raise RuntimeError(
                "Babel is needed to compile the message catalogs: pip install 'babel>=2.12,<3'"
            )
        mo = po.with_suffix(".mo")
        if not mo.is_file() or mo.read_bytes() != data:
            mo.write_bytes(data)
        elif mo.stat().st_mtime < po.stat().st_mtime:
            mo.touch()
        written.append(mo)
    return written


def placeholders(text: str) -> Counter[str]:
    """The placeholders in ``text``, counted: ``{name}`` by name, printf forms as written."""
    found: Counter[str] = Counter()
    for m in _PLACEHOLDER.finditer(text):
        found["{" + m.group(1) + "}" if m.group(0).startswith("{") else m.group(0)] += 1
    return found


def check(locale: str) -> list[Problem]:
    """Every marked message missing from ``locale``'s ``.po``, untranslated or fuzzy there, or translated
    with other placeholders; and a ``.mo`` that is not the ``.po`` compiled."""
    import gettext

    catalog = _read(po_path(locale), locale)
    problems: list[Problem] = []
    for message in extract():
        if not message.id:
            continue
        entry = catalog.get(message.id, context=message.context)
        key = message.id if isinstance(message.id, str) else message.id[0]
        if entry is None:
            problems.append(Problem(key, "not in the .po (run scripts/i18n update)"))
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [entry.string] if isinstance(entry.string, str) else list(entry.string)
        if entry.fuzzy or not all(strings):
            problems.append(Problem(key, "not translated" + (" (fuzzy)" if entry.fuzzy else "")))
            continue
        wanted = placeholders(ids[-1]) | placeholders(ids[0])
        for string in strings:
            if set(placeholders(string)) != set(wanted):
                problems.append(
                    Problem(key, f"placeholders differ: {sorted(wanted)} vs {sorted(placeholders(string))}")
                )
    mo = po_path(locale).with_suffix(".mo")
    built = compile_po(po_path(locale))
    if not mo.is_file():
        problems.append(Problem(str(mo), "no .mo (pip install -e . or scripts/i18n compile)"))
    elif built is not None:
        with mo.open("rb") as fp:
            have = gettext.GNUTranslations(fp)._catalog  # type: ignore[attr-defined]
        want = gettext.GNUTranslations(io.BytesIO(built))._catalog  # type: ignore[attr-defined]
        have.pop("", None)  # the header: Babel stamps the compile time into it
        want.pop("", None)
        if have != want:
            problems.append(Problem(str(mo), "the .mo is stale: it is not the .po compiled"))
    return problems
