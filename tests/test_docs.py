"""The README and docs/ stay in step with the code: every relative link (and #anchor) resolves, and every
command-line flag a command in them names is one that command's argparse parser has.

Commands are found in fenced code blocks and inline code spans: the console scripts of setup.py (optionally
`.venv/bin/...`), `python -m spacemind_ros...` / `python -m bench...` (also under torchrun), `bench/X.py` and
`scripts/X.sh`. A flag is checked against the subcommand's parser where one is named, else against every parser of
that command. Flags after `--ros-args` (ROS's) and the arguments of `scripts/test.sh` (pytest's) are not checked;
`NAME:=VALUE` launch arguments have no dash and are not flags. A flag in prose (a code span with no command) is
checked against the last command named in the same sentence, else against every parser we have.
"""
from __future__ import annotations

import argparse
import importlib
import re
import shlex
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["workstation", "engines", "training", "evaluation", "scenes", "small-model", "geometry", "reliability",
         "performance", "development", "interfaces", "many-robots"]
README_MAX_LINES = 260

# command -> module with build_parser(); None: the command takes no argparse flags of ours
CONSOLE = {
    "spacemind": "spacemind_ros.cli",
    "spacemind_node": "spacemind_ros.ros.node",  # --robots; rclpy's arguments follow --ros-args
    "spacemind_launch": "spacemind_ros.ros.runner",
    "spacemind-scenes": "spacemind_ros.scenes.cli",
    "spacemind-train": "spacemind_ros.train.cli",
    "spacemind-eval": "spacemind_ros.eval.cli",
    "spacemind-engine": "spacemind_ros.engine.cli",
    "image_player": "spacemind_ros.ros.image_player",
}
MODULES = {  # python -m MODULE -> the module whose build_parser() it runs
    "spacemind_ros.scenes": "spacemind_ros.scenes.cli",
    "spacemind_ros.train.cli": "spacemind_ros.train.cli",
    "spacemind_ros.train.small_recipe": "spacemind_ros.train.small_recipe",
    "spacemind_ros.train.overfit": "spacemind_ros.train.overfit",
    "spacemind_ros.ros.image_player": "spacemind_ros.ros.image_player",
    "spacemind_ros.eval.cli": "spacemind_ros.eval.cli",
    "spacemind_ros.engine.cli": "spacemind_ros.engine.cli",
    "spacemind_ros.demo": "spacemind_ros.demo",
    "spacemind_ros.train.config": None,  # regenerates config/train/*.yaml, no flags
    "bench": "bench.__main__",
    "bench.gpu_check": "bench.gpu_check",
    "bench.fleet_bench": "bench.fleet_bench",
}
SCRIPTS = {  # scripts/X.sh -> what it forwards its arguments to ("pytest": not checked)
    "demo.sh": "spacemind_ros.demo",
    "gpu_check.sh": "bench.gpu_check",
    "test.sh": "pytest",
    "setup.sh": None,
    "build_interfaces.sh": None,  # VENV [PACKAGE_DIR], no flags
    "experiment_geometry.sh": None,  # RUNS NAME [OVERRIDE...], no flags
}
FLAG = re.compile(r"^--?[A-Za-z][\w-]*$")
SEPARATORS = {"&&", "||", ";", "&"}


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


# --- markdown ----------------------------------------------------------------------------------------------------

def split_fences(text: str) -> tuple[list[tuple[int, str]], list[tuple[int, str, str]]]:
    """(prose lines, fenced lines) as (line number, text) / (line number, text, info string)."""
    prose, fenced, info = [], [], None
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("```"):
            info = stripped[3:].strip() if info is None else None
            continue
        (prose.append((n, line)) if info is None else fenced.append((n, line, info)))
    return prose, fenced


def prose_text(path: Path) -> tuple[str, list[int]]:
    """Prose with fenced lines blanked (so offsets map to line numbers) and each line's start offset."""
    prose, _ = split_fences(path.read_text())
    lines = path.read_text().splitlines()
    kept = dict(prose)
    text = "\n".join(kept.get(n, "") for n in range(1, len(lines) + 1))
    starts, pos = [], 0
    for line in text.split("\n"):
        starts.append(pos)
        pos += len(line) + 1
    return text, starts


