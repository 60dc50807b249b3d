"""The ``rules:`` section of feeds.yaml as the text an editor changes in the web app.

The editor sees the section's own lines, as written (comments, order, quoting), without its
indentation; saving puts the changed lines back in place of the old ones and leaves every
other byte of the file as it was.  Splicing the text keeps the file more faithfully than
re-serialising a document would: a comment above ``sources:`` belongs, for a YAML library,
to the last rule before it, and would travel with the rules.

The whole new file is validated as ``curator check`` does (:func:`curator.config_edit.validate`)
before anything is written, and a problem inside the section is reported at its line in the
editor's text.  Writing goes through :func:`curator.config_edit.replace_text`: by rename,
under the file's lock, refused (:class:`~curator.config_edit.ConfigChanged`) when the file
changed since the editor's page was made.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from curator import config, config_edit
from curator.exceptions import ConfigError, Problem

__all__ = ["Section", "preview", "read", "save", "section"]

#: What problems inside the editor's text are reported as being in.
TEXT_NAME = "the rules text"

#: The largest rules text accepted (a few hundred terms take about 20 KB).
MAX_TEXT = 512 * 1024


@dataclass(frozen=True)
class Section:
    """Where the ``rules:`` section is in a file's lines, and its text for the editor.

    Lines ``start`` to ``end`` (0-based, ``end`` excluded) are replaced on saving; the
    editor's text begins at line ``body_start`` (the line after ``rules:`` for a block).
    """

    text: str  # the whole file
    version: str  # config_edit.version(text)
    start: int
    end: int
    body_start: int
    body: str  # the section's mapping, unindented: what the editor shows
    key_line: str | None  # "rules:" with any comment on it, kept when saving a block


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def section(text: str, name: str = "feeds.yaml") -> Section:
    """The ``rules:`` section of *text*; ConfigError when the text is not a YAML mapping."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError as e:
        raise ConfigError([Problem(name, None, "", f"not valid YAML: {e}")]) from None
    lines = _lines(text)
    n = len(lines)
    if node is None:
        return Section(text, config_edit.version(text), n, n, n, "", None)
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError([Problem(name, 1, "", "expected a mapping of sections (rules:…)")])
    keys = [(k.value, k.start_mark.line, v) for k, v in node.value]
    for i, (key, line, value) in enumerate(keys):
        if key != "rules":
            continue
        end = keys[i + 1][1] if i + 1 < len(keys) else len(lines)
        # Blank lines and comments at the left margin just before the next key head the
        # next section ("# ---- sources"): they stay where they are.
        while end > line + 1 and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
            end -= 1
        if value.start_mark.line > line:  # a block: "rules:" on a line of its own
            body = _dedent(lines[line + 1 : end])
            return Section(text, config_edit.version(text), line, end, line + 1, body, lines[line])
        inline = lines[line][value.start_mark.column :] + "".join(lines[line + 1 : end])
        return Section(text, config_edit.version(text), line, end, line, inline, None)
    return Section(text, config_edit.version(text), n, n, n, "", None)


def _dedent(lines: list[str]) -> str:
    """The lines without the indentation their keys share (comments may sit further left)."""
    indents = [
        len(line) - len(line.lstrip(" "))
        for line in lines
        if line.strip() and not line.lstrip().startswith("#")
    ]
    cut = min(indents, default=0)
    out = []
    for line in lines:
        lead = len(line) - len(line.lstrip(" "))
        out.append(line[min(lead, cut) :])
    return "".join(out)


def read(path: Path) -> Section:
    """The rules section of the file at *path*."""
    return section(config_edit.read_text(path), str(path))


@dataclass(frozen=True)
class Spliced:
    """The file with the editor's text in place of the rules section."""

    text: str
    body_start: int  # 0-based line of the editor's first line in ``text``
    body_lines: int
    shift: int  # how many lines the file's later lines moved


def splice(current: Section, body: str) -> Spliced:
    """*current*'s file with *body* (the editor's text) as its rules section."""
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    body_lines = _lines(body) if body.strip() else []
    lines = _lines(current.text)
    before, after = lines[: current.start], lines[current.end :]
    if before and not before[-1].endswith("\n"):
        before[-1] += "\n"
    if not body_lines:
        block = ["rules: {}\n"]
    else:
        if not body_lines[-1].endswith("\n"):
            body_lines[-1] += "\n"
        key = current.key_line if current.key_line is not None else "rules:\n"
        if not key.endswith("\n"):
            key += "\n"
        block = [key, *(("  " + line) if line.strip() else line for line in body_lines)]
    text = "".join([*before, *block, *after])
    old = current.end - current.start
    return Spliced(text, current.start + 1, len(body_lines), len(block) - old)


def _located(problem: Problem, spliced: Spliced, current: Section, name: str) -> Problem:
    """*problem* (found in the spliced file) at its line in the editor's text, or at its
    line in the file as it stands."""
    if problem.line is None:
        inside = problem.key == "rules" or problem.key.startswith("rules.")
        return replace(problem, file=TEXT_NAME) if inside else problem
    index = problem.line - 1
    if spliced.body_start <= index < spliced.body_start + spliced.body_lines:
        return replace(problem, file=TEXT_NAME, line=index - spliced.body_start + 1)
    if index == spliced.body_start - 1:  # the "rules:" line: the text as a whole
        return replace(problem, file=TEXT_NAME, line=None)
    if index >= spliced.body_start + spliced.body_lines:
        return replace(problem, file=name, line=problem.line - spliced.shift)
    return replace(problem, file=name)


def preview(current: Section, body: str, name: str) -> tuple[Spliced, config.Config]:
    """The file *body* would make and its validated configuration; ConfigError listing the
    problems, each at its line in the editor's text (or in the file, outside the rules)."""
    if len(body) > MAX_TEXT:
        raise ConfigError(
            [Problem(TEXT_NAME, None, "rules", f"longer than {MAX_TEXT // 1024} KB: shorten it")]
        )
    if re.search(r"^(---|\.\.\.)\s*$", body, re.MULTILINE):
        raise ConfigError(
            [Problem(TEXT_NAME, None, "rules", "the text may hold only the rules, not '---'")]
        )
    _check_syntax(body)
    spliced = splice(current, body)
    try:
        cfg = config_edit.validate(spliced.text, name)
    except ConfigError as e:
        raise ConfigError([_located(p, spliced, current, name) for p in e.problems]) from None
    return spliced, cfg


def _check_syntax(body: str) -> None:
    """A YAML syntax error in the editor's text, at its line there.  Read inside the whole
    file, an unclosed ``[`` is only found at the next section, a line the editor never saw."""
    try:
        yaml.compose(body, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        what = e.problem or "not valid YAML"
        raise ConfigError([Problem(TEXT_NAME, line, "rules", f"not valid YAML: {what}")]) from None
    except (yaml.YAMLError, RecursionError):
        pass  # the whole file's check below says what is wrong


def save(path: Path, body: str, *, expected_version: str) -> config_edit.Edited:
    """Write *body* as the rules section of the file at *path*, validated first; refused
    with ConfigChanged when the file is no longer the version the editor started from."""
    current = read(path)
    if current.version != expected_version:
        raise config_edit.ConfigChanged(path)
    spliced, _ = preview(current, body, str(path))
    return config_edit.replace_text(path, spliced.text, expected_version=expected_version)
