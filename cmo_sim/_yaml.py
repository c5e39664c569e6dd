"""The hardened YAML loader of every cmo-sim file: scenario, sweep and theory files.

A file is read only if it is a regular file of at most :data:`MAX_FILE_BYTES` bytes of UTF-8
text, and parsed (by libyaml's parser when PyYAML has it, then PyYAML's composer and safe
constructor) as plain data within limits:

- only the tags of plain data are allowed: mappings, lists, strings, integers, floats,
  true/false and null (plus the ``<<`` merge key); every other tag (``!!timestamp``,
  ``!!binary``, ``!!set``, ``!!omap``, ``!!python/...``, local ``!tags``) is refused, and a
  date-like scalar such as ``2024-05-01`` stays a string;
- a key given twice in one mapping is refused with both lines;
- at most :data:`MAX_NODES` values once aliases are expanded (an alias counts as the whole
  node it names, so a "billion laughs" alias bomb is refused after a few thousand values,
  long before it could be expanded), no alias to a node that contains it, and at most
  :data:`MAX_DEPTH` levels of nesting, aliases included.

Every problem, including a path that cannot be read (missing, a directory, permission denied,
too long, not a regular file), raises the caller's error type (a ``ValueError`` subclass such
as :class:`~cmo_sim.ScenarioError`) with a one-line message naming the file; the message never
expands an alias and quotes at most :data:`MAX_PROBLEM_CHARS` characters of the problem.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from cmo_sim._errors import ScenarioError, shorten

try:  # libyaml's parser, when PyYAML was built with it
    from yaml._yaml import CParser as _CParser
except ImportError:  # pragma: no cover
    _CParser = None

__all__ = [
    "ALLOWED_TAGS",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "MAX_PROBLEM_CHARS",
    "load_yaml_text",
    "read_yaml_file",
    "show_path",
]

#: Largest file read (bytes). The default theory, the biggest file shipped, is about 30 kB.
MAX_FILE_BYTES = 2 * 2**20
#: Most values (scalars, lists and mappings) in one file, counting each alias as the whole node
#: it names. The default theory has about 1,600; reaching 50,000 takes about a second.
MAX_NODES = 50_000
#: Deepest nesting of lists and mappings, aliases included (the default theory has 6 levels).
MAX_DEPTH = 64
#: Longest problem text quoted in a message (a key, an anchor name, a parser message).
MAX_PROBLEM_CHARS = 200
#: Longest path shown in a message; a longer one is shown with its middle elided.
MAX_PATH_CHARS = 240

_CORE = "tag:yaml.org,2002:"
#: The tags a cmo-sim file may use: plain data (the YAML core schema) and the merge key.
ALLOWED_TAGS = frozenset(
    _CORE + name for name in ("null", "bool", "int", "float", "str", "seq", "map", "merge")
)
_ALLOWED_SHOWN = "mappings, lists, strings, numbers, true/false and null"


def show_path(path: Any) -> str:
    """A path as messages show it: as given, on one line, with the middle of a long one elided."""
    try:
        text = os.fsdecode(path)
    except TypeError:
        text = str(path)
    if not text.isprintable():
        text = repr(text)[1:-1]
    return shorten(text, MAX_PATH_CHARS, middle=True)


class _Refused(yaml.YAMLError):
    """A file refused by a limit of the hardened loader (not a YAML syntax error)."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem)
        self.problem, self.problem_mark = problem, mark