def line_of(starts: list[int], offset: int) -> int:
    lo, hi = 0, len(starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if starts[mid] <= offset else (lo, mid - 1)
    return lo + 1


CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: links reduced to their text, lowercase, punctuation but - and _ dropped,
    spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@cache
def anchors(path: Path) -> set[str]:
    found, seen = set(), {}
    for _, line in split_fences(path.read_text())[0]:
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            base = slug(m.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return found


LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def links(path: Path):
    text, starts = prose_text(path)
    masked = CODE_SPAN.sub(lambda m: " " * len(m.group(0)), text)  # no links inside code spans
    for m in LINK.finditer(masked):
        yield line_of(starts, m.start()), m.group(1)


def link_problems(path: Path) -> list[str]:
    problems = []
    for line, target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        where = f"{rel(path)}:{line}: ({target})"
        if not dest.exists():
            problems.append(f"{where} {file_part} does not exist")
        elif anchor:
            if dest.is_dir() or dest.suffix != ".md":
                problems.append(f"{where} an anchor into a file that is not markdown")
            elif anchor not in anchors(dest):
                problems.append(f"{where} no heading in {rel(dest)} has the anchor #{anchor}")
    return problems


# --- parsers -----------------------------------------------------------------------------------------------------

@cache
def parser_of(module: str) -> argparse.ArgumentParser:
    return importlib.import_module(module).build_parser()


def options(parser: argparse.ArgumentParser) -> set[str]:
    return {s for a in parser._actions for s in a.option_strings}


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            return dict(a.choices)
    return {}


def all_options(parser: argparse.ArgumentParser) -> set[str]:
    found = options(parser)
    for sub in subparsers(parser).values():
        found |= all_options(sub)
    return found


@cache
def every_flag() -> frozenset[str]:
    modules = {m for m in (*CONSOLE.values(), *MODULES.values(), *SCRIPTS.values()) if m and m != "pytest"}
    modules |= {f"bench.{p.stem}" for p in (ROOT / "bench").glob("*.py")
                if "def build_parser" in p.read_text()}
    found = set()
    for module in modules:
        found |= all_options(parser_of(module))
    return frozenset(found)


# Flags of other programs that the docs name in prose (ROS, torchrun, pip, colcon).
FOREIGN = {"--ros-args", "--params-file", "-r", "--nproc_per_node", "--index-url", "--paths", "--cmake-args"}
SENTENCE_END = re.compile(r"[.!?](?:\s|$)|\n\s*(?:[-*+]|\d+\.)\s")  # in the prose between two code spans

# --- commands ----------------------------------------------------------------------------------------------------

def tokens(text: str) -> list[str]:
    text = text.replace("\\\n", " ")
    # $(...) in an argument list: keep the flags it may print ("$([ $p = clean ] || echo --perturb $p)")
    text = re.sub(r"\$\(([^()]*)\)", lambda m: " ".join(t for t in m.group(1).split() if FLAG.match(t)), text)
    try:
        return shlex.split(text, comments=True)
    except ValueError:  # unbalanced quotes in a prose span
        return text.split()


def command_at(toks: list[str], i: int) -> tuple[str | None, str | None, int] | None:
    """(label, parser module or None or "pytest", index of the first argument) if a command starts at toks[i]."""
    t = toks[i]
    base = t.rsplit("/", 1)[-1]
    if base in CONSOLE and (t == base or t.endswith("/bin/" + base) or "/lib/spacemind_ros/" in t):
        return base, CONSOLE[base], i + 1
    if t == "-m" and i + 1 < len(toks) and re.match(r"^(spacemind_ros|bench)(\.|$)", toks[i + 1]):
        name = toks[i + 1]
        if name not in MODULES:
            return f"python -m {name}", "unknown", i + 2
        return f"python -m {name}", MODULES[name], i + 2
    m = re.match(r"^(?:\./)?bench/(\w+)\.py$", t)
    if m:
        return f"bench/{m.group(1)}.py", f"bench.{m.group(1)}", i + 1
    m = re.match(r"^(?:\./)?scripts/([\w-]+\.sh)$", t)
    if m:
        return f"scripts/{m.group(1)}", SCRIPTS.get(m.group(1), "unknown"), i + 1
    return None


def invocations(text: str, prose: bool):
    """(label, module, subcommand or None, [flags]) for every command in a piece of text."""
    toks = tokens(text)
    i = 0
    while i < len(toks):
        found = command_at(toks, i)
        if not found:
            i += 1
            continue
        label, module, j = found
        args = []
        while j < len(toks) and toks[j] not in SEPARATORS and not command_at(toks, j):
            if toks[j] == "|" and not prose and not (j + 1 < len(toks) and toks[j + 1].startswith("-")):
                break  # a shell pipe, not a "|" between alternatives
            args.append(toks[j])
            j += 1
        yield label, module, args
        i = j


def clean(token: str) -> str:
    token = token.strip("[](){}").rstrip(",.;:")
    return token.split("=", 1)[0]


def check(label: str, module: str | None, args: list[str], where: str, problems: list[str]) -> int:
    """Check one invocation's flags; returns how many flags were checked."""
    if module == "pytest":
        return 0
    if module == "unknown":
        problems.append(f"{where}: {label}: no such command (add it to tests/test_docs.py if it is new)")
        return 0
    parser = parser_of(module) if module else None
    allowed = options(parser) if parser else set()
    subs = subparsers(parser) if parser else {}
    sub_name, checked = None, 0
    for a in args:
        if a == "--ros-args":
            break
        if subs and sub_name is None and not a.startswith("-"):
            if a in subs:
                sub_name = a
                allowed |= options(subs[a])
                continue
            if re.fullmatch(r"[a-z][a-z-]*", a):
                problems.append(f"{where}: {label}: no subcommand {a!r} (has {', '.join(subs)})")
                return checked
            allowed |= all_options(parser)  # QUESTION, ...: no subcommand named
            sub_name = ""
            continue
        flag = clean(a)
        if not FLAG.match(flag):
            continue
        checked += 1
        scope = allowed if sub_name is not None or not subs else all_options(parser)
        if flag not in scope:
            problems.append(f"{where}: {label}{' ' + sub_name if sub_name else ''}: no flag {flag}")
    return checked


def flag_problems(path: Path) -> tuple[list[str], int]:
    problems, checked = [], 0
    text = path.read_text()
    # fenced code: each logical line (backslash continuations joined) is a shell line
    _, fenced = split_fences(text)
    pending, start = "", None
    for n, line, info in fenced:
        if info not in ("", "bash", "sh", "shell", "console"):
            continue
        start = start or n
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical, pending = pending + line, ""
        for label, module, args in invocations(logical, prose=False):
            checked += check(label, module, args, f"{rel(path)}:{start}", problems)
        start = None
    # inline code spans; a span with flags but no command takes the last command named in the same sentence
    prose, starts = prose_text(path)
    for paragraph in re.finditer(r"(?:[^\n]+\n?)+", prose):
        context, last_end = None, 0
        for m in CODE_SPAN.finditer(paragraph.group(0)):
            if SENTENCE_END.search(paragraph.group(0)[last_end:m.start()]):
                context = None
            last_end = m.end()
            span = " ".join(m.group(2).split())
            where = f"{rel(path)}:{line_of(starts, paragraph.start() + m.start())}"
            found = list(invocations(span, prose=True))
            for label, module, args in found:
                checked += check(label, module, args, where, problems)
                context = (label, module, args[:1] if args and not args[0].startswith("-") else [])
            if found or not FLAG.match(clean(span.split()[0]) if span.split() else ""):
                continue
            if context:  # e.g. "(`--max-frames`, default 128)" after "`spacemind ask` checks ..."
                label, module, sub = context
                checked += check(label, module, sub + span.split(), where, problems)
            else:
                for flag in {clean(t) for t in span.split() if FLAG.match(clean(t))}:
                    checked += 1
                    if flag not in every_flag() and flag not in FOREIGN:
                        problems.append(f"{where}: {flag}: no command of this project has this flag")
    return problems, checked


# --- tests -------------------------------------------------------------------------------------------------------

def test_readme_is_short_and_every_page_exists():
    lines = len((ROOT / "README.md").read_text().splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines (at most {README_MAX_LINES}): move text to docs/"
    missing = [p for p in PAGES if not (ROOT / "docs" / f"{p}.md").is_file()]
    assert not missing, f"docs pages missing: {missing}"
    readme_links = {t.partition("#")[0] for _, t in links(ROOT / "README.md")}
    unlinked = [p for p in PAGES if f"docs/{p}.md" not in readme_links]
    assert not unlinked, f"pages the README does not link (each page is one link away): {unlinked}"


def test_every_relative_link_resolves():
    problems = [p for path in doc_files() for p in link_problems(path)]
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_every_flag_the_docs_name_exists():
    problems, checked = [], 0
    for path in doc_files():
        found, n = flag_problems(path)
        problems += found
        checked += n
    assert not problems, "flags or commands the code does not have:\n" + "\n".join(problems)
    assert checked > 100, f"only {checked} flags were checked: the command finder is broken"


@pytest.mark.parametrize("text, expected", [
    ("Benchmarks (`python -m bench`)", "benchmarks-python--m-bench"),
    ("JSON output (`ask`, `route`, `query`, `route-advice`)", "json-output-ask-route-query-route-advice"),
    ("Viewing it (RViz, Foxglove)", "viewing-it-rviz-foxglove"),
])
def test_slug_follows_github(text, expected):
    assert slug(text) == expected


def test_the_checker_catches_a_bogus_flag_and_a_broken_link(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Page\n\nSee [nothing](missing.md), [no anchor](#nowhere) and [ok](#page).\n\n"
                    "```bash\n.venv/bin/spacemind ask \"q\" --demo-scene --no-such-flag\n"
                    "bash scripts/demo.sh --preset tiny --bogus\nbash scripts/test.sh -k anything --whatever\n```\n\n"
                    "Run `spacemind-eval run --questions q.jsonl --nope` or `spacemind-scenes generate --seed 0`.\n"
                    "`spacemind ask` reads `--max-frames` and `--max-framez`.\n")
    links_found = link_problems(page)
    assert len(links_found) == 2 and "missing.md" in links_found[0] and "#nowhere" in links_found[1]
    flags, checked = flag_problems(page)
    assert [f.split(": ", 1)[1] for f in flags] == [
        "spacemind ask: no flag --no-such-flag", "scripts/demo.sh: no flag --bogus",
        "spacemind-eval run: no flag --nope", "spacemind ask: no flag --max-framez"], flags
    assert checked == 9
