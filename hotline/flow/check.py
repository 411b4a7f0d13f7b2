"""Checking flow files: the schema (pydantic), then the graph, prompts, queues and schedules.

Every problem names the file, the line in the YAML, the node and the field. A flow with any problem is
never loaded: `load_flow` raises FlowError with all of them.

Queues: a flow declares the queues it uses in its top-level ``queues:`` list, so a typo in an enqueue node
is caught from the file alone. When the caller of the check also knows the configured queues (the
``queues`` table), it passes them as `known_queues` and every declared queue must be one of them.

Prompts: a prompt NAME exists when ``<prompt_dir>/<locale>/NAME.txt`` or ``NAME.wav`` exists, or when it
is in `known_prompts`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hotline.flow.model import (
    CONSUMING_TYPES,
    NODE_TYPES,
    CallbackNode,
    CollectNode,
    EnqueueNode,
    Flow,
    FlowFile,
    MenuNode,
    ScheduleNode,
    edges,
    prompts,
)
from hotline.flow.numbers import NUMBER_PROMPTS
from hotline.flow.problems import FlowError, KeyPath, Problem, field_text
from hotline.flow.schedule import Schedule, check_schedule_file
from hotline.flow.yamlsource import Source, read_yaml

DEFAULT_GLOB = "ivr_flows/*.yaml"


def prompt_names(prompt_dir: Path, locale: str) -> set[str]:
    """Names of the prompts present for a locale (texts and recordings)."""
    folder = prompt_dir / locale
    if not folder.is_dir():
        return set()
    return {p.stem for p in folder.iterdir() if p.suffix in (".txt", ".wav")}


class _Checker:
    def __init__(self, src: Source) -> None:
        self.src = src
        self.problems: list[Problem] = []

    def add(self, path: KeyPath, message: str, line_path: KeyPath | None = None) -> None:
        """Record a problem at `path` (from the document root); the node is path[1] under ``nodes``."""
        node: str | None = None
        inner: KeyPath = path
        if len(path) >= 2 and path[0] == "nodes":
            node, inner = str(path[1]), path[2:]
        line = self.src.line(line_path if line_path is not None else path)
        self.problems.append(Problem(self.src.file, line, node, field_text(inner), message))


def _schema_message(err: Mapping[str, Any], model: type[Any] | None) -> str:
    kind = str(err["type"])
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        allowed = ""
        if model is not None:
            allowed = "; allowed: " + ", ".join(f.alias or n for n, f in model.model_fields.items() if n != "type")
        return f"unknown field{allowed}"
    if kind == "union_tag_invalid":
        return f"unknown node type {err['ctx']['tag']!r}; expected one of: {', '.join(NODE_TYPES)}"
    if kind == "union_tag_not_found":
        return f"node has no type; expected one of: {', '.join(NODE_TYPES)}"
    if kind == "model_attributes_type":
        return "expected a mapping of fields"
    if kind == "literal_error":
        return f"expected {err['ctx']['expected']}, got {err.get('input')!r}"
    if kind == "string_pattern_mismatch":
        return f"{err.get('input')!r} does not match the pattern {err['ctx']['pattern']}"
    return str(err["msg"]).removeprefix("Value error, ")


def _schema_problems(checker: _Checker, exc: ValidationError) -> None:
    data = checker.src.data
    nodes = data.get("nodes") if isinstance(data, dict) else None
    for err in exc.errors():
        loc: KeyPath = tuple(err["loc"])
        model: type[Any] | None = None
        if len(loc) >= 3 and loc[0] == "nodes" and isinstance(nodes, dict):
            raw = nodes.get(loc[1])
            tag = raw.get("type") if isinstance(raw, dict) else None
            if loc[2] == tag and tag in NODE_TYPES:
                loc = loc[:2] + loc[3:]
                model = NODE_TYPES[str(tag)]
        elif len(loc) == 1 or loc[:1] != ("nodes",):
            model = FlowFile
        line_loc = loc
        if loc and loc[-1] == "[key]":
            loc = loc[:-1]
            line_loc = loc
        if err["type"] in ("union_tag_invalid",):
            line_loc = (*loc, "type")
        message = _schema_message(err, model if err["type"] == "extra_forbidden" and len(loc) <= 3 else None)
        if err["loc"][-1:] == ("[key]",):
            message = f"key {message}"
        checker.add(loc, message, line_loc)


def _reachable(file: FlowFile) -> set[str]:
    seen: set[str] = set()
    todo = [file.entry] if file.entry in file.nodes else []
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(t for _, t in edges(file.nodes[name]) if t in file.nodes)
    return seen


def _unreachable_roots(file: FlowFile) -> list[tuple[str, int]]:
    """Unreachable nodes worth naming: those no other unreachable node leads to (one per closed cycle),
    each with how many further unreachable nodes only it leads to; a dangling edge then gives one line."""
    reachable = _reachable(file)
    lost = [n for n in file.nodes if n not in reachable]
    targets = {n: {t for _, t in edges(file.nodes[n]) if t in file.nodes and t not in reachable} for n in lost}
    fed = {t for n in lost for t in targets[n] if t != n}
    covered: set[str] = set()
    roots: list[tuple[str, int]] = []

    def cover(start: str) -> int:
        todo, seen = [start], set()
        while todo:
            n = todo.pop()
            if n in seen or (n in covered and n != start):
                continue
            seen.add(n)
            todo.extend(targets[n])
        covered.update(seen)
        return len(seen) - 1

    for n in [n for n in lost if n not in fed] + lost:
        if n not in covered:
            roots.append((n, cover(n)))
    return roots


def _idle_cycles(file: FlowFile) -> list[list[str]]:
    """Cycles made only of nodes that neither ask for input with an attempt counter nor wait in a queue."""
    idle = {n for n, node in file.nodes.items() if node.type not in CONSUMING_TYPES}
    graph = {n: sorted({t for _, t in edges(file.nodes[n]) if t in idle}) for n in idle}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    comps: list[list[str]] = []
    counter = 0

    def strongconnect(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph[v]:
                comps.append(comp)

    order = list(file.nodes)
    for v in order:
        if v in idle and v not in index:
            strongconnect(v)
    cycles = []
    for comp in comps:
        members = set(comp)
        start = min(comp, key=order.index)
        path, node = [start], start
        while True:  # walk inside the component back to start: every member has an edge inside it
            nxt = next(t for t in graph[node] if t in members and (t == start or t not in path))
            if nxt == start:
                break
            path.append(nxt)
            node = nxt
        cycles.append(path)
    return cycles


def _check_graph(c: _Checker, file: FlowFile) -> None:
    names = set(file.nodes)
    if file.entry not in names:
        c.add(("entry",), f"entry node {file.entry!r} does not exist")
    for name, node in file.nodes.items():
        for path, target in edges(node):
            if target not in names:
                c.add(("nodes", name, *path), f"edge to {target!r}, which is not a node of this flow")
        if isinstance(node, MenuNode | CollectNode) and node.exhausted is None:
            c.add(
                ("nodes", name, "exhausted"),
                f"{node.type} has no exhausted edge: a caller who never gives a valid answer must be led on",
                ("nodes", name),
            )
        if isinstance(node, ScheduleNode):
            for edge in ("open", "closed"):
                if getattr(node, edge) is None:
                    c.add(("nodes", name, edge), f"schedule has no {edge} edge", ("nodes", name))
        if isinstance(node, EnqueueNode):
            for edge in ("timeout", "no_agents"):
                if getattr(node, edge) is None:
                    c.add(
                        ("nodes", name, edge),
                        f"enqueue has no {edge} edge: a caller must be led on when the queue gives up",
                        ("nodes", name),
                    )
    stored = {n.store_as for n in file.nodes.values() if isinstance(n, CollectNode)}
    for name, node in file.nodes.items():
        if isinstance(node, CallbackNode) and node.number_from is not None and node.number_from not in stored:
            c.add(
                ("nodes", name, "number_from"),
                f"no collect node stores {node.number_from!r} (stored: {', '.join(sorted(stored)) or 'none'})",
            )
    if file.entry in names:
        for name, behind in _unreachable_roots(file):
            more = f" (nor to {behind} more node(s) behind it)" if behind else ""
            c.add(("nodes", name), f"unreachable: no path from entry {file.entry!r} leads here{more}")
    for cycle in _idle_cycles(file):
        shown = " -> ".join([*cycle, cycle[0]])
        c.add(
            ("nodes", cycle[0]),
            f"loop {shown} asks for no input with an attempt counter and waits in no queue: "
            "it would repeat forever; route it through a menu, collect, language or enqueue node",
        )


def _check_references(
    c: _Checker,
    file: FlowFile,
    known_prompts: set[str],
    prompt_folder: Path | None,
    known_queues: Collection[str] | None,
) -> None:
    where = f" in {prompt_folder}" if prompt_folder is not None else ""
    announcing = False
    for name, node in file.nodes.items():
        for path, prompt in prompts(node):
            if prompt not in known_prompts:
                c.add(("nodes", name, *path), f"prompt {prompt!r} does not exist{where} (NAME.txt or NAME.wav)")
        if isinstance(node, EnqueueNode | CallbackNode) and node.queue is not None and node.queue not in file.queues:
            c.add(("nodes", name, "queue"), f"queue {node.queue!r} is not declared in the flow's queues list")
        if (
            isinstance(node, EnqueueNode)
            and node.announce is not None
            and (node.announce.position or node.announce.wait)
        ):
            announcing = True
    if announcing:
        missing = [p for p in NUMBER_PROMPTS if p not in known_prompts]
        if missing:
            c.add(("locale",), f"queue announcements need the number prompts {', '.join(missing)}{where}")
    seen: set[str] = set()
    for i, queue in enumerate(file.queues):
        if queue in seen:
            c.add(("queues", i), f"queue {queue!r} is declared twice")
        seen.add(queue)
        if known_queues is not None and queue not in known_queues:
            c.add(("queues", i), f"queue {queue!r} is not configured (known: {', '.join(sorted(known_queues))})")


def _check_schedules(c: _Checker, file: FlowFile, schedule_dir: Path) -> dict[str, Schedule]:
    found: dict[str, Schedule] = {}
    for name, node in file.nodes.items():
        if not isinstance(node, ScheduleNode) or node.schedule in found:
            continue
        path = schedule_dir / f"{node.schedule}.yaml"
        if not path.is_file():
            c.add(("nodes", name, "schedule"), f"schedule {node.schedule!r} does not exist ({path})")
            continue
        schedule, problems = check_schedule_file(path)
        if schedule is None:
            c.add(("nodes", name, "schedule"), f"schedule {node.schedule!r} is invalid (see below)")
            c.problems.extend(problems)
        else:
            found[node.schedule] = schedule
    return found


def check_source(
    src: Source,
    *,
    prompt_dir: Path | None,
    schedule_dir: Path,
    known_queues: Collection[str] | None = None,
    known_prompts: Collection[str] | None = None,
    source: Path | None = None,
) -> tuple[Flow | None, list[Problem]]:
    """Check one parsed flow file; return the Flow only when there is no problem at all."""
    c = _Checker(src)
    c.problems.extend(src.problems)
    if src.data is None and not src.problems:
        c.add((), "the file is empty: expected a flow")
    if c.problems:
        return None, c.problems
    if not isinstance(src.data, dict):
        c.add((), "expected a mapping with format, id, revision, entry and nodes")
        return None, c.problems
    try:
        file = FlowFile.model_validate(src.data)
    except ValidationError as exc:
        _schema_problems(c, exc)
        return None, sorted(c.problems, key=lambda p: p.line)
    _check_graph(c, file)
    names = set(known_prompts or ())
    folder = None
    if prompt_dir is not None:
        folder = prompt_dir / file.locale
        if not folder.is_dir() and known_prompts is None:
            c.add(("locale",), f"prompt folder {folder} does not exist")
        names |= prompt_names(prompt_dir, file.locale)
    _check_references(c, file, names, folder, known_queues)
    schedules = _check_schedules(c, file, schedule_dir)
    if c.problems:
        return None, sorted(c.problems, key=lambda p: (p.file != src.file, p.line))
    digest = hashlib.sha256(json.dumps(file.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
    return Flow(file=file, schedules=schedules, source=source, digest=digest), []


def _dirs(path: Path, prompt_dir: Path | None, schedule_dir: Path | None) -> tuple[Path, Path]:
    return (prompt_dir or path.parent / "prompts", schedule_dir or path.parent / "schedules")


def check_flow_file(
    path: Path,
    *,
    prompt_dir: Path | None = None,
    schedule_dir: Path | None = None,
    known_queues: Collection[str] | None = None,
    known_prompts: Collection[str] | None = None,
) -> tuple[Flow | None, list[Problem]]:
    """Check one flow file. Prompts and schedules default to ``prompts/`` and ``schedules/`` beside it."""
    prompts_root, schedules_root = _dirs(path, prompt_dir, schedule_dir)
    return check_source(
        read_yaml(path),
        prompt_dir=prompts_root,
        schedule_dir=schedules_root,
        known_queues=known_queues,
        known_prompts=known_prompts,
        source=path,
    )


def check_files(
    paths: Iterable[Path],
    prompt_dir: Path | None = None,
    *,
    schedule_dir: Path | None = None,
    known_queues: Collection[str] | None = None,
    known_prompts: Collection[str] | None = None,
) -> list[Problem]:
    """Every problem in the given flow files, including two files that claim the same flow id."""
    problems: list[Problem] = []
    ids: dict[str, Path] = {}
    for path in paths:
        flow, found = check_flow_file(
            path,
            prompt_dir=prompt_dir,
            schedule_dir=schedule_dir,
            known_queues=known_queues,
            known_prompts=known_prompts,
        )
        problems.extend(found)
        if flow is not None:
            if flow.id in ids:
                src = read_yaml(path)
                problems.append(
                    Problem(
                        str(path), src.line(("id",)), None, "id", f"flow id {flow.id!r} is also used by {ids[flow.id]}"
                    )
                )
            ids.setdefault(flow.id, path)
    return problems


def load_flow(
    path: Path,
    *,
    prompt_dir: Path | None = None,
    schedule_dir: Path | None = None,
    known_queues: Collection[str] | None = None,
    known_prompts: Collection[str] | None = None,
) -> Flow:
    """Load a flow that has no problem at all, or raise FlowError listing every problem."""
    flow, problems = check_flow_file(
        path, prompt_dir=prompt_dir, schedule_dir=schedule_dir, known_queues=known_queues, known_prompts=known_prompts
    )
    if flow is None:
        raise FlowError(f"flow {path}", problems)
    return flow


def default_flow_files(root: Path = Path()) -> list[Path]:
    return sorted(root.glob(DEFAULT_GLOB))


def check_flows_main(argv: Sequence[str]) -> int:
    """``hotline check-flows [FILES]``: print every problem as FILE:LINE: node NODE: field FIELD: message."""
    parser = argparse.ArgumentParser(
        prog="hotline check-flows", description="Check IVR flow files: schema, graph, prompts, queues, schedules."
    )
    parser.add_argument("files", nargs="*", type=Path, help=f"flow files (default: {DEFAULT_GLOB})")
    parser.add_argument(
        "--prompts", type=Path, help="prompt root holding <locale>/NAME.txt (default: prompts/ beside each flow)"
    )
    parser.add_argument("--schedules", type=Path, help="schedule folder (default: schedules/ beside each flow)")
    parser.add_argument("--queues", help="comma-separated configured queue names; declared queues must be among them")
    parser.add_argument(
        "--write-schema", type=Path, metavar="PATH", help="also write the JSON Schema for editors to PATH"
    )
    args = parser.parse_args(list(argv))
    files: list[Path] = args.files or default_flow_files()
    if not files:
        print(f"no flow files given and none match {DEFAULT_GLOB}", file=sys.stderr)
        return 2
    if args.write_schema is not None:
        from hotline.flow.schema import write_schema

        write_schema(args.write_schema)
    known_queues = None if args.queues is None else {q.strip() for q in args.queues.split(",") if q.strip()}
    problems = check_files(files, args.prompts, schedule_dir=args.schedules, known_queues=known_queues)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in {len({p.file for p in problems})} file(s)", file=sys.stderr)
        return 1
    print(f"ok: {len(files)} flow file(s) checked", file=sys.stderr)
    return 0


__all__ = [
    "FlowError",
    "Problem",
    "check_files",
    "check_flow_file",
    "check_flows_main",
    "check_source",
    "load_flow",
]