class _Limits:
    """The composer and constructor of the hardened loader: plain data within the limits."""

    def _limit(self, max_nodes: int, max_depth: int) -> None:
        self._max_nodes, self._max_depth = max_nodes, max_depth
        self._nodes = 0  # values composed so far, each alias counted as its node's extent
        self._depth = 0  # nesting of the node being composed
        self._deepest = 0  # deepest level reached within the node being composed
        self._open: set[str] = set()  # anchors of the nodes being composed
        self._extent: dict[str, tuple[int, int]] = {}  # anchor -> (values, height)

    def _grow(self, values: int, depth: int, mark: Any) -> None:
        self._nodes += values
        self._deepest = max(self._deepest, depth)
        if self._nodes > self._max_nodes:
            raise _Refused(
                f"more than {self._max_nodes:,} values once aliases are expanded (the most a "
                "cmo-sim file may hold)", mark)
        if depth > self._max_depth:
            raise _Refused(
                f"nested more than {self._max_depth} levels deep (aliases included; the most "
                "a cmo-sim file may nest)", mark)

    def compose_node(self, parent: Any, index: Any) -> Any:
        """Compose one node, counting its values and depth and refusing disallowed tags."""
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self._open:
                raise _Refused(
                    f"the alias *{shorten(str(event.anchor), 40)} refers to a node that "
                    "contains it (a recursive structure)", event.start_mark)
            values, height = self._extent.get(event.anchor, (1, 0))
            self._grow(values, self._depth + 1 + height, event.start_mark)
            return super().compose_node(parent, index)
        tag = getattr(event, "tag", None)
        if tag not in (None, "!") and tag not in ALLOWED_TAGS:
            raise _Refused(_tag_problem(tag), event.start_mark)
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self._open.add(anchor)
        outer, start = self._deepest, self._nodes
        self._depth += 1
        self._deepest = self._depth
        self._grow(0, self._depth, event.start_mark)
        node = super().compose_node(parent, index)
        self._grow(1, self._depth, event.start_mark)
        if node.tag not in ALLOWED_TAGS:
            raise _Refused(_tag_problem(node.tag), node.start_mark)
        if anchor is not None:
            self._open.discard(anchor)
            self._extent[anchor] = (self._nodes - start, self._deepest - self._depth)
        self._depth -= 1
        self._deepest = max(outer, self._deepest)
        return node

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        """Construct a mapping after checking that no key occurs twice.

        The plain safe loader silently keeps the last of two ``leadership:`` lines (or a rule's
        two ``weight:`` lines); in a cmo-sim file that is almost always an editing mistake, so
        it is reported with both lines. Keys brought in by a ``<<`` merge may be overridden.
        """
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == _CORE + "merge":
                    continue
                key = self.construct_object(key_node, deep=False)
                try:
                    first = seen.get(key)
                except TypeError:  # unhashable key: the base class reports it
                    continue
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        None, None,
                        f"duplicate key {shorten(repr(key), 60)} (first given at line {first})",
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


if _CParser is not None:

    class _HardenedLoader(_Limits, Composer, _CParser, SafeConstructor, Resolver):
        """libyaml's scanner and parser (fast, in C) under the Python composer and constructor.

        The composer stays in Python so that the limits are checked node by node: an alias
        bomb is refused before it is ever expanded.
        """

        def __init__(self, stream: str, max_nodes: int, max_depth: int) -> None:
            _CParser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            self._limit(max_nodes, max_depth)

else:  # pragma: no cover - PyYAML built without libyaml

    class _HardenedLoader(_Limits, yaml.SafeLoader):  # type: ignore[no-redef]
        """PyYAML's pure-Python safe loader under the same composer and constructor."""

        def __init__(self, stream: str, max_nodes: int, max_depth: int) -> None:
            yaml.SafeLoader.__init__(self, stream)
            self._limit(max_nodes, max_depth)


def _tag_problem(tag: str) -> str:
    shown = "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag
    return (f"the tag {shorten(shown, 60)} is not allowed (a cmo-sim file holds plain data: "
            f"{_ALLOWED_SHOWN})")


# Plain scalars resolve only to the core schema: no implicit timestamps (a date stays a
# string), no '=' value tag. Constructors exist only for the allowed tags.
_HardenedLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag in ALLOWED_TAGS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_HardenedLoader.yaml_constructors = {
    tag: constructor for tag, constructor in yaml.SafeLoader.yaml_constructors.items()
    if tag in ALLOWED_TAGS or tag is None
}


def _where(exc: yaml.YAMLError) -> tuple[str, str]:
    """`` at line L`` and `` (column C)`` of a YAML error, or empty strings."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is None:
        return "", ""
    return f" at line {mark.line + 1}", f" (column {mark.column + 1})"


def load_yaml_text(
    text: str,
    source: str,
    error: type[ValueError] = ScenarioError,
    *,
    max_nodes: int = MAX_NODES,
    max_depth: int = MAX_DEPTH,
) -> Any:
    """Parse one YAML document of plain data with the hardened loader.

    Parameters
    ----------
    text : str
        The document.
    source : str
        What the messages name (a file's path as :func:`show_path` shows it).
    error : type of ValueError
        The exception raised for any problem.
    max_nodes, max_depth : int
        See :data:`MAX_NODES` and :data:`MAX_DEPTH`.

    Raises
    ------
    error
        ``"<source>: not valid YAML at line L: <problem> (column C)"`` for a syntax error or a
        key given twice, ``"<source>: refused at line L: <problem> (column C)"`` for a tag or a
        limit; one line, never expanding an alias.
    """
    if len(text) > MAX_FILE_BYTES:
        raise error(f"{source}: the text is {len(text):,} characters, more than the "
                    f"{MAX_FILE_BYTES:,} a cmo-sim file may have")
    loader = None
    try:
        loader = _HardenedLoader(text, max_nodes=max_nodes, max_depth=max_depth)
        return loader.get_single_data()
    except _Refused as exc:
        line, column = _where(exc)
        raise error(f"{source}: refused{line}: {exc.problem}{column}") from None
    except yaml.YAMLError as exc:
        line, column = _where(exc)
        problem = getattr(exc, "problem", None) or (str(exc).splitlines() or [""])[0]
        if isinstance(exc, yaml.composer.ComposerError) and exc.context:
            problem = exc.context.split(";")[0]  # e.g. found duplicate anchor 'a'
        problem = shorten(" ".join(str(problem).split()), MAX_PROBLEM_CHARS)
        raise error(f"{source}: not valid YAML{line}: {problem}{column}") from None
    except RecursionError:
        raise error(f"{source}: not valid YAML: nested too deeply") from None
    except MemoryError:
        raise error(f"{source}: too large to load") from None
    except (ValueError, TypeError, OverflowError) as exc:  # a scalar the constructors refuse
        problem = shorten(" ".join(str(exc).split()), MAX_PROBLEM_CHARS)
        raise error(f"{source}: not valid YAML: {problem}") from None
    finally:
        if loader is not None:
            loader.dispose()


def _os_problem(shown: str, exc: OSError, what: str) -> str:
    if exc.errno == errno.ENOENT:
        return f"{shown}: no such {what} file"
    if exc.errno == errno.ENOTDIR:
        return f"{shown}: no such {what} file (a part of the path is not a directory)"
    if exc.errno == errno.EISDIR:
        return f"{shown}: no such {what} file (this is a directory)"
    reason = {
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ENAMETOOLONG: "the path is too long",
        errno.ELOOP: "too many levels of symbolic links",
    }.get(exc.errno or 0, exc.strerror or type(exc).__name__)
    return f"{shown}: cannot read the {what} file ({reason})"


def _read_bytes(name: str | bytes, limit: int) -> bytes:
    """At most ``limit`` bytes of a file."""
    with open(name, "rb") as handle:
        return handle.read(limit)


def read_yaml_file(
    path: str | os.PathLike,
    what: str,
    error: type[ValueError] = ScenarioError,
    *,
    max_bytes: int = MAX_FILE_BYTES,
    max_nodes: int = MAX_NODES,
    max_depth: int = MAX_DEPTH,
) -> Any:
    """Read and parse a YAML file with the hardened loader.

    Parameters
    ----------
    path : str or path-like
    what : str
        The kind of file, for messages ("scenario", "sweep", "theory").
    error : type of ValueError
        The exception raised for any problem (:class:`~cmo_sim.ScenarioError` by default).
    max_bytes, max_nodes, max_depth : int
        See :data:`MAX_FILE_BYTES`, :data:`MAX_NODES` and :data:`MAX_DEPTH`.

    Returns
    -------
    The parsed data (None for an empty file).

    Raises
    ------
    error
        For a path that cannot be read as a regular file (missing, a directory, permission
        denied, too long, ...), a file larger than ``max_bytes``, text that is not UTF-8, and
        every problem :func:`load_yaml_text` reports; the message starts with the path.
    """
    if not isinstance(path, str | bytes | os.PathLike):
        raise error(f"a {what} file is given by its path, not {type(path).__name__}")
    shown = show_path(path)
    try:
        name = os.fspath(path)
        info = os.stat(name)
    except OSError as exc:
        raise error(_os_problem(shown, exc, what)) from None
    except (ValueError, TypeError):  # an embedded NUL character, a path that cannot encode
        raise error(f"{shown}: not a valid path for a {what} file") from None
    if stat.S_ISDIR(info.st_mode):
        raise error(f"{shown}: no such {what} file (this is a directory)")
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{shown}: not a regular file (a {what} file is a YAML text file)")
    too_big = (f"{shown}: the file is more than {max_bytes:,} bytes, the most a {what} file may "
               "have")
    if info.st_size > max_bytes:
        raise error(too_big.replace("more than", f"{info.st_size:,} bytes, more than", 1))
    try:
        raw = _read_bytes(name, max_bytes + 1)
    except OSError as exc:
        raise error(_os_problem(shown, exc, what)) from None
    if len(raw) > max_bytes:  # it grew since it was looked at
        raise error(too_big)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{shown}: not UTF-8 text (byte {exc.start:,} cannot be read)") from None
    return load_yaml_text(text, shown, error, max_nodes=max_nodes, max_depth=max_depth)
